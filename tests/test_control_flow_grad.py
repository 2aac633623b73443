"""Gradients through tf.cond and tf.while_loop (compiler/autodiff/control_flow_grad.py):
finite differences on both backends, jax.grad of the same program written with
jax.lax.cond / fori_loop, weights captured by a loop body summed over iterations, a
data-dependent trip count, TensorArrays as loop variables, a cond inside a loop, a
symbolic bound, back_prop=False, and the error without maximum_iterations."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_check import check_grads

import compiler as tf

jax.config.update("jax_enable_x64", True)

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]


def _session(backend):
    return tf.Session(config=tf.ConfigProto(backend="interpret") if backend == "interpret"
                      else None)


def _loop(x, w):
    """y <- sin(y * w) + 0.1, four times (a fixed trip count, captured weights)."""
    _, y = tf.while_loop(lambda i, y: i < 4, lambda i, y: (i + 1, tf.sin(y * w) + 0.1),
                         (tf.constant(0), x), maximum_iterations=10)
    return y


def _jax_loop(x, w):
    return jax.lax.fori_loop(0, 4, lambda i, y: jnp.sin(y * w) + 0.1, x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_gradient_finite_differences(backend):
    check_grads(_loop, [((3,), -1, 1), ((3,), 0.5, 1.5)], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_data_dependent_trip_count(backend):
    """while y < 10: y = y * w (the trip count depends on the data; the gradient is
    exact between the points where it changes)."""
    def build(x, w):
        def body(y, k):
            return y * w, k + 1.0
        y, k = tf.while_loop(lambda y, k: tf.reduce_sum(y) < 10.0, body, (x, x[0] * 0),
                             maximum_iterations=50)
        return y * (k + 1.0)
    check_grads(build, [((2,), 0.5, 1.0), ((2,), 1.5, 1.6)], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_gradient_finite_differences(backend):
    def build(x, w):
        pred = tf.reduce_sum(x) > 0
        return tf.cond(pred, lambda: tf.sin(x) * w, lambda: x * x + w)
    check_grads(build, [((3,), 0.1, 1), ((3,), -1, 1)], backend)
    check_grads(build, [((3,), -1, -0.1), ((3,), -1, 1)], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_inside_a_loop_and_a_loop_inside_a_cond(backend):
    def build(x):
        def body(i, y):
            return i + 1, tf.cond(tf.reduce_sum(y) > 1.0, lambda: y * 0.5, lambda: y * y + 0.3)
        _, y = tf.while_loop(lambda i, y: i < 5, body, (tf.constant(0), x),
                             maximum_iterations=5)
        return tf.cond(tf.reduce_sum(x) > 0, lambda: _loop(y, x), lambda: y)
    check_grads(build, [((3,), 0.1, 0.5)], backend)


def test_matches_jax():
    x = tf.placeholder(tf.float64, [3])
    w = tf.placeholder(tf.float64, [3])
    y = _loop(x, w)
    c = tf.cond(tf.reduce_sum(y) > 0.5, lambda: y * w, lambda: tf.exp(y))
    loss = tf.reduce_sum(c ** 2)
    grads = tf.gradients(loss, [x, w])

    def ref(xv, wv):
        yv = _jax_loop(xv, wv)
        cv = jax.lax.cond(jnp.sum(yv) > 0.5, lambda: yv * wv, lambda: jnp.exp(yv))
        return jnp.sum(cv ** 2)
    for xv in (np.array([0.3, -0.2, 0.9]), np.array([-1.0, -2.0, -0.5])):
        wv = np.array([1.2, 0.7, 1.1])
        with tf.Session() as sess:
            got = sess.run([loss] + grads, {x: xv, w: wv})
        want = [ref(xv, wv)] + list(jax.grad(ref, argnums=(0, 1))(xv, wv))
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, np.asarray(r), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_captured_weights_sum_over_iterations_with_a_symbolic_bound(backend):
    """h <- tanh(h @ W + x_t) over the rows of x (a TensorArray read per step, the trip
    count x's symbolic leading extent); dW sums every step's contribution."""
    x = tf.placeholder(tf.float64, [None, 2], name="x")
    w = tf.Variable(np.array([[0.5, -0.3], [0.2, 0.8]]), name="w")
    n = tf.shape(x)[0]
    xs = tf.TensorArray(tf.float64, size=n).unstack(x)
    hs = tf.TensorArray(tf.float64, size=n, element_shape=[2])

    def body(t, h, hs):
        h = tf.tanh(tf.reshape(tf.matmul(tf.reshape(h, [1, 2]), w), [2]) + xs.read(t))
        return t + 1, h, hs.write(t, h)
    _, h, hs = tf.while_loop(lambda t, h, hs: t < n, body,
                             (tf.constant(0), tf.zeros([2], tf.float64), hs),
                             maximum_iterations=n)
    loss = tf.reduce_sum(hs.stack() ** 2) + tf.reduce_sum(h)
    gw, gx = tf.gradients(loss, [w, x])
    xv = np.random.default_rng(0).standard_normal((6, 2))
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run([loss, gw, gx], {x: xv})
        wv = sess.run(w)

    def ref(wv, xv):
        def step(h, xt):
            h = jnp.tanh(h @ wv + xt)
            return h, h
        h, hs = jax.lax.scan(step, jnp.zeros(2), xv)
        return jnp.sum(hs ** 2) + jnp.sum(h)
    want = [ref(wv, xv)] + list(jax.grad(ref, argnums=(0, 1))(wv, xv))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(r), rtol=1e-9, atol=1e-12)


def test_back_prop_false_and_unrelated_loops_give_none():
    x = tf.placeholder(tf.float32, [2])
    y = tf.while_loop(lambda y: tf.reduce_sum(y) < 5.0, lambda y: y * 2.0, [x],
                      back_prop=False, maximum_iterations=10)
    assert tf.gradients(tf.reduce_sum(y), x) == [None]


def test_a_loop_without_maximum_iterations_names_the_loop():
    x = tf.placeholder(tf.float32, [2])
    y = tf.while_loop(lambda y: tf.reduce_sum(y) < 5.0, lambda y: y * 2.0, [x],
                      name="doubling")
    with pytest.raises(ValueError, match="doubling.*maximum_iterations"):
        tf.gradients(tf.reduce_sum(y), x)
    n = tf.placeholder(tf.int32, [])
    z = tf.while_loop(lambda z: tf.reduce_sum(z) < 5.0, lambda z: z * 2.0, [x],
                      maximum_iterations=n, name="fed_bound")
    with pytest.raises(ValueError, match="fed_bound.*only known at run time"):
        tf.gradients(tf.reduce_sum(z), x)


def test_training_through_a_loop_compiles_once_for_every_trip_count():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(tf.ones([3]) * 0.5)
    n = tf.shape(x)[0]
    xs = tf.TensorArray(tf.float32, size=n).unstack(x)
    _, acc = tf.while_loop(lambda t, a: t < n, lambda t, a: (t + 1, a * w + xs.read(t)),
                           (tf.constant(0), tf.zeros([3])), maximum_iterations=n)
    loss = tf.reduce_sum((acc - 1.0) ** 2)
    train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    rng = np.random.default_rng(1)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        losses = [sess.run([train, loss], {x: rng.uniform(0, 0.3, (k, 3))})[1]
                  for k in (3, 30, 300, 3)]
        assert sess.compile_count == 2
    assert np.all(np.isfinite(losses))


@pytest.mark.parametrize("backend", BACKENDS)
def test_tf1_counting_loop_with_an_unshaped_tensor_array(backend):
    """The TF1 idiom: `while i < n` without maximum_iterations, a TensorArray made
    without element_shape and first written in the body. The element shape comes from a
    probe trace that leaves no ops behind; the gradient's bound is n."""
    def build(x):
        n = tf.shape(x)[0]
        out = tf.TensorArray(tf.float64, size=n)

        def body(i, h, out):
            h = tf.tanh(h * x[i] + 0.2)
            return i + 1, h, out.write(i, h * h)
        _, h, out = tf.while_loop(lambda i, h, out: i < n, body,
                                  [0, tf.ones([2], tf.float64), out])
        return out.stack() * tf.reduce_sum(h)
    check_grads(build, [dict(shape=(None, 2), feed=(4, 2))], backend)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [3, 2])
        build(x)
        names = [op.name for op in g.get_operations()]
    assert not any("probe" in n for n in names)
    assert len(names) == len(set(names))
    assert "while/TensorArrayWrite/dynamic_update_slice" in names


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_loop_variable_passed_through_unchanged(backend):
    """A TensorArray handed through the loop unchanged (TF1 programs pass input arrays
    as loop variables too) is read per step; its gradient sums the steps' reads, and it
    needs no per-iteration stack (the loop has only the counter and h stacked)."""
    def build(x, w):
        xs = tf.TensorArray(tf.float64, size=3).unstack(x)

        def body(t, h, xs):
            return t + 1, tf.tanh(h * w + xs.read(t)), xs
        _, h, _ = tf.while_loop(lambda t, h, xs: t < 3, body,
                                [0, tf.zeros([2], tf.float64), xs])
        return h
    check_grads(build, [((3, 2), -1, 1), ((2,), -1, 1)], backend)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [3, 2])
        tf.gradients(build(x, tf.ones([2], tf.float64)), x)
        stacks = [op for op in g.get_operations()
                  if re.search(r"/stack(_\d+)?$", op.name) and op.type == "broadcast"]
    assert [op.outputs[0].shape.as_list() for op in stacks] == [[3], [3, 2]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_loops(backend):
    """A loop inside a loop body: the outer backward loop recomputes the inner loop and
    differentiates it with its own stacks, inside the outer backward body."""
    def build(x, w):
        def outer(i, y):
            _, z = tf.while_loop(lambda j, z: j < 3,
                                 lambda j, z: (j + 1, tf.sin(z * w) + y * 0.1),
                                 (tf.constant(0), y), maximum_iterations=3)
            return i + 1, z
        _, y = tf.while_loop(lambda i, y: i < 2, outer, (tf.constant(0), x),
                             maximum_iterations=2)
        return y
    check_grads(build, [((2,), -1, 1), ((2,), 0.5, 1.5)], backend)


def test_draws_nested_deeper_than_the_loop_body_are_refused():
    x = tf.placeholder(tf.float32, [2])

    def body(i, y):
        noisy = tf.cond(i > 0, lambda: y * tf.random_uniform([2], seed=1), lambda: y)
        return i + 1, noisy
    _, y = tf.while_loop(lambda i, y: i < 3, body, (tf.constant(0), x),
                         maximum_iterations=3, name="noisy_loop")
    with pytest.raises(NotImplementedError, match="random.*nested in the body of "
                                                  "while_loop 'noisy_loop'"):
        tf.gradients(tf.reduce_sum(y), x)


def test_the_forward_loop_runs_once_and_gets_the_stacks():
    """The gradient extends the user's loop with its stacks (as TF1 pushes onto stacks
    in the forward loop) instead of running a second forward loop; a second
    tf.gradients call reuses them."""
    x = tf.placeholder(tf.float32, [3])
    y = _loop(x, tf.constant([0.5, 1.0, 1.5]))
    loop = y.op
    outputs = len(loop.outputs)
    tf.gradients(tf.reduce_sum(y), x)
    tf.gradients(tf.reduce_sum(y * y), x)
    whiles = [op for op in tf.get_default_graph().get_operations() if op.type == "While"]
    assert len(whiles) == 3                   # the user's loop and two backward loops
    assert len(loop.outputs) == outputs + 2   # an iteration counter and y's stack (the
    # loop's own counters are not read back: y's update does not use them)
