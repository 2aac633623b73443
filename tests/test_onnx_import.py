"""fc.onnx.import_model as a user calls it: symbolic batch dims, every problem reported at
once, trainable initializers, input_map, validation of what is loaded, the onnx Backend's
binding of shape inputs, and the two calls from an .onnx file to a .so."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper

import compiler as fc
from compiler.onnx.backend import backend

OPSET = [h.make_opsetid("", 17)]


def _model(nodes, inputs, outputs, inits=(), opset=OPSET, name="g"):
    graph = h.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    return h.make_model(graph, opset_imports=opset)


def _vi(name, shape, elem=TP.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def _mlp(rng):
    w = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    nodes = [h.make_node("MatMul", ["x", "w"], ["xw"], name="/fc1/MatMul"),
             h.make_node("Add", ["xw", "b"], ["pre"], name="/fc1/Add"),
             h.make_node("Relu", ["pre"], ["y"], name="/act/Relu")]
    model = _model(nodes, [_vi("x", ["batch", 3])], [_vi("y", ["batch", 4])],
                   [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return model, w, b


def test_symbolic_batch_one_compile_two_batch_sizes(fresh_default_graph):
    model, w, b = _mlp(np.random.default_rng(0))
    (x,), (y,) = fc.onnx.import_model(model)
    assert x.shape.as_list() == [None, 3] and y.shape.as_list() == [None, 4]
    assert y.op.name == "y" and [op.name for op in fc.get_default_graph().get_operations()
                                 if op.type == "matmul"] == ["fc1/MatMul/MatMul"]
    with fc.Session() as sess:
        for n in (1, 5):
            xv = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)
            np.testing.assert_allclose(sess.run(y, {x: xv}), np.maximum(xv @ w + b, 0),
                                       rtol=1e-5, atol=1e-6)
        assert sess.compile_count == 1


def test_dim_param_shared_by_two_inputs_is_one_symbol(fresh_default_graph):
    # no op relates a and b: only their common dim_param does
    model = _model([h.make_node("Relu", ["a"], ["c"]), h.make_node("Relu", ["b"], ["d"])],
                   [_vi("a", ["N", 2]), _vi("b", ["N", 2])],
                   [_vi("c", ["N", 2]), _vi("d", ["N", 2])])
    (a, b), (c, d) = fc.onnx.import_model(model)
    with fc.Session() as sess:
        sess.run([c, d], {a: np.zeros((3, 2), np.float32), b: np.ones((3, 2), np.float32)})
        with pytest.raises(Exception, match="dim_param 'N'"):
            sess.run([c, d], {a: np.zeros((2, 2), np.float32),
                              b: np.zeros((3, 2), np.float32)})


def test_every_unsupported_node_is_reported_at_once(fresh_default_graph):
    nodes = [h.make_node("NoSuchOp", ["x"], ["a"], name="first"),
             h.make_node("Relu", ["x"], ["b"], name="second", alpha=0.5),
             h.make_node("AlsoMissing", ["b"], ["c"], name="third")]
    model = _model(nodes, [_vi("x", [2])], [_vi("a", [2]), _vi("c", [2])])
    with pytest.raises(fc.onnx.OnnxImportError) as info:
        fc.onnx.import_model(model)
    text = str(info.value)
    assert "3 problems" in text
    assert "node 'first' (NoSuchOp, opset 17)" in text
    assert "node 'second' (Relu, opset 17)" in text and "attribute alpha" in text
    assert "node 'third' (AlsoMissing, opset 17)" in text
    assert fc.get_default_graph().get_operations() == []   # nothing half-built


def test_trainable_initializers_fine_tune(fresh_default_graph):
    model, w, b = _mlp(np.random.default_rng(1))
    (x,), (y,) = fc.onnx.import_model(model, trainable=True)
    variables = fc.trainable_variables()
    assert sorted(v.shape.as_list() for v in variables) == [[3, 4], [4]]
    loss = fc.reduce_sum(y * y)
    step = fc.train.GradientDescentOptimizer(0.1).minimize(loss)
    xv = np.ones((2, 3), np.float32)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        before = sess.run(loss, {x: xv})
        sess.run(step, {x: xv})
        after = sess.run(loss, {x: xv})
    assert before > 0 and after < before


def test_input_map_replaces_an_input(fresh_default_graph):
    model, w, b = _mlp(np.random.default_rng(2))
    feed = fc.placeholder(fc.float32, [None, 3], name="mine")
    ins, (y,) = fc.onnx.import_model(model, input_map={"x": feed * 2.0})
    assert ins == []
    xv = np.ones((1, 3), np.float32)
    with fc.Session() as sess:
        np.testing.assert_allclose(sess.run(y, {feed: xv}), np.maximum(2 * xv @ w + b, 0),
                                   rtol=1e-5)
    with pytest.raises(fc.onnx.OnnxImportError, match="nope"):
        fc.onnx.import_model(model, input_map={"nope": feed})


def test_what_is_loaded_is_validated(tmp_path, fresh_default_graph):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        fc.onnx.import_model(str(tmp_path / "missing.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\xffnot a model")
    with pytest.raises(fc.onnx.OnnxImportError, match="junk.onnx"):
        fc.onnx.import_model(str(junk))
    with pytest.raises(TypeError, match="ModelProto, bytes or a path"):
        fc.onnx.import_model(42)
    old = _model([h.make_node("Relu", ["x"], ["y"])], [_vi("x", [2])], [_vi("y", [2])],
                 opset=[h.make_opsetid("", 6)])
    with pytest.raises(fc.onnx.OnnxImportError, match="opset 6 is outside"):
        fc.onnx.import_model(old)
    strings = _model([h.make_node("Identity", ["x"], ["y"])], [_vi("x", [2], TP.STRING)],
                     [_vi("y", [2], TP.STRING)])
    with pytest.raises(TypeError, match="input 'x'.*STRING"):
        fc.onnx.import_model(strings)
    bad = _model([h.make_node("Relu", ["x"], ["y"])], [_vi("x", [2])], [_vi("y", [2])])
    bad.graph.node[0].input[0] = "undefined"
    with pytest.raises(fc.onnx.OnnxImportError, match="undefined"):
        fc.onnx.import_model(bad)


def test_backend_runs_a_model_and_checks_its_inputs():
    model, w, b = _mlp(np.random.default_rng(3))
    rep = backend().prepare(model, "CPU")
    xv = np.ones((4, 3), np.float32)
    out = rep.run([xv])
    np.testing.assert_allclose(out.y, np.maximum(xv @ w + b, 0), rtol=1e-5)
    np.testing.assert_allclose(rep.run({"x": xv})[0], out[0])
    with pytest.raises(ValueError, match="1 inputs"):
        rep.run([xv, xv])
    assert backend().supports_device("CPU") and not backend().supports_device("TPU")
    assert isinstance(rep, onnx.backend.base.BackendRep)


def test_onnx_file_to_shared_object_in_two_calls(tmp_path, fresh_default_graph):
    import runtime
    model, w, b = _mlp(np.random.default_rng(4))
    path = tmp_path / "mlp.onnx"
    onnx.save(model, str(path))
    inputs, outputs = fc.onnx.import_model(str(path))
    art = fc.compile(outputs, inputs, str(tmp_path / "out"), name="mlp")
    xv = np.random.default_rng(5).standard_normal((3, 3)).astype(np.float32)
    with runtime.load(art.directory) as so:
        got = so(xv)
    np.testing.assert_allclose(got[0] if isinstance(got, list) else got,
                               np.maximum(xv @ w + b, 0), rtol=1e-5, atol=1e-6)


def test_backend_run_node():
    node = h.make_node("Relu", ["x"], ["y"])
    (y,) = backend().run_node(node, [np.array([-1.0, 2.0], np.float32)])
    np.testing.assert_array_equal(y, [0.0, 2.0])
    with pytest.raises(ValueError, match="has inputs \\['x'\\], got 2"):
        backend().run_node(node, [np.zeros(2, np.float32)] * 2)
