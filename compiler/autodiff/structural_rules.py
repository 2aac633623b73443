"""Gradient rules of the reductions, matmul and the movement primitives.

Each rule is `rule(op, grad) -> [gradient of each input or None]` building primitive ops
only. reduce_max/min share the gradient equally among the tied maxima (as TF1);
reduce_prod is exact with zeros (see docs/autodiff.md). A strided or symbolic slice is
undone with scatter_add over an iota, a static stride-1 slice with pad, a stride-1 slice
with a symbolic begin with a concat of zeros of symbolic extent.
"""

from __future__ import annotations

from ..frontend.core import make
from ..ir import dims as D
from ..ir import dtypes as T
from .helpers import const, expand_reduced, mask_select, shape_of, unbroadcast, zeros_like


# reductions ----------------------------------------------------------------------------
def reduce_sum(op, g):
    x = op.inputs[0]
    return [expand_reduced(g, x, op.attrs["axes"], op.attrs["keepdims"])]


def reduce_extreme(op, g):
    """Split the gradient equally among the positions equal to the result (TF1)."""
    x, axes, keep = op.inputs[0], op.attrs["axes"], op.attrs["keepdims"]
    hit = make("equal", [x, expand_reduced(op.outputs[0], x, axes, keep)])
    ones = make("cast", [hit], dtype=x.dtype)
    count = make("reduce_sum", [ones], axes=axes, keepdims=keep)
    share = make("div", [g, count])
    return [make("mul", [ones, expand_reduced(share, x, axes, keep)])]


def reduce_prod(op, g):
    """Exact with zeros: for x_i != 0 the product of the others is y / x_i (0 when the
    slice holds a zero); for the zero of a slice with exactly one zero it is the product
    of the nonzero elements; with two or more zeros every derivative is 0."""
    x, axes, keep = op.inputs[0], op.attrs["axes"], op.attrs["keepdims"]
    is_zero = make("equal", [x, const(0, x)])
    safe = make("select", [is_zero, const(1, x), x])
    nonzero_prod = make("reduce_prod", [safe], axes=axes, keepdims=keep)
    zeros = make("reduce_sum", [make("cast", [is_zero], dtype=x.dtype)], axes=axes,
                 keepdims=keep)
    no_zero = make("equal", [zeros, const(0, x)])
    one_zero = make("equal", [zeros, const(1, x)])
    at_nonzero = mask_select(no_zero, nonzero_prod)       # y, or 0 when a zero is there
    at_zero = mask_select(one_zero, nonzero_prod)
    g_at_nonzero = expand_reduced(make("mul", [g, at_nonzero]), x, axes, keep)
    g_at_zero = expand_reduced(make("mul", [g, at_zero]), x, axes, keep)
    return [make("select", [is_zero, g_at_zero, make("div", [g_at_nonzero, safe])])]


# contraction ---------------------------------------------------------------------------
def _mm(a, b, ta=False, tb=False):
    return make("matmul", [a, b], transpose_a=ta, transpose_b=tb)


def matmul(op, g):
    """TF1's MatMul/BatchMatMul gradients; batch dims are summed back if broadcast."""
    a, b = op.inputs
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    if not ta and not tb:
        ga, gb = _mm(g, b, tb=True), _mm(a, g, ta=True)
    elif not ta and tb:
        ga, gb = _mm(g, b), _mm(g, a, ta=True)
    elif ta and not tb:
        ga, gb = _mm(b, g, tb=True), _mm(a, g)
    else:
        ga, gb = _mm(b, g, ta=True, tb=True), _mm(g, a, ta=True, tb=True)
    return [unbroadcast(ga, a), unbroadcast(gb, b)]


# movement ------------------------------------------------------------------------------
def reshape(op, g):
    return [make("reshape", [g], shape=shape_of(op.inputs[0]))]


def transpose(op, g):
    perm = op.attrs["perm"]
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return [make("transpose", [g], perm=tuple(inverse))]


def broadcast(op, g):
    return [unbroadcast(g, op.inputs[0])]


def _is_full(b, s, st, d):
    return st == 1 and isinstance(b, int) and b == 0 and (s is d or s == d)


def _axis_indices(b, s, st):
    """int32 indices b, b+st, ..., b+(s-1)st as a tensor of shape (s,)."""
    idx = make("iota", [], shape=(s,), axis=0, dtype=T.int32)
    if st != 1:
        idx = make("mul", [idx, const(st, idx)])
    if not (isinstance(b, int) and b == 0):
        if not isinstance(b, int):
            raise TypeError("gradients: slice with a symbolic begin is not supported")
        idx = make("add", [idx, const(b, idx)])
    return idx


def slice_(op, g):
    x = op.inputs[0]
    shape = list(shape_of(g))
    attrs = op.attrs
    for ax, (b, s, st, d) in enumerate(zip(attrs["begin"], attrs["size"], attrs["stride"],
                                           shape_of(x))):
        if _is_full(b, s, st, d):
            continue
        shape[ax] = d
        if st == 1 and all(isinstance(v, int) for v in (b, s, d)):
            pads = tuple((b, d - b - s) if i == ax else (0, 0) for i in range(len(shape)))
            g = make("pad", [g], pads=pads, value=0.0)
        elif st == 1 and not isinstance(b, int):
            g = _pad_symbolic(g, ax, b, D.sub(D.sub(d, b), s))
        else:
            g = make("scatter_add", [g, _axis_indices(b, s, st)], shape=tuple(shape), axis=ax)
    return [g]


def _pad_symbolic(g, axis, before, after):
    """`g` with zeros of (symbolic) extents `before`/`after` around it along `axis`."""
    shape = shape_of(g)
    parts = []
    for extent in (before, None, after):
        if extent is None:
            parts.append(g)
        elif not (isinstance(extent, int) and extent == 0):
            dims = tuple(extent if i == axis else d for i, d in enumerate(shape))
            parts.append(make("broadcast", [const(0, g)], shape=dims))
    return make("concat", parts, axis=axis) if len(parts) > 1 else g


def _slice_along(g, axis, begin, size):
    shape = shape_of(g)
    begins = tuple(begin if i == axis else 0 for i in range(len(shape)))
    sizes = tuple(size if i == axis else d for i, d in enumerate(shape))
    return make("slice", [g], begin=begins, size=sizes, stride=(1,) * len(shape))


def concat(op, g):
    axis, offset, out = op.attrs["axis"], 0, []
    for x in op.inputs:
        size = shape_of(x)[axis]
        out.append(_slice_along(g, axis, offset, size))
        offset = D.add(offset, size)
    return out


def pad(op, g):
    x = op.inputs[0]
    rank = len(shape_of(x))
    begin = tuple(lo for lo, _ in op.attrs["pads"])
    return [make("slice", [g], begin=begin, size=shape_of(x), stride=(1,) * rank)]


def gather(op, g):
    params, indices = op.inputs
    return [make("scatter_add", [g, indices], shape=shape_of(params), axis=op.attrs["axis"]),
            None]


def scatter_add(op, g):
    return [make("gather", [g, op.inputs[1]], axis=op.attrs["axis"]), None]


def dynamic_update_slice(op, g):
    """The buffer's gradient is g with the written row zeroed (that row was overwritten),
    the update's is g's row at the index (TF1's TensorArray write/read gradients)."""
    _, update, index = op.inputs
    return [make("dynamic_update_slice", [g, zeros_like(update), index]),
            make("gather", [g, index], axis=0), None]


# window primitives (compiler/ops/window.py): each is the other's transpose ----------------
_WINDOW_KEYS = ("window", "strides", "padding", "rhs_dilation")


def patches(op, g):
    """Each window element's gradient goes back to the input position it was read from
    (summed over the windows that share it); pad positions take none, whatever the pad
    value."""
    x = op.inputs[0]
    attrs = {k: op.attrs[k] for k in _WINDOW_KEYS}
    nsp = len(attrs["window"])
    return [make("fold", [g], shape=tuple(shape_of(x)[1:1 + nsp]), **attrs)]


def fold(op, g):
    attrs = {k: op.attrs[k] for k in _WINDOW_KEYS}
    return [make("patches", [g], value=0.0, **attrs)]
