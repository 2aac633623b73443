"""Build-time values of small integer tensors, so TF1 shape idioms stay static.

TF1 programs pass shapes as tensors: `fc.reshape(x, [fc.shape(x)[0], -1])`,
`fc.zeros(fc.shape(x))`, `fc.fill(fc.stack([n, 3]), 1.0)`. flowc's movement and source
primitives take their shapes as (possibly symbolic) dims, so this module recovers the
value of such a tensor from the graph: `static_dims(t)` follows constants, `shape` ops of
inputs with known rank, and the movement ops the frontend uses on them (slice, reshape,
concat, gather with constant indices, cast, identity). It returns the values as dims
(ints or symbolic `DimExpr`s) or None when the value is only known at run time. It never
adds ops to the graph.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from .graph import Tensor


def static_dims(t: Tensor):
    """The value of the 0-D or 1-D int tensor `t` as a list of dims (a 0-D tensor gives a
    one-element list), or None when it is not known at build time."""
    if t.dtype.kind != "int" or t.shape.ndims not in (0, 1):
        return None
    return _values(t)


def _values(t: Tensor):
    op = t.op
    rule = _RULES.get(op.type)
    return None if rule is None else rule(op)


def _constant(op):
    arr = op.attrs["value"].array
    return [int(v) for v in arr.reshape(-1)] if arr.ndim <= 1 else None


def _shape(op):
    shape = op.inputs[0].shape
    return list(shape) if shape.known_rank else None


def _same(op):
    return _values(op.inputs[0])


def _reshape(op):
    vals = _values(op.inputs[0])
    return vals if vals is not None and len(op.attrs["shape"]) <= 1 else None


def _slice(op):
    vals = _values(op.inputs[0])
    if vals is None or len(op.attrs["begin"]) != 1:
        return None
    (b,), (s,), (st,) = op.attrs["begin"], op.attrs["size"], op.attrs["stride"]
    if not (isinstance(b, int) and isinstance(s, int)):
        return None
    return [vals[b + st * k] for k in range(s)]


def _concat(op):
    out = []
    for t in op.inputs:
        vals = _values(t)
        if vals is None:
            return None
        out.extend(vals)
    return out


def _gather(op):
    vals, idx = _values(op.inputs[0]), _values(op.inputs[1])
    if vals is None or idx is None or op.attrs["axis"] != 0:
        return None
    if any(not isinstance(i, int) or not 0 <= i < len(vals) for i in idx):
        return None
    return [vals[i] for i in idx]


def _cast(op):
    return _values(op.inputs[0]) if op.attrs["dtype"].kind == "int" else None


def _arith(fn):
    def rule(op):
        a, b = _values(op.inputs[0]), _values(op.inputs[1])
        if a is None or b is None or len(a) != len(b):
            return None
        return [fn(x, y) for x, y in zip(a, b, strict=True)]
    return rule


_RULES = {
    "constant": _constant,
    "shape": _shape,
    "identity": _same,
    "reshape": _reshape,
    "slice": _slice,
    "concat": _concat,
    "gather": _gather,
    "cast": _cast,
    "add": _arith(D.add),
    "sub": _arith(D.sub),
    "mul": _arith(D.mul),
}


def is_int_like(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
