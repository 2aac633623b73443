"""TF1's RNN cell family under `fc.nn.rnn_cell` and `fc.contrib.rnn` (BasicRNNCell,
GRUCell, MultiRNNCell, DropoutWrapper), `static_rnn(sequence_length=)`,
`static_bidirectional_rnn`, `contrib.layers.flatten`, `contrib.seq2seq.sequence_loss`:
the TF1 idiom, numerics against numpy implementations of TF1's formulas written here (both
backends), TF1's variable names, gradients against finite differences and jax.grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import compiler as fc

jax.config.update("jax_enable_x64", True)

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]
RNG = np.random.default_rng(1)


def _config(backend):
    return fc.ConfigProto(backend="interpret") if backend == "interpret" else None


def _run(backend, fetches, feed_dict=None):
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        return sess.run(fetches, feed_dict)


def _rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ---- numpy references of TF1's cell formulas --------------------------------------------
def _np_basic_rnn(x, h, v):
    return np.tanh(np.concatenate([x, h], 1) @ v["kernel"] + v["bias"])


def _np_gru(x, h, v):
    """TF1 GRUCell: r, u from gates; candidate on [x, r*h]; new_h = u*h + (1-u)*c."""
    value = _sigmoid(np.concatenate([x, h], 1) @ v["gates/kernel"] + v["gates/bias"])
    r, u = np.split(value, 2, axis=1)
    c = np.tanh(np.concatenate([x, r * h], 1) @ v["candidate/kernel"] + v["candidate/bias"])
    return u * h + (1 - u) * c


def _np_lstm(x, c, h, v, forget_bias=1.0):
    i, j, f, o = np.split(np.concatenate([x, h], 1) @ v["kernel"] + v["bias"], 4, axis=1)
    new_c = c * _sigmoid(f + forget_bias) + _sigmoid(i) * np.tanh(j)
    return np.tanh(new_c) * _sigmoid(o), new_c


def _np_static_rnn(step, xs, state, lengths=None):
    """TF1's static_rnn: outputs zero and state copied through where t >= length."""
    outs = []
    for t, x in enumerate(xs):
        out, new = step(x, state)
        if lengths is not None:
            done = (t >= lengths)[:, None]
            out = np.where(done, 0, out)
            new = tuple(np.where(done, a, b) for a, b in zip(state, new))
        state = new
        outs.append(out)
    return outs, state


def _np_reverse_sequence(xs, lengths):
    """TF1's reverse_sequence on a list over time: each row's first lengths[b] steps."""
    arr = np.stack(xs)
    out = arr.copy()
    for b, n in enumerate(lengths):
        out[:n, b] = arr[:n, b][::-1]
    return list(out)


def _short(names, values, prefix):
    return {n[len(prefix):-2]: val for n, val in zip(names, values)}


# ---- cells --------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_gru_cell_step_names_and_init(backend):
    x = fc.placeholder(fc.float32, [None, 3])
    cell = fc.nn.rnn_cell.GRUCell(4)
    h0 = fc.placeholder(fc.float32, [None, 4])
    out, new = cell(x, h0)
    assert out is new and cell.state_size == 4 and cell.output_size == 4
    names = [v.name for v in cell.variables]
    assert names == ["gru_cell/gates/kernel:0", "gru_cell/gates/bias:0",
                     "gru_cell/candidate/kernel:0", "gru_cell/candidate/bias:0"]
    assert cell.variables[0].shape.as_list() == [7, 8]
    assert cell.variables[2].shape.as_list() == [7, 4]
    xv, hv = _rand(2, 3), _rand(2, 4)
    got, vals = _run(backend, [out, names], {x: xv, h0: hv})
    v = _short(names, vals, "gru_cell/")
    np.testing.assert_array_equal(v["gates/bias"], np.ones(8, np.float32))  # TF1: 1.0
    np.testing.assert_array_equal(v["candidate/bias"], np.zeros(4, np.float32))
    np.testing.assert_allclose(got, _np_gru(xv, hv, v), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_basic_rnn_cell_static_rnn(backend):
    seq = fc.placeholder(fc.float32, [None, 4, 3])
    cell = fc.contrib.rnn.BasicRNNCell(5)
    outputs, final = fc.contrib.rnn.static_rnn(cell, fc.unstack(seq, 4, 1), dtype=fc.float32)
    names = [v.name for v in fc.global_variables()]
    assert names == ["rnn/basic_rnn_cell/kernel:0", "rnn/basic_rnn_cell/bias:0"]
    xv = _rand(3, 4, 3)
    outs, last, vals = _run(backend, [outputs, final, names], {seq: xv})
    v = _short(names, vals, "rnn/basic_rnn_cell/")
    def step(x, s):
        h = _np_basic_rnn(x, s[0], v)
        return h, (h,)
    want, (h,) = _np_static_rnn(step, list(xv.transpose(1, 0, 2)),
                                (np.zeros((3, 5), np.float32),))
    np.testing.assert_allclose(outs, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(last, h, rtol=1e-5, atol=1e-6)


def test_namespaces_and_zero_state():
    for name in ("RNNCell", "BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell",
                 "MultiRNNCell", "DropoutWrapper", "LSTMStateTuple"):
        assert getattr(fc.contrib.rnn, name) is getattr(fc.nn.rnn_cell, name)
    assert fc.contrib.rnn.static_rnn is fc.nn.static_rnn
    assert fc.contrib.rnn.static_bidirectional_rnn is fc.nn.static_bidirectional_rnn
    assert fc.compat.v1.contrib.rnn.GRUCell is fc.nn.rnn_cell.GRUCell
    s = fc.contrib.rnn.LSTMStateTuple(1, 2)
    assert (s.c, s.h) == (1, 2) and s._fields == ("c", "h")
    multi = fc.nn.rnn_cell.MultiRNNCell([fc.nn.rnn_cell.GRUCell(3),
                                         fc.nn.rnn_cell.BasicLSTMCell(2)])
    assert multi.state_size == (3, fc.nn.rnn_cell.LSTMStateTuple(2, 2))
    assert multi.output_size == 2
    x = fc.placeholder(fc.float32, [None, 6])
    zs = multi.zero_state(fc.shape(x)[0], fc.float32)
    assert isinstance(zs, tuple) and isinstance(zs[1], fc.nn.rnn_cell.LSTMStateTuple)
    got = _run("interpret", zs, {x: np.zeros((5, 6), np.float32)})
    assert got[0].shape == (5, 3) and got[1].c.shape == (5, 2) and not got[1].h.any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_rnn_cell_matches_numpy(backend):
    seq = fc.placeholder(fc.float32, [None, 3, 2])
    cells = [fc.contrib.rnn.GRUCell(4), fc.contrib.rnn.BasicLSTMCell(3, forget_bias=0.5)]
    multi = fc.contrib.rnn.MultiRNNCell(cells)
    outputs, (s_gru, s_lstm) = fc.contrib.rnn.static_rnn(multi, fc.unstack(seq, axis=1),
                                                         dtype=fc.float32)
    names = [v.name for v in fc.global_variables()]
    p0, p1 = "rnn/multi_rnn_cell/cell_0/gru_cell/", "rnn/multi_rnn_cell/cell_1/basic_lstm_cell/"
    assert names == [p0 + "gates/kernel:0", p0 + "gates/bias:0", p0 + "candidate/kernel:0",
                     p0 + "candidate/bias:0", p1 + "kernel:0", p1 + "bias:0"]
    assert [v.name for v in multi.variables] == names
    xv = _rand(2, 3, 2)
    outs, g, lc, vals = _run(backend, [outputs, s_gru, s_lstm.c, names], {seq: xv})
    v0, v1 = _short(names[:4], vals[:4], p0), _short(names[4:], vals[4:], p1)
    h0, c1, h1 = np.zeros((2, 4)), np.zeros((2, 3)), np.zeros((2, 3))
    for t in range(3):
        h0 = _np_gru(xv[:, t], h0, v0)
        h1, c1 = _np_lstm(h0, c1, h1, v1, forget_bias=0.5)
        np.testing.assert_allclose(outs[t], h1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, h0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lc, c1, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_wrapper(backend):
    fc.set_random_seed(3)
    x = fc.placeholder(fc.float32, [None, 3])
    state = fc.nn.rnn_cell.LSTMStateTuple(fc.placeholder(fc.float32, [None, 4]),
                                          fc.placeholder(fc.float32, [None, 4]))
    inner = fc.nn.rnn_cell.BasicLSTMCell(4)
    plain_out, plain_state = inner(x, state)
    wrapped = fc.nn.rnn_cell.DropoutWrapper(inner, output_keep_prob=0.5, state_keep_prob=0.25,
                                            seed=7)
    assert wrapped.state_size == inner.state_size and wrapped.variables == inner.variables
    out, new = wrapped(x, state)  # same cell object: same variables
    assert len(fc.global_variables()) == 2
    feed = {x: _rand(64, 3), state.c: _rand(64, 4), state.h: _rand(64, 4)}
    po, ps, o, s = _run(backend, [plain_out, plain_state, out, new], feed)
    np.testing.assert_allclose(s.c, ps.c, rtol=1e-6)        # c is never dropped (TF1)
    for got, ref, keep in ((o, po, 0.5), (s.h, ps.h, 0.25)):
        kept = got != 0
        np.testing.assert_allclose(got[kept], ref[kept] / keep, rtol=1e-5)
        assert 0.1 < kept.mean() * keep / keep and abs(kept.mean() - keep) < 0.12
    # keep_prob 1 (the default) adds no dropout

    def n_dropout():
        return sum("dropout" in op.name for op in fc.get_default_graph().get_operations())
    before = n_dropout()
    fc.nn.rnn_cell.DropoutWrapper(fc.nn.rnn_cell.GRUCell(2))(x, fc.zeros([2, 2]))
    assert before > 0 and n_dropout() == before


def test_input_dropout_feeds_the_cell():
    """input_keep_prob: the cell sees dropout(x); with keep 1e-9 nearly all of x is zeroed,
    so the output equals the cell's output on zeros."""
    x = fc.placeholder(fc.float32, [None, 3])
    cell = fc.nn.rnn_cell.BasicRNNCell(2)
    h = fc.zeros([4, 2])
    on_zero, _ = cell(fc.zeros([4, 3]), h)
    out, _ = fc.nn.rnn_cell.DropoutWrapper(cell, input_keep_prob=1e-9, seed=1)(x, h)
    a, b = _run("llvm", [out, on_zero], {x: _rand(4, 3)})
    np.testing.assert_allclose(a, b, atol=1e-6)


# ---- sequence_length and bidirectional ----------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_static_rnn_sequence_length(backend):
    seq = fc.placeholder(fc.float32, [None, 5, 3])
    lengths = fc.placeholder(fc.int32, [None])
    cell = fc.nn.rnn_cell.BasicLSTMCell(4)
    outputs, final = fc.nn.static_rnn(cell, fc.unstack(seq, axis=1), dtype=fc.float32,
                                      sequence_length=lengths)
    names = [v.name for v in cell.variables]
    xv, lv = _rand(4, 5, 3), np.array([5, 2, 0, 3], np.int32)
    outs, fs, vals = _run(backend, [outputs, final, names], {seq: xv, lengths: lv})
    v = _short(names, vals, "rnn/basic_lstm_cell/")
    zero = (np.zeros((4, 4), np.float32),) * 2

    def step(x, s):
        h, c = _np_lstm(x, s[0], s[1], v)
        return h, (c, h)
    want, (wc, wh) = _np_static_rnn(step, list(xv.transpose(1, 0, 2)), zero, lv)
    np.testing.assert_allclose(outs, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fs.c, wc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fs.h, wh, rtol=1e-5, atol=1e-6)
    assert not np.asarray(outs)[2:, 1].any() and not fs.c[2].any()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("with_lengths", [False, True])
def test_bidirectional_rnn_mnist_rows_idiom(backend, with_lengths):
    """The 'bidirectional LSTM on MNIST rows' program shape, small: rows as time steps."""
    n_steps, n_input, n_hidden, n_classes = 4, 3, 5, 2
    x = fc.placeholder("float", [None, n_steps, n_input])
    seq_len = fc.placeholder(fc.int32, [None]) if with_lengths else None
    weights = fc.Variable(fc.random_normal([2 * n_hidden, n_classes]))
    biases = fc.Variable(fc.random_normal([n_classes]))
    xs = fc.unstack(x, n_steps, 1)
    lstm_fw_cell = fc.contrib.rnn.BasicLSTMCell(n_hidden, forget_bias=1.0)
    lstm_bw_cell = fc.contrib.rnn.BasicLSTMCell(n_hidden, forget_bias=1.0)
    outputs, state_fw, state_bw = fc.contrib.rnn.static_bidirectional_rnn(
        lstm_fw_cell, lstm_bw_cell, xs, dtype=fc.float32, sequence_length=seq_len)
    logits = fc.matmul(outputs[-1], weights) + biases
    assert outputs[0].shape.as_list() == [None, 2 * n_hidden]
    pf, pb = "bidirectional_rnn/fw/basic_lstm_cell/", "bidirectional_rnn/bw/basic_lstm_cell/"
    names = [pf + "kernel:0", pf + "bias:0", pb + "kernel:0", pb + "bias:0"]
    assert [v.name for v in fc.trainable_variables()][2:] == names
    xv = _rand(3, n_steps, n_input)
    lv = np.array([4, 1, 3], np.int32)
    feed = {x: xv, **({seq_len: lv} if with_lengths else {})}
    outs, sf, sb, lg, W, b, vals = _run(backend, [outputs, state_fw, state_bw, logits,
                                                  weights, biases, names], feed)
    vf, vb = _short(names[:2], vals[:2], pf), _short(names[2:], vals[2:], pb)
    lens = lv if with_lengths else None
    zero = (np.zeros((3, n_hidden), np.float32),) * 2

    def step(v):
        def f(x, s):
            h, c = _np_lstm(x, s[0], s[1], v)
            return h, (c, h)
        return f
    xs_np = list(xv.transpose(1, 0, 2))
    fw, (fc_, fh) = _np_static_rnn(step(vf), xs_np, zero, lens)
    rev = _np_reverse_sequence(xs_np, lv) if with_lengths else xs_np[::-1]
    bw, (bc, bh) = _np_static_rnn(step(vb), rev, zero, lens)
    bw = _np_reverse_sequence(bw, lv) if with_lengths else bw[::-1]
    want = [np.concatenate([a, c], 1) for a, c in zip(fw, bw)]
    np.testing.assert_allclose(outs, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sf.c, fc_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sb.h, bh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lg, want[-1] @ W + b, rtol=1e-5, atol=1e-5)


def _gru_seq_graph(dtype):
    """A GRU static_rnn with sequence_length whose loss is a weighted sum of its outputs and
    final state; returns (x, h0, w, loss, cell)."""
    x = fc.placeholder(dtype, [None, 4, 2])
    h0 = fc.placeholder(dtype, [None, 3])
    w = fc.placeholder(dtype, [4, None, 3])
    cell = fc.nn.rnn_cell.GRUCell(3, kernel_initializer=fc.random_uniform_initializer(-1, 1))
    outs, final = fc.nn.static_rnn(cell, fc.unstack(x, axis=1), initial_state=h0,
                                   sequence_length=fc.constant([4, 2, 0]))
    loss = fc.reduce_sum(fc.stack(outs) * w) + fc.reduce_sum(final * final)
    return x, h0, w, loss, cell


@pytest.mark.parametrize("backend", BACKENDS)
def test_gru_sequence_length_gradients_fd_and_jax(backend):
    x, h0, w, loss, cell = _gru_seq_graph(fc.float64)
    grads = fc.gradients(loss, [x, h0] + cell.variables)
    rng = np.random.default_rng(5)
    feed = {x: rng.uniform(-1, 1, (3, 4, 2)), h0: rng.uniform(-1, 1, (3, 3)),
            w: rng.standard_normal((4, 3, 3))}
    dirs = [rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 3))]
    eps = 1e-6
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        g = sess.run(grads, feed)
        var_vals = sess.run(cell.variables)

        def at(e):
            return sess.run(loss, {**feed, x: feed[x] + e * dirs[0], h0: feed[h0] + e * dirs[1]})
        numeric = (at(eps) - at(-eps)) / (2 * eps)
    analytic = np.sum(g[0] * dirs[0]) + np.sum(g[1] * dirs[1])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    # padding steps of row 2 (length 0) and row 1 (t >= 2) get no gradient from the input
    assert not g[0][2].any() and not g[0][1, 2:].any()

    def jloss(xv, hv, gk, gb, ck, cb):
        lens = jnp.array([4, 2, 0])
        h, total = hv, 0.0
        for t in range(4):
            xt = xv[:, t]
            value = jax.nn.sigmoid(jnp.concatenate([xt, h], 1) @ gk + gb)
            r, u = jnp.split(value, 2, axis=1)
            c = jnp.tanh(jnp.concatenate([xt, r * h], 1) @ ck + cb)
            new = u * h + (1 - u) * c
            done = (t >= lens)[:, None]
            total = total + jnp.sum(jnp.where(done, 0.0, new) * feed[w][t])
            h = jnp.where(done, h, new)
        return total + jnp.sum(h * h)
    want = jax.grad(jloss, argnums=tuple(range(6)))(feed[x], feed[h0], *var_vals)
    for got, ref in zip(g, want):
        np.testing.assert_allclose(got, np.asarray(ref), rtol=1e-9, atol=1e-11)


# ---- contrib.layers.flatten, contrib.seq2seq.sequence_loss ----------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_flatten(backend):
    x = fc.placeholder(fc.float32, [None, 2, 3, 2])
    y = fc.contrib.layers.flatten(x)
    assert y.shape.as_list() == [None, 12]
    xv = _rand(3, 2, 3, 2)
    np.testing.assert_array_equal(_run(backend, y, {x: xv}), xv.reshape(3, 12))
    assert fc.contrib.layers.flatten(fc.zeros([4])).shape.as_list() == [4, 1]
    with pytest.raises(ValueError, match="flatten: the dims after the batch dim must be static"):
        fc.contrib.layers.flatten(fc.placeholder(fc.float32, [2, None]))


def _np_sequence_loss(logits, targets, weights, avg_t, avg_b, sum_t, sum_b):
    """TF 1.15 seq2seq.sequence_loss, in numpy."""
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    ce = -np.take_along_axis(logp, targets[..., None], -1)[..., 0] * weights

    def div(a, b):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1, b))
    if avg_t and avg_b:
        return div(ce.sum(), weights.sum())
    if sum_t and sum_b:
        return div(ce.sum(), (weights != 0).sum())
    if avg_t or avg_b:
        ax = 0 if avg_b else 1
        return div(ce.sum(ax), weights.sum(ax))
    if sum_t or sum_b:
        ax = 0 if sum_b else 1
        return div(ce.sum(ax), (weights != 0).sum(ax))
    return ce


MODES = [(True, True, False, False), (False, False, True, True), (True, False, False, False),
         (False, True, False, False), (False, False, True, False), (False, False, False, True),
         (False, False, False, False), (True, False, False, True)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sequence_loss_modes(backend):
    logits = fc.placeholder(fc.float32, [None, 4, 5])
    targets = fc.placeholder(fc.int32, [None, 4])
    weights = fc.placeholder(fc.float32, [None, 4])
    losses = [fc.contrib.seq2seq.sequence_loss(
        logits, targets, weights, average_across_timesteps=a, average_across_batch=b,
        sum_over_timesteps=c, sum_over_batch=d) for a, b, c, d in MODES]
    lv = _rand(3, 4, 5)
    tv = RNG.integers(0, 5, (3, 4)).astype(np.int32)
    wv = np.array([[1, 1, 0.5, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.float32)  # a zero column
    got = _run(backend, losses, {logits: lv, targets: tv, weights: wv})
    for g, mode in zip(got, MODES):
        want = _np_sequence_loss(lv.astype(np.float64), tv, wv, *mode)
        assert np.shape(g) == np.shape(want), mode
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6, err_msg=str(mode))
        assert np.isfinite(g).all()


def test_sequence_loss_gradient_and_errors():
    from autodiff_check import check_grads
    tv = np.array([[0, 2, 1], [3, 3, 0]], np.int32)
    wv = np.array([[1, 0.5, 0], [2, 1, 0]])

    def build(lg):
        return fc.contrib.seq2seq.sequence_loss(lg, tv, wv, average_across_timesteps=False)
    for backend in BACKENDS:
        check_grads(build, [((2, 3, 4), -2, 2)], backend)
    lg = fc.placeholder(fc.float32, [2, 3, 4])
    with pytest.raises(ValueError, match="average_across_timesteps and sum_over_timesteps"):
        fc.contrib.seq2seq.sequence_loss(lg, tv, wv.astype(np.float32), sum_over_timesteps=True)
    with pytest.raises(ValueError, match="targets must be a rank-2"):
        fc.contrib.seq2seq.sequence_loss(lg, tv[0], wv.astype(np.float32))


# ---- errors --------------------------------------------------------------------------------
def test_errors_name_the_argument():
    cell = fc.nn.rnn_cell.BasicLSTMCell(2)
    with pytest.raises(NotImplementedError, match="variational_recurrent"):
        fc.nn.rnn_cell.DropoutWrapper(cell, variational_recurrent=True)
    with pytest.raises(ValueError, match="output_keep_prob must be between 0 and 1"):
        fc.nn.rnn_cell.DropoutWrapper(cell, output_keep_prob=1.5)
    with pytest.raises(ValueError, match="MultiRNNCell: cells must be a non-empty list"):
        fc.nn.rnn_cell.MultiRNNCell([])
    with pytest.raises(NotImplementedError, match="state_is_tuple=False"):
        fc.nn.rnn_cell.MultiRNNCell([cell], state_is_tuple=False)
    with pytest.raises(NotImplementedError, match="num_unit_shards"):
        fc.nn.rnn_cell.LSTMCell(2, num_unit_shards=2)
    xs = [fc.placeholder(fc.float32, [2, 3])] * 2
    with pytest.raises(ValueError, match="sequence_length must be a vector"):
        fc.nn.static_rnn(cell, xs, dtype=fc.float32, sequence_length=[[1, 2]])
    with pytest.raises(TypeError, match="sequence_length must be integers"):
        fc.nn.static_rnn(cell, xs, dtype=fc.float32, sequence_length=[1.0, 2.0])
    with pytest.raises(TypeError, match="cell_bw must be an RNNCell"):
        fc.nn.static_bidirectional_rnn(cell, None, xs, dtype=fc.float32)
    with pytest.raises(ValueError, match="MultiRNNCell: expected a state tuple of 2"):
        fc.nn.rnn_cell.MultiRNNCell([fc.nn.rnn_cell.GRUCell(2), fc.nn.rnn_cell.GRUCell(2)])(
            xs[0], fc.zeros([2, 2]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bidirectional_sequence_length_gradient_fd(backend):
    """FD check through the reverse_sequence gathers and the row selects (float64)."""
    x = fc.placeholder(fc.float64, [None, 3, 2])
    w = fc.placeholder(fc.float64, [3, None, 4])
    init = fc.random_uniform_initializer(-1, 1)
    outs, _, sb = fc.nn.static_bidirectional_rnn(
        fc.nn.rnn_cell.GRUCell(2, kernel_initializer=init),
        fc.nn.rnn_cell.BasicLSTMCell(2), fc.unstack(x, axis=1), dtype=fc.float64,
        sequence_length=fc.constant([3, 1, 2]))
    loss = fc.reduce_sum(fc.stack(outs) * w) + fc.reduce_sum(sb.c * sb.h)
    (grad,) = fc.gradients(loss, [x])
    rng = np.random.default_rng(2)
    xv, d = rng.uniform(-1, 1, (3, 3, 2)), rng.standard_normal((3, 3, 2))
    feed = {w: rng.standard_normal((3, 3, 4))}
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        g = sess.run(grad, {**feed, x: xv})
        plus, minus = (sess.run(loss, {**feed, x: xv + e * d}) for e in (1e-6, -1e-6))
    np.testing.assert_allclose(np.sum(g * d), (plus - minus) / 2e-6, rtol=1e-6, atol=1e-8)
    assert not g[1, 1:].any() and g[1, 0].any()   # row 1 has length 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_block_cell(backend):
    """contrib.rnn.LSTMBlockCell: TF1's LSTM with peepholes and cell_clip, names lstm_cell/."""
    x = fc.placeholder(fc.float32, [None, 3])
    cell = fc.contrib.rnn.LSTMBlockCell(4, forget_bias=0.5, cell_clip=0.4, use_peepholes=True)
    init = fc.random_uniform_initializer(-1, 1)
    state = fc.contrib.rnn.LSTMStateTuple(fc.placeholder(fc.float32, [None, 4]),
                                          fc.placeholder(fc.float32, [None, 4]))
    with fc.variable_scope("rnn", initializer=init):
        out, new = cell(x, state)
    names = [v.name for v in cell.variables]
    assert names == ["rnn/lstm_cell/kernel:0", "rnn/lstm_cell/bias:0", "rnn/lstm_cell/w_f_diag:0",
                     "rnn/lstm_cell/w_i_diag:0", "rnn/lstm_cell/w_o_diag:0"]
    xv, cv, hv = _rand(2, 3), _rand(2, 4), _rand(2, 4)
    o, c, vals = _run(backend, [out, new.c, names], {x: xv, state.c: cv, state.h: hv})
    v = _short(names, vals, "rnn/lstm_cell/")
    i, j, f, og = np.split(np.concatenate([xv, hv], 1) @ v["kernel"] + v["bias"], 4, axis=1)
    want_c = np.clip(_sigmoid(f + v["w_f_diag"] * cv + 0.5) * cv
                     + _sigmoid(i + v["w_i_diag"] * cv) * np.tanh(j), -0.4, 0.4)
    want_h = _sigmoid(og + v["w_o_diag"] * want_c) * np.tanh(want_c)
    np.testing.assert_allclose(c, want_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o, want_h, rtol=1e-5, atol=1e-6)


def test_bidirectional_program_trains():
    """A TF1-style program: DropoutWrapper(GRUCell) forward, BasicLSTMCell backward, variable
    lengths, dense head on the final states, Adam; learns 'is the sum of feature 0 over the
    valid steps positive' (a padded step would mislead it)."""
    fc.set_random_seed(0)
    rng = np.random.default_rng(0)
    T, D, H = 6, 2, 8

    def data(n):
        xv = rng.standard_normal((n, T, D)).astype(np.float32)
        lv = rng.integers(1, T + 1, n).astype(np.int32)
        yv = ((xv[:, :, 0] * (np.arange(T)[None] < lv[:, None])).sum(1) > 0).astype(np.int32)
        return xv, lv, yv
    x = fc.placeholder(fc.float32, [None, T, D])
    seq_len = fc.placeholder(fc.int32, [None])
    y = fc.placeholder(fc.int32, [None])
    keep = fc.placeholder_with_default(1.0, [])
    fw = fc.contrib.rnn.DropoutWrapper(fc.contrib.rnn.GRUCell(H), output_keep_prob=keep)
    bw = fc.contrib.rnn.BasicLSTMCell(H)
    _, state_fw, state_bw = fc.contrib.rnn.static_bidirectional_rnn(
        fw, bw, fc.unstack(x, T, 1), dtype=fc.float32, sequence_length=seq_len)
    logits = fc.layers.dense(fc.concat([state_fw, state_bw.h], 1), 2)
    loss = fc.reduce_mean(fc.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                         logits=logits))
    correct = fc.equal(fc.cast(fc.argmax(logits, 1), fc.int32), y)
    accuracy = fc.reduce_mean(fc.cast(correct, fc.float32))
    train_op = fc.train.AdamOptimizer(0.03).minimize(loss)
    xt, lt, yt = data(500)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        first = sess.run(accuracy, {x: xt, seq_len: lt, y: yt})
        for _ in range(80):
            xb, lb, yb = data(64)
            sess.run(train_op, {x: xb, seq_len: lb, y: yb, keep: 0.9})
        acc = sess.run(accuracy, {x: xt, seq_len: lt, y: yt})
    assert first < 0.9 and acc > 0.95, (first, acc)
