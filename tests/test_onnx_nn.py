"""The nn rows of the ONNX mapping table (compiler/onnx/ops/nn.py, nn_pool.py) in the
opset forms the node suite does not build (it builds each op at the current opset only):
older opsets (BatchNormalization's `spatial`, MaxPool's Indices with `storage_order`,
pools before `ceil_mode` and `dilations`), 1-D and 3-D and grouped convolutions, and a
symbolic batch. Each model runs through the ONNX backend and must match onnxruntime on the
same model and inputs. Then: an NCHW conv -> relu -> conv chain compiles to no kernel per
transpose, and what a converter cannot build is an import error naming the node."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import compiler as fc  # noqa: E402
from compiler.onnx.backend import backend  # noqa: E402
from compiler.onnx.importer import OnnxImportError  # noqa: E402

RNG = np.random.default_rng(0)


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _model(op, opset, inputs, outputs, inits=(), **attrs):
    """One `op` node; inputs / outputs as (name, shape or None); inits as (name, array)."""
    init_names = [n for n, _ in inits]
    node = helper.make_node(op, [n for n, _ in inputs] + init_names,
                            [n for n, _ in outputs], name=f"{op.lower()}_node", **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.INT64 if n == "indices" else
                                       TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(a, n) for n, a in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset < 16 else 8
    return model


def _check(model, feeds):
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)
    for vi, w in zip(model.graph.output, want):   # the shapes onnx.checker asks for
        vi.type.tensor_type.shape.Clear()
        for d in w.shape:
            vi.type.tensor_type.shape.dim.add().dim_value = d
    got = backend().prepare(model, "CPU").run([feeds[vi.name] for vi in model.graph.input])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


X = _f32(2, 4, 9, 11)
CASES = {
    "batchnorm_opset7_spatial": (
        "BatchNormalization", 7, [("x", [2, 4, 9, 11])], [("y", [2, 4, 9, 11])],
        [("s", _f32(4)), ("b", _f32(4)), ("m", _f32(4)), ("v", np.abs(_f32(4)) + 0.1)],
        dict(epsilon=1e-3, spatial=1)),
    "batchnorm_opset9": (
        "BatchNormalization", 9, [("x", [2, 4, 9, 11])], [("y", [2, 4, 9, 11])],
        [("s", _f32(4)), ("b", _f32(4)), ("m", _f32(4)), ("v", np.abs(_f32(4)) + 0.1)],
        dict(epsilon=1e-3, momentum=0.8)),
    "maxpool_opset7_pads": (
        "MaxPool", 7, [("x", [2, 4, 9, 11])], [("y", None)], [],
        dict(kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 1, 1])),
    "maxpool_opset8_indices_column_major": (
        "MaxPool", 8, [("x", [2, 4, 9, 11])], [("y", None), ("indices", None)], [],
        dict(kernel_shape=[3, 3], strides=[2, 2], storage_order=1)),
    "maxpool_opset10_ceil": (
        "MaxPool", 10, [("x", [2, 4, 9, 11])], [("y", None)], [],
        dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    "maxpool_opset12_dilations_indices": (
        "MaxPool", 12, [("x", [2, 4, 9, 11])], [("y", None), ("indices", None)], [],
        dict(kernel_shape=[2, 2], dilations=[2, 3], pads=[1, 1, 0, 1])),
    "averagepool_opset7_count_include_pad": (
        "AveragePool", 7, [("x", [2, 4, 9, 11])], [("y", None)], [],
        dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)),
    "averagepool_opset10_ceil_same_lower": (
        "AveragePool", 10, [("x", [2, 4, 9, 11])], [("y", None)], [],
        dict(kernel_shape=[3, 2], strides=[2, 2], auto_pad="SAME_LOWER")),
    "lppool_opset7": (
        "LpPool", 7, [("x", [2, 4, 9, 11])], [("y", None)], [],
        dict(kernel_shape=[2, 3], p=3)),
    "globallppool_p3": (
        "GlobalLpPool", 7, [("x", [2, 4, 9, 11])], [("y", None)], [], dict(p=3)),
    "globallppool_p2": (
        "GlobalLpPool", 13, [("x", [2, 4, 9, 11])], [("y", None)], [], {}),
    "conv_opset7_group": (
        "Conv", 7, [("x", [2, 4, 9, 11])], [("y", None)], [("w", _f32(6, 2, 3, 3))],
        dict(group=2, pads=[1, 2, 0, 1], strides=[1, 2])),
    "conv_opset11_same_lower_strided": (
        "Conv", 11, [("x", [2, 4, 9, 11])], [("y", None)],
        [("w", _f32(3, 4, 3, 2)), ("b", _f32(3))],
        dict(auto_pad="SAME_LOWER", strides=[2, 3])),
    "conv_depthwise_multiplier_2": (
        "Conv", 13, [("x", [2, 4, 9, 11])], [("y", None)],
        [("w", _f32(8, 1, 3, 3)), ("b", _f32(8))], dict(group=4, pads=[1, 1, 1, 1])),
    "conv_1d": (
        "Conv", 13, [("x", [2, 4, 10])], [("y", None)], [("w", _f32(5, 4, 3))],
        dict(strides=[2], pads=[1, 1])),
    "conv_3d_group": (
        "Conv", 13, [("x", [1, 4, 5, 6, 7])], [("y", None)], [("w", _f32(2, 2, 2, 3, 2))],
        dict(group=2)),
    "convtranspose_opset7_output_shape": (
        "ConvTranspose", 7, [("x", [2, 4, 5, 6])], [("y", None)], [("w", _f32(4, 3, 3, 3))],
        dict(strides=[2, 2], output_shape=[11, 14])),
    "convtranspose_group_output_padding": (
        "ConvTranspose", 13, [("x", [2, 4, 5, 6])], [("y", None)],
        [("w", _f32(4, 2, 3, 2)), ("b", _f32(4))],
        dict(group=2, strides=[2, 3], pads=[1, 0, 1, 1], output_padding=[1, 2])),
    "instancenorm_opset7": (
        "InstanceNormalization", 7, [("x", [2, 4, 9, 11])], [("y", None)],
        [("s", _f32(4)), ("b", _f32(4))], dict(epsilon=1e-4)),
    "lrn_opset7": (
        "LRN", 7, [("x", [2, 4, 9, 11])], [("y", None)], [],
        dict(size=3, alpha=1e-3, beta=0.6, bias=1.5)),
    "gemm_opset7_broadcast_c": (
        "Gemm", 7, [("a", [5, 3])], [("y", None)], [("b", _f32(4, 5)), ("c", _f32(4))],
        dict(transA=1, transB=1, alpha=0.5, beta=2.0)),
    "matmul_1d_by_3d": (
        "MatMul", 9, [("a", [5])], [("y", None)], [("b", _f32(2, 5, 3))], {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_onnxruntime(case):
    op, opset, inputs, outputs, inits, attrs = CASES[case]
    model = _model(op, opset, inputs, outputs, inits, **attrs)
    feeds = {n: (X if s == [2, 4, 9, 11] else _f32(*s)) for n, s in inputs}
    _check(model, feeds)


def _chain(batch="N"):
    w1, b1, w2 = _f32(8, 3, 3, 3), _f32(8), _f32(4, 8, 3, 3)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1",
                              pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "s", "o", "m", "v"], ["n1"],
                              name="bn1"),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["y"], name="conv2",
                              pads=[1, 1, 1, 1])]
    inits = [numpy_helper.from_array(a, n) for n, a in
             [("w1", w1), ("b1", b1), ("w2", w2), ("s", _f32(8)), ("o", _f32(8)),
              ("m", _f32(8)), ("v", np.abs(_f32(8)) + 0.5)]]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                       [batch, 3, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 12, 12])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def test_nchw_conv_chain_spends_no_kernel_per_transpose_and_serves_every_batch():
    model = _chain()
    g = fc.Graph()
    with g.as_default():
        (x,), (y,) = fc.onnx.import_model(model)
    feeds = {x: _f32(2, 3, 12, 12)}
    fusion = fc.dump(y, feeds, stages="fusion")["fusion"]
    kernels = [line for line in fusion.splitlines() if line.startswith("kernel ")]
    # conv1 with bias, batch norm and relu as its epilogue; conv2; the NCHW output
    assert len(kernels) == 3, fusion
    assert "[conv]" in kernels[0] and "[conv]" in kernels[1]
    assert "transpose" in kernels[2], "only the model's output is transposed"
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    sess = fc.Session(graph=g)
    for n in (1, 3):
        xv = _f32(n, 3, 12, 12)
        np.testing.assert_allclose(sess.run(y, {x: xv}), ref.run(None, {"x": xv})[0],
                                   rtol=1e-4, atol=1e-4)
    assert sess.compile_count == 1


def test_what_cannot_be_built_is_named_with_node_op_and_opset():
    bad = [helper.make_node("Conv", ["x", "w"], ["c"], name="c1", auto_pad="SAME_MIDDLE"),
           helper.make_node("MaxPool", ["x"], ["y"], name="p1", kernel_shape=[2, 2],
                            auto_pad="BOGUS")]
    graph = helper.make_graph(
        bad, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 3, 6, 6]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])],
        [numpy_helper.from_array(_f32(3, 2, 3, 3), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with fc.Graph().as_default(), pytest.raises(OnnxImportError) as err:
        fc.onnx.import_model(model)
    text = str(err.value)   # both nodes, each with its op type, opset and culprit
    assert "'c1' (Conv, opset 13)" in text and "SAME_MIDDLE" in text
    assert "'p1' (MaxPool, opset 13)" in text and "BOGUS" in text


def test_grouped_depthwise_and_pools_with_a_symbolic_batch_compile_once():
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="grouped", group=2,
                              pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["c1", "w2", "b2"], ["c2"], name="depthwise",
                              group=6, strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c2"], ["p1"], name="max", kernel_shape=[2, 2],
                              ceil_mode=1, strides=[2, 2]),
             helper.make_node("AveragePool", ["p1"], ["p2"], name="avg",
                              kernel_shape=[2, 2], pads=[1, 1, 0, 0]),
             helper.make_node("GlobalAveragePool", ["p2"], ["y"], name="gap")]
    inits = [numpy_helper.from_array(a, n) for n, a in
             [("w1", _f32(6, 2, 3, 3)), ("w2", _f32(6, 1, 3, 3)), ("b2", _f32(6))]]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 13, 13])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6, 1, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rep = backend().prepare(model, "CPU")
    for n in (1, 3):
        xv = _f32(n, 4, 13, 13)
        np.testing.assert_allclose(rep.run([xv])[0], ref.run(None, {"x": xv})[0],
                                   rtol=1e-4, atol=1e-5)
    (session, _, _), = rep._plans.values()
    assert session.compile_count == 1
