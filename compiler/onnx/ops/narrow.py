"""Conversions to the ONNX element types flowc stores but does not compute with
(`proto.STORAGE`: float8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz/e8m0, float4e2m1, bfloat16, int4,
uint4, int2, uint2), composed from flowc primitives. Cast, CastLike and QuantizeLinear
use them; the result is the storage dtype (float32, int8, uint8) holding exactly the
value of the narrow type, which the importer records as the tensor's ONNX type.

Floats are rounded onto the type's grid in float64 (exact: float16/32/64 inputs convert
to float64 exactly, scaling by powers of two is exact, and the grid's quantum is found by
comparisons with constant powers of two, never by log/exp): round to nearest, ties to
even, as ml_dtypes and the ONNX reference do; overflow follows ONNX's `saturate` (the
type's largest finite value) or the type's non-saturating rule (inf for e5m2 and
bfloat16, NaN for the e4m3 and fnuz types). Float8e8m0 follows the ONNX reference's
`to_float8e8m0` (the float32 exponent rounded up, down or to nearest). Floats to
int4/int2 truncate toward zero and give 0 outside the type's range (ml_dtypes' cast, the
reference's); ints wrap (two's complement).
"""

from __future__ import annotations

from ...frontend import manip_ops as P
from ...frontend import math_ops as M
from ...frontend.array_ops import ones_like
from ...frontend.asserts import is_inf, is_nan
from ...frontend.core import constant
from ...ir import dtypes as T
from .. import proto

# code -> (mantissa bits, lowest normal exponent, largest finite value, overflow without
# saturation: "inf" or "nan", has -0, always saturates)
_FLOATS = {
    16: (7, -126, (2 - 2.0 ** -7) * 2.0 ** 127, "inf", True, False),   # bfloat16
    17: (3, -6, 448.0, "nan", True, False),                             # float8e4m3fn
    18: (3, -7, 240.0, "nan", False, False),                            # float8e4m3fnuz
    19: (2, -14, 57344.0, "inf", True, False),                          # float8e5m2
    20: (2, -15, 57344.0, "nan", False, False),                         # float8e5m2fnuz
    23: (1, 0, 6.0, "nan", True, True),                                 # float4e2m1
}
_INTS = {21: (0, 15, 4), 22: (-8, 7, 4), 25: (0, 3, 2), 26: (-2, 1, 2)}
#: the float8 types ONNX's `saturate` attribute concerns
FLOAT8 = frozenset({17, 18, 19, 20})


def elem_type(cx, i):
    """The ONNX element type code of the node's input `i`."""
    return cx.importer.elem_type(cx.input(i))


def _c(value):
    return constant(value, dtype=T.float64)


def pow2_floor(a, lo, hi):
    """2**floor(log2(a)) of a float64 `a` in [2**lo, 2**(hi + 1)), exactly: a binary
    search over the exponent with exact scalings by constant powers of two."""
    s = M.multiply(a, _c(2.0 ** -lo))
    p = M.multiply(ones_like(a), _c(2.0 ** lo))
    step = 1
    while step * 2 <= hi - lo:
        step *= 2
    while step >= 1:
        big = M.greater_equal(s, _c(2.0 ** step))
        s = P.where_v2(big, M.multiply(s, _c(2.0 ** -step)), s)
        p = P.where_v2(big, M.multiply(p, _c(2.0 ** step)), p)
        step //= 2
    return p


def _negative(x):
    """x < 0 or x is -0 (1/x is -inf): the sign to give the rounded magnitude."""
    return M.logical_or(M.less(x, _c(0)), M.less(M.reciprocal(x), _c(0)))


def to_float(x, code, saturate=True):
    """x (a float or int tensor) rounded onto the grid of float type `code` (float8
    except e8m0, float4e2m1, bfloat16), as float32."""
    m, emin, fmax, overflow, negzero, always = _FLOATS[code]
    saturate = always or (saturate and code in FLOAT8)
    xd = M.cast(x, T.float64)
    a = M.abs(xd)
    emax = 0
    while 2.0 ** (emax + 1) <= fmax:
        emax += 1
    clamped = M.minimum(M.maximum(a, _c(2.0 ** emin)), _c(2.0 ** (emax + 1)))
    q = M.multiply(pow2_floor(clamped, emin, emax + 1), _c(2.0 ** -m))
    r = M.multiply(M.round(M.truediv(a, q)), q)
    over = M.greater(r, _c(fmax))
    mag = P.where_v2(over, _c(fmax if saturate else float(overflow)), r)
    if code == 23:
        # ml_dtypes (the reference's cast) gives -0 for NaN: float4e2m1 has no NaN
        nan = is_nan(xd)
        mag = P.where_v2(nan, _c(0), mag)
        neg = M.logical_or(_negative(xd), nan)
    else:
        mag = P.where_v2(is_nan(xd), _c(float("nan")), mag)
        neg = _negative(xd)
    y = P.where_v2(neg, M.multiply(mag, _c(-1)), mag)
    if not negzero:
        y = P.where_v2(M.equal(mag, _c(0)), _c(0), y)
    return M.cast(y, T.float32)


def to_e8m0(x, saturate=True, round_mode="up"):
    """x as float8e8m0 (a power of two 2**-127 .. 2**127, or NaN), as float32: the ONNX
    reference's `to_float8e8m0` (the sign is dropped, the float32 exponent kept and
    rounded by `round_mode`; 0 and float32 subnormals have exponent 2**-127)."""
    xd = M.cast(M.cast(x, T.float32), T.float64)
    a = M.abs(xd)
    normal = M.greater_equal(a, _c(2.0 ** -126))
    p = pow2_floor(M.minimum(M.maximum(a, _c(2.0 ** -126)), _c(2.0 ** 127)), -126, 127)
    base = P.where_v2(normal, p, _c(2.0 ** -127))
    frac = P.where_v2(normal, M.subtract(M.truediv(a, p), _c(1)),
                      M.truediv(a, _c(2.0 ** -126)))
    if round_mode == "up":
        up = M.greater(frac, _c(0))
    elif round_mode == "nearest":
        # the reference's guard/round/sticky rule: a tie rounds up for normal floats only
        up = P.where_v2(normal, M.greater_equal(frac, _c(0.5)), M.greater(frac, _c(0.5)))
    elif round_mode == "down":
        up = M.less(frac, _c(0))
    else:
        raise ValueError(f"round_mode {round_mode!r} (up, down or nearest)")
    if saturate:
        up = M.logical_and(up, M.less(base, _c(2.0 ** 127)))
    y = P.where_v2(up, M.multiply(base, _c(2)), base)
    bad = M.logical_or(M.logical_or(is_nan(xd), is_inf(xd)), M.greater(y, _c(2.0 ** 127)))
    return M.cast(P.where_v2(bad, _c(float("nan")), y), T.float32)


def to_int(x, code):
    """x as int4/uint4/int2/uint2 (stored in int8/uint8): floats truncate toward zero and
    give 0 outside the range (NaN too); ints and bools wrap."""
    lo, hi, bits = _INTS[code]
    dt = proto.STORAGE[code][1]
    if x.dtype.is_float:
        t = P.where_v2(M.less(x, constant(0, x.dtype)), M.ceil(x), M.floor(x))
        ok = M.logical_and(M.greater_equal(t, constant(lo, x.dtype)),
                           M.less_equal(t, constant(hi, x.dtype)))
        return M.cast(P.where_v2(ok, t, constant(0, x.dtype)), dt)
    xi = M.cast(x, T.int64)
    w = M.add(M.floormod(M.subtract(xi, constant(lo, T.int64)),
                         constant(1 << bits, T.int64)), constant(lo, T.int64))
    return M.cast(w, dt)


def cast_to(x, code, saturate=True, round_mode="up"):
    """x (any flowc tensor holding exact values) as storage type `code`."""
    if code in _FLOATS:
        return to_float(x, code, saturate)
    if code == 24:
        return to_e8m0(x, saturate, round_mode)
    return to_int(x, code)
