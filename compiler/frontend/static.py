"""Build-time values of small integer tensors, so TF1 shape idioms stay static.

TF1 programs pass shapes as tensors: `fc.reshape(x, [fc.shape(x)[0], -1])`,
`fc.zeros(fc.shape(x))`, `fc.fill(fc.stack([n, 3]), 1.0)`. flowc's movement and source
primitives take their shapes as (possibly symbolic) dims, so this module recovers the
value of such a tensor from the graph: `static_dims(t)` follows constants, `shape` ops of
inputs with known rank, and the movement ops the frontend uses on them (slice, reshape,
concat, gather with constant indices, broadcast, cast, identity), add/sub/mul and int
div (a one-element operand broadcasts), and equal/select where the answer is sure (a symbolic
dim never equals a negative int: torch's `where(shape == -1, 1, shape)` of `expand`).
It returns the values as dims (ints or symbolic `DimExpr`s) or None when the value is
only known at run time. It never adds ops to the graph.
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


def _paired(a, b):
    """Two value lists of one length, a one-element list repeated (numpy broadcasting)."""
    if a is None or b is None:
        return None
    if len(a) == 1 and len(b) != 1:
        a = a * len(b)
    elif len(b) == 1 and len(a) != 1:
        b = b * len(a)
    return (a, b) if len(a) == len(b) else None


def _arith(fn):
    def rule(op):
        pair = _paired(_values(op.inputs[0]), _values(op.inputs[1]))
        return None if pair is None else [fn(x, y) for x, y in zip(*pair, strict=True)]
    return rule


def _floordiv(x, y):
    """x // y as the int `div` primitive computes it (floor; 0 for y == 0), or None."""
    if isinstance(x, int) and isinstance(y, int):
        return 0 if y == 0 else x // y
    if isinstance(y, int) and y > 0:  # a symbolic dim is never negative
        exact = D.divide_exact(x, y)
        return exact if exact is not None else D.floordiv(x, y)
    return None


def _div(op):
    pair = _paired(_values(op.inputs[0]), _values(op.inputs[1]))
    if pair is None:
        return None
    out = [_floordiv(x, y) for x, y in zip(*pair, strict=True)]
    return None if any(v is None for v in out) else out


def _broadcast(op):
    vals, shape = _values(op.inputs[0]), op.attrs["shape"]
    if vals is None or len(shape) > 1 or (len(shape) == 1 and not isinstance(shape[0], int)):
        return None
    n = shape[0] if shape else 1
    return vals * n if len(vals) == 1 else vals if len(vals) == n else None


def _same_dim(x, y):
    """1 or 0 when dims x and y are surely equal or different, else None (a symbolic dim
    is never negative, so it differs from a negative int: torch's `dim == -1` tests)."""
    if isinstance(x, int) and isinstance(y, int) or x == y:
        return int(x == y)
    if (isinstance(x, int) and x < 0) or (isinstance(y, int) and y < 0):
        return 0
    return None


def _equal(op):
    pair = _paired(_values(op.inputs[0]), _values(op.inputs[1]))
    if pair is None:
        return None
    out = [_same_dim(x, y) for x, y in zip(*pair, strict=True)]
    return None if any(v is None for v in out) else out


def _select(op):
    cond, a, b = (_values(t) for t in op.inputs)
    if cond is None or a is None or b is None:
        return None
    n = max(len(cond), len(a), len(b))
    if any(len(v) not in (1, n) for v in (cond, a, b)):
        return None
    pick = [(v * n if len(v) == 1 else v) for v in (cond, a, b)]
    return [x if c else y for c, x, y in zip(*pick, strict=True)]


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
    "div": _div,
    "broadcast": _broadcast,
    "equal": _equal,
    "select": _select,
}


def is_int_like(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
