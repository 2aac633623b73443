"""Small graph-building helpers shared by the gradient rules.

Every helper adds primitive ops (through `frontend.core.make`) to the graph of its
inputs and returns a Tensor; none of them keeps state. `unbroadcast(grad, like)` sums a
gradient of a broadcast result back to the shape of the operand `like`.
"""

from __future__ import annotations

import numpy as np

from ..frontend.core import constant, make
from ..ops.reduce import normalize_axes


def const(value, like):
    """A scalar constant with the dtype of `like` (broadcasts in elementwise ops)."""
    return constant(np.asarray(value, dtype=like.dtype.np), dtype=like.dtype)


def shape_of(t) -> tuple:
    shape = t.shape
    if not shape.known_rank:
        raise TypeError(f"gradients: {t.name!r} has unknown rank; the gradient needs its "
                        "rank (give the placeholder a shape)")
    return tuple(shape)


def _is_one(d) -> bool:
    return isinstance(d, int) and d == 1


def broadcast_axes(out_shape, in_shape) -> tuple:
    """Axes of `out_shape` over which an operand of `in_shape` was broadcast: the leading
    axes it lacks and the axes where it is statically 1 but the result is not. A symbolic
    dim is unified with the result's by shape inference, so it never broadcasts."""
    lead = len(out_shape) - len(in_shape)
    axes = list(range(lead))
    for i, d in enumerate(in_shape):
        if _is_one(d) and not _is_one(out_shape[lead + i]):
            axes.append(lead + i)
    return tuple(axes)


def unbroadcast(grad, like, op=None):
    """`grad` (shaped like the broadcast result) summed back to the shape of `like`.

    With unknown ranks only two cases are decidable at build time: `like` is a scalar
    (sum everything), or `like` is the only operand of `op` not known to be a scalar
    (nothing was broadcast against it); anything else raises a TypeError."""
    if grad is None:
        return None
    if like.shape.known_rank and like.shape.ndims == 0 and not grad.shape.known_rank:
        return make("reshape", [make("reduce_sum", [grad], axes=None, keepdims=False)],
                    shape=())
    if not like.shape.known_rank and op is not None and _others_scalar(op, like):
        return grad
    out_shape, in_shape = shape_of(grad), shape_of(like)
    axes = broadcast_axes(out_shape, in_shape)
    if not axes:
        return grad
    total = make("reduce_sum", [grad], axes=axes, keepdims=False)
    return make("reshape", [total], shape=in_shape)


def _others_scalar(op, like) -> bool:
    return all(t is like or (t.shape.known_rank and t.shape.ndims == 0) for t in op.inputs)


def sum_to_keepdims(x, axes):
    """The shape of `x` with 1 at each reduced axis (`axes` None = all)."""
    shape = shape_of(x)
    axes = normalize_axes(axes, len(shape))
    return tuple(1 if i in axes else d for i, d in enumerate(shape)), axes


def expand_reduced(t, x, axes, keepdims):
    """`t`, the result of reducing `x` over `axes`, broadcast back to the shape of `x`."""
    kept, _ = sum_to_keepdims(x, axes)
    if not keepdims:
        t = make("reshape", [t], shape=kept)
    return make("broadcast", [t], shape=shape_of(x))


def zeros_like(x):
    return make("broadcast", [const(0, x)], shape=shape_of(x))


def mask_select(mask, grad, like=None):
    """`grad` where `mask` holds, else 0 (broadcast over the three operands)."""
    return make("select", [mask, grad, const(0, like if like is not None else grad)])
