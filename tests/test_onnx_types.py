"""ONNX element types flowc stores but does not compute with (compiler/onnx/proto.py
STORAGE: float8, float4e2m1, bfloat16 in float32; int4/int2 in int8/uint8): Cast with
saturate on and off against ml_dtypes and onnx's numpy helpers over every grid point,
tie and neighbour of each type, float8e8m0's round modes against onnx's
`to_float8e8m0`, int4/int2 from floats and ints, the refusal of arithmetic on a stored
value, a QuantizeLinear -> DequantizeLinear int4 model against onnx.reference, and the
dtypes `fc.onnx.import_model` gives such inputs and outputs."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ml_dtypes = pytest.importorskip("ml_dtypes")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import compiler as fc  # noqa: E402
from compiler.onnx import backend  # noqa: E402
from compiler.onnx.importer import OnnxImportError  # noqa: E402

F = TensorProto.FLOAT
FLOATS = {TensorProto.FLOAT8E4M3FN: ml_dtypes.float8_e4m3fn,
          TensorProto.FLOAT8E4M3FNUZ: ml_dtypes.float8_e4m3fnuz,
          TensorProto.FLOAT8E5M2: ml_dtypes.float8_e5m2,
          TensorProto.FLOAT8E5M2FNUZ: ml_dtypes.float8_e5m2fnuz,
          TensorProto.FLOAT4E2M1: ml_dtypes.float4_e2m1fn,
          TensorProto.BFLOAT16: ml_dtypes.bfloat16}
FLOAT8 = [c for c in FLOATS if c not in (TensorProto.FLOAT4E2M1, TensorProto.BFLOAT16)]
INTS = {TensorProto.INT4: ml_dtypes.int4, TensorProto.UINT4: ml_dtypes.uint4,
        TensorProto.INT2: ml_dtypes.int2, TensorProto.UINT2: ml_dtypes.uint2}


def model(nodes, inputs, outputs, opset=25, inits=()):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(*i) for i in inputs],
                          [helper.make_tensor_value_info(*o) for o in outputs],
                          initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


@np.errstate(over="ignore")
def sweep():
    """Every finite value of the narrow float types, the midpoints between neighbours
    (the ties), their float32 neighbours, values past each type's largest, log-uniform
    random values, zeros, infinities and NaN."""
    vals = [np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38, 1e30, 65504])]
    for t in FLOATS.values():
        if t is ml_dtypes.bfloat16:   # a sample of bfloat16 values and their upper neighbours
            bits = np.arange(0, 0x7F7F, 97, dtype=np.uint16)
            lo, hi = (bits.view(t).astype(np.float32),
                      (bits + np.uint16(1)).view(t).astype(np.float32))
            grid, mids = np.concatenate([lo, hi]), (lo + hi) / 2
        else:
            grid = np.arange(256, dtype=np.uint8).view(t).astype(np.float32)
            grid = np.unique(grid[np.isfinite(grid)])
            mids = (grid[:-1] + grid[1:]) / 2
        vals += [grid, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf),
                 grid * 1.5, -grid, -mids]
    rng = np.random.default_rng(3)
    vals.append((np.exp2(rng.uniform(-140, 20, 4000)) * rng.choice([-1, 1], 4000)))
    return np.concatenate(vals).astype(np.float32)


def same(got, want):
    """Equal as float32 (NaN equal to NaN), and the zeros' signs."""
    g, w = np.asarray(got).astype(np.float32), np.asarray(want).astype(np.float32)
    np.testing.assert_array_equal(g, w)
    z = w == 0
    np.testing.assert_array_equal(np.signbit(g[z]), np.signbit(w[z]))


@pytest.mark.parametrize("src", [np.float32, np.float16, np.float64])
def test_cast_to_narrow_floats_matches_ml_dtypes(src):
    with np.errstate(over="ignore"):
        x = sweep().astype(src)
    nodes, outs, want = [], [], []
    for code, t in FLOATS.items():
        for sat in ([1, 0] if code in FLOAT8 else [1]):
            name = f"y{code}_{sat}"
            nodes.append(helper.make_node("Cast", ["x"], [name], to=code, saturate=sat))
            outs.append((name, code, [x.size]))
            ref = numpy_helper.saturate_cast(x, t) if sat and code in FLOAT8 else x.astype(t)
            want.append(ref)
    got = backend.prepare(model(nodes, [("x", helper.np_dtype_to_tensor_dtype(
        np.dtype(src)), [x.size])], outs)).run([x])
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        # (ml_dtypes' float4e2m1 cast, the reference's, gives -0 for NaN: so does flowc)
        same(g, w)


@pytest.mark.parametrize("saturate", [1, 0])
def test_cast_to_e8m0_round_modes(saturate):
    x = np.concatenate([sweep(), np.float32([2.0 ** -127, 2.0 ** 127, 1.5 * 2.0 ** 127,
                                             3.0 * 2.0 ** -128, 1.5 * 2.0 ** -126])])
    modes = ["up", "down", "nearest"]
    nodes = [helper.make_node("Cast", ["x"], [f"y_{m}"], to=TensorProto.FLOAT8E8M0,
                              saturate=saturate, round_mode=m) for m in modes]
    got = backend.prepare(model(nodes, [("x", F, [x.size])],
                                [(f"y_{m}", TensorProto.FLOAT8E8M0, [x.size])
                                 for m in modes])).run([x])
    for g, m in zip(got, modes, strict=True):
        want = numpy_helper.to_float8e8m0(x, bool(saturate), m)
        assert g.dtype == want.dtype
        np.testing.assert_array_equal(g.view(np.uint8), want.view(np.uint8), err_msg=m)


def test_cast_to_and_from_small_ints():
    xf = np.concatenate([np.arange(-20, 20, 0.25), [np.nan, np.inf, -np.inf, 1e9]]
                        ).astype(np.float32)
    xi = np.arange(-300, 300, 7, dtype=np.int32)
    nodes, outs = [], []
    for code in INTS:
        nodes += [helper.make_node("Cast", ["xf"], [f"f{code}"], to=code),
                  helper.make_node("Cast", ["xi"], [f"i{code}"], to=code),
                  helper.make_node("Cast", [f"i{code}"], [f"back{code}"], to=TensorProto.FLOAT)]
        outs += [(f"f{code}", code, [xf.size]), (f"i{code}", code, [xi.size]),
                 (f"back{code}", F, [xi.size])]
    got = backend.prepare(model(nodes, [("xf", F, [xf.size]), ("xi", TensorProto.INT32,
                                                               [xi.size])], outs)).run([xf, xi])
    for k, t in enumerate(INTS.values()):
        f, i, back = got[3 * k: 3 * k + 3]
        with np.errstate(invalid="ignore"):
            want_f = xf.astype(t)
        assert f.dtype == t and i.dtype == t
        np.testing.assert_array_equal(f.astype(np.int32), want_f.astype(np.int32))
        np.testing.assert_array_equal(i.astype(np.int32), xi.astype(t).astype(np.int32))
        np.testing.assert_array_equal(back, xi.astype(t).astype(np.float32))


def test_stored_inputs_convert_exactly_back_and_through_movement_ops():
    x = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).reshape(16, 16)
    m = model([helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
               helper.make_node("Cast", ["t"], ["y"], to=F),
               helper.make_node("Identity", ["t"], ["z"])],
              [("x", TensorProto.FLOAT8E4M3FN, [16, 16])],
              [("y", F, [16, 16]), ("z", TensorProto.FLOAT8E4M3FN, [16, 16])])
    y, z = backend.prepare(m).run([x])
    np.testing.assert_array_equal(y, x.T.astype(np.float32))
    assert z.dtype == x.dtype
    np.testing.assert_array_equal(z.view(np.uint8), x.T.view(np.uint8))


def test_arithmetic_on_a_stored_type_is_refused():
    m = model([helper.make_node("Cast", ["x"], ["q"], to=TensorProto.FLOAT8E4M3FN),
               helper.make_node("Reshape", ["q", "s"], ["r"]),
               helper.make_node("Add", ["r", "r"], ["y"], name="add1"),
               helper.make_node("Relu", ["i4"], ["z"], name="relu1"),
               helper.make_node("DequantizeLinear", ["i4", "bs"], ["d"], name="dq1")],
              [("x", F, [4]), ("i4", TensorProto.INT4, [4]), ("bs", TensorProto.BFLOAT16, [])],
              [("y", TensorProto.FLOAT8E4M3FN, [2, 2]), ("z", TensorProto.INT4, [4]),
               ("d", TensorProto.BFLOAT16, [4])],
              inits=[numpy_helper.from_array(np.array([2, 2], np.int64), "s")])
    with pytest.raises(OnnxImportError) as e:
        with fc.Graph().as_default():
            fc.onnx.import_model(m)
    msg = str(e.value)
    assert "node 'add1' (Add, opset 25): Add on float8e4m3fn values" in msg
    assert "stores float8e4m3fn as float32" in msg
    assert "node 'relu1' (Relu, opset 25): Relu on int4 values" in msg
    assert "node 'dq1' (DequantizeLinear, opset 25): x_scale of element type BFLOAT16" in msg


def test_quantize_dequantize_int4_matches_onnx_reference():
    x = np.random.default_rng(5).normal(size=(3, 8)).astype(np.float32) * 4
    scale = np.float32([0.5, 0.25, 1.0])
    zp = numpy_helper.from_array(np.array([1, -2, 0], dtype=ml_dtypes.int4), "zp")
    m = model([helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], axis=0),
               helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], axis=0)],
              [("x", F, [3, 8])], [("q", TensorProto.INT4, [3, 8]), ("y", F, [3, 8])],
              inits=[numpy_helper.from_array(scale, "scale"), zp])
    want_q, want_y = ReferenceEvaluator(m).run(None, {"x": x})
    q, y = backend.prepare(m).run([x])
    assert q.dtype == ml_dtypes.int4
    np.testing.assert_array_equal(q.astype(np.int8), want_q.astype(np.int8))
    np.testing.assert_array_equal(y, want_y)
    assert np.any(q.astype(np.int8) == 7) and np.any(q.astype(np.int8) == -8)  # saturated


def test_import_model_gives_storage_dtypes():
    m = model([helper.make_node("Cast", ["x"], ["q"], to=TensorProto.UINT4),
               helper.make_node("DequantizeLinear", ["f8", "s"], ["d"])],
              [("x", F, ["n"]), ("f8", TensorProto.FLOAT8E5M2, [3])],
              [("q", TensorProto.UINT4, ["n"]), ("d", F, [3])],
              inits=[numpy_helper.from_array(np.float32(2.0), "s")])
    with fc.Graph().as_default():
        (x, f8), (q, d) = fc.onnx.import_model(m)
        assert (x.dtype, f8.dtype, q.dtype, d.dtype) == (fc.float32, fc.float32, fc.uint8,
                                                          fc.float32)
        with fc.Session() as sess:
            got_q, got_d = sess.run([q, d], {x: np.float32([3.7, -1, 15, 16, 2.5]),
                                             f8: np.float32([1.5, -57344, 0.0])})
    np.testing.assert_array_equal(got_q, [3, 0, 15, 0, 2])
    np.testing.assert_array_equal(got_d, [3.0, -114688, 0.0])


def test_stored_constants_keep_their_type():
    v = numpy_helper.from_array(np.array([-3.5], dtype=ml_dtypes.float8_e4m3fn), "v")
    c = numpy_helper.from_array(np.array([1, -8, 7], dtype=ml_dtypes.int4), "c")
    m = model([helper.make_node("ConstantOfShape", ["shape"], ["f"], value=v),
               helper.make_node("Constant", [], ["k"], value=c),
               helper.make_node("Cast", ["k"], ["kf"], to=F),
               helper.make_node("Mul", ["kf", "kf"], ["sq"])],
              [("shape", TensorProto.INT64, [1])],
              [("f", TensorProto.FLOAT8E4M3FN, [2]), ("k", TensorProto.INT4, [3]),
               ("sq", F, [3])])
    f, k, sq = backend.prepare(m).run([np.array([2], np.int64)])
    assert f.dtype == ml_dtypes.float8_e4m3fn and k.dtype == ml_dtypes.int4
    np.testing.assert_array_equal(f.astype(np.float32), [-3.5, -3.5])
    np.testing.assert_array_equal(k.astype(np.int8), [1, -8, 7])
    np.testing.assert_array_equal(sq, [1, 64, 49])
    bad = model([helper.make_node("ConstantOfShape", ["shape"], ["f"], value=v),
                 helper.make_node("Neg", ["f"], ["y"], name="neg1")],
                [("shape", TensorProto.INT64, [1])], [("y", TensorProto.FLOAT8E4M3FN, [2])])
    with pytest.raises(OnnxImportError, match="Neg on float8e4m3fn values"):
        backend.prepare(bad).run([np.array([2], np.int64)])
