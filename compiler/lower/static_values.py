"""Compile-time values of IR nodes for the lowering: `static_array(node, memo)`.

A conv nest whose filter is known at compile time (a `constant`, or foldable ops over
constants: every imported ONNX model's filter, a transposed initializer) packs it into
panels here, once, instead of in a pack kernel on every run (conv_nests._packed_filter),
when the program holds that value (`held_elements`: not a broadcast scalar, whose packed
copy would be new memory; its pack kernel is a fill). The value comes from the op table's
numpy references, as in constant folding (passes/fold_constants.py); the original constant
is dropped from the lowered program when nothing else reads it (program._used_consts), so
the filter is held once.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from ..ops import get


def static_array(node, memo: dict):
    """`node`'s value as a numpy array when every leaf under it is a `constant` and every
    op on the way is foldable with a static type; else None. `memo`: id(node) -> value."""
    key = id(node)
    if key in memo:
        return memo[key][1]
    memo[key] = (node, _evaluate(node, memo))   # the node kept alive with its id
    return memo[key][1]


def held_elements(node) -> int:
    """The elements of the distinct `constant` nodes under `node` (through any op): what
    the program holds of it. A filter whose value is a broadcast scalar holds 1, so
    packing it at compile time would add a filter-sized constant instead of replacing
    one (its pack kernel, a fill, stays)."""
    seen, stack, total = set(), [node], 0
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.op == "constant":
            total += int(np.prod(n.type.shape, dtype=np.int64))
        else:
            stack += list(n.inputs)
    return total


def _evaluate(node, memo):
    if node.op == "constant":
        return node.attr["value"].array
    opdef = get(node.op)
    if not opdef.foldable or node.op == "shape" or not node.type.is_static:
        return None
    attrs = node.attr
    if any(_has_symbols(v) for v in attrs.values()):
        return None
    arrays = []
    for i in node.inputs:
        a = static_array(i, memo)
        if a is None:
            return None
        arrays.append(a)
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(opdef.ref(*arrays, **attrs))
    except Exception:  # noqa: BLE001  (left to the run time, which reports it)
        return None
    if out.shape != tuple(node.type.shape) or out.dtype != node.dtype.np:
        return None
    return out


def _has_symbols(value) -> bool:
    if isinstance(value, D.DimExpr):
        return True
    return isinstance(value, tuple) and any(_has_symbols(v) for v in value)


def packed_panels(w: np.ndarray, jv: int) -> np.ndarray:
    """w [*k, ci, co] packed in panels of jv output channels:
    packed[p, *k, ci, l] = w[*k, ci, p * jv + l], 0 past the last channel."""
    co = w.shape[-1]
    panels = -(-co // jv)
    if panels * jv != co:
        w = np.concatenate([w, np.zeros((*w.shape[:-1], panels * jv - co), w.dtype)], -1)
    w = w.reshape(*w.shape[:-1], panels, jv)
    return np.ascontiguousarray(np.moveaxis(w, -2, 0))
