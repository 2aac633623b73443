"""`tf.nn.dynamic_rnn` and `tf.nn.bidirectional_dynamic_rnn` on a while_loop, in the TF1
idiom: numerics against a numpy LSTM/GRU written here from TF1's formulas (both
backends), `sequence_length` (outputs past a row's end are zero, its state copied
through), `time_major`, `initial_state`, TF1's variable names (shared with static_rnn),
gradients against static_rnn's, finite differences and jax.grad, one compile for every
sequence length, and a small model that trains."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_rnn_cells import _np_gru, _np_lstm, _np_reverse_sequence, _np_static_rnn, _short

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
@pytest.mark.parametrize("time_major", [False, True])
def test_lstm_with_sequence_length_matches_numpy(backend, time_major):
    shape = [None, None, 3]
    x = fc.placeholder(fc.float32, shape, name="x")
    lengths = fc.placeholder(fc.int32, [None], name="len")
    cell = fc.nn.rnn_cell.BasicLSTMCell(5)
    outputs, state = fc.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=fc.float32,
                                       time_major=time_major)
    assert sorted(v.name for v in fc.global_variables()) == [
        "rnn/basic_lstm_cell/bias:0", "rnn/basic_lstm_cell/kernel:0"]
    xv = _rand(4, 6, 3)            # batch-major data
    lv = np.array([6, 2, 0, 4], np.int32)
    feed = xv.transpose(1, 0, 2) if time_major else xv
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        out, st = sess.run([outputs, state], {x: feed, lengths: lv})
        v = _values(sess, "rnn/basic_lstm_cell/")
    zeros = np.zeros((4, 5), np.float32)

    def step(xt, s):
        h, c = _np_lstm(xt, s[0], s[1], v)
        return h, (c, h)
    want, (c, h) = _np_static_rnn(step, list(xv.transpose(1, 0, 2)), (zeros, zeros), lv)
    want = np.stack(want, 0 if time_major else 1)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(st.c, c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(st.h, h, rtol=1e-5, atol=1e-5)
    assert np.all(out[2] == 0) if not time_major else np.all(out[:, 2] == 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gru_with_initial_state_and_a_static_shape(backend):
    x = fc.placeholder(fc.float32, [2, 4, 3], name="x")
    h0 = fc.placeholder(fc.float32, [2, 6], name="h0")
    cell = fc.nn.rnn_cell.GRUCell(6)
    outputs, state = fc.nn.dynamic_rnn(cell, x, initial_state=h0, scope="enc")
    assert outputs.shape.as_list() == [2, 4, 6]
    xv, hv = _rand(2, 4, 3), _rand(2, 6)
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        out, st = sess.run([outputs, state], {x: xv, h0: hv})
        v = _values(sess, "enc/gru_cell/")
    h, want = hv, []
    for t in range(4):
        h = _np_gru(xv[:, t], h, v)
        want.append(h)
    np.testing.assert_allclose(out, np.stack(want, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(st, h, rtol=1e-5, atol=1e-5)


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
    want = [ref(kv, bv, xv)] + list(jax.grad(ref, argnums=(0, 1, 2))(kv, bv, xv))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(r), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bidirectional_dynamic_rnn(backend):
    x = fc.placeholder(fc.float32, [None, None, 2], name="x")
    lengths = fc.placeholder(fc.int32, [None], name="len")
    fw, bw = fc.nn.rnn_cell.GRUCell(3), fc.nn.rnn_cell.GRUCell(3)
    (o_fw, o_bw), (s_fw, s_bw) = fc.nn.bidirectional_dynamic_rnn(
        fw, bw, x, sequence_length=lengths, dtype=fc.float32)
    names = sorted(v.name for v in fc.global_variables())
    assert "bidirectional_rnn/fw/gru_cell/gates/kernel:0" in names
    assert "bidirectional_rnn/bw/gru_cell/candidate/bias:0" in names
    xv, lv = _rand(3, 5, 2), np.array([5, 3, 1], np.int32)
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        got = sess.run([o_fw, o_bw, s_fw, s_bw], {x: xv, lengths: lv})
        vf = _values(sess, "bidirectional_rnn/fw/gru_cell/")
        vb = _values(sess, "bidirectional_rnn/bw/gru_cell/")
    xs = list(xv.transpose(1, 0, 2))
    h0 = np.zeros((3, 3), np.float32)

    def stepper(v):
        def step(xt, s):
            h = _np_gru(xt, s[0], v)
            return h, (h,)
        return step
    want_fw, (sf,) = _np_static_rnn(stepper(vf), xs, (h0,), lv)
    tmp, (sb,) = _np_static_rnn(stepper(vb), _np_reverse_sequence(xs, lv), (h0,), lv)
    want_bw = _np_reverse_sequence(tmp, lv)
    for g, w in zip(got, [np.stack(want_fw, 1), np.stack(want_bw, 1), sf, sb]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


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
        for _ in range(150):
            n = int(rng.integers(3, 9))
            xv = rng.uniform(-1, 1, (16, n, 1)).astype(np.float32)
            lv = rng.integers(1, n + 1, 16).astype(np.int32)
            mask = np.arange(n)[None, :] < lv[:, None]
            yv = (xv[..., 0] * mask).sum(1, keepdims=True) / 4
            _, value = sess.run([train, loss], {x: xv, lengths: lv, y: yv})
            first = value if first is None else first
            last = value
    assert last < 0.1 * first, (first, last)


def test_errors_are_clear():
    cell = fc.nn.rnn_cell.BasicLSTMCell(2)
    with pytest.raises(ValueError, match="dtype must be specified"):
        fc.nn.dynamic_rnn(cell, fc.zeros([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[batch, time, depth\]"):
        fc.nn.dynamic_rnn(cell, fc.zeros([2, 3]), dtype=fc.float32)
    with pytest.raises(TypeError, match="must be an RNNCell"):
        fc.nn.dynamic_rnn(object(), fc.zeros([1, 2, 3]), dtype=fc.float32)


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


def test_aot_model_runs_a_dynamic_lstm(tmp_path):
    """fc.compile writes the dynamic LSTM (its while loop in the .so); the loaded model
    runs every sequence length and agrees with the Session."""
    import runtime
    x = fc.placeholder(fc.float32, [None, None, 3], name="x")
    lengths = fc.placeholder(fc.int32, [None], name="len")
    out, st = fc.nn.dynamic_rnn(fc.nn.rnn_cell.BasicLSTMCell(4), x, sequence_length=lengths,
                                dtype=fc.float32)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        art = fc.compile(st.h, [x, lengths], str(tmp_path / "m"), name="lstm",
                         session=sess,
                         options=fc.CompileOptions(target_cpu="x86-64-v3", threads=1))
        with runtime.load(art.directory) as model:
            for steps in (1, 6, 30):
                xv, lv = _rand(3, steps, 3), np.array([steps, 1, steps // 2 + 1], np.int32)
                np.testing.assert_allclose(model(xv, lv), sess.run(st.h, {x: xv, lengths: lv}),
                                           rtol=1e-5, atol=1e-6)
