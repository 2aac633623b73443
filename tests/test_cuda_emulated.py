"""The CUDA backend's generated kernels and host runtime, run on the CPU through
tests/cuda_emulator.py (g++ and threads standing in for the GPU and its driver), against
the interpreter. This runs on every machine; tests/test_cuda_gpu.py runs the same kind of
tests on a real GPU. A representative set of op cases runs by default (every mapping,
every float dtype, matmul, gather's error flag, scatter, random numbers);
FLOWC_CUDA_EMULATE_ALL=1 runs one case of every (op, dtype) of the op suite (~2 min)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from cuda_emulator import emulated_gpu
from oracle import REDUCE_TOL, Compiled, assert_close
from test_fusion import _random_graph
from test_ops_differential import CASES

import compiler as fc
from compiler.convert import convert
from compiler.interpret import interpret
from compiler.pipeline import build_program
from passes.manager import run_pipeline
from runtime.errors import ExecutionError
from runtime.variables import VariableStore

GPU = fc.CompileOptions(device="gpu")
_DEFAULT_OPS = ("exp", "tanh", "div", "mod", "maximum", "cast", "select", "reduce_sum",
                "reduce_max", "reduce_prod", "argmax", "transpose", "concat", "pad", "gather",
                "scatter_add", "dynamic_update_slice", "matmul", "conv", "random_uniform",
                "random_normal", "assign_add", "iota", "shape", "patches", "fold")


def _selected():
    everything = os.environ.get("FLOWC_CUDA_EMULATE_ALL") == "1"
    seen, out = set(), []
    for case in CASES:
        key = (case.op, case.specs[0][0]) if everything else case.op
        if key in seen or (not everything and case.op not in _DEFAULT_OPS):
            continue
        seen.add(key)
        out.append(case)
    return out


@pytest.fixture(scope="module")
def gpu():
    with emulated_gpu() as dev:
        yield dev


@pytest.mark.parametrize("case", _selected(), ids=repr)
def test_emulated_gpu_matches_interpreter(gpu, case):
    c = Compiled(case.build, case.specs, options=GPU)
    for a, b, seed in ((5, 3, 1), (0, 1, 2), (2, 0, 3), (1, 3, 4)):
        rng = np.random.default_rng(seed)
        arrays = case.arrays(rng, {"a": a, "b": b})
        variables = {"v": rng.standard_normal((2, 3)).astype(np.float32)}
        ref, got = c.run_both(arrays, variables, counter=seed)
        if ref is None:
            continue
        for g, r in zip(got, ref):
            assert_close(g, r, tol=case.tol)


@pytest.mark.parametrize("seed", range(4))
def test_emulated_random_fused_graphs(gpu, seed):
    rng = np.random.default_rng(seed)
    kinds = ["exp", "tanh", "add", "mul", "rowsum", "rowmax", "colsum", "softmax", "dense"]
    ops = [(kinds[rng.integers(len(kinds))], int(rng.integers(31)), int(rng.integers(31)))
           for _ in range(5)]
    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        y = fc.placeholder(fc.float32, [None, 4], name="y")
        program = convert(g, _random_graph(ops, x, y)[-2:], [x, y])
    exe = (build_program(run_pipeline(program, GPU)[0], GPU))
    for n in (1, 70):
        feeds = [rng.standard_normal((n, 4)).astype(np.float32) for _ in range(2)]
        want, _ = interpret(program, feeds)
        for a, b in zip(exe.run(feeds, VariableStore()), want):
            assert_close(a, b, tol=REDUCE_TOL)


def test_emulated_random_uniform_bits_are_the_interpreters(gpu):
    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None])
        outs = [fc.random_uniform([50, 3], dtype=dt, seed=5) for dt in (fc.float32, fc.float64)]
        program = convert(g, outs, [x])
    exe = (build_program(program, GPU))
    for counter in (0, 1, 2**33 + 7):
        want, _ = interpret(program, [np.ones(1, np.float32)], {}, counter)
        got = exe.run([np.ones(1, np.float32)], VariableStore(), counter)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_emulated_session_keeps_variables_on_the_device(gpu):
    with fc.Graph().as_default():
        with fc.device("/gpu:0"):
            v = fc.Variable(np.zeros(4, np.float32), name="v")
            step = fc.assign_add(v, np.ones(4, np.float32))
        with fc.Session() as sess:
            sess.run(v.initializer)
            for _ in range(3):
                sess.run(step)
            assert "v" in sess._store._device and "v" not in sess._store._values
            np.testing.assert_array_equal(sess.run(v), np.full(4, 3, np.float32))
            np.testing.assert_array_equal(sess._store.get("v"), np.full(4, 3, np.float32))
            v.load(np.full(4, 10, np.float32), sess)  # a host write makes the device stale
            sess.run(step)
            np.testing.assert_array_equal(sess.run(v), np.full(4, 11, np.float32))


def test_emulated_gather_error_has_the_cpu_runtimes_text(gpu):
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
    assert messages[0] == messages[1] and "out of range" in messages[0]


def test_emulated_device_array_feeds_and_outputs(gpu):
    from runtime import cuda_driver as C
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = fc.exp(x) * 2.0
        host = np.linspace(-1, 1, 100, dtype=np.float32)
        with fc.Session(config=fc.ConfigProto(device="gpu")) as sess:
            want = sess.run(y, {x: host})
            got = sess.run(y, {x: C.DeviceArray.from_numpy(host)})
            np.testing.assert_array_equal(got, want)
            exe = next(iter(sess._cache.values()))
            out = exe.run([host], sess._store, 0, device_outputs=True)[0]
            assert isinstance(out, C.DeviceArray) and out.__cuda_array_interface__["shape"] \
                == (100,)
            np.testing.assert_array_equal(out.numpy(), want)
            target = C.DeviceArray((100,), np.float32)
            dev_x = C.DeviceArray.from_numpy(host)
            for _ in range(2):  # computed into the caller's device array, kept scratch
                res = exe.run([dev_x], sess._store, 0, out=[target])[0]
                assert res is target
                np.testing.assert_array_equal(target.numpy(), want)


def test_emulated_tiled_matmul_over_several_tiles_and_k_steps(gpu):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 130, 40)).astype(np.float32)
    b = rng.standard_normal((40, 70)).astype(np.float32)
    with fc.Graph().as_default():
        ap = fc.placeholder(fc.float32, [None, None, 40])
        y = fc.nn.relu(fc.matmul(ap, fc.constant(b)) - 0.5)
        with fc.Session(config=fc.ConfigProto(device="gpu")) as sess:
            got = sess.run(y, {ap: a})
            assert "tiled mapping" in next(iter(sess._cache.values())).texts["cuda"]
    want = np.maximum(a.astype(np.float64) @ b - 0.5, 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_emulated_jit_function_on_the_gpu(gpu):
    @fc.jit(options=GPU)
    def f(x, y):
        return fc.nn.softmax(x * 2.0 + y)

    x = np.random.default_rng(3).standard_normal((5, 7)).astype(np.float32)
    y = np.ones(7, np.float32)
    for _ in range(2):
        got = f(x, y)
    z = x.astype(np.float64) * 2 + 1
    want = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(got, want / want.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_emulated_float16_matmul_uses_the_tensor_core_form(gpu):
    rng = np.random.default_rng(6)
    a = rng.standard_normal((2, 70, 40)).astype(np.float16)
    b = rng.standard_normal((40, 45)).astype(np.float16)
    with fc.Graph().as_default():
        ap = fc.placeholder(fc.float16, [None, None, 40])
        bp = fc.placeholder(fc.float16, [40, None])
        y = fc.nn.relu(fc.matmul(ap, bp) + 0.5)
        with fc.Session(config=fc.ConfigProto(device="gpu")) as sess:
            got = sess.run(y, {ap: a, bp: b})
            assert "mma mapping" in next(iter(sess._cache.values())).texts["cuda"]
    want = np.maximum(a.astype(np.float64) @ b.astype(np.float64) + 0.5, 0)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3, atol=2e-2)
    assert got.dtype == np.float16


def test_emulated_gpu_arrays_fed_to_a_cpu_program_are_copied_to_the_host(gpu):
    from runtime import cuda_driver as C
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = x * 2.0
        with fc.Session() as sess:
            got = sess.run(y, {x: C.DeviceArray.from_numpy(np.arange(3, dtype=np.float32))})
    np.testing.assert_array_equal(got, [0, 2, 4])
