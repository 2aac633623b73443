"""`fc.einsum` (compiler/frontend/special_math_ops.py): numpy's results for the usual
equations, exact integers, a symbolic batch, gradients, and errors naming the equation."""

import numpy as np
import pytest

import compiler as fc

CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(2, 3)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 6)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("abc,cd->bd", [(2, 3, 4), (4, 5)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
]


@pytest.mark.parametrize("eq, shapes", CASES)
def test_matches_numpy(eq, shapes):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    with fc.Graph().as_default(), fc.Session() as sess:
        y = sess.run(fc.einsum(eq, *[fc.constant(x) for x in xs]))
    np.testing.assert_allclose(y, np.einsum(eq, *xs), rtol=1e-5, atol=1e-5)


def test_integers_are_exact():
    a = np.array([[2**40, 3], [5, 7]], dtype=np.int64)
    b = np.array([[1, 2], [3, 4]], dtype=np.int64)
    with fc.Graph().as_default(), fc.Session() as sess:
        y = sess.run(fc.einsum("ij,jk->ik", a, b))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, a @ b)


def test_symbolic_batch_and_gradient():
    rng = np.random.default_rng(1)
    with fc.Graph().as_default(), fc.Session() as sess:
        a = fc.placeholder(fc.float32, [None, 3, 4])
        w = fc.placeholder(fc.float32, [4, 5])
        y = fc.einsum("bij,jk->bik", a, w, name="proj")
        assert y.name == "proj:0"
        ga, gw = fc.gradients(fc.reduce_sum(y * y), [a, w])
        for n in (1, 4):
            av = rng.standard_normal((n, 3, 4)).astype(np.float32)
            wv = rng.standard_normal((4, 5)).astype(np.float32)
            yv, gav, gwv = sess.run([y, ga, gw], {a: av, w: wv})
            ref = av @ wv
            np.testing.assert_allclose(yv, ref, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(gav, 2 * ref @ wv.T, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(gwv, np.einsum("bij,bik->jk", av, 2 * ref),
                                       rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("eq, shapes, match", [
    ("ij,jk->ik", [(2, 3)], "names 2 operands"),
    ("ijk->i", [(2, 3)], "does not fit an operand of rank 2"),
    ("ij->iz", [(2, 3)], "names one no operand has"),
    ("i1->i", [(2, 3)], "must be letters"),
])
def test_errors_name_the_equation(eq, shapes, match):
    with fc.Graph().as_default():
        xs = [fc.constant(np.zeros(s, np.float32)) for s in shapes]
        with pytest.raises(ValueError, match=match) as e:
            fc.einsum(eq, *xs)
        assert repr(eq) in str(e.value)
