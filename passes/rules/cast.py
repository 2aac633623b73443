"""Rules for `cast`.

flowc's cast rules (compiler/ops/numerics.py) are functions of the value being cast:
float -> int truncates and saturates by value (NaN -> 0), any -> bool is `x != 0`, and
every other cast rounds the value to nearest. So a cast that first widens `x` *exactly*
(every value of the source dtype, NaN, inf and -0.0 included, is represented unchanged)
cannot change what a second cast makes of it. `EXACT_WIDENING` lists those casts.
(The one bit pattern not kept is a signalling NaN, which widening quiets.)
"""

from __future__ import annotations

from compiler.ir import dtypes as T

from .base import Rule

EXACT_WIDENING = (
    {(T.bool_, t) for t in T.ALL}
    | {(T.int32, T.int64), (T.int32, T.float64)}
    | {(T.float16, T.float32), (T.float16, T.float64), (T.float32, T.float64)}
)


def cast_same(node, rb):
    """cast(x, dtype of x) -> x."""
    x = node.inputs[0]
    return x if x.dtype is node.dtype else None


def cast_cast(node, rb):
    """cast(cast(x, T1), T2) -> cast(x, T2) when casting x's dtype to T1 is exact."""
    inner = node.inputs[0]
    if inner.op != "cast" or (inner.inputs[0].dtype, inner.dtype) not in EXACT_WIDENING:
        return None
    return rb.derive(node, "cast", [inner.inputs[0]], dtype=node.dtype)


RULES = [
    Rule("cast_same", ("cast",), cast_same),
    Rule("cast_cast", ("cast",), cast_cast),
]
