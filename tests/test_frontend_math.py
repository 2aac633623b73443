"""Elementwise math of the frontend against numpy, on the interpreter backend."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(0)
A = RNG.normal(size=(3, 4)).astype(np.float32)
B = RNG.normal(size=(4,)).astype(np.float32) + 3.0
IA = np.array([[7, -7, 5, 0], [-9, 9, 2, -1], [3, 4, -5, 6]], np.int32)
IB = np.array([2, -3, 4, 5], np.int32)


@pytest.mark.parametrize("fn, ref", [
    (fc.add, np.add), (fc.subtract, np.subtract), (fc.multiply, np.multiply),
    (fc.maximum, np.maximum), (fc.minimum, np.minimum), (fc.divide, np.divide),
    (fc.truediv, np.divide), (fc.squared_difference, lambda a, b: (a - b) ** 2),
])
def test_float_binary_broadcasts(interp, fn, ref):
    a, b = fc.constant(A), fc.placeholder(fc.float32, [4])
    out = interp(fn(a, b), {b: B})
    assert out.dtype == np.float32 and out.shape == (3, 4)
    np.testing.assert_allclose(out, ref(A, B), rtol=1e-6)


def test_int_truediv_gives_float64(interp):
    out = interp(fc.truediv(fc.constant(IA), fc.constant(IB)))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, IA.astype(np.float64) / IB)


def test_floordiv_and_mod_floor_semantics(interp):
    a, b = fc.constant(IA), fc.constant(IB)
    q, r = interp([fc.floordiv(a, b), fc.mod(a, b)])
    np.testing.assert_array_equal(q, np.floor_divide(IA, IB))
    np.testing.assert_array_equal(r, np.remainder(IA, IB))
    assert q.dtype == np.int32
    fa, fb = A * 10, B
    q, r = interp([fc.floordiv(fc.constant(fa), fc.constant(fb)),
                   fc.floormod(fc.constant(fa), fc.constant(fb))])
    np.testing.assert_allclose(q, np.floor(fa / fb))
    np.testing.assert_allclose(r, np.remainder(fa, fb), rtol=1e-5, atol=1e-5)


def test_int_division_by_zero_gives_zero(interp):
    a = fc.constant([5, -5], fc.int32)
    q, r = interp([fc.floordiv(a, 0), fc.mod(a, 0)])
    np.testing.assert_array_equal(q, [0, 0])
    np.testing.assert_array_equal(r, [0, 0])


def test_div_is_python2_division(interp):
    ints = interp(fc.div(fc.constant(IA), fc.constant(IB)))
    np.testing.assert_array_equal(ints, IA // IB)
    floats = interp(fc.div(fc.constant(A), fc.constant(B)))
    np.testing.assert_allclose(floats, A / B, rtol=1e-6)


def test_pow_float_and_int(interp):
    x = fc.constant(np.abs(A) + 0.5)
    np.testing.assert_allclose(interp(fc.pow(x, 1.5)), (np.abs(A) + 0.5) ** 1.5, rtol=1e-5)
    base = np.array([[-3, 2, 0], [5, -1, 7]], np.int32)
    for n in (0, 1, 2, 3, 5):
        out = interp(fc.pow(fc.constant(base), n))
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, base ** n)
    exps = np.array([[3, 0, 2], [1, 4, 2]], np.int32)
    np.testing.assert_array_equal(interp(fc.pow(fc.constant(base), fc.constant(exps))),
                                  base ** exps)
    with pytest.raises(ValueError, match="negative"):
        fc.pow(fc.constant(base), -1)


@pytest.mark.parametrize("fn, ref, positive", [
    (fc.exp, np.exp, False), (fc.expm1, np.expm1, False), (fc.log, np.log, True),
    (fc.log1p, np.log1p, True), (fc.sqrt, np.sqrt, True),
    (fc.rsqrt, lambda x: 1 / np.sqrt(x), True), (fc.tanh, np.tanh, False),
    (fc.sigmoid, lambda x: 1 / (1 + np.exp(-x)), False), (fc.sin, np.sin, False),
    (fc.cos, np.cos, False), (fc.abs, np.abs, False), (fc.negative, np.negative, False),
    (fc.sign, np.sign, False), (fc.floor, np.floor, False), (fc.ceil, np.ceil, False),
    (fc.square, np.square, False), (fc.reciprocal, lambda x: 1 / x, True),
    (fc.stop_gradient, lambda x: x, False), (fc.identity, lambda x: x, False),
])
def test_float_unary(interp, fn, ref, positive):
    data = (np.abs(A) + 0.25) if positive else A * 3
    x = fc.placeholder(fc.float32, [None, 4])
    np.testing.assert_allclose(interp(fn(x), {x: data}), ref(data), rtol=2e-6, atol=1e-6)


def test_int_unary(interp):
    x = fc.constant(IA)
    outs = interp([fc.abs(x), fc.negative(x), fc.sign(x), fc.square(x), fc.reciprocal(x)])
    refs = [np.abs(IA), -IA, np.sign(IA), IA * IA, np.where(np.abs(IA) == 1, IA, 0)]
    for o, r in zip(outs, refs, strict=True):
        assert o.dtype == np.int32
        np.testing.assert_array_equal(o, r)


@pytest.mark.parametrize("fn, ref", [
    (fc.equal, np.equal), (fc.not_equal, np.not_equal), (fc.less, np.less),
    (fc.less_equal, np.less_equal), (fc.greater, np.greater),
    (fc.greater_equal, np.greater_equal),
])
def test_comparisons(interp, fn, ref):
    b = IB.copy()
    b[0] = IA[0, 0]
    out = interp(fn(fc.constant(IA), fc.constant(b)))
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, ref(IA, b))


def test_logical(interp):
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    tp, tq = fc.constant(p), fc.constant(q)
    outs = interp([fc.logical_and(tp, tq), fc.logical_or(tp, tq), fc.logical_not(tp),
                   fc.logical_xor(tp, tq)])
    for o, r in zip(outs, [p & q, p | q, ~p, p ^ q], strict=True):
        np.testing.assert_array_equal(o, r)


def test_cast_rules(interp):
    x = fc.constant([1.7, -1.7, np.nan, 1e20, -0.0], fc.float32)
    ints, back, flags = interp([fc.cast(x, fc.int32), fc.to_float(fc.cast(x, fc.int64)),
                                fc.cast(x, fc.bool)])
    np.testing.assert_array_equal(ints, [1, -1, 0, np.iinfo(np.int32).max, 0])
    assert back.dtype == np.float32
    np.testing.assert_array_equal(flags, [True, True, True, True, False])
    same = fc.constant(A)
    assert fc.cast(same, fc.float32) is same
    assert interp(fc.to_double(same)).dtype == np.float64
    assert interp(fc.to_int32(same)).dtype == np.int32
    assert interp(fc.to_int64(same)).dtype == np.int64


def test_add_n_clip_and_matmul(interp):
    xs = [fc.constant(A * k) for k in (1, 2, 3)]
    np.testing.assert_allclose(interp(fc.add_n(xs, name="total")), A * 6, rtol=1e-6)
    np.testing.assert_allclose(interp(fc.add_n(xs[:1])), A)
    np.testing.assert_allclose(interp(fc.clip_by_value(fc.constant(A), -0.5, 0.5)),
                               np.clip(A, -0.5, 0.5))
    m = RNG.normal(size=(4, 2)).astype(np.float32)
    np.testing.assert_allclose(interp(fc.matmul(fc.constant(A), fc.constant(m))), A @ m,
                               rtol=1e-5)
    np.testing.assert_allclose(
        interp(fc.matmul(fc.constant(m), fc.constant(A), transpose_a=True,
                         transpose_b=True)), m.T @ A.T, rtol=1e-5)
    with pytest.raises(ValueError, match="add_n"):
        fc.add_n([])


def test_composite_results_carry_the_given_name():
    x = fc.constant(A)
    assert fc.squared_difference(x, x, name="sd").name == "sd:0"
    assert fc.add_n([x, x, x], name="total").name == "total:0"
    assert fc.floordiv(x, 2.0, name="fd").name == "fd:0"
    assert fc.add(x, x, name="plain").name == "plain:0"
    with fc.name_scope("outer"):
        assert fc.clip_by_value(x, 0.0, 1.0, name="clip").name == "outer/clip:0"


def test_scalar_operands_take_the_tensor_dtype(interp):
    x = fc.constant(IA)
    out = interp(fc.add(x, 2))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, IA + 2)
    y = fc.constant(A.astype(np.float64))
    assert interp(fc.multiply(2, y)).dtype == np.float64


def test_dtype_errors_name_the_op():
    with pytest.raises(TypeError, match="Add"):
        fc.add(fc.constant(A), fc.constant(IA))
    with pytest.raises(TypeError, match="float value"):
        fc.add(fc.constant(IA), 1.5)
    with pytest.raises(TypeError, match="Sqrt"):
        fc.sqrt(fc.constant(IA))
    with pytest.raises(ValueError, match="Add"):
        fc.add(fc.constant(A), fc.constant(np.ones((3,), np.float32)))
    with pytest.raises(ValueError, match="MatMul"):
        fc.matmul(fc.constant(A), fc.constant(A))


def test_every_math_function_is_exported_once_from_math_ops():
    from compiler.frontend import math_ops
    public = {n for n, v in vars(math_ops).items() if not n.startswith("_") and callable(v)
              and getattr(v, "__module__", None) == math_ops.__name__}
    assert set(math_ops.__all__) == public, sorted(set(math_ops.__all__) ^ public)
    assert len(fc.__all__) == len(set(fc.__all__))
    for name in math_ops.__all__:
        assert name in fc.__all__ and getattr(fc, name) is getattr(math_ops, name), name
