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
    assert "fc_o_p1" in kernel(pad) and "fc_v_" not in kernel(pad)
    rng = np.random.default_rng(7)
    for n, m in ((0, 0), (0, 5), (3, 0), (1, 4), (5, 1030)):
        _check(concat, [rng.standard_normal(n).astype(np.float32),
                        rng.standard_normal(m).astype(np.float32)])
        _check(pad, [rng.standard_normal(m).astype(np.float32)])


def test_transpose_stores_wide_and_loads_scalar(gpu):
    c = Compiled(lambda g, x: fc.transpose(fc.exp(x)), [("float32", (None, 3))], options=GPU)
    src = c.exe.texts["cuda"]
    assert "fc_o_p1" in src and "fc_v_" not in src
    for rows in (0, 1, 7, 50):
        _check(c, [np.random.default_rng(rows).standard_normal((rows, 3)).astype(np.float32)])


# ---- branch-free helpers: the bits of the forms they replaced ----------------------------
#: the helpers as they were (branches and early returns), under old_ names
_OLD_HELPERS = r"""
template <typename F> static inline F old_sigmoid(F x) {
  if (x >= (F)0) return (F)1 / ((F)1 + exp(-x));
  F e = exp(x);
  return e / ((F)1 + e);
}
template <typename T> static inline T old_fmax(T a, T b) {
  if (a != a || b != b) return a + b;
  if (a == 0 && b == 0) return a + b;
  return a > b ? a : b;
}
template <typename T> static inline T old_fmin(T a, T b) {
  if (a != a || b != b) return a + b;
  if (a == 0 && b == 0) return -((-a) + (-b));
  return a < b ? a : b;
}
static inline int old_to_i32(double x) {
  return x != x ? 0 : x >= 2147483648.0 ? 2147483647
       : x <= -2147483649.0 ? (-2147483647 - 1) : (int)x;
}
static inline signed char old_to_i8(double x) {
  return x != x ? 0 : x >= 127.0 ? 127 : x <= -128.0 ? -128 : (signed char)x;
}
static inline short old_to_i16(double x) {
  return x != x ? 0 : x >= 32767.0 ? 32767 : x <= -32768.0 ? -32768 : (short)x;
}
static inline unsigned char old_to_u8(double x) {
  return x != x || x <= 0.0 ? 0 : x >= 255.0 ? 255 : (unsigned char)x;
}
static inline unsigned short old_to_u16(double x) {
  return x != x || x <= 0.0 ? 0 : x >= 65535.0 ? 65535 : (unsigned short)x;
}
static inline unsigned int old_to_u32(double x) {
  return x != x || x <= 0.0 ? 0u : x >= 4294967295.0 ? 4294967295u : (unsigned int)x;
}
#define SAME(a, b) (sizeof(a) == sizeof(b) && memcmp(&(a), &(b), sizeof(a)) == 0)
template <typename F> static long long check_pair(F x, F y) {
  F c = fc_fmax(x, y), d = old_fmax(x, y), e = fc_fmin(x, y), f = old_fmin(x, y);
  return !SAME(c, d) + !SAME(e, f);
}
/* x[:edges] are the edge values: every pair of them, and 3 partners for every value */
template <typename F> static long long check_float(const F* x, long long n, long long edges) {
  long long bad = 0;
  for (long long k = 0; k < n; ++k) {
    F a = fc_sigmoid(x[k]), b = old_sigmoid(x[k]);
    bad += !SAME(a, b);
    for (long long j = 0; k < edges && j < edges; ++j) bad += check_pair(x[k], x[j]);
    bad += check_pair(x[k], x[(k * 40503 + 17) % n]) + check_pair(x[k], x[k % edges]) +
           check_pair(x[k % edges], x[k]);
  }
  return bad;
}
extern "C" long long check_f32(const float* x, long long n, long long edges) {
  return check_float(x, n, edges);
}
extern "C" long long check_f64(const double* x, long long n, long long edges) {
  long long bad = check_float(x, n, edges);
  for (long long k = 0; k < n; ++k) {
    int a = fc_to_i32(x[k]), b = old_to_i32(x[k]);
    signed char c = fc_to_i8(x[k]), d = old_to_i8(x[k]);
    short e = fc_to_i16(x[k]), f = old_to_i16(x[k]);
    unsigned char g = fc_to_u8(x[k]), h = old_to_u8(x[k]);
    unsigned short i = fc_to_u16(x[k]), j = old_to_u16(x[k]);
    unsigned int l = fc_to_u32(x[k]), m = old_to_u32(x[k]);
    bad += !SAME(a, b) + !SAME(c, d) + !SAME(e, f) + !SAME(g, h) + !SAME(i, j) + !SAME(l, m);
  }
  return bad;
}
"""


def _edges(dtype):
    """Zeros, subnormals, infinities, NaNs with payloads and signs, and the edges of every
    integer range a conversion saturates at (and their neighbours)."""
    info = np.finfo(dtype)
    vals = [0.0, -0.0, info.smallest_subnormal, -info.smallest_subnormal, info.tiny,
            -info.tiny, info.max, -info.max, np.inf, -np.inf, 88.7, -88.7, 103.9, -103.9,
            709.0, -745.0]
    for lim in (127, 128, 255, 256, 32767, 32768, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 63):
        for v in (lim - 1, lim, lim + 1, -lim - 1, -lim, -lim + 1):
            vals += [v, np.nextafter(dtype(v), dtype(np.inf)),
                     np.nextafter(dtype(v), dtype(-np.inf)), v + 0.5, v - 0.5]
    out = np.array(vals, dtype)
    nans = np.array([0x7FC00001, 0xFFC00001, 0x7F800001, 0xFF800001], np.uint32)
    if dtype is np.float64:
        nans = np.array([0x7FF8000000000001, 0xFFF8000000000001, 0x7FF0000000000001,
                         0xFFF0000000000001], np.uint64)
    return np.concatenate([out, nans.view(dtype)])


def test_branch_free_helpers_have_the_bits_of_the_forms_they_replaced():
    """fc_sigmoid, fc_fmax, fc_fmin and fc_to_{i8,i16,i32,u8,u16,u32}: the same bits as the
    branching forms for every float32 tested (a stride through the bit patterns: all signs,
    exponents, subnormals, NaN payloads; every 997th: 4.3 M values, ~0.5 s) and many float64."""
    cxx = shutil.which("g++") or shutil.which("c++")
    assert cxx, "g++ is needed (the CUDA emulator needs it too)"
    with tempfile.TemporaryDirectory() as d:
        src, so = os.path.join(d, "s.cpp"), os.path.join(d, "s.so")
        with open(src, "w") as f:
            f.write("#include <math.h>\n#include <string.h>\n" + cstyle.CStyleOps().helpers()
                    + _OLD_HELPERS)
        subprocess.run([cxx, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-w", src, "-o",
                        so], check=True)
        lib = ctypes.CDLL(so)
        lib.check_f32.restype = lib.check_f64.restype = ctypes.c_longlong
        f32 = np.concatenate([_edges(np.float32), np.arange(0, 1 << 32, 997, dtype=np.uint64)
                              .astype(np.uint32).view(np.float32)])
        assert lib.check_f32(f32.ctypes.data_as(ctypes.c_void_p), ctypes.c_longlong(f32.size),
                             ctypes.c_longlong(_edges(np.float32).size)) == 0
        rng = np.random.default_rng(0)
        f64 = np.concatenate([_edges(np.float64), rng.integers(0, 1 << 64, 1 << 20,
                                                               dtype=np.uint64).view(np.float64),
                              rng.standard_normal(1 << 20) * 4e4,
                              np.round(rng.standard_normal(1 << 16) * 3e9) + 0.5])
        assert lib.check_f64(f64.ctypes.data_as(ctypes.c_void_p), ctypes.c_longlong(f64.size),
                             ctypes.c_longlong(_edges(np.float64).size)) == 0


def test_session_variable_updated_in_place(gpu):
    """v += x * 2 on the device for sizes around the group: the variable's buffer is
    loaded and stored by the same kernel (vector load first, then the vector store)."""
    for n in (1, 3, 4, 5, 1027):
        rng = np.random.default_rng(n)
        init = rng.standard_normal(n).astype(np.float32)
        with fc.Graph().as_default():
            with fc.device("/gpu:0"):
                v = fc.Variable(init, name="v")
                x = fc.placeholder(fc.float32, [n], name="x")
                step = fc.assign_add(v, x * 2.0)
            with fc.Session() as sess:
                sess.run(v.initializer)
                want = init.copy()
                for _ in range(3):
                    feed = rng.standard_normal(n).astype(np.float32)
                    sess.run(step, {x: feed})
                    want = want + feed * np.float32(2.0)
                np.testing.assert_array_equal(sess.run(v), want)
                src = next(iter(sess._cache.values())).texts["cuda"]
    assert "fc_vec<float, 4>" in src


def test_extents_that_are_not_polynomials_leave_nothing_flat(gpu):
    """x[:, ::2]: the inner extent (s1 + 1) / 2 is no polynomial, so no flat index (no
    access is widened or rewritten); the scalar path computes it."""
    c = Compiled(lambda g, x: fc.exp(x[:, ::2]), [("float32", (None, None))], options=GPU)
    src = c.exe.texts["cuda"]
    kernel = src[src.index("// kernel "):]
    assert "fc_vec<" not in kernel and "fc_l0_" not in kernel
    for shape in ((0, 4), (3, 0), (2, 1), (3, 5), (40, 9)):
        _check(c, [np.random.default_rng(1).standard_normal(shape).astype(np.float32)])
