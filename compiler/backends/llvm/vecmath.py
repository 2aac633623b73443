"""Vector math in LLVM IR: branch-free exp, expm1, log, log1p, tanh and sigmoid.

`call(builder, name, x)` returns `name(x)` for a float or double value `x`. The first
call in a module emits `flowc.vm.<name>.<f32|f64>`: an `internal`, `alwaysinline`
function of one basic block, built only from fadd/fsub/fmul/fdiv, bit casts, integer
ops, compares, selects and the intrinsics `llvm.rint`/`llvm.fabs`/`llvm.copysign`.
LLVM's loop vectorizer widens every one of them, so a loop calling these functions
vectorizes, which a call to libm prevents. Never calls libm; never sets fast-math flags
and never contracts into FMA (DESIGN.md numerics): every operation is one IEEE operation
in the written order, so a result does not depend on the vector width or the target.

Methods (classic range reduction, no tables):
- exp(x) = 2^n * (1 + expm1_poly(r)), n = rint(x / ln 2), r = x - n ln 2 (Cody-Waite
  split of ln 2); the scaling multiplies by two powers of two, so denormal results are
  rounded once and overflow/underflow happen in the last multiply.
- expm1(x) = (2^(n-1) * expm1_poly(r) + (2^(n-1) - 1/2)) * 2.
- log(x), log1p(x): reduction of the mantissa to [sqrt(1/2), sqrt(2)) and the series
  in s = f / (2 + f) (the fdlibm method; its minimax coefficients), log1p with
  fdlibm's correction term for the rounding of 1 + x.
- tanh(x) = x + x^3 Q(x^2) for |x| < 0.55, else copysign(1 - 2 / (exp(2 |x|) + 1), x),
  saturated at |x| = 10 (22 for double).
- sigmoid(x) = 1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 + exp(x)) for x < 0 (the
  same value, without the overflow of exp(-x) that would lose the denormal results),
  corrected for the rounding of the denominator.
Constants for float (`_F32`) and double (`_F64`); other types are not handled
(`kind_of` returns None and callers keep their scalar code).

Special values are numpy's: NaN -> NaN, +-inf and +-0 give the IEEE limits (exp(-inf)
= 0, log(0) = -inf, log(x < 0) = NaN, log1p(-1) = -inf, tanh(+-inf) = +-1, tanh(-0) =
-0, expm1(-0) = -0), overflow gives inf and underflow denormals or 0. The accuracy of
each function, measured over every float32 input by `benchmarks/ulp.py`, is in
docs/numerics.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llvmlite import ir

FUNCTIONS = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid")


@dataclass(frozen=True)
class _Kind:
    """Constants of one float format."""
    suffix: str
    ftype: ir.Type
    itype: ir.IntType
    mant_bits: int              # explicit mantissa bits
    bias: int
    sqrt_half_bits: int         # bit pattern of (about) sqrt(1/2), where log's reduction splits
    ln2_hi: float               # ln 2 = ln2_hi + ln2_lo; n * ln2_hi exact for the n used
    ln2_lo: float
    exp_clamp: tuple            # exp's input clamp: below it 0, above it inf
    expm1_lo: float             # expm1(x) rounds to -1 below this
    expm1_poly: tuple           # expm1(r) = r + r^2 * poly(r), lowest degree first
    log_poly: tuple             # fdlibm Lg1, Lg2, ...: log(1+f) series in s = f/(2+f)
    denormal_shift: int         # log scales denormal inputs by 2^shift
    tiny: float                 # for |x| below it expm1(x) and log1p(x) round to x
    tanh_sat: float             # tanh(x) rounds to +-1 beyond it
    tanh_split: float           # below it tanh(x) = x + x^3 * tanh_poly(x^2)
    tanh_poly: tuple


# expm1(r) = r + r^2 * P(r) on |r| <= ln(2)/2 and tanh(x) = x + x^3 * Q(x^2) on
# |x| < 0.55: P and Q fitted (linear-programming minimax on 4000 points) for the
# smallest relative error of expm1 and tanh: 2^-32 and 2^-29.8 before the coefficients
# are rounded to float32. log_poly is fdlibm's (e_logf.c), error < 2^-34. ln2_hi has 15
# significant bits (32 for double), so n * ln2_hi is exact for every n the clamps allow.
_F32 = _Kind(
    suffix="f32", ftype=ir.FloatType(), itype=ir.IntType(32), mant_bits=23, bias=127,
    sqrt_half_bits=0x3F3504F3, ln2_hi=0.693145751953125, ln2_lo=math.log(2.0) - 0.693145751953125,
    exp_clamp=(-104.0, 89.0), expm1_lo=-30.0,
    expm1_poly=(0.5, 0.1666666567325592, 0.041666362434625626, 0.008333389647305012,
                0.0013940625358372927, 0.00019845877250190824),
    log_poly=(0.66666662693, 0.40000972152, 0.28498786688, 0.24279078841),
    denormal_shift=25, tiny=2.0 ** -30, tanh_sat=10.0, tanh_split=0.55,
    tanh_poly=(-0.33333316445350647, 0.13332585990428925, -0.05385230854153633,
               0.021071679890155792, -0.0062742396257817745))

# float64: expm1's P and tanh's Q fitted the same way in 80-digit arithmetic (weighted
# least squares on Chebyshev nodes; 2^-61.6 and 2^-60.5), log_poly is fdlibm's e_log.c.
_F64 = _Kind(
    suffix="f64", ftype=ir.DoubleType(), itype=ir.IntType(64), mant_bits=52, bias=1023,
    sqrt_half_bits=0x3FE6A09E667F3BCD, ln2_hi=6.93147180369123816490e-01,
    ln2_lo=1.90821492927058770002e-10, exp_clamp=(-746.0, 710.0), expm1_lo=-40.0,
    expm1_poly=(0.5, 0.16666666666666677, 0.04166666666666644, 0.008333333333321527,
                0.0013888888888990134, 0.00019841269886326917, 2.4801587124854375e-05,
                2.7557244051653176e-06, 2.755743959338e-07, 2.510908048376391e-08,
                2.0864721567163033e-09),
    log_poly=(6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
              2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
              1.479819860511658591e-01),
    denormal_shift=54, tiny=2.0 ** -60, tanh_sat=22.0, tanh_split=0.55,
    tanh_poly=(-0.333333333333333, 0.13333333333326325, -0.05396825396361135,
               0.02186948838202139, -0.008863232543810601, 0.0035920914884654516,
               -0.0014555395618353103, 0.000588431669416542, -0.00023335043558499947,
               8.32736428179455e-05, -1.94692331792559e-05))

_KINDS = {"float": _F32, "double": _F64}


def kind_of(ty) -> _Kind | None:
    """The constants for an LLVM float type, or None when vecmath does not handle it."""
    return _KINDS.get(str(ty))


def call(builder: ir.IRBuilder, name: str, x: ir.Value) -> ir.Value:
    """Emit `name(x)` (one of FUNCTIONS) at the builder's position."""
    return builder.call(function(builder.module, name, x.type), [x])


def function(module: ir.Module, name: str, ty) -> ir.Function:
    """The module's `flowc.vm.<name>.<suffix>`, emitted on first use."""
    kind = kind_of(ty)
    if kind is None or name not in FUNCTIONS:
        raise NotImplementedError(f"no vector math for {name} on {ty}")
    fname = f"flowc.vm.{name}.{kind.suffix}"
    fn = module.globals.get(fname)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ty, [ty]), name=fname)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        builder.ret(_BODIES[name](_Emit(builder, kind), fn.args[0]))
    return fn


class _Emit:
    """IRBuilder shorthand for one float kind: Python numbers become constants."""

    def __init__(self, builder: ir.IRBuilder, kind: _Kind):
        self.b, self.k = builder, kind

    def f(self, v):
        return v if isinstance(v, ir.Value) else ir.Constant(self.k.ftype, float(v))

    def i(self, v):
        return v if isinstance(v, ir.Value) else ir.Constant(self.k.itype, int(v))

    def add(self, a, c):
        return self.b.fadd(self.f(a), self.f(c))

    def sub(self, a, c):
        return self.b.fsub(self.f(a), self.f(c))

    def mul(self, a, c):
        return self.b.fmul(self.f(a), self.f(c))

    def div(self, a, c):
        return self.b.fdiv(self.f(a), self.f(c))

    def cmp(self, op, a, c):
        """Ordered comparison: false when either side is NaN."""
        return self.b.fcmp_ordered(op, self.f(a), self.f(c))

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def sel(self, cond, a, c):
        return self.b.select(cond, self.f(a), self.f(c))

    def intrinsic(self, name, *args):
        ty = self.k.ftype
        module = self.b.module
        fname = f"llvm.{name}.{self.k.suffix}"
        fn = module.globals.get(fname)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(ty, [ty] * len(args)), name=fname)
        return self.b.call(fn, [self.f(a) for a in args])

    def bits(self, x):
        return self.b.bitcast(x, self.k.itype)

    def from_bits(self, n):
        return self.b.bitcast(n, self.k.ftype)

    def horner(self, x, coeffs):
        """coeffs[0] + x * (coeffs[1] + x * (...)), lowest degree first."""
        acc = self.f(coeffs[-1])
        for c in reversed(coeffs[:-1]):
            acc = self.add(self.mul(acc, x), c)
        return acc

    def clamp(self, x, lo, hi):
        """x limited to [lo, hi]; NaN becomes lo (callers select NaN back at the end)."""
        x = self.sel(self.cmp(">=", x, lo), x, lo)
        return self.sel(self.cmp("<=", x, hi), x, hi)

    def pow2(self, n):
        """2^n for an integer value n in the normal exponent range."""
        k = self.k
        biased = self.b.add(n, self.i(k.bias))
        return self.from_bits(self.b.shl(biased, self.i(k.mant_bits)))


# ---- exp and expm1 ---------------------------------------------------------------------
def _reduce(e: _Emit, x):
    """n = rint(x / ln 2) (as float) and r = x - n ln 2, |r| <= ln(2)/2 (n ln2_hi exact)."""
    n = e.intrinsic("rint", e.mul(x, 1.0 / math.log(2.0)))
    r = e.sub(e.sub(x, e.mul(n, e.k.ln2_hi)), e.mul(n, e.k.ln2_lo))
    return n, r


def _expm1_poly(e: _Emit, r):
    return e.add(r, e.mul(e.mul(r, r), e.horner(r, e.k.expm1_poly)))


def _exp_parts(e: _Emit, x):
    """(n, y) with exp(x) = y * 2^n, n an integer and y in [sqrt(1/2), sqrt(2)]."""
    n, r = _reduce(e, x)
    return e.b.fptosi(n, e.k.itype), e.add(_expm1_poly(e, r), 1.0)


def _exp_core(e: _Emit, x, clamp_high=True):
    """exp(x) for x not NaN; y * 2^n as (y * 2^(n>>1)) * 2^(n - (n>>1)) so that every
    n in [-150, 128] works with one rounding (denormals) or overflow at the end."""
    lo, hi = e.k.exp_clamp
    x = e.sel(e.cmp(">=", x, lo), x, lo)
    if clamp_high:
        x = e.sel(e.cmp("<=", x, hi), x, hi)
    n, y = _exp_parts(e, x)
    half = e.b.ashr(n, e.i(1))
    return e.mul(e.mul(y, e.pow2(half)), e.pow2(e.b.sub(n, half)))


def _expm1_core(e: _Emit, x):
    """expm1(x) for x not NaN: (2^(n-1) p + (2^(n-1) - 1/2)) * 2 keeps 2^(n-1) finite
    for n = 128 and the subtraction of 1 exact for small n."""
    n, r = _reduce(e, e.clamp(x, e.k.expm1_lo, e.k.exp_clamp[1]))
    p = _expm1_poly(e, r)
    t = e.pow2(e.b.sub(e.b.fptosi(n, e.k.itype), e.i(1)))
    y = e.mul(e.add(e.mul(t, p), e.sub(t, 0.5)), 2.0)
    return e.sel(e.cmp("<", e.intrinsic("fabs", x), e.k.tiny), x, y)


def _exp(e: _Emit, x):
    return e.sel(e.isnan(x), x, _exp_core(e, x))


def _expm1(e: _Emit, x):
    return e.sel(e.isnan(x), x, _expm1_core(e, x))


def _tanh(e: _Emit, x):
    """Odd polynomial below tanh_split, else 1 - 2 / (exp(2|x|) + 1), which is >= 1/2 so
    the subtraction is exact; exp(2|x|) <= exp(2 tanh_sat) needs one power of two."""
    k = e.k
    a = e.intrinsic("fabs", x)
    a = e.sel(e.cmp("<", a, k.tanh_sat), a, k.tanh_sat)  # NaN -> tanh_sat
    n, y = _exp_parts(e, e.add(a, a))
    big = e.sub(1.0, e.div(2.0, e.add(e.mul(y, e.pow2(n)), 1.0)))
    z = e.mul(a, a)
    small = e.add(a, e.mul(e.mul(a, z), e.horner(z, k.tanh_poly)))
    t = e.sel(e.cmp("<", a, k.tanh_split), small, big)
    return e.sel(e.isnan(x), x, e.intrinsic("copysign", t, x))


def _sigmoid(e: _Emit, x):
    """num / d with d = 1 + m, m = exp(-|x|), num = 1 (x >= 0) or m (x < 0). The rounding
    error of d (exact by Fast2Sum, as 1 >= m) corrects the quotient q to first order,
    q - q * d_err / d, where 1 / d is q itself (x >= 0) or 1 - q (x < 0)."""
    m = _exp_core(e, e.b.fneg(e.intrinsic("fabs", x)), clamp_high=False)
    d = e.add(m, 1.0)
    d_err = e.add(e.sub(1.0, d), m)
    pos = e.cmp(">=", x, 0.0)
    q = e.div(e.sel(pos, 1.0, m), d)
    inv_d = e.sel(pos, q, e.sub(1.0, q))
    y = e.sub(q, e.mul(e.mul(q, d_err), inv_d))
    return e.sel(e.isnan(x), x, y)


# ---- log and log1p ---------------------------------------------------------------------
def _log_split(e: _Emit, x):
    """For x > 0 normal: (f, k) with x = 2^k (1 + f), 1 + f in [sqrt(1/2), sqrt(2))."""
    k = e.k
    one_bits = k.bias << k.mant_bits
    ix = e.b.add(e.bits(x), e.i(one_bits - k.sqrt_half_bits))
    ki = e.b.sub(e.b.ashr(ix, e.i(k.mant_bits)), e.i(k.bias))
    mant = e.b.and_(ix, e.i((1 << k.mant_bits) - 1))
    m = e.from_bits(e.b.add(mant, e.i(k.sqrt_half_bits)))
    return e.sub(m, 1.0), e.b.sitofp(ki, k.ftype)


def _log_core(e: _Emit, f, dk, c=None):
    """log(2^dk (1 + f)) + c, in fdlibm's order of operations."""
    k = e.k
    s = e.div(f, e.add(f, 2.0))
    z = e.mul(s, s)
    w = e.mul(z, z)
    t1 = e.mul(w, e.horner(w, k.log_poly[1::2]))
    t2 = e.mul(z, e.horner(w, k.log_poly[0::2]))
    hfsq = e.mul(e.mul(f, 0.5), f)
    lo = e.mul(dk, k.ln2_lo)
    if c is not None:
        lo = e.add(lo, c)
    acc = e.add(e.mul(s, e.add(hfsq, e.add(t2, t1))), lo)
    return e.add(e.add(e.sub(acc, hfsq), f), e.mul(dk, k.ln2_hi))


def _log_special(e: _Emit, x, y, pole):
    """y where x is in (pole, inf); -inf at x == pole, inf at inf, NaN below or NaN."""
    ok = e.b.and_(e.cmp(">", x, pole), e.cmp("<", x, math.inf))
    special = e.sel(e.cmp("==", x, pole), -math.inf,
                    e.sel(e.cmp("==", x, math.inf), math.inf, math.nan))
    return e.sel(ok, y, special)


def _log(e: _Emit, x):
    k = e.k
    small = e.cmp("<", x, 2.0 ** (1 - k.bias))
    xs = e.sel(small, e.mul(x, 2.0 ** k.denormal_shift), x)
    f, dk = _log_split(e, xs)
    dk = e.add(dk, e.sel(small, -float(k.denormal_shift), 0.0))
    return _log_special(e, x, _log_core(e, f, dk), 0.0)


def _log1p(e: _Emit, x):
    k = e.k
    u = e.add(x, 1.0)
    f, dk = _log_split(e, u)
    # c = log(1 + x) - log(u), divided by u; negligible once u >= 2^(mant_bits + 2)
    c = e.sel(e.cmp(">=", dk, 2.0), e.sub(1.0, e.sub(u, x)), e.sub(x, e.sub(u, 1.0)))
    c = e.sel(e.cmp("<", dk, k.mant_bits + 2.0), e.div(c, u), 0.0)
    near = e.b.and_(e.cmp(">=", x, math.sqrt(0.5) - 1.0), e.cmp("<", x, math.sqrt(2.0) - 1.0))
    f = e.sel(near, x, f)
    dk = e.sel(near, 0.0, dk)
    c = e.sel(near, 0.0, c)
    y = _log_core(e, f, dk, c)
    y = e.sel(e.cmp("<", e.intrinsic("fabs", x), k.tiny), x, y)
    return _log_special(e, x, y, -1.0)


_BODIES = {"exp": _exp, "expm1": _expm1, "log": _log, "log1p": _log1p, "tanh": _tanh,
           "sigmoid": _sigmoid}
