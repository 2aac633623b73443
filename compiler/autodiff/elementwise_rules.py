"""Gradient rules of the elementwise primitives and cast.

Each rule is `rule(op, grad) -> [gradient of each input or None]`, where `op` is the
user-graph Operation, `grad` the gradient of its (only) output. Rules build primitive ops
only; a binary op's input gradients are summed back over broadcast axes
(`helpers.unbroadcast`). Ties of maximum/minimum go to the first operand (as TF1).
"""

from __future__ import annotations

from ..frontend.core import make
from .helpers import const, mask_select, unbroadcast, zeros_like


def _x(op):
    return op.inputs[0]


def _y(op):
    return op.outputs[0]


def _mul(a, b):
    return make("mul", [a, b])


# unary ---------------------------------------------------------------------------------
def neg(op, g):
    return [make("neg", [g])]


def abs_(op, g):
    return [_mul(g, make("sign", [_x(op)]))]


def zero(op, g):
    """sign, floor, ceil: piecewise constant, so the gradient is 0 (as TF1)."""
    return [zeros_like(_x(op))]


def exp(op, g):
    return [_mul(g, _y(op))]


def expm1(op, g):
    return [_mul(g, make("add", [_y(op), const(1, g)]))]


def log(op, g):
    return [make("div", [g, _x(op)])]


def log1p(op, g):
    return [make("div", [g, make("add", [_x(op), const(1, g)])])]


def sqrt(op, g):
    return [make("div", [g, _mul(const(2, g), _y(op))])]


def rsqrt(op, g):
    y = _y(op)
    return [_mul(_mul(g, const(-0.5, g)), _mul(y, _mul(y, y)))]


def tanh(op, g):
    y = _y(op)
    return [_mul(g, make("sub", [const(1, g), _mul(y, y)]))]


def sigmoid(op, g):
    y = _y(op)
    return [_mul(g, _mul(y, make("sub", [const(1, g), y])))]


def sin(op, g):
    return [_mul(g, make("cos", [_x(op)]))]


def cos(op, g):
    return [make("neg", [_mul(g, make("sin", [_x(op)]))])]


def erf(op, g):
    """d erf(x) = 2 / sqrt(pi) * exp(-x**2)."""
    x = _x(op)
    e = make("exp", [make("neg", [_mul(x, x)])])
    return [_mul(g, _mul(const(1.1283791670955126, g), e))]


def atan(op, g):
    x = _x(op)
    return [make("div", [g, make("add", [const(1, g), _mul(x, x)])])]


# binary --------------------------------------------------------------------------------
def _both(op, ga, gb):
    a, b = op.inputs
    return [unbroadcast(ga, a, op), unbroadcast(gb, b, op)]


def add(op, g):
    return _both(op, g, g)


def sub(op, g):
    return _both(op, g, make("neg", [g]))


def mul(op, g):
    a, b = op.inputs
    return _both(op, _mul(g, b), _mul(a, g))


def div(op, g):
    a, b = op.inputs
    ga = make("div", [g, b])
    gb = make("neg", [_mul(ga, make("div", [a, b]))])
    return _both(op, ga, gb)


def mod(op, g):
    """Float mod a - b*floor(a/b): d/da = 1, d/db = -floor(a/b) (as TF1's FloorMod)."""
    a, b = op.inputs
    return _both(op, g, make("neg", [_mul(g, make("floor", [make("div", [a, b])]))]))


def pow_(op, g):
    """d/da = b a^(b-1); d/db = y log(a) where a > 0, else 0 (as TF1)."""
    a, b = op.inputs
    ga = _mul(g, _mul(b, make("pow", [a, make("sub", [b, const(1, b)])])))
    positive = make("greater", [a, const(0, a)])
    safe_a = make("select", [positive, a, const(1, a)])
    gb = _mul(g, _mul(_y(op), mask_select(positive, make("log", [safe_a]))))
    return _both(op, ga, gb)


def _route(op, g, cmp):
    a, b = op.inputs
    first = make(cmp, [a, b])
    return _both(op, mask_select(first, g), make("select", [first, const(0, g), g]))


def maximum(op, g):
    """The gradient goes to the larger operand; a tie goes to the first (TF1)."""
    return _route(op, g, "greater_equal")


def minimum(op, g):
    """The gradient goes to the smaller operand; a tie goes to the first (TF1)."""
    return _route(op, g, "less_equal")


def select(op, g):
    c, a, b = op.inputs
    ga = mask_select(c, g)
    gb = make("select", [c, const(0, g), g])
    return [None, unbroadcast(ga, a, op), unbroadcast(gb, b, op)]


def cast(op, g):
    """Float to float: the gradient cast back; any int or bool side: no gradient."""
    src = _x(op).dtype
    if src.kind == "float" and op.attrs["dtype"].kind == "float":
        return [make("cast", [g], dtype=src)]
    return [None]

