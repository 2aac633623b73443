"""The CUDA backend's reduction forms (compiler/backends/cuda/reduce_nests.py: two-stage
row and column reductions, scatter_add's atomic grid; rowloops.py: unrolled
block-strided loops) run on the CPU emulator (tests/cuda_emulator.py) against the
interpreter: sizes around the chunk and unroll boundaries, every combine op, int and
float dtypes, keepdims, softmax rows, duplicate and out-of-range scatter indices; and
`kir.AtomicAdd` printed by the LLVM backend."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_emulator import emulated_gpu
from oracle import REDUCE_TOL, Compiled, assert_close

import compiler as fc
from compiler.backends.cuda import reduce_nests
from compiler.convert import convert
from compiler.pipeline import build_program
from runtime.errors import ExecutionError
from runtime.variables import VariableStore

GPU = fc.CompileOptions(device="gpu")
SIZES = (0, 1, 31, 1000, (1 << 16) + 3)
OPS = {"sum": fc.reduce_sum, "max": fc.reduce_max, "min": fc.reduce_min,
       "prod": fc.reduce_prod, "mean": fc.reduce_mean}


@pytest.fixture(scope="module")
def gpu():
    with emulated_gpu() as dev:
        yield dev


def _values(rng, shape, dtype, op):
    if np.dtype(dtype).kind == "i":
        lo, hi = (-1, 2) if op == "prod" else (-100, 100)
        return rng.integers(lo, hi, shape).astype(dtype)
    if op == "prod":  # near 1: the product of 65539 stays finite
        return (1 + rng.uniform(-1e-3, 1e-3, shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _check(c, arrays, tol=REDUCE_TOL, fails=False):
    ref, got = c.run_both(arrays)  # (None, None) when both raised the same error type
    assert (ref is None) == fails
    for g, r in zip(got or (), ref or ()):
        assert g.shape == r.shape
        assert_close(g, r, tol=tol)


def _kernels(c):
    return [item["kernel"] for item in c.exe.schedule]


def _cases(dtypes):
    """Every op in the first dtype; the other dtypes with sum and max (each emulated case
    compiles a module: the whole cross product cost the suite ~20 s for no new form)."""
    return [(op, dtypes[0]) for op in sorted(OPS)] + \
        [(op, dt) for dt in dtypes[1:] for op in ("max", "sum")]


@pytest.mark.parametrize("op,dtype", _cases(["float32", "int32", "float64", "float16"]))
def test_full_reduction_of_a_symbolic_vector_is_two_stage(gpu, op, dtype):
    c = Compiled(lambda g, x: [OPS[op](x), OPS[op](x * 2, keepdims=True)],
                 [(dtype, [None])], options=GPU)
    assert sum("_partial_" in k for k in _kernels(c)) == 2
    rng = np.random.default_rng(1)
    for n in SIZES:
        _check(c, [_values(rng, (n,), dtype, op)])


@pytest.mark.parametrize("shape", [(0, 5), (1, 1), (31, 3), (1000, 64), ((1 << 16) + 3, 2)])
def test_full_reduction_of_a_matrix_reads_the_buffer_linearly(gpu, shape):
    c = Compiled(lambda g, x: [fc.reduce_sum(x), fc.reduce_max(x, keepdims=True)],
                 [("float32", [None, None])], options=GPU)
    assert sum("_partial_" in k for k in _kernels(c)) == 2
    _check(c, [np.random.default_rng(2).standard_normal(shape).astype(np.float32)])


@pytest.mark.parametrize("op,dtype", _cases(["float32", "float16", "int32", "int64"]))
def test_column_reduction_is_column_blocks_by_row_chunks(gpu, op, dtype):
    c = Compiled(lambda g, x: [OPS[op](x, axis=0), OPS[op](x, axis=0, keepdims=True)],
                 [(dtype, [None, None])], options=GPU)
    assert sum("_partial_" in k for k in _kernels(c)) == 2
    rng = np.random.default_rng(3)
    for shape in ((0, 3), (1, 1), (31, 3), (1000, 65), ((1 << 16) + 3, 3), (5, 0)):
        _check(c, [_values(rng, shape, dtype, op)])


def test_column_reduction_of_a_fused_input_and_static_columns(gpu):
    c = Compiled(lambda g, x: fc.reduce_sum(fc.exp(x) * 0.5, axis=0),
                 [("float32", [None, 64])], options=GPU)
    assert any("_partial_" in k for k in _kernels(c))
    rng = np.random.default_rng(4)
    for n in (1, 63, 64, 65, 4099):
        _check(c, [rng.standard_normal((n, 64)).astype(np.float32)])


@pytest.mark.parametrize("keepdims", [False, True])
def test_few_long_rows_are_split_into_chunks(gpu, keepdims):
    c = Compiled(lambda g, x: [fc.reduce_sum(x, axis=1, keepdims=keepdims),
                               fc.reduce_max(x + 1.0, axis=1, keepdims=keepdims)],
                 [("float32", [3, None])], options=GPU)
    assert sum("_partial_" in k for k in _kernels(c)) == 2
    rng = np.random.default_rng(5)
    for n in SIZES:
        _check(c, [rng.standard_normal((3, n)).astype(np.float32)])


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_every_axis_of_a_3d_tensor(gpu, axis):
    c = Compiled(lambda g, x: [fc.reduce_sum(x, axis=axis), fc.reduce_min(x, axis=axis)],
                 [("float32", [None, None, 4])], options=GPU)
    rng = np.random.default_rng(6)
    # (axis 1 keeps the shared nest: a block per output, slow on the emulator's threads)
    for shape in ((0, 2, 4), (1, 1, 4), (31, 5, 4), (4099 if axis != 1 else 200, 3, 4)):
        _check(c, [rng.standard_normal(shape).astype(np.float32)])


@pytest.mark.parametrize("fn", [fc.nn.softmax, fc.nn.log_softmax])
def test_softmax_rows_with_unrolled_loops(gpu, fn):
    c = Compiled(lambda g, x: fn(x), [("float32", [None, None])], options=GPU)
    assert any(item["mapping"] == "rows" for item in c.exe.schedule)
    assert "_u3" in c.exe.texts["cuda"]  # the unrolled partial accumulators
    rng = np.random.default_rng(7)
    for shape in ((2, 1), (3, 31), (2, 1000), (2, 4099), (0, 7), (5, 0)):
        _check(c, [rng.standard_normal(shape).astype(np.float32) * 4])


def test_the_same_shapes_give_the_same_bits_every_run(gpu):
    c = Compiled(lambda g, x: [fc.reduce_sum(x), fc.reduce_sum(x, axis=0)],
                 [("float32", [None, None])], options=GPU)
    x = np.random.default_rng(8).standard_normal((20001, 3)).astype(np.float32)
    first, again = c.run_both([x])[1], c.run_both([x])[1]
    for a, b in zip(first, again):
        assert a.tobytes() == b.tobytes()


def test_small_static_reductions_keep_one_kernel(gpu):
    """Below 2 chunks of work the second launch costs more than it saves."""
    c = Compiled(lambda g, x: fc.reduce_sum(x), [("float32", [1000])], options=GPU)
    assert not any("_partial_" in k for k in _kernels(c))
    assert reduce_nests.MIN_CHUNK * 2 > 1000


def _scatter(g, u, i, shape=(7, 5), axis=0):
    return g.create_op("scatter_add", [u, i], {"shape": shape, "axis": axis}).outputs[0]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_scatter_add_is_a_grid_of_atomic_adds(gpu, dtype):
    c = Compiled(lambda g, u, i: _scatter(g, u * 2, i), [(dtype, [None, 5]), ("int64", [None])],
                 options=GPU)
    calls = c.exe.schedule
    assert [item["mapping"] for item in calls] == ["grid", "grid"]  # fill, then adds
    assert "atomicAdd(" in c.exe.texts["cuda"] or "fc_atomic_add_f32(&" in c.exe.texts["cuda"]
    rng = np.random.default_rng(9)
    for n in (0, 1, 31, 1000, 4099):
        idx = rng.integers(0, 7, n).astype(np.int64)  # many duplicates
        upd = _values(rng, (n, 5), dtype, "sum")
        _check(c, [upd, idx])


def test_scatter_add_along_a_middle_axis(gpu):
    c = Compiled(lambda g, u, i: _scatter(g, u, i, shape=(2, 6, 3), axis=1),
                 [("float32", [2, None, 3]), ("int32", [None])], options=GPU)
    rng = np.random.default_rng(10)
    for n in (0, 1, 40):
        _check(c, [rng.standard_normal((2, n, 3)).astype(np.float32),
                   rng.integers(0, 6, n).astype(np.int32)])


def test_an_out_of_range_scatter_index_raises_the_cpu_runtimes_error(gpu):
    messages = []
    for device in ("gpu", "cpu"):
        with fc.Graph().as_default() as g:
            u = fc.placeholder(fc.float32, [None, 5])
            i = fc.placeholder(fc.int64, [None])
            y = _scatter(g, u, i)
            feeds = {u: np.ones((3, 5), np.float32), i: np.array([1, 7, 0], np.int64)}
            with fc.Session(config=fc.ConfigProto(device=device)) as sess:
                with pytest.raises(ExecutionError) as info:
                    sess.run(y, feeds)
                messages.append(str(info.value))
                # the next run with good indices starts from a clean error slot
                feeds[i] = np.array([1, 6, 1], np.int64)
                got = sess.run(y, feeds)
                assert got[1].tolist() == [2.0] * 5 and got[6].tolist() == [1.0] * 5
    assert messages[0] == messages[1] and "out of range" in messages[0]


def test_llvm_prints_atomic_add_as_an_atomic_rmw(monkeypatch):
    """The CPU backend never lowers scatter_add to `AtomicAdd`; lowered with the CUDA
    schedule and run on 4 CPU threads splitting the parallel loop, it must still add
    every duplicate (`atomicrmw`, not a racy load-add-store)."""
    from compiler import pipeline
    from compiler.backends.cuda.nests import CUDA_SCHEDULE
    lower_program = pipeline.lower_program
    monkeypatch.setattr(pipeline, "lower_program",
                        lambda program, plan, schedule: lower_program(program, plan,
                                                                      CUDA_SCHEDULE))
    cpu = fc.CompileOptions(threads=4)
    with fc.Graph().as_default() as g:
        u = fc.placeholder(fc.float32, [None, 3])
        i = fc.placeholder(fc.int64, [None])
        program = convert(g, [_scatter(g, u, i, shape=(2, 3))], [u, i])
    exe = build_program(program, cpu, assembly=True)
    assert "atomicrmw fadd" in exe.texts["llvm"]
    n = 1 << 16
    upd = np.ones((n, 3), np.float32)
    idx = np.zeros(n, np.int64)
    idx[::3] = 1
    got, = exe.run([upd, idx], VariableStore())
    assert got.tolist() == [[float(n - len(idx[::3]))] * 3, [float(len(idx[::3]))] * 3]


def _dus(g, x, u, i):
    return g.create_op("dynamic_update_slice", [x, u, i], {}).outputs[0]


def test_dynamic_update_slice_is_a_grid_over_the_row(gpu):
    c = Compiled(_dus, [("float32", [None, None, 3]), ("float32", [None, 3]),
                        ("int32", [])], options=GPU)
    assert [item["mapping"] for item in c.exe.schedule] == ["grid", "grid"]  # copy, row
    rng = np.random.default_rng(11)
    for n, m, i in ((4, 5, 2), (1, 1, 0), (4, 0, 3), (300, 70, 299), (3, 2, 3), (3, 0, -1),
                    (0, 2, 0)):
        # (3, 2, 3), (3, 0, -1), (0, 2, 0): out of range, raised by both (an empty
        # row's index is checked too)
        _check(c, [rng.standard_normal((n, m, 3)).astype(np.float32),
                   rng.standard_normal((m, 3)).astype(np.float32), np.array(i, np.int32)],
               fails=not 0 <= i < n)


def test_an_out_of_range_dynamic_update_raises_the_cpu_runtimes_error(gpu):
    messages = []
    for device in ("gpu", "cpu"):
        with fc.Graph().as_default() as g:
            x = fc.placeholder(fc.float32, [None, 2])
            u = fc.placeholder(fc.float32, [2])
            i = fc.placeholder(fc.int32, [])
            y = _dus(g, x, u, i)
            with fc.Session(config=fc.ConfigProto(device=device)) as sess:
                with pytest.raises(ExecutionError) as info:
                    sess.run(y, {x: np.zeros((3, 2), np.float32), u: np.ones(2, np.float32),
                                 i: np.array(3, np.int32)})
                messages.append(str(info.value))
    assert messages[0] == messages[1] and "out of range" in messages[0]
