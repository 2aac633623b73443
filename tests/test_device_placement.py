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
