"""`tf.nn.dynamic_rnn` and `tf.nn.bidirectional_dynamic_rnn` on a while_loop, in the TF1
idiom: numerics against a numpy LSTM/GRU written here from TF1's formulas (both
backends), `sequence_length` (outputs past a row's end are zero, its state copied
through), `time_major`, `initial_state`, TF1's variable names, an AOT-compiled model,
and clear errors (gradients and training: tests/test_dynamic_rnn_grad.py)."""

import jax
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


def test_errors_are_clear():
    cell = fc.nn.rnn_cell.BasicLSTMCell(2)
    with pytest.raises(ValueError, match="dtype must be specified"):
        fc.nn.dynamic_rnn(cell, fc.zeros([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[batch, time, depth\]"):
        fc.nn.dynamic_rnn(cell, fc.zeros([2, 3]), dtype=fc.float32)
    with pytest.raises(TypeError, match="must be an RNNCell"):
        fc.nn.dynamic_rnn(object(), fc.zeros([1, 2, 3]), dtype=fc.float32)


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
