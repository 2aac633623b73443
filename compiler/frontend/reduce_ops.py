"""Reductions of the TF1 API: reduce_sum/mean/max/min/prod/any/all/logsumexp and
argmax/argmin, built on the reduce primitives.

`axis` is None (all axes), an int or a list of ints (negative counts from the end);
`keepdims` keeps reduced axes with extent 1 (`keep_dims` and `reduction_indices` are
the older TF1 spellings). `reduce_mean` divides the sum by the number of reduced
elements: a constant for static dims, and the product of the run-time extents (from the
`shape` primitive) for symbolic ones, so one compile serves every batch size. On ints it
truncates toward zero like TF1. Bad axes raise ValueError naming the op.
"""

from __future__ import annotations

import functools

from ..ir import dims as D
from ..ir import dtypes as T
from .core import constant, convert_to_tensor, make, normalize_axis, op_scope
from .deferred import deferred


def _axes(x, axis, opname):
    """Normalized, sorted axes tuple (None = all) for the reduce primitives."""
    if axis is None:
        return None
    if hasattr(axis, "_as_graph_element") or hasattr(axis, "op"):
        from .static import static_dims
        vals = static_dims(convert_to_tensor(axis))
        if vals is None:
            raise TypeError(f"{opname}: axis must be known at build time")
        axis = vals
    axes = [axis] if isinstance(axis, int) else [int(a) for a in axis]
    rank = x.shape.ndims
    if rank is None:
        if any(a < 0 for a in axes):
            raise TypeError(f"{opname}: negative axes need an input of known rank")
        return tuple(sorted(axes))
    out = [normalize_axis(a, rank, opname) for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"{opname}: repeated axis in {list(axes)}")
    return tuple(sorted(out))


def _keep(keepdims, keep_dims):
    return bool(keep_dims if keepdims is None else keepdims)


def _rank_deferred(tf_name):
    """A reduction whose negative axes meet an input of unknown rank is built when
    convert knows the rank (frontend/deferred.py); otherwise it is built now."""
    def wrap(fn):
        @functools.wraps(fn)
        def reduction(input_tensor, axis=None, keepdims=None, name=None,
                      reduction_indices=None, keep_dims=None):
            x = convert_to_tensor(input_tensor)
            ax = axis if axis is not None else reduction_indices
            if not x.shape.known_rank and _has_negative(ax):
                keep = _keep(keepdims, keep_dims)
                return deferred(lambda t: fn(t, ax, keep), [x], x.dtype, name=name or tf_name)
            return fn(x, axis, keepdims, name, reduction_indices, keep_dims)
        return reduction
    return wrap


def _has_negative(axis) -> bool:
    if isinstance(axis, int):
        return axis < 0
    return isinstance(axis, (list, tuple)) and any(isinstance(a, int) and a < 0 for a in axis)


def _reduction(prim, tf_name, doc):
    def fn(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
           keep_dims=None):
        x = convert_to_tensor(input_tensor)
        axes = _axes(x, axis if axis is not None else reduction_indices, tf_name)
        return make(prim, [x], name=name or tf_name, axes=axes,
                    keepdims=_keep(keepdims, keep_dims))
    fn.__name__ = prim
    fn.__doc__ = doc
    return _rank_deferred(tf_name)(fn)


reduce_sum = _reduction("reduce_sum", "Sum", "Sum over `axis` (0 for an empty axis).")
reduce_prod = _reduction("reduce_prod", "Prod", "Product over `axis` (1 for an empty axis).")
reduce_max = _reduction("reduce_max", "Max", "Maximum over `axis` (-inf / the lowest int "
                        "for an empty axis).")
reduce_min = _reduction("reduce_min", "Min", "Minimum over `axis` (+inf / the highest "
                        "int for an empty axis).")


@_rank_deferred("Mean")
def reduce_mean(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
                keep_dims=None):
    """Mean over `axis`: the sum divided by the number of reduced elements (NaN for an
    empty float reduction; ints truncate toward zero and give 0 when empty)."""
    x = convert_to_tensor(input_tensor)
    axes = _axes(x, axis if axis is not None else reduction_indices, "Mean")
    keep = _keep(keepdims, keep_dims)
    with op_scope(name, "Mean", [x]) as scope:
        total = make("reduce_sum", [x], axes=axes, keepdims=keep)
        count = _element_count(x, axes)
        if x.dtype.is_int:
            magnitude = make("div", [make("abs", [total]), count])
            return make("mul", [magnitude, make("sign", [total])], name=scope)
        return make("div", [total, count], name=scope)


def _element_count(x, axes):
    """The number of elements reduced over `axes`, as a scalar of x's dtype."""
    shape = x.shape
    if shape.known_rank:
        picked = list(shape) if axes is None else [shape[a] for a in axes]
        n = D.product(picked)
        if isinstance(n, int):
            return constant(n, dtype=x.dtype)
    dims = make("shape", [x], dtype=T.int64)
    if axes is not None:
        dims = make("gather", [dims, constant(list(axes), dtype=T.int32)], axis=0)
    n = make("reduce_prod", [dims], axes=None, keepdims=False)
    return make("cast", [n], dtype=x.dtype) if x.dtype is not T.int64 else n


def _bool_reduction(prim, tf_name, doc):
    def fn(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
           keep_dims=None):
        x = convert_to_tensor(input_tensor)
        if not x.dtype.is_bool:
            raise TypeError(f"{tf_name}: expects a bool tensor, got {x.dtype.name}")
        axes = _axes(x, axis if axis is not None else reduction_indices, tf_name)
        with op_scope(name, tf_name, [x]) as scope:
            as_int = make("cast", [x], dtype=T.int32)
            red = make(prim, [as_int], axes=axes, keepdims=_keep(keepdims, keep_dims))
            # > 0, not a cast: an empty axis gives the int identity (lowest for Any,
            # highest for All), which must read False for Any and True for All.
            return make("greater", [red, constant(0, T.int32)], name=scope)
    fn.__name__ = tf_name
    fn.__doc__ = doc
    return _rank_deferred(tf_name)(fn)


reduce_any = _bool_reduction("reduce_max", "Any", "Logical or over `axis` (False when "
                             "empty).")
reduce_all = _bool_reduction("reduce_min", "All", "Logical and over `axis` (True when "
                             "empty).")


@_rank_deferred("ReduceLogSumExp")
def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None,
                     reduction_indices=None, keep_dims=None):
    """`log(sum(exp(x)))` over `axis`, computed stably by subtracting the maximum
    (a -inf maximum is replaced by 0 so all -inf inputs give -inf, not NaN)."""
    x = convert_to_tensor(input_tensor)
    axes = _axes(x, axis if axis is not None else reduction_indices, "ReduceLogSumExp")
    keep = _keep(keepdims, keep_dims)
    with op_scope(name, "ReduceLogSumExp", [x]) as scope:
        raw_max = make("reduce_max", [x], axes=axes, keepdims=True)
        finite = make("less", [make("abs", [raw_max]), constant(float("inf"), x.dtype)])
        m = make("select", [finite, raw_max, constant(0, x.dtype)])
        shifted = make("exp", [make("sub", [x, m])])
        s = make("log", [make("reduce_sum", [shifted], axes=axes, keepdims=keep)])
        m_out = m if keep else make("reduce_max", [m], axes=axes, keepdims=False)
        return make("add", [s, m_out], name=scope)


def _arg(prim, tf_name):
    def fn(input, axis=None, name=None, dimension=None, output_type=T.int64):  # noqa: A002
        x = convert_to_tensor(input)
        axis = dimension if axis is None else axis
        axis = 0 if axis is None else axis
        if x.shape.known_rank:
            axis = normalize_axis(axis, x.shape.ndims, tf_name)
        return make(prim, [x], name=name or tf_name, axis=int(axis),
                    dtype=T.as_dtype(output_type))
    fn.__name__ = prim
    fn.__doc__ = (f"Index of the {prim[3:]}imum along `axis` (default 0) as "
                  "`output_type` (int64); the first one on ties.")
    return fn


argmax = _arg("argmax", "ArgMax")
argmin = _arg("argmin", "ArgMin")
