"""The master's partitioner (compiler/partition.py) and mixed CPU/GPU steps in one
process (runtime/partitioned.py), issue 17 items 2-3. GPU partitions run on the CUDA
emulator (tests/cuda_emulator.py), as tests/test_cuda_emulated.py does."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_emulator import emulated_gpu

import compiler as fc
from compiler.options import CompileOptions
from compiler.partition import PartitionError, partition
from compiler.pipeline import needed_ops
from compiler.placement import PlacementConfig, PlacementError, place

CPU_ONLY = fc.ConfigProto(device_count={"GPU": 0})   # soft placement: all on the CPU


@pytest.fixture(scope="module")
def gpu():
    with emulated_gpu() as dev:
        yield dev


def _parts(tensors, targets=(), fed=(), config=None):
    ops = needed_ops(list(tensors), list(targets))
    ops = [op for op in ops if not (op.type == "placeholder" and op.outputs[0] in fed)]
    decisions = place(ops, CompileOptions(), config or PlacementConfig())
    return partition(list(tensors), list(targets), list(fed), decisions)


def test_cpu_preprocessing_gpu_matmul_cpu_softmax_matches_the_interpreter(gpu):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        with fc.device("/cpu:0"):
            pre = fc.tanh(x * 2.0, name="pre")
        with fc.device("/gpu:0"):
            w = fc.constant(np.arange(6, dtype=np.float32).reshape(3, 2) / 6, name="w")
            mm = fc.matmul(pre, w, name="mm")
        with fc.device("/cpu:0"):
            sm = fc.nn.softmax(mm, name="sm")
        loss = fc.reduce_sum(sm, name="loss")   # free: follows sm on the CPU
        xv = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
        with fc.Session() as sess:
            got = sess.run([sm, loss], {x: xv})
            parts = sess.last_partitioning.partitions
            meta = fc.RunMetadata()
            sess.run(sm, {x: xv}, options=fc.RunOptions(trace_level=fc.RunOptions.FULL_TRACE),
                     run_metadata=meta)
        with fc.Session(config=fc.ConfigProto(backend="interpret", device_count={"GPU": 0})) \
                as sess:
            ref = sess.run([sm, loss], {x: xv})
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-5)
    assert [p.kind for p in parts] == ["cpu", "gpu", "cpu"]
    assert [op.name for op in parts[1].ops] == ["w", "mm"]   # the constant joins its user
    (recv,) = parts[1].recvs
    assert recv.key == ("/job:localhost/replica:0/task:0/device:CPU:0;"
                        "/job:localhost/replica:0/task:0/device:GPU:0;pre:0")
    assert parts[2].fetches == (sm, loss) and parts[0].feeds == (x,)
    devices = {d.device for d in meta.step_stats.dev_stats}
    assert devices == {"/job:localhost/replica:0/task:0/device:CPU:0",
                       "/job:localhost/replica:0/task:0/device:GPU:0"}


def _training_graph(var_device, data_device):
    g = fc.Graph()
    with g.as_default():
        fc.set_random_seed(3)
        x = fc.placeholder(fc.float32, [8, 4], name="x")
        y = fc.placeholder(fc.float32, [8, 1], name="y")
        with fc.device(data_device):
            xs = (x - 0.5) * 2.0
            noise = fc.random_normal([8, 1], stddev=0.01, seed=7)
            ys = y + noise
        with fc.device(var_device):
            w = fc.Variable(np.full((4, 1), 0.1, np.float32), name="w")
            b = fc.Variable(np.zeros((1,), np.float32), name="b")
        with fc.device(data_device):
            pred = fc.matmul(xs, w) + b
            loss = fc.reduce_mean(fc.square(pred - ys))
        train = fc.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = fc.global_variables_initializer()
    return g, x, y, loss, train, init, w


@pytest.mark.parametrize("var_device,data_device", [("/gpu:0", "/cpu:0"),
                                                    ("/cpu:0", "/gpu:0")])
def test_a_training_step_across_devices_equals_the_one_device_run(gpu, var_device,
                                                                  data_device):
    rng = np.random.default_rng(1)
    xv = rng.random((8, 4), np.float32)
    yv = rng.random((8, 1), np.float32)
    results = []
    for config in (None, CPU_ONLY):
        g, x, y, loss, train, init, w = _training_graph(var_device, data_device)
        with fc.Session(graph=g, config=config) as sess:
            sess.run(init)
            losses = [sess.run([loss, train], {x: xv, y: yv})[0] for _ in range(4)]
            results.append((losses, sess.run(w)))
            if config is None:
                kinds = {p.kind for p in sess.last_partitioning.partitions}
                assert kinds == {"cpu", "gpu"}
    (got, got_w), (ref, ref_w) = results
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    np.testing.assert_allclose(got_w, ref_w, rtol=1e-5)
    assert got[-1] < got[0]


def test_a_control_edge_crossing_devices_orders_the_assign(gpu):
    with fc.Graph().as_default():
        with fc.device("/cpu:0"):
            v = fc.Variable(np.float32(1.0), name="v")
            bump = fc.assign_add(v, 2.0, name="bump")
        with fc.device("/gpu:0"), fc.control_dependencies([bump]):
            done = fc.constant(5.0, name="done") * 2.0
        with fc.Session() as sess:
            sess.run(v.initializer)
            assert sess.run(done) == 10.0
            (p0, p1) = sess.last_partitioning.partitions
            assert sess.run(v) == 3.0
    assert [t.key.split(";")[-1] for t in p0.sends] == ["^bump"]
    assert p1.recvs[0].tensor is None and p1.recvs[0].op is bump.op


def test_a_tensor_used_twice_on_the_other_device_is_sent_once(gpu):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        with fc.device("/cpu:0"):
            a = fc.exp(x, name="a")
        with fc.device("/gpu:0"):
            s = fc.add(a * 2.0, a * 3.0, name="s")
        with fc.Session() as sess:
            got = sess.run(s, {x: np.arange(3, dtype=np.float32)})
            p0, p1 = sess.last_partitioning.partitions
    np.testing.assert_allclose(got, 5 * np.exp(np.arange(3, dtype=np.float32)), rtol=1e-6)
    assert len(p0.sends) == 1 and len(p1.recvs) == 1 and p1.recvs[0].tensor is a


def test_a_to_b_to_a_makes_three_partitions_in_a_correct_order(gpu):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [4], name="x")
        with fc.device("/cpu:0"):
            a1 = fc.exp(x, name="a1")
        with fc.device("/gpu:0"):
            b = fc.multiply(a1, 2.0, name="b")
        with fc.device("/cpu:0"):
            a2 = fc.add(b, x, name="a2")
            a3 = fc.add(a2, a1, name="a3")   # a1 from the first CPU partition
        xv = np.linspace(0, 1, 4, dtype=np.float32)
        with fc.Session() as sess:
            got = sess.run(a3, {x: xv})
            parts = sess.last_partitioning.partitions
    np.testing.assert_allclose(got, 3 * np.exp(xv) + xv, rtol=1e-6)
    assert [p.kind for p in parts] == ["cpu", "gpu", "cpu"]
    assert {t.src for t in parts[2].recvs} == {0, 1}
    for p in parts:
        assert all(t.src < p.index for t in p.recvs)


def test_a_free_op_follows_its_first_placed_input():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        with fc.device("/gpu:0"):
            y = fc.exp(x, name="y")
        with fc.device("/cpu:0"):
            z = fc.exp(x, name="z")
        loss = fc.square(z, name="loss")   # TF1: stays with z
        other = fc.add(y, 1.0, name="other")
        decisions = place(needed_ops([loss, other], []), CompileOptions())
    by_name = {op.name: p for op, p in decisions.items()}
    assert by_name["loss"].kind == "cpu"
    assert by_name["loss"].reason == ("no device: follows input 'z:0' on "
                                      "/job:localhost/replica:0/task:0/device:CPU:0")
    assert by_name["other"].kind == "gpu"


def test_a_cluster_places_and_partitions_by_task():
    cluster = fc.train.ClusterSpec({"ps": 1, "worker": 2})
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        with fc.device("/job:ps/task:0"):
            w = fc.Variable(np.ones(3, np.float32), name="w")
        with fc.device("/job:worker/task:1"):
            h = fc.multiply(x, w, name="h")
        out = fc.reduce_sum(h, name="out")
        free = fc.constant(2.0, name="free") + 1.0
        config = PlacementConfig(cluster=cluster)
        parts = _parts([out, free], fed=[x], config=config).partitions
        ops = needed_ops([free], [])
        assert place(ops, CompileOptions(), config)[ops[0]].device.to_string() == \
            "/job:worker/replica:0/task:0/device:CPU:0"  # the default task
        with fc.device("/job:chief/task:0"):
            bad = fc.exp(x, name="bad")
        with pytest.raises(PlacementError, match=r"'bad'.*no such task in the cluster"):
            _parts([bad], fed=[x], config=config)
    tasks = [p.task.to_string() for p in parts]
    assert "/job:ps/replica:0/task:0" in tasks and "/job:worker/replica:0/task:1" in tasks
    ps = next(p for p in parts if p.task.job == "ps")
    assert [op.name for op in ps.ops] == ["w"] and ps.sends[0].key.endswith(";w:0")
    worker1 = next(p for p in parts if p.task.to_string().endswith("task:1"))
    assert out in worker1.fetches and worker1.feeds == (x,)


def test_reads_across_phases_see_what_one_program_sees(gpu):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [], name="x")
        with fc.device("/cpu:0"):
            v = fc.Variable(np.float32(1.0), name="v")
            bump = fc.assign_add(v, 1.0, name="bump")
        with fc.device("/gpu:0"):
            g = fc.exp(x, name="g")
        with fc.device("/cpu:0"), fc.control_dependencies([g.op]):
            read = fc.identity(v.value(), name="read")   # ordered after g, not bump
        with fc.Session() as sess:
            sess.run(v.initializer)
            # one program: the read sees the value from before the step's assign
            assert sess.run([read, bump], {x: 0.0})[0] == 1.0
            assert len(sess.last_partitioning.partitions) == 3
            assert sess.run(v) == 2.0
        with fc.device("/gpu:0"), fc.control_dependencies([bump]):
            after = fc.exp(x, name="after")
        with fc.device("/cpu:0"), fc.control_dependencies([after.op]):
            late = fc.identity(v.value(), name="late")   # ordered after bump, via the GPU
        with pytest.raises(PartitionError, match="'late'.*after .*'bump'"):
            _parts([late], [], fed=[x])


def test_dump_of_a_mixed_graph_has_one_program_per_partition(tmp_path):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        with fc.device("/gpu:0"):
            y = fc.exp(x, name="on_gpu")
        z = fc.add(y, 1.0)   # free: follows on_gpu
        with fc.device("/cpu:0"):
            w = fc.multiply(z, 2.0, name="w")
        texts = fc.dump(w, dir=str(tmp_path))
    assert list(texts)[:2] == ["graph", "partitions"]
    assert "p0_GPU0/cuda" in texts and "p1_CPU0/llvm" in texts
    assert "send to p1: /job:localhost/replica:0/task:0/device:GPU:0;" \
        "/job:localhost/replica:0/task:0/device:CPU:0;Add:0" in texts["partitions"]
    assert (tmp_path / "01_partitions.txt").exists()
    assert sorted(p.name for p in (tmp_path / "p1_CPU0").iterdir())[0] == "00_input.txt"
    assert any(p.name.endswith("_cuda.txt") for p in (tmp_path / "p0_GPU0").iterdir())


def test_a_while_loop_is_one_unit_of_its_partition(gpu):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        with fc.device("/cpu:0"):
            start = fc.exp(x, name="start")
        with fc.device("/gpu:0"):
            _, loop = fc.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0),
                                    [fc.constant(0), start])
        with fc.device("/cpu:0"):
            out = fc.add(loop, 1.0, name="out")
        xv = np.arange(3, dtype=np.float32)
        with fc.Session() as sess:
            got = sess.run(out, {x: xv})
            kinds = [p.kind for p in sess.last_partitioning.partitions]
    np.testing.assert_allclose(got, 8 * np.exp(xv) + 1, rtol=1e-6)
    assert kinds == ["cpu", "gpu", "cpu"]


def test_an_in_process_session_with_a_cluster_def_soft_places_to_localhost():
    cluster = fc.train.ClusterSpec({"ps": 1, "worker": 1})
    with fc.Graph().as_default():
        with fc.device(fc.train.replica_device_setter(cluster=cluster)):
            v = fc.Variable(np.ones(2, np.float32), name="v")
            y = v * 3.0
        config = fc.ConfigProto(cluster_def=cluster.as_cluster_def(),
                                operation_timeout_in_ms=5000)
        with fc.Session(config=config) as sess:
            sess.run(v.initializer)
            np.testing.assert_allclose(sess.run(y), [3.0, 3.0])
            assert not hasattr(sess, "last_partitioning")   # one device: one program


def test_convert_within_a_partition_needs_its_outside_inputs_fed():
    from compiler.convert import convert
    from compiler.errors import CompileError
    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [3], name="x")
        a = fc.exp(x, name="a")
        b = fc.negative(a, name="b")
        with pytest.raises(CompileError, match="'a'.*outside the partition"):
            convert(g, [b], [x], within=frozenset([b.op]))
        assert convert(g, [b], [a], within=frozenset([b.op])).inputs[0].type.shape == (3,)


def test_a_partitioned_callable_writes_out_and_returns_fed_fetches(gpu):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        with fc.device("/cpu:0"):
            a = fc.exp(x, name="a")
        with fc.device("/gpu:0"):
            b = fc.multiply(a, 2.0, name="b")
        xv = np.arange(3, dtype=np.float32)
        with fc.Session() as sess:
            call = sess.make_callable([b, x], [x])
            buf = np.zeros(3, np.float32)
            got_b, got_x = call(xv, out=[buf, None])
            assert got_b is buf
            np.testing.assert_allclose(buf, 2 * np.exp(xv), rtol=1e-6)
            np.testing.assert_array_equal(got_x, xv)
            # feeding an intermediate tensor prunes at it: one device, one program
            assert sess.run(b, {a: np.ones(3, np.float32)}).tolist() == [2.0] * 3


def test_a_cluster_partitioning_compiles_and_runs_in_one_process_like_one_program():
    """Two tasks' CPU partitions (what the distributed Session ships to workers), run
    here one after another against one store: a training step equals one program."""
    from compiler.partition import compile_partitions, partitioned_executable
    from runtime.variables import VariableStore
    cluster = fc.train.ClusterSpec({"ps": 1, "worker": 1})
    rng = np.random.default_rng(2)
    xv, yv = rng.random((8, 4), np.float32), rng.random((8, 1), np.float32)
    g, x, y, loss, train, init, w = _training_graph("/job:ps/task:0", "/job:worker/task:0")
    with g.as_default():
        with fc.Session(graph=g, config=CPU_ONLY) as sess:   # one program, localhost
            sess.run(init)
            ref = [sess.run([loss, train], {x: xv, y: yv})[0] for _ in range(3)]
            ref_w = sess.run(w)
        config = PlacementConfig(cluster=cluster, gpu=False)
        store = VariableStore()

        def declare(program):
            for name, ty in program.variables().items():
                store.declare(name, ty.dtype.np, ty.shape)

        def step(tensors, targets, fed, values, counter):
            ops = [op for op in needed_ops(tensors, targets)
                   if not (op.type == "placeholder" and op.outputs[0] in fed)]
            parting = partition(tensors, targets, fed, place(ops, CompileOptions(), config))
            exe = partitioned_executable(parting, [c.executable for c in compile_partitions(
                g, parting, CompileOptions(threads=1), prepare=declare)])
            with store.access(exe):
                return exe.run(values, store, counter), parting

        _, init_parts = step([], [init], [], [], 1)
        runs = [step([loss], [train], [x, y], [xv, yv], 1 + k) for k in range(1, 4)]
        got = [values[0] for values, _ in runs]
        (got_w,), parts = step([w.value()], [], [], [], 5)
    assert {p.task.job for p in parts.partitions} == {"ps"}
    train_parts = runs[0][1].partitions
    # read the variables, compute the gradients, apply them, the train op (a NoOp on the
    # default task, ordered after the applies by control edges)
    assert [p.task.job for p in train_parts] == ["ps", "worker", "ps", "worker"]
    assert all(t.tensor is None for t in train_parts[3].recvs)
    assert all(t.key.startswith("/job:ps/replica:0/task:0/device:CPU:0;/job:worker/")
               for t in train_parts[1].recvs)
    assert {p.task.job for p in init_parts.partitions} == {"ps", "worker"}
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    np.testing.assert_allclose(got_w, ref_w, rtol=1e-5)


def test_a_variable_joins_its_first_readers_partition_unless_assigned_earlier():
    """A GPU variable read by a GPU matmul that waits for CPU input is read in the
    matmul's partition (its value is not sent through the host); a variable assigned in
    an earlier phase keeps its early read."""
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        with fc.device("/cpu:0"):
            pre = fc.tanh(x, name="pre")
        with fc.device("/gpu:0"):
            w = fc.Variable(np.ones((4, 3), np.float32), name="w")
            mm = fc.matmul(pre, w, name="mm")
        parts = _parts([mm], fed=[x])
        assert [[op.name for op in p.ops] for p in parts.partitions] == [["pre"], ["w", "mm"]]
        with fc.device("/gpu:0"):
            bump = fc.assign_add(w, np.ones((4, 3), np.float32), name="bump")
        parts = _parts([mm], [bump.op], fed=[x])  # bump in phase 0: w is read there
        assert [[op.name for op in p.ops] for p in parts.partitions] == \
            [["pre"], ["w", "Const", "bump"], ["mm"]]
