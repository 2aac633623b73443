"""tf.cumsum, tf.cumprod, tf.nn.top_k, tf.matrix_determinant (frontend/scan_ops.py): the
TF1 idioms on the interpreter and compiled, against numpy, and their gradients."""

import numpy as np
import pytest
from autodiff_check import check_grads

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 5, 4)).astype(np.float32)


def _np_scan(f, ident, a, axis, exclusive, reverse):
    if reverse:
        a = np.flip(a, axis)
    c = f(a, axis=axis)
    if exclusive:
        first = np.full_like(np.take(c, [0], axis), ident)
        c = np.concatenate([first, np.delete(c, -1, axis)], axis)
    return np.flip(c, axis) if reverse else c


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_cumprod(interp, axis, exclusive, reverse):
    x = fc.constant(X)
    s, p = interp([fc.cumsum(x, axis, exclusive=exclusive, reverse=reverse),
                   fc.cumprod(x, axis=axis, exclusive=exclusive, reverse=reverse)])
    np.testing.assert_allclose(s, _np_scan(np.cumsum, 0, X, axis, exclusive, reverse),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p, _np_scan(np.cumprod, 1, X, axis, exclusive, reverse),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_long_axes_scan_in_blocks(exclusive, reverse):
    # over 256 entries: blocks of ~sqrt(n), padded when n is not a multiple (300 = 18 * 17
    # - 6; 1000 ints; a product of 290 entries near 1)
    x = RNG.normal(size=(2, 300, 3))
    ints = RNG.integers(-5, 5, size=1000).astype(np.int64)
    near_one = 1 + RNG.normal(size=290) * 0.01
    out = [fc.cumsum(x, 1, exclusive, reverse), fc.cumsum(ints, 0, exclusive, reverse),
           fc.cumprod(near_one, 0, exclusive, reverse)]
    with fc.Session() as sess:
        got = sess.run(out)
    np.testing.assert_allclose(got[0], _np_scan(np.cumsum, 0, x, 1, exclusive, reverse),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(got[1], _np_scan(np.cumsum, 0, ints, 0, exclusive, reverse))
    np.testing.assert_allclose(got[2], _np_scan(np.cumprod, 1, near_one, 0, exclusive,
                                                reverse), rtol=1e-10)


def test_cumsum_ints_symbolic_extent_and_compiled():
    # TF1 idiom: running totals of a batch of any length
    x = fc.placeholder(fc.int64, [None])
    total = fc.cumsum(x)
    prod = fc.cumprod(fc.reshape(x, [1, -1]), axis=fc.constant(1), exclusive=True)
    with fc.Session() as sess:
        for n in (1, 6):
            data = RNG.integers(-3, 4, size=n).astype(np.int64)
            t, p = sess.run([total, prod], {x: data})
            np.testing.assert_array_equal(t, np.cumsum(data))
            np.testing.assert_array_equal(p[0], _np_scan(np.cumprod, 1, data, 0, True, False))
            assert t.dtype == np.int64


def test_top_k(interp):
    # TF1 idiom: the 3 best classes of each row
    scores = np.array([[0.1, 0.7, 0.7, 0.2, 0.9], [5, 4, 3, 2, 1]], np.float32)
    values, indices = fc.nn.top_k(fc.constant(scores), k=3)
    got_v, got_i = interp([values, indices])
    np.testing.assert_array_equal(got_i, [[4, 1, 2], [0, 1, 2]])   # ties: lower index first
    np.testing.assert_array_equal(got_v, scores[[[0], [1]], [[4, 1, 2], [0, 1, 2]]])
    assert got_i.dtype == np.int32
    r = fc.nn.top_k(fc.constant(X), 4)
    want = np.argsort(-X, axis=-1, kind="stable")
    with fc.Session() as sess:   # compiled
        v, i = sess.run([r.values, r.indices])
    np.testing.assert_array_equal(i, want)
    np.testing.assert_array_equal(v, np.take_along_axis(X, want, -1))
    with pytest.raises(ValueError, match="k=6"):
        fc.nn.top_k(fc.constant(X), 6)


def _sorted_order(a, k, largest):
    """The first k indices of each row by value (largest or smallest first), ties by index."""
    key = -a.astype(np.float64) if largest else a.astype(np.float64)
    return np.argsort(key, axis=-1, kind="stable")[..., :k]


def test_top_k_long_axis_in_rounds():
    # An axis over 64 entries with a small k takes the k-rounds path: ties, -inf and a
    # symbolic extent; ONNX's k smallest (largest=False) too.
    from compiler.frontend.scan_ops import top_k_along
    a = np.round(RNG.normal(size=(3, 200)) * 3).astype(np.float32)
    a[0, :60] = -np.inf
    p = fc.placeholder(fc.float32, [3, None])
    picks = [(fc.nn.top_k(a, 10), 10, True), (top_k_along(a, 7, largest=False), 7, False),
             (fc.nn.top_k(p, 5), 5, True), (fc.nn.top_k(a[0:1, 100:], 70), 70, True)]
    with fc.Session() as sess:
        got = sess.run([list(r) for r, _, _ in picks], {p: a})
    for (v, i), (_, k, largest), src in zip(got, picks, [a, a, a, a[0:1, 100:]], strict=True):
        want = _sorted_order(src, k, largest)
        np.testing.assert_array_equal(i, want)
        np.testing.assert_array_equal(v, np.take_along_axis(src, want, -1))


def test_matrix_determinant(interp):
    m = RNG.normal(size=(2, 3, 4, 4))
    singular = np.array([[1.0, 2, 3], [2, 4, 6], [0, 1, 1]])
    pivoting = np.array([[0.0, 1], [1, 0]])   # needs a row swap: -1
    got = interp([fc.matrix_determinant(m), fc.matrix_determinant(singular),
                  fc.matrix_determinant(pivoting)])
    np.testing.assert_allclose(got[0], np.linalg.det(m), rtol=1e-10)
    assert abs(got[1]) < 1e-12 and got[2] == -1.0
    with fc.Session() as sess:
        np.testing.assert_allclose(sess.run(fc.matrix_determinant(m.astype(np.float32))),
                                   np.linalg.det(m), rtol=1e-4)
    with pytest.raises(ValueError, match="square"):
        fc.matrix_determinant(np.zeros((2, 3)))


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
def test_gradients(backend):
    check_grads(lambda x: fc.cumsum(x, 1, exclusive=True), [((3, 4), -1, 1)], backend)
    check_grads(lambda x: fc.cumprod(x, 0, reverse=True), [((4, 2), 0.5, 1.5)], backend)
    check_grads(lambda x: fc.cumsum(x, 0, exclusive=True, reverse=True), [((270,), -1, 1)],
                backend)   # blocked
    check_grads(lambda x: fc.nn.top_k(x, 2).values, [((3, 5), -1, 1)], backend)
    check_grads(lambda x: fc.nn.top_k(x, 3).values, [((2, 80), -1, 1)], backend)   # rounds
    check_grads(fc.matrix_determinant, [((2, 3, 3), -1, 1)], backend)
