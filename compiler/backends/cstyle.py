"""The C-style scalar-op table shared by backends that print C source (the CUDA backend
today): a dtype map and one rule per kernel-IR op name, each turning operand expression
strings into one C expression string.

`CStyleOps` is the base table; a backend subclasses it and overrides only what its
dialect spells differently (CUDA: float16 conversions, `__device__` helpers). Rules
never decide fusion, indexing or loop structure, and never print statements: the
emitter does.

Numerics follow DESIGN.md and match the LLVM table (compiler/backends/llvm/scalar_ops.py)
and the reference (compiler/ops/numerics.py): elementwise float ops are single IEEE
operations in the written order (the compiler must not contract them: the CUDA backend
compiles with `--fmad=false`); integer floor division and modulo by zero give 0 and
INT_MIN // -1 wraps; float->int casts give 0 for NaN and saturate; maximum/minimum
propagate NaN; `not_equal` is true for NaN. Helpers that need statements (`fc_*`) are
defined once in `HELPERS`, which the backend prints ahead of its kernels.
"""

from __future__ import annotations

from ..ir import dtypes as T
from ..lower.kir import BINARY_OPS, UNARY_OPS  # noqa: F401  (the table covers them)

#: register (value) type of each dtype; bool values are C++ `bool`
REG_TYPES = {T.float32: "float", T.float64: "double", T.int32: "int", T.int64: "long long",
             T.bool_: "bool"}
#: in-memory element type of each dtype (bool is one byte, like numpy)
MEM_TYPES = {**REG_TYPES, T.bool_: "unsigned char"}


#: float unary ops that are one math-library call (`exp` -> expf / exp)
_F_CALLS = {"exp": "exp", "log": "log", "sqrt": "sqrt", "sin": "sin", "cos": "cos",
            "floor": "floor", "ceil": "ceil", "tanh": "tanh", "expm1": "expm1",
            "log1p": "log1p", "abs": "fabs"}
_CMP = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=",
        "equal": "==", "not_equal": "!="}
_ARITH = {"add": "+", "sub": "-", "mul": "*"}

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
{fn} float fc_fmod(float a, float b) {{
  float r = fmodf(a, b);
  return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r;
}}
{fn} double fc_fmod(double a, double b) {{
  double r = fmod(a, b);
  return (r != 0.0 && ((r < 0.0) != (b < 0.0))) ? r + b : r;
}}
/* numpy's maximum/minimum: NaN if either operand is NaN */
template <typename T> {fn} T fc_fmax(T a, T b) {{
  return (a != a || b != b) ? a + b : (a > b ? a : b);
}}
template <typename T> {fn} T fc_fmin(T a, T b) {{
  return (a != a || b != b) ? a + b : (a < b ? a : b);
}}
template <typename T> {fn} T fc_imax(T a, T b) {{ return a > b ? a : b; }}
template <typename T> {fn} T fc_imin(T a, T b) {{ return a < b ? a : b; }}
template <typename T> {fn} T fc_iabs(T a) {{
  return a < 0 ? (T)(0ull - (unsigned long long)a) : a;
}}
template <typename T> {fn} T fc_ineg(T a) {{ return (T)(0ull - (unsigned long long)a); }}
template <typename T> {fn} T fc_sign(T x) {{ return x > 0 ? (T)1 : (x < 0 ? (T)-1 : x); }}
/* float -> int: NaN -> 0, beyond the range saturates, else truncation toward zero */
{fn} int fc_to_i32(double x) {{
  return x != x ? 0 : x >= 2147483648.0 ? 2147483647
       : x <= -2147483649.0 ? (-2147483647 - 1) : (int)x;
}}
{fn} long long fc_to_i64(double x) {{
  return x != x ? 0 : x >= 9223372036854775808.0 ? 9223372036854775807ll
       : x <= -9223372036854775808.0 ? (-9223372036854775807ll - 1) : (long long)x;
}}
/* 1 / (1 + exp(-x)), without the overflow of exp(-x) for x < 0 */
{fn} float fc_sigmoid(float x) {{
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}}
{fn} double fc_sigmoid(double x) {{
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
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


class CStyleOps:
    """The scalar-op table for C. `unary(op, x, dtype)`, `binary(op, a, b, dtype)` and
    `cast(x, src, dst)` take C expression strings and the operands' dtype and return a
    C expression string; `const(value, dtype)` prints a literal."""

    reg_types = REG_TYPES
    mem_types = MEM_TYPES
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
        if dtype is T.int64:
            if v == -(1 << 63):
                return "(-9223372036854775807ll - 1)"
            return f"{v}ll" if v >= 0 else f"({v}ll)"
        if v == -(1 << 31):
            return "(-2147483647 - 1)"
        return str(v) if v >= 0 else f"({v})"

    # ---- unary ----------------------------------------------------------------------
    def unary(self, op, x, dtype) -> str:
        if op == "stop_gradient":
            return x
        if dtype.is_float:
            return self.float_unary(op, x, dtype)
        if op == "logical_not":
            return f"(!{x})"
        if op == "neg":
            return f"fc_ineg({x})"
        if op == "abs":
            return f"fc_iabs({x})"
        if op == "sign":
            return f"fc_sign({x})"
        raise NotImplementedError(f"no C rule for unary {op} on {dtype.name}")

    def float_unary(self, op, x, dtype) -> str:
        one = self.const(1.0, dtype)
        if op in _F_CALLS:
            return f"{self.math(_F_CALLS[op], dtype)}({x})"
        if op == "neg":
            return f"(-{x})"
        if op == "rsqrt":
            return f"({one} / {self.math('sqrt', dtype)}({x}))"
        if op == "sigmoid":
            return f"fc_sigmoid({x})"
        if op == "sign":
            return f"fc_sign({x})"
        raise NotImplementedError(f"no C rule for unary {op} on {dtype.name}")

    # ---- binary ---------------------------------------------------------------------
    def binary(self, op, a, b, dtype) -> str:
        if op in _CMP:
            return f"({a} {_CMP[op]} {b})"
        if op in _ARITH:
            return f"({a} {_ARITH[op]} {b})"
        if op == "logical_and":
            return f"({a} && {b})"
        if op == "logical_or":
            return f"({a} || {b})"
        rule = self.float_binary if dtype.is_float else self.int_binary
        return rule(op, a, b, dtype)

    def float_binary(self, op, a, b, dtype) -> str:
        if op == "div":
            return f"({a} / {b})"
        if op == "pow":
            return f"{self.math('pow', dtype)}({a}, {b})"
        if op == "mod":
            return f"fc_fmod({a}, {b})"
        if op == "maximum":
            return f"fc_fmax({a}, {b})"
        if op == "minimum":
            return f"fc_fmin({a}, {b})"
        raise NotImplementedError(f"no C rule for binary {op} on {dtype.name}")

    def int_binary(self, op, a, b, dtype) -> str:
        simple = {"idiv": "/", "imod": "%"}  # operands known non-negative, divisor > 0
        if op in simple:
            return f"({a} {simple[op]} {b})"
        calls = {"div": "fc_floordiv", "mod": "fc_floormod", "maximum": "fc_imax",
                 "imax": "fc_imax", "minimum": "fc_imin", "imin": "fc_imin"}
        if op in calls:
            return f"{calls[op]}({a}, {b})"
        raise NotImplementedError(f"no C rule for binary {op} on {dtype.name}")

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
            return f"fc_to_{'i32' if dst is T.int32 else 'i64'}({x})"
        return f"(({self.reg_type(dst)})({x}))"
