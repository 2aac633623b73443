"""`tf.nn.fixed_unigram_candidate_sampler` (also `tf.random.`): draws follow TF1's
FixedUnigramSampler weights (reserved ids, distortion, shards) written in numpy here, the
expected counts are TF1's for unique and non-unique sampling on both backends, a vocab
file gives the same sampler, and it feeds `nce_loss` as word2vec programs use it."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as tf

BACKENDS = [None, tf.ConfigProto(backend="interpret")]
IDS = ["llvm", "interpret"]


def _tf1_weights(unigrams, distortion, reserved, num_shards=1, shard=0):
    """FixedUnigramSampler's `unigrams_` (the shard's weights, compact) and total."""
    w = []
    for word_id in range(reserved + len(unigrams)):
        if word_id % num_shards == shard:
            w.append(0.0 if word_id < reserved else unigrams[word_id - reserved] ** distortion)
    w = np.array(w)
    return w, w.sum()


def _tf1_probability(value, w, total):
    return np.where((value >= 0) & (value < len(w)), w[np.clip(value, 0, len(w) - 1)] / total,
                    0.0)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_draws_and_expected_counts_follow_tf1(config):
    uni, n = [5.0, 0.0, 3.0, 2.0, 7.0], 40000
    w, total = _tf1_weights(uni, 0.75, 2)
    p = w / total
    with tf.Graph().as_default():
        labels = tf.constant(np.array([[2], [3], [6], [0]], np.int64))
        s, tc, sc = tf.nn.fixed_unigram_candidate_sampler(
            labels, 1, n, False, 7, unigrams=uni, num_reserved_ids=2, distortion=0.75, seed=4)
        with tf.Session(config=config) as sess:
            got_s, got_tc, got_sc = sess.run([s, tc, sc])
    assert got_s.dtype == np.int64 and got_s.shape == (n,)
    freq = np.bincount(got_s, minlength=7) / n
    assert freq[0] == freq[1] == freq[3] == 0.0           # reserved and zero-count ids
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12), (freq, p)
    np.testing.assert_allclose(got_tc[:, 0], _tf1_probability(np.array([2, 3, 6, 0]), w,
                                                              total) * n, rtol=1e-5)
    np.testing.assert_allclose(got_sc, _tf1_probability(got_s, w, total) * n, rtol=1e-5)


def test_shards_draw_their_own_ids_with_tf1_probability():
    uni, n = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 30000
    w, total = _tf1_weights(uni, 1.0, 1, num_shards=2, shard=1)   # ids 1, 3, 5
    with tf.Graph().as_default():
        labels = tf.constant(np.array([[1], [3], [4]], np.int64))
        s, tc, sc = tf.random.fixed_unigram_candidate_sampler(
            labels, 1, n, False, 7, unigrams=uni, num_reserved_ids=1, num_shards=2, shard=1,
            seed=9)
        with tf.Session() as sess:
            got_s, got_tc, got_sc = sess.run([s, tc, sc])
    assert set(np.unique(got_s)) == {1, 3, 5}
    freq = np.array([np.mean(got_s == 2 * i + 1) for i in range(3)])
    np.testing.assert_allclose(freq, w / total, atol=5 * np.sqrt(0.25 / n))
    # TF1's Probability(value) indexes the shard's compact weights by the value itself
    np.testing.assert_allclose(got_tc[:, 0], _tf1_probability(np.array([1, 3, 4]), w, total)
                               * n, rtol=1e-5)
    np.testing.assert_allclose(got_sc, _tf1_probability(got_s, w, total) * n, rtol=1e-5)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_unique_sampling_and_vocab_file(tmp_path, config):
    uni = [9.0, 1.0, 4.0, 4.0, 2.0, 8.0, 3.0, 1.0]
    vocab = tmp_path / "vocab.csv"
    vocab.write_text("".join(f"w{i},x,{c:g}\n" for i, c in enumerate(uni)))
    w, total = _tf1_weights(uni, 1.0, 0)
    with tf.Graph().as_default():
        labels = tf.constant(np.array([[0], [7]], np.int64))
        a = tf.nn.fixed_unigram_candidate_sampler(labels, 1, 5, True, 8, unigrams=uni,
                                                  seed=2)
        b = tf.nn.fixed_unigram_candidate_sampler(labels, 1, 5, True, 8,
                                                  vocab_file=str(vocab), seed=2)
        with tf.Session(config=config) as sess:
            runs = [sess.run([a, b]) for _ in range(3)]
    for (s, tc, sc), (s2, tc2, sc2) in runs:
        np.testing.assert_array_equal(s, s2)          # the file gives the same sampler
        np.testing.assert_allclose(sc, sc2)
        np.testing.assert_allclose(tc, tc2)
        assert len(set(s.tolist())) == 5
        p = _tf1_probability(s, w, total)
        p_true = _tf1_probability(np.array([0, 7]), w, total)
        if np.allclose(sc, p * 5, rtol=1e-5):  # no draw repeated: TF1's p * num_sampled
            np.testing.assert_allclose(tc[:, 0], p_true * 5, rtol=1e-5)
            continue
        tries = np.log1p(-sc.astype(np.float64)) / np.log1p(-p)   # one number of draws
        assert tries.min() >= 5 - 1e-3 and np.ptp(tries) < 1e-2 * tries.max()
        want = -np.expm1(tries.mean() * np.log1p(-p_true))
        np.testing.assert_allclose(tc[:, 0], want, rtol=1e-4)
    assert not np.array_equal(runs[0][0][0], runs[1][0][0])


def test_word2vec_nce_loss_with_the_fixed_unigram_sampler():
    vocab, dim, batch = 12, 4, 8
    counts = list(range(1, vocab + 1))
    with tf.Graph().as_default():
        tf.set_random_seed(3)
        centers = tf.placeholder(tf.int32, [batch])
        contexts = tf.placeholder(tf.int64, [batch, 1])
        emb = tf.Variable(tf.random_uniform([vocab, dim], -1.0, 1.0))
        nce_w = tf.Variable(tf.truncated_normal([vocab, dim], stddev=0.5))
        nce_b = tf.Variable(tf.zeros([vocab]))
        sampled = tf.nn.fixed_unigram_candidate_sampler(contexts, 1, 4, True, vocab,
                                                        unigrams=counts, distortion=0.75)
        loss = tf.reduce_mean(tf.nn.nce_loss(nce_w, nce_b, contexts,
                                             tf.nn.embedding_lookup(emb, centers), 4, vocab,
                                             sampled_values=sampled))
        step = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        rng = np.random.default_rng(0)
        c = rng.integers(0, vocab, batch)
        feeds = {centers: c, contexts: ((c + 1) % vocab).reshape(-1, 1)}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            first = np.mean([sess.run(loss, feeds) for _ in range(5)])
            for _ in range(150):
                sess.run(step, feeds)
            last = np.mean([sess.run(loss, feeds) for _ in range(5)])
    assert last < 0.5 * first, (first, last)


def test_bad_arguments_and_files(tmp_path):
    f = tf.nn.fixed_unigram_candidate_sampler
    with tf.Graph().as_default():
        labels = tf.constant([[1]], dtype=tf.int64)
        with pytest.raises(ValueError, match="range_max \\(5\\) must be num_reserved_ids"):
            f(labels, 1, 2, False, 5, unigrams=[1, 2, 3])
        with pytest.raises(ValueError, match="exactly one of vocab_file and unigrams"):
            f(labels, 1, 2, False, 3)
        with pytest.raises(ValueError, match="finite counts"):
            f(labels, 1, 2, False, 2, unigrams=[1, -2])
        with pytest.raises(ValueError, match="needs that many classes"):
            f(labels, 1, 3, True, 3, unigrams=[1, 0, 2])
        bad = tmp_path / "bad.csv"
        bad.write_text("a,3\nb,many\n")
        with pytest.raises(ValueError, match=r"bad.csv:2: the last field 'many'"):
            f(labels, 1, 2, False, 2, vocab_file=str(bad))
