"""Python operators on tensors and variables, against the same numpy expressions."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

A = np.array([[1.5, -2.0, 3.0], [-4.5, 5.0, 0.5]], np.float32)
B = np.array([2.0, -1.5, 4.0], np.float32)
IA = np.array([[7, -7, 5], [-9, 9, 2]], np.int32)
IB = np.array([2, -3, 4], np.int32)


def _pairs():
    return [
        (lambda a, b: a + b), (lambda a, b: a - b), (lambda a, b: a * b),
        (lambda a, b: a / b), (lambda a, b: a // b), (lambda a, b: a % b),
        (lambda a, b: 2.0 * a - b / 3.0), (lambda a, b: 1.0 + a), (lambda a, b: 10.0 / b),
        (lambda a, b: 7.0 // b), (lambda a, b: 5.0 % b), (lambda a, b: -a),
        (lambda a, b: abs(a)), (lambda a, b: abs(a) ** 2.0), (lambda a, b: 2.0 ** b),
        (lambda a, b: (a < b) & (a <= 0.5)), (lambda a, b: (a > b) | (a >= 3.0)),
        (lambda a, b: ~(a > b)), (lambda a, b: (a > 0.0) ^ (b > 0.0)), (lambda a, b: 1.0 - a),
    ]


@pytest.mark.parametrize("k", range(len(_pairs())))
def test_float_operators_on_tensors(interp, k):
    expr = _pairs()[k]
    a, b = fc.placeholder(fc.float32, [None, 3]), fc.constant(B)
    got = interp(expr(a, b), {a: A})
    want = expr(A, B)
    assert got.dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_integer_operators(interp):
    a, b = fc.constant(IA), fc.constant(IB)
    div, fdiv, mod, power, neg = interp([a / b, a // b, a % b, a ** 2, -a])
    assert div.dtype == np.float64
    np.testing.assert_allclose(div, IA / IB)
    np.testing.assert_array_equal(fdiv, IA // IB)
    np.testing.assert_array_equal(mod, IA % IB)
    np.testing.assert_array_equal(power, IA ** 2)
    np.testing.assert_array_equal(neg, -IA)


def test_matmul_operator_and_numpy_on_the_left(interp):
    m = np.arange(6, dtype=np.float32).reshape(3, 2)
    a = fc.constant(A)
    got, rgot, npleft = interp([a @ fc.constant(m), m.T @ fc.transpose(a), B * a])
    np.testing.assert_allclose(got, A @ m)
    np.testing.assert_allclose(rgot, m.T @ A.T)
    np.testing.assert_allclose(npleft, B * A)


def test_operators_on_variables(interp):
    v = fc.Variable(A)
    w = fc.Variable(IA)
    exprs = [v + 1.0, 2.0 * v, v - v, v / 2.0, -v, abs(v), v ** 2.0, v @ fc.transpose(v),
             v[0], v[:, ::-1], w // 2, w % 3, v > 0.0, 1.0 - v]
    got = interp(exprs, init=True)
    refs = [A + 1, 2 * A, A - A, A / 2, -A, abs(A), A ** 2, A @ A.T, A[0], A[:, ::-1],
            IA // 2, IA % 3, A > 0, 1 - A]
    for g, r in zip(got, refs, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-6)


def test_equality_stays_identity():
    a = fc.constant(A)
    b = fc.constant(A)
    assert a == a and a != b
    assert len({a, b, a}) == 2
    with pytest.raises(TypeError, match="bool"):
        bool(a > 0.0)


def test_operator_type_errors():
    with pytest.raises(TypeError, match="logical_and"):
        fc.constant(IA) & fc.constant(IA)
    with pytest.raises(TypeError, match="float value"):
        fc.constant(IA) * 0.5
