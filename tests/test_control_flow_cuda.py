"""Control flow on the CUDA backend, run on the CPU through tests/cuda_emulator.py: the
host schedule's loops and branches read the predicate back from the device, the
kernels of a body are launched once per iteration from one compile, and a fault inside
a loop stops it with the CPU runtime's message."""

import numpy as np
import pytest
from cuda_emulator import emulated_gpu

import compiler as tf
from runtime.errors import ExecutionError

pytestmark = pytest.mark.usefixtures("fresh_default_graph")


@pytest.fixture(scope="module")
def gpu():
    with emulated_gpu() as dev:
        yield dev


def _both(fetches, feeds):
    out = {}
    for device in ("interpret", "gpu"):
        config = tf.ConfigProto(backend="interpret") if device == "interpret" \
            else tf.ConfigProto(device="gpu")
        with tf.Session(config=config) as sess:
            out[device] = sess.run(fetches, feeds)
            if device == "gpu":
                assert sess.compile_count == 1
    return out["interpret"], out["gpu"]


def test_emulated_while_and_cond(gpu):
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.placeholder(tf.int32, [])

    def body(i, v, t):
        v2 = tf.cond(tf.equal(i % 3, 0), lambda: tf.nn.softmax(v), lambda: tf.tanh(v * 1.5))
        return i + 1, v2, t + tf.reduce_sum(v2)

    outs = tf.while_loop(lambda i, v, t: i < n, body, [tf.constant(0), x, tf.constant(0.0)])
    rng = np.random.default_rng(0)
    for rows, trips in ((2, 0), (5, 4), (1, 9)):
        feeds = {x: rng.standard_normal((rows, 3)).astype(np.float32), n: trips}
        want, got = _both(list(outs), feeds)
        assert got[0] == want[0] == trips
        for g, w in zip(got[1:], want[1:]):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_emulated_nested_loops_and_a_fault_inside(gpu):
    x = tf.placeholder(tf.float32, [None])
    shift = tf.placeholder(tf.int32, [])

    def outer(i, total):
        _, s = tf.while_loop(lambda j, a: j <= i,
                             lambda j, a: (j + 1, a + tf.gather(x, j + shift, name="pick")),
                             [tf.constant(0), tf.constant(0.0)])
        return i + 1, total + s

    _, total = tf.while_loop(lambda i, t: i < 3, outer, [tf.constant(0), tf.constant(0.0)])
    xv = np.array([1.0, 2.0, 4.0, 8.0], np.float32)
    want, got = _both(total, {x: xv, shift: 1})
    assert got == want == (2.0) + (2.0 + 4.0) + (2.0 + 4.0 + 8.0)
    with tf.Session(config=tf.ConfigProto(device="gpu")) as sess:
        with pytest.raises(ExecutionError, match="pick"):
            sess.run(total, {x: xv, shift: 2})


def test_emulated_random_draws_in_a_loop_match_the_interpreter(gpu):
    tf.set_random_seed(3)
    _, out = tf.while_loop(lambda i, a: i < 5,
                           lambda i, a: (i + 1, a * 0.5 + tf.random_uniform([6])),
                           [tf.constant(0), tf.zeros([6])])
    want, got = _both(out, None)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", range(4))
def test_emulated_random_nested_control_flow(gpu, seed):
    from test_control_flow_compiled import _random_value
    rng = np.random.default_rng(seed)
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 3])
    outs = [_random_value(rng, 0, [x, y]) for _ in range(2)]
    rows = int(rng.integers(1, 5))
    feeds = {x: rng.standard_normal((rows, 3)).astype(np.float32),
             y: rng.standard_normal((rows, 3)).astype(np.float32)}
    want, got = _both(outs, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
