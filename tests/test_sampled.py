"""`fc.nn.nce_loss`, `sampled_softmax_loss` and the candidate samplers against an
independent numpy implementation of TF1's `_compute_sampled_logits` (fixed
`sampled_values`), the samplers' distributions and a tiny word2vec that learns."""

import numpy as np
import pytest
from autodiff_check import BACKENDS, check_grads

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(2024)
V, D, N, T_ = 12, 5, 4, 2  # classes, dim, batch, num_true
FLT_MAX = np.finfo(np.float32).max


def config(backend):
    return tf.ConfigProto(backend="interpret") if backend == "interpret" else None


def np_sampled_logits(w, b, labels, x, sampled, tcount, scount, remove_hits):
    """TF1's _compute_sampled_logits, written from its documentation."""
    true_logits = np.einsum("nd,ntd->nt", x, w[labels]) + b[labels] - np.log(tcount)
    s_logits = x @ w[sampled].T + b[sampled]
    if remove_hits:
        hits = (labels[:, :, None] == sampled[None, None, :]).any(1)
        s_logits = s_logits + np.where(hits, -FLT_MAX, 0.0)
    s_logits = s_logits - np.log(scount)
    logits = np.concatenate([true_logits, s_logits], 1)
    targets = np.concatenate([np.full(true_logits.shape, 1.0 / labels.shape[1]),
                              np.zeros(s_logits.shape)], 1)
    return logits, targets


def np_nce(logits, z):
    return (np.maximum(logits, 0) - logits * z + np.log1p(np.exp(-np.abs(logits)))).sum(1)


def np_sampled_softmax(logits, z):
    m = logits.max(1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    return -(z * logp).sum(1)


def _data():
    w = RNG.normal(size=(V, D))
    b = RNG.normal(size=V)
    x = RNG.normal(size=(N, D))
    labels = np.array([[0, 3], [5, 1], [11, 2], [7, 7]], np.int64)
    sampled = np.array([3, 9, 0, 4, 6], np.int64)  # 3 and 0 are accidental hits of row 0
    tcount = RNG.uniform(0.1, 1.0, size=(N, T_))
    scount = RNG.uniform(0.1, 1.0, size=5)
    return w, b, x, labels, sampled, tcount, scount


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("remove_hits", [False, True])
def test_losses_match_tf1_formula(backend, remove_hits):
    w, b, x, labels, sampled, tcount, scount = _data()
    # a table split in three "mod" partitions, as TF1 programs pass a partitioned variable
    parts = [tf.constant(w[p::3]) for p in range(3)]
    bias = tf.constant(b)
    xs = tf.placeholder(tf.float64, [None, D])
    ys = tf.placeholder(tf.int64, [None, T_])
    sv = (tf.constant(sampled), tf.constant(tcount), tf.constant(scount))
    kw = dict(num_sampled=5, num_classes=V, num_true=T_, sampled_values=sv,
              remove_accidental_hits=remove_hits)
    nce = tf.nn.nce_loss(parts, bias, ys, xs, **kw)
    ssm = tf.nn.sampled_softmax_loss(parts, bias, ys, xs, **kw)
    assert nce.name == "nce_loss:0" and ssm.name == "sampled_softmax_loss:0"
    with tf.Session(config=config(backend)) as sess:
        got_nce, got_ssm = sess.run([nce, ssm], {xs: x, ys: labels})
    logits, z = np_sampled_logits(w, b, labels, x, sampled, tcount, scount, remove_hits)
    np.testing.assert_allclose(got_nce, np_nce(logits, z), rtol=1e-10)
    np.testing.assert_allclose(got_ssm, np_sampled_softmax(logits, z), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_finite_differences(backend):
    w, b, x, labels, sampled, tcount, scount = _data()

    def build(inputs, weights):
        sv = (tf.constant(sampled), tf.constant(tcount), tf.constant(scount))
        kw = dict(num_sampled=5, num_classes=V, num_true=T_, sampled_values=sv)
        return (tf.nn.nce_loss(weights, tf.constant(b), labels, inputs, **kw)
                + tf.nn.sampled_softmax_loss(weights, tf.constant(b), labels, inputs, **kw))

    check_grads(build, [((N, D), -1, 1), ((V, D), -1, 1)], backend)


def _log_uniform_p(c, r):
    return np.log((c + 2.0) / (c + 1.0)) / np.log(r + 1.0)


def test_log_uniform_sampler_distribution_and_counts():
    r, n = 1000, 40000
    labels = tf.constant(np.array([[0], [7], [999]], np.int64))
    s, tc, sc = tf.nn.log_uniform_candidate_sampler(labels, 1, n, False, r, seed=5)
    u = tf.nn.uniform_candidate_sampler(labels, 1, n, False, 10, seed=6)
    with tf.Session() as sess:
        got_s, got_tc, got_sc, got_u = sess.run([s, tc, sc, u[0]])
    assert got_s.dtype == np.int64 and got_s.min() >= 0 and got_s.max() < r
    p = _log_uniform_p(np.arange(6), r)
    freq = np.bincount(got_s, minlength=r)[:6] / n
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n)), (freq, p)
    np.testing.assert_allclose(got_tc[:, 0], _log_uniform_p(np.array([0, 7, 999]), r) * n,
                               rtol=1e-5)
    np.testing.assert_allclose(got_sc, _log_uniform_p(got_s, r) * n, rtol=1e-5)
    uf = np.bincount(got_u, minlength=10) / n
    np.testing.assert_allclose(uf, 0.1, atol=5 * np.sqrt(0.09 / n))


@pytest.mark.parametrize("backend", BACKENDS)
def test_unique_sampler(backend):
    r, k = 50, 16
    labels = tf.constant(np.array([[0], [3]], np.int64))
    s, tc, sc = tf.nn.log_uniform_candidate_sampler(labels, 1, k, True, r, seed=11)
    with tf.Session(config=config(backend)) as sess:
        runs = [sess.run([s, tc, sc]) for _ in range(3)]
    assert not np.array_equal(runs[0][0], runs[1][0])  # fresh draws each run
    for got_s, got_tc, got_sc in runs:
        assert len(set(got_s.tolist())) == k and got_s.min() >= 0 and got_s.max() < r
        p = _log_uniform_p(got_s, r)
        tries = np.log1p(-got_sc.astype(np.float64)) / np.log1p(-p)  # one count of draws
        assert tries.min() >= k - 1e-3 and np.ptp(tries) < 1e-2 * tries.max()
        expect = -np.expm1(tries.mean() * np.log1p(-_log_uniform_p(np.array([0, 3]), r)))
        np.testing.assert_allclose(got_tc[:, 0], expect, rtol=1e-4)


def test_word2vec_loss_falls():
    vocab, dim, batch = 40, 8, 32
    tf.set_random_seed(1)
    centers = tf.placeholder(tf.int32, [batch])
    contexts = tf.placeholder(tf.int64, [batch, 1])
    emb = tf.Variable(tf.random_uniform([vocab, dim], -1.0, 1.0))
    nce_w = tf.Variable(tf.truncated_normal([vocab, dim], stddev=1.0 / np.sqrt(dim)))
    nce_b = tf.Variable(tf.zeros([vocab]))
    embed = tf.nn.embedding_lookup(emb, centers)
    loss = tf.reduce_mean(tf.nn.nce_loss(weights=nce_w, biases=nce_b, labels=contexts,
                                         inputs=embed, num_sampled=8, num_classes=vocab))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    rng = np.random.default_rng(0)
    losses = []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(300):
            c = rng.integers(0, vocab, size=batch)
            feed = {centers: c, contexts: ((c + 1) % vocab)[:, None]}
            losses.append(sess.run([loss, train], feed)[0])
    assert np.mean(losses[-30:]) < 0.5 * np.mean(losses[:30]), (losses[:5], losses[-5:])


def test_bad_arguments():
    w = tf.constant(np.ones((V, D)))
    x = tf.constant(np.ones((N, D)))
    with pytest.raises(TypeError, match="nce_loss: labels must be integer"):
        tf.nn.nce_loss(w, tf.constant(np.ones(V)), tf.constant(np.ones((N, 1))), x, 2, V)
    with pytest.raises(ValueError, match="log_uniform_candidate_sampler: unique sampling"):
        tf.nn.log_uniform_candidate_sampler(tf.constant([[1]]), 1, 20, True, 10)
