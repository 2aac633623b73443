"""`tf.contrib.factorization.KMeans` in the TF1 idiom (aymericdamien's k-means example):
the six-tuple of `training_graph()`, `init_op` then training steps, on both backends.
Centers and assignments are checked against numpy implementations of TF 1.15's update
rules written here (full-batch Lloyd with its 1e-6 epsilon, the mini-batch running mean,
cosine distance), and k-means++ finds the centers of a well-separated mixture."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as tf

BACKENDS = [None, tf.ConfigProto(backend="interpret")]
IDS = ["llvm", "interpret"]
KMeans = tf.contrib.factorization.KMeans
CENTRES = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 7.0, 5.0], [7.0, 0.0, 6.0]])


def _mixture(n_per=60, seed=0):
    rng = np.random.RandomState(seed)
    pts = np.concatenate([c + 0.4 * rng.standard_normal((n_per, 3)) for c in CENTRES])
    return pts[rng.permutation(len(pts))].astype(np.float32)


def _np_assign(x, c, cosine):
    if cosine:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        cn = c / np.linalg.norm(c, axis=1, keepdims=True)
        sim = x @ cn.T
        return x, np.argmax(sim, 1), np.maximum(1 - sim.max(1), 0), 1 - x @ c.T
    d = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    return x, np.argmin(d, 1), d.min(1), d


def _np_lloyd(x, c, cosine):
    """TF 1.15 `_full_batch_training_op`: sums / (counts + 1e-6), normalized for cosine."""
    x, idx, _, _ = _np_assign(x, c, cosine)
    k = len(c)
    sums = np.stack([x[idx == j].sum(0) for j in range(k)])
    counts = np.bincount(idx, minlength=k)[:, None]
    new = sums / (counts + 1e-6)
    return new / np.linalg.norm(new, axis=1, keepdims=True) if cosine else new


def _np_mini_batch(x, c, n):
    """TF 1.15 `_mini_batch_training_op`: c += (s - k c) / (n + k), n += k."""
    _, idx, _, _ = _np_assign(x, c, False)
    k = np.bincount(idx, minlength=len(c))
    s = np.stack([x[idx == j].sum(0) for j in range(len(c))])
    return c + (s - k[:, None] * c) / (n + k)[:, None], n + k


def _run_idiom(data, steps, config, **kw):
    """aymericdamien's program: returns (per-step avg distance, idx, final centers)."""
    with tf.Graph().as_default():
        X = tf.placeholder(tf.float32, shape=[None, data.shape[1]])
        kmeans = KMeans(inputs=X, **kw)
        (all_scores, cluster_idx, scores, cluster_centers_initialized, init_op,
         train_op) = kmeans.training_graph()
        cluster_idx = cluster_idx[0]
        avg_distance = tf.reduce_mean(scores)
        init_vars = tf.global_variables_initializer()
        with tf.Session(config=config) as sess:
            sess.run(init_vars, feed_dict={X: data})
            assert not sess.run(cluster_centers_initialized)
            sess.run(init_op, feed_dict={X: data})
            assert sess.run(cluster_centers_initialized)
            first = sess.run("clusters:0")
            sess.run(init_op, feed_dict={X: data})  # a no-op once initialized
            np.testing.assert_array_equal(sess.run("clusters:0"), first)
            trace = []
            for _ in range(steps):
                _, d, idx = sess.run([train_op, avg_distance, cluster_idx],
                                     feed_dict={X: data})
                trace.append(d)
            a, s = sess.run([all_scores[0], scores[0]], feed_dict={X: data})
            return trace, idx, sess.run("clusters:0"), first, a, s


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_idiom_kmeans_plus_plus_finds_the_mixture_centres(config):
    data = _mixture()
    trace, idx, centers, _, _, _ = _run_idiom(
        data, 6, config, num_clusters=4, initial_clusters="kmeans_plus_plus", random_seed=3)
    err = max(np.min(np.linalg.norm(centers - t, axis=1)) for t in CENTRES)
    assert err < 0.2, centers
    assert idx.dtype == np.int64 and idx.shape == (len(data),)
    assert len(set(idx.tolist())) == 4
    assert trace[-1] <= trace[0] + 1e-6 and trace[-1] < 0.6


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_full_batch_matches_numpy_lloyd(config):
    data = _mixture(seed=1)
    c0 = data[:4].astype(np.float64)
    steps = 3
    trace, idx, centers, first, a, s = _run_idiom(data, steps, config, num_clusters=4,
                                                  initial_clusters=data[:4])
    np.testing.assert_allclose(first, data[:4])
    c = c0
    for _ in range(steps - 1):
        c = _np_lloyd(data, c, False)
    _, want_idx, want_s, _ = _np_assign(data, c, False)
    np.testing.assert_array_equal(idx, want_idx)  # the last step's assignments
    np.testing.assert_allclose(trace[-1], want_s.mean(), rtol=1e-4)
    c = _np_lloyd(data, c, False)
    np.testing.assert_allclose(centers, c, rtol=1e-4, atol=1e-4)
    _, _, want_s, want_a = _np_assign(data, c, False)
    np.testing.assert_allclose(a, want_a, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(s, want_s, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_cosine_mini_batch_as_aymericdamien(config):
    """distance_metric='cosine', use_mini_batch=True: TF1's running-mean update on the
    normalized inputs, with counts starting at one."""
    data = _mixture(seed=2) + 1.0
    x = data / np.linalg.norm(data, axis=1, keepdims=True)
    c0 = x[[0, 5, 9, 17]].astype(np.float64)
    trace, idx, centers, first, a, s = _run_idiom(
        data, 2, config, num_clusters=4, initial_clusters=data[[0, 5, 9, 17]],
        distance_metric="cosine", use_mini_batch=True)
    np.testing.assert_allclose(first, c0, rtol=1e-5)
    c, n = c0, np.ones(4)
    for _ in range(2):
        _, want_idx, want_s, _ = _np_assign(data, c, True)
        _, idx_now, _, _ = _np_assign(x, c, True)
        ks = np.bincount(idx_now, minlength=4)
        sums = np.stack([x[idx_now == j].sum(0) for j in range(4)])
        c, n = c + (sums - ks[:, None] * c) / (n + ks)[:, None], n + ks
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(trace[-1], want_s.mean(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(centers, c, rtol=1e-4, atol=1e-5)
    _, _, want_s, want_a = _np_assign(data, c, True)
    np.testing.assert_allclose(a, want_a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(s, want_s, rtol=1e-4, atol=1e-5)


def test_mini_batch_euclidean_and_cosine_full_batch():
    data = _mixture(seed=3)
    _, _, centers, _, _, _ = _run_idiom(data, 2, None, num_clusters=4,
                                        initial_clusters=data[:4], use_mini_batch=True)
    c, n = data[:4].astype(np.float64), np.ones(4)
    for _ in range(2):
        c, n = _np_mini_batch(data, c, n)
    np.testing.assert_allclose(centers, c, rtol=1e-4, atol=1e-4)
    data = data + 1.0
    _, _, centers, _, _, _ = _run_idiom(data, 2, None, num_clusters=4,
                                        initial_clusters=data[:4], distance_metric="cosine")
    c = data[:4] / np.linalg.norm(data[:4], axis=1, keepdims=True)
    for _ in range(2):
        c = _np_lloyd(data, c, True)
    np.testing.assert_allclose(centers, c, rtol=1e-4, atol=1e-5)


def test_random_init_draws_rows_of_the_data_and_names_tf1_variables():
    data = _mixture(seed=4)
    _, _, _, first, _, _ = _run_idiom(data, 1, None, num_clusters=5, random_seed=7)
    rows = {tuple(r) for r in data.tolist()}
    assert all(tuple(r) in rows for r in first.tolist())
    with tf.Graph().as_default():
        X = tf.placeholder(tf.float32, [None, 3])
        KMeans(X, 3, use_mini_batch=True).training_graph()
        names = [v.name for v in tf.global_variables()]
        assert names == ["clusters:0", "initialized:0", "Variable:0"]
        assert tf.trainable_variables() == []


def test_clear_errors():
    with tf.Graph().as_default():
        X = tf.placeholder(tf.float32, [None, 3])
        with pytest.raises(ValueError, match="distance_metric"):
            KMeans(X, 3, distance_metric="manhattan")
        with pytest.raises(ValueError, match="num_clusters must be a positive int"):
            KMeans(X, 0)
        with pytest.raises(ValueError, match="initial_clusters must be"):
            KMeans(X, 3, initial_clusters="farthest")
        with pytest.raises(ValueError, match=r"initial_clusters must be \[num_clusters, 3\]"):
            KMeans(X, 3, initial_clusters=np.zeros((3, 2), np.float32))
        with pytest.raises(NotImplementedError, match="KMC2"):
            KMeans(X, 3, initial_clusters="kmc2")
        with pytest.raises(ValueError, match="static dim"):
            KMeans(tf.placeholder(tf.float32, [None, None]), 3)
        with pytest.raises(TypeError, match="must be float"):
            KMeans(tf.placeholder(tf.int32, [None, 3]), 3)
        with pytest.raises(ValueError, match=r"initial clusters must have shape \[3, 3\]"):
            KMeans(X, 3, initial_clusters=lambda x, k: x[:2]).training_graph()
        with pytest.raises(NotImplementedError, match="feature_columns"):
            tf.contrib.factorization.KMeansClustering(3, feature_columns=[])


def test_kmeans_plus_plus_draws_in_proportion_to_squared_distance():
    """With no retries, the first center is a uniform row and the second a row drawn with
    probability D(x)^2 / sum D^2 (TF1's k-means++); 2000 initializations, a chi-square bound."""
    pts = np.array([[0.0], [1.0], [2.0], [3.5]], np.float32)
    d2 = (pts - pts.T) ** 2
    want = np.zeros((4, 4))  # P(first = i, second = j)
    for i in range(4):
        want[i] = 0.25 * d2[i] / d2[i].sum()
    runs = 2000
    got = np.zeros((4, 4))
    with tf.Graph().as_default():
        X = tf.placeholder(tf.float32, [None, 1])
        out = KMeans(X, 2, initial_clusters="kmeans_plus_plus",
                     kmeans_plus_plus_num_retries=0).training_graph()
        init_vars = tf.global_variables_initializer()
        with tf.Session() as sess:
            for _ in range(runs):
                sess.run(init_vars)
                sess.run(out[4], feed_dict={X: pts})
                c = sess.run("clusters:0")[:, 0]
                got[int(np.flatnonzero(pts[:, 0] == c[0])[0]),
                    int(np.flatnonzero(pts[:, 0] == c[1])[0])] += 1
    cells = want > 0
    assert np.all(got[~cells] == 0)  # a center is never drawn twice
    chi2 = np.sum((got[cells] - runs * want[cells]) ** 2 / (runs * want[cells]))
    assert chi2 < 35.0, (got / runs, want)  # 11 degrees of freedom: P(chi2 > 35) < 3e-4


def test_tf1_import_spellings():
    """`from tensorflow.contrib.factorization import KMeans` and `from tensorflow.contrib
    import rnn` work with only the package name changed."""
    from compiler.contrib import rnn
    from compiler.contrib.factorization import COSINE_DISTANCE
    from compiler.contrib.factorization import KMeans as K

    assert K is KMeans and COSINE_DISTANCE == "cosine"
    assert rnn.BasicLSTMCell is tf.nn.rnn_cell.BasicLSTMCell


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
@pytest.mark.parametrize("metric", ["squared_euclidean", "cosine"])
def test_mini_batch_steps_per_iteration(config, metric):
    """TF1's synced mini-batch: updates move `clusters_updated`; every `steps` training
    steps it is copied (normalized for cosine) to `clusters`, the counts restart at 0."""
    data = _mixture(seed=5) + 1.0
    cosine = metric == "cosine"
    x = data / np.linalg.norm(data, axis=1, keepdims=True) if cosine else data
    steps, runs = 3, 7
    c0 = x[[0, 5, 9, 17]].astype(np.float64)
    with tf.Graph().as_default():
        X = tf.placeholder(tf.float32, shape=[None, 3])
        out = KMeans(X, 4, initial_clusters=data[[0, 5, 9, 17]], distance_metric=metric,
                     use_mini_batch=True, mini_batch_steps_per_iteration=steps
                     ).training_graph()
        names = [v.name for v in tf.global_variables()]
        assert names == ["clusters:0", "initialized:0", "clusters_updated:0",
                         "update_in_steps:0", "Variable:0"]
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(out[4], feed_dict={X: data})
            got = []
            for _ in range(runs):
                idx = sess.run([out[5], out[1][0]], feed_dict={X: data})[1]
                got.append((idx, sess.run(["clusters:0", "clusters_updated:0"])))
    c, cu, n, left = c0, c0.copy(), np.zeros(4), steps
    for idx, (gc, gcu) in got:
        _, want_idx, _, _ = _np_assign(data, c, cosine)  # scored with the synced copy
        np.testing.assert_array_equal(idx, want_idx)
        if left <= 0:
            c = cu / np.linalg.norm(cu, axis=1, keepdims=True) if cosine else cu.copy()
            n, left = np.zeros(4), steps - 1
        else:
            left -= 1
        ks = np.bincount(want_idx, minlength=4)
        sums = np.stack([x[want_idx == j].sum(0) for j in range(4)])
        cu = cu + (sums - ks[:, None] * cu) / np.maximum(n + ks, 1)[:, None]
        n = n + ks
        np.testing.assert_allclose(gc, c, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gcu, cu, rtol=1e-4, atol=1e-5)


def test_kmeans_plus_plus_graph_does_not_grow_with_num_clusters():
    sizes = []
    for k in (3, 40):
        with tf.Graph().as_default() as g:
            X = tf.placeholder(tf.float32, [None, 3])
            KMeans(X, k, initial_clusters="kmeans_plus_plus").training_graph()
            sizes.append(len(g.get_operations()))
    assert sizes[0] == sizes[1], sizes


def test_list_of_inputs_is_one_data_set():
    """A list of input tensors gives one score tuple entry per input; the Lloyd step
    pools their points."""
    data = _mixture(seed=6)
    a, b = data[:100], data[100:]
    with tf.Graph().as_default():
        A = tf.placeholder(tf.float32, [None, 3])
        B = tf.placeholder(tf.float32, [None, 3])
        out = KMeans([A, B], 4, initial_clusters=data[:4]).training_graph()
        assert len(out[0]) == len(out[1]) == len(out[2]) == 2
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feed = {A: a, B: b}
            sess.run(out[4], feed)
            ia, ib = sess.run([out[5], out[1][0], out[1][1]], feed)[1:]
            centers = sess.run("clusters:0")
    _, want, _, _ = _np_assign(data, data[:4].astype(np.float64), False)
    np.testing.assert_array_equal(np.concatenate([ia, ib]), want)
    np.testing.assert_allclose(centers, _np_lloyd(data, data[:4].astype(np.float64), False),
                               rtol=1e-4, atol=1e-4)


def test_kmeans_clustering_estimator(tmp_path):
    """TF1's KMeansClustering loop: each `train(input_fn)` builds the graph again from
    the checkpoint and runs one Lloyd step on the one batch (given centers need no batch
    to initialize). Centers, score and predictions against numpy."""
    data = _mixture(seed=7)
    init = data[:4]

    def input_fn():
        return tf.data.Dataset.from_tensors(data)

    kmeans = tf.contrib.factorization.KMeansClustering(
        num_clusters=4, model_dir=str(tmp_path), initial_clusters=init,
        use_mini_batch=False)
    c = init.astype(np.float64)
    for _ in range(3):
        kmeans.train(input_fn)
        c = _np_lloyd(data, c, False)
        np.testing.assert_allclose(kmeans.cluster_centers(), c, rtol=1e-4, atol=1e-4)
    _, idx, dist, _ = _np_assign(data, c, False)
    np.testing.assert_allclose(kmeans.score(input_fn), dist.sum(), rtol=1e-4)
    np.testing.assert_array_equal(np.array(list(kmeans.predict_cluster_index(input_fn))),
                                  idx)
    assert len(list(kmeans.transform(input_fn))[0]) == 4


def test_kmeans_clustering_random_init_and_relative_tolerance(tmp_path):
    """A random initialization spends the one batch (TF1's hook runs `init_op` first), so
    the first `train` leaves rows of the data; with a repeated input and
    `relative_tolerance` training stops by itself once the loss settles."""
    data = _mixture(seed=8)
    kmeans = tf.contrib.factorization.KMeansClustering(
        num_clusters=4, model_dir=str(tmp_path / "a"), use_mini_batch=False, seed=3)
    kmeans.train(lambda: tf.data.Dataset.from_tensors(data))
    first = kmeans.cluster_centers()
    rows = {tuple(r) for r in data.tolist()}
    assert all(tuple(r) in rows for r in first.tolist())
    kmeans.train(lambda: tf.data.Dataset.from_tensors(data))
    np.testing.assert_allclose(kmeans.cluster_centers(), _np_lloyd(data, first, False),
                               rtol=1e-4, atol=1e-4)
    tol = tf.contrib.factorization.KMeansClustering(
        num_clusters=4, model_dir=str(tmp_path / "b"), initial_clusters="kmeans_plus_plus",
        use_mini_batch=False, relative_tolerance=1e-4)
    tol.train(lambda: tf.data.Dataset.from_tensors(data).repeat())  # ends by itself
    assert 2 <= tf.train.load_variable(str(tmp_path / "b"), "global_step") < 50
    err = max(np.min(np.linalg.norm(tol.cluster_centers() - t, axis=1)) for t in CENTRES)
    assert err < 0.2
