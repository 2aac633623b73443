"""The gradient rule table is complete, and `fc.gradients` has TF1's semantics: sums over
ys, grad_ys, None for unrelated xs, stop_gradient / stop_gradients, no gradient through
int and bool tensors, variables as xs, user-graph-only ops, and the documented tie
rules (maximum/minimum, reduce_max/min) and reduce_prod with zeros."""

import numpy as np
import pytest

import compiler as fc
from compiler.autodiff import rules
from compiler.frontend.core import make
from compiler.ops import OPS


def test_every_primitive_has_a_rule_or_is_declared_non_differentiable():
    for name, op in OPS.items():
        if op.differentiable:
            assert name in rules.RULES, f"differentiable op {name!r} has no gradient rule"
            assert name not in rules.NON_DIFFERENTIABLE, name
        else:
            assert name in rules.NON_DIFFERENTIABLE, f"{name!r} is not declared " \
                "non-differentiable in compiler/autodiff/rules.py"
            assert name not in rules.RULES, name
    assert set(rules.RULES) | rules.NON_DIFFERENTIABLE == set(OPS)


def test_rule_for_unknown_op_names_it():
    with pytest.raises(KeyError, match="frobnicate"):
        rules.rule_for("frobnicate")


def _run(fetches, feeds=None, graph=None, backend="interpret"):
    config = fc.ConfigProto(backend="interpret") if backend == "interpret" else None
    with fc.Session(graph=graph, config=config) as sess:
        sess.run(fc.global_variables_initializer())
        return sess.run(fetches, feeds)


def test_sum_over_ys_grad_ys_and_unrelated_x(fresh_default_graph):
    x = fc.placeholder(fc.float64, (3,))
    z = fc.placeholder(fc.float64, (3,))
    y1, y2 = x * x, 3.0 * x
    gx, gz = fc.gradients([y1, y2], [x, z])
    assert gz is None
    xv = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(_run(gx, {x: xv}), 2 * xv + 3)
    (gw,) = fc.gradients([y1, y2], [x], grad_ys=[fc.constant([1.0, 0.0, 2.0], fc.float64),
                                                 None])
    np.testing.assert_allclose(_run(gw, {x: xv}), np.array([1.0, 0.0, 2.0]) * 2 * xv + 3)
    assert gx.name.startswith("gradients")


def test_stop_gradient_and_stop_gradients(fresh_default_graph):
    x = fc.placeholder(fc.float64, ())
    a = x * x
    y = fc.stop_gradient(a) + x
    (g,) = fc.gradients(y, [x])
    assert _run(g, {x: 3.0}) == 1.0
    b = a * 2.0
    (g2,) = fc.gradients(b + x, [x], stop_gradients=[a])
    assert _run(g2, {x: 3.0}) == 1.0
    assert fc.gradients(fc.stop_gradient(a), [x]) == [None]


def test_int_and_bool_tensors_get_no_gradient(fresh_default_graph):
    x = fc.placeholder(fc.float64, (2,))
    i = fc.cast(x, fc.int32)
    y = fc.cast(i * 2, fc.float64) + fc.cast(x > 0.0, fc.float64)
    assert fc.gradients(y, [x]) == [None]
    n = fc.placeholder(fc.int32, (2,))
    assert fc.gradients(fc.cast(n, fc.float64), [n]) == [None]


def test_variables_identity_and_placeholder_with_default(fresh_default_graph):
    w = fc.Variable(np.array([1.0, 2.0]), dtype=fc.float64)
    x = fc.placeholder_with_default(np.array([3.0, 4.0]), (2,))
    y = fc.reduce_sum(fc.identity(w.read_value()) * x)
    gw, gx, gv = fc.gradients(y, [w, x, w.value()])
    out = _run([gw, gx, gv])
    np.testing.assert_allclose(out[0], [3.0, 4.0])
    np.testing.assert_allclose(out[1], [1.0, 2.0])
    np.testing.assert_allclose(out[2], [3.0, 4.0])


def test_maximum_minimum_ties_go_to_the_first_operand(fresh_default_graph):
    a = fc.placeholder(fc.float64, (3,))
    b = fc.placeholder(fc.float64, (3,))
    feeds = {a: [1.0, 2.0, 3.0], b: [2.0, 2.0, 1.0]}
    ga, gb = fc.gradients(fc.maximum(a, b), [a, b])
    ha, hb = fc.gradients(fc.minimum(a, b), [a, b])
    out = _run([ga, gb, ha, hb], feeds)
    np.testing.assert_array_equal(out[0], [0, 1, 1])
    np.testing.assert_array_equal(out[1], [1, 0, 0])
    np.testing.assert_array_equal(out[2], [1, 1, 0])
    np.testing.assert_array_equal(out[3], [0, 0, 1])


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
def test_reduce_max_min_split_ties(fresh_default_graph, backend):
    x = fc.placeholder(fc.float64, (2, 3))
    (gmax,) = fc.gradients(fc.reduce_max(x, axis=1), [x])
    (gmin,) = fc.gradients(fc.reduce_min(x), [x])
    xv = np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0]])
    out = _run([gmax, gmin], {x: xv}, backend=backend)
    np.testing.assert_allclose(out[0], [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(out[1], [[0, 0, 0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
def test_reduce_prod_with_zeros_is_exact(fresh_default_graph, backend):
    x = fc.placeholder(fc.float64, (4, 3))
    (g,) = fc.gradients(fc.reduce_prod(x, axis=1), [x])
    xv = np.array([[2.0, 3.0, 4.0], [0.0, 3.0, 4.0], [0.0, 0.0, 5.0], [1.0, -2.0, 0.0]])
    want = np.array([[np.prod(np.delete(r, j)) for j in range(3)] for r in xv])
    np.testing.assert_allclose(_run(g, {x: xv}, backend=backend), want)


def test_symbolic_batch_one_graph_two_sizes(fresh_default_graph):
    x = fc.placeholder(fc.float64, (None, 3))
    b = fc.placeholder(fc.float64, (3,))
    (gx, gb) = fc.gradients(fc.reduce_sum(fc.sin(x + b)), [x, b])
    with fc.Session() as sess:
        for n in (2, 7):
            xv, bv = np.ones((n, 3)), np.arange(3.0)
            got = sess.run([gx, gb], {x: xv, b: bv})
            np.testing.assert_allclose(got[0], np.cos(xv + bv))
            np.testing.assert_allclose(got[1], np.cos(xv + bv).sum(0))


def test_gradients_are_primitives_or_user_only_ops(fresh_default_graph):
    x = fc.placeholder(fc.float32, (2, 3))
    w = fc.Variable(np.ones((3, 4), np.float32))
    loss = fc.reduce_mean(fc.nn.softmax(fc.matmul(x, w)))
    before = len(fc.get_default_graph().get_operations())
    fc.gradients(loss, [w])
    new = fc.get_default_graph().get_operations()[before:]
    assert new and all(op.type in OPS or op.type in ("identity",) for op in new)
    assert all(op.name.startswith("gradients") for op in new)


def test_unknown_op_type_in_path_raises_naming_it(fresh_default_graph):
    x = fc.placeholder(fc.float64, (2,))
    y = make("exp", [x])
    y.op.type = "mystery"  # simulate a primitive added without a rule
    with pytest.raises(KeyError, match="mystery"):
        fc.gradients(y, [x])


def test_unknown_rank_with_scalar_operands(fresh_default_graph):
    u = fc.placeholder(fc.float64)
    s = fc.placeholder(fc.float64, ())
    gu, gs = fc.gradients(fc.exp(u) * s, [u, s])
    uv = np.ones((2, 2))
    out = _run([gu, gs], {u: uv, s: 2.0})
    np.testing.assert_allclose(out[0], 2 * np.exp(uv))
    np.testing.assert_allclose(out[1], np.exp(uv).sum())
    # an unknown-rank operand broadcast against a known one: the sum back to u's shape
    # is built when the fed rank is known (it used to raise "unknown rank")
    v = fc.placeholder(fc.float64, (2, 2))
    (gv,) = fc.gradients(u * v, [u])
    vv = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(_run(gv, {u: uv, v: vv}), vv)
    np.testing.assert_allclose(_run(gv, {u: np.ones(2), v: vv}), vv.sum(axis=0))


def test_tf1_keyword_arguments_and_unconnected_zero(fresh_default_graph):
    x = fc.placeholder(fc.float64, (2,))
    z = fc.placeholder(fc.float64, (2,))
    gx, gz = fc.gradients(x * 2.0, [x, z], colocate_gradients_with_ops=True,
                          gate_gradients=True, aggregation_method=None,
                          unconnected_gradients="zero")
    out = _run([gx, gz], {x: [1.0, 2.0]})
    np.testing.assert_array_equal(out[0], [2.0, 2.0])
    np.testing.assert_array_equal(out[1], [0.0, 0.0])
    with pytest.raises(ValueError, match="unconnected_gradients"):
        fc.gradients(x, [z], unconnected_gradients="one")
