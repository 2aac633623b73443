"""The distributed Session (issue 17 items 4-6; docs/execution.md, "The distributed
Session"): `fc.Session("ray://local", config=ConfigProto(cluster_def=…))` on the local
Ray runtime of the test session (tests/conftest.py `ensure_ray`). What a program sees
equals `fc.Session()`: fetch structures, feeds, variables, targets, control deps, host
input, summaries, prints, make_callable, Saver; TF1's data-parallel training
(examples/distributed_mlp.py) equals one process; a killed worker is an
UnavailableError naming its task, and a new Session restored from the checkpoint
finishes the training as an uninterrupted run does."""

import collections
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import compiler as fc
from runtime.errors import UnavailableError, UninitializedVariableError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER = fc.train.ClusterSpec({"ps": 1, "worker": 2})
PS, W0, W1 = ("/job:ps/replica:0/task:0", "/job:worker/replica:0/task:0",
              "/job:worker/replica:0/task:1")
TIMEOUT_MS = 20_000


def _example():
    spec = importlib.util.spec_from_file_location(
        "distributed_mlp", os.path.join(ROOT, "examples", "distributed_mlp.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mlp = _example()


def config():
    return fc.ConfigProto(cluster_def=CLUSTER.as_cluster_def(),
                          operation_timeout_in_ms=TIMEOUT_MS)


# ---- no Ray needed ---------------------------------------------------------------------
def test_a_plain_session_never_imports_ray():
    code = ("import sys, numpy as np, compiler as fc\n"
            "x = fc.placeholder(fc.float32, [2])\n"
            "v = fc.Variable(np.ones(2, np.float32))\n"
            "with fc.Session() as s:\n"
            "    s.run(v.initializer)\n"
            "    assert s.run(x * v, {x: [1, 2]}).tolist() == [1.0, 2.0]\n"
            "print('ray' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("target", ["grpc://localhost:2222", "local", "ray://"])
def test_another_target_is_refused_naming_it_and_the_accepted_forms(target):
    with pytest.raises(ValueError) as info:
        fc.Session(target, graph=fc.Graph())
    assert repr(target) in str(info.value)
    assert '"ray://local"' in str(info.value) and '"ray://HOST:PORT"' in str(info.value)


def test_the_interpreter_backend_is_refused_before_connecting():
    with pytest.raises(ValueError, match="backend 'interpret' cannot be shipped"):
        fc.Session("ray://local", graph=fc.Graph(),
                   config=fc.ConfigProto(backend="interpret"))


def test_a_control_edge_across_tasks_orders_the_stages():
    """A partition that only waits for another task's partition (a control edge, no
    tensor) runs after it: its stage's upstreams include the source (Stage.after)."""
    from types import SimpleNamespace

    from compiler.distributed import Stage, StepPlan
    fake = SimpleNamespace(workers={PS: None, W0: None, W1: None}, tasks=[PS, W0, W1])
    plan = StepPlan(fake, [Stage(W0, "tick", (), ()), Stage(PS, "read", (), ("r:0",)),
                           Stage(W1, "use", ("x:0", "r:0"), ("y:0",), after=(0,))],
                    ["x:0"], ["y:0"])
    assert [ups for _, _, ups in plan.wiring] == [[], [], [0, 1]]
    assert plan.returned == [2]  # the tick is waited for through the use
    with pytest.raises(ValueError, match="waits for stage 2"):
        StepPlan(fake, [Stage(W0, "a", (), (), after=(2,))], [], [])


# ---- one program's features, on the workers ------------------------------------------
Pair = collections.namedtuple("Pair", "y z")


def _features_graph():
    g = fc.Graph()
    with g.as_default():
        with fc.device(fc.train.replica_device_setter(cluster=CLUSTER)):
            w = fc.Variable(np.arange(3, dtype=np.float32), name="w")
            count = fc.Variable(0, name="count")
            never = fc.Variable(np.ones(3, np.float32), name="never")
        x = fc.placeholder(fc.float32, [3], name="x")
        scale = fc.placeholder_with_default(2.0, [], name="scale")
        with fc.device("/job:worker/task:1"):
            y = fc.multiply(x * scale, w, name="y")
            z = fc.reduce_sum(y, name="z")
        with fc.control_dependencies([fc.assign_add(count, 1, name="tick")]):
            bump = fc.assign_add(w, fc.ones([3]), name="bump")
        with fc.device("/job:worker/task:0"):
            printed = fc.Print(z, [z], message="z is ")
            with fc.control_dependencies([fc.assert_positive(z, message="z positive")]):
                checked = fc.identity(z, name="checked")
        data = fc.data.Dataset.from_tensor_slices(
            np.arange(6, dtype=np.float32).reshape(2, 3))
        element = data.make_one_shot_iterator().get_next()
        from_data = fc.multiply(element, w, name="from_data")
        summary = fc.summary.scalar("z", z)
        with fc.device("/job:worker/task:0"):
            seen = fc.Variable(0, name="seen")
            tick = fc.assign_add(seen, 1, name="tick0")
        with fc.device("/job:worker/task:1"), fc.control_dependencies([tick]):
            after_tick = fc.identity(x * 1.0, name="after_tick")  # a control edge W0 -> W1
        init = fc.variables_initializer([w, count, seen])
    return dict(g=g, w=w, count=count, never=never, x=x, scale=scale, y=y, z=z,
                seen=seen, after_tick=after_tick,
                bump=bump, printed=printed, checked=checked, from_data=from_data,
                summary=summary, init=init)


def _exercise(sess, m):
    """What a program does with a Session; the values it sees."""
    xv = np.array([1, 2, 3], np.float32)
    got = [sess.run(m["init"])]
    got.append(sess.run({"pair": Pair(m["y"], m["z"]), "w": m["w"]}, {m["x"]: xv}))
    got.append(sess.run([m["z"], m["scale"]], {m["x"]: xv, m["scale"]: 0.5}))
    got.append(sess.run([m["bump"], m["count"]]))
    got.append(sess.run(m["bump"].op))
    got.append(sess.run([m["w"], m["count"]]))
    got.append(sess.run(m["y"], {m["z"]: 1.0, m["x"]: xv}))  # a fed fetch... and y
    call = sess.make_callable([m["z"], m["y"]], [m["x"]])
    buf = np.zeros(3, np.float32)
    got.append(call(xv))
    z, y = call(xv * 2, out=[None, buf])
    got.append((z, y is buf, buf.copy()))
    got.append(sess.run(m["printed"], {m["x"]: xv}))
    got.append(sess.run(m["checked"], {m["x"]: xv}))
    with pytest.raises(fc.errors.InvalidArgumentError, match="z positive"):
        sess.run(m["checked"], {m["x"]: -xv})
    got.append([sess.run(m["from_data"]) for _ in range(2)])
    with pytest.raises(fc.errors.OutOfRangeError):
        sess.run(m["from_data"])
    got.append(sess.run(m["summary"], {m["x"]: xv}))
    m["w"].load(np.full(3, 5, np.float32), sess)
    got.append(sess.run(m["z"], {m["x"]: xv}))
    got.append([sess.run(m["after_tick"], {m["x"]: xv}), sess.run(m["seen"])])
    got.append(sess.compile_count)
    return got


def _same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for p, q in zip(a, b):
            _same(p, q)
    elif isinstance(a, (np.ndarray, np.generic, float, int)):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_a_program_sees_what_one_process_sees(ray_runtime, capfd):
    m = _features_graph()
    with fc.Session(graph=m["g"]) as sess:
        local = _exercise(sess, m)
    local_err = capfd.readouterr().err
    with fc.Session("ray://local", graph=m["g"], config=config()) as sess:
        remote = _exercise(sess, m)
        # every step ran on the workers: the variables are there, not on the client
        store = sess._store
        assert store.owner("w") == store.owner("count") == PS
        assert {t for t in sess._master.cluster.tasks} == {PS, W0, W1}
        parts = {p.task.to_string() for p in sess.last_partitioning.partitions}
        assert parts <= {PS, W0, W1}
        sess.run([m["after_tick"], m["scale"]], {m["x"]: np.ones(3, np.float32)})  # new
        stages = sess.last_partitioning.partitions
        control = [t for p in stages for t in p.recvs if t.tensor is None]
        assert [(stages[t.src].task.to_string(), stages[t.dst].task.to_string())
                for t in control] == [(W0, W1)]
    _same(local, remote)
    printed = [line for line in local_err.splitlines() if line.startswith("z is ")]
    assert printed == ["z is [40]"]  # tf.Print: on the client, after the step
    assert [line for line in capfd.readouterr().err.splitlines()
            if line.startswith("z is ")] == printed


def test_an_uninitialized_read_names_the_variable_and_its_task(ray_runtime):
    m = _features_graph()
    with fc.Session("ray://local", graph=m["g"], config=config()) as sess:
        with pytest.raises(UninitializedVariableError) as info:
            sess.run(m["never"] * 2.0)
        assert "'never'" in str(info.value) and PS in str(info.value)
        with pytest.raises(UninitializedVariableError, match=f"'never'.*{PS}"):
            sess._store.get("never")


def test_threads_sharing_a_distributed_session_lose_no_update(ray_runtime):
    """Two threads train (assign_add on the ps) while a third loads and reads another
    variable: steps, registrations and host sets take turns on the cluster's lock."""
    import threading
    m = _features_graph()
    errors = []
    with fc.Session("ray://local", graph=m["g"], config=config()) as sess:
        sess.run(m["init"])

        def bump(n):
            try:
                for _ in range(n):
                    sess.run(m["bump"].op)
            except Exception as e:  # noqa: BLE001  (reported below)
                errors.append(e)

        def load_and_read():
            try:
                for k in range(5):
                    m["seen"].load(k, sess)
                    assert sess.run(m["seen"]) == k
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        threads = [threading.Thread(target=bump, args=(8,)) for _ in range(2)] + \
            [threading.Thread(target=load_and_read)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        np.testing.assert_array_equal(sess.run(m["w"]), np.arange(3) + 16)
        assert sess.run(m["count"]) == 16


# ---- training across workers (examples/distributed_mlp.py) -----------------------------
@pytest.fixture(scope="module")
def reference():
    """Six steps of the data-parallel program in one process: (data, losses)."""
    data = mlp.batches(6)
    model = mlp.build(CLUSTER)
    with fc.Session(graph=model["graph"]) as sess:
        losses = mlp.train(sess, model, data)
    return data, losses


def _gone(ray, names, within=10.0) -> bool:
    """Whether no actor of `names` is alive within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = []
        for name in names:
            try:
                ray.get_actor(name, namespace="flowc")
                alive.append(name)
            except ValueError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_data_parallel_training_equals_one_process(ray_runtime, reference, tmp_path):
    data, ref = reference
    model = mlp.build(CLUSTER)
    with fc.Graph().as_default():  # the Session's graph, not the default one, is used
        sess = fc.Session("ray://local", graph=model["graph"], config=config())
    with sess:
        got = mlp.train(sess, model, data)
        tasks = {p.task.to_string() for p in sess.last_partitioning.partitions}
        owners = {sess._store.owner(n) for n in ("w1/part_0", "w1/part_1", "b1", "w2")}
        names = [f"{sess._master.cluster.name}:{t}" for t in sess._master.cluster.tasks]
        variables = model["graph"].get_collection(fc.GraphKeys.GLOBAL_VARIABLES)
        values = sess.run(variables)
        path = model["saver"].save(sess, str(tmp_path / "model"))
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    assert tasks == {PS, W0, W1} and owners == {PS}
    assert _gone(ray_runtime, names)  # close() killed the workers
    # the checkpoint written from the workers restores into one process
    local = mlp.build(CLUSTER)
    with fc.Session(graph=local["graph"]) as sess:
        local["saver"].restore(sess, path)
        restored = sess.run(local["graph"].get_collection(fc.GraphKeys.GLOBAL_VARIABLES))
    for a, b in zip(values, restored):
        np.testing.assert_array_equal(a, b)


def test_a_killed_worker_is_named_and_training_recovers_from_the_checkpoint(
        ray_runtime, reference, tmp_path):
    from compiler.distributed.cluster import PING_S
    data, ref = reference
    model = mlp.build(CLUSTER)
    cfg = config()
    sess = fc.Session("ray://local", graph=model["graph"], config=cfg)
    try:
        first = mlp.train(sess, model, data[:3])
        path = model["saver"].save(sess, str(tmp_path / "model"), global_step=3)
        ray_runtime.kill(sess._master.cluster.workers[W1])
        start = time.monotonic()
        with pytest.raises(UnavailableError) as info:
            mlp.train(sess, model, data[3:4], init=False)
        assert time.monotonic() - start < TIMEOUT_MS / 1000 + PING_S + 2  # never a hang
        assert f"task {W1}" in str(info.value) and "restore the latest checkpoint" in \
            str(info.value)
        with pytest.raises(UnavailableError, match=W1):  # the cluster is broken: at once
            sess.run(model["loss"], {model["x"]: data[0][0], model["y"]: data[0][1]})
    finally:
        sess.close()
    # TF1's recovery: a new Session (new workers) restores the latest checkpoint
    assert fc.train.latest_checkpoint(str(tmp_path)) == path
    with fc.Session("ray://local", graph=model["graph"], config=cfg) as sess:
        model["saver"].restore(sess, fc.train.latest_checkpoint(str(tmp_path)))
        assert sess.run(model["step"]) == 3
        rest = mlp.train(sess, model, data[3:], init=False)
    np.testing.assert_allclose(first + rest, ref, rtol=1e-5)


def test_an_unclosed_session_leaves_no_workers_past_its_process(ray_runtime):
    """The actors are not detached: Ray kills them with the driver that made them."""
    address = ray_runtime.get_runtime_context().gcs_address
    code = ("import compiler as fc\n"
            f"s = fc.Session('ray://{address}', graph=fc.Graph(), config=fc.ConfigProto("
            "cluster_def={'ps': 1, 'worker': 1}, operation_timeout_in_ms=30000))\n"
            "c = s._master.cluster\n"
            "print(*[f'{c.name}:{t}' for t in c.tasks], sep='\\n', flush=True)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    names = out.stdout.split()
    assert len(names) == 2 and all(":/job:" in n for n in names)
    assert _gone(ray_runtime, names, within=30)


def test_monitored_training_session_on_ray_restores_its_checkpoint_dir(ray_runtime, reference,
                                                                       tmp_path):
    """TF1's MonitoredTrainingSession(master=target, config=...): the chief's Session is
    distributed, restores the latest checkpoint of checkpoint_dir and trains on."""
    data, ref = reference
    model = mlp.build(CLUSTER)
    with fc.Session(graph=model["graph"]) as sess:  # three steps in one process
        mlp.train(sess, model, data[:3])
        model["saver"].save(sess, str(tmp_path / "model"), global_step=3)
    with model["graph"].as_default():
        with fc.train.MonitoredTrainingSession(
                master="ray://local", config=config(), checkpoint_dir=str(tmp_path),
                save_checkpoint_secs=None, save_summaries_steps=None,
                log_step_count_steps=None) as sess:
            assert sess.run(model["step"]) == 3
            assert sess._sess._master is not None  # the workers hold the restored values
            rest = [float(sess.run([model["loss"], model["train"]],
                                   {model["x"]: xv, model["y"]: yv})[0])
                    for xv, yv in data[3:]]
    np.testing.assert_allclose(rest, ref[3:], rtol=1e-5)
