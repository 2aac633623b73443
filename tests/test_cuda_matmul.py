"""The matmul kernels of the CUDA backend (compiler/backends/cuda/matmul.py: the float32
`tiled` form; matmul_mma.py: the float16 tensor-core `mma` form), run on the CPU emulator
(tests/cuda_emulator.py) against numpy at shapes that are not multiples of any tile, with
batches, fused operand expressions, the cp.async fast path and its fallbacks (a misaligned
pointer, an odd stride); and a test that the suite catches a fragment-layout error: the
same kernels built from a copy of the tensor-core generator with one fragment permuted
give wrong results on these cases (while the op suite's small float16 matmul still passes).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from cuda_emulator import emulated_gpu
from oracle import Compiled, assert_close
from test_ops_differential import CASES

import compiler as fc
from compiler.backends.cuda import emit
from compiler.convert import convert
from compiler.pipeline import build_program
from passes.manager import run_pipeline
from runtime import cuda_driver as C
from runtime.variables import VariableStore

GPU = fc.CompileOptions(device="gpu")
#: the float16 cases of issue 19 (M x K x N): not multiples of the 128 x 128 x 32 tile
F16_CASES = [((70, 40), (40, 45)), ((300, 257), (257, 129)), ((33, 17), (17, 31)),
             ((3, 72, 64), (3, 64, 136))]   # batched, both operands on the cp.async path


@pytest.fixture(scope="module")
def gpu():
    with emulated_gpu() as dev:
        yield dev


def _matmul_exe(a_shape, b_shape, dtype, build=None):
    build = build or (lambda a, b: fc.nn.relu(fc.matmul(a, b) + 0.5))
    with fc.Graph().as_default() as g:
        a = fc.placeholder(dtype, [None] * len(a_shape))
        b = fc.placeholder(dtype, [None] * len(b_shape))
        program, _ = run_pipeline(convert(g, [build(a, b)], [a, b]), GPU)
    return build_program(program, GPU)


def _want(a, b, relu=True):
    z = np.matmul(a.astype(np.float64), b.astype(np.float64))
    return np.maximum(z + 0.5, 0) if relu else z


def _run(exe, *feeds):
    return exe.run(list(feeds), VariableStore())[0]


def _f16_operands(a_shape, b_shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(a_shape).astype(np.float16),
            rng.standard_normal(b_shape).astype(np.float16))


def _f16_close(got, a, b):
    """float16 products are exact in float32; sums of float32 (reassociated) then one
    rounding to float16 per epilogue op."""
    want = _want(a, b)
    return got.dtype == np.float16 and \
        np.allclose(got.astype(np.float64), want, rtol=2e-3, atol=2e-2)


@pytest.mark.parametrize("a_shape,b_shape", F16_CASES, ids=str)
def test_emulated_float16_matmul_on_tensor_cores(gpu, a_shape, b_shape):
    exe = _matmul_exe(a_shape, b_shape, fc.float16)
    src = exe.texts["cuda"]
    assert "mma mapping" in src and "fc_ldsm_x4(" in src and "fc_cp_async16(" in src
    a, b = _f16_operands(a_shape, b_shape)
    got = _run(exe, a, b)
    assert _f16_close(got, a, b), np.abs(got.astype(np.float64) - _want(a, b)).max()


def test_emulated_float16_matmul_fallbacks_of_the_cp_async_path(gpu):
    """A pointer off by 2 bytes, and a row slice (constant term 1, stride 48: the runtime
    check refuses) take the register path; a column slice (stride 48, K = 45) takes the
    copy with a partly zero-filled last chunk."""
    a, b = _f16_operands((3, 72, 64), (3, 64, 136), seed=1)
    exe = _matmul_exe(a.shape, b.shape, fc.float16)
    for arr in (a, b):  # each operand misaligned in turn
        base = C.DeviceArray((arr.size + 8,), np.float16)
        view = C.DeviceArray(arr.shape, np.float16, ptr=base.ptr + 2, owner=base)
        C.upload(view.ptr, np.ascontiguousarray(arr))
        feeds = (view, b) if arr is a else (a, view)
        assert (base.ptr + 2) % 16 != 0
        assert _f16_close(_run(exe, *feeds), a, b)
    wide, b2 = _f16_operands((70, 48), (45, 40), seed=2)
    for lo, hi in ((0, 45), (1, 46)):
        exe = _matmul_exe(wide.shape, b2.shape, fc.float16,
                          lambda x, y, lo=lo, hi=hi: fc.nn.relu(fc.matmul(x[:, lo:hi], y) + 0.5))
        assert "fc_fast_a" in exe.texts["cuda"]
        assert _f16_close(_run(exe, wide, b2), wide[:, lo:hi], b2)


def test_emulated_float16_matmul_with_transposed_operands(gpu):
    """Both operands on the register path, staged along their contiguous direction."""
    a, b = _f16_operands((2, 41, 130), (2, 37, 41), seed=5)
    exe = _matmul_exe(a.shape, b.shape, fc.float16, lambda x, y: fc.matmul(
        x, y, transpose_a=True, transpose_b=True))
    assert "fc_Ah[0][fc_e % 128][fc_e / 128]" in exe.texts["cuda"]
    got = _run(exe, a, b).astype(np.float64)
    want = np.matmul(a.transpose(0, 2, 1).astype(np.float64), b.transpose(0, 2, 1))
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-2)


@pytest.mark.parametrize("a_shape,b_shape", [((1, 1), (1, 1)), ((130, 9), (9, 131)),
                                             ((300, 257), (257, 129)),
                                             ((2, 3, 20, 33), (2, 3, 33, 7)), ((5, 0), (0, 3)),
                                             ((0, 4), (4, 3))], ids=str)
def test_emulated_float32_tiled_matmul(gpu, a_shape, b_shape):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    exe = _matmul_exe(a_shape, b_shape, fc.float32)
    assert "tiled mapping" in exe.texts["cuda"] and "fc_vec<float, 4>" in exe.texts["cuda"]
    got = _run(exe, a, b)
    np.testing.assert_allclose(got, _want(a, b), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [fc.float64, fc.int32, fc.int64])
def test_emulated_tiled_matmul_other_dtypes_with_transposed_operands(gpu, dtype):
    rng = np.random.default_rng(4)
    a = rng.integers(-9, 9, (37, 130)).astype(dtype.name)
    b = rng.integers(-9, 9, (19, 37)).astype(dtype.name)
    exe = _matmul_exe(a.shape, b.shape, dtype,
                      lambda x, y: fc.matmul(x, y, transpose_a=True, transpose_b=True))
    np.testing.assert_array_equal(_run(exe, a, b), a.T.astype(np.int64) @ b.T)


# ---- the suite catches a fragment-layout error ---------------------------------------------
def _permuted_generator(monkeypatch, a_regs):
    """Build GPU kernels with a copy of matmul_mma whose A fragment takes the ldmatrix
    registers in the order `a_regs` (the source file is untouched); no compile cache."""
    spec = importlib.util.find_spec("compiler.backends.cuda.matmul_mma")
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    copy.A_REGS = a_regs
    monkeypatch.setattr(emit, "emit_mma", copy.emit_mma)
    monkeypatch.setenv("FLOWC_CACHE", "0")


def test_a_permuted_fragment_fails_the_float16_cases(gpu, monkeypatch):
    # a1 <-> a3: rows 8-15 of every m16 block take k 8-15 for k 0-7 and back
    _permuted_generator(monkeypatch, (0, 3, 2, 1))
    for a_shape, b_shape in F16_CASES:
        exe = _matmul_exe(a_shape, b_shape, fc.float16)
        assert "fc_a[0][1] = fc_r[3];" in exe.texts["cuda"]  # the copy built it
        a, b = _f16_operands(a_shape, b_shape)
        assert not _f16_close(_run(exe, a, b), a, b), (a_shape, b_shape)


def test_the_op_suites_small_float16_matmul_cannot_catch_it(gpu, monkeypatch):
    """K = 4, M <= 5, N = 2: only rows 0-7 and k 0-7 of a fragment matter, so the
    permutation above passes the op suite's case: the cases above are needed."""
    _permuted_generator(monkeypatch, (0, 3, 2, 1))
    case = next(c for c in CASES if c.op == "matmul" and c.specs[0][0] == "float16")
    c = Compiled(case.build, case.specs, options=GPU)
    assert "fc_a[0][1] = fc_r[3];" in c.exe.texts["cuda"]
    for a, b, seed in ((5, 3, 1), (2, 1, 3)):
        rng = np.random.default_rng(seed)
        ref, got = c.run_both(case.arrays(rng, {"a": a, "b": b}), {}, counter=seed)
        for g, r in zip(got, ref):
            assert_close(g, r, tol=case.tol)
