"""Whole TF1 programs written against `import compiler as tf`, checked against numpy:
an MLP classifier's loss and accuracy, and an unrolled LSTM over a symbolic batch."""

import numpy as np
import pytest

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(4)


def dense(inp, units, scope):
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        w = tf.get_variable("w", [inp.shape[-1], units],
                            initializer=tf.glorot_uniform_initializer())
        b = tf.get_variable("b", [units], initializer=tf.constant_initializer(0.1))
        return tf.nn.bias_add(tf.matmul(inp, w), b)


def test_mlp_loss_and_accuracy():
    tf.set_random_seed(0)
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    h = tf.nn.relu(dense(x, 8, "l1"))
    logits = dense(h, 3, "l2")
    xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    loss = tf.reduce_mean(xent, name="loss")
    correct = tf.equal(tf.argmax(logits, 1), labels)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    params = [v for v in tf.trainable_variables()]
    assert [v.name for v in params] == ["l1/w:0", "l1/b:0", "l2/w:0", "l2/b:0"]
    with tf.Session(config=tf.ConfigProto(backend="interpret")) as sess:
        sess.run(tf.global_variables_initializer())
        w1, b1, w2, b2 = sess.run(params)
        for n in (5, 9):
            data = RNG.normal(size=(n, 4)).astype(np.float32)
            y = RNG.integers(0, 3, size=n)
            got_loss, got_acc = sess.run([loss, accuracy], {x: data, labels: y})
            z = np.maximum(data @ w1 + b1, 0) @ w2 + b2
            logp = z - z.max(1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(1, keepdims=True))
            np.testing.assert_allclose(got_loss, -logp[np.arange(n), y].mean(), rtol=1e-5)
            np.testing.assert_allclose(got_acc, (z.argmax(1) == y).mean())
    assert sess.graph.get_tensor_by_name("loss:0") is loss


def lstm_step(x_t, h, c, units):
    with tf.variable_scope("lstm", reuse=tf.AUTO_REUSE):
        w = tf.get_variable("W", [x_t.shape[1] + units, 4 * units])
        b = tf.get_variable("b", [4 * units], initializer=tf.zeros_initializer())
    z = tf.matmul(tf.concat([x_t, h], 1), w) + b
    i, j, f, o = tf.split(z, 4, axis=1)
    c = c * tf.sigmoid(f + 1.0) + tf.sigmoid(i) * tf.tanh(j)
    return tf.tanh(c) * tf.sigmoid(o), c


def np_lstm(xs, w, b, units):
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros((xs.shape[0], units), np.float32)
    c = np.zeros_like(h)
    for t in range(xs.shape[1]):
        z = np.concatenate([xs[:, t], h], 1) @ w + b
        i, j, f, o = np.split(z, 4, axis=1)
        c = c * sig(f + 1) + sig(i) * np.tanh(j)
        h = np.tanh(c) * sig(o)
    return h


def test_unrolled_lstm_on_a_symbolic_batch():
    units, steps = 3, 4
    x = tf.placeholder(tf.float32, [None, steps, 2])
    h = tf.zeros([tf.shape(x)[0], units])
    c = tf.zeros_like(h)
    for t in range(steps):
        h, c = lstm_step(x[:, t, :], h, c, units)
    assert h.shape.as_list() == [None, units]
    assert len(tf.global_variables()) == 2
    with tf.Session(config=tf.ConfigProto(backend="interpret")) as sess:
        sess.run(tf.global_variables_initializer())
        w, b = sess.run(tf.global_variables())
        for n in (1, 6):
            data = RNG.normal(size=(n, steps, 2)).astype(np.float32)
            np.testing.assert_allclose(sess.run(h, {x: data}), np_lstm(data, w, b, units),
                                       rtol=1e-5, atol=1e-6)
