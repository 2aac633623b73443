"""`fc.nn` composites against independent numpy formulas."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(3)
LOGITS = (RNG.normal(size=(4, 5)) * 3).astype(np.float32)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def test_activations(interp):
    x = fc.placeholder(fc.float32, [None, 5])
    outs = [fc.nn.relu(x), fc.nn.relu6(x * 3.0), fc.nn.elu(x), fc.nn.softplus(x * 40.0),
            fc.nn.sigmoid(x), fc.nn.tanh(x)]
    got = interp(outs, {x: LOGITS})
    refs = [np.maximum(LOGITS, 0), np.clip(LOGITS * 3, 0, 6),
            np.where(LOGITS > 0, LOGITS, np.expm1(LOGITS)),
            np.logaddexp(0, LOGITS.astype(np.float64) * 40), 1 / (1 + np.exp(-LOGITS)),
            np.tanh(LOGITS)]
    for g, r in zip(got, refs, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(interp, axis):
    x = fc.placeholder(fc.float32, [None, 5])
    big = LOGITS * 100  # would overflow exp without the max shift
    s, ls = interp([fc.nn.softmax(x, axis=axis), fc.nn.log_softmax(x, axis=axis)], {x: big})
    np.testing.assert_allclose(s, np_softmax(big, axis), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ls, np_log_softmax(big, axis), rtol=1e-5, atol=1e-4)
    assert np.isfinite(ls).all()


def test_softmax_names_and_dim_alias():
    x = fc.constant(LOGITS)
    assert fc.nn.softmax(x, name="probs").name == "probs:0"
    assert fc.nn.softmax(x, dim=0).shape.as_list() == [4, 5]
    with pytest.raises(ValueError, match="softmax"):
        fc.nn.softmax(x, axis=2)


def test_softmax_cross_entropy(interp):
    labels = np_softmax(RNG.normal(size=(4, 5)).astype(np.float32))
    x = fc.placeholder(fc.float32, [None, 5])
    y = fc.placeholder(fc.float32, [None, 5])
    v1 = fc.nn.softmax_cross_entropy_with_logits(labels=y, logits=x, name="xent")
    v2 = fc.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=x)
    assert v1.name == "xent:0" and v1.shape.as_list() == [None]
    for n in (2, 4):
        got1, got2 = interp([v1, v2], {x: LOGITS[:n] * 50, y: labels[:n]})
        want = -(labels[:n] * np_log_softmax(LOGITS[:n] * 50)).sum(-1)
        np.testing.assert_allclose(got1, want, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(got2, want, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="named arguments"):
        fc.nn.softmax_cross_entropy_with_logits(y, x)


def test_sparse_softmax_cross_entropy(interp):
    idx = np.array([0, 4, 2, 1], np.int32)
    x = fc.placeholder(fc.float32, [None, 5])
    t = fc.placeholder(fc.int32, [None])
    loss = fc.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=x)
    got = interp(loss, {x: LOGITS * 30, t: idx})
    want = -np_log_softmax(LOGITS * 30)[np.arange(4), idx]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="do not match"):
        fc.nn.sparse_softmax_cross_entropy_with_logits(labels=fc.constant([[1]]),
                                                       logits=fc.constant(LOGITS))


def test_sigmoid_cross_entropy_is_stable(interp):
    x = np.array([-1000.0, -20.0, -1.0, 0.0, 1.5, 30.0, 1000.0], np.float32)
    z = np.array([0.0, 1.0, 0.5, 1.0, 0.0, 0.25, 1.0], np.float32)
    got = interp(fc.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=fc.constant(x)))
    xd, zd = x.astype(np.float64), z.astype(np.float64)
    want = np.logaddexp(0, xd) - xd * zd  # -z log s(x) - (1-z) log(1-s(x)), exactly
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.isfinite(got).all()


def test_bias_add_and_xw_plus_b(interp):
    x = fc.placeholder(fc.float32, [None, 3, 2, 4])
    b4, b3 = np.arange(4, dtype=np.float32), np.arange(3, dtype=np.float32)
    data = RNG.normal(size=(2, 3, 2, 4)).astype(np.float32)
    nhwc, nchw = interp([fc.nn.bias_add(x, b4), fc.nn.bias_add(x, b3, data_format="NCHW")],
                        {x: data})
    np.testing.assert_allclose(nhwc, data + b4)
    np.testing.assert_allclose(nchw, data + b3[None, :, None, None])
    w = RNG.normal(size=(5, 2)).astype(np.float32)
    got = interp(fc.nn.xw_plus_b(fc.constant(LOGITS), w, [1.0, -1.0]))
    np.testing.assert_allclose(got, LOGITS @ w + [1.0, -1.0], rtol=1e-5)
    with pytest.raises(ValueError, match="BiasAdd"):
        fc.nn.bias_add(x, b3)
    with pytest.raises(ValueError, match="BiasAdd"):
        fc.nn.bias_add(x, [[1.0]])


def test_l2_loss_normalize_moments(interp):
    x = fc.constant(LOGITS)
    loss, normed, (mean, var), (mk, vk) = interp(
        [fc.nn.l2_loss(x), fc.nn.l2_normalize(x, axis=1), fc.nn.moments(x, [0]),
         fc.nn.moments(x, [0, 1], keep_dims=True)])
    np.testing.assert_allclose(loss, (LOGITS ** 2).sum() / 2, rtol=1e-5)
    np.testing.assert_allclose(normed, LOGITS / np.linalg.norm(LOGITS, axis=1, keepdims=True),
                               rtol=1e-5)
    np.testing.assert_allclose(mean, LOGITS.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, LOGITS.var(0), rtol=1e-5)
    assert mk.shape == (1, 1) and vk.shape == (1, 1)
    np.testing.assert_allclose(vk, [[LOGITS.var()]], rtol=1e-5)


def test_dropout(interp):
    x = fc.placeholder(fc.float32, [None, 1000])
    keep = 0.75
    dropped = fc.nn.dropout(x, keep_prob=keep, seed=1)
    by_rate = fc.nn.dropout(x, rate=0.25, noise_shape=[1, 1000])
    data = np.ones((4, 1000), np.float32)
    with fc.Session(config=fc.ConfigProto(backend="interpret")) as sess:
        a, b = sess.run([dropped, by_rate], {x: data})
        a2 = sess.run(dropped, {x: data})
    for out in (a, b):
        assert set(np.unique(out)) <= {0.0, np.float32(1 / keep)}
        assert 0.7 < (out > 0).mean() < 0.8
    assert (b == b[0]).all()  # one decision per column, shared by the rows
    assert not np.array_equal(a, a2)  # a fresh mask each run
    with pytest.raises(ValueError, match="exactly one"):
        fc.nn.dropout(x, keep_prob=0.5, rate=0.5)
