"""The LLVM scalar-op table: `UNARY` and `BINARY` map each kernel-IR op name to a `Rule`
(one function for float operands, one for int/bool operands) that turns operand values
into an LLVM instruction sequence (`rule(em, *args, dtype) -> value`, where `dtype` is
the operands' flowc dtype); `unary`/`binary` look a rule up. The keys are exactly the
kernel-IR op set (`kir.UNARY_OPS` / `kir.BINARY_OPS`, derived from the op table):
tests/test_scalar_op_tables.py fails when one is missing.

Numerics follow DESIGN.md: no fast-math flags in elementwise rules (exact-order IEEE;
only `FAST_OPS`, the accumulation steps of reductions and matmul, reassociate); integer
floor division and modulo by zero give 0 and INT_MIN // -1 wraps; float->int casts go
through `llvm.fptosi.sat` / `llvm.fptoui.sat` (NaN -> 0, saturating); the unsigned ints
compare, divide, widen and convert with the unsigned instructions (`icmp u*`, `udiv`/
`urem`, `zext`, `uitofp`) and all ints wrap modulo 2**bits; maximum/minimum propagate
NaN as numpy does and order -0.0 below +0.0 (`llvm.maximum`, IEEE 754-2019);
`sign(-0.0)` is +0.0 and a zero `mod` takes the divisor's sign, bit for bit as the
reference (`ops/numerics.py`).
exp, expm1, log, log1p, tanh and sigmoid are `vecmath`'s
branch-free polynomials (float32 and float64; they vectorize, accuracy in
docs/numerics.md); sqrt, sin, cos, pow, floor and ceil are LLVM intrinsics; erf and atan
call libm.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

from llvmlite import ir

from ...ir import dtypes as T
from . import vecmath

I1, I8, I16, I32, I64 = (ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32),
                         ir.IntType(64))


def reg_type(dtype):
    """Register type of a flowc dtype (bool is i1; LLVM integers carry no sign: the
    signedness is in the instructions the rules pick, `udiv`/`icmp ult`/`zext`/`uitofp`
    for the unsigned dtypes)."""
    if dtype.is_int:
        return ir.IntType(8 * dtype.itemsize)
    return {T.float16: ir.HalfType(), T.float32: ir.FloatType(), T.float64: ir.DoubleType(),
            T.bool_: I1}[dtype]


def mem_type(dtype):
    """In-memory element type (bool is one byte, like numpy)."""
    return I8 if dtype is T.bool_ else reg_type(dtype)


def _suffix(dtype):
    if dtype.is_int:
        return f"i{8 * dtype.itemsize}"
    return {T.float16: "f16", T.float32: "f32", T.float64: "f64"}[dtype]


def _libm(name, dtype):
    return name + ("f" if dtype is T.float32 else "")


# ---- the table ---------------------------------------------------------------------------
class Rule(NamedTuple):
    """The rule of one kernel-IR op: `float(em, *args, dtype)` for float operands and
    `int(em, *args, dtype)` for int and bool operands; None where the op never has such
    operands (the op table's type rules reject them)."""

    float: Optional[Callable]
    int: Optional[Callable]


def _vec_or(op, fallback):
    """`vecmath`'s polynomial for float32/float64 values, else `fallback`."""
    def rule(em, x, dtype):
        if vecmath.kind_of(x.type) is not None:
            return vecmath.call(em.builder, op, x)
        return fallback(em, x, dtype)
    return rule


def _intrinsic(name):
    return lambda em, *args: em.intrinsic(f"llvm.{name}", args[-1], list(args[:-1]))


def _libm_call(name):
    return lambda em, x, dtype: em.libm(_libm(name, dtype), dtype, [x])


def _f_sigmoid(em, x, dtype):
    b = em.builder
    one = ir.Constant(x.type, 1.0)
    e = em.intrinsic("llvm.exp", dtype, [b.fneg(x)])
    return b.fdiv(one, b.fadd(one, e))


def _f_sign(em, x, dtype):
    b = em.builder
    zero, one = ir.Constant(x.type, 0.0), ir.Constant(x.type, 1.0)
    # x + 0.0 keeps NaN and turns -0.0 into +0.0 (numpy's and TF's sign(-0.0))
    neg = b.select(b.fcmp_ordered("<", x, zero), ir.Constant(x.type, -1.0), b.fadd(x, zero))
    return b.select(b.fcmp_ordered(">", x, zero), one, neg)


def _f_rsqrt(em, x, dtype):
    return em.builder.fdiv(ir.Constant(x.type, 1.0), em.intrinsic("llvm.sqrt", dtype, [x]))


def _i_neg(em, x, dtype):
    return em.builder.sub(ir.Constant(x.type, 0), x)


def _i_abs(em, x, dtype):
    if dtype.is_unsigned:
        return x
    b, zero = em.builder, ir.Constant(x.type, 0)
    return b.select(b.icmp_signed("<", x, zero), b.sub(zero, x), x)


def _i_sign(em, x, dtype):
    b, zero = em.builder, ir.Constant(x.type, 0)
    if dtype.is_unsigned:
        return b.zext(b.icmp_unsigned("!=", x, zero), x.type)
    neg = b.select(b.icmp_signed("<", x, zero), ir.Constant(x.type, -1), zero)
    return b.select(b.icmp_signed(">", x, zero), ir.Constant(x.type, 1), neg)


def _identity(em, x, dtype):
    return x


def _f_bits(em, x, dtype):
    """bitcast of a float: its bits as the signed int of its width."""
    return em.builder.bitcast(x, ir.IntType(8 * dtype.itemsize))


def _i_bits(em, x, dtype):
    """bitcast of an int: its bits as the float of its width (32 or 64)."""
    return em.builder.bitcast(x, ir.FloatType() if dtype.itemsize == 4 else ir.DoubleType())


#: kernel-IR unary op -> Rule; keys: exactly `kir.UNARY_OPS` (tests/test_scalar_op_tables.py)
UNARY = {
    "neg": Rule(lambda em, x, dt: em.builder.fneg(x), _i_neg),
    "abs": Rule(_intrinsic("fabs"), _i_abs),
    "sign": Rule(_f_sign, _i_sign),
    "exp": Rule(_vec_or("exp", _intrinsic("exp")), None),
    "expm1": Rule(_vec_or("expm1", _libm_call("expm1")), None),
    "log": Rule(_vec_or("log", _intrinsic("log")), None),
    "log1p": Rule(_vec_or("log1p", _libm_call("log1p")), None),
    "sqrt": Rule(_intrinsic("sqrt"), None),
    "rsqrt": Rule(_f_rsqrt, None),
    "tanh": Rule(_vec_or("tanh", _libm_call("tanh")), None),
    "sigmoid": Rule(_vec_or("sigmoid", _f_sigmoid), None),
    "sin": Rule(_intrinsic("sin"), None),
    "cos": Rule(_intrinsic("cos"), None),
    "floor": Rule(_intrinsic("floor"), None),
    "ceil": Rule(_intrinsic("ceil"), None),
    "erf": Rule(_libm_call("erf"), None),
    "atan": Rule(_libm_call("atan"), None),
    "stop_gradient": Rule(_identity, _identity),
    "invert": Rule(None, lambda em, x, dt: em.builder.not_(x)),
    "bitcast": Rule(_f_bits, _i_bits),
    "logical_not": Rule(None, lambda em, x, dt: em.builder.xor(x, ir.Constant(I1, 1))),
}


def _f_mod(em, a, c, dtype):
    """numpy's floor modulo: the sign of the divisor, a zero result included."""
    b = em.builder
    r = b.frem(a, c)
    zero = ir.Constant(a.type, 0.0)
    fix = b.and_(b.fcmp_unordered("!=", r, zero),
                 b.icmp_unsigned("!=", b.fcmp_ordered("<", r, zero),
                                 b.fcmp_ordered("<", c, zero)))
    signed_zero = em.intrinsic("llvm.copysign", dtype, [zero, c])
    r = b.select(b.fcmp_ordered("==", r, zero), signed_zero, r)
    return b.select(fix, b.fadd(r, c), r)


def _uint_divmod(em, a, c, want_mod):
    """Unsigned division / modulo (floor and truncation agree) with the zero guard."""
    b = em.builder
    zero, one = ir.Constant(a.type, 0), ir.Constant(a.type, 1)
    is_zero = b.icmp_unsigned("==", c, zero)
    safe = b.select(is_zero, one, c)
    res = b.urem(a, safe) if want_mod else b.udiv(a, safe)
    return b.select(is_zero, zero, res)


def _int_divmod(em, a, c, want_mod, dtype):
    """Floor division / modulo with the zero and INT_MIN // -1 guards."""
    if dtype.is_unsigned:
        return _uint_divmod(em, a, c, want_mod)
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


def _builder(method):
    """A rule that is one IRBuilder instruction: `fadd`, `sdiv`, ..."""
    return lambda em, a, c, dtype: getattr(em.builder, method)(a, c)


def _fcmp(pred, ordered=True):
    def rule(em, a, c, dtype):
        b = em.builder
        return (b.fcmp_ordered if ordered else b.fcmp_unordered)(pred, a, c)
    return rule


def _unsigned(dtype) -> bool:
    """Compare unsigned: bools and the unsigned ints."""
    return dtype is T.bool_ or dtype.is_unsigned


def _icmp(pred):
    """Signed for signed ints, unsigned for bools and unsigned ints."""
    def rule(em, a, c, dtype):
        b = em.builder
        return (b.icmp_unsigned if _unsigned(dtype) else b.icmp_signed)(pred, a, c)
    return rule


def _i_select(pred):
    """max / min of ints: a select on a signed (unsigned ints: unsigned) comparison."""
    def rule(em, a, c, dtype):
        b = em.builder
        cmp = b.icmp_unsigned if _unsigned(dtype) else b.icmp_signed
        return b.select(cmp(pred, a, c), a, c)
    return rule


#: kernel-IR binary op -> Rule; keys: exactly `kir.BINARY_OPS`
BINARY = {
    "add": Rule(_builder("fadd"), _builder("add")),
    "sub": Rule(_builder("fsub"), _builder("sub")),
    "mul": Rule(_builder("fmul"), _builder("mul")),
    "div": Rule(_builder("fdiv"), lambda em, a, c, dt: _int_divmod(em, a, c, False, dt)),
    "mod": Rule(_f_mod, lambda em, a, c, dt: _int_divmod(em, a, c, True, dt)),
    "pow": Rule(_intrinsic("pow"), None),
    "maximum": Rule(_intrinsic("maximum"), _i_select(">")),
    "minimum": Rule(_intrinsic("minimum"), _i_select("<")),
    "less": Rule(_fcmp("<"), _icmp("<")),
    "less_equal": Rule(_fcmp("<="), _icmp("<=")),
    "greater": Rule(_fcmp(">"), _icmp(">")),
    "greater_equal": Rule(_fcmp(">="), _icmp(">=")),
    "equal": Rule(_fcmp("=="), _icmp("==")),
    "not_equal": Rule(_fcmp("!=", ordered=False), _icmp("!=")),
    "logical_and": Rule(None, _builder("and_")),
    "logical_or": Rule(None, _builder("or_")),
    "bitwise_and": Rule(None, _builder("and_")),
    "bitwise_or": Rule(None, _builder("or_")),
    "bitwise_xor": Rule(None, _builder("xor")),
    # index ops (operands known non-negative, divisor > 0)
    "idiv": Rule(None, _builder("sdiv")),
    "imod": Rule(None, _builder("srem")),
    "imax": Rule(None, _i_select(">")),
    "imin": Rule(None, _i_select("<")),
}


def _lookup(table, kind, op, dtype):
    rule = table.get(op)
    rule = rule and (rule.float if dtype.is_float else rule.int)
    if rule is None:
        raise NotImplementedError(f"no LLVM rule for {kind} {op} on {dtype.name}")
    return rule


def unary(em, op, x, dtype):
    return _lookup(UNARY, "unary", op, dtype)(em, x, dtype)


def binary(em, op, a, c, dtype):
    return _lookup(BINARY, "binary", op, dtype)(em, a, c, dtype)


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
        # two's complement: widening extends by the source's sign, narrowing wraps
        if dst.itemsize == src.itemsize:
            return x
        if dst.itemsize < src.itemsize:
            return b.trunc(x, to)
        return b.zext(x, to) if src.is_unsigned else b.sext(x, to)
    if src.is_int:
        return b.uitofp(x, to) if src.is_unsigned else b.sitofp(x, to)
    if dst.is_float:
        return b.fpext(x, to) if dst.itemsize > src.itemsize else b.fptrunc(x, to)
    sat = "fptoui" if dst.is_unsigned else "fptosi"
    name = f"llvm.{sat}.sat.{_suffix(dst)}.{_suffix(src)}"
    return em.call_decl(name, to, [x])


#: accumulation steps of reductions and matmul (kernel IR `Binary.fast`): reassociation
#: and contraction allowed, so LLVM vectorizes them with partial sums
_FAST = ("reassoc", "contract")
FAST_OPS = {
    "add": lambda b, x, y: b.fadd(x, y, flags=_FAST),
    "mul": lambda b, x, y: b.fmul(x, y, flags=_FAST),
}
