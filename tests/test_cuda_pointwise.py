"""The pointwise form of grid kernels (compiler/backends/cuda/pointwise.py): flat-index
detection, the vector path (128-bit accesses, run-time alignment check, scalar tail) and
the scalar path (misaligned pointers, non-flat stores), run on the CPU through
tests/cuda_emulator.py against the interpreter; and the branch-free fc_sigmoid, bit for
bit against the two-branch form it replaced."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from cuda_emulator import emulated_gpu
from oracle import Compiled, assert_close, prim

import compiler as fc
from compiler.backends import cstyle
from compiler.backends.cuda import pointwise as P
from compiler.interpret import interpret
from compiler.ir import dtypes as T
from compiler.lower import kir as K
from runtime.variables import VariableStore

GPU = fc.CompileOptions(device="gpu")


@pytest.fixture(scope="module")
def gpu():
    with emulated_gpu() as dev:
        yield dev


def _w1(g, x):
    return fc.tanh(x * 1.5 + 0.3) * fc.sigmoid(x) - 0.5 * x * x


def _check(c, arrays, variables=None):
    ref, got = c.run_both(arrays, variables)
    for r, o in zip(ref, got):
        assert_close(o, r)


# ---- flat indices -----------------------------------------------------------------------
def test_flat_index_is_compared_as_a_polynomial():
    i, j, k = K.Var("i"), K.Var("j"), K.Var("k")
    s0 = K.SymRef("s0")

    def add(a, b):
        return K.Binary("add", a, b, T.int64)

    def mul(a, b):
        return K.Binary("mul", a, b, T.int64)
    chain = [K.Loop("i", K.IConst(7), ()), K.Loop("j", s0, ()), K.Loop("k", K.IConst(3), ())]
    flat = P.flat_poly(chain)
    assert P.poly(add(mul(add(mul(i, s0), j), K.IConst(3)), k), {"i", "j", "k"}) == flat
    # the same sum written otherwise: i*3*s0 + 3*j + k
    other = add(add(mul(mul(i, K.IConst(3)), s0), mul(K.IConst(3), j)), k)
    assert P.poly(other, {"i", "j", "k"}) == flat
    # a broadcast (k alone), a transpose and an idiv are not flat
    assert P.poly(k, {"i", "j", "k"}) != flat
    assert P.poly(add(mul(add(mul(j, K.IConst(7)), i), K.IConst(3)), k), {"i", "j", "k"}) \
        != flat
    assert P.poly(K.Binary("idiv", i, K.IConst(2), T.int64), {"i"}) is None
    assert P.poly(K.Var("t1"), {"i"}) is None  # a Let variable is not expanded


# ---- emulated runs ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 1027])
def test_vector_path_and_its_tail(gpu, n):
    c = Compiled(_w1, [("float32", (None,))], options=GPU)
    src = c.exe.texts["cuda"]
    assert "fc_vec<float, 4>" in src and "the last fc_n % 4 elements" in src
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 4
    _check(c, [x])


def test_misaligned_pointers_take_the_scalar_path(gpu):
    from runtime import cuda_driver as C
    c = Compiled(_w1, [("float32", (None,))], options=GPU)
    for n in (1, 4, 5, 1027):
        host = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        want, _ = interpret(c.program, [host], {}, 0)
        base_in, base_out = C.DeviceArray((n + 4,), np.float32), C.DeviceArray((n + 4,),
                                                                               np.float32)
        for shift_in, shift_out in ((4, 4), (0, 4), (4, 0), (8, 0), (0, 0)):
            src = C.DeviceArray((n,), np.float32, ptr=base_in.ptr + shift_in, owner=base_in)
            C.upload(src.ptr, host)
            dst = C.DeviceArray((n,), np.float32, ptr=base_out.ptr + shift_out,
                                owner=base_out)
            got = c.exe.run([src], VariableStore(), 0, out=[dst])[0]
            assert got is dst and (dst.ptr % 16 != 0) == (shift_out != 0)
            assert_close(dst.numpy(), want[0])


@pytest.mark.parametrize("cols", [64, 3])
def test_bias_broadcast_stays_a_scalar_load(gpu, cols):
    c = Compiled(lambda g, x, b: fc.nn.relu(x + b), [("float32", (None, cols)),
                                                     ("float32", (cols,))], options=GPU)
    src = c.exe.texts["cuda"]
    assert "fc_vec<float, 4>" in src and "p1[i2]" in src
    rng = np.random.default_rng(cols)
    for rows in (0, 1, 5, 33):
        _check(c, [rng.standard_normal((rows, cols)).astype(np.float32),
                   rng.standard_normal(cols).astype(np.float32)])


@pytest.mark.parametrize("dtype,group", [("float16", 8), ("float64", 2)])
def test_float16_and_float64(gpu, dtype, group):
    c = Compiled(lambda g, x, y: fc.sigmoid(x) * y - x, [(dtype, (None,)), (dtype, (None,))],
                 options=GPU)
    assert f", {group}>" in c.exe.texts["cuda"]
    rng = np.random.default_rng(3)
    for n in (0, group - 1, group + 1, 1027):
        _check(c, [rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)])


def test_bool_and_int_outputs(gpu):
    def build(g, x, y, m):
        return [fc.logical_and(x > y, m), fc.cast(x, fc.int32) + fc.cast(y, fc.int32) * 3]
    c = Compiled(build, [("float32", (None,)), ("float32", (None,)), ("bool", (None,))],
                 options=GPU)
    src = c.exe.texts["cuda"]
    assert "fc_vec<unsigned char, 4>" in src  # bool as bytes, 4 per float32 group
    rng = np.random.default_rng(4)
    for n in (0, 1, 3, 5, 17, 1027):
        x = (rng.standard_normal(n) * 5).astype(np.float32)
        y = (rng.standard_normal(n) * 5).astype(np.float32)
        _check(c, [x, y, rng.random(n) > 0.5])


def test_bool_only_kernel_moves_16_per_access(gpu):
    c = Compiled(lambda g, a, b: fc.logical_or(fc.logical_not(a), b),
                 [("bool", (None,)), ("bool", (None,))], options=GPU)
    assert "fc_vec<unsigned char, 16>" in c.exe.texts["cuda"]
    rng = np.random.default_rng(5)
    for n in (0, 15, 17, 1027):
        _check(c, [rng.random(n) > 0.5, rng.random(n) > 0.5])


def test_in_place_variable_update(gpu):
    shape = (33, 5)

    def build(g, value, cur):
        return prim(g, "assign_add", [cur, value], var="v", dtype=T.float32, shape=shape)
    c = Compiled(build, [("float32", shape), ("float32", shape)], options=GPU)
    rng = np.random.default_rng(6)
    v = rng.standard_normal(shape).astype(np.float32)
    _check(c, [rng.standard_normal(shape).astype(np.float32), v], {"v": v})


def test_guarded_accesses_are_never_widened(gpu):
    """concat: the stores sit under an If (scalar path only), and the first input's load
    `p[i1 - 0]` is flat but guarded (that input is shorter than the output), so it is not
    hoisted; pad: flat stores (vector path) around a guarded load that stays scalar."""
    def kernel(c):
        src = c.exe.texts["cuda"]
        return src[src.index("// kernel "):]
    concat = Compiled(lambda g, x, y: fc.concat([fc.exp(x), y], 0),
                      [("float32", (None,)), ("float32", (None,))], options=GPU)
    assert "fc_vec<" not in kernel(concat) and "fc_l0_" not in kernel(concat)
    pad = Compiled(lambda g, x: fc.pad(fc.exp(x), [[1, 2]]), [("float32", (None,))],
                   options=GPU)
    assert "fc_o0_p1" in kernel(pad) and "fc_v0_" not in kernel(pad)
    rng = np.random.default_rng(7)
    for n, m in ((0, 0), (0, 5), (3, 0), (1, 4), (5, 1030)):
        _check(concat, [rng.standard_normal(n).astype(np.float32),
                        rng.standard_normal(m).astype(np.float32)])
        _check(pad, [rng.standard_normal(m).astype(np.float32)])


def test_transpose_stores_wide_and_loads_scalar(gpu):
    c = Compiled(lambda g, x: fc.transpose(fc.exp(x)), [("float32", (None, 3))], options=GPU)
    src = c.exe.texts["cuda"]
    assert "fc_o0_p1" in src and "fc_v0_" not in src
    for rows in (0, 1, 7, 50):
        _check(c, [np.random.default_rng(rows).standard_normal((rows, 3)).astype(np.float32)])


# ---- fc_sigmoid: branch-free, the same bits -------------------------------------------------
_OLD_SIGMOID = r"""
static inline float old_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}
static inline double old_sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}
extern "C" long long mismatches_f32(const unsigned int* bits, long long n) {
  long long bad = 0;
  for (long long k = 0; k < n; ++k) {
    float x, a, b; memcpy(&x, &bits[k], 4);
    a = fc_sigmoid(x); b = old_sigmoid(x);
    bad += memcmp(&a, &b, 4) != 0;
  }
  return bad;
}
extern "C" long long mismatches_f64(const unsigned long long* bits, long long n) {
  long long bad = 0;
  for (long long k = 0; k < n; ++k) {
    double x, a, b; memcpy(&x, &bits[k], 8);
    a = fc_sigmoid(x); b = old_sigmoid(x);
    bad += memcmp(&a, &b, 8) != 0;
  }
  return bad;
}
"""


def test_branch_free_sigmoid_has_the_bits_of_the_two_branch_form():
    cxx = shutil.which("g++") or shutil.which("c++")
    assert cxx, "g++ is needed (the CUDA emulator needs it too)"
    with tempfile.TemporaryDirectory() as d:
        src, so = os.path.join(d, "s.cpp"), os.path.join(d, "s.so")
        with open(src, "w") as f:
            f.write("#include <math.h>\n#include <string.h>\n" + cstyle.CStyleOps().helpers()
                    + _OLD_SIGMOID)
        subprocess.run([cxx, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-w", src, "-o",
                        so], check=True)
        lib = ctypes.CDLL(so)
        lib.mismatches_f32.restype = lib.mismatches_f64.restype = ctypes.c_longlong
        special = np.array([0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, -1.1754942e-38, np.inf,
                            -np.inf, np.nan, -np.nan, 88.7, -88.7, 103.9, -103.9, 1e30, -1e30],
                           np.float32).view(np.uint32)
        nan_payloads = np.array([0x7FC00001, 0xFFC00001, 0x7F800001, 0xFF800001], np.uint32)
        # every 97th float32 bit pattern (44 million values: all signs, exponents, subnormals)
        f32 = np.concatenate([special, nan_payloads,
                              np.arange(0, 1 << 32, 97, dtype=np.uint64).astype(np.uint32)])
        assert lib.mismatches_f32(f32.ctypes.data_as(ctypes.c_void_p),
                                  ctypes.c_longlong(f32.size)) == 0
        f64 = np.concatenate([
            np.array([0.0, -0.0, 5e-324, -5e-324, np.inf, -np.inf, np.nan, 709.0, -745.0],
                     np.float64).view(np.uint64),
            np.random.default_rng(0).integers(0, 1 << 64, 1 << 20, dtype=np.uint64,
                                              endpoint=False),
            np.random.default_rng(1).standard_normal(1 << 20).__mul__(40).view(np.uint64)])
        assert lib.mismatches_f64(f64.ctypes.data_as(ctypes.c_void_p),
                                  ctypes.c_longlong(f64.size)) == 0
