"""Elementwise math of the TF1 API (arithmetic, comparisons, logic, casts), `add_n` and
`matmul`, built from the elementwise primitives of the op table.

Every function takes tensors, Variables or Python/numpy values; a Python scalar next to
a tensor takes the tensor's dtype (a float scalar next to an int tensor is a TypeError),
and binary ops broadcast numpy-style. Division follows TF1: `truediv`/`divide` turn
int32/int64 operands into float64, `floordiv` floors (ints: floor division; floats:
floor(a / b)), `mod`/`floormod` is the floor modulo (the sign of the divisor), `div` is
Python-2 division (floor for ints, true for floats). Integer division or modulo by zero
gives 0 (the numerics contract). Shape or dtype errors are raised when the op is built
and name it. Nothing here runs anything.
"""

from __future__ import annotations

from ..ir import dtypes as T
from .core import binary_operands, convert_to_tensor, identity, make, op_scope

#: the public names (`fc.` re-exports exactly these): a new function is listed here
__all__ = [
    "abs", "acos", "acosh", "add", "add_n", "asin", "asinh", "atan", "atanh", "cast",
    "ceil", "clip_by_value", "cos", "cosh", "div", "divide", "equal", "erf", "exp", "expm1",
    "floor", "floordiv", "floormod", "greater", "greater_equal", "less", "less_equal",
    "log", "log1p", "logical_and", "logical_not", "logical_or", "logical_xor", "matmul",
    "maximum", "minimum", "mod", "multiply", "negative", "not_equal", "pow", "reciprocal",
    "round", "rsqrt", "sigmoid", "sign", "sin", "sinh", "sqrt", "square",
    "squared_difference", "stop_gradient", "subtract", "tan", "tanh", "to_double",
    "to_float", "to_int32", "to_int64", "truediv",
]


def _binary(prim, tf_name, doc):
    def fn(x, y, name=None):
        a, b = binary_operands(x, y, tf_name)
        return make(prim, [a, b], name=name or tf_name)
    fn.__name__ = tf_name
    fn.__doc__ = doc
    return fn


def _unary(prim, tf_name, doc):
    def fn(x, name=None):
        return make(prim, [convert_to_tensor(x)], name=name or tf_name)
    fn.__name__ = tf_name
    fn.__doc__ = doc
    return fn


add = _binary("add", "Add", "`x + y` elementwise, with broadcasting.")
subtract = _binary("sub", "Sub", "`x - y` elementwise, with broadcasting.")
multiply = _binary("mul", "Mul", "`x * y` elementwise, with broadcasting.")
maximum = _binary("maximum", "Maximum", "Elementwise maximum, with broadcasting.")
minimum = _binary("minimum", "Minimum", "Elementwise minimum, with broadcasting.")
mod = _binary("mod", "FloorMod", "Floor modulo: the result has the sign of `y` (0 for an "
              "integer `y` of 0).")
floormod = mod
div = _binary("div", "div", "TF1 `div` (Python 2 semantics): floor division for ints, "
              "true division for floats.")

equal = _binary("equal", "Equal", "`x == y` elementwise (bool result).")
not_equal = _binary("not_equal", "NotEqual", "`x != y` elementwise (bool result).")
less = _binary("less", "Less", "`x < y` elementwise (bool result).")
less_equal = _binary("less_equal", "LessEqual", "`x <= y` elementwise (bool result).")
greater = _binary("greater", "Greater", "`x > y` elementwise (bool result).")
greater_equal = _binary("greater_equal", "GreaterEqual", "`x >= y` elementwise (bool).")
logical_and = _binary("logical_and", "LogicalAnd", "Elementwise `and` of bool tensors.")
logical_or = _binary("logical_or", "LogicalOr", "Elementwise `or` of bool tensors.")
logical_not = _unary("logical_not", "LogicalNot", "Elementwise `not` of a bool tensor.")

negative = _unary("neg", "Neg", "`-x` elementwise.")
abs = _unary("abs", "Abs", "`|x|` elementwise.")  # noqa: A001  (TF1 name)
sign = _unary("sign", "Sign", "-1, 0 or 1 by the sign of `x` (0 for a zero).")
exp = _unary("exp", "Exp", "`e**x` elementwise (floats).")
expm1 = _unary("expm1", "Expm1", "`e**x - 1` elementwise, accurate near 0 (floats).")
log = _unary("log", "Log", "Natural logarithm (floats).")
log1p = _unary("log1p", "Log1p", "`log(1 + x)`, accurate near 0 (floats).")
sqrt = _unary("sqrt", "Sqrt", "Square root (floats).")
rsqrt = _unary("rsqrt", "Rsqrt", "`1 / sqrt(x)` (floats).")
tanh = _unary("tanh", "Tanh", "Hyperbolic tangent (floats).")
sigmoid = _unary("sigmoid", "Sigmoid", "Logistic sigmoid `1 / (1 + e**-x)` (floats).")
sin = _unary("sin", "Sin", "Sine (floats).")
cos = _unary("cos", "Cos", "Cosine (floats).")
floor = _unary("floor", "Floor", "Round toward -inf (floats).")
ceil = _unary("ceil", "Ceil", "Round toward +inf (floats).")
erf = _unary("erf", "Erf", "The error function `2/sqrt(pi) * integral_0^x e**-t**2 dt` "
             "(floats).")
atan = _unary("atan", "Atan", "Arctangent, in (-pi/2, pi/2) (floats).")
stop_gradient = _unary("stop_gradient", "StopGradient",
                       "`x` unchanged; gradients do not flow through it.")


def truediv(x, y, name=None):
    """`x / y` as true division: as TF1, int8/int16/uint8/uint16 operands are converted
    to float32 first, int32/int64/uint32/uint64 ones to float64."""
    a, b = binary_operands(x, y, "truediv")
    if a.dtype.is_int:
        to = T.float32 if a.dtype.itemsize <= 2 else T.float64
        a, b = cast(a, to), cast(b, to)
    return make("div", [a, b], name=name or "truediv")


def divide(x, y, name=None):
    """TF1 `divide`: the same as `truediv` (`x / y`)."""
    return truediv(x, y, name=name or "truediv")


def floordiv(x, y, name=None):
    """`x // y`: floor division for ints (0 for a zero divisor), `floor(x / y)` for
    floats."""
    a, b = binary_operands(x, y, "floordiv")
    if not a.dtype.is_float:
        return make("div", [a, b], name=name or "floordiv")
    with op_scope(name, "floordiv", [a, b]) as scope:
        return make("floor", [make("div", [a, b])], name=scope)


def pow(x, y, name=None):  # noqa: A001  (TF1 name)
    """`x ** y` elementwise. Floats use the `pow` primitive. For ints a non-negative
    Python int exponent is computed exactly by repeated squaring (wrapping like every
    int op); an int tensor exponent is computed in float64 and rounded, so it is exact
    while the result stays below 2**53 (negative exponents are not meaningful for ints)."""
    a, b = binary_operands(x, y, "Pow")
    if a.dtype.is_float:
        return make("pow", [a, b], name=name or "Pow")
    if not a.dtype.is_int:
        raise TypeError(f"Pow does not accept {a.dtype.name}")
    with op_scope(name, "Pow", [a, b]) as scope:
        if b.op.type == "constant" and b.op.attrs["value"].array.ndim == 0:
            return _int_pow_static(a, int(b.op.attrs["value"].array), scope)
        wide = make("pow", [cast(a, T.float64), cast(b, T.float64)])
        rounded = make("floor", [add(wide, 0.5)])
        return make("cast", [rounded], name=scope, dtype=a.dtype)


def _int_pow_static(a, n, scope):
    if n < 0:
        raise ValueError(f"Pow: integers to negative integer powers are not allowed "
                         f"(exponent {n})")
    if n == 0:
        zero = convert_to_tensor(0, a.dtype)
        return make("add", [make("mul", [a, zero]), convert_to_tensor(1, a.dtype)], name=scope)
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else make("mul", [result, base])
        n >>= 1
        if n:
            base = make("mul", [base, base])
    return identity(result, name=scope)


def square(x, name=None):
    """`x * x` elementwise."""
    x = convert_to_tensor(x)
    return make("mul", [x, x], name=name or "Square")


def reciprocal(x, name=None):
    """`1 / x` elementwise. Floats: true division. Ints: C division as in TF1 (1 for 1,
    -1 for -1, else 0; 0 for a zero)."""
    x = convert_to_tensor(x)
    if x.dtype.is_float:
        return make("div", [convert_to_tensor(1, x.dtype), x], name=name or "Reciprocal")
    with op_scope(name, "Reciprocal", [x]) as scope:
        zero = convert_to_tensor(0, x.dtype)
        unit = make("equal", [make("abs", [x]), convert_to_tensor(1, x.dtype)])
        return make("select", [unit, x, zero], name=scope)


def squared_difference(x, y, name=None):
    """`(x - y) ** 2` elementwise."""
    a, b = binary_operands(x, y, "SquaredDifference")
    with op_scope(name, "SquaredDifference", [a, b]) as scope:
        d = make("sub", [a, b])
        return make("mul", [d, d], name=scope)


def logical_xor(x, y, name=None):
    """Elementwise exclusive or of bool tensors."""
    a, b = binary_operands(x, y, "LogicalXor")
    with op_scope(name, "LogicalXor", [a, b]) as scope:
        either = make("logical_or", [a, b])
        both = make("logical_and", [a, b])
        return make("logical_and", [either, make("logical_not", [both])], name=scope)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """`min(max(t, clip_value_min), clip_value_max)` elementwise."""
    t = convert_to_tensor(t)
    with op_scope(name, "clip_by_value", [t]) as scope:
        lower = maximum(t, clip_value_min)
        return minimum(lower, clip_value_max, name=scope)


def cast(x, dtype, name=None):
    """`x` converted to `dtype` (returned unchanged when it already has it). Float to int
    truncates toward zero, saturates out of range and maps NaN to 0; to bool is `!= 0`."""
    x = convert_to_tensor(x)
    dtype = T.as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return make("cast", [x], name=name or "Cast", dtype=dtype)


def to_float(x, name="ToFloat"):
    """`cast(x, float32)`."""
    return cast(x, T.float32, name=name)


def to_double(x, name="ToDouble"):
    """`cast(x, float64)`."""
    return cast(x, T.float64, name=name)


def to_int32(x, name="ToInt32"):
    """`cast(x, int32)`."""
    return cast(x, T.int32, name=name)


def to_int64(x, name="ToInt64"):
    """`cast(x, int64)`."""
    return cast(x, T.int64, name=name)


def add_n(inputs, name=None):
    """The elementwise sum of a non-empty list of tensors of one dtype and shape."""
    if not inputs:
        raise ValueError("add_n: inputs must be a non-empty list of tensors")
    tensors = [convert_to_tensor(x) for x in inputs]
    ranks = {t.shape.ndims for t in tensors}
    if len(ranks) > 1 and None not in ranks:
        raise ValueError(f"add_n: inputs must have the same shape, got "
                         f"{[list(t.shape) for t in tensors]}")
    if len(tensors) == 1:
        return identity(tensors[0], name=name or "AddN")
    with op_scope(name, "AddN", tensors) as scope:
        total = tensors[0]
        for k, t in enumerate(tensors[1:], start=2):
            total = make("add", [total, t], name=scope if k == len(tensors) else None)
        return total


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, name=None):
    """Matrix product of rank >= 2 tensors with broadcast batch dims; `adjoint_*` equal
    `transpose_*` (flowc has no complex dtypes)."""
    a, b = binary_operands(a, b, "MatMul")
    return make("matmul", [a, b], name=name or "MatMul",
                transpose_a=bool(transpose_a or adjoint_a),
                transpose_b=bool(transpose_b or adjoint_b))


# ---- trigonometric and hyperbolic functions composed from the primitives ------------------
# (exact formulas, chosen to keep full relative accuracy near 0 and at the domain ends)

def _float_operand(x, op):
    x = convert_to_tensor(x)
    if not x.dtype.is_float:
        raise TypeError(f"{op} does not accept {x.dtype.name} (accepts: float dtypes)")
    return x


def _one(x):
    return convert_to_tensor(1, x.dtype)


def tan(x, name=None):
    """Tangent, `sin(x) / cos(x)` (floats)."""
    x = _float_operand(x, "Tan")
    with op_scope(name, "Tan", [x]) as scope:
        return make("div", [make("sin", [x]), make("cos", [x])], name=scope)


def sinh(x, name=None):
    """Hyperbolic sine, `(expm1(x) - expm1(-x)) / 2`: no cancellation near 0 (floats)."""
    x = _float_operand(x, "Sinh")
    with op_scope(name, "Sinh", [x]) as scope:
        d = make("sub", [make("expm1", [x]), make("expm1", [make("neg", [x])])])
        return make("mul", [d, convert_to_tensor(0.5, x.dtype)], name=scope)


def cosh(x, name=None):
    """Hyperbolic cosine, `(exp(x) + exp(-x)) / 2` (floats)."""
    x = _float_operand(x, "Cosh")
    with op_scope(name, "Cosh", [x]) as scope:
        s = make("add", [make("exp", [x]), make("exp", [make("neg", [x])])])
        return make("mul", [s, convert_to_tensor(0.5, x.dtype)], name=scope)


def asin(x, name=None):
    """Arcsine, `atan(x / sqrt(1 - x*x))`: +-pi/2 at +-1, NaN outside [-1, 1] (floats)."""
    x = _float_operand(x, "Asin")
    with op_scope(name, "Asin", [x]) as scope:
        one = _one(x)
        c = make("sqrt", [make("mul", [make("sub", [one, x]), make("add", [one, x])])])
        return make("atan", [make("div", [x, c])], name=scope)


def acos(x, name=None):
    """Arccosine, `2 * atan(sqrt((1 - x) / (1 + x)))`: 0 at 1, pi at -1 (floats)."""
    x = _float_operand(x, "Acos")
    with op_scope(name, "Acos", [x]) as scope:
        one = _one(x)
        r = make("sqrt", [make("div", [make("sub", [one, x]), make("add", [one, x])])])
        return make("mul", [make("atan", [r]), convert_to_tensor(2, x.dtype)], name=scope)


def _big(x):
    """`|x|` beyond which `asinh(|x|)` and `acosh(x)` are `log(|x|) + log(2)` to the
    dtype's precision (and `x * x` would overflow further on)."""
    return convert_to_tensor(256.0 if x.dtype is T.float16 else 2.0 ** 28, x.dtype)


def _log_2x(a):
    return make("add", [make("log", [a]), convert_to_tensor(0.6931471805599453, a.dtype)])


def asinh(x, name=None):
    """Inverse hyperbolic sine, `sign(x) * log1p(|x| + x**2 / (1 + sqrt(1 + x**2)))`,
    `sign(x) * (log(|x|) + log(2))` for large `|x|` (floats)."""
    x = _float_operand(x, "Asinh")
    with op_scope(name, "Asinh", [x]) as scope:
        a, one = make("abs", [x]), _one(x)
        sq = make("mul", [a, a])
        root = make("add", [one, make("sqrt", [make("add", [one, sq])])])
        r = make("log1p", [make("add", [a, make("div", [sq, root])])])
        r = make("select", [make("greater", [a, _big(x)]), _log_2x(a), r])
        neg = make("less", [x, convert_to_tensor(0, x.dtype)])
        return make("select", [neg, make("neg", [r]), r], name=scope)


def acosh(x, name=None):
    """Inverse hyperbolic cosine, `log1p((x - 1) + sqrt((x - 1) * (x + 1)))`: accurate
    near 1, NaN below it; `log(x) + log(2)` for large `x` (floats)."""
    x = _float_operand(x, "Acosh")
    with op_scope(name, "Acosh", [x]) as scope:
        one = _one(x)
        xm = make("sub", [x, one])
        root = make("sqrt", [make("mul", [xm, make("add", [x, one])])])
        r = make("log1p", [make("add", [xm, root])])
        return make("select", [make("greater", [x, _big(x)]), _log_2x(x), r], name=scope)


def atanh(x, name=None):
    """Inverse hyperbolic tangent, `log1p(2x / (1 - x)) / 2` (floats)."""
    x = _float_operand(x, "Atanh")
    with op_scope(name, "Atanh", [x]) as scope:
        q = make("div", [make("add", [x, x]), make("sub", [_one(x), x])])
        return make("mul", [make("log1p", [q]), convert_to_tensor(0.5, x.dtype)], name=scope)


def round(x, name=None):  # noqa: A001  (TF1 name)
    """Round half to even (banker's rounding, as TF1 and numpy); ints are returned as
    they are. Exact: `floor(x)` and `x - floor(x)` are exact in floating point."""
    x = convert_to_tensor(x)
    if not x.dtype.is_float:
        return identity(x, name=name or "Round")
    with op_scope(name, "Round", [x]) as scope:
        f = make("floor", [x])
        d = make("sub", [x, f])
        up = make("add", [f, _one(x)])
        half = convert_to_tensor(0.5, x.dtype)
        two, zero = convert_to_tensor(2, x.dtype), convert_to_tensor(0, x.dtype)
        tie = make("select", [make("equal", [make("mod", [f, two]), zero]), f, up])
        low = make("select", [make("less", [d, half]), f, tie])
        r = make("select", [make("greater", [d, half]), up, low])
        # a zero result keeps the sign of x (-0.5 and -0.0 round to -0.0, as numpy)
        signed_zero = make("mul", [x, zero])
        return make("select", [make("equal", [r, zero]), signed_zero, r], name=scope)
