"""`fc.onnx.export` (compiler/onnx/export.py): round trips that run the exported file in
onnxruntime against `Session.run` on the same graph, symbolic dims as dim_params (one
file, two batch sizes), the one error listing every op that cannot be exported, variables
read through the session (after training), and a re-import with `fc.onnx.import_model`."""

import importlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import compiler as fc
from compiler.onnx.export import OLDEST_OPSET, ONNXRUNTIME_OPSET, default_opset

RNG = np.random.default_rng(18)


def ort_run(path_or_model, feeds):
    data = (path_or_model.SerializeToString() if isinstance(path_or_model, onnx.ModelProto)
            else open(path_or_model, "rb").read())
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: np.asarray(v) for k, v in feeds.items()})


def round_trip(tmp_path, fetches, feeds, values, session=None, opset=None, atol=1e-5):
    """Export, run in onnxruntime and in the Session, compare; returns the model."""
    path = tmp_path / "model.onnx"
    model = fc.onnx.export(fetches, feeds, path, session=session, opset=opset)
    assert path.read_bytes() == model.SerializeToString()
    got = ort_run(path, {t.op.name: v for t, v in zip(feeds, values)})
    if session is None:
        with fc.Session() as s:
            want = s.run(fetches, dict(zip(feeds, values)))
    else:
        want = session.run(fetches, dict(zip(feeds, values)))
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(want, got)):
        assert b.dtype == a.dtype and b.shape == a.shape, (i, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=atol, err_msg=f"fetch {i}")
    return model


def test_mlp_dense_relu_softmax(tmp_path):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        h = fc.layers.dense(x, 8, activation=fc.nn.relu)
        y = fc.nn.softmax(fc.layers.dense(h, 3))
        with fc.Session() as s:
            s.run(fc.global_variables_initializer())
            model = round_trip(tmp_path, [y], [x], [RNG.random((5, 4), np.float32)], s)
    names = {t.name for t in model.graph.initializer}
    assert {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"} <= names
    assert [i.name for i in model.graph.input] == ["x"]
    assert [o.name for o in model.graph.output] == [y.op.name]
    assert model.opset_import[0].version == default_opset()


def test_cnn_nhwc_conv_pool_and_nchw_conv(tmp_path):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 9, 9, 3], name="x")
        w = fc.Variable(RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))
        c = fc.nn.relu(fc.nn.conv2d(x, w, [1, 2, 2, 1], "SAME"))
        c2 = fc.nn.conv2d(x, w, [1, 1, 1, 1], "VALID", dilations=[1, 2, 2, 1])
        mp = fc.nn.max_pool(c, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
        ap = fc.nn.avg_pool(c, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")   # divides by valid ones
        xn = fc.placeholder(fc.float32, [None, 3, 8, 8], name="xn")
        cn = fc.nn.conv2d(xn, w, [1, 1, 1, 1], "SAME", data_format="NCHW")
        pn = fc.nn.max_pool(cn, [1, 1, 2, 2], [1, 1, 2, 2], "VALID", data_format="NCHW")
        with fc.Session() as s:
            s.run(fc.global_variables_initializer())
            model = round_trip(tmp_path, [mp, ap, c2, pn], [x, xn],
                               [RNG.random((2, 9, 9, 3), np.float32),
                                RNG.random((2, 3, 8, 8), np.float32)], s)
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "MaxPool", "AveragePool"} <= ops


def test_lstm_cell_step_two_batch_sizes(tmp_path):
    """The zero state is a broadcast to [N0, 5] and the gates slices of N0 rows: the
    symbolic extents are computed in the model, so one file takes every batch size."""
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        cell = fc.nn.rnn_cell.BasicLSTMCell(5)
        out, state = cell(x, cell.zero_state(fc.shape(x)[0], fc.float32))
        out2, state2 = cell(x * 0.5, state)
        with fc.Session() as s:
            s.run(fc.global_variables_initializer())
            path = tmp_path / "lstm.onnx"
            model = fc.onnx.export([out2, state2.c], [x], path, session=s)
            for n in (1, 7):
                xv = RNG.random((n, 4), np.float32)
                want = s.run([out2, state2.c], {x: xv})
                got = ort_run(path, {"x": xv})
                for a, b in zip(want, got):
                    assert b.shape == a.shape == (n, 5)
                    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    dim = model.graph.input[0].type.tensor_type.shape.dim
    assert dim[0].dim_param == x.shape[0].as_atom().name and dim[1].dim_value == 4
    assert model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == dim[0].dim_param


def program(x, i):
    """Reductions, reshape/transpose/slice/gather/concat/pad/cast/where and comparisons."""
    r = fc.reduce_sum(x, 1) + fc.reduce_mean(x, [0, 2], keepdims=True)[:, 1, :]
    m = fc.reduce_max(x, -1) - fc.reduce_min(x, -1) + fc.reduce_prod(x, 2)
    t = fc.reshape(fc.transpose(x, [0, 2, 1]), [-1, 12])
    s = fc.concat([x[:, 1:3], x[:, ::-1][:, :2], x[:, :, ::2][:, :2, :2] * 1.0 + 0.0], 2)
    g = fc.gather(x, i, axis=1)
    g2 = fc.gather(fc.constant(np.arange(4.0, dtype=np.float32)), fc.argmax(x, 2))
    p = fc.pad(x, [[0, 0], [1, 2], [0, 1]], constant_values=-1.0)
    c = fc.cast(x * 10.0 - 5.0, fc.int32) // 3 % 4 + fc.cast(fc.argmin(x, 1), fc.int32)[:, None, :]
    w = fc.where(fc.logical_and(x > 0.2, fc.not_equal(x, 0.5)), x, -fc.sqrt(x))
    cmp = fc.cast(fc.logical_or(x >= 0.9, x <= 0.1), fc.float32) + fc.floormod(x * 7 - 3, 2.0)
    return [r, m, t, s, g, g2, p, c, w, cmp, fc.one_hot(i, 3), fc.squeeze(fc.expand_dims(x, 0)),
            fc.reduce_sum(x) * 2.0]


def test_program_of_movement_reduction_and_elementwise_ops(tmp_path):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3, 4], name="x")
        i = fc.placeholder(fc.int32, [None], name="i")
        round_trip(tmp_path, program(x, i), [x, i],
                   [RNG.random((2, 3, 4), np.float32), np.array([2, 0, 1, 1], np.int32)])


@pytest.mark.parametrize("opset", [OLDEST_OPSET, 17])
def test_older_opsets(tmp_path, opset):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3, 4], name="x")
        i = fc.placeholder(fc.int32, [None], name="i")
        model = round_trip(tmp_path, program(x, i), [x, i],
                           [RNG.random((3, 3, 4), np.float32), np.array([1, 2], np.int32)],
                           opset=opset)
    assert model.opset_import[0].version == opset


def test_default_opset_is_what_onnxruntime_knows():
    from onnxruntime.capi import _pybind_state as C
    known = max(s.since_version for s in C.get_all_operator_schema() if s.domain == "")
    assert ONNXRUNTIME_OPSET <= known
    assert default_opset() == min(onnx.defs.onnx_opset_version(),
                                                ONNXRUNTIME_OPSET)


def test_feeding_an_inner_tensor_and_a_placeholder_with_default(tmp_path):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [2, 3], name="x")
        h = fc.exp(x) * 2.0
        scale = fc.placeholder_with_default(fc.constant(3.0), [], name="scale")
        y = fc.tanh(h) * scale
        round_trip(tmp_path, [y], [h], [RNG.random((2, 3), np.float32)])


def test_unsupported_ops_are_listed_together():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        v = fc.Variable(np.zeros(4, np.float32), name="v")
        noise = fc.random_uniform(fc.shape(x))
        bumped = fc.assign_add(v, fc.reduce_sum(x, 0))
        check = fc.debugging.assert_positive(x)
        with fc.control_dependencies([check]):
            y = x + noise + bumped
        looped = fc.while_loop(lambda k, s: k < 3,
                               lambda k, s: (k + 1, s * fc.random_normal([])),
                               [fc.constant(0), y])[1]
        unfed = fc.placeholder(fc.float32, [4], name="unfed")
        with pytest.raises(fc.onnx.OnnxExportError) as info:
            fc.onnx.export([looped, unfed], [x], None)
    lines = info.value.problems
    text = str(info.value)
    assert len(lines) == 6, text
    for kind in ("random_uniform", "assign_add", "check", "random_normal 'while/",
                 "placeholder 'unfed'", "variable 'v'"):
        assert any(kind in line for line in lines), (kind, text)
    assert all("test_onnx_export.py:" in line for line in lines), text
    assert "pass session=" in text and "list it in feeds" in text


def test_bad_arguments():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        y = x * 2.0
        with pytest.raises(ValueError, match="opset 9 is outside"):
            fc.onnx.export(y, [x], None, opset=9)
        with pytest.raises(ValueError, match="twice in feeds"):
            fc.onnx.export(y, [x, x], None)
        with pytest.raises(TypeError, match="must be tensors"):
            fc.onnx.export(y, [3], None)
        u = fc.placeholder(fc.float32, None, name="u")
        with pytest.raises(fc.onnx.OnnxExportError, match="'u:0'.*unknown rank"):
            fc.onnx.export(u * 2.0, [u], None)


def test_export_after_training_has_the_trained_values(tmp_path):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        target = fc.placeholder(fc.float32, [None, 1], name="target")
        y = fc.layers.dense(x, 1)
        loss = fc.reduce_mean(fc.square(y - target))
        step = fc.train.GradientDescentOptimizer(0.1).minimize(loss)
        xv = RNG.random((16, 3), np.float32)
        tv = xv @ np.array([[1.0], [-2.0], [0.5]], np.float32)
        with fc.Session() as s:
            s.run(fc.global_variables_initializer())
            before = s.run(y, {x: xv})
            for _ in range(5):
                s.run(step, {x: xv, target: tv})
            after = s.run(y, {x: xv})
            assert not np.allclose(before, after)
            model = round_trip(tmp_path, [y], [x], [xv], s)
            kernel = s.run(fc.global_variables()[0])
    init = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(init["dense/kernel"], kernel)


def test_reimport_with_import_model(tmp_path):
    """The exported file imported again (Add/Sub/Mul/MatMul/Identity and initializers,
    which the importer converts) computes what the original graph does."""
    w = RNG.standard_normal((4, 3)).astype(np.float32)
    b = RNG.standard_normal(3).astype(np.float32)
    xv = RNG.random((5, 4), np.float32)
    path = tmp_path / "affine.onnx"
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        y = fc.matmul(x, fc.constant(w)) + fc.constant(b) * 2.0 - fc.constant(b)
        fc.onnx.export(y, [x], path)
        with fc.Session() as s:
            want = s.run(y, {x: xv})
    with fc.Graph().as_default():
        (xi,), (yi,) = fc.onnx.import_model(path)
        assert xi.shape.as_list() == [None, 4]
        with fc.Session() as s:
            for n in (5, 2):
                np.testing.assert_allclose(s.run(yi, {xi: xv[:n]}), want[:n], rtol=1e-6)


def test_depthwise_conv_and_gradient_graph(tmp_path):
    """A depthwise conv becomes a grouped Conv; a gradient graph (gather's gradient is a
    scatter_add) exports like any other."""
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 6, 6, 3], name="x")
        f = fc.constant(RNG.standard_normal((3, 3, 3, 2)).astype(np.float32))
        y = fc.nn.depthwise_conv2d(x, f, [1, 2, 2, 1], "SAME")
        table = fc.placeholder(fc.float32, [None, 4], name="table")
        ids = fc.placeholder(fc.int32, [None], name="ids")
        rows = fc.gather(table, ids)
        grad = fc.gradients(fc.reduce_sum(rows * rows), table)[0]
        model = round_trip(tmp_path, [y, grad], [x, table, ids],
                           [RNG.random((2, 6, 6, 3), np.float32),
                            RNG.random((5, 4), np.float32), np.array([4, 0, 4, 2], np.int32)])
    ops = [n.op_type for n in model.graph.node]
    assert "ScatterElements" in ops
    assert any(n.op_type == "Conv" and any(a.name == "group" and a.i == 3
                                           for a in n.attribute) for n in model.graph.node)


def test_symbolic_extents_computed_in_the_model(tmp_path):
    """range/zeros/fill over a fed extent (iota and broadcast of symbolic shapes, a
    floor division and a maximum of dims) follow the fed batch."""
    with fc.Graph().as_default():
        i = fc.placeholder(fc.int32, [None], name="i")
        n = fc.shape(i)[0]
        outs = [fc.range(n), fc.range(2, n, 3), fc.zeros([n, 2]), fc.fill([n], 2.5),
                fc.cast(fc.shape(i), fc.float32)]
        path = tmp_path / "extents.onnx"
        fc.onnx.export(outs, [i], path)
        with fc.Session() as s:
            for k in (1, 2, 8):
                iv = np.arange(k, dtype=np.int32)
                for a, b in zip(s.run(outs, {i: iv}), ort_run(path, {"i": iv})):
                    assert a.dtype == b.dtype and a.shape == b.shape
                    np.testing.assert_array_equal(b, a)


def test_deferred_composite_is_expanded(tmp_path):
    """A deferred composite other than pooling/depthwise is built in a scratch graph and
    exported op by op; its unknown-rank output gets the built shape."""
    from compiler.frontend.deferred import deferred
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        b = fc.placeholder(fc.float32, [None, 3], name="b")
        y = deferred(lambda a, c: fc.nn.softmax(a * 2.0 + c, axis=0), [x, b], fc.float32,
                     name="Composite")
        assert not y.shape.known_rank
        model = round_trip(tmp_path, [y], [x, b], [RNG.random((4, 3), np.float32),
                                                   RNG.random((4, 3), np.float32)])
    dims = model.graph.output[0].type.tensor_type.shape.dim
    assert len(dims) == 2 and dims[1].dim_value == 3


def test_control_flow_while_cond_and_dynamic_rnn(tmp_path):
    """while_loop becomes Loop (captures read from the outer scope, maximum_iterations'
    counter carried), cond becomes If (also nested in a loop body); dynamic_rnn (a loop
    writing a TensorArray: ScatterND) at two batch sizes."""
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        k = fc.placeholder(fc.int32, [], name="k")
        w = fc.constant(RNG.standard_normal((3, 3)).astype(np.float32))
        i, acc = fc.while_loop(lambda i, a: i < k,
                               lambda i, a: (i + 1, fc.tanh(fc.matmul(a, w)) + x),
                               [fc.constant(0), x])
        y = fc.cond(fc.reduce_sum(x) > 3.0, lambda: acc * 2.0, lambda: acc - fc.reduce_mean(x))
        j = fc.while_loop(lambda j: j < 10, lambda j: j + 3, [k], maximum_iterations=2)
        alt = fc.while_loop(lambda n, a: n < k, lambda n, a: (
            n + 1, fc.cond(n % 2 == 0, lambda: a + 1.0, lambda: a * 2.0)),
            [fc.constant(0), fc.constant(1.0)])[1]
        seq = fc.placeholder(fc.float32, [None, 5, 3], name="seq")
        cell = fc.nn.rnn_cell.BasicLSTMCell(4)
        out, state = fc.nn.dynamic_rnn(cell, seq, dtype=fc.float32)
        fetches = [acc, y, i, j, alt, out, state.h]
        with fc.Session() as s:
            s.run(fc.global_variables_initializer())
            path = tmp_path / "control.onnx"
            model = fc.onnx.export(fetches, [x, k, seq], path, session=s)
            for n, kv in ((2, 3), (5, 0), (1, 6)):
                feeds = {x: RNG.random((n, 3), np.float32) * 2, k: np.array(kv, np.int32),
                         seq: RNG.random((n, 5, 3), np.float32)}
                want = s.run(fetches, feeds)
                got = ort_run(path, {t.op.name: v for t, v in feeds.items()})
                for a, b in zip(want, got):
                    assert a.dtype == b.dtype and a.shape == b.shape
                    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    ops = [nd.op_type for nd in model.graph.node]
    assert ops.count("Loop") == 4 and "If" in ops


def test_slices_of_a_symbolic_extent_at_every_batch(tmp_path):
    """Forward, strided and reversed slices of a fed extent, including the empty ones
    (flowc's begin of an empty reversed slice is -1, which ONNX would read from the end)."""
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        outs = [x[::-1], x[-2::-1], x[1:], x[:-1, ::-2], x[:, 1::-1], x[:, 2:0:-1], x[-2:],
                x[1::2], x[-3::-2], x[:-2:-1], x[3:1:-1], x[::2]]
        path = tmp_path / "slices.onnx"
        fc.onnx.export(outs, [x], path)
        with fc.Session() as s:
            for n in (0, 1, 2, 5):
                xv = RNG.random((n, 3), np.float32)
                for k, (a, b) in enumerate(zip(s.run(outs, {x: xv}), ort_run(path, {"x": xv}))):
                    assert a.shape == b.shape, (n, k, a.shape, b.shape)
                    np.testing.assert_array_equal(b, a, err_msg=f"batch {n}, slice {k}")


def test_integer_division_floors_and_by_zero_gives_zero(tmp_path):
    """flowc's integer // and % floor (ONNX's Div truncates) and give 0 for a zero divisor
    (ONNX leaves it undefined: onnxruntime would crash)."""
    with fc.Graph().as_default():
        a = fc.placeholder(fc.int32, [None], name="a")
        b = fc.placeholder(fc.int32, [None], name="b")
        round_trip(tmp_path, [a // b, a % b, fc.cast(a, fc.int64) // 3, a % -3], [a, b],
                   [np.array([7, -7, 7, -7, 5, 0, -1], np.int32),
                    np.array([2, 2, -2, -2, 0, 0, 3], np.int32)])


def test_float_to_int_casts_saturate(tmp_path):
    """flowc's float -> int cast truncates, saturates and sends NaN to 0; ONNX leaves
    out-of-range values undefined, so the export spells it out."""
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        d = fc.placeholder(fc.float64, [None], name="d")
        outs = [fc.cast(x, t) for t in (fc.int8, fc.uint8, fc.int16, fc.int32, fc.int64,
                                        fc.uint16, fc.uint32, fc.uint64)]
        outs += [fc.cast(d, fc.int32), fc.cast(d, fc.int64)]
        special = [np.nan, np.inf, -np.inf, 1e20, -1e20, 300.7, -300.7, -0.9, 2.5, 127.9,
                   -128.5, 2147483520.0, -2147483648.0, 0.0]
        round_trip(tmp_path, outs, [x, d], [np.array(special, np.float32),
                                            np.array(special, np.float64)])


def test_large_initializers_go_to_external_data(tmp_path, monkeypatch):
    """Past EXTERNAL_DATA_BYTES (1 GB; lowered here) the initializers are written beside
    the model as ONNX external data, which onnxruntime reads from the model's path."""
    monkeypatch.setattr(importlib.import_module("compiler.onnx.export"),
                        "EXTERNAL_DATA_BYTES", 4096)
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 64], name="x")
        w = fc.constant(RNG.standard_normal((64, 64)).astype(np.float32))
        y = fc.tanh(fc.matmul(x, w))
        with pytest.raises(fc.onnx.OnnxExportError, match="give a path"):
            fc.onnx.export(y, [x], None)
        path = tmp_path / "big.onnx"
        fc.onnx.export(y, [x], path)
        assert (tmp_path / "big.onnx.data").stat().st_size >= 64 * 64 * 4
        assert path.stat().st_size < 4096
        xv = RNG.random((3, 64), np.float32)
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"x": xv})[0]
        with fc.Session() as s:
            np.testing.assert_allclose(got, s.run(y, {x: xv}), rtol=1e-5, atol=1e-6)


def test_fetches_and_feeds_by_name_with_graph(tmp_path):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 2], name="x")
        y = fc.identity(fc.sigmoid(x) * 3.0, name="y")
    # outside the graph's `with`: the names resolve in `graph=`
    model = fc.onnx.export("y:0", ["x:0"], tmp_path / "named.onnx", graph=g)
    assert [o.name for o in model.graph.output] == ["y"]
    xv = RNG.random((3, 2), np.float32)
    with g.as_default(), fc.Session() as s:
        want = s.run(y, {x: xv})
    np.testing.assert_allclose(ort_run(tmp_path / "named.onnx", {"x": xv})[0], want,
                               rtol=1e-6)


def test_every_primitive_is_exported_or_refused_with_a_reason():
    """The export table and NO_COUNTERPART cover every row of the op table but the IR's
    own control-flow ops (user graphs hold While/If, whose bodies' params the control-flow
    rows bind)."""
    from compiler.onnx.export import Exporter
    from compiler.onnx.export_rules import EXPORTERS, NO_COUNTERPART
    from compiler.ops.table import OPS
    Exporter(fc.Graph(), default_opset(), None)   # registers While / If
    assert not set(EXPORTERS) & set(NO_COUNTERPART)
    assert set(OPS) - set(EXPORTERS) - set(NO_COUNTERPART) == {"while", "cond", "get", "param"}
    assert {"While", "If", "deferred", "identity", "placeholder_with_default"} <= set(EXPORTERS)


def test_conv_1d_3d_transposed_and_conv_gradients(tmp_path):
    """conv1d/conv3d and 3-D pooling; conv2d_transpose and a strided conv's input gradient
    (an input dilation: zeros interleaved on the input before Conv) and its filter gradient
    (a conv contracting the symbolic batch)."""
    with fc.Graph().as_default():
        x1 = fc.placeholder(fc.float32, [None, 10, 3], name="x1")
        x3 = fc.placeholder(fc.float32, [None, 6, 6, 6, 2], name="x3")
        x2 = fc.reshape(x3, [-1, 6, 6, 12])
        w = fc.constant(RNG.random((3, 3, 12, 4), np.float32))
        c = fc.nn.conv2d(x2, w, [1, 2, 2, 1], "SAME")
        up = fc.constant(RNG.random((3, 3, 5, 12), np.float32))
        batch = fc.shape(x3)[0]
        outs = [fc.nn.conv1d(x1, fc.constant(RNG.random((3, 3, 4), np.float32)), 2, "SAME"),
                fc.nn.conv3d(x3, fc.constant(RNG.random((2, 2, 2, 2, 3), np.float32)),
                             [1, 1, 1, 1, 1], "VALID"),
                fc.nn.max_pool3d(x3, [1, 2, 2, 2, 1], [1, 2, 2, 2, 1], "VALID"),
                fc.nn.avg_pool3d(x3, [1, 3, 3, 3, 1], [1, 2, 2, 2, 1], "SAME"),
                fc.nn.conv2d_transpose(x2, up, [batch, 12, 12, 5], [1, 2, 2, 1], "SAME"),
                fc.nn.conv2d_transpose(x2, up, [batch, 13, 13, 5], [1, 2, 2, 1], "VALID"),
                *fc.gradients(fc.reduce_sum(c * c), [x2, w])]
        model = round_trip(tmp_path, outs, [x1, x3], [RNG.random((3, 10, 3), np.float32),
                                                      RNG.random((3, 6, 6, 6, 2), np.float32)],
                           atol=1e-4)
    assert sum(n.op_type == "Conv" for n in model.graph.node) >= 6


def test_elementwise_math(tmp_path):
    """Every unary and binary elementwise row, at the default opset."""
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        n = fc.placeholder(fc.int32, [None, 4], name="n")
        h = x - 0.5
        outs = [fc.exp(x), fc.log(x + 1.0), fc.sqrt(x), fc.rsqrt(x + 1.0), fc.tanh(h),
                fc.sigmoid(h), fc.abs(h), fc.sign(h), fc.floor(h * 3), fc.ceil(h * 3),
                fc.expm1(x), fc.log1p(x), fc.pow(x, 2.5), fc.maximum(x, 0.5),
                fc.minimum(x, 0.5), fc.sin(h), fc.cos(h), -x, fc.square(h), x / (x + 1.0),
                fc.stop_gradient(x), -n, fc.abs(n), fc.sign(n), fc.maximum(n, 1),
                fc.minimum(n, 1), n * n - n + 1, fc.cast(fc.logical_not(x > 0.5), fc.int32),
                fc.cast(fc.equal(n, 1), fc.float32), fc.cast(fc.greater(n, 0), fc.int8),
                fc.erf(h), fc.atan(h * 3), fc.bitwise.invert(n),
                fc.bitwise.bitwise_and(n, 6), fc.bitwise.bitwise_or(n, 6),
                fc.bitwise.bitwise_xor(n, 6)]
        round_trip(tmp_path, outs, [x, n], [RNG.random((3, 4), np.float32),
                                            RNG.integers(-3, 4, (3, 4)).astype(np.int32)])
