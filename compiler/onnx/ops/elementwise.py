"""Elementwise ONNX ops: arithmetic, comparisons, logic, bit shifts, casts, the math
functions, Where and Dropout (activations are in activations.py).

Every op is built from flowc's elementwise primitives (`make`) and frontend functions;
where ONNX and flowc differ the difference is composed exactly: Div of ints truncates
toward zero (flowc floors), Mod with fmod=1 takes the dividend's sign, Round is half to
even, BitShift is a multiplication / floor division by 2**shift with ONNX's results for
a shift out of range.
"""

from __future__ import annotations

import numpy as np

from ...frontend import math_ops as M
from ...frontend.array_ops import ones_like, zeros_like
from ...frontend.control_flow import identity
from ...frontend.core import constant, make
from ...ir import dtypes as T
from .. import proto
from ..table import converter


def const(value, like):
    """A scalar constant of `like`'s dtype."""
    return constant(value, dtype=like.dtype)


def where(cond, a, b):
    return make("select", [cond, a, b])


def _check_float(cx, x, what="input 0"):
    if not x.dtype.is_float:
        raise cx.unsupported(f"{what} has element type {x.dtype.name}; {cx.op_type} takes "
                             f"floating-point tensors")


# ---- arithmetic -------------------------------------------------------------------------

def _binary(op_type, prim):
    @converter(op_type)
    def convert(cx):
        return [make(prim, [cx.input(0), cx.input(1)])]


for _name, _prim in {"Add": "add", "Sub": "sub", "Mul": "mul"}.items():
    _binary(_name, _prim)


def trunc_div(a, b):
    """Integer division rounding toward zero (C, numpy's astype of a true quotient) from
    flowc's floor division: one more where the remainder is non-zero and the operands'
    signs differ."""
    q = make("div", [a, b])
    if a.dtype.is_unsigned:
        return q
    zero = const(0, a)
    r = make("mod", [a, b])
    fix = make("logical_and", [make("not_equal", [r, zero]), make(
        "not_equal", [make("less", [a, zero]), make("less", [b, zero])])])
    return where(fix, make("add", [q, const(1, a)]), q)


@converter("Div")
def div(cx):
    a, b = cx.input(0), cx.input(1)
    return [make("div", [a, b]) if a.dtype.is_float else trunc_div(a, b)]


@converter("Mod", since=10, attrs=("fmod",))
def mod(cx):
    a, b = cx.input(0), cx.input(1)
    fmod = cx.attr("fmod", 0)
    if fmod not in (0, 1):
        raise cx.unsupported(f"fmod={fmod} (0 or 1)")
    if not fmod:   # floor modulo: the sign of the divisor (floats from opset 28 on)
        return [make("mod", [a, b])]
    # C fmod: the sign of the dividend; |a| mod |b| is the same for floor and truncation
    r = make("mod", [make("abs", [a]), make("abs", [b])])
    if a.dtype.is_unsigned:
        return [r]
    return [where(make("less", [a, const(0, a)]), make("neg", [r]), r)]


@converter("Pow", attrs=())
def pow_(cx):
    x, y = cx.input(0), cx.input(1)
    if x.dtype.is_float:
        return [make("pow", [x, M.cast(y, x.dtype)])]
    if y.dtype.is_int:
        return [M.pow(x, M.cast(y, x.dtype))]
    # an int base to a float power: computed in float64, truncated to the base's type
    wide = make("pow", [M.cast(x, T.float64), M.cast(y, T.float64)])
    return [M.cast(wide, x.dtype)]


def _variadic(op_type, prim, mean=False):
    @converter(op_type)
    def convert(cx):
        xs = [t for t in cx.inputs if t is not None]
        if not xs:
            raise cx.unsupported("no inputs")
        out = xs[0]
        for t in xs[1:]:
            out = make(prim, [out, t])
        if mean:
            out = make("div", [out, const(len(xs), out)])
        return [identity(out) if len(xs) == 1 else out]


_variadic("Max", "maximum")
_variadic("Min", "minimum")
_variadic("Sum", "add")
_variadic("Mean", "add", mean=True)


@converter("Clip", attrs=("min", "max"))
def clip(cx):
    x = cx.input(0)
    if cx.opset < 11:
        lo = const(cx.attr("min", -3.4028234663852886e38), x)
        hi = const(cx.attr("max", 3.4028234663852886e38), x)
    else:
        if "min" in cx.attrs or "max" in cx.attrs:
            raise cx.unsupported("attributes min/max (inputs from opset 11 on)")
        lo, hi = cx.input(1), cx.input(2)
    if lo is not None:
        x = make("maximum", [x, lo])
    if hi is not None:
        x = make("minimum", [x, hi])
    return [identity(x)]


# ---- comparisons and logic ----------------------------------------------------------------

for _name, _prim in {"Equal": "equal", "Greater": "greater", "Less": "less",
                     "GreaterOrEqual": "greater_equal", "LessOrEqual": "less_equal",
                     "And": "logical_and", "Or": "logical_or"}.items():
    _binary(_name, _prim)


@converter("Xor")
def xor(cx):
    return [make("not_equal", [cx.input(0), cx.input(1)])]


@converter("Not")
def not_(cx):
    return [make("logical_not", [cx.input(0)])]


@converter("IsNaN", since=9)
def isnan(cx):
    x = cx.input(0)
    _check_float(cx, x)
    return [make("not_equal", [x, x])]


@converter("IsInf", since=10, attrs=("detect_positive", "detect_negative"))
def isinf(cx):
    x = cx.input(0)
    _check_float(cx, x)
    pos, neg = cx.attr("detect_positive", 1), cx.attr("detect_negative", 1)
    parts = ([make("equal", [x, const(np.inf, x)])] if pos else []) + (
        [make("equal", [x, const(-np.inf, x)])] if neg else [])
    if not parts:
        return [zeros_like(x, dtype=T.bool_)]
    return [parts[0] if len(parts) == 1 else make("logical_or", parts)]


def _bits(dtype):
    return 8 * dtype.itemsize


@converter("BitShift", since=11, attrs=("direction",))
def bit_shift(cx):
    """x * 2**y (LEFT, wrapping) or floor(x / 2**y) (RIGHT: arithmetic for signed ints);
    a shift below 0 or at least the width gives 0 (-1 for a negative x shifted right)."""
    x, y = cx.input(0), cx.input(1)
    direction = cx.attr("direction", "")
    if direction not in ("LEFT", "RIGHT"):
        raise cx.unsupported(f"direction {direction!r} (LEFT or RIGHT)")
    if not x.dtype.is_int:
        raise cx.unsupported(f"element type {x.dtype.name} (BitShift takes ints)")
    width = _bits(x.dtype)
    zero = const(0, x)
    # in range: 0 <= y < width (RIGHT of a signed int: y < width - 1, as 2**(width-1)
    # is not a positive value of the type; y = width - 1 gives what out of range gives)
    top = width - 1 if direction == "RIGHT" and not x.dtype.is_unsigned else width
    ok = make("less", [y, const(top, y)])
    if not y.dtype.is_unsigned:
        ok = make("logical_and", [ok, make("greater_equal", [y, const(0, y)])])
    safe = where(ok, y, const(0, y))
    unsigned = getattr(T, f"uint{width}")
    power = make("pow", [const(2.0, constant(0.0, T.float64)), M.cast(safe, T.float64)])
    power = M.cast(M.cast(power, unsigned), x.dtype)   # 2**(width-1) wraps for signed
    if direction == "LEFT":
        return [where(ok, make("mul", [x, power]), zero)]
    out_of_range = zero if x.dtype.is_unsigned else where(
        make("less", [x, zero]), const(-1, x), zero)
    return [where(ok, make("div", [x, power]), out_of_range)]


# ---- casts ----------------------------------------------------------------------------------

def _cast(cx, x, code):
    try:
        dt = proto.dtype(code, "")
    except TypeError:
        raise cx.unsupported(f"cast to ONNX element type "
                             f"{proto.onnx().TensorProto.DataType.Name(int(code))} (flowc "
                             f"computes with float16/32/64, ints and bool)") from None
    if x.dtype is dt:
        return identity(x)
    if x.dtype.is_float and dt is T.bool_:
        return make("not_equal", [x, const(0, x)])
    return make("cast", [x], dtype=dt)


@converter("Cast", attrs=("to", "saturate", "round_mode"))
def cast(cx):
    if "to" not in cx.attrs:
        raise cx.unsupported("no `to` attribute")
    return [_cast(cx, cx.input(0), cx.attr("to"))]


@converter("CastLike", since=15, attrs=("saturate", "round_mode"))
def cast_like(cx):
    return [_cast(cx, cx.input(0), proto.onnx_type(cx.input(1).dtype))]


# ---- math functions ----------------------------------------------------------------------

_PRIMS = {"Abs": "abs", "Neg": "neg", "Sign": "sign", "Exp": "exp", "Log": "log",
          "Sqrt": "sqrt", "Sigmoid": "sigmoid", "Tanh": "tanh", "Sin": "sin", "Cos": "cos",
          "Floor": "floor", "Ceil": "ceil"}


def _unary(op_type, prim):
    @converter(op_type)
    def convert(cx):
        return [make(prim, [cx.input(0)])]


for _name, _prim in _PRIMS.items():
    _unary(_name, _prim)


def _float_fn(op_type, since=1):
    """Register `fn(x) -> tensor` for a float-only ONNX op."""
    def register(fn):
        @converter(op_type, since=since)
        def convert(cx):
            x = cx.input(0)
            _check_float(cx, x)
            return [fn(x)]
        return fn
    return register


@converter("Reciprocal")
def reciprocal(cx):
    x = cx.input(0)
    return [make("div", [const(1, x), x]) if x.dtype.is_float else M.reciprocal(x)]


@_float_fn("Tan", since=7)
def tan(x):
    return make("div", [make("sin", [x]), make("cos", [x])])


def _half(x):
    return make("mul", [x, const(0.5, x)])


@_float_fn("Sinh", since=9)
def sinh(x):
    # (e**x - e**-x) / 2 as (expm1(x) - expm1(-x)) / 2: no cancellation near 0
    return _half(make("sub", [make("expm1", [x]), make("expm1", [make("neg", [x])])]))


@_float_fn("Cosh", since=9)
def cosh(x):
    return _half(make("add", [make("exp", [x]), make("exp", [make("neg", [x])])]))


@_float_fn("Asinh", since=9)
def asinh(x):
    # sign(x) * log1p(|x| + x**2 / (1 + sqrt(1 + x**2))): accurate near 0
    a = make("abs", [x])
    sq = make("mul", [a, a])
    one = const(1, x)
    inner = make("add", [a, make("div", [sq, make("add", [one, make("sqrt", [
        make("add", [one, sq])])])])])
    r = make("log1p", [inner])
    return where(make("less", [x, const(0, x)]), make("neg", [r]), r)


@_float_fn("Acosh", since=9)
def acosh(x):
    # log1p((x - 1) + sqrt((x - 1) * (x + 1))): accurate near 1
    one = const(1, x)
    xm = make("sub", [x, one])
    return make("log1p", [make("add", [xm, make("sqrt", [
        make("mul", [xm, make("add", [x, one])])])])])


@_float_fn("Atanh", since=9)
def atanh(x):
    # log1p(2x / (1 - x)) / 2
    two_x = make("add", [x, x])
    return _half(make("log1p", [make("div", [two_x, make("sub", [const(1, x), x])])]))


@_float_fn("Round", since=11)
def round_half_even(x):
    f = make("floor", [x])
    d = make("sub", [x, f])             # exact: x and floor(x) share the exponent range
    up = make("add", [f, const(1, x)])
    half = const(0.5, x)
    even = make("equal", [make("mod", [f, const(2, x)]), const(0, x)])
    tie = where(even, f, up)
    return where(make("greater", [d, half]), up,
                 where(make("less", [d, half]), f, tie))


# ---- selection and dropout ------------------------------------------------------------------

@converter("Where", since=9)
def where_(cx):
    return [make("select", [cx.input(0), cx.input(1), cx.input(2)])]


@converter("Dropout", attrs=("ratio", "seed", "is_test"), static=(1, 2))
def dropout(cx):
    """Inference (and training with ratio 0) is the identity; the mask is all true
    (opset < 10: all ones of the data's type). Dropping values at random in training
    mode is not supported: flowc's random streams cannot match another runtime's."""
    x = cx.input(0)
    if cx.opset < 12:
        ratio, training = cx.attr("ratio", 0.5), False
    else:
        ratio = float(np.asarray(cx.static(1, 0.5)).reshape(()))
        training = bool(np.asarray(cx.static(2, False)).reshape(()))
    if training and ratio != 0:
        raise cx.unsupported(f"training_mode=True with ratio {ratio} (random dropping "
                             f"is not supported; ratio 0 or inference only)")
    outs = [identity(x)]
    if len(cx.node.output) > 1 and cx.node.output[1]:
        mask_dtype = x.dtype if cx.opset < 10 else T.bool_
        outs.append(ones_like(x, dtype=mask_dtype))
    return outs
