"""ONNX LSTM/GRU/RNN and If/Loop/Scan (compiler/onnx/ops/rnn.py, control.py) on the forms
the node suite does not cover, against onnxruntime running the same model: run-time
sequence_lens, bidirectional with initial states, layout 1, peepholes, clip,
input_forget, activations with alpha/beta, linear_before_reset; one compile for every
sequence length and batch; gradients through the imported loop; If/Loop/Scan with
outer-scope names, computed conditions and scan axes; the errors for forms flowc
cannot build."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import compiler as fc  # noqa: E402
from compiler.onnx import OnnxImportError, import_model  # noqa: E402
from compiler.onnx.backend import prepare  # noqa: E402

H = onnx.helper
F = onnx.TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=22):
    graph = H.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return H.make_model(graph, opset_imports=[H.make_opsetid("", opset)])


def _ort(model, feeds):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def _check(model, feeds, rtol=1e-5, atol=1e-5):
    want = _ort(model, feeds)
    got = prepare(model).run(feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


def _rnn_model(op, gates, *, hidden=3, inp=2, dirs=1, layout=0, seq=None, batch=None,
               with_lens=False, with_init=False, with_c=False, peep=False, outs=3,
               rng=None, **attrs):
    rng = rng or np.random.default_rng(0)
    seq_dim = seq or "T"
    batch_dim = batch or "B"
    x_shape = [seq_dim, batch_dim, inp] if layout == 0 else [batch_dim, seq_dim, inp]
    st_shape = [dirs, batch_dim, hidden] if layout == 0 else [batch_dim, dirs, hidden]
    inits = [onnx.numpy_helper.from_array(a.astype(np.float32), n) for n, a in (
        ("W", rng.standard_normal((dirs, gates * hidden, inp)) * 0.5),
        ("R", rng.standard_normal((dirs, gates * hidden, hidden)) * 0.5),
        ("Bias", rng.standard_normal((dirs, 2 * gates * hidden)) * 0.5))]
    inputs = [H.make_tensor_value_info("X", F, x_shape)]
    names = ["X", "W", "R", "Bias", "", "", "", ""]
    if with_lens:
        inputs.append(H.make_tensor_value_info("lens", onnx.TensorProto.INT32, [batch_dim]))
        names[4] = "lens"
    if with_init:
        inputs.append(H.make_tensor_value_info("h0", F, st_shape))
        names[5] = "h0"
    if with_c:
        inputs.append(H.make_tensor_value_info("c0", F, st_shape))
        names[6] = "c0"
    if peep:
        inits.append(onnx.numpy_helper.from_array(
            rng.standard_normal((dirs, 3 * hidden)).astype(np.float32), "P"))
        names[7] = "P"
    while names and not names[-1]:
        names.pop()
    out_names = ["Y", "Y_h", "Y_c"][:outs]
    node = H.make_node(op, names, out_names, hidden_size=hidden, layout=layout,
                       direction={1: "forward", 2: "bidirectional"}[dirs]
                       if "direction" not in attrs else attrs.pop("direction"), **attrs)
    outputs = [H.make_tensor_value_info(n, F, [None] * (4 if n == "Y" else 3))
               for n in out_names]
    return _model([node], inputs, outputs, inits)


def _feeds(model, seq, batch, rng, lens=None):
    feeds = {}
    for vi in model.graph.input:
        if vi.name == "lens":
            feeds["lens"] = np.asarray(lens, np.int32)
            continue
        dims = [d.dim_value if d.dim_value else {"T": seq, "B": batch}[d.dim_param]
                for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


@pytest.mark.parametrize("case", [
    dict(op="LSTM", gates=4, dirs=2, with_init=True, with_c=True, peep=True),
    dict(op="LSTM", gates=4, direction="reverse", with_lens=True, peep=True),
    dict(op="LSTM", gates=4, dirs=2, with_lens=True, with_init=True, with_c=True),
    dict(op="LSTM", gates=4, layout=1, dirs=2, with_init=True, with_c=True),
    dict(op="LSTM", gates=4, clip=0.5, input_forget=1),
    dict(op="LSTM", gates=4, activations=["HardSigmoid", "LeakyRelu", "ScaledTanh"],
         activation_alpha=[0.3, 0.2, 0.7], activation_beta=[0.4, 1.5]),
    dict(op="GRU", gates=3, outs=2, linear_before_reset=1, dirs=2, with_init=True),
    dict(op="GRU", gates=3, outs=2, with_lens=True, direction="reverse"),
    dict(op="GRU", gates=3, outs=2, layout=1, clip=0.8, linear_before_reset=1,
         with_lens=True),
    dict(op="RNN", gates=1, outs=2, dirs=2, with_lens=True, with_init=True,
         activations=["Relu", "Softsign"]),
    dict(op="RNN", gates=1, outs=2, activations=["Elu"], activation_alpha=[0.5]),
], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items() if k not in ("gates",)))
def test_recurrent_matches_onnxruntime(case):
    case = dict(case)
    op, gates = case.pop("op"), case.pop("gates")
    model = _rnn_model(op, gates, **case)
    rng = np.random.default_rng(1)
    lens = [4, 1, 3] if case.get("with_lens") else None
    feeds = _feeds(model, 4, 3, rng, lens)
    if not case.get("layout"):
        _check(model, feeds, rtol=1e-4, atol=1e-5)
        return
    # onnxruntime has no layout 1: the reference is the layout-0 model on swapped axes
    twin = _rnn_model(op, gates, **{**case, "layout": 0})
    swap = {k: v if k == "lens" else np.swapaxes(v, 0, 1) for k, v in feeds.items()}
    want = _ort(twin, swap)
    want = [np.transpose(want[0], (2, 0, 1, 3))] + [np.swapaxes(w, 0, 1) for w in want[1:]]
    for g, w in zip(prepare(model).run(feeds), want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_recurrent_compiles_once_for_every_length_and_batch():
    model = _rnn_model("LSTM", 4, dirs=2, with_lens=True)
    rng = np.random.default_rng(2)
    g = fc.Graph()
    with g.as_default():
        ins, outs = import_model(model)
        assert [t.shape.ndims for t in outs] == [4, 3, 3]
        with fc.Session() as sess:
            for seq, batch, lens in ((5, 2, [5, 2]), (3, 4, [1, 3, 0, 2])):
                feeds = _feeds(model, seq, batch, rng, lens)
                got = sess.run(outs, {t: feeds[n] for t, n in zip(ins, ["X", "lens"])})
                for a, b in zip(got, _ort(model, feeds)):
                    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
            assert sess.compile_count == 1


def test_recurrent_gradient_through_the_imported_loop():
    """trainable=True: the LSTM weights are variables and fc.gradients reaches them
    through the while_loop; checked against a central difference."""
    model = _rnn_model("LSTM", 4, hidden=2, seq=3, batch=2, outs=2)
    x = np.random.default_rng(3).standard_normal((3, 2, 2)).astype(np.float32)
    g = fc.Graph()
    with g.as_default():
        _, (y, _) = import_model(model, input_map={"X": x}, trainable=True)
        w = [v for v in fc.trainable_variables() if v.name.startswith("W")][0]
        loss = fc.reduce_sum(y * y)
        (grad,) = fc.gradients(loss, [w])
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            analytic, w0 = sess.run([grad, w])
            eps, numeric = 1e-3, np.zeros_like(w0)
            for idx in [(0, 0, 0), (0, 3, 1), (0, 6, 0)]:
                vals = []
                for sgn in (1, -1):
                    wp = w0.copy()
                    wp[idx] += sgn * eps
                    sess.run(w.assign(wp))
                    vals.append(sess.run(loss))
                numeric[idx] = (vals[0] - vals[1]) / (2 * eps)
                np.testing.assert_allclose(analytic[idx], numeric[idx], rtol=2e-2, atol=1e-3)


def test_recurrent_errors_name_the_culprit():
    model = _rnn_model("GRU", 3, outs=2, activations=["Sigmoid", "Gelu"])
    with pytest.raises(OnnxImportError, match=r"GRU.*activation 'Gelu'"):
        import_model(model)


# ---- If, Loop, Scan -----------------------------------------------------------------


def _const(name, value):
    return H.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(
        np.asarray(value, np.float32)))


def test_if_with_outer_scope_names_and_run_time_condition():
    then_g = H.make_graph([H.make_node("Add", ["x", "x"], ["t"])], "then", [],
                          [H.make_tensor_value_info("t", F, [3])])
    else_g = H.make_graph([H.make_node("Mul", ["x", "k"], ["e"])], "else", [],
                          [H.make_tensor_value_info("e", F, [3])])
    node = H.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)
    model = _model([_const("k", [3, 3, 3]), node],
                   [H.make_tensor_value_info("c", onnx.TensorProto.BOOL, []),
                    H.make_tensor_value_info("x", F, [3])],
                   [H.make_tensor_value_info("y", F, [3])], opset=13)
    x = np.array([1, 2, 3], np.float32)
    g = fc.Graph()
    with g.as_default():
        (c, xp), (y,) = import_model(model)
        with fc.Session() as sess:
            np.testing.assert_allclose(sess.run(y, {c: True, xp: x}), 2 * x)
            np.testing.assert_allclose(sess.run(y, {c: False, xp: x}), 3 * x)
            assert sess.compile_count == 1


I64 = onnx.TensorProto.INT64
BOOL = onnx.TensorProto.BOOL


def _loop_body(cond_from_outer, scan=True):
    """(i, c, acc, k) -> (c_out, acc + x, k + i[, acc + x]): x is an outer-scope name;
    c_out is c passed through, or the outer-scope `keep` (a condition the body does not
    pass through: the loop stops after one step when it is false)."""
    nodes = [H.make_node("Add", ["acc", "x"], ["acc_out"]),
             H.make_node("Add", ["k", "i"], ["k_out"]),
             H.make_node("Identity", ["keep" if cond_from_outer else "c"], ["c_out"])]
    outs = [H.make_tensor_value_info("c_out", BOOL, []),
            H.make_tensor_value_info("acc_out", F, []),
            H.make_tensor_value_info("k_out", I64, [])]
    if scan:
        nodes.append(H.make_node("Identity", ["acc_out"], ["scan_out"]))
        outs.append(H.make_tensor_value_info("scan_out", F, []))
    return H.make_graph(nodes, "body", [
        H.make_tensor_value_info("i", I64, []), H.make_tensor_value_info("c", BOOL, []),
        H.make_tensor_value_info("acc", F, []), H.make_tensor_value_info("k", I64, [])],
        outs)


def test_loop_run_time_trip_count_and_conditions():
    node = H.make_node("Loop", ["M", "c0", "a0", "k0"], ["acc", "k"],
                       body=_loop_body(True, scan=False))
    model = _model([node], [H.make_tensor_value_info("M", I64, []),
                            H.make_tensor_value_info("c0", BOOL, []),
                            H.make_tensor_value_info("keep", BOOL, []),
                            H.make_tensor_value_info("a0", F, []),
                            H.make_tensor_value_info("k0", I64, []),
                            H.make_tensor_value_info("x", F, [])],
                   [H.make_tensor_value_info("acc", F, []),
                    H.make_tensor_value_info("k", I64, [])], opset=13)
    g = fc.Graph()
    with g.as_default():
        ins, outs = import_model(model)
        with fc.Session() as sess:
            for m, c0, keep in ((5, True, True), (3, True, False), (0, True, True),
                                (4, False, True), (-2, True, True)):
                feeds = {"M": np.array(m, np.int64), "c0": np.array(c0),
                         "keep": np.array(keep), "a0": np.array(1.5, np.float32),
                         "k0": np.array(10, np.int64), "x": np.array(2, np.float32)}
                want = _ort(model, feeds) if m >= 0 else [np.float32(1.5), np.int64(10)]
                got = sess.run(outs, dict(zip(ins, feeds.values())))
                for a, b in zip(got, want):
                    np.testing.assert_allclose(a, b)
            assert sess.compile_count == 1


def test_loop_scan_outputs_need_a_known_trip_count():
    node = H.make_node("Loop", ["M", "", "a0", "k0"], ["acc", "k", "rows"],
                       body=_loop_body(False))
    ins = [H.make_tensor_value_info("a0", F, []), H.make_tensor_value_info("k0", I64, []),
           H.make_tensor_value_info("x", F, [])]
    outs = [H.make_tensor_value_info("acc", F, []), H.make_tensor_value_info("k", I64, []),
            H.make_tensor_value_info("rows", F, [4])]
    m = onnx.numpy_helper.from_array(np.array(4, np.int64), "M")
    model = _model([node], ins, outs, [m], opset=13)
    got = _check(model, {"a0": np.array(1, np.float32), "k0": np.array(0, np.int64),
                         "x": np.array(2, np.float32)})
    np.testing.assert_allclose(got[2], [3, 5, 7, 9])
    dynamic = _model([node], [H.make_tensor_value_info("M", I64, [])] + ins, outs, opset=13)
    with pytest.raises(OnnxImportError, match=r"Loop.*trip count M known at import"):
        with fc.Graph().as_default():
            import_model(dynamic)
    outer = H.make_node("Loop", ["M", "", "a0", "k0"], ["acc", "k", "rows"],
                        body=_loop_body(True))
    with pytest.raises(OnnxImportError, match=r"Loop.*condition the body computes"):
        with fc.Graph().as_default():
            import_model(_model([outer], [H.make_tensor_value_info("keep", BOOL, [])] + ins,
                                outs, [m], opset=13))


def test_scan_axes_directions_and_symbolic_extent():
    body = H.make_graph(
        [H.make_node("Add", ["s", "a"], ["s_out"]), H.make_node("Mul", ["a", "b"], ["p"])],
        "body", [H.make_tensor_value_info("s", F, [2]), H.make_tensor_value_info("a", F, [2]),
                 H.make_tensor_value_info("b", F, [2])],
        [H.make_tensor_value_info("s_out", F, [2]), H.make_tensor_value_info("p", F, [2])])
    node = H.make_node("Scan", ["s0", "xa", "xb"], ["s", "ys"], body=body,
                       num_scan_inputs=2, scan_input_axes=[1, 0],
                       scan_input_directions=[1, 0], scan_output_axes=[-1],
                       scan_output_directions=[1])
    model = _model([node], [H.make_tensor_value_info("s0", F, [2]),
                            H.make_tensor_value_info("xa", F, [2, "N"]),
                            H.make_tensor_value_info("xb", F, ["N", 2])],
                   [H.make_tensor_value_info("s", F, [2]),
                    H.make_tensor_value_info("ys", F, [2, "N"])], opset=16)
    rng = np.random.default_rng(4)
    rep = prepare(model)
    for n in (3, 5):
        feeds = {"s0": rng.standard_normal(2).astype(np.float32),
                 "xa": rng.standard_normal((2, n)).astype(np.float32),
                 "xb": rng.standard_normal((n, 2)).astype(np.float32)}
        for g, w in zip(rep.run(feeds), _ort(model, feeds)):
            np.testing.assert_allclose(g, w, rtol=1e-6)
    (session, _, _), = rep._plans.values()
    assert session.compile_count == 1


def test_subgraph_problems_name_the_inner_node():
    body = H.make_graph([H.make_node("Frob", ["a"], ["p"], domain="com.example"),
                         H.make_node("Identity", ["s"], ["s_out"])], "body",
                        [H.make_tensor_value_info("s", F, [2]),
                         H.make_tensor_value_info("a", F, [2])],
                        [H.make_tensor_value_info("s_out", F, [2]),
                         H.make_tensor_value_info("p", F, [2])])
    node = H.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=body, num_scan_inputs=1,
                       name="my_scan")
    model = _model([node], [H.make_tensor_value_info("s0", F, [2]),
                            H.make_tensor_value_info("xs", F, [3, 2])],
                   [H.make_tensor_value_info("s", F, [2]),
                    H.make_tensor_value_info("ys", F, [3, 2])], opset=16)
    with pytest.raises(OnnxImportError,
                       match=r"Frob.* in graph/my_scan\.body: domain .com\.example."):
        import_model(model)


def test_sequence_typed_input_is_refused_by_name():
    seq = H.make_tensor_sequence_value_info("xs", F, [2])
    model = _model([H.make_node("Identity", ["xs"], ["ys"])], [seq],
                   [H.make_tensor_sequence_value_info("ys", F, [2])], opset=16)
    with pytest.raises(TypeError, match=r"input 'xs' is a sequence, not a tensor"):
        with fc.Graph().as_default():
            import_model(model)


def test_sequence_ops_are_refused_with_the_reason():
    node = H.make_node("SplitToSequence", ["x"], ["s"], name="split")
    back = H.make_node("ConcatFromSequence", ["s"], ["y"], axis=0)
    model = _model([node, back], [H.make_tensor_value_info("x", F, [4])],
                   [H.make_tensor_value_info("y", F, [4])], opset=16)
    with pytest.raises(OnnxImportError, match=r"(?s)'split' \(SplitToSequence, opset 16\)"
                       r".*not supported \(flowc has no sequence or optional type\).*"
                       r"ConcatFromSequence"):
        with fc.Graph().as_default():
            import_model(model)


def test_nested_subgraphs_see_every_enclosing_scope():
    """A Scan inside If's then-branch: its body reads `k`, a name two scopes out."""
    body = H.make_graph(
        [H.make_node("Add", ["s", "a"], ["t"]), H.make_node("Mul", ["t", "k"], ["s2"]),
         H.make_node("Identity", ["s2"], ["o"])], "body",
        [H.make_tensor_value_info("s", F, [2]), H.make_tensor_value_info("a", F, [2])],
        [H.make_tensor_value_info("s2", F, [2]), H.make_tensor_value_info("o", F, [2])])
    then_g = H.make_graph([H.make_node("Scan", ["s0", "xs"], ["sf", "ys"], body=body,
                                       num_scan_inputs=1)], "then", [],
                          [H.make_tensor_value_info("sf", F, [2])])
    else_g = H.make_graph([H.make_node("Identity", ["s0"], ["e"])], "else", [],
                          [H.make_tensor_value_info("e", F, [2])])
    node = H.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)
    model = _model([node], [H.make_tensor_value_info("c", BOOL, []),
                            H.make_tensor_value_info("s0", F, [2]),
                            H.make_tensor_value_info("xs", F, ["N", 2]),
                            H.make_tensor_value_info("k", F, [2])],
                   [H.make_tensor_value_info("y", F, [2])], opset=16)
    rep = prepare(model)
    for c in (True, False):
        feeds = {"c": np.array(c), "s0": np.ones(2, np.float32),
                 "xs": np.arange(6, dtype=np.float32).reshape(3, 2),
                 "k": np.array([0.5, 2], np.float32)}
        np.testing.assert_allclose(rep.run(feeds)[0], _ort(model, feeds)[0], rtol=1e-6)
