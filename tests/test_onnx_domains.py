"""ONNX ops of domains other than the default one (compiler/onnx/ops/domains.py) on forms
the node suite does not cover, against onnxruntime (or the onnx package's reference
evaluator where onnxruntime lacks the op) running the same model: numeric LabelEncoder,
TreeEnsemble with average/min/max aggregation, missing values and set membership, an
optimizer node of ai.onnx.preview.training beside default-domain ops; the errors for a
node whose domain the model does not import and for unsupported forms; BitCast round
trips between floats and ints."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx.reference import ReferenceEvaluator  # noqa: E402

from compiler.onnx import OnnxImportError, import_model  # noqa: E402
from compiler.onnx.backend import prepare  # noqa: E402

H = onnx.helper
TP = onnx.TensorProto
F = TP.FLOAT


def _model(nodes, inputs, outputs, opsets):
    graph = H.make_graph(nodes, "g", inputs, outputs)
    return H.make_model(graph, opset_imports=[H.make_opsetid(d, v) for d, v in opsets])


def _ort(model, feeds):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def _ref(model, feeds):
    return ReferenceEvaluator(model).run(None, feeds)


def _check(model, feeds, want, rtol=1e-6, atol=1e-6):
    got = prepare(model).run(feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def test_label_encoder_numeric_keys_and_values():
    node = H.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml",
                       keys_int64s=[3, 1, 7], values_floats=[0.5, -1.0, 2.25],
                       default_float=9.0)
    model = _model([node], [H.make_tensor_value_info("x", TP.INT64, [2, 3])],
                   [H.make_tensor_value_info("y", F, [2, 3])],
                   [("", 21), ("ai.onnx.ml", 4)])
    x = np.array([[3, 1, 5], [7, 7, 0]], np.int64)
    _check(model, {"x": x}, _ort(model, {"x": x}))


def test_label_encoder_tensor_attributes_float_to_int():
    node = H.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml",
                       keys_tensor=H.make_tensor("k", F, [3], [0.5, 1.5, -2.0]),
                       values_tensor=H.make_tensor("v", TP.INT64, [3], [10, 20, 30]),
                       default_tensor=H.make_tensor("d", TP.INT64, [1], [-7]))
    model = _model([node], [H.make_tensor_value_info("x", F, [5])],
                   [H.make_tensor_value_info("y", TP.INT64, [5])],
                   [("", 21), ("ai.onnx.ml", 4)])
    x = np.array([1.5, 0.5, 3.0, -2.0, 1.5], np.float32)
    _check(model, {"x": x}, [np.array([20, 10, -7, 30, 20], np.int64)])
    _check(model, {"x": x}, _ort(model, {"x": x}))


def test_label_encoder_tensor_attributes_default_default():
    """No default_tensor: ONNX's default is -1 for int values (-0.0 for floats)."""
    node = H.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml",
                       keys_tensor=H.make_tensor("k", TP.INT64, [2], [4, 9]),
                       values_tensor=H.make_tensor("v", TP.INT64, [2], [1, 2]))
    model = _model([node], [H.make_tensor_value_info("x", TP.INT64, [4])],
                   [H.make_tensor_value_info("y", TP.INT64, [4])],
                   [("", 21), ("ai.onnx.ml", 4)])
    x = np.array([9, 5, 4, 0], np.int64)
    _check(model, {"x": x}, [np.array([2, -1, 1, -1], np.int64)])
    _check(model, {"x": x}, _ort(model, {"x": x}))


def test_label_encoder_string_keys_are_refused_by_name():
    node = H.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml",
                       keys_strings=["a"], values_int64s=[1], name="enc")
    model = _model([node], [H.make_tensor_value_info("x", TP.INT64, [2])],
                   [H.make_tensor_value_info("y", TP.INT64, [2])],
                   [("", 21), ("ai.onnx.ml", 4)])
    with pytest.raises(OnnxImportError, match=r"'enc' \(LabelEncoder, ai\.onnx\.ml opset 4\)"
                       r".*keys_strings: flowc has no string tensors"):
        import_model(model)


def _tree(aggregate, missing=None):
    """Two trees over 2 features and 2 targets: tree 0 tests x0 <= 0.5, then x1 in
    {1, 3}; tree 1 is a single test x1 > 2 (missing values go to the true branch where
    `missing` says so)."""
    attrs = dict(
        nodes_modes=H.make_tensor("m", TP.UINT8, [3], [0, 6, 3]),
        nodes_featureids=[0, 1, 1],
        nodes_splits=H.make_tensor("s", F, [3], [0.5, 0.0, 2.0]),
        nodes_truenodeids=[1, 0, 3], nodes_trueleafs=[0, 1, 1],
        nodes_falsenodeids=[2, 1, 4], nodes_falseleafs=[1, 1, 1],
        membership_values=H.make_tensor("mv", F, [3], [1.0, 3.0, np.nan]),
        leaf_targetids=[0, 1, 0, 1, 0],
        leaf_weights=H.make_tensor("w", F, [5], [1.0, 2.0, -3.0, 4.0, 0.25]),
        tree_roots=[0, 2], n_targets=2, aggregate_function=aggregate, post_transform=0)
    if missing is not None:
        attrs["nodes_missing_value_tracks_true"] = missing
    node = H.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", **attrs)
    return _model([node], [H.make_tensor_value_info("x", F, [None, 2])],
                  [H.make_tensor_value_info("y", F, [None, 2])],
                  [("", 21), ("ai.onnx.ml", 5)])


@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])
def test_tree_ensemble_aggregations_and_membership(aggregate):
    model = _tree(aggregate)
    x = np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 3.0], [0.5, 5.0], [2.0, np.nan]],
                 np.float32)
    rep = prepare(model)
    for n in (5, 1, 4):   # one compile for every batch size
        (got,), (want,) = rep.run({"x": x[:n]}), _ref(model, {"x": x[:n]})
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6)
    (session, _, _), = rep._plans.values()
    assert session.compile_count == 1


def test_tree_ensemble_missing_values_track_true():
    model = _tree(1, missing=[1, 0, 1])
    x = np.array([[np.nan, 1.0], [np.nan, np.nan], [1.0, np.nan]], np.float32)
    _check(model, {"x": x}, _ref(model, {"x": x}))


def test_tree_ensemble_post_transform_is_refused():
    model = _tree(1)
    (a,) = [a for a in model.graph.node[0].attribute if a.name == "post_transform"]
    a.i = 1   # SOFTMAX
    with pytest.raises(OnnxImportError, match=r"post_transform 1 \(only 0, NONE\)"):
        import_model(model)


def test_binarizer_and_array_feature_extractor():
    nodes = [H.make_node("Binarizer", ["x"], ["b"], domain="ai.onnx.ml", threshold=0.25),
             H.make_node("ArrayFeatureExtractor", ["b", "i"], ["y"], domain="ai.onnx.ml")]
    model = _model(nodes, [H.make_tensor_value_info("x", F, [3, 4]),
                           H.make_tensor_value_info("i", TP.INT64, [1, 3])],
                   [H.make_tensor_value_info("y", F, [3, 3])],
                   [("", 21), ("ai.onnx.ml", 1)])
    feeds = {"x": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
             "i": np.array([[3, 0, 3]], np.int64)}
    _check(model, feeds, _ort(model, feeds))


def test_training_update_beside_default_domain_ops():
    """Momentum (nesterov) on the result of a default-domain Mul: each node reads the
    opset of its own domain."""
    nodes = [H.make_node("Mul", ["g0", "two"], ["g"]),
             H.make_node("Momentum", ["r", "t", "x", "g", "v"], ["x_new", "v_new"],
                         domain="ai.onnx.preview.training", alpha=0.9, beta=0.5,
                         mode="nesterov", norm_coefficient=0.01)]
    vi = H.make_tensor_value_info
    model = _model(nodes, [vi("r", F, []), vi("t", TP.INT64, []), vi("x", F, [4]),
                           vi("g0", F, [4]), vi("two", F, [1]), vi("v", F, [4])],
                   [vi("x_new", F, [4]), vi("v_new", F, [4])],
                   [("", 21), ("ai.onnx.preview.training", 1)])
    rng = np.random.default_rng(1)
    for t in (0, 3):
        feeds = {"r": np.float32(0.1), "t": np.int64(t),
                 "x": rng.standard_normal(4).astype(np.float32),
                 "g0": rng.standard_normal(4).astype(np.float32),
                 "two": np.array([2.0], np.float32),
                 "v": rng.standard_normal(4).astype(np.float32)}
        _check(model, feeds, _ref(model, feeds), rtol=1e-5)


def test_node_of_an_unimported_domain_is_named():
    nodes = [H.make_node("Relu", ["x"], ["a"], name="r"),
             H.make_node("Binarizer", ["a"], ["y"], domain="ai.onnx.ml", name="bin")]
    graph = H.make_graph(nodes, "g", [H.make_tensor_value_info("x", F, [2])],
                         [H.make_tensor_value_info("y", F, [2])])
    model = H.make_model(graph, opset_imports=[H.make_opsetid("", 21)])
    with pytest.raises(OnnxImportError,
                       match=r"'bin' \(Binarizer, domain ai\.onnx\.ml\) in graph: domain "
                             r"'ai\.onnx\.ml' is not imported by the model"):
        import_model(model)


def test_unknown_op_of_a_known_domain_is_named():
    node = H.make_node("Imputer", ["x"], ["y"], domain="ai.onnx.ml", name="imp",
                       imputed_value_floats=[0.0], replaced_value_float=1.0)
    model = _model([node], [H.make_tensor_value_info("x", F, [2])],
                   [H.make_tensor_value_info("y", F, [2])], [("", 21), ("ai.onnx.ml", 3)])
    with pytest.raises(OnnxImportError,
                       match=r"'imp' \(Imputer, ai\.onnx\.ml opset 3\).*op type Imputer is "
                             r"not supported"):
        import_model(model)


@pytest.mark.parametrize("src,dst", [(TP.FLOAT, TP.INT32), (TP.INT32, TP.FLOAT),
                                     (TP.DOUBLE, TP.UINT64), (TP.INT64, TP.DOUBLE),
                                     (TP.UINT32, TP.FLOAT)])
def test_bitcast_round_trips_keep_every_bit(src, dst):
    """BitCast there and back gives the input's bits (NaN payloads, -0.0, subnormals);
    the first leg equals numpy's view and onnxruntime's BitCast."""
    vi = H.make_tensor_value_info
    nodes = [H.make_node("BitCast", ["x"], ["y"], to=dst),
             H.make_node("BitCast", ["y"], ["z"], to=src)]
    model = _model(nodes, [vi("x", src, [None])], [vi("y", dst, [None]), vi("z", src, [None])],
                   [("", 26)])
    npsrc = onnx.helper.tensor_dtype_to_np_dtype(src)
    npdst = onnx.helper.tensor_dtype_to_np_dtype(dst)
    raw = np.random.default_rng(2).integers(0, 256, (64 * npsrc.itemsize,), np.uint8)
    specials = np.array([0.0, -0.0, np.nan, -np.inf, 1e-40, 1.5], np.float64).astype(
        np.float32 if npsrc.itemsize == 4 else np.float64).view(
        np.uint32 if npsrc.itemsize == 4 else np.uint64).view(np.uint8)
    x = np.concatenate([raw, specials]).view(npsrc)
    y, z = prepare(model).run({"x": x})
    assert y.dtype == npdst and z.dtype == npsrc
    np.testing.assert_array_equal(y.view(np.uint8), x.view(np.uint8))
    np.testing.assert_array_equal(z.view(np.uint8), x.view(np.uint8))
    (oy, _) = _ort(model, {"x": x})
    np.testing.assert_array_equal(y.view(np.uint8), oy.view(np.uint8))


def test_bitcast_export_round_trip_and_width_error(tmp_path):
    import compiler as fc
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = fc.bitcast(x, fc.int32, name="y")
        with pytest.raises(ValueError, match="float32 to int64: the types differ in width"):
            fc.bitcast(x, fc.int64)
        fc.onnx.export([y], [x], tmp_path / "b.onnx")
        xv = np.array([1.0, -0.0, np.nan, 3e-39], np.float32)
        with fc.Session() as s:
            want = s.run(y, {x: xv})
    s = ort.InferenceSession(str(tmp_path / "b.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(s.run(None, {"x": xv})[0], want)
    np.testing.assert_array_equal(want, xv.view(np.int32))


def _flex(bias=None):
    """FlexAttention with GQA (4 query heads on 2 key/value heads), float64, a symbolic
    batch, a score_mod adding `bias` (the enclosing graph's input of that name when None,
    else an initializer of the subgraph) and a prob_mod halving the probabilities."""
    D = TP.DOUBLE
    vi = H.make_tensor_value_info
    inits = [] if bias is None else [H.make_tensor("bias", D, [3, 5], bias.ravel())]
    score_mod = H.make_graph([H.make_node("Add", ["s", "bias"], ["s_out"])], "score_mod",
                             [vi("s", D, None)], [vi("s_out", D, None)], initializer=inits)
    prob_mod = H.make_graph([H.make_node("Mul", ["p", "half"], ["p_out"])], "prob_mod",
                            [vi("p", D, None)], [vi("p_out", D, None)],
                            initializer=[H.make_tensor("half", D, [], [0.5])])
    node = H.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain="ai.onnx.preview",
                       score_mod=score_mod, prob_mod=prob_mod, scale=0.3)
    inputs = [vi("q", D, ["B", 4, 3, 8]), vi("k", D, ["B", 2, 5, 8]),
              vi("v", D, ["B", 2, 5, 6])] + ([vi("bias", D, [3, 5])] if bias is None else [])
    return _model([node], inputs, [vi("y", D, ["B", 4, 3, 6])],
                  [("", 23), ("ai.onnx.preview", 1)])


def test_flex_attention_gqa_with_mods_reading_an_outer_name():
    """The score_mod reads a graph input of the enclosing graph (outer scope); the onnx
    reference evaluator, which cannot, runs the model with that input as an initializer of
    the subgraph."""
    rng = np.random.default_rng(3)
    model = _flex()
    rep = prepare(model)
    for b in (2, 1):
        feeds = {"q": rng.standard_normal((b, 4, 3, 8)), "k": rng.standard_normal((b, 2, 5, 8)),
                 "v": rng.standard_normal((b, 2, 5, 6)), "bias": rng.standard_normal((3, 5))}
        (got,) = rep.run(feeds)
        bias = feeds.pop("bias")
        (want,) = _ref(_flex(bias), feeds)
        assert got.shape == want.shape == (b, 4, 3, 6)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    (session, _, _), = rep._plans.values()
    assert session.compile_count == 1


def test_flex_attention_3d_input_is_refused_by_name():
    vi = H.make_tensor_value_info
    node = H.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain="ai.onnx.preview",
                       name="fa")
    model = _model([node], [vi("q", F, [2, 3, 8]), vi("k", F, [2, 5, 8]),
                            vi("v", F, [2, 5, 8])], [vi("y", F, [2, 3, 8])],
                   [("", 23), ("ai.onnx.preview", 1)])
    with pytest.raises(OnnxImportError, match=r"'fa' \(FlexAttention, ai\.onnx\.preview "
                                              r"opset 1\): input 0 \(Q\) must be 4-D"):
        import_model(model)
