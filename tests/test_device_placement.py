"""Device names and placement with TF1's rules (issue 17 item 1): DeviceSpec parsing and
merging, nested `tf.device` scopes, device functions, ClusterSpec,
replica_device_setter, colocate_with, the placer (soft placement, log_device_placement)."""

import pytest

import compiler as tf


# ---- DeviceSpec and tf.device scopes -------------------------------------------------------
def test_device_spec_parses_tf1_spellings():
    full = tf.DeviceSpec.from_string("/job:worker/replica:0/task:1/device:GPU:0")
    assert (full.job, full.replica, full.task, full.device_type, full.device_index) == \
        ("worker", 0, 1, "GPU", 0)
    assert full.to_string() == "/job:worker/replica:0/task:1/device:GPU:0"
    assert tf.DeviceSpec.from_string("/gpu:0").to_string() == "/device:GPU:0"
    assert tf.DeviceSpec.from_string("GPU:0").to_string() == "/device:GPU:0"
    cpu_any = tf.DeviceSpec.from_string("/cpu:*")
    assert cpu_any.device_type == "CPU" and cpu_any.device_index is None
    assert cpu_any.to_string() == "/device:CPU:*"
    merged = tf.DeviceSpec.from_string("/job:ps/task:0").merge_from("/task:3/gpu:0")
    assert merged.to_string() == "/job:ps/task:3/device:GPU:0"


@pytest.mark.parametrize("bad", ["/job:ps/tsk:1", "/gpu:x", "/task:one", "/device:GPU"])
def test_device_spec_bad_strings_name_the_string(bad):
    with pytest.raises(ValueError, match="expected '/job:NAME") as e:
        tf.DeviceSpec.from_string(bad)
    assert repr(bad) in str(e.value)
    with tf.Graph().as_default(), pytest.raises(ValueError, match="expected"):
        with tf.device(bad):
            pass


def test_nested_device_scopes_merge_as_tf1():
    with tf.Graph().as_default():
        with tf.device("/job:worker/task:1"):
            a = tf.constant(1.0, name="a")
            with tf.device("/gpu:0"):
                b = tf.constant(2.0, name="b")
                with tf.device("/task:2"):
                    c = tf.constant(3.0, name="c")
                with tf.device(None):
                    free = tf.constant(4.0, name="free")
                    with tf.device("/cpu:0"):
                        only = tf.constant(5.0, name="only")
    assert a.device == "/job:worker/task:1"
    assert b.device == "/job:worker/task:1/device:GPU:0"
    assert c.device == "/job:worker/task:2/device:GPU:0"
    assert free.device == "" and only.device == "/cpu:0"


def test_device_function_sees_the_op_and_inner_scopes():
    seen = []

    def by_type(op):
        seen.append((op.type, op.device))
        return "/job:ps/task:0" if op.type == "variable" else "/job:worker/task:0"

    with tf.Graph().as_default():
        with tf.device(by_type):
            v = tf.Variable(1.0, name="v")
            with tf.device("/cpu:0"):
                y = v.value() * 2.0
    assert v.op.device == "/job:ps/task:0"
    assert y.device == "/job:worker/task:0"  # the function's result replaces the device
    assert any(d == "/cpu:0" for _, d in seen)


# ---- ClusterSpec and replica_device_setter ---------------------------------------------------
def test_cluster_spec_addresses_and_counts():
    cluster = tf.train.ClusterSpec({"ps": ["ps0:2222", "ps1:2222"],
                                    "worker": {0: "w0:2222", 2: "w2:2222"}})
    assert cluster.jobs == ["ps", "worker"]
    assert cluster.num_tasks("ps") == 2 and cluster.num_tasks("worker") == 2
    assert cluster.task_address("ps", 1) == "ps1:2222"
    assert cluster.task_indices("worker") == [0, 2]
    assert cluster.as_dict() == {"ps": ["ps0:2222", "ps1:2222"],
                                 "worker": {0: "w0:2222", 2: "w2:2222"}}
    assert tf.train.ClusterSpec(cluster.as_cluster_def()) == cluster
    counted = tf.train.ClusterSpec({"ps": 2, "worker": 3})
    assert counted.num_tasks("worker") == 3 and counted.as_dict() == {"ps": 2, "worker": 3}
    assert tf.train.ClusterSpec(counted.as_cluster_def()).as_dict() == {"ps": 2, "worker": 3}
    with pytest.raises(ValueError, match="task count"):
        counted.task_address("ps", 0)
    with pytest.raises(ValueError, match="no such job.*'chief'"):
        cluster.num_tasks("chief")
    with pytest.raises(ValueError, match="'ps'.*address 7"):
        tf.train.ClusterSpec({"ps": [7]})


def test_replica_device_setter_round_robins_variables_over_ps_tasks():
    cluster = tf.train.ClusterSpec({"ps": ["ps0:2222", "ps1:2222"],
                                    "worker": ["w0:2222", "w1:2222"]})
    with tf.Graph().as_default():
        with tf.device(tf.train.replica_device_setter(
                worker_device="/job:worker/task:1", cluster=cluster)):
            vs = [tf.Variable(float(i), name=f"v{i}") for i in range(4)]
            total = tf.add_n([v.value() for v in vs])
            with tf.device("/gpu:0"):
                on_gpu = total * 2.0
    assert [v.op.device for v in vs] == ["/job:ps/task:0", "/job:ps/task:1",
                                         "/job:ps/task:0", "/job:ps/task:1"]
    assert total.device == "/job:worker/task:1"
    assert on_gpu.device == "/job:worker/task:1/device:GPU:0"
    assert tf.train.replica_device_setter(cluster={"worker": 2}) is None
    assert tf.train.replica_device_setter(ps_tasks=0) is None


# ---- colocate_with ----------------------------------------------------------------------------
def test_colocate_with_copies_the_device_and_the_class_attr():
    with tf.Graph().as_default():
        with tf.device("/job:ps/task:1"):
            v = tf.Variable(1.0, name="v")
        with tf.device("/job:worker/task:0"):
            with tf.colocate_with(v):
                moved = tf.identity(v.value(), name="moved")
                with tf.device("/cpu:0"):
                    inner = tf.identity(v.value(), name="inner")
                with tf.colocate_with(None, ignore_existing=True):
                    loose = tf.identity(v.value(), name="loose")
            other = tf.identity(v.value(), name="other")
    assert moved.device == "/job:ps/task:1" and moved.op.get_attr("_class") == ["loc:@v"]
    assert moved.op.colocation_groups() == ["loc:@v"] and v.op.colocation_groups() == ["loc:@v"]
    assert inner.device == "/job:ps/task:1/device:CPU:0"   # inner scopes still apply
    assert other.device == "/job:worker/task:0"           # the scope is back after the block
    assert loose.op.colocation_groups() == ["loc:@loose"] and loose.device == ""
    with pytest.raises(ValueError, match="no _class attr"):
        other.op.get_attr("_class")
    with pytest.raises(ValueError, match="ignore_existing"):
        with tf.colocate_with(None):
            pass


# ---- the placer ------------------------------------------------------------------------------
import numpy as np  # noqa: E402

from compiler.placement import PlacementConfig, PlacementError, place  # noqa: E402

CPU0 = "/job:localhost/replica:0/task:0/device:CPU:0"
GPU0 = "/job:localhost/replica:0/task:0/device:GPU:0"


def _ps_graph():
    cluster = tf.train.ClusterSpec({"ps": ["ps0:2222", "ps1:2222"], "worker": ["w0:2222"]})
    g = tf.Graph()
    with g.as_default(), tf.device(tf.train.replica_device_setter(cluster=cluster)):
        vs = [tf.Variable(float(i + 1), name=f"v{i}") for i in range(4)]
        loss = tf.add_n([v.value() * v.value() for v in vs], name="loss")
        step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    return g, vs, loss, step


def test_soft_placement_runs_a_replica_device_setter_graph_in_one_process():
    g, vs, loss, step = _ps_graph()
    with g.as_default():
        config = tf.ConfigProto(allow_soft_placement=True)
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(step)
            got = sess.run(loss)
    want = sum((x - 0.1 * 2 * x) ** 2 for x in (1.0, 2.0, 3.0, 4.0))
    assert np.isclose(got, want)
    ops = g.get_operations()
    decisions = place(ops, tf.CompileOptions(), PlacementConfig(allow_soft_placement=True))
    v1 = decisions[vs[1].op]
    assert v1.device.to_string() == CPU0 and v1.reason.startswith("soft placement")
    assert "'/job:ps/task:1'" in v1.reason


def test_without_soft_placement_a_device_this_process_lacks_is_an_error():
    g, vs, loss, step = _ps_graph()
    with g.as_default():
        with tf.Session(config=tf.ConfigProto(allow_soft_placement=False)) as sess:
            with pytest.raises(PlacementError, match=r"'v0/initial_value'.*cannot place it "
                               r"on '/job:worker/device:CPU:0'.*allow_soft_placement=True"):
                sess.run(tf.global_variables_initializer())
            with pytest.raises(PlacementError, match=r"variable 'v1'.*'/job:ps/task:1'.*"
                               r"another job"):
                sess.run(vs[1].value())


def test_soft_placement_moves_a_gpu_op_to_the_cpu_when_no_gpu_is_allowed():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        with tf.device("/gpu:0"):
            y = tf.exp(x, name="on_gpu")
        feed = {x: np.arange(3, dtype=np.float32)}
        config = tf.ConfigProto(allow_soft_placement=True, device_count={"GPU": 0})
        with tf.Session(config=config) as sess:
            assert np.allclose(sess.run(y, feed), np.exp(feed[x]))
            assert sess._last_device == "cpu"
        decisions = place([y.op], tf.CompileOptions(), PlacementConfig.of(config))
        assert decisions[y.op].device.to_string() == CPU0
        assert decisions[y.op].reason.startswith("soft placement") and \
            "no GPU is allowed" in decisions[y.op].reason
        strict = tf.ConfigProto(allow_soft_placement=False, device_count={"GPU": 0})
        with tf.Session(config=strict) as sess:
            with pytest.raises(PlacementError, match="exp 'on_gpu'.*no GPU is allowed"):
                sess.run(y, feed)
        # a GPU allowed: the explicit device stands
        assert place([y.op], tf.CompileOptions())[y.op].device.to_string() == GPU0


def test_reference_edges_and_colocate_with_keep_a_variable_together():
    with tf.Graph().as_default():
        with tf.device("/cpu:0"):
            v = tf.Variable(1.0, name="v")
        with tf.device("/gpu:0"):
            bump = v.assign_add(2.0)                  # an assign: a reference edge
            snap = v.read_value()                     # a read of the variable
            with tf.colocate_with(bump):
                after = tf.identity(bump, name="after")
        free = tf.identity(snap, name="free")
        ops = [v.op, v.initializer, bump.op, snap.op, after.op, free.op]
        decisions = place(ops, tf.CompileOptions())
    assert {decisions[o].device.to_string() for o in ops} == {CPU0}
    assert "reference edge of variable 'v'" in decisions[bump.op].reason
    assert "its own device '/device:GPU:0' overridden" in decisions[bump.op].reason or \
        "its own device '/gpu:0' overridden" in decisions[bump.op].reason
    assert "reference edge" in decisions[snap.op].reason
    assert decisions[after.op].reason.startswith("colocated with")
    assert decisions[free.op].reason.startswith("no device")


def test_log_device_placement_prints_tf1_lines_once_per_compile(capsys):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        y = tf.add(x, 1.0, name="y")
        with tf.Session(config=tf.ConfigProto(log_device_placement=True)) as sess:
            for _ in range(3):
                sess.run(y, {x: np.ones(2, np.float32)})
    err = capsys.readouterr().err
    assert err.count(f"y: (add): {CPU0}\n") == 1
    assert err.count(f"Const: (constant): {CPU0}\n") == 1  # the fed x is not compiled


def test_dump_graph_stage_shows_each_placed_device_and_its_reason():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        with tf.device("/job:localhost/cpu:0"):
            y = tf.exp(x, name="y")
        z = tf.add(y, 1.0, name="z")
        text = tf.dump(z, feeds=[x], stages="graph")["graph"]
    lines = {line.split(" = ")[0]: line for line in text.splitlines()}
    assert f"device='/job:localhost/cpu:0' placed='{CPU0}' (device " \
        "'/job:localhost/cpu:0')" in lines["y"]
    # per-edge inheritance (issue 17 item 2): a free op follows its first placed input
    assert f"placed='{CPU0}' (no device: follows input 'y:0' on {CPU0})" in lines["z"]
    assert "placed=" not in lines["x"]  # fed: not compiled, not placed


# ---- the viewer and TensorBoard show the decisions --------------------------------------------
def _two_device_graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        with tf.device("/gpu:0"):
            y = tf.exp(x, name="on_gpu")
        with tf.device("/cpu:0"):
            z = tf.add(y, 1.0, name="on_cpu")
        w = tf.multiply(z, 2.0, name="free")
    return g, w


def test_viewer_model_colours_nodes_by_placed_device():
    from compiler.viz import GraphModel
    from compiler.viz.model import user_stage
    from compiler.viz.render import device_colour, model_json, render_html
    g, _ = _two_device_graph()
    stage = user_stage(g.get_operations())
    nodes = {n.name: n for n in stage.nodes}
    assert nodes["on_gpu"].placed == GPU0 and nodes["on_cpu"].placed == CPU0
    assert nodes["on_gpu"].placement == "device '/gpu:0'"
    assert nodes["free"].placed == CPU0  # per-edge inheritance: follows its input
    assert nodes["free"].placement == f"no device: follows input 'on_cpu:0' on {CPU0}"
    data = model_json(GraphModel("t", [stage]))
    assert data["devices"] == [{"name": CPU0, "colour": device_colour(CPU0)},
                               {"name": GPU0, "colour": device_colour(GPU0)}]
    assert device_colour(CPU0) != device_colour(GPU0)
    row = next(r for r in data["stages"][0]["nodes"] if r[0] == "on_cpu")
    assert row[11] == [CPU0, "device '/cpu:0'"]
    # the graph is on two devices: each node names its partition (compiler/partition.py)
    assert row[12] == "p1_CPU0" and nodes["on_gpu"].partition == "p0_GPU0"
    page = render_html(GraphModel("t", [stage]))
    assert 'id="devices"' in page and "showDevices" in page


def test_tensorboard_graph_holds_the_placed_devices(tmp_path):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto import graph_pb2
    g, _ = _two_device_graph()
    writer = tf.summary.FileWriter(str(tmp_path), g)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    (graph,) = [graph_pb2.GraphDef.FromString(e.graph_def)
                for e in EventFileLoader(str(path)).Load()
                if e.WhichOneof("what") == "graph_def"]
    nodes = {n.name: n for n in graph.node}
    assert nodes["on_cpu"].device == "/cpu:0"          # the user's string, as TF1 writes it
    assert nodes["free"].device == CPU0                # placed: follows its input on_cpu
    assert nodes["on_cpu"].attr["placed_device"].s.decode() == CPU0
    assert nodes["free"].attr["placement"].s.decode().startswith("no device: follows")


def test_replica_device_setter_with_get_variable_ps_tasks_and_a_strategy():
    with tf.Graph().as_default():
        with tf.device(tf.train.replica_device_setter(ps_tasks=3)):
            ws = [tf.get_variable(f"w{i}", [2], initializer=tf.zeros_initializer())
                  for i in range(4)]
        assert [w.op.device for w in ws] == ["/job:ps/task:0", "/job:ps/task:1",
                                             "/job:ps/task:2", "/job:ps/task:0"]
        with tf.device(tf.train.replica_device_setter(ps_tasks=2,
                                                      ps_strategy=lambda op: 1)):
            with tf.device(tf.DeviceSpec(device_type="CPU", device_index=0)):
                v = tf.Variable(1.0, name="v")
        assert v.op.device == "/job:ps/task:1/device:CPU:0"


def test_optimizer_slots_live_with_their_variable_under_replica_device_setter():
    """TF1's slot creator colocates each slot with its variable, and Adam's beta powers
    with the first variable by name (`b`): with two ps tasks, round-robin alone would put
    `b`'s slots on other tasks than `b`."""
    tf.reset_default_graph()
    with tf.device(tf.train.replica_device_setter(ps_tasks=2)):
        w = tf.Variable(np.ones((3, 2), np.float32), name="w")
        b = tf.Variable(np.zeros(2, np.float32), name="b")
        x = tf.placeholder(tf.float32, [None, 3])
        loss = tf.reduce_sum(tf.matmul(x, w) + b)
        opt = tf.train.AdamOptimizer(0.1)
        opt.minimize(loss)
    assert w.op.device == "/job:ps/task:0" and b.op.device == "/job:ps/task:1"
    for var in (w, b):
        for slot in ("m", "v"):
            s = opt.get_slot(var, slot)
            assert s.op.device == var.op.device, (slot, var.name, s.op.device)
            assert s.op.colocation_groups() == [f"loc:@{var.op.name}"]
    for beta in opt._get_beta_accumulators():
        assert beta.op.device == b.op.device


def test_an_assign_alone_in_a_step_follows_its_variable():
    """TF1's reference-edge colocation also when the variable op is not in the step: a
    ps variable's initializer (replica_device_setter puts the assign itself on the
    worker job) runs on the ps, where the variable lives."""
    from compiler.placement import decisions_for
    cluster = tf.train.ClusterSpec({"ps": 1, "worker": 1})
    with tf.Graph().as_default():
        with tf.device(tf.train.replica_device_setter(cluster=cluster)):
            v = tf.Variable(np.ones(2, np.float32), name="v")
        init = v.initializer
        assert init.type == "assign" and "worker" in init.device
        got = decisions_for([init], (), tf.CompileOptions(),
                            PlacementConfig(cluster=cluster, gpu=False))[init]
    assert got.device.to_string() == "/job:ps/replica:0/task:0/device:CPU:0"
    assert "reference edge of variable 'v'" in got.reason
