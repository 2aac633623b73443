"""Gradients and training through `tf.nn.dynamic_rnn` (its while loop): against
static_rnn's gradients, finite differences and jax.grad of a numpy-written LSTM,
DropoutWrapper's masks read back by the backward loop, one compile of a training step
for every sequence length, and a small model that trains (numerics of the forward pass:
tests/test_dynamic_rnn.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_rnn_cells import _short

import compiler as fc

jax.config.update("jax_enable_x64", True)

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]
RNG = np.random.default_rng(7)


def _config(backend):
    return fc.ConfigProto(backend="interpret") if backend == "interpret" else None


def _rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _values(sess, prefix):
    names = [v.name for v in fc.global_variables() if v.name.startswith(prefix)]
    vals = sess.run([v for v in fc.global_variables() if v.name.startswith(prefix)])
    return _short(names, vals, prefix)


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_rnn_cell_and_gradients_equal_static_rnn(backend):
    """dynamic_rnn and static_rnn of one cell share its variables; their outputs,
    states and gradients (w.r.t. the weights and the inputs) agree."""
    x = fc.placeholder(fc.float64, [3, 4, 2], name="x")
    lengths = fc.constant([4, 1, 3])
    cell = fc.nn.rnn_cell.MultiRNNCell([fc.nn.rnn_cell.BasicLSTMCell(3, dtype=fc.float64),
                                        fc.nn.rnn_cell.GRUCell(2, dtype=fc.float64)])
    d_out, d_st = fc.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=fc.float64)
    s_out, s_st = fc.nn.static_rnn(cell, fc.unstack(x, axis=1), sequence_length=lengths,
                                   dtype=fc.float64)
    weights = fc.trainable_variables()
    assert len(weights) == 6
    d_loss = fc.reduce_sum(fc.sin(d_out)) + fc.reduce_sum(d_st[0].c) * fc.reduce_sum(d_st[1])
    s_loss = fc.reduce_sum(fc.sin(fc.stack(s_out, 1))) + \
        fc.reduce_sum(s_st[0].c) * fc.reduce_sum(s_st[1])
    d_g = fc.gradients(d_loss, weights + [x])
    s_g = fc.gradients(s_loss, weights + [x])
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        got, want = sess.run([[d_loss] + d_g, [s_loss] + s_g], {x: _rand(3, 4, 2,
                                                                          dtype=np.float64)})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_by_finite_differences(backend):
    """d loss / d (inputs, initial state) against central differences in a random
    direction (the weights: see the static_rnn and jax comparisons)."""
    x = fc.placeholder(fc.float64, [2, 3, 2], name="x")
    h0 = fc.placeholder(fc.float64, [2, 3], name="h0")
    cell = fc.nn.rnn_cell.BasicRNNCell(3, dtype=fc.float64)
    out, st = fc.nn.dynamic_rnn(cell, x, sequence_length=[3, 1], initial_state=h0)
    w = fc.constant(_rand(2, 3, 3, dtype=np.float64))
    loss = fc.reduce_sum(fc.tanh(out) * w) + fc.reduce_sum(st * st)
    gx, gh = fc.gradients(loss, [x, h0])
    xv, hv = _rand(2, 3, 2, dtype=np.float64), _rand(2, 3, dtype=np.float64)
    dx, dh = _rand(2, 3, 2, dtype=np.float64), _rand(2, 3, dtype=np.float64)
    eps = 1e-6
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        a, b = sess.run([gx, gh], {x: xv, h0: hv})
        plus = sess.run(loss, {x: xv + eps * dx, h0: hv + eps * dh})
        minus = sess.run(loss, {x: xv - eps * dx, h0: hv - eps * dh})
    np.testing.assert_allclose(np.sum(a * dx) + np.sum(b * dh), (plus - minus) / (2 * eps),
                               rtol=1e-6)


def test_gradient_matches_jax_on_a_numpy_written_lstm():
    x = fc.placeholder(fc.float64, [2, 5, 3], name="x")
    cell = fc.nn.rnn_cell.BasicLSTMCell(4, dtype=fc.float64)
    out, st = fc.nn.dynamic_rnn(cell, x, sequence_length=[5, 2], dtype=fc.float64)
    loss = fc.reduce_sum(out ** 2) + fc.reduce_sum(st.c)
    kernel, bias = fc.trainable_variables()
    grads = fc.gradients(loss, [kernel, bias, x])
    xv = _rand(2, 5, 3, dtype=np.float64)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        got = sess.run([loss] + grads, {x: xv})
        kv, bv = sess.run([kernel, bias])

    def ref(k, b, xs):
        c = h = jnp.zeros((2, 4))
        lens = jnp.array([5, 2])
        total = 0.0
        for t in range(5):
            i, j, f, o = jnp.split(jnp.concatenate([xs[:, t], h], 1) @ k + b, 4, axis=1)
            nc = c * jax.nn.sigmoid(f + 1.0) + jax.nn.sigmoid(i) * jnp.tanh(j)
            nh = jnp.tanh(nc) * jax.nn.sigmoid(o)
            done = (t >= lens)[:, None]
            total = total + jnp.sum(jnp.where(done, 0.0, nh) ** 2)
            c, h = jnp.where(done, c, nc), jnp.where(done, h, nh)
        return total + jnp.sum(c)
    value, grads_ref = jax.jit(jax.value_and_grad(ref, argnums=(0, 1, 2)))(kv, bv, xv)
    want = [value] + list(grads_ref)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(r), rtol=1e-9, atol=1e-12)


def test_compiled_once_for_every_sequence_length():
    x = fc.placeholder(fc.float32, [None, None, 2], name="x")
    cell = fc.nn.rnn_cell.BasicLSTMCell(3)
    out, st = fc.nn.dynamic_rnn(cell, x, dtype=fc.float32)
    loss = fc.reduce_mean(out ** 2)
    train = fc.train.GradientDescentOptimizer(0.1).minimize(loss)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        for steps in (5, 17, 40):
            sess.run([train, loss], {x: _rand(2, steps, 2)})
        assert sess.compile_count == 2   # the initializer and the training step


def test_training_converges():
    """Learn the sum of a variable-length sequence (outputs past the end are zero)."""
    fc.set_random_seed(3)
    x = fc.placeholder(fc.float32, [None, None, 1], name="x")
    lengths = fc.placeholder(fc.int32, [None], name="len")
    y = fc.placeholder(fc.float32, [None, 1], name="y")
    cell = fc.nn.rnn_cell.GRUCell(8)
    _, state = fc.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=fc.float32)
    pred = fc.layers.dense(state, 1)
    loss = fc.reduce_mean((pred - y) ** 2)
    train = fc.train.AdamOptimizer(0.03).minimize(loss)
    rng = np.random.default_rng(0)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        first = last = None
        for _ in range(100):
            n = int(rng.integers(3, 9))
            xv = rng.uniform(-1, 1, (16, n, 1)).astype(np.float32)
            lv = rng.integers(1, n + 1, 16).astype(np.int32)
            mask = np.arange(n)[None, :] < lv[:, None]
            yv = (xv[..., 0] * mask).sum(1, keepdims=True) / 4
            _, value = sess.run([train, loss], {x: xv, lengths: lv, y: yv})
            first = value if first is None else first
            last = value
    assert last < 0.1 * first, (first, last)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_wrapper_gradient_uses_the_forward_draws(backend):
    """DropoutWrapper draws new masks in every step; the backward loop reads the forward
    pass's masks back. Central differences with the Session's run counter held fixed
    (so every run draws the same masks) check it."""
    x = fc.placeholder(fc.float64, [2, 4, 3], name="x")
    cell = fc.nn.rnn_cell.DropoutWrapper(
        fc.nn.rnn_cell.BasicLSTMCell(5, dtype=fc.float64), input_keep_prob=0.7,
        output_keep_prob=0.6, state_keep_prob=0.8, seed=3)
    out, st = fc.nn.dynamic_rnn(cell, x, dtype=fc.float64)
    loss = fc.reduce_sum(fc.sin(out)) + fc.reduce_sum(st.h)
    (g,) = fc.gradients(loss, x)
    xv, d = _rand(2, 4, 3, dtype=np.float64), _rand(2, 4, 3, dtype=np.float64)
    eps = 1e-6
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())

        def run(fetch, value):
            sess._run_counter = 41   # the next run draws with counter 42, every time
            return sess.run(fetch, {x: value})
        base, grad = run([loss, g], xv)
        plus, minus = run(loss, xv + eps * d), run(loss, xv - eps * d)
        other = sess.run(loss, {x: xv})              # another counter: other masks
    np.testing.assert_allclose(np.sum(grad * d), (plus - minus) / (2 * eps), rtol=1e-6)
    assert other != base
