"""Acceptance: TF1 programs that use only the foundation's names run unchanged except for
`import compiler as tf`, compiled, and agree with the interpreter and with numpy."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as tf


def mlp_program(backend, batches):
    """A TF1-style classifier forward pass: variable_scope, get_variable, name_scope,
    dense layers written out, softmax cross-entropy, accuracy, and a counter."""
    tf.reset_default_graph()
    tf.set_random_seed(1234)
    x = tf.placeholder(tf.float32, shape=[None, 8], name="x")
    labels = tf.placeholder(tf.int64, shape=[None], name="labels")
    keep = tf.placeholder_with_default(tf.constant(1.0), shape=[], name="keep")

    def dense(inputs, units, name, activation=None):
        with tf.variable_scope(name):
            w = tf.get_variable("kernel", [inputs.shape[-1], units],
                                initializer=tf.truncated_normal_initializer(stddev=0.3))
            b = tf.get_variable("bias", [units], initializer=tf.zeros_initializer())
            out = tf.matmul(inputs, w) + b
            return activation(out) if activation else out

    with tf.name_scope("model"):
        h = dense(x, 16, "hidden", tf.nn.relu) * keep
        logits = dense(h, 4, "logits")
    with tf.name_scope("loss"):
        onehot = tf.one_hot(labels, depth=4, dtype=tf.float32)
        xent = tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=logits)
        loss = tf.reduce_mean(xent)
        sparse = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits))
    probs = tf.nn.softmax(logits)
    correct = tf.equal(tf.argmax(logits, axis=1), labels)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    step = tf.Variable(0, name="step", trainable=False)
    with tf.control_dependencies([loss]):
        bump = step.assign_add(1)

    results = []
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        sess.run(tf.global_variables_initializer())
        params = sess.run({v.op.name: v for v in tf.global_variables()})
        for n in batches:
            rng = np.random.default_rng(n)
            xv = rng.standard_normal((n, 8)).astype(np.float32)
            lv = rng.integers(0, 4, n)
            out = sess.run({"loss": loss, "sparse": sparse, "probs": probs, "acc": accuracy,
                            "step": bump}, feed_dict={x: xv, labels: lv})
            results.append((xv, lv, out))
        compiles = sess.compile_count
    return params, results, compiles


def _numpy_forward(params, xv, lv):
    h = np.maximum(xv @ params["hidden/kernel"] + params["hidden/bias"], 0)
    z = h @ params["logits/kernel"] + params["logits/bias"]
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(len(lv)), lv].mean()
    return loss, np.exp(logp), (np.argmax(z, axis=1) == lv).mean()


@pytest.mark.parametrize("backend", ["llvm", "interpret"])
def test_tf1_classifier_program(backend):
    params, results, compiles = mlp_program(backend, [1, 7, 33])
    assert compiles == 3  # initializer, reading the parameters, one program for all batches
    for k, (xv, lv, out) in enumerate(results):
        loss, probs, acc = _numpy_forward(params, xv, lv)
        np.testing.assert_allclose(out["loss"], loss, rtol=1e-5)
        np.testing.assert_allclose(out["sparse"], loss, rtol=1e-5)
        np.testing.assert_allclose(out["probs"], probs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["acc"], acc)
        assert out["step"] == k + 1


def test_backends_agree_bit_for_bit_on_initial_values():
    """Same seeds, same Philox draws: the initializers give identical variables."""
    p_llvm, _, _ = mlp_program("llvm", [])
    p_ref, _, _ = mlp_program("interpret", [])
    assert p_llvm.keys() == p_ref.keys()
    for k in p_llvm:
        np.testing.assert_allclose(p_llvm[k], p_ref[k], rtol=1e-6, atol=1e-7)
        assert np.all(np.abs(p_llvm[k]) <= 0.6 + 1e-6)  # truncated at two stddevs


def test_seed_regression_forward_pass():
    """The seed's y = tanh(x^T w + b), fed at several batch sizes."""
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 3])
    w = tf.Variable(tf.random_normal([3, 1], seed=5), name="w")
    b = tf.Variable(tf.zeros([1]), name="b")
    y = tf.tanh(tf.matmul(x, w) + b)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        wv = sess.run(w)
        for n in (1, 7, 1000):
            xv = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)
            np.testing.assert_allclose(sess.run(y, {x: xv}), np.tanh(xv @ wv), rtol=1e-5,
                                       atol=1e-6)
            np.testing.assert_allclose(y.eval({x: xv}), np.tanh(xv @ wv), rtol=1e-5,
                                       atol=1e-6)
