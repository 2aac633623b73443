"""ONNX image, loss, Einsum and quantization converters (compiler/onnx/ops/image.py and
misc.py) beyond the node suite's cases: Einsum equations the suite lacks, ties of
QuantizeLinear's rounding, GridSample and Resize against torch on larger random inputs,
symbolic batch dims, and the import errors for forms they cannot build."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

import compiler as fc  # noqa: E402
from compiler.onnx import OnnxImportError  # noqa: E402
from compiler.onnx.backend import prepare  # noqa: E402

F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def model(nodes, inputs, outputs, opset=20, inits=()):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def run(m, *xs):
    return [np.asarray(o) for o in prepare(m).run(list(xs))]


@pytest.mark.parametrize("eq, shapes", [
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("...ij,...jk", [(2, 3, 4), (4, 5)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bii->b", [(2, 3, 3)]),
    ("ij->", [(2, 3)]),
    ("abc,cd->bd", [(2, 3, 4), (4, 5)]),
])
def test_einsum_matches_numpy(eq, shapes):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    names = [f"x{i}" for i in range(len(xs))]
    m = model([helper.make_node("Einsum", names, ["y"], equation=eq)],
              [vi(n, F32, s) for n, s in zip(names, shapes)],
              [vi("y", F32, np.einsum(eq, *xs).shape)])
    (y,) = run(m, *xs)
    np.testing.assert_allclose(y, np.einsum(eq, *xs), rtol=1e-5, atol=1e-5)


def test_einsum_int64_is_exact():
    a = np.array([[2**40, 3], [5, 7]], dtype=np.int64)
    b = np.array([[1, 2], [3, 4]], dtype=np.int64)
    m = model([helper.make_node("Einsum", ["a", "b"], ["y"], equation="ij,jk->ik")],
              [vi("a", I64, [2, 2]), vi("b", I64, [2, 2])], [vi("y", I64, [2, 2])])
    (y,) = run(m, a, b)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, a @ b)


def test_quantize_linear_rounds_ties_to_even_and_saturates():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49, 300.0, -300.0, 126.5],
                 dtype=np.float32)
    scale = helper.make_tensor("s", F32, [], [1.0])
    zp = helper.make_tensor("z", TensorProto.INT8, [], [0])
    m = model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
              [vi("x", F32, [10])], [vi("y", TensorProto.INT8, [10])], inits=[scale, zp])
    (y,) = run(m, x)
    np.testing.assert_array_equal(y, np.clip(np.rint(x), -128, 127).astype(np.int8))


def test_sce_with_a_symbolic_batch():
    m = model([helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t"], ["loss", "lp"],
                                reduction="mean", ignore_index=2)],
              [vi("x", F32, ["N", 4]), vi("t", I64, ["N"])],
              [vi("loss", F32, []), vi("lp", F32, ["N", 4])], opset=13)
    rep = prepare(m)
    rng = np.random.default_rng(1)
    for n in (3, 7):
        x = rng.standard_normal((n, 4)).astype(np.float32)
        t = rng.integers(0, 4, n)
        t[0] = 2
        loss, lp = rep.run([x, t])
        ref_lp = x - np.log(np.exp(x).sum(1, keepdims=True))
        keep = t != 2
        np.testing.assert_allclose(lp, ref_lp, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(loss, -ref_lp[np.arange(n), t][keep].mean(), rtol=1e-5)


# bicubic with border padding is left out: ONNX (its reference, which the node suite's
# outputs come from) first clamps a coordinate outside [-0.5, d - 0.5] to [0, d - 1]
# and then takes the 4 taps; torch takes the taps around the unclamped coordinate.
@pytest.mark.parametrize("mode, padding", [
    (m, p) for m in ("bilinear", "nearest", "bicubic")
    for p in ("zeros", "border", "reflection") if (m, p) != ("bicubic", "border")])
@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.loads_torch
def test_grid_sample_matches_torch(mode, padding, align):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    grid = rng.uniform(-1.4, 1.4, (2, 4, 6, 2)).astype(np.float32)
    m = model([helper.make_node("GridSample", ["x", "g"], ["y"], mode=mode,
                                padding_mode=padding, align_corners=align)],
              [vi("x", F32, x.shape), vi("g", F32, grid.shape)], [vi("y", F32, [2, 3, 4, 6])],
              opset=16)
    (y,) = run(m, x, grid)
    ref = torch.nn.functional.grid_sample(torch.from_numpy(x), torch.from_numpy(grid),
                                          mode=mode, padding_mode=padding,
                                          align_corners=bool(align)).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode, torch_mode, ctm", [
    ("linear", "bilinear", "half_pixel"), ("linear", "bilinear", "align_corners"),
    ("cubic", "bicubic", "half_pixel"), ("nearest", "nearest", "asymmetric")])
@pytest.mark.parametrize("size", [(9, 13), (3, 4)])
def test_resize_matches_torch_interpolate(mode, torch_mode, ctm, size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((1, 2, 6, 8)).astype(np.float32)
    sizes = helper.make_tensor("sizes", I64, [4], [1, 2, *size])
    attrs = {"coordinate_transformation_mode": ctm, "mode": mode}
    if mode == "nearest":
        attrs["nearest_mode"] = "floor"
    if mode == "cubic":
        attrs["cubic_coeff_a"] = -0.75
    m = model([helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], **attrs)],
              [vi("x", F32, x.shape)], [vi("y", F32, [1, 2, *size])], opset=13,
              inits=[sizes])
    (y,) = run(m, x)
    kw = {} if mode == "nearest" else {"align_corners": ctm == "align_corners"}
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode=torch_mode,
                                          **kw).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_import_errors_name_node_op_and_input():
    """A Resize whose scales are computed at run time and a GridSample padding mode
    ONNX lacks: both named in one OnnxImportError."""
    two = helper.make_tensor("two", F32, [4], [1, 1, 2, 2])
    nodes = [helper.make_node("Mul", ["s", "two"], ["scales"], name="mul"),
             helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up"),
             helper.make_node("GridSample", ["x", "g"], ["z"], name="gs",
                              padding_mode="mirror")]
    m = model(nodes, [vi("x", F32, [1, 1, 2, 2]), vi("s", F32, [4]),
                      vi("g", F32, [1, 2, 2, 2])],
              [vi("y", F32, [1, 1, 4, 4]), vi("z", F32, [1, 1, 2, 2])], opset=16, inits=[two])
    with fc.Graph().as_default(), pytest.raises(OnnxImportError) as e:
        fc.onnx.import_model(m)
    msg = str(e.value)
    assert "'up' (Resize, opset 16)" in msg and "input 2 ('scales')" in msg
    assert "'gs' (GridSample, opset 16)" in msg and "padding_mode 'mirror'" in msg


@pytest.mark.parametrize("attrs, size", [
    ({"mode": "linear", "antialias": 1}, (5, 7)),
    ({"mode": "cubic", "antialias": 1, "cubic_coeff_a": -0.5}, (3, 4)),
    ({"mode": "cubic", "exclude_outside": 1}, (17, 9)),
    ({"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"}, (7, 21)),
    ({"mode": "nearest", "nearest_mode": "round_prefer_ceil"}, (7, 21)),
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, (1, 5)),
])
def test_resize_matches_onnxruntime(attrs, size):
    """Antialias and the modes torch lacks, against onnxruntime (torch's antialias
    footprint is not ONNX's)."""
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(4).standard_normal((1, 2, 12, 16)).astype(np.float32)
    sizes = helper.make_tensor("sizes", I64, [4], [1, 2, *size])
    m = model([helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], **attrs)],
              [vi("x", F32, x.shape)], [vi("y", F32, [1, 2, *size])], opset=19,
              inits=[sizes])
    (y,) = run(m, x)
    ref = ort.InferenceSession(m.SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def _ort(m, feeds):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("attrs", [
    {"group": 2, "auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"group": 1, "auto_pad": "SAME_LOWER", "strides": [1, 2]},
    {"dilations": [2, 1], "pads": [2, 1, 2, 1]},
    {"pads": [1, 0, 2, 1]},
])
def test_qlinear_conv_matches_onnxruntime(attrs):
    """Per-output-channel weight scales and zero points, bias, groups, auto_pad."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (1, 4, 7, 6)).astype(np.uint8)
    w = rng.integers(0, 256, (6, 4 // attrs["group"] if "group" in attrs else 4, 3, 3)
                     ).astype(np.uint8)
    u8 = TensorProto.UINT8
    inits = [helper.make_tensor("xs", F32, [], [0.02]),
             helper.make_tensor("xz", u8, [], [128]),
             helper.make_tensor("ws", F32, [6], rng.uniform(0.001, 0.01, 6).tolist()),
             helper.make_tensor("wz", u8, [6], [128] * 6),
             helper.make_tensor("ys", F32, [], [0.5]),
             helper.make_tensor("yz", u8, [], [100]),
             helper.make_tensor("b", TensorProto.INT32, [6],
                                rng.integers(-500, 500, 6).tolist())]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz",
                                            "b"], ["y"], **attrs)
    m = model([node], [vi("x", u8, x.shape), vi("w", u8, w.shape)],
              [vi("y", u8, None)], opset=13, inits=inits)
    m.graph.output[0].type.tensor_type.shape.SetInParent()  # rank unknown to the checker
    ref = _ort(m, {"x": x, "w": w})[0]
    (y,) = run(m, x, w)
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, ref)


def test_conv_integer_groups_match_onnxruntime():
    rng = np.random.default_rng(6)
    x = rng.integers(0, 256, (2, 4, 5, 5)).astype(np.uint8)
    w = rng.integers(0, 256, (4, 2, 2, 2)).astype(np.uint8)
    u8 = TensorProto.UINT8
    node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], group=2,
                            pads=[1, 1, 0, 0])
    m = model([node], [vi("x", u8, x.shape), vi("w", u8, w.shape)],
              [vi("y", TensorProto.INT32, None)], opset=13,
              inits=[helper.make_tensor("xz", u8, [], [3]),
                     helper.make_tensor("wz", u8, [], [7])])
    m.graph.output[0].type.tensor_type.shape.SetInParent()
    (y,) = run(m, x, w)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, _ort(m, {"x": x, "w": w})[0])


@pytest.mark.parametrize("op, opset, mode, scales", [
    ("Upsample", 7, "nearest", [1.0, 1.0, 2.0, 3.0]), ("Upsample", 9, "linear", [1, 1, 2.5, 1.5]),
    ("Resize", 10, "nearest", [1, 1, 0.6, 1.7]), ("Resize", 10, "linear", [1, 1, 1.5, 0.5]),
])
def test_old_resize_forms_match_onnxruntime(op, opset, mode, scales):
    """Upsample-7 (scales attribute), Upsample-9 and Resize-10 (scales input)."""
    x = np.random.default_rng(7).standard_normal((1, 2, 4, 6)).astype(np.float32)
    if opset == 7:
        node, inits = helper.make_node(op, ["x"], ["y"], mode=mode, scales=scales), []
    else:
        node = helper.make_node(op, ["x", "s"], ["y"], mode=mode)
        inits = [helper.make_tensor("s", F32, [4], scales)]
    out = [int(np.floor(s * d)) for s, d in zip(scales, x.shape)]
    m = model([node], [vi("x", F32, x.shape)], [vi("y", F32, out)], opset=opset,
              inits=inits)
    (y,) = run(m, x)
    np.testing.assert_allclose(y, _ort(m, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_resize_and_grid_sample_with_a_symbolic_batch():
    """One import serves every batch size: only the resized dims need to be static."""
    m = model([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="linear"),
               helper.make_node("GridSample", ["y", "g"], ["z"])],
              [vi("x", F32, ["N", 2, 3, 4]), vi("g", F32, ["N", 5, 5, 2])],
              [vi("z", F32, ["N", 2, 5, 5])],
              inits=[helper.make_tensor("s", F32, [4], [1, 1, 2, 2])])
    rep = prepare(m)
    rng = np.random.default_rng(8)
    for n in (1, 3):
        x = rng.standard_normal((n, 2, 3, 4)).astype(np.float32)
        g = rng.uniform(-1, 1, (n, 5, 5, 2)).astype(np.float32)
        (z,) = rep.run([x, g])
        np.testing.assert_allclose(z, _ort(m, {"x": x, "g": g})[0], rtol=1e-5, atol=1e-6)


def test_resize_sizes_from_the_input_shape_keep_a_symbolic_batch():
    """torch exports `interpolate(size=...)` with sizes = Concat(Shape(x)[:2], [h, w]):
    the converter reads those sizes as dims, so the batch stays symbolic."""
    from compiler.onnx import table
    from compiler.onnx.importer import Importer

    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest")
    m = model([node], [vi("x", F32, ["N", 2, 3, 4]), vi("sizes", I64, [4])],
              [vi("y", F32, ["N", 2, 5, 7])], opset=18)
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 2, 3, 4])
        sizes = fc.concat([fc.cast(fc.shape(x)[:2], fc.int64),
                           fc.constant(np.array([5, 7], np.int64))], 0)
        imp = Importer(m, None, "m", None, False)
        cx = table.NodeContext(imp, table.get("Resize"), node, "r", 18,
                               [x, None, None, sizes], {"mode": "nearest"})
        (y,) = table.get("Resize").fn(cx)
        assert y.shape.as_list()[1:] == [2, 5, 7]
        with fc.Session() as sess:
            for n in (1, 3):
                xv = np.random.default_rng(n).standard_normal((n, 2, 3, 4)).astype(
                    np.float32)
                ref = _ort(m, {"x": xv, "sizes": np.array([n, 2, 5, 7])})[0]
                np.testing.assert_array_equal(sess.run(y, {x: xv}), ref)


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("attrs", [
    {"mode": "cubic"},
    {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize",
     "extrapolation_value": -1.0},
    {"mode": "nearest", "coordinate_transformation_mode": "align_corners",
     "nearest_mode": "ceil"},
])
def test_resize_11_and_13_forms_match_onnxruntime(opset, attrs):
    """roi (outside [0, 1] for the extrapolation), an empty scales and sizes."""
    x = np.random.default_rng(9).standard_normal((1, 2, 4, 6)).astype(np.float32)
    inits = [helper.make_tensor("roi", F32, [8], [0, 0, 0.1, -0.2, 1, 1, 0.9, 1.3]),
             helper.make_tensor("sc", F32, [0], []),
             helper.make_tensor("sz", I64, [4], [1, 2, 7, 5])]
    m = model([helper.make_node("Resize", ["x", "roi", "sc", "sz"], ["y"], **attrs)],
              [vi("x", F32, x.shape)], [vi("y", F32, [1, 2, 7, 5])], opset=opset,
              inits=inits)
    (y,) = run(m, x)
    np.testing.assert_allclose(y, _ort(m, {"x": x})[0], rtol=1e-5, atol=1e-5)
