"""tf.data in the TF1 idiom (compiler/data/): datasets, iterators and get_next feeding
compiled steps, on both backends. Expected element streams come from plain numpy/Python
transcriptions of TF1's documented semantics written here."""

import threading

import numpy as np
import pytest

import compiler as tf
from compiler.data import blocks
from runtime.errors import FeedError

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]


def _session(backend):
    return tf.Session(config=tf.ConfigProto(backend=backend))


def _drain(sess, fetches, feed_dict=None):
    """TF1's epoch loop: run until OutOfRangeError."""
    out = []
    while True:
        try:
            out.append(sess.run(fetches, feed_dict))
        except tf.errors.OutOfRangeError:
            return out


def ref_batches(arrays, size, drop_remainder=False):
    n = len(arrays[0])
    stop = n - n % size if drop_remainder else n
    return [tuple(a[i:min(i + size, stop)] for a in arrays) for i in range(0, stop, size)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_epoch_loop_batches_and_out_of_range(backend):
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    y = np.arange(7, dtype=np.int64) % 3
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    assert [s.as_list() for s in ds.output_shapes] == [[None, 2], [None]]
    assert ds.output_types == (tf.float32, tf.int64)
    feats, labels = ds.make_one_shot_iterator().get_next()
    doubled = feats * 2.0 + tf.cast(tf.expand_dims(labels, 1), tf.float32)
    with _session(backend) as sess:
        got = _drain(sess, [feats, labels, doubled])
        assert sess.compile_count == 1  # full and partial batches share one compile
    want = ref_batches([x, y], 3)
    assert len(got) == len(want) == 3
    for (f, lab, d), (wf, wl) in zip(got, want):
        np.testing.assert_array_equal(f, wf)
        np.testing.assert_array_equal(lab, wl)
        np.testing.assert_array_equal(d, wf * 2 + wl[:, None])


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_drop_remainder_has_static_shape(backend):
    x = np.arange(10, dtype=np.int32)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4, drop_remainder=True)
    assert ds.output_shapes.as_list() == [4]
    nxt = tf.data.make_one_shot_iterator(ds).get_next()
    assert nxt.shape.as_list() == [4]
    with _session(backend) as sess:
        got = _drain(sess, tf.reduce_sum(nxt))
    assert got == [sum(range(0, 4)), sum(range(4, 8))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeat_take_skip_range_zip_concatenate(backend):
    a = tf.data.Dataset.range(2, 11, 3)               # 2 5 8
    b = tf.data.Dataset.from_tensor_slices(np.array([10.0, 20.0, 30.0, 40.0]))
    ds = tf.data.Dataset.zip((a.repeat(2), b.repeat())).skip(1).take(4)
    ds = ds.concatenate(tf.data.Dataset.from_tensors((np.int64(-1), np.float64(0.5))))
    i, v = ds.make_one_shot_iterator().get_next()
    with _session(backend) as sess:
        got = _drain(sess, [i, v * 2.0])
    ra = [2, 5, 8] * 2
    rb = [10.0, 20.0, 30.0, 40.0] * 2
    want = list(zip(ra, rb))[1:5] + [(-1, 0.5)]
    assert [(int(g[0]), float(g[1])) for g in got] == [(p, 2 * q) for p, q in want]


def test_from_tensor_slices_of_dicts_and_python_lists():
    ds = tf.data.Dataset.from_tensor_slices({"x": [[1.0, 2.0], [3.0, 4.0]], "n": [7, 8]})
    assert ds.output_types == {"n": tf.int32, "x": tf.float32}
    el = ds.make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        got = _drain(sess, el)
    assert [g["n"] for g in got] == [7, 8]
    np.testing.assert_array_equal(got[1]["x"], [3.0, 4.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensors_of_one_get_next_see_one_element(backend):
    ds = tf.data.Dataset.from_tensor_slices((np.arange(4), np.arange(4) * 10))
    it = ds.make_one_shot_iterator()
    a, b = it.get_next()
    a2, _ = it.get_next()  # a second get_next op pulls its own element (TF1)
    with _session(backend) as sess:
        x, y = sess.run([a, b])
        assert (x, y) == (0, 0)
        x, y, z = sess.run([a + 1, b, a2])
        assert (x, y, z) == (2, 10, 2)
        assert sess.run(a) == 3
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(a)


@pytest.mark.parametrize("backend", BACKENDS)
def test_initializable_iterator_refed_with_placeholder(backend):
    data = tf.placeholder(tf.float32, [None, 3], name="data")
    it = tf.data.Dataset.from_tensor_slices(data).batch(2).make_initializable_iterator()
    rows = it.get_next()
    sums = tf.reduce_sum(rows, axis=1)
    with _session(backend) as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="initializ"):
            sess.run(sums)
        for scale, n in [(1.0, 5), (-2.0, 3)]:
            value = np.arange(3 * n, dtype=np.float32).reshape(n, 3) * scale
            sess.run(it.initializer, feed_dict={data: value})
            got = np.concatenate(_drain(sess, sums))
            np.testing.assert_allclose(got, value.sum(1))
        with pytest.raises(FeedError, match=r"'data'.*test_data.py.*\[5, 4\].*\[None, 3\]"):
            sess.run(it.initializer, feed_dict={data: np.ones((5, 4), np.float32)})
        # re-initializing in the middle restarts the stream
        value = np.ones((4, 3), np.float32)
        sess.run(it.initializer, feed_dict={data: value})
        sess.run(sums)
        sess.run(it.initializer, feed_dict={data: value * 3})
        np.testing.assert_allclose(sess.run(sums), [9.0, 9.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_reinitializable_iterator_from_structure(backend):
    train = tf.data.Dataset.from_tensor_slices((np.ones((6, 2), np.float32),
                                                np.arange(6))).batch(4)
    val = tf.data.Dataset.from_tensor_slices((np.zeros((3, 2), np.float32),
                                              -np.arange(3))).batch(2)
    it = tf.data.Iterator.from_structure(train.output_types, train.output_shapes)
    x, y = it.get_next()
    train_init, val_init = it.make_initializer(train), it.make_initializer(val)
    total = tf.reduce_sum(x) + tf.cast(tf.reduce_sum(y), tf.float32)
    with _session(backend) as sess:
        sess.run(train_init)
        assert _drain(sess, total) == [8 + 6, 4 + 9]
        sess.run(val_init)
        assert _drain(sess, total) == [-1, -2]
    with pytest.raises(TypeError, match="types"):
        it.make_initializer(tf.data.Dataset.from_tensor_slices((np.ones((2, 2)), [1, 2])))


def ref_shuffle_window(order, n, buffer_size):
    """TF1's buffer semantics: output i is one of the inputs 0 .. i + buffer_size - 1,
    and every input appears exactly once."""
    assert sorted(order) == list(range(n))
    return all(v < i + buffer_size for i, v in enumerate(order))


def _shuffled_epochs(seed, graph_seed, epochs=2, reshuffle=True, buffer_size=5, n=12):
    tf.reset_default_graph()
    tf.set_random_seed(graph_seed)
    ds = tf.data.Dataset.range(n).shuffle(buffer_size, seed=seed,
                                          reshuffle_each_iteration=reshuffle).repeat(epochs)
    nxt = ds.make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        flat = [int(v) for v in _drain(sess, nxt)]
    return [flat[k * n:(k + 1) * n] for k in range(epochs)]


def test_shuffle_buffer_semantics_and_seeds():
    a = _shuffled_epochs(seed=3, graph_seed=1)
    for epoch in a:
        assert ref_shuffle_window(epoch, 12, 5)
    assert a[0] != a[1]                                   # reshuffled each iteration
    assert a == _shuffled_epochs(seed=3, graph_seed=1)    # deterministic for the seeds
    assert a != _shuffled_epochs(seed=4, graph_seed=1)
    assert a != _shuffled_epochs(seed=3, graph_seed=2)
    same = _shuffled_epochs(seed=3, graph_seed=1, reshuffle=False)
    assert same[0] == same[1]
    assert _shuffled_epochs(seed=3, graph_seed=1, buffer_size=1)[0] == list(range(12))


def test_shuffle_buffer_draws_uniformly():
    """The first output is uniform over the first `buffer_size` inputs; the buffer holds
    positions and each chunk is one gather (the statistics of TF1's buffer)."""
    counts = np.zeros(12, int)
    for s in range(1500):
        rng = np.random.Generator(np.random.Philox(key=[s, 0]))
        (first,) = next(blocks.shuffled([(np.arange(12),)], 4, rng))
        counts[first[0]] += 1
    assert counts[4:].sum() == 0
    assert np.all(np.abs(counts[:4] - 375) < 75), counts


def test_initializable_shuffle_replays_after_reinit():
    tf.set_random_seed(7)
    data = tf.placeholder(tf.int64, [None])
    it = tf.data.Dataset.from_tensor_slices(data).shuffle(100).make_initializable_iterator()
    nxt = it.get_next()
    with tf.Session() as sess:
        orders = []
        for _ in range(2):
            sess.run(it.initializer, {data: np.arange(50)})
            orders.append([int(v) for v in _drain(sess, nxt)])
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(50))
    assert orders[0] != list(range(50))


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_vectorized_and_per_element(backend):
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6, dtype=np.int32)
    base = tf.data.Dataset.from_tensor_slices((x, y))
    elementwise = base.map(lambda f, n: (tf.tanh(f) * 3.0 + 1.0, tf.cast(n, tf.float32) / 2.0))
    assert elementwise._input is base and elementwise.vectorized
    scale = tf.constant([1.0, -1.0])
    rowwise = base.map(lambda f, n: {"s": tf.reduce_sum(f * scale) + tf.gather(f, n % 2),
                                     "n": n * n}, num_parallel_calls=4)
    assert not rowwise.vectorized  # f indexed by n, both per element: one run per element
    assert rowwise.output_shapes["s"].as_list() == []
    a, b = elementwise.batch(4).make_one_shot_iterator().get_next()
    r = rowwise.batch(4).make_one_shot_iterator().get_next()
    with _session(backend) as sess:
        got_e = _drain(sess, [a, b])
        got_r = _drain(sess, r)
    np.testing.assert_allclose(np.concatenate([g[0] for g in got_e]), np.tanh(x) * 3 + 1,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.concatenate([g[1] for g in got_e]), y / 2.0)
    np.testing.assert_allclose(np.concatenate([g["s"] for g in got_r]),
                               x[:, 0] - x[:, 1] + x[np.arange(6), y % 2], rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([g["n"] for g in got_r]), y * y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_after_batch_and_filter(backend):
    ds = tf.data.Dataset.range(10).filter(lambda v: tf.equal(tf.mod(v, 3), 0))
    assert ds.vectorized
    ds = ds.batch(2).map(lambda v: tf.reduce_sum(v * v))
    nxt = ds.make_one_shot_iterator().get_next()
    with _session(backend) as sess:
        assert [int(v) for v in _drain(sess, nxt)] == [0 + 9, 36 + 81]
    with pytest.raises(TypeError, match="scalar bool"):
        tf.data.Dataset.range(3).filter(lambda v: v * 2)


def test_cache_replays_first_pass():
    calls = tf.data.Dataset.from_tensor_slices(np.arange(5.0, dtype=np.float32))
    ds = calls.map(lambda v: v + tf.random_uniform([])).cache().repeat(3)
    nxt = ds.make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        got = np.array(_drain(sess, nxt)).reshape(3, 5)
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[0], got[2])
    assert np.all((got[0] >= np.arange(5)) & (got[0] < np.arange(5) + 1))


def test_batches_are_views_of_the_source():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(6)
    ctx = type("Ctx", (), {"value": None, "count": lambda self, d: 0})()
    first = next(ds._blocks(ctx))
    assert np.shares_memory(first[0], x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_loop_reading_from_a_dataset_converges(backend):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((256, 3)).astype(np.float32)
    true_w = np.array([[1.5], [-2.0], [0.5]], np.float32)
    ys = xs @ true_w + 0.3
    tf.set_random_seed(0)
    ds = tf.data.Dataset.from_tensor_slices((xs, ys)).shuffle(256, seed=1).batch(32).repeat(15)
    x, y = ds.make_one_shot_iterator().get_next()
    w = tf.Variable(tf.zeros([3, 1]))
    b = tf.Variable(0.0)
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
    train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        steps = 0
        while True:
            try:
                sess.run(train_op)
                steps += 1
            except tf.errors.OutOfRangeError:
                break
        w_val, b_val = sess.run([w, b])
    assert steps == 15 * 8
    np.testing.assert_allclose(w_val, true_w, atol=1e-3)
    assert abs(b_val - 0.3) < 1e-3


def test_make_callable_and_feeding_get_next_directly():
    it = tf.data.Dataset.from_tensor_slices(np.arange(3, dtype=np.float32)).make_one_shot_iterator()
    v = it.get_next()
    with tf.Session() as sess:
        step = sess.make_callable(v * 10.0)
        assert [float(step()) for _ in range(2)] == [0.0, 10.0]
        assert float(sess.run(v * 10.0, {v: 7.0})) == 70.0  # a fed get_next pulls nothing
        assert float(step()) == 20.0
        with pytest.raises(tf.errors.OutOfRangeError):
            step()


def test_compat_aliases_and_errors():
    assert tf.compat.v1.data.Dataset is tf.data.Dataset
    ds = tf.data.Dataset.range(3).map(lambda v: v + 1,
                                      num_parallel_calls=tf.data.experimental.AUTOTUNE)
    ds = ds.prefetch(tf.data.experimental.AUTOTUNE)
    with tf.Session() as sess:
        assert _drain(sess, ds.make_one_shot_iterator().get_next()) == [1, 2, 3]
    with pytest.raises(ValueError, match="first dimensions"):
        tf.data.Dataset.from_tensor_slices((np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="rank >= 1"):
        tf.data.Dataset.from_tensor_slices(np.float32(1))
    with pytest.raises(ValueError, match="no initializer"):
        _ = tf.data.Dataset.range(2).make_one_shot_iterator().initializer
    with pytest.raises(ValueError, match="batch_size"):
        tf.data.Dataset.range(2).batch(0)
    p = tf.placeholder(tf.float32, [None], name="xs")
    with pytest.raises(ValueError, match="'xs:0'.*make_initializable_iterator"):
        tf.data.Dataset.from_tensor_slices(p).make_one_shot_iterator()


@pytest.mark.parametrize("backend", BACKENDS)
def test_feedable_iterator_switches_by_string_handle(backend):
    train = tf.data.Dataset.from_tensor_slices(np.arange(100, dtype=np.float32)).repeat()
    val = tf.data.Dataset.from_tensor_slices(-np.arange(3, dtype=np.float32))
    handle = tf.placeholder(tf.string, shape=[])
    it = tf.data.Iterator.from_string_handle(handle, train.output_types, train.output_shapes)
    x = it.get_next() * 2.0
    train_it, val_it = train.make_one_shot_iterator(), val.make_initializable_iterator()
    with _session(backend) as sess:
        th, vh = sess.run([train_it.string_handle(), val_it.string_handle()])
        assert isinstance(th, bytes) and th != vh
        assert [float(sess.run(x, {handle: th})) for _ in range(3)] == [0.0, 2.0, 4.0]
        sess.run(val_it.initializer)
        assert _drain(sess, x, {handle: vh}) == [0.0, -2.0, -4.0]
        assert float(sess.run(x, {handle: th})) == 6.0  # the training stream went on
        with pytest.raises(tf.errors.InvalidArgumentError, match="handle"):
            sess.run(x, {handle: b"nonsense"})
        with pytest.raises(tf.errors.InvalidArgumentError, match="feed it"):
            sess.run(x)


def test_feeding_one_component_keeps_the_fed_value():
    it = tf.data.Dataset.from_tensor_slices((np.arange(3.0), np.arange(3.0) * 10)) \
        .make_one_shot_iterator()
    a, b = it.get_next()
    with tf.Session() as sess:
        assert sess.run([a, b], {a: 5.0}) == [5.0, 0.0]  # b pulled element 0, a fed
        assert sess.run([a, b]) == [1.0, 10.0]


def test_tf1_dataset_api_classifier_program():
    """The shape of the classic 'TensorFlow Dataset API' example (from_tensor_slices,
    repeat, batch, prefetch, initializable iterator run before the variable initializer,
    accuracy from the same get_next), with an MLP in place of the conv net."""
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((4, 16)).astype(np.float32) * 0.8
    labels_np = rng.integers(0, 4, 2000)
    images = (centers[labels_np] + rng.standard_normal((2000, 16))).astype(np.float32)
    onehot = np.eye(4, dtype=np.float32)[labels_np]
    learning_rate, num_steps, batch_size = 0.01, 300, 64

    tf.set_random_seed(0)
    dataset = tf.data.Dataset.from_tensor_slices((images, onehot))
    dataset = dataset.repeat()
    dataset = dataset.batch(batch_size)
    dataset = dataset.prefetch(batch_size)
    iterator = dataset.make_initializable_iterator()
    X, Y = iterator.get_next()
    hidden = tf.layers.dense(X, 32, activation=tf.nn.relu)
    logits = tf.layers.dense(hidden, 4)
    loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
    train_op = tf.train.AdamOptimizer(learning_rate=learning_rate).minimize(loss_op)
    correct_pred = tf.equal(tf.argmax(logits, 1), tf.argmax(Y, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))
    init = tf.global_variables_initializer()
    with tf.Session() as sess:
        sess.run(iterator.initializer)
        sess.run(init)
        accs = []
        for step in range(1, num_steps + 1):
            sess.run(train_op)
            if step % 50 == 0 or step == 1:
                loss, acc = sess.run([loss_op, accuracy])
                accs.append(acc)
    assert accs[0] < 0.8 and min(accs[-2:]) > 0.9, accs


def test_summaries_and_compiles_with_an_iterator(tmp_path):
    ds = tf.data.Dataset.from_tensor_slices(np.arange(10, dtype=np.float32))
    ds = ds.map(lambda v: v + tf.random_uniform([]) * 0.0).batch(3)  # map per element
    v = ds.make_one_shot_iterator().get_next()
    total = tf.reduce_sum(v)
    summary = tf.summary.scalar("total", total)
    with tf.Session() as sess:
        got = _drain(sess, [summary, total])
        compiles = sess.compile_count
    assert [float(t) for _, t in got] == [3.0, 12.0, 21.0, 9.0]
    assert all(isinstance(s, bytes) and b"total" in s for s, _ in got)
    assert compiles == 2  # the map function once, the step once, for 10 elements


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_size_from_a_placeholder(backend):
    batch_size = tf.placeholder(tf.int64, [])
    ds = tf.data.Dataset.range(7).batch(batch_size)
    assert ds.output_shapes.as_list() == [None]
    it = ds.make_initializable_iterator()
    nxt = it.get_next()
    with _session(backend) as sess:
        sizes = []
        for n in (3, 7):
            sess.run(it.initializer, {batch_size: n})
            sizes.append([len(b) for b in _drain(sess, nxt * 2)])
        assert sizes == [[3, 3, 1], [7]]
        with pytest.raises(tf.errors.InvalidArgumentError, match="must be > 0"):
            sess.run(it.initializer, {batch_size: 0})
            sess.run(nxt)


def test_threads_sharing_an_iterator_see_each_element_once():
    ds = tf.data.Dataset.range(400).shuffle(50, seed=2).map(lambda v: v * 3)
    nxt = ds.make_one_shot_iterator().get_next()
    seen = [[], [], []]
    with tf.Session() as sess:
        def worker(k):
            seen[k].extend(int(v) for v in _drain(sess, nxt))
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    allv = sorted(v for s in seen for v in s)
    assert allv == [3 * i for i in range(400)]
