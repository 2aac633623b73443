"""NonZero, Unique and NonMaxSuppression (compiler/onnx/ops/dynamic.py): computed when the
model is imported from known inputs, refused with an error naming the input otherwise.
Expected values come from onnxruntime running the same model."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import compiler as fc  # noqa: E402
from compiler.onnx import backend  # noqa: E402

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    # the outputs' types (data-dependent dims included) as onnx's shape inference finds them
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    for out in m.graph.output:  # (an output inference cannot type: float, one unknown dim)
        out.CopyFrom(inferred.get(out.name) or helper.make_tensor_value_info(out.name, F, ["d"]))
    return m


def _out(name):
    return helper.make_empty_tensor_value_info(name)


def _ort(m, feeds=None):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds or {})


def _same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (g, w)
        np.testing.assert_array_equal(g, w)


def _boxes(rng, batches, n, center):
    if center:  # [xc, yc, w, h]
        xy = rng.uniform(0, 10, (batches, n, 2))
        wh = rng.uniform(0.5, 4, (batches, n, 2))
        return np.concatenate([xy, wh], -1).astype(np.float32)
    corners = rng.uniform(0, 10, (batches, n, 4))  # either diagonal order
    return corners.astype(np.float32)


def _all_ops_model(rng, as_inputs):
    """NonZero, Unique (4 outputs, both orders, an axis form) and NMS on the same values,
    given as initializers (as_inputs=False) or as graph inputs."""
    x = rng.integers(-2, 3, (4, 5)).astype(np.float32)
    rows = np.array([[1, 2, 2], [0, 1, 1], [1, 2, 2], [0, 0, 3]], np.int64)
    boxes, scores = _boxes(rng, 2, 12, False), rng.uniform(0, 1, (2, 3, 12)).astype(np.float32)
    values = {"x": x, "rows": rows, "boxes": boxes, "scores": scores,
              "k": np.array([4], np.int64), "iou": np.array([0.3], np.float32),
              "smin": np.array([0.2], np.float32)}
    nodes = [helper.make_node("NonZero", ["x"], ["nz"], name="nz"),
             helper.make_node("Unique", ["x"], ["u", "ui", "uv", "uc"], name="uniq", sorted=0),
             helper.make_node("Unique", ["rows"], ["r", "ri", "rv", "rc"], name="urows",
                              axis=0),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "k", "iou", "smin"],
                              ["sel"], name="nms")]
    outs = [_out("nz"), _out("u"), _out("ui"), _out("uv"), _out("uc"), _out("r"),
            _out("ri"), _out("rv"), _out("rc"), _out("sel")]
    elem = {np.dtype(np.float32): F, np.dtype(np.int64): I64}
    if as_inputs:
        ins = [helper.make_tensor_value_info(k, elem[v.dtype], list(v.shape))
               for k, v in values.items()]
        return _model(nodes, ins, outs), values
    return _model(nodes, [], outs, [numpy_helper.from_array(v, k)
                                    for k, v in values.items()]), values


def test_known_inputs_fold_to_constants(fresh_default_graph):
    m, _ = _all_ops_model(np.random.default_rng(0), as_inputs=False)
    ins, outs = fc.onnx.import_model(m)
    assert ins == []
    ops = {op.type for op in fc.get_default_graph().get_operations()}
    assert not ops & {"placeholder", "gather", "sort"}, ops
    assert all(t.op.type in ("constant", "identity") for t in outs)
    with fc.Session() as sess:
        got = sess.run(outs, {})
    _same(got, _ort(m))


def test_graph_inputs_are_refused_naming_each_node_and_input(fresh_default_graph):
    m, _ = _all_ops_model(np.random.default_rng(1), as_inputs=True)
    with pytest.raises(fc.onnx.OnnxImportError) as info:
        fc.onnx.import_model(m)
    text = str(info.value)
    for node, op, inp in [("nz", "NonZero", "'x'"), ("uniq", "Unique", "'x'"),
                          ("urows", "Unique", "'rows'"), ("nms", "NonMaxSuppression",
                                                           "'boxes'")]:
        line = next(ln for ln in text.splitlines() if f"node '{node}' ({op}, opset 17)" in ln)
        assert "output shape depends on the values of input 0" in line
        assert inp in line and "computed at run time" in line


def test_backend_binds_the_inputs(fresh_default_graph):
    m, values = _all_ops_model(np.random.default_rng(2), as_inputs=True)
    feeds = [values[vi.name] for vi in m.graph.input]
    _same(list(backend.prepare(m).run(feeds)), _ort(m, values))


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("thresholds", ["all", "no_score", "none", "zero_limit"])
def test_nms_against_onnxruntime(center, thresholds):
    rng = np.random.default_rng(10 + center)
    boxes = _boxes(rng, 3, 40, center)
    scores = rng.uniform(0, 1, (3, 4, 40)).astype(np.float32)
    scores[0, 0, :5] = 0.99  # ties (among the top): the lower index first
    boxes[1, 3] = boxes[1, 4]  # identical boxes
    inputs = {"boxes": boxes, "scores": scores,
              "k": np.array([0 if thresholds == "zero_limit" else 6], np.int64),
              "iou": np.array([0.25], np.float32), "smin": np.array([0.3], np.float32)}
    names = {"all": ["boxes", "scores", "k", "iou", "smin"],
             "no_score": ["boxes", "scores", "k", "iou"],
             "none": ["boxes", "scores"],
             "zero_limit": ["boxes", "scores", "k", "", "smin"]}[thresholds]
    node = helper.make_node("NonMaxSuppression", names, ["sel"], center_point_box=center)
    inits = [numpy_helper.from_array(inputs[n], n) for n in names if n]
    m = _model([node], [], [_out("sel")], inits, opset=11)
    want = _ort(m)
    assert thresholds in ("none", "zero_limit") or len(want[0]) > 10
    _same(list(backend.prepare(m).run([])), want)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("srt", [0, 1])
def test_unique_against_onnxruntime(axis, srt):
    x = np.random.default_rng(3).integers(0, 3, (6, 3, 2)).astype(np.int64)
    x[3] = x[1]  # repeated slices along axis 0
    kw = {} if axis is None else {"axis": axis}
    node = helper.make_node("Unique", ["x"], ["y", "i", "v", "c"], sorted=srt, **kw)
    m = _model([node], [], [_out(n) for n in "yivc"], [numpy_helper.from_array(x, "x")])
    _same(list(backend.prepare(m).run([])), _ort(m))


def test_nonzero_scalar_and_empty():
    for x in (np.array(3.0, np.float32), np.zeros((2, 0, 3), np.float32),
              np.zeros((2, 3), np.float32)):
        m = _model([helper.make_node("NonZero", ["x"], ["y"])], [], [_out("y")],
                   [numpy_helper.from_array(x, "x")])
        _same(list(backend.prepare(m).run([])), _ort(m))


def test_bad_forms_name_the_culprit(fresh_default_graph):
    boxes = np.zeros((1, 3, 5), np.float32)
    nodes = [helper.make_node("NonMaxSuppression", ["b", "s"], ["sel"], name="n1"),
             helper.make_node("NonMaxSuppression", ["b4", "s"], ["sel2"], name="n2",
                              center_point_box=2),
             helper.make_node("Unique", ["s"], ["u"], name="u1", axis=3)]
    inits = [numpy_helper.from_array(boxes, "b"),
             numpy_helper.from_array(np.zeros((1, 3, 4), np.float32), "b4"),
             numpy_helper.from_array(np.zeros((1, 2, 3), np.float32), "s")]
    m = _model(nodes, [], [_out("sel"), _out("sel2"), _out("u")], inits)
    with pytest.raises(fc.onnx.OnnxImportError) as info:
        fc.onnx.import_model(m)
    text = str(info.value)
    assert "node 'n1' (NonMaxSuppression, opset 17): input 0 (boxes) has shape [1, 3, 5]" \
        in text
    assert "node 'n2' (NonMaxSuppression, opset 17): center_point_box=2" in text
    assert "node 'u1' (Unique, opset 17): axis 3 is out of range" in text
