"""Tensor sources and shape queries of the TF1 API: placeholders, `zeros`/`ones`/`fill`
and their `_like` forms, `range`, `one_hot`, `shape`/`size`/`rank`, and `bitcast` (a
tensor's bits read as another dtype of the same width).

Shapes are given at build time: lists of ints, dims taken from another tensor
(`x.shape[0]`, symbolic when that dim is), or int tensors whose value is known at build
time (`fc.shape(x)`); see `core.dims_of`. Constant-filled tensors are a scalar `constant`
broadcast to the shape, so they stay cheap and work on symbolic dims. Everything else
(reshape, concat, slicing, ...) is in `manip_ops.py` and `indexing.py`.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import dims as D
from ..ir import dtypes as T
from ..ir.types import TensorType
from .core import (
    _as_tensor,
    _default_dtype,
    constant,
    convert_to_tensor,
    create_op,
    dims_of,
    identity,
    make,
    op_scope,
)
from .deferred import deferred
from .graph import Tensor, get_default_graph
from .static import is_int_like, static_dims


def placeholder(dtype, shape=None, name=None):
    """A value fed at run time. `None` (or -1) dims are symbolic: one compile serves
    every extent. `shape=None` means unknown rank (compiled once per fed rank). A
    `tf.string` placeholder is a host value (a feedable iterator's handle): host ops read
    it, and giving it to a compiled op is a TypeError naming the op."""
    dtype = T.as_dtype(dtype)
    dims = _declared_dims(shape, name or "Placeholder")
    return make("placeholder", [], name=name or "Placeholder", dtype=dtype, shape=dims)


def _declared_dims(shape, origin):
    """Declared dims of a placeholder: ints stay, None/-1/symbolic become new symbols."""
    if shape is None or getattr(shape, "known_rank", True) is False:
        return None
    if is_int_like(shape):
        shape = (shape,)
    graph = get_default_graph()
    dims = []
    for axis, d in enumerate(shape):
        if is_int_like(d) and d >= 0:
            dims.append(int(d))
        elif d is None or (is_int_like(d) and d == -1) or isinstance(d, D.DimExpr):
            dims.append(D.DimExpr.atom(graph.symbols.new_symbol(f"{origin}[{axis}]")))
        elif is_int_like(d):
            raise ValueError(f"{origin}: negative dimension {d} in shape {list(shape)}")
        else:
            raise TypeError(f"{origin}: cannot use {d!r} as a dimension")
    return tuple(dims)


def placeholder_with_default(input, shape, name=None):  # noqa: A002  (TF1 argument name)
    """A tensor that is `input` unless it is fed. `shape` is the shape a feed may have
    (None dims accept any extent) and must be compatible with `input`'s shape."""
    value = convert_to_tensor(input)
    label = name or "PlaceholderWithDefault"
    dims = _declared_dims(shape, label)
    have = value.shape
    if dims is not None and have.known_rank:
        pairs = zip(dims, have, strict=True) if len(dims) == len(have) else None
        mismatch = pairs is None or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in pairs)
        if mismatch:
            raise ValueError(f"placeholder_with_default {label!r}: the default has shape "
                             f"{list(have)}, incompatible with the declared shape "
                             f"{list(shape)}")
    out_type = TensorType(value.dtype, dims)
    return create_op("placeholder_with_default", [value], {}, label,
                     out_type=out_type).outputs[0]


def fill(dims, value, name=None):
    """A tensor of shape `dims` whose elements all equal the scalar `value`."""
    shape = dims_of(dims, "Fill")
    scalar = convert_to_tensor(value)
    if scalar.shape.ndims != 0:
        raise ValueError(f"Fill: value must be a scalar, got shape {list(scalar.shape)}")
    return _broadcast_scalar(scalar, shape, name or "Fill")


def _broadcast_scalar(scalar, shape, name):
    if any(isinstance(d, int) and d < 0 for d in shape):
        raise ValueError(f"{name}: negative dimension in shape {list(shape)}")
    if not shape:
        return identity(scalar, name=name)
    return make("broadcast", [scalar], name=name, shape=tuple(shape))


def _filled(shape, dtype, value, name):
    dtype = T.as_dtype(dtype)
    dims = dims_of(shape, name)
    with op_scope(None, name) as scope:
        return _broadcast_scalar(constant(value, dtype=dtype), dims, scope)


def zeros(shape, dtype=T.float32, name=None):
    """A tensor of `shape` filled with 0 of `dtype` (False for bool)."""
    return _filled(shape, dtype, 0, name or "zeros")


def ones(shape, dtype=T.float32, name=None):
    """A tensor of `shape` filled with 1 of `dtype` (True for bool)."""
    return _filled(shape, dtype, 1, name or "ones")


def _filled_like(tensor, dtype, value, name):
    x = convert_to_tensor(tensor)
    dtype = T.as_dtype(dtype) if dtype is not None else x.dtype
    with op_scope(None, name, [x]) as scope:
        if x.shape.known_rank:
            return _broadcast_scalar(constant(value, dtype=dtype), tuple(x.shape), scope)
        # Unknown rank: an elementwise form that keeps x's shape whatever it turns out to be.
        same = make("equal", [x, x])
        flag = constant(bool(value), dtype=T.bool_)
        mask = make("logical_or" if value else "logical_and", [same, flag])
        if dtype is T.bool_:
            return identity(mask, name=scope)
        return make("cast", [mask], name=scope, dtype=dtype)


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    """Zeros with the shape (symbolic dims included) and, by default, dtype of `tensor`."""
    return _filled_like(tensor, dtype, 0, name or "zeros_like")


def ones_like(tensor, dtype=None, name=None, optimize=True):
    """Ones with the shape (symbolic dims included) and, by default, dtype of `tensor`."""
    return _filled_like(tensor, dtype, 1, name or "ones_like")


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001  (TF1 name)
    """`[start, start + delta, ...)` up to `limit` (exclusive), like Python's `range`;
    `range(n)` counts from 0. Bounds are numbers known when the graph is built, or int
    dims known then (`tf.range(tf.shape(x)[0])`: a symbolic length); the dtype is int32 for ints,
    float32 if any bound is a float, unless `dtype` says otherwise."""
    if limit is None:
        start, limit = 0, start
    tensors = (start, limit)
    start, limit, delta = (_static_number(v, "range", symbolic=k < 2)
                           for k, v in enumerate((start, limit, delta)))
    if delta == 0:
        raise ValueError("range: delta must not be zero")
    is_float = any(isinstance(v, float) for v in (start, limit, delta))
    dtype = T.as_dtype(dtype) if dtype is not None else (T.float32 if is_float else T.int32)
    if is_float:
        n = max(0, math.ceil((limit - start) / delta))
    elif isinstance(start, int) and isinstance(limit, int):
        n = max(0, -(-(limit - start) // delta))
    else:  # a bound known at build time as a dim (tf.shape(x)[0]): a symbolic length
        span = D.sub(limit, start) if delta > 0 else D.sub(start, limit)
        n = D.maximum(D.floordiv(D.add(span, abs(delta) - 1), abs(delta)), 0)
    with op_scope(name, "range") as scope:
        out = make("iota", [], shape=(n,), axis=0, dtype=dtype)
        if delta != 1:
            out = make("mul", [out, constant(delta, dtype=dtype)])
        first = constant(start, dtype=dtype) if isinstance(start, (int, float)) else \
            convert_to_tensor(tensors[0])
        if first.dtype is not dtype:
            first = make("cast", [first], dtype=dtype)
        return make("add", [out, first], name=scope)


def _static_number(v, opname, symbolic=False):
    """`v` as a number known at build time; with `symbolic`, an int scalar tensor whose
    value is a dim known at build time (`tf.shape(x)[0]`) gives that dim."""
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return v.item() if isinstance(v, np.generic) else v
    t = convert_to_tensor(v)
    vals = static_dims(t) if t.shape.ndims == 0 else None
    if vals and (isinstance(vals[0], int) or symbolic):
        return vals[0]
    raise TypeError(f"{opname}: bounds must be numbers or dims known when the graph is built "
                    f"(e.g. tf.shape(x)[0]), got {v!r}")


def shape(input, name=None, out_type=T.int32):  # noqa: A002  (TF1 argument name)
    """The shape of `input` as a 1-D int tensor (evaluated at run time, so symbolic dims
    give their fed extents)."""
    x = convert_to_tensor(input)
    return make("shape", [x], name=name or "Shape", dtype=T.as_dtype(out_type))


def size(input, name=None, out_type=T.int32):  # noqa: A002  (TF1 argument name)
    """The number of elements of `input` as a scalar int tensor."""
    x = convert_to_tensor(input)
    out_type = T.as_dtype(out_type)
    static = x.shape.num_elements()
    if static is not None:
        return constant(static, dtype=out_type, name=name or "Size")
    with op_scope(name, "Size", [x]) as scope:
        dims = make("shape", [x], dtype=out_type)
        return make("reduce_prod", [dims], name=scope, axes=None, keepdims=False)


def rank(input, name=None):  # noqa: A002  (TF1 argument name)
    """The rank of `input` as a scalar int32 tensor."""
    x = convert_to_tensor(input)
    if x.shape.known_rank:
        return constant(len(x.shape), dtype=T.int32, name=name or "Rank")
    with op_scope(name, "Rank", [x]) as scope:
        dims = make("shape", [x], dtype=T.int32)
        count = make("shape", [dims], dtype=T.int32)
        return make("reduce_sum", [count], name=scope, axes=None, keepdims=False)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None,
            name=None):
    """One-hot encoding: a new axis of extent `depth` at `axis` (default last) holding
    `on_value` (default 1) where the index matches and `off_value` (default 0) elsewhere;
    indices outside [0, depth) give an all-`off_value` row. The dtype is `dtype`, else
    that of `on_value`/`off_value`, else float32."""
    idx = convert_to_tensor(indices)
    if idx.dtype.kind != "int":
        raise TypeError(f"one_hot: indices must be int32 or int64, got {idx.dtype.name}")
    (depth,) = dims_of([depth], "one_hot")
    if not idx.shape.known_rank:
        return deferred(lambda i: one_hot(i, depth, on_value, off_value, axis, dtype), [idx],
                        _one_hot_dtype(dtype, on_value, off_value), name=name or "one_hot")
    ishape = tuple(idx.shape)
    axis = len(ishape) if axis is None or axis == -1 else int(axis)
    if not 0 <= axis <= len(ishape):
        raise ValueError(f"one_hot: axis {axis} is out of range for indices of rank "
                         f"{len(ishape)}")
    dtype = _one_hot_dtype(dtype, on_value, off_value)
    with op_scope(name, "one_hot", [idx]) as scope:
        on = convert_to_tensor(1 if on_value is None else on_value, dtype=dtype)
        off = convert_to_tensor(0 if off_value is None else off_value, dtype=dtype)
        expanded = make("reshape", [idx], shape=ishape[:axis] + (1,) + ishape[axis:])
        ones_around = (1,) * len(ishape)
        iota = make("iota", [], shape=ones_around[:axis] + (depth,) + ones_around[axis:],
                    axis=axis, dtype=idx.dtype)
        return make("select", [make("equal", [expanded, iota]), on, off], name=scope)


def _one_hot_dtype(dtype, on_value, off_value):
    if dtype is not None:
        return T.as_dtype(dtype)
    for v in (on_value, off_value):
        if isinstance(v, Tensor) or hasattr(v, "_as_graph_element"):
            return _as_tensor(v).dtype
        if v is not None:
            return _default_dtype(np.asarray(v))
    return T.float32


def bitcast(input, type, name=None):  # noqa: A002  (TF1 argument names)
    """TF1's `tf.bitcast`: the bits of `input` read as dtype `type`, without converting
    the values (`np.ndarray.view`): float32 <-> int32/uint32, float64 <-> int64/uint64 and
    between ints of one width. The shape stays as it is. TF1's form between types of
    different widths (which adds or removes a last dimension) is not supported, nor
    bool or float16 (float16 values are computed in float32 in flowc's kernels)."""
    x = convert_to_tensor(input)
    dtype = T.as_dtype(type)
    if x.dtype.itemsize != dtype.itemsize:
        raise ValueError(f"bitcast from {x.dtype.name} to {dtype.name}: the types differ in "
                         f"width ({x.dtype.itemsize} and {dtype.itemsize} bytes); flowc "
                         f"bitcasts between types of one width only")
    if x.dtype is dtype:
        return x
    return make("bitcast", [x], name=name or "Bitcast", dtype=dtype)
