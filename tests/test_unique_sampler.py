"""Exact unique candidate sampling (`unique=True`) as TF1's RangeSampler does it: draw
until `num_sampled` distinct classes, keep them in draw order, count every draw in
`num_tries`, expected counts by TF1's ExpectedCountHelper (`p * num_sampled` when no draw
repeated, else `-expm1(num_tries * log1p(-p))`). Checked against numpy simulations of
that procedure written here, on both backends, including `num_sampled == range_max`
(which a bounded pool of draws cannot do), and sampled_softmax_loss still trains."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as tf

BACKENDS = [None, tf.ConfigProto(backend="interpret")]
IDS = ["llvm", "interpret"]


def _log_uniform_p(c, r):
    return np.log((c + 2.0) / (c + 1.0)) / np.log(r + 1.0)


def _np_unique(p, k, rng):
    """TF1's SampleBatchGetExpectedCountAvoid with unique=True: (values, num_tries)."""
    values, tries = [], 0
    while len(values) < k:
        tries += 1
        v = int(rng.choice(len(p), p=p))
        if v not in values:
            values.append(v)
    return values, tries


def _tf1_expected(p, k, tries):
    return p * k if tries == k else -np.expm1(tries * np.log1p(-p))


def _tries_of(sc, p, k):
    """Recover num_tries from a run's sampled expected counts (one integer per run)."""
    if np.allclose(sc, p * k, rtol=1e-5):
        return k
    usable = sc < 0.9999  # float32 counts nearer 1 lose the digits the inversion needs
    t = np.log1p(-sc[usable].astype(np.float64)) / np.log1p(-p[usable])
    assert np.ptp(t) < 1e-3 * t.max(), t
    return float(t.mean())


def _runs(sampler, runs, config, **kw):
    with tf.Graph().as_default():
        labels = tf.constant(np.array([[0], [3]], np.int64))
        out = sampler(labels, 1, unique=True, **kw)
        with tf.Session(config=config) as sess:
            return [sess.run(out) for _ in range(runs)]


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_every_class_when_num_sampled_is_range_max(config):
    """30 distinct of 30 log-uniform classes takes ~200 draws (the rarest has p = 0.007):
    every run holds each class once and counts every draw, as TF1's loop."""
    r = 30
    p = _log_uniform_p(np.arange(r), r)
    rng = np.random.default_rng(0)
    sim = [_np_unique(p, r, rng)[1] for _ in range(300)]
    got = []
    for s, tc, sc in _runs(tf.nn.log_uniform_candidate_sampler, 40, config, num_sampled=r,
                           range_max=r, seed=5):
        assert sorted(s.tolist()) == list(range(r)) and s.dtype == np.int64
        tries = _tries_of(sc, p[s], r)
        assert abs(tries - round(tries)) < 1e-3 * tries and tries >= r
        got.append(round(tries))
        np.testing.assert_allclose(tc[:, 0], _tf1_expected(p[[0, 3]], r, round(tries)),
                                   rtol=1e-4)
    # the mean number of draws agrees with the simulation (5 standard errors)
    se = np.std(sim) * np.sqrt(1 / len(got) + 1 / len(sim))
    assert abs(np.mean(got) - np.mean(sim)) < 5 * se, (np.mean(got), np.mean(sim))


def test_draw_order_and_inclusion_follow_tf1():
    """The first sample is distributed as P (draw order is kept); each class's chance of
    being in the sample, and the number of draws, match a simulation of TF1's loop."""
    r, k, runs = 12, 4, 1500
    p = _log_uniform_p(np.arange(r), r)
    rng = np.random.default_rng(1)
    sims = [_np_unique(p, k, rng) for _ in range(20000)]
    sim_in = np.zeros(r)
    for values, _ in sims:
        sim_in[values] += 1
    sim_in /= len(sims)
    sim_tries = np.bincount([t for _, t in sims], minlength=40)[:40] / len(sims)
    first = np.zeros(r)
    inside = np.zeros(r)
    tries = []
    for s, _, sc in _runs(tf.nn.log_uniform_candidate_sampler, runs, None, num_sampled=k,
                           range_max=r, seed=8):
        assert len(set(s.tolist())) == k
        first[s[0]] += 1
        inside[s] += 1
        tries.append(round(_tries_of(sc, p[s], k)))
        np.testing.assert_allclose(sc, _tf1_expected(p[s], k, tries[-1]), rtol=1e-4)
    chi2 = np.sum((first - runs * p) ** 2 / (runs * p))
    assert chi2 < 40.0, (first / runs, p)  # 11 degrees of freedom
    sd = np.sqrt(sim_in * (1 - sim_in) / runs)
    assert np.all(np.abs(inside / runs - sim_in) < 5 * sd + 0.01), (inside / runs, sim_in)
    got_tries = np.bincount(tries, minlength=40)[:40] / runs
    cells = sim_tries > 0.01
    chi2 = np.sum((got_tries[cells] - sim_tries[cells]) ** 2 / sim_tries[cells]) * runs
    assert chi2 < 3 * cells.sum() + 20, (got_tries[cells], sim_tries[cells])
    assert min(tries) >= k and k in tries  # the p * num_sampled branch is exercised


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_uniform_and_fixed_unigram_unique(config):
    for s, tc, sc in _runs(tf.nn.uniform_candidate_sampler, 5, config, num_sampled=10,
                           range_max=10, seed=3):
        assert sorted(s.tolist()) == list(range(10))
        tries = round(_tries_of(sc, np.full(10, 0.1), 10))
        np.testing.assert_allclose(tc[:, 0], _tf1_expected(0.1, 10, tries), rtol=1e-5)
    uni = [5.0, 0.0, 1.0, 2.0]  # id 1 can never be drawn: 3 distinct classes
    for s, _, _ in _runs(tf.nn.fixed_unigram_candidate_sampler, 5, config, num_sampled=3,
                         range_max=4, unigrams=uni, seed=4):
        assert sorted(s.tolist()) == [0, 2, 3]


def test_sampled_softmax_trains_with_the_unique_sampler():
    vocab, dim, batch = 30, 6, 16
    with tf.Graph().as_default():
        tf.set_random_seed(2)
        x = tf.placeholder(tf.int32, [batch])
        y = tf.placeholder(tf.int64, [batch, 1])
        emb = tf.Variable(tf.random_uniform([vocab, dim], -1.0, 1.0))
        w = tf.Variable(tf.truncated_normal([vocab, dim], stddev=0.3))
        b = tf.Variable(tf.zeros([vocab]))
        loss = tf.reduce_mean(tf.nn.sampled_softmax_loss(
            w, b, y, tf.nn.embedding_lookup(emb, x), num_sampled=6, num_classes=vocab))
        train = tf.train.AdamOptimizer(0.05).minimize(loss)
        rng = np.random.default_rng(0)
        losses = []
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(200):
                c = rng.integers(0, vocab, size=batch)
                losses.append(sess.run([loss, train], {x: c, y: ((c * 7) % vocab)[:, None]})[0])
    assert np.mean(losses[-20:]) < 0.3 * np.mean(losses[:20]), (losses[:3], losses[-3:])
