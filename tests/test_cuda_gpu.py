"""The CUDA backend on a GPU: the same differential tests as the CPU backend (every op-suite
case and random fused graphs against the interpreter), random numbers bit for bit,
the error flag, variables that stay on the device, GPU-array feeds. Every test skips
when no GPU is present (the only skip); tests/test_cuda_codegen.py covers what runs
without one."""

from __future__ import annotations

import numpy as np
import pytest
import test_cuda_matmul as MM
from hypothesis import given
from hypothesis import strategies as st
from oracle import REDUCE_TOL, Compiled, assert_close
from test_fusion import OPS as FUSION_OPS
from test_fusion import _random_graph
from test_ops_differential import CASES

import compiler as fc
from compiler.convert import convert
from compiler.interpret import interpret
from compiler.pipeline import build_program
from passes.manager import run_pipeline
from runtime import cuda_driver as C
from runtime.errors import ExecutionError
from runtime.variables import VariableStore

pytestmark = pytest.mark.skipif(not C.gpu_available(), reason="no GPU on this machine")

GPU = fc.CompileOptions(device="gpu")
_compiled: dict = {}


def _gpu_compiled(case):
    c = _compiled.get(id(case))
    if c is None:
        c = _compiled[id(case)] = Compiled(case.build, case.specs, options=GPU)
    return c


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(a=st.sampled_from([0, 1, 2, 5]), b=st.sampled_from([0, 1, 3]),
       seed=st.integers(0, 2**16))
def test_gpu_matches_interpreter(case, a, b, seed):
    rng = np.random.default_rng(seed)
    arrays = case.arrays(rng, {"a": a, "b": b})
    variables = {"v": rng.standard_normal((2, 3)).astype(np.float32)}
    ref, got = _gpu_compiled(case).run_both(arrays, variables, counter=seed)
    if ref is None:
        return
    for g, r in zip(got, ref):
        assert_close(g, r, tol=case.tol)


@given(ops=st.lists(FUSION_OPS, min_size=1, max_size=7), n=st.sampled_from([1, 3, 9, 300]),
       seed=st.integers(0, 1000))
def test_random_fused_graphs_on_the_gpu(ops, n, seed):
    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        y = fc.placeholder(fc.float32, [None, 4], name="y")
        program = convert(g, _random_graph(ops, x, y)[-2:], [x, y])
    optimized, _ = run_pipeline(program, GPU)
    exe = build_program(optimized, GPU)
    rng = np.random.default_rng(seed)
    feeds = [rng.standard_normal((n, 4)).astype(np.float32) for _ in range(2)]
    want, _ = interpret(program, feeds)
    for a, b in zip(exe.run(feeds, VariableStore()), want):
        assert_close(a, b, tol=REDUCE_TOL)


@pytest.mark.parametrize("shape", [(3, 5), (1000, 37), (7, 5000), (0, 4)])
def test_softmax_and_sums_at_sizes_that_exercise_the_block_reductions(shape):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with fc.Graph().as_default():
        xp = fc.placeholder(fc.float32, [None, shape[1]], name="x")
        fetches = [fc.nn.softmax(xp), fc.reduce_sum(xp, axis=0), fc.reduce_max(xp),
                   fc.reduce_sum(xp, axis=1)]
        results = []
        for device in ("gpu", "cpu"):
            with fc.Session(config=fc.ConfigProto(device=device)) as sess:
                results.append(sess.run(fetches, {xp: x}))
    for g, c in zip(*results):
        assert_close(g, c, tol=REDUCE_TOL)


def test_matmul_with_an_epilogue_against_numpy():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((300, 257)).astype(np.float32)
    b = rng.standard_normal((257, 129)).astype(np.float32)
    with fc.Graph().as_default():
        ap = fc.placeholder(fc.float32, [None, 257])
        y = fc.nn.relu(fc.matmul(ap, fc.constant(b)) + 1.0)
        with fc.Session(config=fc.ConfigProto(device="gpu")) as sess:
            got = sess.run(y, {ap: a})
    want = np.maximum(a.astype(np.float64) @ b + 1.0, 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m, k, n", [(70, 40, 45), (300, 257, 129), (33, 17, 31)])
def test_float16_matmul_on_the_tensor_cores_against_numpy(m, k, n):
    # float16 operands, float32 accumulation (mma.m16n8k16): sizes that are no multiple
    # of a tile, K over several k-steps, so every fragment register of A and B matters
    rng = np.random.default_rng(m)
    a = rng.standard_normal((m, k)).astype(np.float16)
    b = rng.standard_normal((k, n)).astype(np.float16)
    with fc.Graph().as_default():
        ap = fc.placeholder(fc.float16, [None, k])
        bp = fc.placeholder(fc.float16, [k, None])
        y = fc.nn.relu(fc.matmul(ap, bp) + 0.5)
        with fc.Session(config=fc.ConfigProto(device="gpu")) as sess:
            got = sess.run(y, {ap: a, bp: b})
            assert "mma mapping" in next(iter(sess._cache.values())).texts["cuda"]
    want = np.maximum(a.astype(np.float64) @ b.astype(np.float64) + 0.5, 0)
    assert got.dtype == np.float16 and got.shape == (m, n)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3, atol=2e-2)


@pytest.mark.parametrize("dtype", [fc.float32, fc.float64])
def test_random_uniform_bits_match_the_interpreter(dtype):
    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None])
        r = fc.random_uniform([1000, 3], dtype=dtype, seed=5)
        program = convert(g, [r], [x])
    exe = build_program(program, GPU)
    for counter in (0, 1, 2**33 + 7):
        want, _ = interpret(program, [np.ones(1, np.float32)], {}, counter)
        got = exe.run([np.ones(1, np.float32)], VariableStore(), counter)
        np.testing.assert_array_equal(got[0], want[0])


def test_an_out_of_range_gather_raises_the_cpu_runtime_error():
    with fc.Graph().as_default():
        p = fc.placeholder(fc.float32, [None, 2])
        i = fc.placeholder(fc.int32, [None])
        y = fc.gather(p, i)
        feeds = {p: np.ones((3, 2), np.float32), i: np.array([0, 5], np.int32)}
        messages = []
        for device in ("gpu", "cpu"):
            with fc.Session(config=fc.ConfigProto(device=device)) as sess:
                with pytest.raises(ExecutionError) as info:
                    sess.run(y, feeds)
                messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_variables_stay_on_the_device_across_runs():
    with fc.Graph().as_default():
        with fc.device("/gpu:0"):
            v = fc.Variable(np.zeros(4, np.float32), name="v")
            step = fc.assign_add(v, np.ones(4, np.float32))
        with fc.Session() as sess:
            sess.run(v.initializer)
            for _ in range(3):
                sess.run(step)
            assert "v" in sess._store._device
            np.testing.assert_array_equal(sess.run(v), np.full(4, 3, np.float32))
            np.testing.assert_array_equal(sess._store.get("v"), np.full(4, 3, np.float32))


def test_gpu_arrays_are_fed_in_place():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = fc.exp(x) * 2.0
        host = np.linspace(-1, 1, 1000, dtype=np.float32)
        dev = C.DeviceArray.from_numpy(host)
        with fc.Session(config=fc.ConfigProto(device="gpu")) as sess:
            got = sess.run(y, {x: dev})
            want = sess.run(y, {x: host})
            np.testing.assert_array_equal(got, want)
            for lib in ("cupy", "torch"):
                mod = _try_import(lib)
                if mod is None:
                    continue
                arr = mod.asarray(host) if lib == "cupy" else mod.tensor(host, device="cuda")
                np.testing.assert_array_equal(sess.run(y, {x: arr}), want)


def _try_import(name):
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001
        return None


# ---- matmul kernels: the emulated cases of tests/test_cuda_matmul.py on the hardware ------
@pytest.mark.parametrize("a_shape,b_shape", MM.F16_CASES, ids=str)
def test_float16_matmul_on_tensor_cores_against_numpy(a_shape, b_shape):
    exe = MM._matmul_exe(a_shape, b_shape, fc.float16)
    a, b = MM._f16_operands(a_shape, b_shape)
    got = MM._run(exe, a, b)
    assert MM._f16_close(got, a, b), np.abs(got.astype(np.float64) - MM._want(a, b)).max()


def test_float16_matmul_with_a_permuted_fragment_fails_on_the_gpu(monkeypatch):
    MM._permuted_generator(monkeypatch, (0, 3, 2, 1))
    for a_shape, b_shape in MM.F16_CASES:
        a, b = MM._f16_operands(a_shape, b_shape)
        assert not MM._f16_close(MM._run(MM._matmul_exe(a_shape, b_shape, fc.float16), a, b),
                                 a, b)


@pytest.mark.parametrize("a_shape,b_shape", [((300, 257), (257, 129)),
                                             ((2, 3, 20, 33), (2, 3, 33, 7))], ids=str)
def test_float32_tiled_matmul_against_numpy(a_shape, b_shape):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    got = MM._run(MM._matmul_exe(a_shape, b_shape, fc.float32), a, b)
    np.testing.assert_allclose(got, MM._want(a, b), rtol=1e-5, atol=1e-4)
