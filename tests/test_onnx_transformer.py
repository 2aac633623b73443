"""Softmax, normalization and attention ONNX converters (compiler/onnx/ops/transformer.py,
attention.py) in the forms the node suite does not cover: the opset < 13 softmax family
(the input coerced to 2-D at `axis`), GroupNormalization-18 (per-group scale), LpNorm
p=1, symbolic batch dims, and the errors naming the node. onnxruntime is the reference."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from compiler.onnx.backend import backend  # noqa: E402
from compiler.onnx.importer import OnnxImportError  # noqa: E402

F32 = TensorProto.FLOAT


def model(node, inputs, outputs, opset):
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info(n, t, s)
                                        for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def both(m, feeds):
    """(flowc's outputs, onnxruntime's outputs) of model `m`."""
    ours = backend().prepare(m, "CPU").run(feeds)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [vi.name for vi in m.graph.input]
    theirs = sess.run(None, dict(zip(names, feeds, strict=True)))
    return list(ours), theirs


def close(ours, theirs, rtol=1e-5, atol=1e-6):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 2), (11, 0), (11, -1), (13, 1)])
def test_softmax_family_opset_forms(op, opset, axis):
    # Before opset 13 the input is coerced to 2-D at axis (default 1): the op normalizes
    # over all axes from `axis` on; from 13 over `axis` (default -1) alone.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 3
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    m = model(node, [("x", F32, [2, 3, 4])], [("y", F32, [2, 3, 4])], opset)
    close(*both(m, [x]))


def test_group_normalization_per_channel_and_opset18_refused():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 3, 2)).astype(np.float32)
    scale = rng.standard_normal(6).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3,
                            epsilon=1e-3, name="gn")
    inputs = [("x", F32, [2, 6, 3, 2]), ("s", F32, [6]), ("b", F32, [6])]
    m = model(node, inputs, [("y", F32, [2, 6, 3, 2])], 21)
    close(*both(m, [x, scale, bias]), rtol=1e-4, atol=1e-5)
    # GroupNormalization-18 (scale per group) is deprecated by ONNX: refused, named.
    m = model(node, inputs, [("y", F32, [2, 6, 3, 2])], 18)
    with pytest.raises(OnnxImportError, match=r"'gn' \(GroupNormalization, opset 18\).*"
                                              r"from opset 21"):
        backend().prepare(m, "CPU")


def test_lp_normalization_p1_and_zero_rows():
    x = np.array([[1.0, -3.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    node = helper.make_node("LpNormalization", ["x"], ["y"], p=1, axis=1)
    m = model(node, [("x", F32, [2, 3])], [("y", F32, [2, 3])], 13)
    ours = backend().prepare(m, "CPU").run([x])[0]
    np.testing.assert_allclose(ours, [[0.25, -0.75, 0.0], [0.0, 0.0, 0.0]])


def test_layer_normalization_symbolic_batch_one_compile():
    rng = np.random.default_rng(2)
    node = helper.make_node("LayerNormalization", ["x", "w", "b"], ["y", "mean", "inv"],
                            axis=-1, epsilon=1e-3)
    m = model(node, [("x", F32, ["n", 5]), ("w", F32, [5]), ("b", F32, [5])],
              [("y", F32, ["n", 5]), ("mean", F32, ["n", 1]), ("inv", F32, ["n", 1])], 17)
    rep = backend().prepare(m, "CPU")
    w, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    for n in (1, 4):
        x = rng.standard_normal((n, 5)).astype(np.float32)
        ours = list(rep.run([x, w, b]))
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        close(ours, sess.run(None, {"x": x, "w": w, "b": b}), rtol=1e-4, atol=1e-5)
    assert len(rep._plans) == 1


def test_errors_name_the_node():
    node = helper.make_node("LpNormalization", ["x"], ["y"], p=3, name="norm3")
    m = model(node, [("x", F32, [2, 3])], [("y", F32, [2, 3])], 13)
    with pytest.raises(OnnxImportError, match=r"norm3.*LpNormalization, opset 13.*p=3"):
        backend().prepare(m, "CPU")
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=4,
                            name="gn")
    m = model(node, [("x", F32, [2, 6, 3]), ("s", F32, [6]), ("b", F32, [6])],
              [("y", F32, [2, 6, 3])], 21)
    with pytest.raises(OnnxImportError, match=r"gn.*num_groups=4 does not divide the 6"):
        backend().prepare(m, "CPU")


def test_attention_symbolic_batch_gqa_causal_past_against_onnxruntime():
    # 3-D Q/K/V with a dim_param batch: one compile serves both batch sizes.
    rng = np.random.default_rng(3)
    node = helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"], ["y", "k2", "v2"],
                            is_causal=1, q_num_heads=4, kv_num_heads=2)
    m = model(node, [("q", F32, ["b", 3, 16]), ("k", F32, ["b", 3, 8]),
                     ("v", F32, ["b", 3, 10]), ("pk", F32, ["b", 2, 2, 4]),
                     ("pv", F32, ["b", 2, 2, 5])],
              [("y", F32, ["b", 3, 20]), ("k2", F32, ["b", 2, 5, 4]),
               ("v2", F32, ["b", 2, 5, 5])], 23)
    rep = backend().prepare(m, "CPU")
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (1, 3):
        feeds = [rng.standard_normal(s).astype(np.float32) for s in
                 [(n, 3, 16), (n, 3, 8), (n, 3, 10), (n, 2, 2, 4), (n, 2, 2, 5)]]
        theirs = sess.run(None, dict(zip(["q", "k", "v", "pk", "pv"], feeds, strict=True)))
        close(list(rep.run(feeds)), theirs, rtol=1e-4, atol=1e-5)
    assert len(rep._plans) == 1


def test_attention_errors_name_the_node():
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=3,
                            kv_num_heads=2, name="attn")
    m = model(node, [("q", F32, [1, 2, 12]), ("k", F32, [1, 2, 8]), ("v", F32, [1, 2, 8])],
              [("y", F32, [1, 2, 12])], 23)
    with pytest.raises(OnnxImportError, match=r"'attn' \(Attention, opset 23\).*"
                                              r"q_num_heads=3 is not a multiple"):
        backend().prepare(m, "CPU")
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], name="attn3d")
    m = model(node, [("q", F32, [1, 2, 12]), ("k", F32, [1, 2, 12]),
                     ("v", F32, [1, 2, 12])], [("y", F32, [1, 2, 12])], 23)
    with pytest.raises(OnnxImportError, match=r"attn3d.*need the q_num_heads"):
        backend().prepare(m, "CPU")


def test_causal_conv_with_state_symbolic_length_against_onnx_reference():
    # The taps are slices with stops counted from the end, so the length may be symbolic.
    from onnx.reference import ReferenceEvaluator
    rng = np.random.default_rng(4)
    node = helper.make_node("CausalConvWithState", ["x", "w", "bias", "past"], ["y", "state"],
                            activation="silu")
    m = model(node, [("x", F32, ["b", 3, "L"]), ("w", F32, [3, 1, 4]), ("bias", F32, [3]),
                     ("past", F32, ["b", 3, 3])],
              [("y", F32, ["b", 3, "L"]), ("state", F32, ["b", 3, 3])], 27)
    rep, ref = backend().prepare(m, "CPU"), ReferenceEvaluator(m)
    w, bias = rng.standard_normal((3, 1, 4)).astype(np.float32), rng.standard_normal(3)
    for n, length in ((1, 5), (2, 2)):
        feeds = [rng.standard_normal((n, 3, length)).astype(np.float32), w,
                 bias.astype(np.float32), rng.standard_normal((n, 3, 3)).astype(np.float32)]
        theirs = ref.run(None, dict(zip(["x", "w", "bias", "past"], feeds, strict=True)))
        close(list(rep.run(feeds)), theirs, rtol=1e-5, atol=1e-6)
    assert len(rep._plans) == 1


def test_sequence_ops_errors_name_the_node():
    node = helper.make_node("LinearAttention", ["q", "k", "v"], ["y", "s"], q_num_heads=1,
                            kv_num_heads=1, update_rule="linear", name="lin")
    m = model(node, [(n, F32, [1, 200, 4]) for n in "qkv"],
              [("y", F32, [1, 200, 4]), ("s", F32, [1, 1, 4, 4])], 27)
    with pytest.raises(OnnxImportError, match=r"'lin' \(LinearAttention, opset 27\).*"
                                              r"sequence length 200.*up to 128"):
        backend().prepare(m, "CPU")
    node = helper.make_node("RotaryEmbedding", ["x", "c", "s"], ["y"], name="rope")
    m = model(node, [("x", F32, [1, 2, 8]), ("c", F32, [1, 2, 2]), ("s", F32, [1, 2, 2])],
              [("y", F32, [1, 2, 8])], 23)
    with pytest.raises(OnnxImportError, match=r"rope.*needs the num_heads attribute"):
        backend().prepare(m, "CPU")


def test_attention_symbolic_sequence_with_bool_mask_against_onnxruntime():
    rng = np.random.default_rng(5)
    node = helper.make_node("Attention", ["q", "k", "v", "m"], ["y"], is_causal=1)
    m = model(node, [(n, F32, ["b", 2, "s", 4]) for n in "qkv"]
              + [("m", TensorProto.BOOL, ["s", "s"])], [("y", F32, ["b", 2, "s", 4])], 23)
    rep = backend().prepare(m, "CPU")
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for s in (3, 5):
        feeds = [rng.standard_normal((2, 2, s, 4)).astype(np.float32) for _ in "qkv"]
        feeds.append(rng.random((s, s)) > 0.3)
        close(list(rep.run(feeds)), sess.run(None, dict(zip("qkvm", feeds, strict=True))),
              rtol=1e-4, atol=1e-5)
    assert len(rep._plans) == 1


@pytest.mark.loads_torch
def test_imported_layer_norm_softmax_attention_fine_tune_gradients_match_torch():
    # trainable=True: the gradients of the composed ops agree with torch's autograd.
    torch = pytest.importorskip("torch")
    from onnx import numpy_helper

    import compiler as fc
    rng = np.random.default_rng(6)
    w, b = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    kv = rng.standard_normal((2, 1, 4, 8)).astype(np.float32)
    nodes = [helper.make_node("LayerNormalization", ["x", "w", "b"], ["h"], epsilon=1e-3),
             helper.make_node("Attention", ["h", "kv", "kv"], ["a"], is_causal=1),
             helper.make_node("Softmax", ["a"], ["y"])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", F32, [2, 1, 4, 8])],
                          [helper.make_tensor_value_info("y", F32, [2, 1, 4, 8])],
                          initializer=[numpy_helper.from_array(a, n) for a, n in
                                       ((w, "w"), (b, "b"), (kv, "kv"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 23)])
    x = rng.standard_normal((2, 1, 4, 8)).astype(np.float32)
    t = rng.standard_normal((2, 1, 4, 8)).astype(np.float32)
    with fc.Graph().as_default():
        (xi,), (y,) = fc.onnx.import_model(m, trainable=True)
        variables = fc.trainable_variables()
        grads = fc.gradients(fc.reduce_sum(y * t), variables)
        with fc.Session() as s:
            s.run(fc.global_variables_initializer())
            ours = dict(zip([v.name for v in variables], s.run(grads, {xi: x}), strict=True))
    wt, bt, kvt = (torch.tensor(a, requires_grad=True) for a in (w, b, kv))
    h = torch.nn.functional.layer_norm(torch.tensor(x), (8,), wt, bt, 1e-3)
    a = torch.nn.functional.scaled_dot_product_attention(h, kvt, kvt, is_causal=True)
    (torch.softmax(a, -1) * torch.tensor(t)).sum().backward()
    for name, ref in (("w:0", wt), ("b:0", bt), ("kv:0", kvt)):
        np.testing.assert_allclose(ours[name], ref.grad.numpy(), rtol=1e-4, atol=1e-5)
