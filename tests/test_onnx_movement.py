"""The movement and indexing ONNX converters (compiler/onnx/ops/movement.py, indexing.py)
beyond the node suite: the older opset forms (attributes that became inputs), symbolic
dims through torch's Shape -> Gather -> Concat -> Reshape idiom, reductions on int data,
and the errors for what cannot be built. Expected values come from the `onnx` package's
reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import compiler as fc  # noqa: E402
from compiler.onnx import backend  # noqa: E402

F, I64 = TensorProto.FLOAT, TensorProto.INT64
rng = np.random.default_rng(0)


def model(nodes, inputs, outputs, opset, inits=()):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    # outputs given without a type get the one onnx's shape inference finds
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    for out in m.graph.output:
        if not out.type.HasField("tensor_type") and out.name in inferred:
            out.CopyFrom(inferred[out.name])
    return m


def vi(name, elem, shape):
    if shape is None:  # an output of unknown type
        return helper.make_empty_tensor_value_info(name)
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, value):
    return onnx.numpy_helper.from_array(np.asarray(value), name)


def check(m, *feeds):
    want = ReferenceEvaluator(m).run(None, {i.name: v for i, v in zip(
        [x for x in m.graph.input if x.name not in {t.name for t in m.graph.initializer}],
        feeds)})
    got = backend.prepare(m).run(list(feeds))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-6)


x234 = rng.standard_normal((2, 3, 4)).astype(np.float32)


@pytest.mark.parametrize("opset", [11, 13, 21])
def test_squeeze_unsqueeze_attribute_and_input_forms(opset):
    if opset < 13:
        nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0, -1]),
                 helper.make_node("Squeeze", ["u"], ["y"], axes=[0]),
                 helper.make_node("Squeeze", ["x1"], ["z"])]
        inits = []
    else:
        nodes = [helper.make_node("Unsqueeze", ["x", "a"], ["u"]),
                 helper.make_node("Squeeze", ["u", "b"], ["y"]),
                 helper.make_node("Squeeze", ["x1"], ["z"])]
        inits = [const("a", np.array([0, -1], np.int64)), const("b", np.array([0], np.int64))]
    m = model(nodes, [vi("x", F, [2, 3, 4]), vi("x1", F, [1, 3, 1])],
              [vi("y", F, None), vi("z", F, None)], opset, inits)
    check(m, x234, np.ones((1, 3, 1), np.float32))


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_forms(opset):
    x = rng.standard_normal((7, 2)).astype(np.float32)
    if opset == 11:
        node = helper.make_node("Split", ["x"], ["a", "b"], axis=0, split=[3, 4])
        inits = []
    elif opset == 13:
        node = helper.make_node("Split", ["x", "s"], ["a", "b"], axis=0)
        inits = [const("s", np.array([5, 2], np.int64))]
    else:  # num_outputs with an uneven last chunk: 3 + 3 + 1
        node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=0, num_outputs=3)
        inits = []
    outs = [vi(n, F, None) for n in node.output]
    check(model([node], [vi("x", F, [7, 2])], outs, opset, inits), x)


def test_slice_attribute_form_and_negative_steps():
    x = rng.standard_normal((5, 6)).astype(np.float32)
    old = model([helper.make_node("Slice", ["x"], ["y"], starts=[1, -4], ends=[100, -1],
                                  axes=[0, 1])],
                [vi("x", F, [5, 6])], [vi("y", F, None)], 9)
    check(old, x)
    new = model([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])],
                [vi("x", F, [5, 6])], [vi("y", F, None)], 13,
                [const("s", np.array([-1, 2**63 - 1], np.int64)),
                 const("e", np.array([-2**63, 0], np.int64)),
                 const("a", np.array([0, 1], np.int64)),
                 const("st", np.array([-2, -1], np.int64))])
    check(new, x)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_attribute_form(mode):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    m = model([helper.make_node("Pad", ["x"], ["y"], mode=mode, pads=[1, 2, 2, 1],
                                value=1.5)],
              [vi("x", F, [3, 4])], [vi("y", F, None)], 10)
    check(m, x)


def test_pad_axes_negative_pads_and_wide_wrap():
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    axes = model([helper.make_node("Pad", ["x", "p", "v", "a"], ["y"], mode="constant")],
                 [vi("x", F, [2, 3, 4])], [vi("y", F, None)], 18,
                 [const("p", np.array([2, -1, 0, 3], np.int64)),
                  const("v", np.array(-7.0, np.float32)),
                  const("a", np.array([-1, 1], np.int64))])
    # negative pads crop (onnx's reference evaluator refuses them: numpy's pad)
    got = backend.prepare(axes).run([x])[0]
    want = np.pad(x[:, 1:, :], ((0, 0), (0, 3), (2, 0)), constant_values=-7.0)
    np.testing.assert_array_equal(got, want)
    wrap = model([helper.make_node("Pad", ["x", "p"], ["y"], mode="wrap")],
                 [vi("x", F, [2, 3, 4])], [vi("y", F, None)], 19,
                 [const("p", np.array([0, 7, 1, 0, 2, 5], np.int64))])
    check(wrap, x)


def test_int_scatter_reductions_and_gather_nd_batch_dims():
    data = rng.integers(-9, 9, (4, 3)).astype(np.int64)
    idx = np.array([[1, 0, 3], [1, -1, 0]], np.int64)
    upd = rng.integers(-9, 9, (2, 3)).astype(np.int64)
    for reduction in ("add", "mul", "max", "min"):
        m = model([helper.make_node("ScatterElements", ["d", "i", "u"], ["y"], axis=0,
                                    reduction=reduction)],
                  [vi("d", I64, [4, 3]), vi("i", I64, [2, 3]), vi("u", I64, [2, 3])],
                  [vi("y", I64, None)], 18)
        check(m, data, idx, upd)
        nd = model([helper.make_node("ScatterND", ["d", "i", "u"], ["y"], reduction=reduction)],
                   [vi("d", I64, [4, 3]), vi("i", I64, [2, 1]), vi("u", I64, [2, 3])],
                   [vi("y", I64, None)], 18)
        check(nd, data, np.array([[2], [-4]], np.int64), upd)
    g = model([helper.make_node("GatherND", ["d", "i"], ["y"], batch_dims=1)],
              [vi("d", F, [2, 3, 4]), vi("i", I64, [2, 2, 2])], [vi("y", F, None)], 13)
    check(g, x234, np.array([[[0, 1], [2, -1]], [[1, 3], [-3, 0]]], np.int64))


def test_gather_elements_reverse_sequence_onehot_masks():
    ge = model([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=2)],
               [vi("x", F, [2, 3, 4]), vi("i", I64, [2, 3, 2])], [vi("y", F, None)], 13)
    check(ge, x234, rng.integers(-4, 4, (2, 3, 2)).astype(np.int64))
    rs = model([helper.make_node("ReverseSequence", ["x", "l"], ["y"], batch_axis=0,
                                 time_axis=2)],
               [vi("x", F, [2, 3, 4]), vi("l", I64, [2])], [vi("y", F, None)], 13)
    check(rs, x234, np.array([4, 2], np.int64))
    oh = model([helper.make_node("OneHot", ["i", "d", "v"], ["y"], axis=0)],
               [vi("i", F, [3]), vi("v", F, [2])], [vi("y", F, None)], 11,
               [const("d", np.array(4, np.int64))])
    check(oh, np.array([1.0, -1.0, 7.0], np.float32), np.array([-2.0, 5.0], np.float32))
    eye = model([helper.make_node("EyeLike", ["x"], ["y"], k=-1, dtype=TensorProto.INT32)],
                [vi("x", F, [3, 5])], [vi("y", TensorProto.INT32, None)], 13)
    check(eye, np.zeros((3, 5), np.float32))
    tri = model([helper.make_node("Trilu", ["x", "k"], ["y"], upper=0)],
                [vi("x", F, [2, 3, 4])], [vi("y", F, None)], 14,
                [const("k", np.array(1, np.int64))])
    check(tri, x234)


def test_torch_reshape_idiom_keeps_a_symbolic_batch():
    # y = x.reshape(x.shape[0], -1) as torch exports it, then x[:, 1:] and arange(n)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shp"], axis=0),
             helper.make_node("Reshape", ["x", "shp"], ["y"]),
             helper.make_node("Slice", ["y", "one", "big", "ax1"], ["z"]),
             helper.make_node("Range", ["zero", "n", "one0"], ["r"])]
    inits = [const("zero", np.array(0, np.int64)), const("ax0", np.array([0], np.int64)),
             const("minus1", np.array([-1], np.int64)), const("one", np.array([1], np.int64)),
             const("big", np.array([2**63 - 1], np.int64)),
             const("ax1", np.array([1], np.int64)), const("one0", np.array(1, np.int64))]
    m = model(nodes, [vi("x", F, ["N", 3, 4])],
              [vi("y", F, None), vi("z", F, None), vi("r", I64, None)], 17, inits)
    g = fc.Graph()
    with g.as_default():
        (x,), (y, z, r) = fc.onnx.import_model(m)
    assert y.shape.as_list() == [None, 12] and z.shape.as_list() == [None, 11]
    assert r.shape.as_list() == [None]
    ref = ReferenceEvaluator(m)
    sess = fc.Session(graph=g)
    for batch in (2, 5):
        xv = rng.standard_normal((batch, 3, 4)).astype(np.float32)
        for got, want in zip(sess.run([y, z, r], {x: xv}), ref.run(None, {"x": xv})):
            np.testing.assert_array_equal(got, want)
    assert sess.compile_count == 1


def test_shape_size_expand_constants():
    nodes = [helper.make_node("Shape", ["x"], ["s"], start=1, end=-1),
             helper.make_node("Size", ["x"], ["n"]),
             helper.make_node("Expand", ["b", "e"], ["y"]),
             helper.make_node("Constant", [], ["c1"], value_floats=[1.0, 2.5]),
             helper.make_node("Constant", [], ["c2"], value_int=7),
             helper.make_node("ConstantOfShape", ["s"], ["z"],
                              value=helper.make_tensor("v", TensorProto.INT32, [1], [3]))]
    m = model(nodes, [vi("x", F, ["N", 3, 4, 5]), vi("b", F, [3, 1])],
              [vi(n, 0, None) for n in ("s", "n", "y", "c1", "c2", "z")], 19,
              [const("e", np.array([2, 1, 4], np.int64))])
    check(m, np.zeros((2, 3, 4, 5), np.float32), np.arange(3, dtype=np.float32).reshape(3, 1))


def test_blocks_and_col2im():
    x = rng.standard_normal((1, 8, 2, 3)).astype(np.float32)
    for op, mode in (("DepthToSpace", "CRD"), ("DepthToSpace", "DCR")):
        m = model([helper.make_node(op, ["x"], ["y"], blocksize=2, mode=mode)],
                  [vi("x", F, [1, 8, 2, 3])], [vi("y", F, None)], 13)
        check(m, x)
    s2d = model([helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2)],
                [vi("x", F, [1, 2, 4, 6])], [vi("y", F, None)], 13)
    check(s2d, rng.standard_normal((1, 2, 4, 6)).astype(np.float32))
    col = model([helper.make_node("Col2Im", ["x", "i", "b"], ["y"], strides=[2], pads=[1, 0],
                                  dilations=[1])],
                [vi("x", F, [1, 6, 4])], [vi("y", F, None)], 18,
                [const("i", np.array([8], np.int64)), const("b", np.array([3], np.int64))])
    check(col, rng.standard_normal((1, 6, 4)).astype(np.float32))


def test_tensor_scatter_circular_with_write_indices():
    m = model([helper.make_node("TensorScatter", ["c", "u", "w"], ["y"], mode="circular",
                                axis=1)],
              [vi("c", F, [2, 5, 3]), vi("u", F, [2, 3, 3]), vi("w", I64, [2])],
              [vi("y", F, None)], 24)
    check(m, rng.standard_normal((2, 5, 3)).astype(np.float32),
          rng.standard_normal((2, 3, 3)).astype(np.float32), np.array([4, 1], np.int64))


def test_values_needed_at_import_are_named_all_at_once():
    # a Reshape whose shape and a Compress whose condition are only known at run time
    # (graph inputs: import_model makes placeholders of them)
    nodes = [helper.make_node("Reshape", ["x", "shp"], ["y"], name="bad_reshape"),
             helper.make_node("Compress", ["x", "cond"], ["z"], name="bad_compress"),
             helper.make_node("Squeeze", ["x", "ax"], ["w"], name="bad_squeeze")]
    m = model(nodes, [vi("x", F, [2]), vi("shp", I64, [1]), vi("cond", TensorProto.BOOL, [2]),
                      vi("ax", I64, [1])],
              [vi("y", F, ["a"]), vi("z", F, ["b"]), vi("w", F, ["c"])], 13)
    g = fc.Graph()
    with g.as_default(), pytest.raises(fc.onnx.OnnxImportError) as e:
        fc.onnx.import_model(m)
    text = str(e.value)
    assert "3 problems" in text
    assert "'bad_reshape' (Reshape, opset 13)" in text and "input 1 ('shp')" in text
    assert "'bad_compress' (Compress, opset 13)" in text and "input 1 ('cond')" in text
    assert "'bad_squeeze' (Squeeze, opset 13)" in text and "input 1 ('ax')" in text


def test_bad_forms_raise_naming_the_node():
    cases = [
        (helper.make_node("Pad", ["x"], ["y"], name="p", mode="mirror", pads=[0, 0]), 10,
         "mode 'mirror'"),
        (helper.make_node("Squeeze", ["x"], ["y"], name="s", axes=[0]), 11,
         "axis 0 has extent 2, not 1"),
        (helper.make_node("Split", ["x"], ["a", "b"], name="t", split=[1, 3]), 11,
         "does not add up"),
        (helper.make_node("Transpose", ["x"], ["y"], name="u", perm=[1]), 13, "perm"),
    ]
    for node, opset, why in cases:
        m = model([node], [vi("x", F, [2])], [vi(n, F, ["d"]) for n in node.output], opset)
        g = fc.Graph()
        with g.as_default(), pytest.raises(fc.onnx.OnnxImportError) as e:
            fc.onnx.import_model(m)
        assert f"'{node.name}' ({node.op_type}, opset {opset})" in str(e.value)
        assert why in str(e.value)


def test_constant_forms_sparse_and_strings():
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("v", F, [3], [1.5, -2.0, 4.0]),
        helper.make_tensor("i", I64, [3], [0, 5, 7]), [2, 4])
    sparse2 = helper.make_sparse_tensor(
        helper.make_tensor("v", TensorProto.INT32, [2], [9, 3]),
        helper.make_tensor("i", I64, [2, 2], [0, 2, 1, 0]), [2, 3])
    m = model([helper.make_node("Constant", [], ["a"], sparse_value=sparse),
               helper.make_node("Constant", [], ["b"], sparse_value=sparse2),
               helper.make_node("Constant", [], ["c"], value_ints=[3, -1])],
              [], [vi("a", F, [2, 4]), vi("b", TensorProto.INT32, [2, 3]),
                   vi("c", I64, [2])], 13)
    a, b, c = backend.prepare(m).run([])
    np.testing.assert_array_equal(a, [[1.5, 0, 0, 0], [0, -2.0, 0, 4.0]])
    np.testing.assert_array_equal(b, [[0, 0, 9], [3, 0, 0]])
    assert c.dtype == np.int64 and list(c) == [3, -1]
    s = model([helper.make_node("Constant", [], ["s"], name="text", value_string="hi")],
              [], [vi("s", TensorProto.STRING, [])], 13)
    with pytest.raises(fc.onnx.OnnxImportError, match="'text' .*value_string is not"):
        fc.onnx.import_model(s)


def test_symbolic_batch_through_gathers_scatters_and_flips():
    nodes = [helper.make_node("GatherElements", ["x", "i"], ["g"], axis=1),
             helper.make_node("ScatterElements", ["x", "i", "u"], ["s"], axis=1),
             helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["f"]),
             helper.make_node("Gather", ["x", "j"], ["h"], axis=0)]
    m = model(nodes, [vi("x", F, ["N", 4]), vi("i", I64, ["N", 2]), vi("u", F, ["N", 2]),
                      vi("j", I64, [3])],
              [vi("g", F, ["N", 2]), vi("s", F, ["N", 4]), vi("f", F, ["N", 4]),
               vi("h", F, [3, 4])], 13,
              [const("st", np.array([-1], np.int64)), const("en", np.array([-2**63], np.int64)),
               const("ax", np.array([0], np.int64)), const("sp", np.array([-1], np.int64))])
    g = fc.Graph()
    with g.as_default():
        ins, outs = fc.onnx.import_model(m)
    assert [o.shape.as_list() for o in outs] == [[None, 2], [None, 4], [None, 4], [3, 4]]
    sess, ref = fc.Session(graph=g), ReferenceEvaluator(m)
    for n in (3, 6):
        feeds = [rng.standard_normal((n, 4)).astype(np.float32),
                 np.stack([rng.permutation(4)[:2] for _ in range(n)]).astype(np.int64) - 1,
                 rng.standard_normal((n, 2)).astype(np.float32),
                 np.array([-1, 0, -n], np.int64)]
        want = ref.run(None, dict(zip("xiuj", feeds)))
        for got, w in zip(sess.run(outs, dict(zip(ins, feeds))), want):
            np.testing.assert_array_equal(got, w)
    assert sess.compile_count == 1


def test_out_of_range_coordinates_raise_instead_of_aliasing():
    # a coordinate past its own axis would land on another element of the flat data
    cases = [
        (helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1),
         [vi("x", F, [2, 3]), vi("i", I64, [2, 1])], [np.zeros((2, 3), np.float32),
                                                       np.array([[3], [1]], np.int64)]),
        (helper.make_node("GatherND", ["x", "i"], ["y"]),
         [vi("x", F, [2, 3]), vi("i", I64, [1, 2])], [np.zeros((2, 3), np.float32),
                                                       np.array([[0, 4]], np.int64)]),
        (helper.make_node("ReverseSequence", ["x", "l"], ["y"], batch_axis=0, time_axis=1),
         [vi("x", F, [2, 3]), vi("l", I64, [2])], [np.zeros((2, 3), np.float32),
                                                    np.array([4, 3], np.int64)]),
        (helper.make_node("TensorScatter", ["x", "u", "w"], ["y"], axis=1),
         [vi("x", F, [2, 3]), vi("u", F, [2, 2]), vi("w", I64, [2])],
         [np.zeros((2, 3), np.float32), np.ones((2, 2), np.float32),
          np.array([2, 0], np.int64)]),
    ]
    for node, inputs, feeds in cases:
        m = model([node], inputs, [vi("y", F, None)], 24)
        with pytest.raises(fc.errors.OpError, match="out of range"):
            backend.prepare(m).run(feeds)
