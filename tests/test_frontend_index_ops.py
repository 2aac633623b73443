"""TF1's gather_nd, scatter_nd, tensor_scatter_nd_*, reverse_sequence, matrix_band_part,
depth_to_space / space_to_depth and eye (compiler/frontend/index_ops.py), written as TF1
programs write them, on the interpreter and compiled, against numpy."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

rng = np.random.default_rng(3)
P = rng.standard_normal((4, 3, 5)).astype(np.float32)


def both(interp, fetches, feeds=None):
    """The interpreter's values and the compiled Session's, checked equal."""
    a = interp(fetches, feeds)
    with fc.Session() as sess:
        b = sess.run(fetches, feeds)
    for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    return b


def test_gather_nd_tuples_slices_and_batch_dims(interp):
    params = fc.constant(P)
    idx = np.array([[0, 2], [3, 1], [0, 2]], np.int32)
    elems = fc.gather_nd(params, idx[:, :1].copy())          # whole [3, 5] slices
    pairs = fc.gather_nd(params, idx)                          # [3, 5] rows
    full = fc.gather_nd(params, np.array([[1, 2, 4], [3, 0, 0]], np.int64))
    bidx = np.array([[[1], [0]], [[2], [2]], [[0], [1]], [[1], [1]]], np.int32)
    batched = fc.gather_nd(params, bidx, batch_dims=1)         # [4, 2, 5]
    got = both(interp, [elems, pairs, full, batched])
    np.testing.assert_array_equal(got[0], P[idx[:, 0]])
    np.testing.assert_array_equal(got[1], P[idx[:, 0], idx[:, 1]])
    np.testing.assert_array_equal(got[2], P[[1, 3], [2, 0], [4, 0]])
    want = np.stack([P[b][bidx[b, :, 0]] for b in range(4)])
    np.testing.assert_array_equal(got[3], want)
    assert batched.shape.as_list() == [4, 2, 5]


def test_gather_nd_symbolic_batch_and_gradient(interp):
    x = fc.placeholder(fc.float32, [None, 3])
    rows = fc.gather_nd(x, np.array([[1, 2], [0, 0], [1, 2]], np.int32))
    (g,) = fc.gradients(fc.reduce_sum(rows), [x])
    for n in (2, 5):
        xv = rng.standard_normal((n, 3)).astype(np.float32)
        got, grad = both(interp, [rows, g], {x: xv})
        np.testing.assert_array_equal(got, xv[[1, 0, 1], [2, 0, 2]])
        want = np.zeros_like(xv)
        np.add.at(want, ([1, 0, 1], [2, 0, 2]), 1.0)
        np.testing.assert_array_equal(grad, want)


def test_scatter_nd_and_tensor_scatter(interp):
    idx = np.array([[4], [3], [1], [7], [1]], np.int32)
    upd = np.array([9.0, 10.0, 11.0, 12.0, 1.0], np.float32)
    sc = fc.scatter_nd(idx, upd, [8])
    want = np.zeros(8, np.float32)
    np.add.at(want, idx[:, 0], upd)
    t = fc.constant(P)
    rows_idx = np.array([[0, 1], [3, 2]], np.int64)
    rows_upd = rng.standard_normal((2, 5)).astype(np.float32)
    upd_t = fc.tensor_scatter_nd_update(t, rows_idx, rows_upd)
    add_t = fc.tensor_scatter_add(t, rows_idx, rows_upd)
    sub_t = fc.tensor_scatter_nd_sub(t, rows_idx, rows_upd)
    got = both(interp, [sc, upd_t, add_t, sub_t])
    np.testing.assert_array_equal(got[0], want)
    w = P.copy()
    w[[0, 3], [1, 2]] = rows_upd
    np.testing.assert_array_equal(got[1], w)
    w = P.copy()
    w[[0, 3], [1, 2]] += rows_upd
    np.testing.assert_allclose(got[2], w)
    w = P.copy()
    w[[0, 3], [1, 2]] -= rows_upd
    np.testing.assert_allclose(got[3], w)


def test_tensor_scatter_update_gradients(interp):
    t = fc.placeholder(fc.float32, [4, 2])
    u = fc.placeholder(fc.float32, [2, 2])
    out = fc.tensor_scatter_nd_update(t, np.array([[2], [0]], np.int32), u)
    gt, gu = fc.gradients(fc.reduce_sum(out * np.arange(8, dtype=np.float32).reshape(4, 2)),
                          [t, u])
    tv, uv = np.ones((4, 2), np.float32), np.ones((2, 2), np.float32)
    got_t, got_u = both(interp, [gt, gu], {t: tv, u: uv})
    weights = np.arange(8, dtype=np.float32).reshape(4, 2)
    np.testing.assert_array_equal(got_t, weights * np.array([[0], [1], [0], [1]]))
    np.testing.assert_array_equal(got_u, weights[[2, 0]])


def test_reverse_sequence_both_layouts(interp):
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    lens = np.array([5, 2, 0], np.int64)
    batch_major = fc.reverse_sequence(x, lens, seq_axis=1, batch_axis=0)
    time_major = fc.reverse_sequence(np.swapaxes(x, 0, 1), lens, seq_dim=0, batch_dim=1)
    got = both(interp, [batch_major, time_major])
    want = x.copy()
    for b, n in enumerate(lens):
        want[b, :n] = x[b, :n][::-1]
    np.testing.assert_array_equal(got[0], want)
    np.testing.assert_array_equal(got[1], np.swapaxes(want, 0, 1))


@pytest.mark.parametrize("lower,upper", [(0, -1), (-1, 0), (1, 2), (0, 0), (-1, -1)])
def test_matrix_band_part(interp, lower, upper):
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    got = both(interp, fc.matrix_band_part(x, lower, upper))
    i, j = np.arange(4)[:, None], np.arange(5)[None, :]
    keep = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
    np.testing.assert_array_equal(got, np.where(keep, x, 0))


@pytest.mark.parametrize("fmt", ["NHWC", "NCHW"])
def test_depth_to_space_and_back(interp, fmt):
    b, n, h, w, c = 2, 1, 2, 3, 8
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    xin = x if fmt == "NHWC" else x.transpose(0, 3, 1, 2)
    d2s = fc.depth_to_space(xin, b, data_format=fmt)
    back = fc.nn.space_to_depth(d2s, b, data_format=fmt)
    got, round_trip = both(interp, [d2s, back])
    # TF1: out[n, h*b + i, w*b + j, c] = in[n, h, w, (i*b + j) * C' + c]
    want = x.reshape(n, h, w, b, b, c // 4).transpose(0, 1, 3, 2, 4, 5).reshape(
        n, h * b, w * b, c // 4)
    np.testing.assert_array_equal(got if fmt == "NHWC" else got.transpose(0, 2, 3, 1), want)
    np.testing.assert_array_equal(round_trip, xin)


def test_eye(interp):
    got = both(interp, [fc.eye(3), fc.eye(2, 4, batch_shape=[2], dtype=fc.int32)])
    np.testing.assert_array_equal(got[0], np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(got[1], np.broadcast_to(np.eye(2, 4, dtype=np.int32),
                                                          (2, 2, 4)))


def test_bad_arguments_raise_naming_the_op():
    with pytest.raises(ValueError, match="GatherNd: index tuples of length 4"):
        fc.gather_nd(fc.constant(P), np.zeros((2, 4), np.int32))
    with pytest.raises(TypeError, match="indices must be int32 or int64"):
        fc.scatter_nd(np.zeros((1, 1), np.float32), [1.0], [3])
    with pytest.raises(ValueError, match="DepthToSpace: channels 5"):
        fc.depth_to_space(np.zeros((1, 2, 2, 5), np.float32), 2)
    with pytest.raises(ValueError, match="ReverseSequence: seq_axis 0 and batch_axis 0"):
        fc.reverse_sequence(np.zeros((2, 3), np.float32), [1, 2], seq_axis=0)
    with pytest.raises(TypeError, match="num_lower must be known"):
        fc.matrix_band_part(P, fc.placeholder(fc.int64, []), 0)


def test_static_dims_follow_torchs_expand_idiom(interp):
    # torch exports x.expand(n, 3) as Expand(x, Where(Equal(shape, -1 * ones), ones, shape)):
    # a symbolic dim is never -1, so the shape stays a build-time value (frontend/static.py)
    x = fc.placeholder(fc.float32, [None, 1])
    s = fc.concat([fc.shape(x, out_type=fc.int64)[:1], fc.constant([3], fc.int64)], 0)
    ones = fc.ones_like(s)
    shape = fc.where(fc.equal(s, ones * -1), ones, s)
    y = fc.broadcast_to(x, shape)
    assert y.shape.as_list() == [None, 3]
    for n in (2, 4):
        xv = rng.standard_normal((n, 1)).astype(np.float32)
        np.testing.assert_array_equal(both(interp, y, {x: xv}), np.broadcast_to(xv, (n, 3)))


def test_out_of_range_index_tuples_raise_when_run():
    y = fc.gather_nd(fc.constant(P), np.array([[0, 3, 0]], np.int32))   # axis 1 has 3
    with pytest.raises(fc.errors.OpError, match="out of range"):
        with fc.Session() as sess:
            sess.run(y)


def test_static_dims_through_int_division(interp):
    # x.view(n, heads, d // heads) with a symbolic n: the division keeps the shape static
    x = fc.placeholder(fc.float32, [None, 6])
    s = fc.shape(x)
    heads = fc.constant([2])
    shape = fc.concat([s[:1], heads, s[1:] // heads], 0)
    y = fc.reshape(x, shape)
    assert y.shape.as_list() == [None, 2, 3]
    xv = rng.standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_array_equal(both(interp, y, {x: xv}), xv.reshape(3, 2, 3))
