"""Workers on Ray (compiler/distributed/): partitions compiled by hand (feeding an
intermediate tensor cuts the graph), shipped to worker actors of a local Ray runtime
(one per test session, tests/conftest.py `ensure_ray`), run as a step; variables on the
owning worker; the worker's errors and a killed worker seen by the master."""

import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

import compiler as fc
from compiler import distributed as dist
from compiler import pipeline
from runtime.errors import (
    DeadlineExceededError,
    FeedError,
    UnavailableError,
    UninitializedVariableError,
)
from runtime.variables import VariableStore

PS, W0, W1 = ("/job:ps/replica:0/task:0", "/job:worker/replica:0/task:0",
              "/job:worker/replica:0/task:1")
SPEC = {"ps": 1, "worker": 2}
FAST = SimpleNamespace(operation_timeout_in_ms=10_000)


# ---- targets (no Ray needed) ------------------------------------------------------------
@pytest.mark.parametrize("target, address", [
    ("ray://local", None), ("ray://auto", "auto"), ("ray://10.0.0.5:6379", "10.0.0.5:6379"),
    ("ray://head-node.example:6379", "head-node.example:6379")])
def test_target_forms(target, address):
    assert dist.parse_target(target) == address


@pytest.mark.parametrize("target", ["ray://", "ray://localhost", "ray://h:0", "ray://h:99999",
                                    "grpc://h:1", "ray://h:6379/x", "local"])
def test_a_bad_target_names_itself_and_the_accepted_forms(target):
    with pytest.raises(ValueError) as info:
        dist.connect(target, SPEC)
    assert repr(target) in str(info.value) and '"ray://HOST:PORT"' in str(info.value)


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'flowc\[distributed\]'"):
        dist.connect("ray://local", SPEC)


def test_task_names_of_a_cluster_spec():
    assert dist.task_names(fc.train.ClusterSpec(SPEC)) == [PS, W0, W1]
    assert dist.task_names(None) == ["/job:localhost/replica:0/task:0"]


# ---- the graph and its hand-made partitions -------------------------------------------
@pytest.fixture(scope="module")
def parts():
    """ps: reads w (returns the value before the run's assign) and adds 1 to it;
    worker 0: h = 2x + w; worker 1: y = h * h, z = sum(y)."""
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        w = fc.Variable(np.ones(3, np.float32), name="w")
        wv = fc.identity(w, name="wv")
        step = fc.assign_add(w, fc.ones([3]), name="step")
        h = fc.add(x * 2.0, wv, name="h")
        y = fc.multiply(h, h, name="y")
        z = fc.reduce_sum(y, name="z")
        q = fc.multiply(y, 3.0, name="q")
    opts = fc.CompileOptions(threads=1)
    exes = {"ps": pipeline.compile_graph(g, [wv], [], opts, targets=[step.op]).executable,
            "w0": pipeline.compile_graph(g, [h], [x, wv], opts).executable,
            "w1": pipeline.compile_graph(g, [y, z], [h], opts).executable,
            "whole": pipeline.compile_graph(g, [y, z], [x], opts, targets=[step.op]).executable,
            "w0q": pipeline.compile_graph(g, [q], [y], opts).executable,
            "whole_q": pipeline.compile_graph(g, [q, z], [x], opts,
                                              targets=[step.op]).executable}
    stages = [dist.Stage(PS, "ps", (), ("wv:0",)), dist.Stage(W0, "w0", ("x:0", "wv:0"), ("h:0",)),
              dist.Stage(W1, "w1", ("h:0",), ("y:0", "z:0"))]
    return exes, stages


@pytest.fixture(scope="module")
def cluster(ray_runtime, parts):
    exes, _ = parts
    cl = dist.connect("ray://local", SPEC, FAST)
    for task, key in ((PS, "ps"), (W0, "w0"), (W1, "w1"), (W0, "w0q")):
        cl.register(task, key, exes[key], fc.CompileOptions(threads=1))
    yield cl
    cl.close()


def _feed(k):
    return np.random.default_rng(k).standard_normal((4, 3)).astype(np.float32)


def test_a_step_equals_the_whole_graph_in_process_and_variables_persist(cluster, parts):
    exes, stages = parts
    cluster.set_variables(PS, {"w": np.full(3, 0.5, np.float32)})
    plan = cluster.plan(stages, ["x:0"], ["y:0", "z:0"])
    store = VariableStore()
    store.set("w", np.full(3, 0.5, np.float32))
    compiled_runs = []
    for k in range(5):  # the first runs chain actor calls, later ones the compiled graph
        got = plan.run({"x:0": _feed(k)}, k)
        want = exes["whole"].run([_feed(k)], store, k)
        np.testing.assert_array_equal(got["y:0"], want[0])
        np.testing.assert_array_equal(got["z:0"], want[1])
        compiled_runs.append(plan.compiled)
    assert compiled_runs == [False, True, True, True, True]
    # w lives on the ps task alone, incremented once per step
    np.testing.assert_array_equal(cluster.get_variables(PS, ["w"])["w"], np.full(3, 5.5))
    assert cluster.variable_names(PS) == ["w"] and cluster.variable_names(W0) == []


def test_a_second_plan_sees_the_same_variables_and_does_not_take_the_compiled_graph(
        cluster, parts):
    _, stages = parts
    train = cluster.plan(stages, ["x:0"], ["z:0"])
    for k in range(8):  # more runs than the plan of the test before: it takes the graph
        train.run({"x:0": _feed(k)}, k)
    before = cluster.get_variables(PS, ["w"])["w"]
    read = cluster.plan(stages[:1], [], ["wv:0"])
    got = read.run({}, 0)["wv:0"]
    np.testing.assert_array_equal(got, before)
    assert train.compiled and not read.compiled
    np.testing.assert_array_equal(cluster.get_variables(PS, ["w"])["w"], before + 1)


def test_a_worker_in_several_stages_of_a_compiled_graph(cluster, parts):
    """worker 0 runs h, worker 1 y and z from h, worker 0 again q from y."""
    exes, stages = parts
    plan = cluster.plan(stages + [dist.Stage(W0, "w0q", ("y:0",), ("q:0",))], ["x:0"],
                        ["q:0", "z:0"])
    cluster.set_variables(PS, {"w": np.full(3, 2.0, np.float32)})
    store = VariableStore()
    store.set("w", np.full(3, 2.0, np.float32))
    for k in range(40):  # more runs than any plan before: it takes the compiled graph
        got = plan.run({"x:0": _feed(k)}, k)
        q, z = exes["whole_q"].run([_feed(k)], store, k)
        np.testing.assert_array_equal(got["q:0"], q)
        np.testing.assert_array_equal(got["z:0"], z)
    assert plan.compiled


def test_threads_sharing_a_cluster_take_turns(cluster, parts):
    _, stages = parts
    plan = cluster.plan(stages, ["x:0"], ["wv:0"])
    cluster.set_variables(PS, {"w": np.full(3, 100, np.float32)})
    before = cluster.get_variables(PS, ["w"])["w"]
    seen, errors = [], []

    def steps():
        try:
            for k in range(15):
                seen.append(float(plan.run({"x:0": _feed(k)}, k)["wv:0"][0]))
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=steps) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    # each step read w before its own assign: 30 distinct values, none lost or repeated
    assert sorted(seen) == [float(before[0]) + k for k in range(30)]
    np.testing.assert_array_equal(cluster.get_variables(PS, ["w"])["w"], before + 30)


def test_a_feed_is_fetched_as_given_and_a_missing_feed_is_an_error(cluster, parts):
    _, stages = parts
    plan = cluster.plan(stages, ["x:0"], ["x:0", "h:0"])
    out = plan.run({"x:0": _feed(1)}, 0)
    np.testing.assert_array_equal(out["x:0"], _feed(1))
    with pytest.raises(ValueError, match=r"feeds \['x:0'\] are missing"):
        plan.run({}, 0)
    with pytest.raises(ValueError, match="input 'x:0' is neither fed"):
        cluster.plan(stages, [], ["z:0"])


def test_a_worker_error_is_raised_as_its_own_type_naming_the_task(cluster, parts):
    _, stages = parts
    plan = cluster.plan(stages, ["x:0"], ["z:0"])
    with pytest.raises(FeedError, match=r"task /job:worker/replica:0/task:0, partition 'w0'"):
        plan.run({"x:0": np.ones((2, 5), np.float32)}, 0)
    cluster.plan(stages, ["x:0"], ["z:0"]).run({"x:0": _feed(0)}, 0)  # still usable


def test_an_uninitialized_variable_names_the_task(ray_runtime, parts):
    exes, stages = parts
    cl = dist.connect("ray://local", SPEC, FAST)
    try:
        cl.register(PS, "ps", exes["ps"])
        with pytest.raises(UninitializedVariableError, match=r"task /job:ps/replica:0/task:0"):
            cl.plan(stages[:1], [], ["wv:0"]).run({}, 0)
    finally:
        cl.close()


def test_registration_refuses_a_tampered_description_naming_task_and_partition(cluster,
                                                                                parts):
    exes, _ = parts
    meta, blobs = dist.wire.describe(exes["w1"], "", 3)
    blobs["code_0"] = blobs["code_0"][:-1] + bytes([blobs["code_0"][-1] ^ 1])
    with pytest.raises(dist.RegistrationError,
                       match=r"task /job:worker/replica:0/task:1, partition 'bad'.*sha256"):
        cluster._call(W1, "register", "bad", *dist.wire.encode(meta, blobs))
    with pytest.raises(dist.UnsupportedPartition, match="partition 'interp'"):
        cluster.register(W1, "interp", SimpleNamespace(device="gpu"))


def test_a_task_that_cannot_be_placed_is_an_error_within_the_timeout(ray_runtime):
    t0 = time.monotonic()
    with pytest.raises(UnavailableError, match=r"could not place the 1 task bundles"):
        dist.connect("ray://local", {"worker": 1}, SimpleNamespace(operation_timeout_in_ms=1500),
                     gpu_tasks=["/job:worker/replica:0/task:0"])
    assert time.monotonic() - t0 < 30


def test_a_killed_worker_fails_the_step_naming_it_and_breaks_the_cluster(ray_runtime, parts):
    exes, stages = parts
    cl = dist.connect("ray://local", SPEC, FAST, name="flowc-test-fault")
    try:
        for task, key in ((PS, "ps"), (W0, "w0"), (W1, "w1")):
            cl.register(task, key, exes[key], fc.CompileOptions(threads=1))
        cl.set_variables(PS, {"w": np.zeros(3, np.float32)})
        plan = cl.plan(stages, ["x:0"], ["z:0"])
        killer = threading.Timer(1.0, ray_runtime.kill, [cl.workers[W1]])
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(UnavailableError) as info:
            for k in range(1_000_000):  # steps run until the kill lands in one
                plan.run({"x:0": _feed(0)}, k)
        assert time.monotonic() - t0 < 1.0 + cl.timeout_s + 10
        message = str(info.value)
        assert "task /job:worker/replica:0/task:1 (partition 'w1')" in message
        assert "died" in message and "restore the latest checkpoint" in message
        t1 = time.monotonic()
        for call in (lambda: plan.run({"x:0": _feed(0)}, 0),
                     lambda: cl.get_variables(PS, ["w"])):
            with pytest.raises(UnavailableError) as again:
                call()
            assert again.value is info.value
        assert time.monotonic() - t1 < 1.0
    finally:
        cl.close()
    with pytest.raises(ValueError):  # close() killed the actors by their names
        ray_runtime.get_actor(f"flowc-test-fault:{PS}", namespace="flowc")


def test_a_second_cluster_of_the_same_name_replaces_the_first(ray_runtime):
    first = dist.connect("ray://local", {"worker": 1}, FAST, name="flowc-test-replace")
    second = dist.connect("ray://local", {"worker": 1}, FAST, name="flowc-test-replace")
    try:
        with pytest.raises(UnavailableError, match="task /job:worker/replica:0/task:0"):
            first.variable_names("/job:worker/replica:0/task:0")
        assert second.variable_names("/job:worker/replica:0/task:0") == []
    finally:
        first.close()
        second.close()


@pytest.fixture(scope="module")
def loop_exe():
    """y = tanh(y @ y) n times from x (n fed): a stage that runs as long as asked."""
    g = fc.Graph()
    with g.as_default():
        n = fc.placeholder(fc.int32, [], name="n")
        x = fc.placeholder(fc.float32, [64, 64], name="x")
        _, y = fc.while_loop(lambda i, v: i < n, lambda i, v: (i + 1, fc.tanh(fc.matmul(v, v))),
                             (fc.constant(0), x))
        y = fc.identity(y, name="y")
    return pipeline.compile_graph(g, [y], [n, x], fc.CompileOptions(threads=1)).executable


def _loop_cluster(exe):
    cl = dist.connect("ray://local", {"worker": 1}, FAST)
    cl.register(W0, "loop", exe)
    return cl, cl.plan([dist.Stage(W0, "loop", ("n:0", "x:0"), ("y:0",))], ["n:0", "x:0"],
                       ["y:0"])


def test_a_step_over_the_timeout_is_a_deadline_error_naming_the_tasks(ray_runtime, loop_exe):
    """A stage that computes longer than the bound while its worker answers pings:
    DeadlineExceededError, and the cluster is broken."""
    cl, plan = _loop_cluster(loop_exe)
    try:
        eye = np.eye(64, dtype=np.float32)
        np.testing.assert_allclose(plan.run({"n:0": np.int32(1), "x:0": eye}, 0)["y:0"],
                                   np.tanh(eye), rtol=1e-6)
        cl.timeout_s = 0.2
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceededError, match=r"within 0.2 s.*task:0 \(partition "
                                                        r"'loop'\)"):
            plan.run({"n:0": np.int32(2**30), "x:0": eye}, 1)
        assert time.monotonic() - t0 < 0.2 + 5 + 5
        with pytest.raises(DeadlineExceededError):
            cl.variable_names(W0)
    finally:
        cl.close()


def test_a_worker_killed_inside_a_stage_fails_that_step(ray_runtime, loop_exe):
    """The kill lands while the stage computes (chained actor call: a plan's first run)."""
    cl, plan = _loop_cluster(loop_exe)
    try:
        killer = threading.Timer(0.5, ray_runtime.kill, [cl.workers[W0]])
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(UnavailableError, match=r"task /job:worker/replica:0/task:0 "
                                                   r"\(partition 'loop'\) is lost"):
            plan.run({"n:0": np.int32(2**30), "x:0": np.eye(64, dtype=np.float32)}, 0)
        assert 0.5 <= time.monotonic() - t0 < 0.5 + 5 + 2
        assert not plan.compiled
    finally:
        cl.close()


def test_a_process_connected_to_ray_loads_its_programs_linked_not_by_mcjit(ray_runtime):
    """With Ray's store and threads mapped into the process, MCJIT's 32-bit offsets from
    code to its constant pools overflowed (an abort in finalize_object, in test processes
    and a distributed Session's client): such a process loads programs as linked shared
    objects (compiler/backends/llvm/jit.py `library`), with the same results."""
    from runtime.dylib import SharedLibrary
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 8])
        y = fc.reduce_sum(fc.nn.softmax(fc.exp(x) * 0.5), axis=1)
    with fc.Session(graph=g, config=fc.ConfigProto(intra_op_parallelism_threads=2)) as s:
        got = s.run(y, {x: np.ones((3, 8), np.float32)})
        exe = next(iter(s._cache.values()))
    assert isinstance(exe._keepalive, SharedLibrary)
    np.testing.assert_allclose(got, np.ones(3), rtol=1e-6)
