"""The C-style scalar-op table shared by backends that print C source (the CUDA backend
today): a dtype map and, in `UNARY` / `BINARY`, one `Rule` per kernel-IR op name, each
turning operand expression strings into one C expression string. The keys are exactly
the kernel-IR op set (`kir.UNARY_OPS` / `kir.BINARY_OPS`, derived from the op table):
tests/test_scalar_op_tables.py fails when one is missing.

`CStyleOps` is the base dialect; a backend subclasses it and overrides only what its
dialect spells differently (CUDA: float16 conversions, `__device__` helpers, and its op
rules as `{**UNARY, **overrides}`). Rules never decide fusion, indexing or loop
structure, and never print statements: the emitter does.

Numerics follow DESIGN.md and match the LLVM table (compiler/backends/llvm/scalar_ops.py)
and the reference (compiler/ops/numerics.py): elementwise float ops are single IEEE
operations in the written order (the compiler must not contract them: the CUDA backend
compiles with `--fmad=false`); integer floor division and modulo by zero give 0 and
INT_MIN // -1 wraps; float->int casts give 0 for NaN and saturate; maximum/minimum
propagate NaN; `not_equal` is true for NaN. Helpers that need statements (`fc_*`) are
defined once in `HELPERS`, which the backend prints ahead of its kernels.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

from ..ir import dtypes as T

#: register (value) type of each dtype; bool values are C++ `bool`
REG_TYPES = {T.float32: "float", T.float64: "double", T.int8: "signed char", T.int16: "short",
             T.int32: "int", T.int64: "long long", T.uint8: "unsigned char",
             T.uint16: "unsigned short", T.uint32: "unsigned int",
             T.uint64: "unsigned long long", T.bool_: "bool"}
#: in-memory element type of each dtype (bool is one byte, like numpy)
MEM_TYPES = {**REG_TYPES, T.bool_: "unsigned char"}


#: helper functions the rules call (C, generic over the value type); `{fn}` is the
#: function qualifier of the dialect (e.g. `__device__ __forceinline__`)
HELPERS = """\
template <typename T> {fn} T fc_floordiv(T a, T b) {{
  if (b == 0) return 0;
  if (b == -1) return (T)(0ull - (unsigned long long)a);  /* INT_MIN // -1 wraps */
  T q = a / b, r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
}}
template <typename T> {fn} T fc_floormod(T a, T b) {{
  if (b == 0 || b == -1) return 0;
  T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}}
/* unsigned ints: floor and truncation agree, only the zero divisor is guarded */
template <typename T> {fn} T fc_udiv(T a, T b) {{ return b == 0 ? (T)0 : (T)(a / b); }}
template <typename T> {fn} T fc_umod(T a, T b) {{ return b == 0 ? (T)0 : (T)(a % b); }}
/* numpy's floor modulo: a zero result takes the divisor's sign */
{fn} float fc_fmod(float a, float b) {{
  float r = fmodf(a, b);
  if (r == 0.0f) return copysignf(0.0f, b);
  return ((r < 0.0f) != (b < 0.0f)) ? r + b : r;
}}
{fn} double fc_fmod(double a, double b) {{
  double r = fmod(a, b);
  if (r == 0.0) return copysign(0.0, b);
  return ((r < 0.0) != (b < 0.0)) ? r + b : r;
}}
/* IEEE 754-2019 maximum/minimum: NaN if either operand is NaN (a + b), -0.0 below +0.0
   (both zero: a + b is +0 unless both are -0, -((-a) + (-b)) is -0 unless both are +0).
   Selects of values, no early return: branch-free on the GPU (relu) */
template <typename T> {fn} T fc_fmax(T a, T b) {{
  const bool nan_or_zeros = (a != a) | (b != b) | ((a == 0) & (b == 0));
  return nan_or_zeros ? a + b : (a > b ? a : b);
}}
template <typename T> {fn} T fc_fmin(T a, T b) {{
  const bool nan = (a != a) | (b != b), zeros = (a == 0) & (b == 0);
  const T sum = a + b, neg_sum = -((-a) + (-b)), lo = a < b ? a : b;
  return nan ? sum : (zeros ? neg_sum : lo);
}}
template <typename T> {fn} T fc_imax(T a, T b) {{ return a > b ? a : b; }}
template <typename T> {fn} T fc_imin(T a, T b) {{ return a < b ? a : b; }}
template <typename T> {fn} T fc_iabs(T a) {{
  return a < 0 ? (T)(0ull - (unsigned long long)a) : a;
}}
template <typename T> {fn} T fc_ineg(T a) {{ return (T)(0ull - (unsigned long long)a); }}
/* x + 0 keeps NaN and gives +0 for -0.0, as numpy's sign */
template <typename T> {fn} T fc_sign(T x) {{ return x > 0 ? (T)1 : (x < 0 ? (T)-1 : x + 0); }}
/* float -> int: NaN -> 0, beyond the range saturates, else truncation toward zero */
{fn} int fc_to_i32(double x) {{  /* clamped in double first: selects, no branch */
  const double c = x != x ? 0.0 : x > 2147483647.0 ? 2147483647.0 : x;
  return (int)(c < -2147483648.0 ? -2147483648.0 : c);
}}
{fn} long long fc_to_i64(double x) {{
  return x != x ? 0 : x >= 9223372036854775808.0 ? 9223372036854775807ll
       : x <= -9223372036854775808.0 ? (-9223372036854775807ll - 1) : (long long)x;
}}
{fn} signed char fc_to_i8(double x) {{
  const double c = x != x ? 0.0 : x > 127.0 ? 127.0 : x;
  return (signed char)(c < -128.0 ? -128.0 : c);
}}
{fn} short fc_to_i16(double x) {{
  const double c = x != x ? 0.0 : x > 32767.0 ? 32767.0 : x;
  return (short)(c < -32768.0 ? -32768.0 : c);
}}
{fn} unsigned char fc_to_u8(double x) {{
  const double c = x != x ? 0.0 : x > 255.0 ? 255.0 : x;
  return (unsigned char)(c < 0.0 ? 0.0 : c);
}}
{fn} unsigned short fc_to_u16(double x) {{
  const double c = x != x ? 0.0 : x > 65535.0 ? 65535.0 : x;
  return (unsigned short)(c < 0.0 ? 0.0 : c);
}}
{fn} unsigned int fc_to_u32(double x) {{
  const double c = x != x ? 0.0 : x > 4294967295.0 ? 4294967295.0 : x;
  return (unsigned int)(c < 0.0 ? 0.0 : c);
}}
{fn} unsigned long long fc_to_u64(double x) {{
  return x != x || x <= 0.0 ? 0ull
       : x >= 18446744073709551616.0 ? 18446744073709551615ull : (unsigned long long)x;
}}
/* bitcast: the bits of a float as the signed int of its width, and back (a union) */
{fn} int fc_f32_bits(float x) {{ union {{ float f; int i; }} u; u.f = x; return u.i; }}
{fn} float fc_bits_f32(int x) {{ union {{ float f; int i; }} u; u.i = x; return u.f; }}
{fn} long long fc_f64_bits(double x) {{
  union {{ double f; long long i; }} u; u.f = x; return u.i;
}}
{fn} double fc_bits_f64(long long x) {{
  union {{ double f; long long i; }} u; u.i = x; return u.f;
}}
/* 1 / (1 + exp(-x)), without the overflow of exp(-x) for x < 0: e = exp(-|x|), then
   (x >= 0 ? 1 : e) / (1 + e). Branch-free (selects), and the same operations on the same
   operands as the two-branch form (a NaN goes through exp(x), as there), so the same bits */
{fn} float fc_sigmoid(float x) {{
  const float e = expf(x >= 0.0f ? -x : x);
  return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}}
{fn} double fc_sigmoid(double x) {{
  const double e = exp(x >= 0.0 ? -x : x);
  return (x >= 0.0 ? 1.0 : e) / (1.0 + e);
}}
"""


def float_literal(value, dtype) -> str:
    """A C literal of a float constant (`1.5f`, `-0.0`, `(1.0f/0.0f)` for inf)."""
    v = float(value)
    suffix = "f" if dtype is T.float32 else ""
    if v != v:
        return f"(0.0{suffix}/0.0{suffix})"
    if v in (float("inf"), float("-inf")):
        sign = "-" if v < 0 else ""
        return f"({sign}1.0{suffix}/0.0{suffix})"
    text = repr(v)
    if "e" not in text and "." not in text:
        text += ".0"
    return f"({text}{suffix})" if text.startswith("-") else text + suffix


# ---- the table ---------------------------------------------------------------------------
class Rule(NamedTuple):
    """The rule of one kernel-IR op: `float(ops, *args, dtype)` for float operands and
    `int(ops, *args, dtype)` for int and bool operands, each returning a C expression
    string (`ops` is the dialect's `CStyleOps`, for `math` and `const`); None where the
    op never has such operands (the op table's type rules reject them)."""

    float: Optional[Callable]
    int: Optional[Callable]


def _call(fn):
    """A helper or math call of each operand: `fc_sign(x)`, `fc_fmax(a, b)`."""
    return lambda ops, *args: f"{fn}({', '.join(args[:-1])})"


def _math(name):
    """The dialect's math function of the dtype: `expf(x)` / `exp(x)`."""
    return lambda ops, *args: f"{ops.math(name, args[-1])}({', '.join(args[:-1])})"


def _prefix(sign):
    return lambda ops, x, dtype: f"({sign}{x})"


def _infix(sign):
    return lambda ops, a, b, dtype: f"({a} {sign} {b})"


def _both(rule):
    return Rule(rule, rule)


def _f_rsqrt(ops, x, dtype):
    return f"({ops.const(1.0, dtype)} / {ops.math('sqrt', dtype)}({x}))"


def _wrapped(rule):
    """An int rule whose C result is narrowed back to the operands' type: C computes
    char and short operands in `int` (and uint16 products could overflow it), so the
    result is taken modulo 2**bits as TF1's kernels do (unsigned multiply for uint16)."""
    def wrapped(ops, *args):
        dtype = args[-1]
        if dtype is T.bool_ or dtype.itemsize >= 4:
            return rule(ops, *args)
        operands = args[:-1]
        if dtype is T.uint16:
            operands = [f"(unsigned int)({a})" for a in operands]
        return f"(({ops.reg_type(dtype)}){rule(ops, *operands, dtype)})"
    return wrapped


def _signed_or_unsigned(signed, unsigned):
    """An int rule that differs for the unsigned dtypes (division and modulo)."""
    def rule(ops, *args):
        return (unsigned if args[-1].is_unsigned else signed)(ops, *args)
    return rule


#: kernel-IR unary op -> Rule; keys: exactly `kir.UNARY_OPS` (tests/test_scalar_op_tables.py)
UNARY = {
    "neg": Rule(_prefix("-"), _call("fc_ineg")),
    "abs": Rule(_math("fabs"), _call("fc_iabs")),
    "sign": _both(_call("fc_sign")),
    "exp": Rule(_math("exp"), None),
    "expm1": Rule(_math("expm1"), None),
    "log": Rule(_math("log"), None),
    "log1p": Rule(_math("log1p"), None),
    "sqrt": Rule(_math("sqrt"), None),
    "rsqrt": Rule(_f_rsqrt, None),
    "tanh": Rule(_math("tanh"), None),
    "sigmoid": Rule(_call("fc_sigmoid"), None),
    "sin": Rule(_math("sin"), None),
    "cos": Rule(_math("cos"), None),
    "floor": Rule(_math("floor"), None),
    "ceil": Rule(_math("ceil"), None),
    "erf": Rule(_math("erf"), None),
    "atan": Rule(_math("atan"), None),
    "stop_gradient": _both(lambda ops, x, dtype: x),
    "invert": Rule(None, _wrapped(_prefix("~"))),
    "bitcast": Rule(lambda ops, x, dt: f"fc_f{8 * dt.itemsize}_bits({x})",
                    lambda ops, x, dt: f"fc_bits_f{8 * dt.itemsize}({x})"),
    "logical_not": Rule(None, _prefix("!")),
}

#: kernel-IR binary op -> Rule; keys: exactly `kir.BINARY_OPS`
BINARY = {
    "add": Rule(_infix("+"), _wrapped(_infix("+"))),
    "sub": Rule(_infix("-"), _wrapped(_infix("-"))),
    "mul": Rule(_infix("*"), _wrapped(_infix("*"))),
    "div": Rule(_infix("/"), _signed_or_unsigned(_call("fc_floordiv"), _call("fc_udiv"))),
    "mod": Rule(_call("fc_fmod"), _signed_or_unsigned(_call("fc_floormod"), _call("fc_umod"))),
    "pow": Rule(_math("pow"), None),
    "maximum": Rule(_call("fc_fmax"), _call("fc_imax")),
    "minimum": Rule(_call("fc_fmin"), _call("fc_imin")),
    "less": _both(_infix("<")),
    "less_equal": _both(_infix("<=")),
    "greater": _both(_infix(">")),
    "greater_equal": _both(_infix(">=")),
    "equal": _both(_infix("==")),
    "not_equal": _both(_infix("!=")),   # true for NaN, as numpy
    "logical_and": _both(_infix("&&")),
    "logical_or": _both(_infix("||")),
    "bitwise_and": Rule(None, _wrapped(_infix("&"))),
    "bitwise_or": Rule(None, _wrapped(_infix("|"))),
    "bitwise_xor": Rule(None, _wrapped(_infix("^"))),
    # index ops (operands known non-negative, divisor > 0)
    "idiv": Rule(None, _infix("/")),
    "imod": Rule(None, _infix("%")),
    "imax": Rule(None, _call("fc_imax")),
    "imin": Rule(None, _call("fc_imin")),
}


class CStyleOps:
    """The C dialect of the scalar-op table. `unary(op, x, dtype)`, `binary(op, a, b,
    dtype)` (rules looked up in `unary_rules` / `binary_rules`) and `cast(x, src, dst)`
    take C expression strings and the operands' dtype and return a C expression string;
    `const(value, dtype)` prints a literal."""

    reg_types = REG_TYPES
    mem_types = MEM_TYPES
    unary_rules = UNARY
    binary_rules = BINARY
    helper_qualifier = "static inline"

    def reg_type(self, dtype) -> str:
        return self.reg_types[dtype]

    def mem_type(self, dtype) -> str:
        return self.mem_types[dtype]

    def helpers(self) -> str:
        return HELPERS.format(fn=self.helper_qualifier)

    def math(self, name, dtype) -> str:
        """The math-library function `name` for `dtype` (`expf` / `exp`)."""
        return name + ("f" if dtype is T.float32 else "")

    # ---- constants ------------------------------------------------------------------
    def const(self, value, dtype) -> str:
        if dtype.is_float:
            return float_literal(value, dtype)
        if dtype is T.bool_:
            return "true" if value else "false"
        v = int(value)
        if dtype.itemsize < 4:  # typed, so that helper templates deduce one type
            return f"(({self.reg_type(dtype)}){v})"
        if dtype.is_unsigned:
            return f"{v}u" if dtype.itemsize == 4 else f"{v}ull"
        if dtype is T.int64:
            if v == -(1 << 63):
                return "(-9223372036854775807ll - 1)"
            return f"{v}ll" if v >= 0 else f"({v}ll)"
        if v == -(1 << 31):
            return "(-2147483647 - 1)"
        return str(v) if v >= 0 else f"({v})"

    # ---- op rules -------------------------------------------------------------------
    def rule(self, table, kind, op, dtype):
        rule = table.get(op)
        rule = rule and (rule.float if dtype.is_float else rule.int)
        if rule is None:
            raise NotImplementedError(f"no C rule for {kind} {op} on {dtype.name}")
        return rule

    def unary(self, op, x, dtype) -> str:
        return self.rule(self.unary_rules, "unary", op, dtype)(self, x, dtype)

    def binary(self, op, a, b, dtype) -> str:
        return self.rule(self.binary_rules, "binary", op, dtype)(self, a, b, dtype)

    def fma(self, a, b, c, dtype) -> str:
        """a * b + c with one rounding (only for accumulations marked `fast`)."""
        return f"{self.math('fma', dtype)}({a}, {b}, {c})"

    # ---- casts ----------------------------------------------------------------------
    def cast(self, x, src, dst) -> str:
        if src is dst:
            return x
        if dst is T.bool_:
            return f"({x} != {self.const(0, src)})"
        if src.is_float and dst.is_int:
            return f"fc_to_{'u' if dst.is_unsigned else 'i'}{8 * dst.itemsize}({x})"
        return f"(({self.reg_type(dst)})({x}))"
