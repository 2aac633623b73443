"""Control-flow bodies in every view of the user graph: the `graph` stage of fc.dump
lists a while loop's and a cond's region ops indented under their region, the viewer
model (HTML, DOT) holds them under the loop's name scope with their edges, and the
GraphDef FileWriter writes for TensorBoard contains them."""

import glob
import os

import numpy as np
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto import graph_pb2

import compiler as tf
from compiler.viz import analyze, render_html, to_dot
from compiler.viz.render import model_json


def build():
    """A while loop whose body holds a cond that captures an outer tensor `w`."""
    x = tf.placeholder(tf.float32, [3], name="x")
    w = tf.constant(2.0, name="w")

    def body(i, a):
        b = tf.cond(a[0] > 1.0, lambda: a * w, lambda: a + 1.0)
        return i + 1, b

    _, out = tf.while_loop(lambda i, a: i < 3, body, [tf.constant(0), x])
    return out


def reference(x):
    """numpy: three iterations of a := a * 2 if a[0] > 1 else a + 1."""
    a = np.asarray(x, np.float32)
    for _ in range(3):
        a = a * 2.0 if a[0] > 1.0 else a + 1.0
    return a


def body_ops(graph):
    return [op for op in graph.get_operations() if op.region is not None]


def test_dump_lists_every_body_op_under_its_region():
    with tf.Graph().as_default() as g:
        out = build()
        text = tf.dump(out, stages="graph")["graph"]
    lines = text.splitlines()
    index = {line.split(" = ")[0].strip(): i for i, line in enumerate(lines) if " = " in line}
    depth = {line.split(" = ")[0].strip(): len(line) - len(line.lstrip())
             for line in lines if " = " in line}
    assert len(body_ops(g)) == 16
    for op in body_ops(g):
        region = op.region
        owner = index[region.owner]
        header = [i for i in range(owner + 1, len(lines))
                  if lines[i].strip().startswith(region.kind + "(")][0]
        assert index[op.name] > header > owner, op.name
        assert depth[op.name] == depth[region.owner] + 4, op.name
        assert op.name.startswith(region.owner + "/")
    # the cond is nested in the loop's body, its branches one level deeper
    assert depth["while/cond"] == 4 and depth["while/cond/Mul"] == 8
    assert "  body(while/loop_var_2:0, while/loop_var_3:0) -> (while/Add:0, while/cond:0):" \
        in lines
    assert "      then() -> (while/cond/Mul:0):" in lines


def test_viewer_model_groups_bodies_under_the_loop():
    with tf.Graph().as_default() as g:
        out = build()
        model = analyze(out)
    nodes = {n.name: n for n in model.stages[0].nodes}
    assert set(nodes) == {op.name for op in g.get_operations()}
    for op in body_ops(g):
        assert nodes[op.name].attrs["region"] == op.region.describe()
    # params take the loop's initial values; the capture `w` feeds the then branch
    assert nodes["while/loop_var_1"].inputs == ["x"]
    assert nodes["while/loop_var_2"].inputs == ["Const"]
    assert nodes["while/cond/Mul"].inputs == ["while/loop_var_3", "w"]
    assert nodes["while"].attrs["body"] == \
        "(while/loop_var_2:0, while/loop_var_3:0) -> (while/Add:0, while/cond:0)"
    assert nodes["while/cond"].attrs["else"] == "() -> (while/cond/Add:0)"
    order = [n.name for n in model.stages[0].nodes]   # inputs before their users
    for n in model.stages[0].nodes:
        assert all(order.index(s) < order.index(n.name) for s in n.inputs), n.name
    dot = to_dot(model.stages[0])
    assert 'subgraph "cluster_while" {' in dot and 'subgraph "cluster_while/cond" {' in dot
    assert '"w" -> "while/cond/Mul";' in dot
    rows = {r[0]: r for r in model_json(model)["stages"][0]["nodes"]}
    assert rows["while/cond/Add"][8]["region"] == "the else of 'while/cond'"
    assert '"while/cond/Mul"' in render_html(model)


def test_file_writer_graph_def_has_the_bodies(tmp_path):
    with tf.Graph().as_default() as g:
        out = build()
        with tf.Session() as sess:
            writer = tf.summary.FileWriter(str(tmp_path), sess.graph)
            writer.close()
            np.testing.assert_allclose(sess.run(out, {"x:0": [0.5, 1.0, 2.0]}),
                                       reference([0.5, 1.0, 2.0]))
    files = glob.glob(os.path.join(str(tmp_path), "events.out.tfevents.*"))
    graphs = [e.graph_def for e in EventFileLoader(files[0]).Load()
              if e.WhichOneof("what") == "graph_def"]
    nodes = {n.name: n for n in graph_pb2.GraphDef.FromString(graphs[0]).node}
    assert set(nodes) == {op.name for op in g.get_operations()}
    assert list(nodes["while/cond/Mul"].input) == ["while/loop_var_3", "w"]
    assert list(nodes["while/loop_var_3"].input) == ["x"]
    assert nodes["while/cond/Add"].attr["region"].s == b"the else of 'while/cond'"
    assert nodes["while"].op == "While" and list(nodes["while"].input) == ["Const", "x", "w"]


def test_ir_stages_show_the_regions():
    with tf.Graph().as_default():
        out = build()
        model = analyze(out)
    ir = {n.name: n for n in model.stages[1].nodes}   # the IR after conversion
    assert model.stages[1].name == "input"
    # a region's params take the region op's inputs they are bound to (a cond's
    # predicate binds none); the body's nodes sit under the loop's scope
    assert ir["while/body/param_1"].inputs == ["x"]
    assert ir["while/cond/then/param"].inputs == ["while/body/param_1"]
    assert ir["while/cond/Mul"].attrs["region"] == "then of while/cond"
    assert ir["while/Add"].attrs["region"] == "body of while"
    assert ir["while/Less"].attrs["region"] == "cond of while"
    assert ir["while"].attrs["cond"] == \
        "(while/cond/param, while/cond/param_1, while/cond/param_2) -> (while/Less)"
    for stage in model.stages[1:-1]:   # every pass keeps the bodies in view
        names = {n.name for n in stage.nodes}
        assert {"while/Add", "while/Less"} <= names, stage.name
        order = [n.name for n in stage.nodes]
        for n in stage.nodes:
            assert all(order.index(s) < order.index(n.name) for s in n.inputs), n.name


def test_fused_stage_nests_the_regions_kernels():
    with tf.Graph().as_default():
        out = build()
        model = analyze(out)
    fused = {n.name: n for n in model.stages[-1].nodes}
    scopes = {k.scope: k for k in model.kernels}
    assert [k.index for k in model.kernels] == list(range(len(model.kernels)))
    (loop,) = [k for k in model.kernels if k.root.endswith("/while")]
    assert loop.kind == "control" and "/" not in loop.scope
    # the body's, the cond's and the branches' kernels sit inside the loop's kernel
    mul = [n for n in fused if n.endswith("/while/cond/Mul")]
    assert len(mul) == 1 and mul[0].startswith(loop.scope + "/body/kernel_")
    assert "/then/kernel_" in mul[0]
    less = [n for n in fused if n.endswith("/while/Less")][0]
    assert less.startswith(loop.scope + "/cond/kernel_")
    kernel = fused[less].kernel
    assert model.kernels[kernel].scope == less.rsplit("/while/", 1)[0] and \
        model.kernels[kernel].scope in scopes
    # a region's params are buffers fed by the loop's inputs
    params = [n for n in fused.values() if n.op == "param" and n.name.startswith(
        loop.scope + "/body/while/")]
    assert len(params) == 3
    assert sorted(p.inputs[0] for p in params) == sorted(fused[loop.root].inputs)
    for n in fused.values():   # every edge has both ends
        assert all(s in fused for s in n.inputs), n.name
    # the user graph's body ops are coloured by the kernel they end up in
    user = {n.name: n for n in model.stages[0].nodes}
    assert user["while/cond/Mul"].kernel == fused[mul[0]].kernel
    assert user["while/Less"].kernel == kernel
    assert "inside control-flow regions" in model.stages[-1].summary
    rows = render_html(model)
    assert loop.scope + "/body/" in rows
