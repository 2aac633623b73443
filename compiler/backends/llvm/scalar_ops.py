"""The LLVM scalar-op table: one rule per kernel-IR op name, turning operand values into
an LLVM instruction sequence (`rule(em, args, dtype) -> value`, where `dtype` is the
operands' flowc dtype).

Numerics follow DESIGN.md: no fast-math flags in elementwise rules (exact-order IEEE;
only `FAST_OPS`, the accumulation steps of reductions and matmul, reassociate); integer
floor division and modulo by zero give 0 and INT_MIN // -1 wraps; float->int casts go
through `llvm.fptosi.sat` (NaN -> 0, saturating); maximum/minimum propagate NaN as numpy
does (`llvm.maximum`). exp, expm1, log, log1p, tanh and sigmoid are `vecmath`'s
branch-free polynomials (float32 and float64; they vectorize, accuracy in
docs/numerics.md); sqrt, sin, cos, pow, floor and ceil are LLVM intrinsics.
"""

from __future__ import annotations

from llvmlite import ir

from ...ir import dtypes as T
from ...lower.kir import BINARY_OPS, UNARY_OPS  # noqa: F401  (the table covers them)
from . import vecmath

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)


def reg_type(dtype):
    """Register type of a flowc dtype (bool is i1)."""
    return {T.float16: ir.HalfType(), T.float32: ir.FloatType(), T.float64: ir.DoubleType(),
            T.int32: I32, T.int64: I64, T.bool_: I1}[dtype]


def mem_type(dtype):
    """In-memory element type (bool is one byte, like numpy)."""
    return I8 if dtype is T.bool_ else reg_type(dtype)


def _suffix(dtype):
    return {T.float16: "f16", T.float32: "f32", T.float64: "f64", T.int32: "i32",
            T.int64: "i64"}[dtype]


def _libm(name, dtype):
    return name + ("f" if dtype is T.float32 else "")


# ---- float ------------------------------------------------------------------------------
def _f_unary(em, op, x, dtype):
    b = em.builder
    if op in vecmath.FUNCTIONS and vecmath.kind_of(x.type) is not None:
        return vecmath.call(b, op, x)
    if op in ("exp", "log", "sqrt", "sin", "cos", "floor", "ceil", "fabs"):
        return em.intrinsic(f"llvm.{op}", dtype, [x])
    if op in ("tanh", "expm1", "log1p"):
        return em.libm(_libm(op, dtype), dtype, [x])
    one = ir.Constant(x.type, 1.0)
    if op == "neg":
        return b.fneg(x)
    if op == "abs":
        return em.intrinsic("llvm.fabs", dtype, [x])
    if op == "rsqrt":
        return b.fdiv(one, em.intrinsic("llvm.sqrt", dtype, [x]))
    if op == "sigmoid":
        e = em.intrinsic("llvm.exp", dtype, [b.fneg(x)])
        return b.fdiv(one, b.fadd(one, e))
    if op == "sign":
        zero = ir.Constant(x.type, 0.0)
        neg = b.select(b.fcmp_ordered("<", x, zero), ir.Constant(x.type, -1.0), x)
        return b.select(b.fcmp_ordered(">", x, zero), one, neg)
    raise KeyError(op)


_FCMP = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=",
         "equal": "=="}


def _f_binary(em, op, a, c, dtype):
    b = em.builder
    simple = {"add": b.fadd, "sub": b.fsub, "mul": b.fmul, "div": b.fdiv}
    if op in simple:
        return simple[op](a, c)
    if op in _FCMP:
        return b.fcmp_ordered(_FCMP[op], a, c)
    if op == "not_equal":
        return b.fcmp_unordered("!=", a, c)
    if op in ("maximum", "minimum"):
        return em.intrinsic(f"llvm.{op}", dtype, [a, c])
    if op == "pow":
        return em.intrinsic("llvm.pow", dtype, [a, c])
    if op == "mod":
        r = b.frem(a, c)
        zero = ir.Constant(a.type, 0.0)
        fix = b.and_(b.fcmp_unordered("!=", r, zero),
                     b.icmp_unsigned("!=", b.fcmp_ordered("<", r, zero),
                                     b.fcmp_ordered("<", c, zero)))
        return b.select(fix, b.fadd(r, c), r)
    raise KeyError(op)


# ---- int and bool ----------------------------------------------------------------------
def _i_unary(em, op, x, dtype):
    b = em.builder
    zero = ir.Constant(x.type, 0)
    if op == "neg":
        return b.sub(zero, x)
    if op == "abs":
        return b.select(b.icmp_signed("<", x, zero), b.sub(zero, x), x)
    if op == "sign":
        neg = b.select(b.icmp_signed("<", x, zero), ir.Constant(x.type, -1), zero)
        return b.select(b.icmp_signed(">", x, zero), ir.Constant(x.type, 1), neg)
    if op == "logical_not":
        return b.xor(x, ir.Constant(I1, 1))
    if op == "stop_gradient":
        return x
    raise KeyError(op)


_ICMP = {"less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=",
         "equal": "==", "not_equal": "!="}


def _int_divmod(em, a, c, want_mod):
    """Floor division / modulo with the zero and INT_MIN // -1 guards."""
    b = em.builder
    t = a.type
    zero, one, minus1 = ir.Constant(t, 0), ir.Constant(t, 1), ir.Constant(t, -1)
    is_zero = b.icmp_signed("==", c, zero)
    is_m1 = b.icmp_signed("==", c, minus1)
    safe = b.select(b.or_(is_zero, is_m1), one, c)
    q, r = b.sdiv(a, safe), b.srem(a, safe)
    adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, c), zero))
    if want_mod:
        res = b.select(adjust, b.add(r, c), r)
        return b.select(b.or_(is_zero, is_m1), zero, res)
    res = b.sub(q, b.zext(adjust, t))
    return b.select(is_zero, zero, b.select(is_m1, b.sub(zero, a), res))


def _i_binary(em, op, a, c, dtype):
    b = em.builder
    simple = {"add": b.add, "sub": b.sub, "mul": b.mul, "idiv": b.sdiv, "imod": b.srem,
              "logical_and": b.and_, "logical_or": b.or_}
    if op in simple:
        return simple[op](a, c)
    if op in _ICMP:
        return (b.icmp_unsigned if dtype is T.bool_ else b.icmp_signed)(_ICMP[op], a, c)
    if op in ("maximum", "imax"):
        return b.select(b.icmp_signed(">", a, c), a, c)
    if op in ("minimum", "imin"):
        return b.select(b.icmp_signed("<", a, c), a, c)
    if op == "div":
        return _int_divmod(em, a, c, False)
    if op == "mod":
        return _int_divmod(em, a, c, True)
    raise KeyError(op)


def unary(em, op, x, dtype):
    try:
        return (_f_unary if dtype.is_float else _i_unary)(em, op, x, dtype)
    except KeyError:
        raise NotImplementedError(f"no LLVM rule for unary {op} on {dtype.name}") from None


def binary(em, op, a, c, dtype):
    try:
        return (_f_binary if dtype.is_float else _i_binary)(em, op, a, c, dtype)
    except KeyError:
        raise NotImplementedError(f"no LLVM rule for binary {op} on {dtype.name}") from None


def cast(em, x, src, dst):
    b = em.builder
    if src is dst:
        return x
    to = reg_type(dst)
    if dst is T.bool_:
        if src.is_float:
            return b.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))
        return b.icmp_signed("!=", x, ir.Constant(x.type, 0))
    if src is T.bool_:
        return b.uitofp(x, to) if dst.is_float else b.zext(x, to)
    if src.is_int and dst.is_int:
        return b.sext(x, to) if dst.itemsize > src.itemsize else b.trunc(x, to)
    if src.is_int:
        return b.sitofp(x, to)
    if dst.is_float:
        return b.fpext(x, to) if dst.itemsize > src.itemsize else b.fptrunc(x, to)
    name = f"llvm.fptosi.sat.{_suffix(dst)}.{_suffix(src)}"
    return em.call_decl(name, to, [x])




#: accumulation steps of reductions and matmul (kernel IR `Binary.fast`): reassociation
#: and contraction allowed, so LLVM vectorizes them with partial sums
_FAST = ("reassoc", "contract")
FAST_OPS = {
    "add": lambda b, x, y: b.fadd(x, y, flags=_FAST),
    "mul": lambda b, x, y: b.fmul(x, y, flags=_FAST),
}
