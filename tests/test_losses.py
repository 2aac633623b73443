"""`fc.losses` (TF1 `tf.losses`) against independent numpy implementations of TF1's
formulas and reductions, on both backends; a few gradients by finite differences."""

import numpy as np
import pytest
from autodiff_check import BACKENDS, check_grads

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(1414)
R = tf.losses.Reduction
B, C = 4, 3


def config(backend):
    return tf.ConfigProto(backend="interpret") if backend == "interpret" else None


def np_sigmoid_xent(z, x):
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def np_log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


# name -> (call(labels, preds, **kw), numpy per-element losses, labels, preds, kwargs)
def _cases():
    y01 = RNG.integers(0, 2, size=(B, C)).astype(np.float32)
    yreal = RNG.normal(size=(B, C)).astype(np.float32)
    pred = RNG.normal(size=(B, C)).astype(np.float32) * 2
    prob = RNG.uniform(0.05, 0.95, size=(B, C)).astype(np.float32)
    onehot = np.eye(C, dtype=np.float32)[RNG.integers(0, C, size=B)]
    unit = pred / np.linalg.norm(pred, axis=1, keepdims=True)
    unit_y = yreal / np.linalg.norm(yreal, axis=1, keepdims=True)
    d = 0.7
    s = 0.2

    def huber(y, p):
        e = np.abs(p - y)
        q = np.minimum(e, d)
        return 0.5 * q * q + d * (e - q)

    def sm_xent(y, x):
        z = y * (1 - s) + s / C
        return -(z * np_log_softmax(x)).sum(-1)

    return {
        "mean_squared_error": (tf.losses.mean_squared_error, lambda y, p: (p - y) ** 2,
                               yreal, pred, {}),
        "absolute_difference": (tf.losses.absolute_difference, lambda y, p: np.abs(p - y),
                                yreal, pred, {}),
        "log_loss": (tf.losses.log_loss, lambda y, p: -y * np.log(p + 1e-7)
                     - (1 - y) * np.log(1 - p + 1e-7), y01, prob, {}),
        "hinge_loss": (tf.losses.hinge_loss, lambda y, x: np.maximum(0, 1 - (2 * y - 1) * x),
                       y01, pred, {}),
        "huber_loss": (tf.losses.huber_loss, huber, yreal, pred, {"delta": d}),
        "sigmoid_cross_entropy": (
            tf.losses.sigmoid_cross_entropy,
            lambda y, x: np_sigmoid_xent(y * (1 - s) + 0.5 * s, x), y01, pred,
            {"label_smoothing": s}),
        "softmax_cross_entropy": (tf.losses.softmax_cross_entropy, sm_xent, onehot, pred,
                                  {"label_smoothing": s}),
        "cosine_distance": (tf.losses.cosine_distance,
                            lambda y, p: 1 - (y * p).sum(1, keepdims=True), unit_y, unit,
                            {"axis": 1}),
    }


CASES = _cases()


def np_reduce(losses, weights, reduction):
    """TF1's compute_weighted_loss, from its documentation."""
    w = np.broadcast_to(np.asarray(weights, np.float64), losses.shape)
    weighted = losses * w
    if reduction == R.NONE:
        return weighted
    total = weighted.sum()
    if reduction == R.SUM:
        return total
    if reduction == R.MEAN:
        den = w.sum()
    elif reduction == R.SUM_OVER_BATCH_SIZE:
        den = losses.size
    else:
        den = (w != 0).sum()
    return 0.0 if den == 0 else total / den


def _weights_for(name):
    """Per-row weights with a zero (broadcast along the classes), rank 1 for the
    per-row softmax losses."""
    per_row = np.array([[1.0], [0.0], [2.5], [0.5]], np.float32)
    return per_row[:, 0] if name == "softmax_cross_entropy" else per_row


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_and_every_reduction(backend, name):
    fn, ref, y, p, kw = CASES[name]
    per_elem = ref(y.astype(np.float64), p.astype(np.float64))
    w = _weights_for(name)
    yy = tf.placeholder(tf.float32, [None, C])
    pp = tf.placeholder(tf.float32, [None, C])
    outs = {}
    for red in R.all():
        outs[red] = fn(yy, pp, weights=w, reduction=red, **kw)
    default = fn(yy, pp, **kw)  # weights 1, SUM_BY_NONZERO_WEIGHTS
    zero_w = fn(yy, pp, weights=0.0, **kw)
    assert len(tf.losses.get_losses()) == len(R.all()) + 2
    with tf.Session(config=config(backend)) as sess:
        got = sess.run({**outs, "default": default, "zero": zero_w}, {yy: y, pp: p})
    for red in R.all():
        np.testing.assert_allclose(got[red], np_reduce(per_elem, w, red), rtol=2e-5,
                                   atol=1e-6, err_msg=f"{name} {red}")
    np.testing.assert_allclose(got["default"], per_elem.mean(), rtol=2e-5, atol=1e-6)
    assert got["zero"] == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_softmax_cross_entropy(backend):
    logits = RNG.normal(size=(B, C)).astype(np.float32)
    labels = np.array([0, 2, 1, 2], np.int32)
    w = np.array([1.0, 0.0, 3.0, 1.0], np.float32)
    x = tf.placeholder(tf.float32, [None, C])
    idx = tf.placeholder(tf.int32, [None])
    loss = tf.losses.sparse_softmax_cross_entropy(labels=idx, logits=x, weights=w)
    with tf.Session(config=config(backend)) as sess:
        got = sess.run(loss, {x: logits, idx: labels})
    per = -np_log_softmax(logits.astype(np.float64))[np.arange(B), labels]
    np.testing.assert_allclose(got, np_reduce(per, w, R.SUM_BY_NONZERO_WEIGHTS), rtol=1e-5)


def test_collections_and_total_loss(interp):
    with pytest.raises(ValueError, match="no losses"):
        tf.losses.get_total_loss()
    assert float(interp(tf.losses.get_regularization_loss())) == 0.0
    w = tf.get_variable("w", initializer=np.array([1.0, -2.0], np.float32),
                        regularizer=lambda v: 0.5 * tf.reduce_sum(v * v))
    mse = tf.losses.mean_squared_error([0.0, 0.0], w)
    tf.losses.absolute_difference([0.0, 0.0], w, loss_collection=None)  # not collected
    tf.losses.add_loss(tf.constant(10.0))
    with tf.name_scope("other"):
        tf.losses.huber_loss([0.0, 0.0], w, delta=1.0)
    assert tf.losses.get_losses()[0] is mse and len(tf.losses.get_losses()) == 3
    assert len(tf.losses.get_losses(scope="other")) == 1
    assert tf.get_collection(tf.GraphKeys.LOSSES) == tf.losses.get_losses()
    total = tf.losses.get_total_loss()
    data_only = tf.losses.get_total_loss(add_regularization_losses=False)
    reg = tf.losses.get_regularization_loss()
    got = interp([total, data_only, reg], init=True)
    huber = (0.5 * 1 + (0.5 * 1 + 1 * (2 - 1))) / 2  # errors 1 and 2, delta 1
    np.testing.assert_allclose(got, [2.5 + 10 + huber + 2.5, 2.5 + 10 + huber, 2.5], rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Invalid Reduction"):
        tf.losses.mean_squared_error([1.0], [1.0], reduction="mean")
    with pytest.raises(ValueError, match="mean_squared_error: the shapes"):
        tf.losses.mean_squared_error(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="cosine_distance: you must specify 'axis'"):
        tf.losses.cosine_distance([1.0], [1.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_finite_differences(backend):
    y = RNG.normal(size=(3, 2))
    onehot = np.eye(2)[[0, 1, 1]]
    w = np.array([[1.0], [0.0], [2.0]])

    def huber(p):
        return tf.losses.huber_loss(y, p, weights=w, delta=0.5, reduction=R.NONE)

    def sce(x):
        return tf.losses.softmax_cross_entropy(onehot, x, weights=w[:, 0], label_smoothing=0.1,
                                               reduction=R.MEAN)

    def sig(x):
        return tf.losses.sigmoid_cross_entropy(onehot, x, weights=w, label_smoothing=0.3)

    # huber_loss computes in float32, as TF1: checked with float32 tolerances
    check_grads(huber, [dict(shape=(3, 2), low=-2, high=2, dtype="float32")], backend)
    for fn in (sce, sig):
        check_grads(fn, [((3, 2), -2, 2)], backend)
