"""TF1's queue-based input in the TF1 idiom (compiler/data/queues.py): queues, queue
runners with a Coordinator, input producers, tf.train.batch / shuffle_batch, on both
backends. Expected streams are written here from TF1's documented semantics."""

import threading

import numpy as np
import pytest

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]


def _session(backend):
    return tf.Session(config=tf.ConfigProto(backend=backend))


def _run_pipeline(sess, fetches):
    """The TF1 queue-runner loop: start the runners, run until OutOfRangeError, join."""
    coord = tf.train.Coordinator()
    threads = tf.train.start_queue_runners(sess=sess, coord=coord)
    out = []
    try:
        while not coord.should_stop():
            out.append(sess.run(fetches))
    except tf.errors.OutOfRangeError:
        pass
    finally:
        coord.request_stop()
    coord.join(threads, stop_grace_period_secs=10)
    assert not any(t.is_alive() for t in threads)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_slice_input_producer_and_batch_with_coordinator(backend):
    images = np.arange(20, dtype=np.float32).reshape(10, 2)
    labels = np.arange(10, dtype=np.int32)
    img, lab = tf.train.slice_input_producer([tf.constant(images), tf.constant(labels)],
                                             num_epochs=2, shuffle=False)
    x, y = tf.train.batch([img * 2.0, lab], batch_size=3, allow_smaller_final_batch=True)
    assert x.shape.as_list() == [None, 2]
    with _session(backend) as sess:
        sess.run(tf.local_variables_initializer())
        got = _run_pipeline(sess, [x, y])
    order = np.concatenate([labels, labels])  # two epochs in order
    want = [order[i:i + 3] for i in range(0, 20, 3)]
    assert [list(g[1]) for g in got] == [list(w) for w in want]
    for (gx, gy) in got:
        np.testing.assert_array_equal(gx, images[gy] * 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shuffle_batch_training_converges(backend):
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((200, 2)).astype(np.float32)
    ys = (xs @ np.array([[2.0], [-1.0]], np.float32) + 0.5).astype(np.float32)
    tf.set_random_seed(3)
    x1, y1 = tf.train.slice_input_producer([xs, ys], num_epochs=20, seed=5)
    xb, yb = tf.train.shuffle_batch([x1, y1], batch_size=20, capacity=100,
                                    min_after_dequeue=30, num_threads=2)
    w = tf.Variable(tf.zeros([2, 1]))
    b = tf.Variable(0.0)
    loss = tf.reduce_mean(tf.square(tf.matmul(xb, w) + b - yb))
    train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with _session(backend) as sess:
        sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
        steps = len(_run_pipeline(sess, train_op))
        w_val, b_val = sess.run([w, b])
    assert steps == 200  # 20 epochs x 200 rows / 20 per batch, no partial batch
    np.testing.assert_allclose(w_val.ravel(), [2.0, -1.0], atol=1e-3)
    assert abs(b_val - 0.5) < 1e-3


def test_range_input_producer_epochs_are_seeded_permutations():
    def epochs(graph_seed):
        tf.reset_default_graph()
        tf.set_random_seed(graph_seed)
        q = tf.train.range_input_producer(7, num_epochs=3, shuffle=True)
        i = q.dequeue()
        with tf.Session() as sess:
            return [int(v) for v in _run_pipeline(sess, i)]

    a = epochs(1)
    assert len(a) == 21
    parts = [a[k * 7:(k + 1) * 7] for k in range(3)]
    assert all(sorted(p) == list(range(7)) for p in parts)
    assert parts[0] != parts[1] or parts[1] != parts[2]
    assert a == epochs(1) and a != epochs(2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fifo_queue_ops_in_the_main_thread(backend):
    v = tf.placeholder(tf.float32, [2])
    q = tf.FIFOQueue(3, [tf.float32, tf.int32], shapes=[[2], []])
    enq = q.enqueue([v * 10.0, tf.constant(1)])
    enq_many = q.enqueue_many([tf.reshape(tf.range(6, dtype=tf.float32), [3, 2]),
                               tf.constant([7, 8, 9])])
    a, n = q.dequeue()
    many = q.dequeue_many(2)
    up_to = q.dequeue_up_to(4)
    size = q.size()
    close = q.close()
    with _session(backend) as sess:
        sess.run(enq, {v: [1.0, 2.0]})
        assert sess.run(size) == 1
        x, k = sess.run([a + 1.0, n])
        np.testing.assert_array_equal(x, [11.0, 21.0])
        assert k == 1
        sess.run(enq_many)
        m = sess.run(many)
        np.testing.assert_array_equal(m[0], [[0, 1], [2, 3]])
        np.testing.assert_array_equal(m[1], [7, 8])
        sess.run(close)
        with pytest.raises(tf.errors.CancelledError, match="closed"):
            sess.run(enq, {v: [0.0, 0.0]})
        with pytest.raises(tf.errors.OutOfRangeError, match="insufficient"):
            sess.run(many)  # 1 element left: a short dequeue_many fails and keeps it
        rest = sess.run(up_to)  # dequeue_up_to returns what a closed queue has
        np.testing.assert_array_equal(rest[0], [[4, 5]])
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(up_to)
    with tf.Session() as other:  # queue state lives per Session
        other.run(enq, {v: [3.0, 3.0]})
        assert other.run(size) == 1


def test_random_shuffle_queue_keeps_min_after_dequeue():
    q = tf.RandomShuffleQueue(capacity=10, min_after_dequeue=3, dtypes=[tf.int32], shapes=[[]],
                              seed=4)
    enq = q.enqueue_many([tf.constant(np.arange(5, dtype=np.int32))])
    x = q.dequeue()
    with tf.Session() as sess:
        sess.run(enq)
        first = [int(sess.run(x)) for _ in range(2)]  # 5 -> 3 left: both allowed
        result = {}

        def blocked():
            result["v"] = int(sess.run(x))  # 3 left == min_after_dequeue: waits
        t = threading.Thread(target=blocked)
        t.start()
        t.join(0.3)
        assert t.is_alive()
        sess.run(q.close())  # closing lets the rest drain
        t.join(5)
        rest = [result["v"]] + [int(sess.run(x)) for _ in range(2)]
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(x)
    assert sorted(first + rest) == list(range(5))


def test_coordinator_reports_a_thread_exception():
    coord = tf.train.Coordinator()

    def worker():
        with coord.stop_on_exception():
            raise ValueError("bad input row")
    threads = [threading.Thread(target=worker)]
    for t in threads:
        t.start()
    with pytest.raises(ValueError, match="bad input row"):
        coord.join(threads)
    assert coord.should_stop() and coord.joined
    clean = tf.train.Coordinator()
    clean.request_stop(tf.errors.OutOfRangeError(None, None, "end"))
    clean.join([])  # OutOfRangeError is a clean stop


def test_runner_error_stops_the_coordinator():
    q = tf.FIFOQueue(4, [tf.float32], shapes=[[2]])
    bad = q.enqueue([tf.constant([1.0, 2.0, 3.0])])  # wrong shape for the queue
    tf.train.add_queue_runner(tf.train.QueueRunner(q, [bad]))
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess, coord)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \[3\].*\[2\]"):
            coord.join(threads, stop_grace_period_secs=5)


def test_string_input_producer_yields_bytes():
    q = tf.train.string_input_producer(["a.csv", "b.csv"], num_epochs=1, shuffle=False)
    name = q.dequeue()
    with tf.Session() as sess:
        assert _run_pipeline(sess, name) == [b"a.csv", b"b.csv"]


def test_queue_errors():
    q = tf.FIFOQueue(2, [tf.float32])
    with pytest.raises(ValueError, match="needs shapes"):
        q.dequeue_many(2)
    with pytest.raises(ValueError, match="2 values for a queue of 1"):
        q.enqueue([1.0, 2.0])
    with pytest.raises(ValueError, match="fully defined"):
        tf.train.batch([tf.placeholder(tf.float32, [None])], 4)


def test_closing_the_session_wakes_a_blocked_runner():
    q = tf.FIFOQueue(1, [tf.int32], shapes=[[]])
    enq = q.enqueue([tf.constant(1)])
    tf.train.add_queue_runner(tf.train.QueueRunner(q, [enq]))
    sess = tf.Session()
    threads = tf.train.start_queue_runners(sess)  # no coordinator: only close stops it
    assert int(sess.run(q.dequeue())) == 1
    sess.close()
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("backend", BACKENDS)
def test_input_producer_and_batch_of_a_dict_with_enqueue_many(backend):
    rows = tf.constant(np.arange(12, dtype=np.float32).reshape(6, 2))
    q = tf.train.input_producer(rows * 1.0, num_epochs=1, shuffle=False, capacity=8)
    row = q.dequeue()
    pairs = tf.stack([row, row * 10.0])  # one element -> 2 rows for enqueue_many
    out = tf.train.batch({"r": pairs, "k": tf.constant([0, 1])}, batch_size=4,
                         enqueue_many=True, allow_smaller_final_batch=True)
    assert sorted(out) == ["k", "r"] and out["r"].shape.as_list() == [None, 2]
    with _session(backend) as sess:
        got = _run_pipeline(sess, out)
    r = np.concatenate([g["r"] for g in got])
    want = np.stack([np.arange(12.0).reshape(6, 2), np.arange(12.0).reshape(6, 2) * 10],
                    axis=1).reshape(12, 2)
    np.testing.assert_array_equal(r, want)
    assert [len(g["k"]) for g in got] == [4, 4, 4]
    np.testing.assert_array_equal(np.concatenate([g["k"] for g in got]), [0, 1] * 6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_producers_with_limits_known_at_run_time(backend):
    """The PTB tutorial's `range_input_producer(epoch_size)` with epoch_size a tensor, and
    slice_input_producer over a placeholder-shaped tensor (first dim symbolic)."""
    raw = tf.placeholder(tf.int32, [None], name="raw")
    epoch_size = (tf.size(raw) - 1) // 2
    i = tf.train.range_input_producer(epoch_size, num_epochs=2, shuffle=False).dequeue()
    table = tf.placeholder(tf.float32, [None, 2], name="table")
    (row,) = tf.train.slice_input_producer([table], num_epochs=1, shuffle=False)
    with _session(backend) as sess:
        # the runners compute limits from these feeds: run them by hand with the feeds
        raw_v, table_v = np.arange(7, dtype=np.int32), np.arange(6.0).reshape(3, 2)
        enq_i, enq_row = [qr.enqueue_ops[0] for qr in tf.get_collection(
            tf.GraphKeys.QUEUE_RUNNERS)]
        for _ in range(2):
            sess.run(enq_i, {raw: raw_v})
        sess.run(enq_row, {table: table_v})
        assert [int(sess.run(i)) for _ in range(6)] == [0, 1, 2, 0, 1, 2]
        assert [sess.run(row, {table: table_v}).tolist() for _ in range(3)] == \
            table_v.tolist()
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(enq_i, {raw: raw_v})  # num_epochs passes done
