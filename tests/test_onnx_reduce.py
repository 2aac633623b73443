"""The reductions family of the ONNX mapping table (compiler/onnx/ops/reduce.py and
spectral.py) beyond the node suite: the older opset forms the node cases do not use, a
symbolic batch (dim_param) through one compile, against onnxruntime on the same model,
and the errors for forms flowc refuses (naming node, op type and opset, all at once)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP
from onnx import helper as oh

import compiler as fc
from compiler.onnx import OnnxImportError, import_model

RNG = np.random.default_rng(3)


def _model(nodes, inputs, outputs, opset, inits=()):
    graph = oh.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    return model


def _vi(name, elem, shape):
    return oh.make_tensor_value_info(name, elem, shape)


def _out(name):   # an output whose type and shape onnx's shape inference fills in
    return onnx.ValueInfoProto(name=name)


def _flowc(model, feeds, batches=None):
    g = fc.Graph()
    with g.as_default():
        ins, outs = import_model(model)
        with fc.Session(graph=g) as sess:
            return [sess.run(outs, dict(zip(ins, f, strict=True))) for f in feeds]


def _compare(model, feeds, rtol=1e-5, atol=1e-6):
    """flowc (one import, one Session, every feed) against onnxruntime on each feed."""
    rt = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in rt.get_inputs()]
    ours = _flowc(model, feeds)
    for feed, got in zip(feeds, ours, strict=True):
        want = rt.run(None, dict(zip(names, feed, strict=True)))
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _x(*shape):
    return RNG.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_reductions_at_each_axes_form_with_a_symbolic_batch(opset):
    ops = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
           "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"]
    nodes, outs, inits = [], [], []
    for op in ops:
        as_input = opset >= (13 if op == "ReduceSum" else 18)
        if as_input:
            nodes.append(oh.make_node(op, ["x", "axes"], [op], keepdims=0))
        else:
            nodes.append(oh.make_node(op, ["x"], [op], axes=[-1, 1], keepdims=0))
        outs.append(_out(op))
    if any(n.input[1:] for n in nodes):
        inits.append(onnx.numpy_helper.from_array(np.array([-1, 1], np.int64), "axes"))
    last = {"select_last_index": 1} if opset >= 12 else {}
    nodes.append(oh.make_node("ArgMax", ["x"], ["am"], axis=1, keepdims=1, **last))
    outs.append(_out("am"))
    model = _model(nodes, [_vi("x", TP.FLOAT, ["batch", 3, 4])], outs, opset, inits)
    x1 = np.abs(_x(2, 3, 4)) + 0.5
    x2 = np.round(_x(5, 3, 4))   # ties for select_last_index
    _compare(model, [[x1], [x2]], rtol=1e-4)


@pytest.mark.parametrize("opset", [9, 10, 11])
def test_top_k_forms(opset):
    if opset < 10:
        node = oh.make_node("TopK", ["x"], ["v", "i"], k=2, axis=1)
        inits = []
    else:
        extra = {"largest": 0} if opset >= 11 else {}
        node = oh.make_node("TopK", ["x", "k"], ["v", "i"], axis=1, **extra)
        inits = [onnx.numpy_helper.from_array(np.array([2], np.int64), "k")]
    model = _model([node], [_vi("x", TP.FLOAT, ["n", 4, 3])],
                   [_out("v"), _out("i")], opset, inits)
    _compare(model, [[_x(2, 4, 3)], [_x(1, 4, 3)]])


def test_cumsum_cumprod_det_symbolic_batch():
    nodes = [oh.make_node("CumSum", ["x", "ax"], ["cs"], reverse=1),
             oh.make_node("CumSum", ["x", "ax"], ["cse"], exclusive=1),
             oh.make_node("Det", ["m"], ["d"])]
    inits = [onnx.numpy_helper.from_array(np.array(1, np.int64), "ax")]
    model = _model(nodes, [_vi("x", TP.FLOAT, ["n", 5]), _vi("m", TP.FLOAT, ["n", 3, 3])],
                   [_out("cs"), _out("cse"),
                    _out("d")], 14, inits)
    _compare(model, [[_x(2, 5), _x(2, 3, 3)], [_x(4, 5), _x(4, 3, 3)]], rtol=1e-4)


@pytest.mark.parametrize("opset", [17, 20])
def test_dft_and_stft_forms(opset):
    axis = {"axis": 1} if opset < 20 else {}
    ins = ["x", "", "axis"] if opset >= 20 else ["x"]
    nodes = [oh.make_node("DFT", ins, ["f"], onesided=1, **axis),
             oh.make_node("STFT", ["s", "step", "w"], ["st"])]
    inits = [onnx.numpy_helper.from_array(np.array(3, np.int64), "step"),
             onnx.numpy_helper.from_array(np.hanning(8).astype(np.float32), "w")]
    if opset >= 20:
        inits.append(onnx.numpy_helper.from_array(np.array(1, np.int64), "axis"))
    model = _model(nodes, [_vi("x", TP.FLOAT, ["n", 8, 1]), _vi("s", TP.FLOAT, ["n", 20, 1])],
                   [_out("f"), _out("st")], opset, inits)
    _compare(model, [[_x(2, 8, 1), _x(2, 20, 1)], [_x(3, 8, 1), _x(3, 20, 1)]], atol=1e-5)


@pytest.mark.parametrize("length", [5, 8, 11])
def test_dft_lengths_and_complex_input(length):
    # dft_length cuts or zero-pads the signal: one-sided forward of a real signal, full
    # forward and inverse of a complex one (trailing 2)
    nodes = [oh.make_node("DFT", ["r", "len", "axis"], ["f"], onesided=1),
             oh.make_node("DFT", ["c", "len", "axis"], ["g"]),
             oh.make_node("DFT", ["c", "len", "axis"], ["i"], inverse=1)]
    inits = [onnx.numpy_helper.from_array(np.array(length, np.int64), "len"),
             onnx.numpy_helper.from_array(np.array(-2, np.int64), "axis")]
    model = _model(nodes, [_vi("r", TP.FLOAT, ["n", 8, 1]), _vi("c", TP.FLOAT, ["n", 8, 2])],
                   [_vi("f", TP.FLOAT, ["n", length // 2 + 1, 2]),
                    _vi("g", TP.FLOAT, ["n", length, 2]),
                    _vi("i", TP.FLOAT, ["n", length, 2])], 20, inits)
    # atol 1e-4: onnxruntime's float32 FFT of prime length 11 is off by ~1e-5 from the
    # float64 DFT; flowc's (float64 matmuls, cast to float32) by ~2e-7
    _compare(model, [[_x(2, 8, 1), _x(2, 8, 2)], [_x(1, 8, 1), _x(1, 8, 2)]], atol=1e-4)


@pytest.mark.parametrize("opset, mode", [(10, "avg"), (16, "avg"), (16, "max")])
def test_roi_align_with_a_symbolic_number_of_rois(opset, mode):
    node = oh.make_node("RoiAlign", ["x", "rois", "b"], ["y"], output_height=3,
                        output_width=2, sampling_ratio=2, spatial_scale=0.5, mode=mode)
    model = _model([node], [_vi("x", TP.FLOAT, [2, 3, 8, 9]), _vi("rois", TP.FLOAT, ["r", 4]),
                            _vi("b", TP.INT64, ["r"])], [_out("y")], opset)
    x = _x(2, 3, 8, 9)

    def rois(n):
        corners = RNG.uniform(-2, 19, size=(n, 2, 2))
        return np.sort(corners, axis=1).reshape(n, 4).astype(np.float32)

    _compare(model, [[x, rois(4), np.array([0, 1, 1, 0])], [x, rois(1), np.array([1])]],
             rtol=1e-4, atol=1e-5)


def test_refused_forms_are_reported_together():
    nodes = [oh.make_node("RoiAlign", ["x", "rois", "b"], ["y"], name="roi"),
             oh.make_node("TopK", ["v", "k"], ["tv", "ti"], name="top"),
             oh.make_node("DFT", ["d"], ["s"], name="dft", axis=0),
             oh.make_node("NonMaxSuppression", ["bx", "sc"], ["sel"], name="nms")]
    model = _model(nodes, [_vi("x", TP.FLOAT, [1, 1, 4, 4]), _vi("rois", TP.FLOAT, [1, 4]),
                           _vi("b", TP.INT64, [1]), _vi("v", TP.FLOAT, [5]),
                           _vi("k", TP.INT64, [1]), _vi("bx", TP.FLOAT, [1, 2, 4]),
                           _vi("sc", TP.FLOAT, [1, 1, 2]),
                           _vi("d", TP.FLOAT, ["n", 4, 1])],
                   [_out("y"), _out("tv"),
                    _out("s"), _out("sel")], 17)
    # all four at once; NonMaxSuppression (compiler/onnx/ops/dynamic.py) needs its boxes
    # at import
    with pytest.raises(OnnxImportError, match="(?s)4 problems.*'nms' .NonMaxSuppression, "
                                              "opset 17.*input 0 .'bx'. must be known"):
        with fc.Graph().as_default():
            import_model(model)
    del model.graph.node[3]
    del model.graph.output[3]
    with fc.Graph().as_default(), pytest.raises(OnnxImportError) as err:
        import_model(model)
    text = str(err.value)
    assert "3 problems" in text
    assert "'roi' (RoiAlign, opset 17): sampling_ratio=0" in text
    assert "'top' (TopK, opset 17): input 1 ('k') must be known" in text
    assert "'dft' (DFT, opset 17): input 0's axis 0 has the symbolic extent" in text
