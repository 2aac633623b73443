"""Meta graphs (compiler/train/meta_graph.py, docs/checkpoints.md): `Saver.save` writes
PREFIX.meta, `tf.train.import_meta_graph` rebuilds it in a fresh graph, and the TF1 idiom
import + restore + get_tensor_by_name + run gives what the original graph gives, on both
backends, including a training step and symbolic batch dims. TensorBoard's copy of TF's
MetaGraphDef/VariableDef protos (tensorboard.compat.proto, used only here) parses what
flowc writes; graphs written by TensorFlow, damaged files and name clashes are refused
with MetaGraphError and leave the default graph unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tensorboard.compat.proto import graph_pb2, meta_graph_pb2, variable_pb2

import compiler as tf

BACKENDS = ["llvm", "interpret"]
X = np.random.RandomState(0).rand(16, 4).astype(np.float32)
Y = np.arange(16) % 3


def _session(backend):
    cfg = tf.ConfigProto(backend="interpret") if backend == "interpret" else None
    return tf.Session(config=cfg)


def _build_and_train(folder):
    """A TF1 MLP classifier: trains 3 steps, saves, then one more step. Returns the
    checkpoint, the outputs at the save and after the extra step."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        y = tf.placeholder(tf.int32, [None], name="y")
        h = tf.layers.dense(x, 8, activation=tf.nn.relu, name="hidden")
        h = tf.nn.dropout(h, keep_prob=0.75, seed=3)
        logits = tf.layers.dense(h, 3, name="logits")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits), name="loss")
        step = tf.train.get_or_create_global_step()
        train_op = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=step)
        tf.add_to_collection("train_op", train_op)
        tf.add_to_collection("outputs", logits)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                sess.run(train_op, {x: X, y: Y})
            path = saver.save(sess, str(folder / "mlp"), global_step=step)
            at_save = sess.run([loss, logits], {x: X, y: Y})
            sess.run(train_op, {x: X, y: Y})
            after = sess.run(loss, {x: X, y: Y})
    return path, logits.name, at_save, after


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _build_and_train(tmp_path_factory.mktemp("meta"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_restore_and_run_in_a_fresh_graph(trained, backend):
    path, logits_name, at_save, after = trained
    with tf.Graph().as_default() as g:
        saver = tf.train.import_meta_graph(path + ".meta")
        assert {v.op.name for v in tf.trainable_variables()} == {
            "hidden/kernel", "hidden/bias", "logits/kernel", "logits/bias"}
        x, y = g.get_tensor_by_name("x:0"), g.get_tensor_by_name("y:0")
        loss = g.get_tensor_by_name("loss:0")
        assert tf.get_collection("outputs")[0].name == logits_name
        assert x.shape.as_list() == [None, 4]
        with _session(backend) as sess:
            saver.restore(sess, path)  # with the run counter: the same dropout masks
            got_loss, got_logits = sess.run([loss, logits_name], {x: X, y: Y})
            np.testing.assert_allclose(got_loss, at_save[0], rtol=1e-5)
            np.testing.assert_allclose(got_logits, at_save[1], rtol=1e-5, atol=1e-6)
            sess.run(tf.get_collection("train_op")[0], {x: X, y: Y})
            np.testing.assert_allclose(sess.run(loss, {x: X, y: Y}), after, rtol=1e-4)
            assert sess.run(tf.train.get_global_step()) == 4
            # symbolic batch: another batch size runs in the rebuilt graph
            assert sess.run(logits_name, {x: X[:5]}).shape == (5, 3)


_FRESH = textwrap.dedent("""
    import json, sys
    import numpy as np
    import compiler as tf
    path, name = sys.argv[1], sys.argv[2]
    saver = tf.train.import_meta_graph(path + ".meta")
    with tf.Session() as sess:
        saver.restore(sess, path)
        x = np.array(json.loads(sys.argv[3]), np.float32)
        print(json.dumps(sess.run(name, {"x:0": x}).tolist()))
""")


def test_a_fresh_process_rebuilds_the_graph_from_the_files_alone(trained):
    path, logits_name, at_save, _ = trained
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", _FRESH, path, logits_name,
                          json.dumps(X.tolist())], cwd=root, check=True,
                         capture_output=True, text=True, timeout=120)
    got = np.array(json.loads(out.stdout.strip().splitlines()[-1]), np.float32)
    np.testing.assert_allclose(got, at_save[1], rtol=1e-5, atol=1e-6)


def test_tensorboards_protos_parse_the_meta_graph(trained, tmp_path):
    path, logits_name, _, _ = trained
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(open(path + ".meta", "rb").read())
    nodes = {n.name: n for n in meta.graph_def.node}
    assert nodes["x"].op == "placeholder" and nodes["logits/MatMul"].input[0].startswith("dropout")
    assert list(nodes["x"].attr["_output_shapes"].list.shape[0].dim)[1].size == 4
    assert meta.saver_def.max_to_keep == 5 and meta.saver_def.version == 2
    names = set()
    for raw in meta.collection_def["trainable_variables"].bytes_list.value:
        vd = variable_pb2.VariableDef()
        vd.ParseFromString(raw)
        assert vd.trainable and vd.initializer_name in nodes
        names.add(vd.variable_name)
    assert names == {"hidden/kernel:0", "hidden/bias:0", "logits/kernel:0", "logits/bias:0"}
    assert list(meta.collection_def["outputs"].node_list.value) == [logits_name]
    # the module function writes the same graph
    with tf.Graph().as_default():
        tf.train.import_meta_graph(path + ".meta")
        data = tf.train.export_meta_graph(str(tmp_path / "again.meta"))
    again = meta_graph_pb2.MetaGraphDef()
    again.ParseFromString(data)
    assert [n.name for n in again.graph_def.node] == [n.name for n in meta.graph_def.node]


def _foreign_meta() -> bytes:
    """A MetaGraphDef the way TensorFlow writes one (TF's op types)."""
    meta = meta_graph_pb2.MetaGraphDef()
    gd = graph_pb2.GraphDef()
    for name, op, inputs in [("x", "Placeholder", []), ("w", "VariableV2", []),
                             ("w/read", "Identity", ["w"]), ("MatMul", "MatMul", ["x", "w/read"])]:
        n = gd.node.add(name=name, op=op)
        n.input.extend(inputs)
    meta.graph_def.CopyFrom(gd)
    return meta.SerializeToString()


def test_graphs_flowc_cannot_rebuild_are_refused_and_change_nothing(trained, tmp_path):
    path, _, _, _ = trained
    foreign = tmp_path / "tf.meta"
    foreign.write_bytes(_foreign_meta())
    good = open(path + ".meta", "rb").read()
    truncated = tmp_path / "cut.meta"
    truncated.write_bytes(good[:len(good) // 2])
    with tf.Graph().as_default() as g:
        with pytest.raises(tf.train.MetaGraphError,
                           match=r"(?s)tf\.meta.*Identity.*MatMul.*Placeholder.*VariableV2"):
            tf.train.import_meta_graph(str(foreign))
        with pytest.raises(tf.train.MetaGraphError, match="cut.meta"):
            tf.train.import_meta_graph(str(truncated))
        with pytest.raises(tf.train.MetaGraphError, match="not found|No such file"):
            tf.train.import_meta_graph(str(tmp_path / "absent.meta"))
        assert g.get_operations() == []
        tf.train.import_meta_graph(path + ".meta")
        count = len(g.get_operations())
        with pytest.raises(tf.train.MetaGraphError, match="import_scope"):
            tf.train.import_meta_graph(path + ".meta")
        assert len(g.get_operations()) == count
        # under a scope: a second copy with its own variables
        copy = tf.train.import_meta_graph(path + ".meta", import_scope="copy")
        with tf.Session() as sess:
            copy.restore(sess, path)
            a = sess.run("copy/logits/BiasAdd:0", {"copy/x:0": X})
            with pytest.raises(Exception, match="uninitialized"):
                sess.run("logits/BiasAdd:0", {"x:0": X})
        assert a.shape == (16, 3)


def test_devices_scopes_and_unknown_ranks_travel(tmp_path):
    with tf.Graph().as_default():
        u = tf.placeholder(tf.float32, name="u")                  # unknown rank
        with tf.device("/cpu:0"):
            v = tf.Variable(np.float32(2.0), name="v")
            tf.reduce_sum(u * v, name="out")
        data = tf.train.export_meta_graph(str(tmp_path / "g.meta"))
        cleared = tf.train.export_meta_graph(clear_devices=True)
    assert data != cleared
    with tf.Graph().as_default() as g:
        tf.train.import_meta_graph(str(tmp_path / "g.meta"))
        tf.train.import_meta_graph(cleared, import_scope="c")
        assert g.get_operation_by_name("out").device == "/cpu:0"
        assert g.get_operation_by_name("c/out").device == ""
        assert g.get_tensor_by_name("u:0").shape.ndims is None
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for name in ("out:0", "c/out:0"):
                feed = {name.replace("out", "u"): np.ones((2, 3), np.float32)}
                assert sess.run(name, feed) == 12.0
                feed = {name.replace("out", "u"): np.ones(5, np.float32)}
                assert sess.run(name, feed) == 10.0
