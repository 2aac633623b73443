"""`tensor[key]` against numpy indexing, on static and symbolic dims."""

import numpy as np
import pytest

import compiler as fc
from compiler.ir import dims as D

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

DATA = np.arange(5 * 6 * 4, dtype=np.float32).reshape(5, 6, 4)

KEYS = [
    1, -1, (2, 3), (-2, -3, -1), slice(1, None), slice(None, -1), slice(None, None, 2),
    slice(None, None, -1), slice(-2, None, -2), slice(4, 0, -2), slice(1, 100),
    slice(-100, 2), slice(3, 1), (Ellipsis, 1), (Ellipsis, slice(None, None, -1)),
    (None, 1), (slice(None), None, slice(1, 3)), (1, Ellipsis, None),
    (slice(None), -1, slice(None, None, -3)), (slice(3, None, -1), 2, slice(1, 3)),
    (Ellipsis,), (slice(None, None, 3), slice(5, None, -2)), (0, 0, 0),
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_static_indexing_matches_numpy(interp, key):
    x = fc.constant(DATA)
    y = x[key]
    want = DATA[key]
    assert tuple(y.shape) == want.shape
    np.testing.assert_array_equal(interp(y), want)


SYMBOLIC_KEYS = [
    slice(1, None), slice(None, -1), slice(None, None, -1), slice(None, None, 2),
    slice(None, None, -2), slice(-3, None), slice(2, 4), (slice(None), 1),
    (slice(None), slice(1, None)), (-1,), (0, slice(None, None, -1)), (Ellipsis, 2),
    (slice(-1, None, -1), None), slice(-2, 0, -1), slice(1, -1, 3),
]


@pytest.mark.parametrize("key", SYMBOLIC_KEYS, ids=[repr(k) for k in SYMBOLIC_KEYS])
def test_symbolic_indexing_at_two_sizes(interp, key):
    x = fc.placeholder(fc.float32, [None, 4])
    y = x[key]
    for n in (5, 8):
        data = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
        np.testing.assert_array_equal(interp(y, {x: data}), data[key])


def test_symbolic_extents_are_dim_expressions():
    x = fc.placeholder(fc.float32, [None, 3])
    n = x.shape[0]
    assert x[1:].shape[0] == D.maximum(D.sub(n, 1), 0)   # clamped: empty when n = 0
    assert x[::2].shape[0] == D.floordiv(D.add(n, 1), 2)
    assert x[1:].shape.as_list() == [None, 3]
    assert x[:, 1:].shape.as_list() == [None, 2]
    assert x[2:5].shape.as_list() == [None, 3]   # up to 3 rows: clamped to the fed n
    assert x[0].shape.as_list() == [3]


def test_tensor_index_and_static_tensor_index(interp):
    x = fc.constant(DATA)
    # (fed as [1] and reshaped: the interpreter currently turns 0-d feeds into 1-d)
    fed = fc.placeholder(fc.int32, [1])
    i = fc.reshape(fed, [])
    np.testing.assert_array_equal(interp(x[i, 1:3], {fed: [3]}), DATA[3, 1:3])
    np.testing.assert_array_equal(interp(x[:, fc.constant(2)]), DATA[:, 2])


def test_indexing_a_variable_and_shape(interp):
    v = fc.Variable(DATA)
    np.testing.assert_array_equal(interp(v[1, ::-1], init=True), DATA[1, ::-1])
    x = fc.placeholder(fc.float32, [None, 6])
    n = fc.shape(x)[0]
    data = np.ones((7, 6), np.float32)
    assert interp(n, {x: data}) == 7


def test_iteration_over_static_first_dim(interp):
    rows = list(fc.constant(DATA[:, 0, 0]))
    assert len(rows) == 5
    np.testing.assert_array_equal(interp(rows), DATA[:, 0, 0])


def test_reverse(interp):
    x = fc.constant(DATA)
    np.testing.assert_array_equal(interp(fc.reverse(x, [0, 2])), DATA[::-1, :, ::-1])


def test_indexing_errors():
    x = fc.constant(DATA)
    with pytest.raises(IndexError, match="out of range"):
        x[5]
    with pytest.raises(ValueError, match="strided_slice"):
        x[0, -7]
    with pytest.raises(IndexError, match="too many"):
        x[0, 0, 0, 0]
    with pytest.raises(IndexError, match="ellipsis"):
        x[..., 0, ...]
    with pytest.raises(ValueError, match="zero"):
        x[::0]
    with pytest.raises(TypeError, match="unsupported index"):
        x[[0, 1]]
    with pytest.raises(TypeError, match="scalar int"):
        x[fc.constant([0, 1])]
    # unknown rank: built once the fed rank is known (frontend/deferred.py)
    u = fc.placeholder(fc.float32)
    with fc.Session() as sess:
        np.testing.assert_array_equal(sess.run(u[0], {u: np.arange(6.0).reshape(2, 3)}),
                                      [0.0, 1.0, 2.0])
        assert sess.run(u[0], {u: [7.0, 8.0]}) == 7.0
