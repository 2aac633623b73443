"""Reductions of the frontend against numpy, including symbolic extents."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(2)
A = RNG.normal(size=(3, 4, 5)).astype(np.float32)

AXES = [None, 0, -1, [0, 2], (1,), [-1, 0]]


@pytest.mark.parametrize("axis", AXES, ids=repr)
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("fn, ref", [
    (fc.reduce_sum, np.sum), (fc.reduce_mean, np.mean), (fc.reduce_max, np.max),
    (fc.reduce_min, np.min), (fc.reduce_prod, np.prod),
])
def test_reductions(interp, fn, ref, axis, keep):
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    out = interp(fn(fc.constant(A), axis=axis, keepdims=keep))
    want = ref(A, axis=np_axis, keepdims=keep)
    assert out.shape == want.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_old_spellings(interp):
    x = fc.constant(A)
    a, b = interp([fc.reduce_sum(x, reduction_indices=[1], keep_dims=True),
                   fc.reduce_mean(x, 2, keep_dims=True)])
    np.testing.assert_allclose(a, A.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(b, A.mean(2, keepdims=True), rtol=1e-5)


def test_reduce_mean_on_symbolic_extent(interp):
    x = fc.placeholder(fc.float32, [None, 5])
    means = [fc.reduce_mean(x), fc.reduce_mean(x, 0), fc.reduce_mean(x, [0, 1]),
             fc.reduce_mean(x, 1)]
    u = fc.placeholder(fc.float32)
    mean_u = fc.reduce_mean(u)
    for n in (2, 7):
        data = RNG.normal(size=(n, 5)).astype(np.float32)
        got = interp(means + [mean_u], {x: data, u: data})
        refs = [data.mean(), data.mean(0), data.mean(), data.mean(1), data.mean()]
        for g, r in zip(got, refs, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_int_reductions_truncate_like_tf(interp):
    data = np.array([[-1, -2], [3, 4], [-7, 2]], np.int32)
    x = fc.constant(data)
    m0, m1, s = interp([fc.reduce_mean(x, 0), fc.reduce_mean(x, 1), fc.reduce_sum(x)])
    np.testing.assert_array_equal(m0, np.trunc(data.sum(0) / 3).astype(np.int32))
    np.testing.assert_array_equal(m1, [-1, 3, -2])
    assert s == data.sum() and s.dtype == np.int32


def test_any_all_logsumexp(interp):
    b = A > 0
    x = fc.constant(b)
    anys, alls, all0 = interp([fc.reduce_any(x, 1), fc.reduce_all(x, [0, 2]),
                               fc.reduce_all(x[:, :0], 1)])
    np.testing.assert_array_equal(anys, b.any(1))
    np.testing.assert_array_equal(alls, b.all((0, 2)))
    np.testing.assert_array_equal(all0, np.ones((3, 5), bool))
    any0 = interp(fc.reduce_any(x[:, :0], 1))   # an empty or is False, not the cast of
    np.testing.assert_array_equal(any0, np.zeros((3, 5), bool))   # int's lowest value
    big = A * 100
    lse, lse_keep = interp([fc.reduce_logsumexp(fc.constant(big), 1),
                            fc.reduce_logsumexp(fc.constant(big), keepdims=True)])
    m = big.max(1, keepdims=True)
    np.testing.assert_allclose(lse, (m + np.log(np.exp(big - m).sum(1, keepdims=True)))[:, 0],
                               rtol=1e-5)
    assert lse_keep.shape == (1, 1, 1)
    ninf = interp(fc.reduce_logsumexp(fc.constant([-np.inf, -np.inf], fc.float32)))
    assert ninf == -np.inf
    with pytest.raises(TypeError, match="bool"):
        fc.reduce_any(fc.constant(A))


def test_argmax_argmin(interp):
    x = fc.constant(A)
    a, b, c = interp([fc.argmax(x, 1), fc.argmin(x, -1, output_type=fc.int32),
                      fc.argmax(x, dimension=2)])
    np.testing.assert_array_equal(a, A.argmax(1))
    assert a.dtype == np.int64 and b.dtype == np.int32
    np.testing.assert_array_equal(b, A.argmin(-1))
    np.testing.assert_array_equal(c, A.argmax(2))
    np.testing.assert_array_equal(interp(fc.argmax(x)), A.argmax(0))


def test_bad_axes_name_the_op():
    x = fc.constant(A)
    with pytest.raises(ValueError, match="Sum"):
        fc.reduce_sum(x, 3)
    with pytest.raises(ValueError, match="repeated"):
        fc.reduce_max(x, [0, -3])
    with pytest.raises(ValueError, match="ArgMax"):
        fc.argmax(x, 4)
    with pytest.raises(TypeError, match="bool"):
        fc.reduce_sum(fc.constant([True]))
