"""Sources, shape queries and shape manipulation of the frontend against numpy."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(1)
A = RNG.normal(size=(2, 3, 4)).astype(np.float32)


def test_zeros_ones_fill(interp):
    outs = interp([fc.zeros([2, 3]), fc.ones((4,), fc.int32), fc.fill([2, 2], 7),
                   fc.zeros([], fc.bool), fc.fill(fc.constant([3, 1]), 2.5)])
    refs = [np.zeros((2, 3), np.float32), np.ones(4, np.int32), np.full((2, 2), 7, np.int32),
            np.zeros((), bool), np.full((3, 1), 2.5, np.float32)]
    for o, r in zip(outs, refs, strict=True):
        assert o.dtype == r.dtype
        np.testing.assert_array_equal(o, r)


def test_like_ops_follow_symbolic_shapes(interp):
    x = fc.placeholder(fc.float32, [None, 3])
    z, o, oi = fc.zeros_like(x), fc.ones_like(x), fc.ones_like(x, dtype=fc.int64)
    u = fc.placeholder(fc.float32)  # unknown rank
    zu, ou = fc.zeros_like(u), fc.ones_like(u, dtype=fc.bool)
    for n in (2, 5):
        data = np.full((n, 3), np.nan, np.float32)
        rz, ro, roi = interp([z, o, oi], {x: data})
        np.testing.assert_array_equal(rz, np.zeros((n, 3), np.float32))
        np.testing.assert_array_equal(ro, np.ones((n, 3), np.float32))
        assert roi.dtype == np.int64
        rzu, rou = interp([zu, ou], {u: data[0]})
        np.testing.assert_array_equal(rzu, np.zeros(3, np.float32))
        np.testing.assert_array_equal(rou, np.ones(3, bool))


def test_shape_from_tensors_is_static(interp):
    x = fc.placeholder(fc.float32, [None, 3])
    z = fc.zeros(fc.shape(x))
    f = fc.fill([fc.shape(x)[0], 2], 1.0)
    data = np.ones((4, 3), np.float32)
    rz, rf = interp([z, f], {x: data})
    assert rz.shape == (4, 3) and rf.shape == (4, 2)
    with pytest.raises(TypeError, match="run time"):
        fc.zeros(fc.placeholder(fc.int32, [2]))


@pytest.mark.parametrize("args, ref", [
    ((5,), np.arange(5)), ((2, 9, 3), np.arange(2, 9, 3)), ((9, 2, -2), np.arange(9, 2, -2)),
    ((0.5, 2.0, 0.25), np.arange(0.5, 2.0, 0.25, dtype=np.float32)), ((3, 3), np.arange(0)),
])
def test_range(interp, args, ref):
    out = interp(fc.range(*args))
    assert out.dtype == (np.float32 if ref.dtype.kind == "f" else np.int32)
    np.testing.assert_allclose(out, ref)


def test_range_dtype_and_errors(interp):
    assert interp(fc.range(4, dtype=fc.int64)).dtype == np.int64
    np.testing.assert_allclose(interp(fc.range(1, 4, dtype=fc.float64)), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="delta"):
        fc.range(0, 4, 0)


def test_shape_size_rank(interp):
    x = fc.placeholder(fc.float32, [None, 3, 2])
    u = fc.placeholder(fc.float32)
    outs = [fc.shape(x), fc.size(x), fc.rank(x), fc.shape(x, out_type=fc.int64), fc.size(u),
            fc.rank(u), fc.size(fc.constant(A))]
    for n in (1, 4):
        data = np.zeros((n, 3, 2), np.float32)
        sh, sz, rk, sh64, szu, rku, szc = interp(outs, {x: data, u: data[0]})
        np.testing.assert_array_equal(sh, [n, 3, 2])
        assert sh.dtype == np.int32 and sh64.dtype == np.int64
        assert sz == n * 6 and rk == 3 and szu == 6 and rku == 2 and szc == A.size


def test_reshape(interp):
    x = fc.placeholder(fc.float32, [None, 3, 4])
    outs = [fc.reshape(x, [-1, 4]), fc.reshape(x, [x.shape[0], -1]),
            fc.reshape(x, [fc.shape(x)[0], 12]), fc.reshape(x, fc.shape(x)),
            fc.reshape(x, [-1])]
    assert outs[1].shape.as_list() == [None, 12]
    for n in (2, 3):
        data = RNG.normal(size=(n, 3, 4)).astype(np.float32)
        got = interp(outs, {x: data})
        for g, shape in zip(got, [(-1, 4), (n, -1), (n, 12), (n, 3, 4), (-1,)], strict=True):
            np.testing.assert_array_equal(g, data.reshape(shape))
    with pytest.raises(ValueError, match="Reshape"):
        fc.reshape(fc.constant(A), [5, 5])
    with pytest.raises(ValueError, match="-1"):
        fc.reshape(fc.constant(A), [-1, -1])


def test_transpose(interp):
    x = fc.constant(A)
    a, b = interp([fc.transpose(x), fc.transpose(x, [1, 0, 2])])
    np.testing.assert_array_equal(a, A.T)
    np.testing.assert_array_equal(b, A.transpose(1, 0, 2))
    with pytest.raises(ValueError, match="transpose"):
        fc.transpose(x, [0, 0, 1])


def test_concat_including_symbolic_axis(interp):
    x = fc.placeholder(fc.float32, [None, 4])
    y = fc.placeholder(fc.float32, [None, 4])
    c0, c1 = fc.concat([x, y], 0), fc.concat([x, x, [[1.0] * 4]], axis=-2)
    c2 = fc.concat([x, x], axis=1)
    for n, m in ((2, 3), (4, 1)):
        dx = RNG.normal(size=(n, 4)).astype(np.float32)
        dy = RNG.normal(size=(m, 4)).astype(np.float32)
        r0, r1, r2 = interp([c0, c1, c2], {x: dx, y: dy})
        np.testing.assert_array_equal(r0, np.concatenate([dx, dy]))
        np.testing.assert_array_equal(r1, np.concatenate([dx, dx, np.ones((1, 4))]))
        np.testing.assert_array_equal(r2, np.concatenate([dx, dx], 1))
    with pytest.raises(ValueError, match="concat"):
        fc.concat([fc.constant(A), fc.constant(A[:, :2])], 2 - 3 - 2)
    with pytest.raises(ValueError, match="concat"):
        fc.concat([fc.constant(A), fc.constant(A[0])], 0)


def test_stack_unstack(interp):
    parts = [A[i] for i in range(2)]
    outs = interp([fc.stack(parts), fc.stack(parts, axis=1), fc.stack(parts, axis=-1),
                   fc.stack([1, 2, 3])])
    for o, r in zip(outs, [np.stack(parts), np.stack(parts, 1), np.stack(parts, -1),
                           np.array([1, 2, 3])], strict=True):
        np.testing.assert_array_equal(o, r)
    pieces = fc.unstack(fc.constant(A), axis=1)
    assert len(pieces) == 3
    for o, r in zip(interp(pieces), [A[:, i] for i in range(3)], strict=True):
        np.testing.assert_array_equal(o, r)
    x = fc.placeholder(fc.float32, [None, 2])
    rows = fc.unstack(x, axis=1)
    data = RNG.normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_array_equal(interp(rows, {x: data}), [data[:, 0], data[:, 1]])
    with pytest.raises(ValueError, match="num"):
        fc.unstack(x)
    with pytest.raises(ValueError, match="stack"):
        fc.stack([fc.constant(A), fc.constant(A[0])])


def test_squeeze_expand_dims(interp):
    x = fc.constant(A.reshape(2, 1, 3, 1, 4))
    outs = interp([fc.squeeze(x), fc.squeeze(x, [1]), fc.squeeze(x, axis=-2),
                   fc.expand_dims(fc.constant(A), 0), fc.expand_dims(fc.constant(A), -1)])
    refs = [A, A.reshape(2, 3, 1, 4), A.reshape(2, 1, 3, 4), A[None], A[..., None]]
    for o, r in zip(outs, refs, strict=True):
        np.testing.assert_array_equal(o, r)
    with pytest.raises(ValueError, match="Squeeze"):
        fc.squeeze(x, [0])
    with pytest.raises(ValueError, match="ExpandDims"):
        fc.expand_dims(fc.constant(A), 5)


def test_split(interp):
    x = fc.constant(A)
    even = fc.split(x, 2, axis=2)
    sizes = fc.split(x, [1, -1, 1], axis=2)
    got = interp(even + sizes)
    for o, r in zip(got, np.split(A, 2, axis=2) + np.split(A, [1, 3], axis=2), strict=True):
        np.testing.assert_array_equal(o, r)
    s = fc.placeholder(fc.float32, [None, 3])
    halves = fc.split(s, 2)
    head, tail = fc.split(s, [1, -1])
    for n in (2, 6):
        data = RNG.normal(size=(n, 3)).astype(np.float32)
        got = interp(halves + [head, tail], {s: data})
        for o, r in zip(got, np.split(data, 2) + [data[:1], data[1:]], strict=True):
            np.testing.assert_array_equal(o, r)
    with pytest.raises(ValueError, match="divisible"):
        fc.split(x, 3, axis=2)
    with pytest.raises(ValueError, match="sum"):
        fc.split(x, [1, 1], axis=2)


def test_tile(interp):
    x = fc.placeholder(fc.float32, [None, 3])
    t = fc.tile(x, [2, 3])
    for n in (1, 3):
        data = RNG.normal(size=(n, 3)).astype(np.float32)
        np.testing.assert_array_equal(interp(t, {x: data}), np.tile(data, (2, 3)))
    with pytest.raises(ValueError, match="Tile"):
        fc.tile(x, [2])


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC"])
def test_pad(interp, mode):
    pads = [[1, 0], [2, 1], [0, 2]]
    out = interp(fc.pad(fc.constant(A), pads, mode=mode))
    np.testing.assert_array_equal(out, np.pad(A, pads, mode=mode.lower()))


def test_pad_symbolic_and_errors(interp):
    x = fc.placeholder(fc.int32, [None, 2])
    p = fc.pad(x, [[1, 1], [0, 1]], constant_values=9)
    m = fc.pad(x, [[1, 2], [0, 0]], mode="REFLECT")
    for n in (3, 4):
        data = np.arange(n * 2, dtype=np.int32).reshape(n, 2)
        rp, rm = interp([p, m], {x: data})
        np.testing.assert_array_equal(rp, np.pad(data, [[1, 1], [0, 1]], constant_values=9))
        np.testing.assert_array_equal(rm, np.pad(data, [[1, 2], [0, 0]], mode="reflect"))
    with pytest.raises(ValueError, match="Pad"):
        fc.pad(fc.constant(A), [[1, 1]])
    with pytest.raises(ValueError, match="too large"):
        fc.pad(fc.constant(A), [[2, 0], [0, 0], [0, 0]], mode="REFLECT")


def test_gather(interp):
    x = fc.constant(A)
    idx = np.array([[2, 0], [1, 1]], np.int32)
    a, b, c = interp([fc.gather(x, [1, 0], axis=None), fc.gather(x, idx, axis=2),
                      fc.gather(x, fc.constant(idx), axis=-2)])
    np.testing.assert_array_equal(a, A[[1, 0]])
    np.testing.assert_array_equal(b, np.take(A, idx, axis=2))
    np.testing.assert_array_equal(c, np.take(A, idx, axis=1))
    with pytest.raises(TypeError, match="gather"):
        fc.gather(x, [0.5])


def test_one_hot(interp):
    idx = np.array([[0, 2], [3, -1]], np.int32)
    t = fc.constant(idx)
    a, b, c = interp([fc.one_hot(t, 3), fc.one_hot(t, 3, on_value=5, off_value=-1, axis=0),
                      fc.one_hot(t, 4, dtype=fc.bool, axis=1)])
    eye = np.eye(3, dtype=np.float32)
    ref = np.where(((idx >= 0) & (idx < 3))[..., None], eye[np.clip(idx, 0, 2)], 0)
    np.testing.assert_array_equal(a, ref)
    assert a.dtype == np.float32 and b.dtype == np.int32 and c.dtype == np.bool_
    np.testing.assert_array_equal(b, np.where(np.moveaxis(ref, -1, 0) == 1, 5, -1))
    ref4 = (idx[:, None, :] == np.arange(4)[None, :, None])
    np.testing.assert_array_equal(c, ref4)


def test_where_and_broadcast_to(interp):
    cond = np.array([True, False])
    x, y = A[0, :2], A[1, :2]
    a, b, c = interp([fc.where(fc.constant(cond), fc.constant(x), fc.constant(y)),
                      fc.where(fc.constant(A > 0), fc.constant(A), 0.0),
                      fc.where_v2(fc.constant(A[0, 0] > 0), 1.0, fc.constant(A))])
    np.testing.assert_array_equal(a, np.where(cond[:, None], x, y))
    np.testing.assert_array_equal(b, np.where(A > 0, A, 0))
    np.testing.assert_array_equal(c, np.where(A[0, 0] > 0, np.float32(1), A))
    np.testing.assert_array_equal(interp(fc.broadcast_to(fc.constant([1, 2]), [3, 2])),
                                  np.broadcast_to([1, 2], (3, 2)))
    with pytest.raises(NotImplementedError):
        fc.where(fc.constant(cond))
    with pytest.raises(TypeError, match="Select"):
        fc.where(fc.constant(A), fc.constant(A), fc.constant(A))


def test_placeholder_with_default(interp):
    p = fc.placeholder_with_default(fc.constant(A[0]), [None, 4], name="p")
    q = p * 2.0
    assert p.name == "p:0" and p.shape.as_list() == [None, 4]
    np.testing.assert_array_equal(interp(q), A[0] * 2)
    fed = np.ones((5, 4), np.float32)
    np.testing.assert_array_equal(interp(q, {p: fed}), fed * 2)
    s = fc.placeholder_with_default(3.0, [])
    assert interp(s) == 3.0 and interp(s, {s: 4.0}) == 4.0
    with pytest.raises(ValueError, match="incompatible"):
        fc.placeholder_with_default(fc.constant(A[0]), [None, 5])


def test_placeholder_declarations():
    x = fc.placeholder(fc.float32, [None, 3, -1], name="x")
    assert x.shape.as_list() == [None, 3, None]
    assert fc.placeholder("int64", 4).shape.as_list() == [4]
    assert fc.placeholder(np.float64).shape.known_rank is False
    with pytest.raises(ValueError, match="negative"):
        fc.placeholder(fc.float32, [-2])


def test_static_dim_has_tf1_value():
    """TF1 code reads a static dim as `x.get_shape()[1].value` (the CIFAR-10 tutorial's
    `dim = reshape.get_shape()[1].value`); the dim stays an int."""
    x = fc.placeholder(fc.float32, [8, 6, 6, 4])
    flat = fc.reshape(x, [x.get_shape().as_list()[0], -1])
    dim = flat.get_shape()[1]
    assert dim.value == 144 and dim == 144 and isinstance(dim.value, int)
    assert fc.zeros([dim.value, 2]).shape.as_list() == [144, 2]



@pytest.mark.parametrize("backend", ["llvm", "interpret"])
def test_range_of_a_fed_dim_tf1_idiom(backend):
    """aymericdamien's dynamic_rnn: index = fc.range(0, batch_size) * seq_max_len + (seqlen - 1)
    with batch_size = fc.shape(outputs)[0]; one compile serves every batch size."""
    fc.reset_default_graph()
    x = fc.placeholder(fc.float32, [None, 3])
    n = fc.shape(x)[0]
    a, b, c = fc.range(0, n) * 5, fc.range(n, 1, -2), fc.range(1, n, 3, dtype=fc.int64)
    config = fc.ConfigProto(backend=backend)
    with fc.Session(config=config) as sess:
        for rows in (0, 1, 7, 10):
            got = sess.run([a, b, c], {x: np.zeros((rows, 3), np.float32)})
            want = [np.arange(0, rows) * 5, np.arange(rows, 1, -2), np.arange(1, rows, 3)]
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
            assert got[2].dtype == np.int64
        assert sess.compile_count == 1
    with pytest.raises(TypeError, match="range: bounds must be numbers or dims"):
        fc.range(fc.reduce_sum(fc.cast(x, fc.int32)))
