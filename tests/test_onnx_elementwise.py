"""ONNX elementwise converters (compiler/onnx/ops/elementwise.py, activations.py) on the
forms the node suite does not reach — older opsets' attribute forms, omitted optional
inputs and outputs, mixed signs, variadic broadcasting — against onnxruntime, through
flowc's compiled ONNX backend; and the import errors of forms flowc cannot build."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from compiler.onnx import backend  # noqa: E402
from compiler.onnx.importer import OnnxImportError  # noqa: E402

F, I32, I64 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64
RNG = np.random.default_rng(7)


def model(nodes, inputs, outputs, opset):
    """inputs/outputs: [(name, elem type, shape)]."""
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(*i) for i in inputs],
                          [helper.make_tensor_value_info(*o) for o in outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7 if opset <= 14 else 8
    return m


def check_against_ort(m, feeds, rtol=1e-6):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, feeds)
    got = backend.prepare(m).run(feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g = np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-7)


X = RNG.normal(size=(2, 5)).astype(np.float32) * 3


@pytest.mark.parametrize("opset", [7, 10])
def test_clip_attribute_form(opset):
    nodes = [helper.make_node("Clip", ["x"], ["y"], min=-1.0, max=0.5),
             helper.make_node("Clip", ["x"], ["z"], max=0.5)]  # min defaults to -max float
    m = model(nodes, [("x", F, [2, 5])], [("y", F, [2, 5]), ("z", F, [2, 5])], opset)
    check_against_ort(m, {"x": X})


def test_clip_input_form_with_min_omitted():
    nodes = [helper.make_node("Clip", ["x", "", "hi"], ["y"])]
    m = model(nodes, [("x", F, [2, 5]), ("hi", F, [])], [("y", F, [2, 5])], 13)
    check_against_ort(m, {"x": X, "hi": np.array(0.25, np.float32)})


@pytest.mark.parametrize("opset", [7, 10, 12, 13])
def test_dropout_inference_and_mask(opset):
    mask_type = F if opset < 10 else TensorProto.BOOL
    nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"],
                              **({"ratio": 0.3} if opset < 12 else {}))]
    m = model(nodes, [("x", F, [2, 5])], [("y", F, [2, 5]), ("mask", mask_type, [2, 5])],
              opset)
    if opset == 13:
        check_against_ort(m, {"x": X})
    # onnxruntime's Dropout-10 gives an all-false mask in inference, its Dropout-7 is
    # missing; onnx's reference evaluator and flowc give the spec's all-true mask (ones
    # of the data's type before opset 10, whose schema types the mask T)
    y, mask = backend.prepare(m).run({"x": X})
    np.testing.assert_array_equal(y, X)
    if opset < 10:
        assert mask.dtype == np.float32 and (mask == 1).all()
    else:
        from onnx.reference import ReferenceEvaluator
        want = ReferenceEvaluator(m).run(None, {"x": X})[1]
        assert mask.dtype == want.dtype == bool and mask.all() and want.all()


def test_dropout_training_with_ratio_zero_is_the_identity():
    nodes = [helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"], seed=3)]
    m = model(nodes, [("x", F, [2, 5]), ("r", F, []), ("t", TensorProto.BOOL, [])],
              [("y", F, [2, 5]), ("mask", TensorProto.BOOL, [2, 5])], 13)
    y, mask = backend.prepare(m).run({"x": X, "r": np.array(0.0, np.float32),
                                      "t": np.array(True)})
    np.testing.assert_array_equal(y, X)
    assert mask.dtype == bool and mask.all()


def test_integer_div_truncates_and_mod_signs():
    a = np.array([7, -7, 7, -7, 0, 9, -9, 5], np.int32)
    b = np.array([2, 2, -2, -2, 3, 4, 4, -3], np.int32)
    nodes = [helper.make_node("Div", ["a", "b"], ["q"]),
             helper.make_node("Mod", ["a", "b"], ["m0"]),
             helper.make_node("Mod", ["a", "b"], ["m1"], fmod=1)]
    m = model(nodes, [("a", I32, [8]), ("b", I32, [8])],
              [("q", I32, [8]), ("m0", I32, [8]), ("m1", I32, [8])], 13)
    check_against_ort(m, {"a": a, "b": b})


def test_variadic_max_min_sum_mean_broadcast():
    a, b, c = (RNG.normal(size=s).astype(np.float32) for s in [(2, 1, 3), (4, 3), (3,)])
    nodes = [helper.make_node(op, ["a", "b", "c"], [op.lower()])
             for op in ("Max", "Min", "Sum", "Mean")]
    nodes.append(helper.make_node("Sum", ["a"], ["one"]))
    m = model(nodes, [("a", F, [2, 1, 3]), ("b", F, [4, 3]), ("c", F, [3])],
              [(n, F, [2, 4, 3]) for n in ("max", "min", "sum", "mean")] + [("one", F, [2, 1, 3])],
              13)
    check_against_ort(m, {"a": a, "b": b, "c": c})


def test_casts_pow_isinf_and_activations():
    x = np.array([-2.7, -0.5, 0.0, 0.5, 1.5, 2.5, np.inf, -np.inf], np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["b"], to=TensorProto.BOOL),
             helper.make_node("Cast", ["x"], ["d"], to=TensorProto.DOUBLE),
             helper.make_node("IsInf", ["x"], ["ninf"], detect_positive=0),
             helper.make_node("Round", ["x"], ["r"]),
             helper.make_node("LeakyRelu", ["x"], ["lr"], alpha=0.2),
             helper.make_node("HardSigmoid", ["x"], ["hs"]),
             helper.make_node("Selu", ["x"], ["se"])]
    m = model(nodes, [("x", F, [8])],
              [("b", TensorProto.BOOL, [8]), ("d", TensorProto.DOUBLE, [8]),
               ("ninf", TensorProto.BOOL, [8]), ("r", F, [8]), ("lr", F, [8]),
               ("hs", F, [8]), ("se", F, [8])], 13)
    check_against_ort(m, {"x": x})
    base = np.array([1, 2, 3, -2], np.int64)
    nodes = [helper.make_node("Pow", ["a", "e"], ["p"]),
             helper.make_node("Pow", ["f", "a"], ["q"])]
    m = model(nodes, [("a", I64, [4]), ("e", F, [4]), ("f", F, [4])],
              [("p", I64, [4]), ("q", F, [4])], 15)
    check_against_ort(m, {"a": base, "e": np.array([2.0, 3.0, 0.5, 2.0], np.float32),
                          "f": np.array([1.5, -2.0, 0.5, 3.0], np.float32)})


def test_prelu_broadcasts_its_slope():
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    slope = np.array([[0.1], [0.2], [0.3]], np.float32)
    nodes = [helper.make_node("PRelu", ["x", "s"], ["y"])]
    m = model(nodes, [("x", F, [2, 3, 4]), ("s", F, [3, 1])], [("y", F, [2, 3, 4])], 9)
    check_against_ort(m, {"x": x, "s": slope})


def test_unbuildable_forms_are_reported_together_naming_node_op_and_opset():
    nodes = [helper.make_node("Mod", ["x", "x"], ["m"], name="bad_mod", fmod=2),
             helper.make_node("Gelu", ["x"], ["g"], name="bad_gelu", approximate="fast"),
             helper.make_node("Dropout", ["x", "r", "t"], ["d"], name="train_drop")]
    r = helper.make_tensor("r", F, [], [0.5])
    t = helper.make_tensor("t", TensorProto.BOOL, [], [True])
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", F, [2])],
                          [helper.make_tensor_value_info(n, F, [2]) for n in "mgd"],
                          initializer=[r, t])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])
    with pytest.raises(OnnxImportError) as e:
        backend.prepare(m)
    text = str(e.value)
    assert "3 problems" in text
    assert "'bad_mod' (Mod, opset 20)" in text and "fmod=2" in text
    assert "'bad_gelu' (Gelu, opset 20)" in text and "'fast'" in text
    assert "'train_drop' (Dropout, opset 20)" in text and "ratio 0.5" in text


def test_bitcast_of_float16_is_refused_by_name():
    # float32/float64 <-> ints convert (the bitcast primitive, tests/test_onnx_domains.py);
    # float16 is computed in float32 in kernels and has no bitcast
    nodes = [helper.make_node("BitCast", ["x"], ["y"], name="bits", to=TensorProto.INT16)]
    m = model(nodes, [("x", TensorProto.FLOAT16, [2])], [("y", TensorProto.INT16, [2])], 26)
    with pytest.raises(OnnxImportError,
                       match=r"'bits' \(BitCast, opset 26\).*float16 as int16"):
        backend.prepare(m)


@pytest.mark.parametrize("elem, dtype", [(TensorProto.INT32, np.int32),
                                         (TensorProto.UINT8, np.uint8)])
def test_shrink_of_ints(elem, dtype):
    x = np.array([0, 1, 2, 3, 4, 5, 9], dtype)
    if dtype == np.int32:
        x = np.concatenate([x, -x]).astype(dtype)
    nodes = [helper.make_node("Shrink", ["x"], ["y"], bias=1.0, lambd=1.5),
             helper.make_node("Shrink", ["x"], ["z"])]
    m = model(nodes, [("x", elem, [len(x)])], [("y", elem, [len(x)]), ("z", elem, [len(x)])],
              13)
    check_against_ort(m, {"x": x})


def test_dropout_in_inference_does_not_need_its_ratio_at_import():
    from compiler.frontend.graph import Graph
    from compiler.onnx import import_model
    from compiler.session import Session
    nodes = [helper.make_node("Dropout", ["x", "r"], ["y"])]
    m = model(nodes, [("x", F, [2, 5]), ("r", F, [])], [("y", F, [2, 5])], 13)
    g = Graph()
    with g.as_default():
        (x, r), (y,) = import_model(m)
        out = Session(graph=g).run(y, {x: X, r: np.array(0.7, np.float32)})
    np.testing.assert_array_equal(out, X)
