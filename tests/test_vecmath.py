"""Numerics of the vector math (compiler/backends/llvm/vecmath.py), float32 and float64.

Each function is compiled as a loop `y[i] = f(x[i])` (O3, host CPU, JIT) and checked for:
special values exactly as the exact result rounded (NaN, infinities, signed zeros,
denormals, overflow and underflow boundaries); the documented ULP bound
(docs/numerics.md) on seeded random inputs and a sweep over all exponents, against
numpy's result in a wider format (float64 for float32, long double for float64); and
that the loop vectorized, both alone and through the compiler's real pipeline. The
exhaustive float32 measurement over all 2^32 inputs is `benchmarks/ulp.py`.
"""

from __future__ import annotations

import ctypes
import re

import numpy as np
import pytest
from llvmlite import ir
from oracle import Compiled, prim

from compiler.backends.llvm import target, vecmath
from runtime.llvm_jit import JitLibrary

#: documented bounds (docs/numerics.md), in ULPs against the exact result
BOUND = {"float32": {"exp": 1.0, "expm1": 1.5, "log": 1.0, "log1p": 1.0, "tanh": 1.5,
                     "sigmoid": 2.0},
         "float64": {"exp": 1.0, "expm1": 2.0, "log": 1.0, "log1p": 1.0, "tanh": 1.5,
                     "sigmoid": 2.0}}
DTYPES = ("float32", "float64")
WIDE = {"float32": np.float64, "float64": np.longdouble}


def _loop_module(name, ty):
    i64 = ir.IntType(64)
    module = ir.Module(name=f"vm_{name}")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ty.as_pointer()] * 2 + [i64]),
                     name="kernel")
    x, y, n = fn.args
    x.add_attribute("noalias")
    y.add_attribute("noalias")
    entry, body, done = (fn.append_basic_block(s) for s in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), body, done)
    b.position_at_end(body)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    b.store(vecmath.call(b, name, b.load(b.gep(x, [i]))), b.gep(y, [i]))
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    ir.IRBuilder(done).ret_void()
    return module


class _Kernel:
    def __init__(self, name, dtype):
        self.dtype = np.dtype(dtype)
        ty = ir.FloatType() if dtype == "float32" else ir.DoubleType()
        self.ir = target.optimize(str(_loop_module(name, ty)))
        self.lib = JitLibrary([target.target_machine().emit_object(self.ir)],
                              target.target_machine())
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
        self.fn = proto(self.lib.address("kernel"))

    def __call__(self, x):
        x = np.ascontiguousarray(x, dtype=self.dtype)
        out = np.empty_like(x)
        self.fn(x.ctypes.data, out.ctypes.data, x.size)
        return out


@pytest.fixture(scope="module")
def kernels():
    return {(name, dt): _Kernel(name, dt) for name in vecmath.FUNCTIONS for dt in DTYPES}


def _exact(name, x):
    """The result in a wider format: float64 for float32, x87 long double for float64."""
    with np.errstate(all="ignore"):
        x = x.astype(WIDE[x.dtype.name])
        if name == "sigmoid":
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return getattr(np, name)(x)


def _ulp_error(got, exact):
    info = np.finfo(got.dtype)
    _, e = np.frexp(exact)
    spacing = np.ldexp(exact.dtype.type(1), np.maximum(e - 1, info.minexp) - info.nmant)
    return np.abs(got.astype(exact.dtype) - exact) / spacing


def _check(name, kernel, x):
    got = kernel(x)
    exact = _exact(name, x)
    with np.errstate(over="ignore"):
        want = exact.astype(x.dtype)
    assert np.array_equal(np.isnan(got), np.isnan(want)), x[np.isnan(got) != np.isnan(want)]
    special = np.isinf(want) | (want == 0) | np.isnan(want)
    np.testing.assert_array_equal(got[special], want[special])
    zeros = special & (want == 0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])), x[zeros]
    err = _ulp_error(got[~special], exact[~special])
    worst = int(np.argmax(err)) if err.size else 0
    bound = BOUND[x.dtype.name][name]
    assert err.size == 0 or err[worst] <= bound, (name, x[~special][worst], err[worst])


def _edges(dtype):
    info = np.finfo(dtype)
    tiny, tmin, big = info.smallest_subnormal, info.smallest_normal, info.max
    common = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, 2 * tiny, tmin, -tmin,
              big, -big, 1.0, -1.0, 0.5, -0.5, 2.0 ** -24, 2.0 ** -30, -2.0 ** -30, 1e-20,
              -1e-20, 17.0, -17.0, 9.01, -9.01, 10.0, 0.55, -0.55, 0.34657359, -0.34657359,
              0.41421354, -0.29289323, -0.9999999, 1e30, -1e30]
    if dtype == "float32":
        limits = [88.72283935546875, 88.72284698486328, 89.0, -87.33654, -88.7228, -103.27893,
                  -103.97207, -104.0, -150.0]
    else:
        limits = [709.782712893384, 709.7827128933841, 710.0, -708.3964185322641,
                  -744.4400719213812, -745.1332191019411, -745.1332191019412, -746.0,
                  -1100.0, 2.0 ** -54, -2.0 ** -60, 22.0, 19.1, 1e300, 1e-300, -37.5]
    return np.array(common + limits, dtype=dtype)


def _bit_sweep(dtype, count=1 << 20):
    """`count` bit patterns evenly spread over all of them (every sign and exponent)."""
    if dtype == "float32":
        return np.arange(0, 1 << 32, (1 << 32) // count, dtype=np.uint64).astype(
            np.uint32).view(np.float32)
    return (np.arange(count, dtype=np.uint64) * np.uint64((1 << 64) // count)).view(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", vecmath.FUNCTIONS)
def test_special_and_edge_values(kernels, name, dtype):
    _check(name, kernels[name, dtype], np.concatenate([_edges(dtype), _bit_sweep(dtype)]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_named_special_values(kernels, dtype):
    inf, nan = np.inf, np.nan
    tiny, big = np.finfo(dtype).smallest_subnormal, np.finfo(dtype).max
    cases = {"exp": [(-inf, 0.0), (inf, inf), (0.0, 1.0), (-0.0, 1.0), (1e4, inf)],
             "expm1": [(-inf, -1.0), (inf, inf), (-0.0, -0.0), (tiny, tiny)],
             "log": [(0.0, -inf), (-0.0, -inf), (-1.0, nan), (-inf, nan), (inf, inf),
                     (1.0, 0.0)],
             "log1p": [(-1.0, -inf), (-2.0, nan), (inf, inf), (-0.0, -0.0), (-tiny, -tiny)],
             "tanh": [(inf, 1.0), (-inf, -1.0), (-0.0, -0.0), (tiny, tiny), (big, 1.0)],
             "sigmoid": [(inf, 1.0), (-inf, 0.0), (0.0, 0.5), (-0.0, 0.5)]}
    for name, pairs in cases.items():
        x = np.array([p[0] for p in pairs] + [nan], dtype=dtype)
        want = np.array([p[1] for p in pairs] + [nan], dtype=dtype)
        got = kernels[name, dtype](x)
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert np.array_equal(np.signbit(got[:-1]), np.signbit(want[:-1])), name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", vecmath.FUNCTIONS)
def test_random_inputs_within_bound(kernels, name, dtype):
    rng = np.random.default_rng(1234)
    n = 150_000 if dtype == "float32" else 50_000
    width = 32 if dtype == "float32" else 64
    bits = rng.integers(0, 1 << width, n, dtype=np.uint64, endpoint=False)
    bits = (bits.astype(np.uint32) if width == 32 else bits).view(dtype)
    scale = {"log": 1e3, "log1p": 1.0}.get(name, 12.0)
    dense = (rng.standard_normal(n) * scale).astype(dtype)
    if name in ("log", "log1p"):
        dense = np.abs(dense) - dense.dtype.type(1.0 if name == "log1p" else 0.0)
    _check(name, kernels[name, dtype], np.concatenate([bits, dense]))


def test_loops_vectorize(kernels):
    for (name, dtype), kernel in kernels.items():
        text = str(kernel.ir)
        vector = r"<(4|8|16) x float>" if dtype == "float32" else r"<(2|4|8) x double>"
        assert re.search(vector, text), (name, dtype)
        calls = re.findall(r"call [^@]*@([\w.]+)", text)
        assert all(c.startswith("llvm.") for c in calls), (name, dtype, calls)


def test_pipeline_vectorizes_elementwise_chain():
    """W1's chain through the compiler: the fused loop of tanh and sigmoid vectorizes."""
    def build(g, x):
        t = prim(g, "tanh", [prim(g, "add", [prim(g, "mul", [x, x]), x])])
        return prim(g, "mul", [t, prim(g, "sigmoid", [prim(g, "exp", [x])])])
    compiled = Compiled(build, [("float32", ("a",))])
    text = compiled.exe.texts["llvm_opt"]
    assert re.search(r"<(4|8|16) x float>", text)
    assert not re.search(r"@(tanhf|expf|logf|log1pf|expm1f)\b", text)
    x = np.linspace(-5, 5, 1001, dtype=np.float32)
    ref, got = compiled.run_both([x])
    np.testing.assert_allclose(got[0], ref[0], rtol=2e-6, atol=1e-6)
