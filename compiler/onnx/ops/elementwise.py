"""Elementwise ONNX ops: arithmetic, comparisons, logic, bit shifts, casts, the math
functions (TF1's, math_ops: Round half to even, the inverse and hyperbolic trigonometric
functions composed from the primitives), Where and Dropout (activations are in
activations.py).

Every op is built from flowc's elementwise primitives (`make`) and frontend functions;
where ONNX and flowc differ the difference is composed exactly: Div of ints truncates
toward zero (flowc floors), Mod with fmod=1 takes the dividend's sign. BitShift and
Bitwise* are TF1's `tf.bitwise` functions (frontend/bitwise_ops.py).
"""

from __future__ import annotations

import numpy as np

from ...frontend import bitwise_ops as B
from ...frontend import math_ops as M
from ...frontend.array_ops import bitcast, ones_like, zeros_like
from ...frontend.asserts import is_nan
from ...frontend.control_flow import identity
from ...frontend.core import constant, make
from ...ir import dtypes as T
from .. import proto
from ..table import converter
from . import narrow


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


@converter("Div", note="ints truncate toward zero; an int division by zero gives 0")
def div(cx):
    a, b = cx.input(0), cx.input(1)
    return [make("div", [a, b]) if a.dtype.is_float else trunc_div(a, b)]


@converter("Mod", since=10, attrs=("fmod",),
           note="fmod=0: floor modulo (the divisor's sign); fmod=1: C fmod (the dividend's)")
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


@converter("Pow", note="an int base to a float power is computed in float64 and truncated")
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


@converter("Clip", attrs=("min", "max"),
           note="attributes min/max before opset 11, optional inputs from 11 on")
def clip(cx):
    x = cx.input(0)
    if cx.opset < 11:   # an absent bound is -/+ the largest float32: no bound
        lo = const(cx.attr("min"), x) if "min" in cx.attrs else None
        hi = const(cx.attr("max"), x) if "max" in cx.attrs else None
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
    return [is_nan(x)]


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


@converter("BitShift", since=11, attrs=("direction",),
           note="a shift below 0 or at least the width gives 0 (-1: negative x shifted right)")
def bit_shift(cx):
    x, y = cx.input(0), cx.input(1)
    direction = cx.attr("direction", "")
    if direction not in ("LEFT", "RIGHT"):
        raise cx.unsupported(f"direction {direction!r} (LEFT or RIGHT)")
    if not x.dtype.is_int:
        raise cx.unsupported(f"element type {x.dtype.name} (BitShift takes ints)")
    return [(B.left_shift if direction == "LEFT" else B.right_shift)(x, y)]


for _name, _fn in {"BitwiseAnd": B.bitwise_and, "BitwiseOr": B.bitwise_or,
                   "BitwiseXor": B.bitwise_xor}.items():
    converter(_name, since=18)(lambda cx, fn=_fn: [fn(cx.input(0), cx.input(1))])


@converter("BitwiseNot", since=18)
def bitwise_not(cx):
    return [B.invert(cx.input(0))]


# ---- casts ----------------------------------------------------------------------------------

_CAST_NOTE = ("flowc's element types (float16/32/64, ints, bool), and the narrow types it "
              "stores without computing with them (float8, float4e2m1, bfloat16, int4, "
              "int2: see the notes); saturate concerns float8 targets, round_mode float8e8m0")


def _cast(cx, x, code):
    """x as ONNX element type `code`: a flowc dtype through the cast primitive, a narrow
    storage type (proto.STORAGE) rounded onto its grid exactly (narrow.py)."""
    src = narrow.elem_type(cx, 0)
    if int(code) == src:
        out = identity(x)
    elif proto.is_storage(code):
        mode = cx.attr("round_mode", "up")
        if mode not in ("up", "down", "nearest"):
            raise cx.unsupported(f"round_mode {mode!r} (up, down or nearest)")
        out = narrow.cast_to(x, int(code), bool(cx.attr("saturate", 1)), mode)
    else:
        try:
            dt = proto.dtype(code, "")
        except TypeError:
            raise cx.unsupported(f"cast to ONNX element type {proto.type_name(code)} "
                                 f"(flowc computes with float16/32/64, ints and bool)"
                                 ) from None
        out = identity(x) if x.dtype is dt else make("cast", [x], dtype=dt)
    return cx.importer.set_elem_type(out, code)


@converter("Cast", attrs=("to", "saturate", "round_mode"), note=_CAST_NOTE)
def cast(cx):
    if "to" not in cx.attrs:
        raise cx.unsupported("no `to` attribute")
    return [_cast(cx, cx.input(0), cx.attr("to"))]


@converter("CastLike", since=15, attrs=("saturate", "round_mode"), note=_CAST_NOTE)
def cast_like(cx):
    return [_cast(cx, cx.input(0), narrow.elem_type(cx, 1))]


@converter("BitCast", since=26, attrs=("to",),
           note="between types of one width: ints, bool to 8-bit ints, float32/float64 "
                "and ints (the `bitcast` primitive); not float16")
def bit_cast(cx):
    """Same-width reinterpretation: between ints (and bool -> uint8/int8) the two's
    complement cast keeps every bit; float32/float64 <-> ints is `fc.bitcast`."""
    x = cx.input(0)
    if "to" not in cx.attrs:
        raise cx.unsupported("no `to` attribute")
    try:
        dt = proto.dtype(cx.attr("to"), "")
    except TypeError:
        raise cx.unsupported(f"BitCast to ONNX element type "
                             f"{proto.onnx().TensorProto.DataType.Name(int(cx.attr('to')))}"
                             ) from None
    if dt.itemsize != x.dtype.itemsize:
        raise cx.unsupported(f"{x.dtype.name} and {dt.name} differ in width")
    if x.dtype is T.float16 or dt is T.float16:
        raise cx.unsupported(f"reinterpreting {x.dtype.name} as {dt.name}: flowc computes "
                             f"float16 in float32 and has no float16 bitcast")
    if x.dtype.is_float or dt.is_float:    # (no float is as narrow as a bool)
        return [bitcast(x, dt)]
    if dt.is_bool and not x.dtype.is_bool:
        raise cx.unsupported(f"reinterpreting {x.dtype.name} as bool (bytes other than "
                             f"0 and 1 are no bools)")
    return [M.cast(x, dt) if dt is not x.dtype else identity(x)]


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


def _float_fn(op_type, fn, since=1, note=""):
    """A float-only ONNX op as the TF1 math function `fn` (compositions in math_ops)."""
    @converter(op_type, since=since, note=note)
    def convert(cx):
        x = cx.input(0)
        _check_float(cx, x)
        return [fn(x)]


for _name, _fn, _since in [("Erf", M.erf, 9), ("Atan", M.atan, 7), ("Tan", M.tan, 7),
                           ("Asin", M.asin, 7), ("Acos", M.acos, 7), ("Sinh", M.sinh, 9),
                           ("Cosh", M.cosh, 9), ("Asinh", M.asinh, 9),
                           ("Acosh", M.acosh, 9), ("Atanh", M.atanh, 9),
                           ("Round", M.round, 11)]:
    _float_fn(_name, _fn, _since, "half to even" if _name == "Round" else "")


@converter("Reciprocal")
def reciprocal(cx):
    x = cx.input(0)
    return [make("div", [const(1, x), x]) if x.dtype.is_float else M.reciprocal(x)]


# ---- identity, selection and dropout ------------------------------------------------------

@converter("Identity")
def identity_(cx):
    return [identity(cx.input(0))]


@converter("Where", since=9)
def where_(cx):
    return [make("select", [cx.input(0), cx.input(1), cx.input(2)])]


@converter("Dropout", attrs=("ratio", "seed"), static=(1, 2),
           note="inference, or training_mode with ratio 0 (identity, all-true mask); "
                "ratio and training_mode known at import")
def dropout(cx):
    """Inference (and training with ratio 0) is the identity; the mask is all true
    (opset < 10: all ones of the data's type). Dropping values at random in training
    mode is not supported: flowc's random streams cannot match another runtime's."""
    x = cx.input(0)
    # before opset 12 Dropout is inference only; from 12 on training_mode decides, and
    # ratio is read only in training (a run-time ratio does not matter in inference)
    training = cx.opset >= 12 and bool(np.asarray(cx.static(2, False)).reshape(()))
    ratio = float(np.asarray(cx.static(1, 0.5)).reshape(())) if training else 0.0
    if training and ratio != 0:
        raise cx.unsupported(f"training_mode=True with ratio {ratio} (random dropping "
                             f"is not supported; ratio 0 or inference only)")
    outs = [identity(x)]
    if len(cx.node.output) > 1 and cx.node.output[1]:
        mask_dtype = x.dtype if cx.opset < 10 else T.bool_
        outs.append(ones_like(x, dtype=mask_dtype))
    return outs
