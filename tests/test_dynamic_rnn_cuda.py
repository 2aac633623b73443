"""dynamic_rnn and its gradient (TensorArrays written in place, the gradient's forward
and backward loops) on the CUDA backend, run on the CPU through tests/cuda_emulator.py,
against the interpreter."""

import numpy as np
import pytest
from cuda_emulator import emulated_gpu

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")


@pytest.fixture(scope="module")
def gpu():
    with emulated_gpu() as dev:
        yield dev


def test_emulated_dynamic_lstm_and_its_gradient(gpu):
    x = tf.placeholder(tf.float32, [None, None, 3], name="x")
    lengths = tf.placeholder(tf.int32, [None], name="len")
    cell = tf.nn.rnn_cell.BasicLSTMCell(4)
    out, st = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
    loss = tf.reduce_sum(out ** 2) + tf.reduce_sum(st.c)
    fetches = [out, st.h, loss] + tf.gradients(loss, tf.trainable_variables() + [x])
    init = tf.global_variables_initializer()
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((2, 5, 3)).astype(np.float32)
    feeds = {x: xv, lengths: [5, 2]}
    results = {}
    for device in ("interpret", "gpu"):
        config = tf.ConfigProto(backend="interpret") if device == "interpret" \
            else tf.ConfigProto(device="gpu")
        with tf.Session(config=config) as sess:
            sess.run(init)
            results[device] = sess.run(fetches, feeds)
    # the variables start from the same seeded initializers in both sessions
    for g, w in zip(results["gpu"], results["interpret"]):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
