"""TF1's clipping and top-k membership: `clip_by_norm`, `global_norm`,
`clip_by_global_norm` (tf.*) and `in_top_k` (tf.nn.*), as composites of primitives, so
their gradients and both backends need nothing new.

Formulas are TF1's clip_ops.py / InTopK kernel:

- `clip_by_norm(t, c, axes)`: `t * c / maximum(norm, c)`, norm = sqrt(sum(t², axes)) with
  sqrt taken only where the sum is positive (a zero tensor has a finite gradient).
- `global_norm(ts)`: sqrt(sum over ts of sum(t²)); None entries are ignored.
- `clip_by_global_norm(ts, c, use_norm=None)`: every t times
  `c * minimum(1 / norm, 1 / c)`; returns (list with None entries passed through, norm).
  When the norm is infinite or NaN every clipped value is NaN (TF1's documented behaviour).
- `in_top_k(predictions, targets, k)`: row i is True when fewer than k classes have a
  prediction strictly greater than `predictions[i, targets[i]]` (ties at the boundary are
  all in), False when that prediction is not finite or the target is out of range.
"""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as T
from . import math_ops as M
from .array_ops import one_hot
from .core import constant, convert_to_tensor, known_shape, make, op_scope
from .deferred import deferred, rank_unknown
from .graph import Tensor
from .manip_ops import expand_dims
from .reduce_ops import reduce_max, reduce_sum

__all__ = ["clip_by_global_norm", "clip_by_norm", "global_norm", "in_top_k"]


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """`t` rescaled so that its L2 norm over `axes` (default all) is at most `clip_norm`."""
    t = convert_to_tensor(t)
    with op_scope(name, "clip_by_norm", [t, clip_norm]) as scope:
        c = convert_to_tensor(clip_norm, dtype=t.dtype)
        l2sum = reduce_sum(M.square(t), axes, keepdims=True)
        positive = M.greater(l2sum, constant(0, dtype=t.dtype))
        safe = make("select", [positive, l2sum, constant(1, dtype=t.dtype)])
        l2norm = make("select", [positive, M.sqrt(safe), l2sum])
        return M.divide(M.multiply(t, c), M.maximum(l2norm, c), name=scope)


def _tensors(t_list, opname):
    if isinstance(t_list, (str, bytes, Tensor)) or not isinstance(t_list, (list, tuple)):
        raise TypeError(f"{opname}: t_list should be a sequence of tensors, got {t_list!r}")
    return [None if t is None else convert_to_tensor(t) for t in t_list]


def global_norm(t_list, name=None):
    """sqrt(sum of the squares of every element of every tensor of `t_list`)."""
    ts = [t for t in _tensors(t_list, "global_norm") if t is not None]
    if not ts:
        raise ValueError("global_norm: t_list has no tensors (every entry is None)")
    with op_scope(name, "global_norm", ts) as scope:
        sums = [reduce_sum(M.square(t)) for t in ts]
        total = sums[0]
        for s in sums[1:]:
            total = M.add(total, M.cast(s, total.dtype) if s.dtype is not total.dtype else s)
        return M.sqrt(total, name=scope)


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """(the tensors of `t_list` scaled by `clip_norm / max(global_norm, clip_norm)`,
    the global norm); None entries stay None."""
    ts = _tensors(t_list, "clip_by_global_norm")
    present = [t for t in ts if t is not None]
    with op_scope(name, "clip_by_global_norm", present) as scope:
        norm = global_norm(present) if use_norm is None else convert_to_tensor(use_norm)
        c = convert_to_tensor(clip_norm, dtype=norm.dtype)
        one = constant(1, dtype=norm.dtype)
        finite_scale = M.multiply(c, M.minimum(M.divide(one, norm), M.divide(one, c)))
        # norm * 0 is NaN exactly when the norm is infinite or NaN (TF1 adds norm - norm)
        scale = M.add(finite_scale, M.multiply(norm, constant(0, dtype=norm.dtype)))
        clipped = []
        for i, t in enumerate(ts):
            if t is None:
                clipped.append(None)
                continue
            s = scale if t.dtype is scale.dtype else M.cast(scale, t.dtype)
            clipped.append(M.multiply(t, s, name=f"{scope}{i}"))
        return clipped, norm


def in_top_k(predictions, targets, k, name=None):
    """bool [batch]: whether `targets[i]` is among the `k` largest of `predictions[i]`."""
    pred = convert_to_tensor(predictions)
    tgt = convert_to_tensor(targets)
    if rank_unknown(pred, tgt):
        return deferred(lambda p, t: in_top_k(p, t, k), [pred, tgt], T.bool_,
                        name=name or "in_top_k")
    shape = known_shape(pred, "in_top_k")
    if len(shape) != 2 or pred.dtype.kind != "float":
        raise ValueError(f"in_top_k: predictions must be a float matrix [batch, classes], "
                         f"got {pred.dtype.name} of shape {list(shape)}")
    if tgt.dtype.kind != "int" or len(known_shape(tgt, "in_top_k")) != 1:
        raise ValueError(f"in_top_k: targets must be an int vector [batch], got "
                         f"{tgt.dtype.name} of shape {list(tgt.shape)}")
    with op_scope(name, "in_top_k", [pred, tgt]) as scope:
        is_target = one_hot(tgt, shape[1], on_value=True, off_value=False)
        lowest = constant(-np.inf, dtype=pred.dtype)
        target_pred = reduce_max(make("select", [is_target, pred, lowest]), 1)
        above = M.cast(M.greater(pred, expand_dims(target_pred, 1)), "int32")
        count = reduce_sum(above, 1)
        big = constant(np.finfo(pred.dtype.np).max, dtype=pred.dtype)
        finite = M.less_equal(M.abs(target_pred), big)
        k = convert_to_tensor(k)
        k = k if k.dtype.name == "int32" else M.cast(k, "int32")
        return M.logical_and(M.less(count, k), finite, name=scope)
