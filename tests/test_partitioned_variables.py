"""Partitioned variables (issue 17 item 5): TF1's partitioners, `get_variable(...,
partitioner=)` / `variable_scope(partitioner=)` returning a PartitionedVariable, use in
ops, assign, embedding_lookup on the shards (gradients vs jax), training, devices under
replica_device_setter, the Saver (one whole tensor, any partitioning on restore), meta
graphs (save_slice_info_def, colocation `_class`) and the TensorBoard graph's `_class`.
Numbers are checked against numpy, on the interpreter and the LLVM backend."""

import numpy as np
import pytest

import compiler as tf
from compiler.summary import graphdef, proto
from compiler.train.saveables import Sliced

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ("interpret", "llvm")
RNG = np.random.default_rng(17)


def config(backend):
    return tf.ConfigProto(backend="interpret") if backend == "interpret" else None


# ---- partitioners ------------------------------------------------------------------------
def test_partitioners_follow_tf1_arithmetic():
    fixed = tf.fixed_size_partitioner(4, axis=1)
    assert fixed(shape=tf.TensorShape([5, 10]), dtype=tf.float32) == [1, 4]
    assert fixed(shape=tf.TensorShape([5, 3]), dtype=tf.float32) == [1, 3]  # <= the dim
    # 1000 x 100 float32 = 400000 bytes: ceil(400000 / 262144) = 2 slices of >= 256 KiB
    mm = tf.min_max_variable_partitioner(max_partitions=8)
    assert mm(shape=tf.TensorShape([1000, 100]), dtype=tf.float32) == [2, 1]
    assert mm(shape=tf.TensorShape([1000, 100]), dtype=tf.float64) == [4, 1]
    assert tf.min_max_variable_partitioner(3)(tf.TensorShape([1000, 100]), tf.float64) == [3, 1]
    assert mm(shape=tf.TensorShape([10, 4]), dtype=tf.float32) == [1, 1]
    # 100 x 8 float32: a row is 32 bytes; 100 bytes hold 3 rows -> ceil(100 / 3) = 34 shards
    ax = tf.variable_axis_size_partitioner(100)
    assert ax(shape=tf.TensorShape([100, 8]), dtype=tf.float32) == [34, 1]
    assert tf.variable_axis_size_partitioner(100, max_shards=5)(
        tf.TensorShape([100, 8]), tf.float32) == [5, 1]
    assert tf.variable_axis_size_partitioner(1)(tf.TensorShape([6, 8]), tf.float32) == [6, 1]
    with pytest.raises(ValueError, match="num_shards"):
        tf.fixed_size_partitioner(0)
    with pytest.raises(ValueError, match="axis 2"):
        tf.fixed_size_partitioner(2, axis=2)(shape=tf.TensorShape([4, 4]), dtype=tf.float32)
    with pytest.raises(ValueError, match="max_shard_bytes"):
        tf.variable_axis_size_partitioner(0)


@pytest.mark.parametrize("shape,axis,n,want", [
    ([10, 4], 0, 3, [[4, 4], [3, 4], [3, 4]]),
    ([3, 7], 1, 3, [[3, 3], [3, 2], [3, 2]]),
    ([8], 0, 4, [[2], [2], [2], [2]]),
    ([5, 2], 0, 1, [[5, 2]]),
])
def test_shard_shapes_names_and_slice_info(shape, axis, n, want):
    pv = tf.get_variable("w", shape, partitioner=tf.fixed_size_partitioner(n, axis))
    assert isinstance(pv, tf.PartitionedVariable)
    assert len(pv) == n and list(pv) == pv.get_variable_list()
    assert [v.name for v in pv] == [f"w/part_{i}:0" for i in range(n)]
    assert [v.shape.as_list() for v in pv] == want
    parts = [1] * len(shape)
    parts[axis] = n
    assert pv._get_partitions() == parts
    assert pv.name == "w" and pv.shape.as_list() == shape and pv.dtype == tf.float32
    offsets = [v._get_save_slice_info().var_offset[axis] for v in pv]
    assert offsets == list(np.cumsum([0] + [s[axis] for s in want[:-1]]))
    assert pv.get_variable_list()[0]._get_save_slice_info().full_name == "w"
    # the shards are ordinary global, trainable variables
    assert set(tf.global_variables()) == set(pv) == set(tf.trainable_variables())


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_initializer_ops_and_assign(backend):
    full = RNG.normal(size=(7, 3)).astype(np.float32)
    with tf.variable_scope("s", partitioner=tf.fixed_size_partitioner(3)):
        pv = tf.get_variable("w", initializer=full)
    x = tf.placeholder(tf.float32, [2, 7])
    y = tf.matmul(x, pv)                      # converted: the shards concatenated
    t = tf.convert_to_tensor(pv)
    new = RNG.normal(size=(7, 3)).astype(np.float32)
    assigns = pv.assign(new)
    adds = pv.assign_add(np.ones((7, 3), np.float32))
    assert len(assigns) == 3 and [a.shape.as_list() for a in assigns] == [[3, 3], [2, 3],
                                                                          [2, 3]]
    xv = RNG.normal(size=(2, 7)).astype(np.float32)
    other = tf.get_variable("other", initializer=np.ones((4, 2), np.float32),
                            partitioner=tf.fixed_size_partitioner(2))
    assert tf.Variable.SaveSliceInfo is type(other.get_variable_list()[0]._save_slice_info)
    with tf.Session(config=config(backend)) as sess:
        sess.run(tf.variables_initializer([pv]))
        with pytest.raises(Exception, match="other/part_0"):
            sess.run(other)              # not initialized by pv's initializer
        sess.run(other.initializer)
        np.testing.assert_array_equal(sess.run(other), np.ones((4, 2), np.float32))
        np.testing.assert_array_equal(sess.run(pv), full)
        np.testing.assert_array_equal(sess.run(t), full)
        np.testing.assert_allclose(sess.run(y, {x: xv}), xv @ full, rtol=1e-5)
        np.testing.assert_array_equal(sess.run(pv.get_variable_list()[1]), full[3:5])
        sess.run(assigns)
        np.testing.assert_array_equal(sess.run(pv.as_tensor()), new)
        sess.run(adds)
        np.testing.assert_array_equal(sess.run(pv), new + 1)
    with pytest.raises(ValueError, match="shape"):
        pv.assign(np.zeros((6, 3), np.float32))


def test_initializers_are_drawn_per_shard_with_the_full_shapes_fans():
    tf.set_random_seed(3)
    pv = tf.get_variable("w", [1000, 2], partitioner=tf.fixed_size_partitioner(10))
    seen = {}

    def init(shape, dtype=None, partition_info=None):
        seen[tuple(partition_info.var_offset)] = (list(shape), partition_info.full_shape)
        return tf.zeros(shape, dtype)
    tf.get_variable("z", [5, 2], initializer=init, partitioner=tf.fixed_size_partitioner(2))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        value = sess.run(pv)
    # glorot_uniform: limit sqrt(6 / (1000 + 2)) from the full shape, not a shard's
    limit = np.sqrt(6.0 / 1002)
    assert np.abs(value).max() <= limit and np.abs(value).max() > 0.9 * limit
    assert seen == {(0, 0): ([3, 2], [5, 2]), (3, 0): ([2, 2], [5, 2])}
    assert tf.get_default_graph().get_operation_by_name("w/part_0").type == "variable"


def test_scope_partitioner_is_inherited_and_reuse_follows_tf1():
    part = tf.fixed_size_partitioner(2)
    with tf.variable_scope("outer", partitioner=part):
        with tf.variable_scope("inner"):
            a = tf.get_variable("a", [4, 3])
            assert tf.get_variable_scope().partitioner is part
        b = tf.get_variable("b", [3], partitioner=tf.fixed_size_partitioner(3))
    assert isinstance(a, tf.PartitionedVariable) and a.name == "outer/inner/a"
    assert len(b) == 3
    with tf.variable_scope("outer", reuse=True, partitioner=part):
        with tf.variable_scope("inner"):
            assert tf.get_variable("a", [4, 3]) is a
            assert tf.get_variable("a") is a
            with pytest.raises(ValueError, match="specified partitions"):
                tf.get_variable("a", [4, 3], partitioner=tf.fixed_size_partitioner(4))
            with pytest.raises(ValueError, match="specified shape"):
                tf.get_variable("a", [5, 3])
            with pytest.raises(ValueError, match="does not exist"):
                tf.get_variable("missing", [4, 3])
    with tf.variable_scope("outer", partitioner=part):
        with pytest.raises(ValueError, match="already exists"):
            tf.get_variable("inner/a", [4, 3])
    with pytest.raises(ValueError, match="No partitioner was provided"):
        tf.get_variable("outer/inner/a", [4, 3])
    tf.get_variable("plain", [4, 3])
    with pytest.raises(ValueError, match="unpartitioned version"):
        tf.get_variable("plain", [4, 3], partitioner=part)
    with pytest.raises(ValueError, match="one dimension"):
        tf.get_variable("bad", [4, 4], partitioner=lambda shape, dtype: [2, 2])
    with pytest.raises(ValueError, match="rank >= 1"):
        tf.get_variable("scalar", [], partitioner=part)


# ---- embedding lookups and training ----------------------------------------------------
def full_rows(ids, sizes, strategy):
    """The row of the concatenated table each id reads (TF1's rules)."""
    n, offsets = len(sizes), np.cumsum([0] + sizes[:-1])
    if strategy == "mod":
        return offsets[ids % n] + ids // n
    return ids


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_embedding_lookup_on_shards_and_its_gradient(backend, strategy):
    import jax
    import jax.numpy as jnp
    table = RNG.normal(size=(11, 4)).astype(np.float32)
    pv = tf.get_variable("emb", initializer=table, partitioner=tf.fixed_size_partitioner(3))
    sizes = [v.shape.as_list()[0] for v in pv]
    ids_v = np.array([[0, 3, 4, 10], [7, 7, 2, 5]], np.int32)
    weights = RNG.normal(size=(2, 4, 4)).astype(np.float32)
    ids = tf.placeholder(tf.int32, [2, 4])
    rows = tf.nn.embedding_lookup(pv, ids, partition_strategy=strategy)
    same = tf.nn.embedding_lookup(pv.get_variable_list(), ids, partition_strategy=strategy)
    loss = tf.reduce_sum(tf.sin(rows) * weights)
    grads = tf.gradients(loss, [v.value() for v in pv])
    with tf.Session(config=config(backend)) as sess:
        sess.run(tf.global_variables_initializer())
        got, got2, got_grads = sess.run([rows, same, grads], {ids: ids_v})
    rows_v = full_rows(ids_v, sizes, strategy)
    np.testing.assert_array_equal(got, table[rows_v])
    np.testing.assert_array_equal(got2, got)
    want = jax.grad(lambda t: jnp.sum(jnp.sin(t[rows_v]) * weights))(table)
    np.testing.assert_allclose(np.concatenate(got_grads), np.asarray(want), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_minimize_trains_the_shards_like_one_variable(backend):
    table = RNG.normal(size=(9, 3)).astype(np.float32)
    ids_v = np.array([1, 8, 8, 4], np.int32)
    ids = tf.placeholder(tf.int32, [4])
    pv = tf.get_variable("p", initializer=table, partitioner=tf.fixed_size_partitioner(2))
    whole = tf.get_variable("whole", initializer=table)
    dense = tf.get_variable("dense", initializer=np.ones((3, 1), np.float32))

    def loss_of(t):
        e = tf.nn.embedding_lookup(t, ids, partition_strategy="div")
        return tf.reduce_sum(tf.square(tf.matmul(e, dense) - 1.0)) + tf.reduce_sum(tf.square(t))
    opt = tf.train.MomentumOptimizer(0.05, 0.9)
    train_p = opt.minimize(loss_of(pv), var_list=[pv])
    train_w = tf.train.MomentumOptimizer(0.05, 0.9).minimize(loss_of(whole),
                                                              var_list=[whole])
    assert sorted(opt.get_slot_names()) == ["momentum"]
    assert opt.get_slot(pv.get_variable_list()[1], "momentum").shape.as_list() == [4, 3]
    with tf.Session(config=config(backend)) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run([train_p, train_w], {ids: ids_v})
        got, want = sess.run([pv, whole])
    assert not np.allclose(got, table)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# ---- devices ------------------------------------------------------------------------------
def test_replica_device_setter_puts_shards_round_robin_on_the_ps_tasks():
    with tf.device(tf.train.replica_device_setter(ps_tasks=2)):
        first = tf.get_variable("first", [2])
        pv = tf.get_variable("emb", [10, 4], partitioner=tf.fixed_size_partitioner(3))
        looked = tf.nn.embedding_lookup(pv, tf.constant([1, 2]))
    assert first.op.device == "/job:ps/task:0"
    assert [v.op.device for v in pv] == ["/job:ps/task:1", "/job:ps/task:0",
                                         "/job:ps/task:1"]
    assert looked.op.device == "/job:worker"
    with tf.device(tf.train.replica_device_setter(ps_tasks=2)):
        joined = pv.as_tensor()
    assert joined.op.device == "/job:worker"


# ---- checkpoints and meta graphs ------------------------------------------------------------
def _build(partitions):
    kwargs = {} if partitions is None else {
        "partitioner": tf.fixed_size_partitioner(partitions)}
    w = tf.get_variable("w", [7, 3], initializer=tf.zeros_initializer(), **kwargs)
    b = tf.get_variable("b", [3], initializer=tf.zeros_initializer())
    return w, b


@pytest.mark.parametrize("fmt", ["v2", "npz"])
def test_saver_round_trip_and_restore_into_another_partitioning(tmp_path, fmt):
    table = RNG.normal(size=(7, 3)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        w, b = _build(3)
        saver = tf.train.Saver(format=fmt)
        assert isinstance(saver._vars["w"], Sliced) and set(saver._vars) == {"w", "b"}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(w.assign(table))
            path = saver.save(sess, str(tmp_path / "model"))
    if fmt == "v2":
        assert tf.train.list_variables(path) == [("b", [3]), ("w", [7, 3])]
    for partitions in (3, 2, 7, None):
        g = tf.Graph()
        with g.as_default():
            w2, _ = _build(partitions)
            with tf.Session() as sess:
                tf.train.Saver(format=fmt).restore(sess, path)
                np.testing.assert_array_equal(sess.run(w2), table)
                if partitions == 2:
                    np.testing.assert_array_equal(sess.run(w2.get_variable_list()[1]),
                                                  table[4:])


def test_saver_var_lists_with_partitioned_variables(tmp_path):
    w, b = _build(3)
    shards = w.get_variable_list()
    assert isinstance(tf.train.Saver([w, b])._vars["w"], Sliced)
    assert isinstance(tf.train.Saver({"emb": w})._vars["emb"], Sliced)
    assert isinstance(tf.train.Saver({"emb": shards})._vars["emb"], Sliced)
    assert tf.train.Saver({"one": shards[0]})._vars["one"] is shards[0]  # a whole tensor
    with pytest.raises(ValueError, match="do not make up the whole variable|cover"):
        tf.train.Saver(shards[:2])
    with pytest.raises(ValueError, match="same checkpoint name"):
        tf.train.Saver([w, w])
    with pytest.raises(ValueError, match="shards of one partitioned variable"):
        tf.train.Saver({"x": [b]})
    with pytest.raises(ValueError, match="not a shard"):
        tf.train.Saver({"x": [shards[0], b]})


def test_restore_refuses_a_different_full_shape(tmp_path):
    w, b = _build(3)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = tf.train.Saver().save(sess, str(tmp_path / "m"))
    g = tf.Graph()
    with g.as_default():
        tf.get_variable("w", [8, 3], partitioner=tf.fixed_size_partitioner(2))
        tf.get_variable("b", [3])
        with tf.Session() as sess, pytest.raises(tf.train.CheckpointError, match="w"):
            tf.train.Saver().restore(sess, path)


def test_meta_graph_keeps_slices_and_colocation(tmp_path):
    table = RNG.normal(size=(7, 3)).astype(np.float32)
    w, b = _build(3)
    with tf.colocate_with(b):
        near = tf.identity(b, name="near_b")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(w.assign(table))
        path = tf.train.Saver().save(sess, str(tmp_path / "m"))
    assert near.op.get_attr("_class") == ["loc:@b"]
    g = tf.Graph()
    with g.as_default():
        saver = tf.train.import_meta_graph(path + ".meta", import_scope="imp")
        op = g.get_operation_by_name("imp/near_b")
        assert op.get_attr("_class") == ["loc:@imp/b"]
        shard = g.get_operation_by_name("imp/w/part_1")
        assert g.get_operation_by_name("imp/b").colocation_groups() == ["loc:@imp/b"]
        item = saver._vars["w"]
        assert isinstance(item, Sliced) and [p.op for p in item.parts][1] is shard
        info = item.parts[1]._get_save_slice_info()
        assert (info.full_name, info.full_shape, info.var_offset, info.var_shape) == (
            "w", [7, 3], [3, 0], [2, 3])
        with tf.Session() as sess:
            saver.restore(sess, path)
            got = sess.run([p.value() for p in item.parts])
    np.testing.assert_array_equal(np.concatenate(got), table)


def test_tensorboard_graph_writes_the_colocation_attr():
    b = tf.get_variable("b", [3])
    with tf.colocate_with(b):
        tf.identity(b, name="near_b")
    graph = proto.fields(graphdef.user_graph_def(tf.get_default_graph()))
    nodes = {n.name: n for n in map(graphdef.parse_node_def, graph[1])}
    assert nodes["near_b"].colocation == ["loc:@b"]
    assert nodes["b"].colocation == []
    # the meta graph's NodeDef carries it as TF1 does: a list(s) AttrValue
    node = graphdef.parse_node_def(graphdef.op_node_def(
        tf.get_default_graph().get_operation_by_name("near_b")))
    assert node.colocation == ["loc:@b"] and 1 in node.attr["_class"]


def test_layers_under_a_partitioned_scope_train_with_adam():
    """TF1's idiom: a scope partitioner cuts the weights `tf.layers.dense` makes."""
    x = tf.placeholder(tf.float32, [None, 6])
    with tf.variable_scope("m", partitioner=tf.fixed_size_partitioner(2)):
        y = tf.layers.dense(x, 4)
    with tf.variable_scope("m", reuse=tf.AUTO_REUSE, partitioner=tf.fixed_size_partitioner(2)):
        kernel = tf.get_variable("dense/kernel", [6, 4])
    assert [v.name for v in kernel] == ["m/dense/kernel/part_0:0", "m/dense/kernel/part_1:0"]
    assert len(tf.trainable_variables()) == 4  # kernel and bias, two shards each
    loss = tf.reduce_mean(tf.square(y - 1.0))
    train = tf.train.AdamOptimizer(0.05).minimize(loss)
    xv = RNG.normal(size=(8, 6)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        k0, before = sess.run([kernel, loss], {x: xv})
        for _ in range(20):
            sess.run(train, {x: xv})
        k1, after = sess.run([kernel, loss], {x: xv})
    assert after < 0.5 * before
    assert np.abs(k1 - k0).min() > 0  # every row of both shards moved


def test_meta_graph_refuses_a_colocation_group_naming_no_node():
    b = tf.get_variable("b", [3])
    with tf.colocate_with(b):
        tf.identity(b, name="near_b")
    data = tf.train.export_meta_graph()
    assert data.count(b"loc:@b") == 1
    g = tf.Graph()
    with g.as_default(), pytest.raises(ValueError, match="near_b.*_class"):
        tf.train.import_meta_graph(data.replace(b"loc:@b", b"loc:@q"))
    assert g.get_operations() == []
