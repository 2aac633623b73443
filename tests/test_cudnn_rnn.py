"""`tf.contrib.cudnn_rnn` (CudnnLSTM, CudnnGRU, CudnnRNNTanh, CudnnRNNRelu and the
cuDNN-compatible cells) in the TF1 idiom: outputs and states against a numpy
implementation of cuDNN's equations written here from cuDNN's canonical weights (W, R,
b_W, b_R per gate, in cuDNN's gate order) mapped into the layer's variables as TF1's
saveable maps them; 2 layers, bidirectional, sequence_lengths, initial_state, both
backends; the compatible cells equal to the layer; gradients by finite differences;
a small training run; clear errors."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]
RNG = np.random.default_rng(11)
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
LAYERS = {"lstm": "CudnnLSTM", "gru": "CudnnGRU", "rnn_tanh": "CudnnRNNTanh",
          "rnn_relu": "CudnnRNNRelu"}
CELL = {"lstm": "cudnn_compatible_lstm_cell", "gru": "cudnn_compatible_gru_cell",
        "rnn_tanh": "basic_rnn_cell", "rnn_relu": "basic_rnn_cell"}


def _config(backend):
    return fc.ConfigProto(backend="interpret") if backend == "interpret" else None


def _sig(x):
    return 1 / (1 + np.exp(-x))


# -- cuDNN's equations on canonical weights (numpy) --------------------------------------

def _canonical(mode, depth, n, dtype):
    """cuDNN's canonical weights of one layer/direction: W[g] [n, depth], R[g] [n, n],
    bW[g], bR[g] [n], g in cuDNN's order (LSTM i, f, c, o; GRU r, z, h)."""
    k = GATES[mode]
    return dict(W=[RNG.uniform(-.6, .6, (n, depth)).astype(dtype) for _ in range(k)],
                R=[RNG.uniform(-.6, .6, (n, n)).astype(dtype) for _ in range(k)],
                bW=[RNG.uniform(-.5, .5, n).astype(dtype) for _ in range(k)],
                bR=[RNG.uniform(-.5, .5, n).astype(dtype) for _ in range(k)])


def _np_step(mode, p, x, h, c):
    W, R, bW, bR = p["W"], p["R"], p["bW"], p["bR"]

    def lin(g):
        return x @ W[g].T + bW[g] + h @ R[g].T + bR[g]
    if mode == "lstm":
        i, f, cc, o = _sig(lin(0)), _sig(lin(1)), np.tanh(lin(2)), _sig(lin(3))
        c = f * c + i * cc
        return o * np.tanh(c), c
    if mode == "gru":
        r, z = _sig(lin(0)), _sig(lin(1))
        hh = np.tanh(x @ W[2].T + bW[2] + r * (h @ R[2].T + bR[2]))
        return (1 - z) * hh + z * h, c
    pre = lin(0)
    return (np.tanh(pre) if mode == "rnn_tanh" else np.maximum(pre, 0)), c


def _np_direction(mode, p, xs, h, c, lengths, backward):
    """One direction over time-major xs [T, B, D]; past a row's end the output is 0 and
    the state is kept; backward runs each row reversed within its length."""
    steps, batch = xs.shape[:2]
    lens = np.full(batch, steps) if lengths is None else lengths
    out = np.zeros((steps, batch, h.shape[1]), xs.dtype)
    for b in range(batch):
        hb, cb = h[b:b + 1], c[b:b + 1]
        order = range(lens[b])
        for t in (reversed(order) if backward else order):
            hb, cb = _np_step(mode, p, xs[t, b:b + 1], hb, cb)
            out[t, b] = hb[0]
        h[b], c[b] = hb[0], cb[0]
    return out, h, c


def _np_cudnn(mode, params, xs, h0, c0, lengths, dirs):
    """The stacked network: layer l's input is layer l-1's (concatenated) outputs;
    returns outputs [T, B, dirs * n] and states [layers * dirs, B, n]."""
    h0, c0 = h0.copy(), c0.copy()
    cur = xs
    for layer in range(len(params) // dirs):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            o, h0[k], c0[k] = _np_direction(mode, params[k], cur, h0[k], c0[k], lengths,
                                            d == 1)
            outs.append(o)
        cur = np.concatenate(outs, 2)
    return cur, h0, c0


def _compatible(mode, p):
    """TF1's saveable map: canonical weights -> the compatible cell's variables."""
    W, R, bW, bR = p["W"], p["R"], p["bW"], p["bR"]

    def block(g):
        return np.concatenate([W[g].T, R[g].T], 0)
    if mode == "lstm":
        order = [0, 2, 1, 3]                    # TF's columns i, j(=c), f, o
        return {"kernel": np.concatenate([block(g) for g in order], 1),
                "bias": np.concatenate([bW[g] + bR[g] for g in order])}
    if mode == "gru":
        return {"gates/kernel": np.concatenate([block(0), block(1)], 1),
                "gates/bias": np.concatenate([bW[0] + bR[0], bW[1] + bR[1]]),
                "candidate/input_projection/kernel": W[2].T,
                "candidate/input_projection/bias": bW[2],
                "candidate/hidden_projection/kernel": R[2].T,
                "candidate/hidden_projection/bias": bR[2]}
    return {"kernel": block(0), "bias": bW[0] + bR[0]}


def _var_prefix(scope, mode, layer, d, dirs):
    if dirs == 1:
        return f"{scope}/rnn/multi_rnn_cell/cell_{layer}/{CELL[mode]}/"
    return (f"{scope}/stack_bidirectional_rnn/cell_{layer}/bidirectional_rnn/"
            f"{('fw', 'bw')[d]}/{CELL[mode]}/")


def _load(sess, mode, params, dirs, scope):
    by_name = {v.name: v for v in fc.global_variables()}
    loaded = 0
    for k, p in enumerate(params):
        prefix = _var_prefix(scope, mode, k // dirs, k % dirs, dirs)
        for name, value in _compatible(mode, p).items():
            by_name[prefix + name + ":0"].load(value, sess)
            loaded += 1
    assert loaded == len(by_name), sorted(by_name)


# -- the tests ----------------------------------------------------------------------------

CASES = [("lstm", "unidirectional", False), ("lstm", "bidirectional", True),
         ("gru", "unidirectional", True), ("gru", "bidirectional", False),
         ("rnn_tanh", "bidirectional", True), ("rnn_relu", "unidirectional", False)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode,direction,with_lengths", CASES)
def test_two_layers_match_numpy_cudnn(backend, mode, direction, with_lengths):
    """2 layers, TF1's time-major call with initial_state (and sequence_lengths): the
    outputs and the (h[, c]) states against cuDNN's equations on canonical weights."""
    n, depth, steps, batch, layers = 4, 3, 5, 3, 2
    dirs = 1 if direction == "unidirectional" else 2
    layer = getattr(fc.contrib.cudnn_rnn, LAYERS[mode])(layers, n, direction=direction)
    assert (layer.num_layers, layer.num_units, layer.num_dirs) == (layers, n, dirs)
    x = fc.placeholder(fc.float32, [None, None, depth], name="x")
    h0 = fc.placeholder(fc.float32, [layers * dirs, None, n], name="h0")
    c0 = fc.placeholder(fc.float32, [layers * dirs, None, n], name="c0")
    lengths = fc.placeholder(fc.int32, [None], name="len") if with_lengths else None
    init = (h0, c0) if mode == "lstm" else (h0,)
    outputs, states = layer(x, initial_state=init, sequence_lengths=lengths)
    assert len(states) == (2 if mode == "lstm" else 1)
    assert outputs.shape.as_list()[-1] == dirs * n
    scope = layer.name
    assert scope == f"cudnn_{mode}"
    params = [_canonical(mode, depth if k < dirs else dirs * n, n, np.float32)
              for k in range(layers * dirs)]
    xv = RNG.standard_normal((steps, batch, depth)).astype(np.float32)
    hv = RNG.standard_normal((layers * dirs, batch, n)).astype(np.float32)
    cv = RNG.standard_normal((layers * dirs, batch, n)).astype(np.float32)
    lv = np.array([5, 2, 0], np.int32)
    feed = {x: xv, h0: hv}
    if mode == "lstm":
        feed[c0] = cv
    if with_lengths:
        feed[lengths] = lv
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        _load(sess, mode, params, dirs, scope)
        out, st = sess.run([outputs, states], feed)
    want, wh, wc = _np_cudnn(mode, params, xv, hv, cv, lv if with_lengths else None, dirs)
    np.testing.assert_allclose(out, want, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(st[0], wh, rtol=2e-5, atol=2e-5)
    if mode == "lstm":
        np.testing.assert_allclose(st[1], wc, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_compatible_cells_equal_the_layer(mode):
    """TF1's CPU idiom: MultiRNNCell of CudnnCompatible*Cell under the layer's scope,
    run by dynamic_rnn (time-major), finds the layer's variables by name and computes
    the same outputs and final states."""
    n, layers = 3, 2
    cls = {"lstm": fc.contrib.cudnn_rnn.CudnnCompatibleLSTMCell,
           "gru": fc.contrib.cudnn_rnn.CudnnCompatibleGRUCell}[mode]
    layer = getattr(fc.contrib.cudnn_rnn, LAYERS[mode])(layers, n)
    x = fc.placeholder(fc.float32, [6, 2, 4], name="x")
    out, states = layer(x, training=False)
    count = len(fc.global_variables())
    with fc.variable_scope("cudnn_" + mode, reuse=True):
        cell = fc.nn.rnn_cell.MultiRNNCell([cls(n) for _ in range(layers)])
        c_out, c_state = fc.nn.dynamic_rnn(cell, x, dtype=fc.float32, time_major=True)
    assert len(fc.global_variables()) == count          # no new variables: shared
    last = c_state[-1]
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        xv = RNG.standard_normal((6, 2, 4)).astype(np.float32)
        a, b, h, c_h = sess.run([out, c_out, states[0][-1],
                                 last.h if mode == "lstm" else last], {x: xv})
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h, c_h, rtol=1e-6, atol=1e-6)


def test_default_initialization_is_tf1s():
    """Canonical weights drawn glorot-uniform per [units, input] / [units, units]
    matrix (limit sqrt(6 / (input + units))), biases zero (two zero sets summed)."""
    layer = fc.contrib.cudnn_rnn.CudnnLSTM(1, 8)
    layer(fc.placeholder(fc.float32, [3, 2, 24]))
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        kernel, bias = sess.run(layer.trainable_variables)
    assert kernel.shape == (32, 32) and bias.shape == (32,)
    np.testing.assert_array_equal(bias, 0)
    w_lim, r_lim = np.sqrt(6 / (24 + 8)), np.sqrt(6 / (8 + 8))
    assert np.abs(kernel[:24]).max() <= w_lim and np.abs(kernel[24:]).max() <= r_lim
    assert np.abs(kernel[:24]).max() > 0.8 * w_lim and np.abs(kernel[24:]).max() > 0.8 * r_lim


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_by_finite_differences(backend):
    """d loss / d (inputs, h0, c0, one kernel) of a 2-layer bidirectional CudnnLSTM with
    sequence_lengths, against central differences in a random direction."""
    n = 2
    layer = fc.contrib.cudnn_rnn.CudnnLSTM(2, n, direction="bidirectional",
                                           dtype=fc.float64)
    x = fc.placeholder(fc.float64, [3, 2, 2], name="x")
    h0 = fc.placeholder(fc.float64, [4, 2, n], name="h0")
    c0 = fc.placeholder(fc.float64, [4, 2, n], name="c0")
    out, (h, c) = layer(x, initial_state=(h0, c0), sequence_lengths=[3, 2])
    w = fc.constant(RNG.standard_normal((3, 2, 2 * n)))
    loss = fc.reduce_sum(fc.sin(out) * w) + fc.reduce_sum(h * c)
    kernel = layer.trainable_variables[4]                 # layer 1, fw kernel
    grads = fc.gradients(loss, [x, h0, c0, kernel])
    vals = [RNG.standard_normal(s) for s in ((3, 2, 2), (4, 2, n), (4, 2, n))]
    dirs = [RNG.standard_normal(s) for s in ((3, 2, 2), (4, 2, n), (4, 2, n),
                                             tuple(kernel.shape.as_list()))]
    eps = 1e-6
    with fc.Session(config=_config(backend)) as sess:
        sess.run(fc.global_variables_initializer())
        k0 = sess.run(kernel)
        feed = dict(zip((x, h0, c0), vals))
        got = sess.run(grads, feed)

        def at(sign):
            kernel.load(k0 + sign * eps * dirs[3], sess)
            return sess.run(loss, {p: v + sign * eps * d
                                   for p, v, d in zip((x, h0, c0), vals, dirs)})
        fd = (at(1) - at(-1)) / (2 * eps)
    analytic = sum(float(np.sum(g * d)) for g, d in zip(got, dirs))
    assert abs(fd - analytic) <= 1e-6 * max(1.0, abs(fd)), (fd, analytic)


def test_small_training_run_converges():
    """A CudnnGRU + dense readout learns to report the running sign of a sum; dropout
    between its two layers only while training."""
    layer = fc.contrib.cudnn_rnn.CudnnGRU(2, 8, dropout=0.1, seed=3)
    x = fc.placeholder(fc.float32, [10, None, 1], name="x")
    y = fc.placeholder(fc.float32, [10, None, 1], name="y")
    w = fc.get_variable("w", [8, 1])
    b = fc.get_variable("b", [1], initializer=fc.zeros_initializer())

    def readout(o):
        return fc.reshape(fc.matmul(fc.reshape(o, [-1, 8]), w) + b, [10, -1, 1])
    out, _ = layer(x)
    loss = fc.losses.sigmoid_cross_entropy(y, readout(out))
    step = fc.train.AdamOptimizer(0.03).minimize(loss)
    eval_out, _ = layer(x, training=False)
    acc = fc.reduce_mean(fc.cast(fc.equal(fc.cast(readout(eval_out) > 0, fc.float32), y),
                                 fc.float32))
    data = np.random.default_rng(0).standard_normal((10, 64, 1)).astype(np.float32)
    labels = (np.cumsum(data, 0) > 0).astype(np.float32)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        first = sess.run(loss, {x: data, y: labels})
        for _ in range(40):
            last, _ = sess.run([loss, step], {x: data, y: labels})
        accuracy = sess.run(acc, {x: data, y: labels})
    assert last < 0.35 * first, (first, last)
    assert accuracy > 0.9, accuracy


def test_dropout_only_while_training_and_reuse():
    """dropout acts between layers only with training=True (a Python bool, or a bool
    tensor deciding per run); a second call shares the variables (and time_major=False
    transposes)."""
    layer = fc.contrib.cudnn_rnn.CudnnRNNTanh(2, 5, dropout=0.5, seed=1)
    x = fc.placeholder(fc.float32, [4, 3, 2], name="x")
    train_out, _ = layer(x)
    eval_out, _ = layer(x, training=False)
    batch_major, _ = layer(fc.transpose(x, [1, 0, 2]), time_major=False, training=False)
    is_training = fc.placeholder_with_default(True, [], name="is_training")
    switched, _ = layer(x, training=is_training)
    assert len(fc.global_variables()) == 4
    xv = RNG.standard_normal((4, 3, 2)).astype(np.float32)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        a, b, c, d = sess.run([train_out, eval_out, batch_major, switched], {x: xv})
        e = sess.run(switched, {x: xv, is_training: False})
    assert not np.allclose(a, b) and not np.allclose(d, b)
    np.testing.assert_allclose(c.transpose(1, 0, 2), b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(e, b, rtol=1e-6, atol=1e-6)


def test_clear_errors():
    cr = fc.contrib.cudnn_rnn
    with pytest.raises(ValueError, match="Invalid direction"):
        cr.CudnnLSTM(1, 3, direction="sideways")
    with pytest.raises(NotImplementedError, match="skip_input"):
        cr.CudnnGRU(1, 3, input_mode="skip_input")
    layer = cr.CudnnLSTM(2, 3)
    with pytest.raises(ValueError, match=r"\[time, batch, input\].*'flat"):
        layer(fc.placeholder(fc.float32, [4, 3], name="flat"))
    x = fc.placeholder(fc.float32, [4, 2, 3], name="x")
    with pytest.raises(ValueError, match=r"initial_state h must be .*\[4, 2, 3\]"):
        layer(x, initial_state=(fc.zeros([4, 2, 3]), fc.zeros([4, 2, 3])))
    with pytest.raises(ValueError, match="expecting a tuple of 2"):
        layer(x, initial_state=fc.zeros([2, 2, 3]))
    layer(x)
    with pytest.raises(ValueError, match="built for input depth 3"):
        layer(fc.placeholder(fc.float32, [4, 2, 5], name="y"))


def test_emulated_cuda_backend_bidirectional_gru_and_gradient():
    """The same layer and its gradient on the CUDA backend (run on the CPU through
    tests/cuda_emulator.py) agree with the interpreter: nothing is GPU-specific."""
    from cuda_emulator import emulated_gpu
    layer = fc.contrib.cudnn_rnn.CudnnGRU(1, 3, direction="bidirectional")
    x = fc.placeholder(fc.float32, [None, None, 2], name="x")
    out, (h,) = layer(x, sequence_lengths=[4, 1])
    loss = fc.reduce_sum(out ** 2) + fc.reduce_sum(h)
    weights = layer.trainable_variables
    fetches = [out, h, loss] + fc.gradients(loss, weights + [x])
    xv = RNG.standard_normal((4, 2, 2)).astype(np.float32)
    results = {}
    with emulated_gpu():
        for device in ("interpret", "gpu"):
            config = fc.ConfigProto(backend="interpret") if device == "interpret" \
                else fc.ConfigProto(device="gpu")
            with fc.Session(config=config) as sess:
                sess.run(fc.global_variables_initializer())
                if device == "interpret":
                    values = sess.run(weights)
                for v, value in zip(weights, values):
                    v.load(value, sess)
                results[device] = sess.run(fetches, {x: xv})
    for g, w in zip(results["gpu"], results["interpret"]):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_checkpoint_moves_to_the_compatible_cells(tmp_path):
    """TF1's workflow: train with CudnnLSTM, save (TF1's V2 format, keys as TF1's
    CudnnLSTM saveable writes them), rebuild the model on CPU with
    CudnnCompatibleLSTMCell and restore: the same outputs. The idiomatic readout
    `outputs[-1]` of a batch-major input transposed to time-major is used."""
    xv = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    prefix = str(tmp_path / "model.ckpt")
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 5, 3], name="x")
        lstm = fc.contrib.cudnn_rnn.CudnnLSTM(2, 4)
        outputs, _ = lstm(fc.transpose(x, [1, 0, 2]))
        last = outputs[-1]
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            want = sess.run(last, {x: xv})
            path = fc.train.Saver().save(sess, prefix)
    names = sorted(name for name, _ in fc.train.list_variables(path))
    assert names == [f"cudnn_lstm/rnn/multi_rnn_cell/cell_{k}/cudnn_compatible_lstm_cell/{v}"
                     for k in (0, 1) for v in ("bias", "kernel")]
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 5, 3], name="x")
        with fc.variable_scope("cudnn_lstm"):
            cells = [fc.contrib.cudnn_rnn.CudnnCompatibleLSTMCell(4) for _ in range(2)]
            outputs, _ = fc.nn.dynamic_rnn(fc.nn.rnn_cell.MultiRNNCell(cells),
                                           fc.transpose(x, [1, 0, 2]), dtype=fc.float32,
                                           time_major=True)
        with fc.Session() as sess:
            fc.train.Saver().restore(sess, path)
            got = sess.run(outputs[-1], {x: xv})
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_training_step_compiled_once_for_every_sequence_length():
    """A 2-layer bidirectional CudnnLSTM training step (forward and backward while
    loops) compiles once, whatever the fed number of time steps."""
    x = fc.placeholder(fc.float32, [None, None, 2], name="x")
    lengths = fc.placeholder(fc.int32, [None], name="len")
    out, (h, _) = fc.contrib.cudnn_rnn.CudnnLSTM(2, 3, direction="bidirectional")(
        x, sequence_lengths=lengths)
    loss = fc.reduce_mean(out ** 2) + fc.reduce_mean(h)
    train = fc.train.GradientDescentOptimizer(0.1).minimize(loss)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        for steps in (3, 7, 12):
            xv = RNG.standard_normal((steps, 2, 2)).astype(np.float32)
            sess.run([train, loss], {x: xv, lengths: [steps, steps // 2]})
        assert sess.compile_count == 2   # the initializer and the training step


def test_build_before_call():
    """TF1's `layer.build(input_shape)` makes the variables (TF1's names) before any
    call; the call then uses them."""
    layer = fc.contrib.cudnn_rnn.CudnnGRU(2, 3, direction="bidirectional", name="enc")
    assert not layer.built
    layer.build([None, None, 4])
    assert layer.built and layer.input_size == 4
    names = sorted(v.name for v in fc.global_variables())
    assert len(names) == 24 and len(layer.trainable_variables) == 24
    assert "enc/stack_bidirectional_rnn/cell_1/bidirectional_rnn/bw/cudnn_compatible_gru_cell/" \
        "candidate/hidden_projection/bias:0" in names
    out, (h,) = layer(fc.placeholder(fc.float32, [5, 2, 4], name="x"))
    assert sorted(v.name for v in fc.global_variables()) == names
    assert out.shape.as_list() == [5, 2, 6] and h.shape.as_list() == [4, 2, 3]
    assert layer.canonical_weight_shapes == (
        [(3, 4)] * 3 + [(3, 3)] * 3) * 2 + ([(3, 6)] * 3 + [(3, 3)] * 3) * 2
    assert layer.canonical_bias_shapes == [[3]] * 24
    with pytest.raises(RuntimeError, match="before input shape is known"):
        _ = fc.contrib.cudnn_rnn.CudnnLSTM(1, 3).canonical_weight_shapes
    assert fc.contrib.cudnn_rnn.CudnnRNNTanh(2, 5).canonical_bias_shapes == [[5]] * 4
    with pytest.raises(ValueError, match="3 dims"):
        fc.contrib.cudnn_rnn.CudnnGRU(1, 3).build([2, 4])


def test_bidirectional_checkpoint_into_stack_bidirectional_dynamic_rnn(tmp_path):
    """TF1's bidirectional inference idiom: a bidirectional CudnnLSTM's checkpoint
    restored into `tf.contrib.rnn.stack_bidirectional_dynamic_rnn` of
    CudnnCompatibleLSTMCells (with sequence_length) gives the same outputs and states."""
    xv = RNG.standard_normal((4, 3, 2)).astype(np.float32)
    lv = np.array([4, 1, 3], np.int32)
    prefix = str(tmp_path / "bi.ckpt")
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, None, 2], name="x")
        out, (h, c) = fc.contrib.cudnn_rnn.CudnnLSTM(2, 3, direction="bidirectional")(
            x, sequence_lengths=lv)
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            want = sess.run([out, h, c], {x: xv})
            path = fc.train.Saver().save(sess, prefix)
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, None, 2], name="x")
        cell = fc.contrib.cudnn_rnn.CudnnCompatibleLSTMCell
        with fc.variable_scope("cudnn_lstm"):
            out, st_fw, st_bw = fc.contrib.rnn.stack_bidirectional_dynamic_rnn(
                [cell(3), cell(3)], [cell(3), cell(3)], x, dtype=fc.float32,
                sequence_length=lv, time_major=True)
        h = fc.stack([st_fw[0].h, st_bw[0].h, st_fw[1].h, st_bw[1].h])
        c = fc.stack([st_fw[0].c, st_bw[0].c, st_fw[1].c, st_bw[1].c])
        with fc.Session() as sess:
            fc.train.Saver().restore(sess, path)
            got = sess.run([out, h, c], {x: xv})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_stack_bidirectional_rnn_static_equals_dynamic():
    """contrib.rnn.stack_bidirectional_rnn (static, TF1's `cell_i/fw` names) and
    stack_bidirectional_dynamic_rnn (`cell_i/bidirectional_rnn/fw`) on the same weights;
    TF1's argument errors."""
    x = fc.placeholder(fc.float32, [3, 2, 2], name="x")          # batch-major
    gru = fc.nn.rnn_cell.GRUCell
    d_out, d_fw, d_bw = fc.contrib.rnn.stack_bidirectional_dynamic_rnn(
        [gru(3), gru(2)], [gru(3), gru(2)], x, dtype=fc.float32, sequence_length=[2, 1, 2])
    s_out, s_fw, s_bw = fc.contrib.rnn.stack_bidirectional_rnn(
        [gru(3), gru(2)], [gru(3), gru(2)], fc.unstack(x, axis=1), dtype=fc.float32,
        sequence_length=[2, 1, 2], scope="static")
    names = [v.name for v in fc.global_variables()]
    assert "stack_bidirectional_rnn/cell_1/bidirectional_rnn/bw/gru_cell/gates/kernel:0" \
        in names and "static/cell_1/bw/gru_cell/gates/kernel:0" in names
    assert d_out.shape.as_list() == [3, 2, 4] and len(s_out) == 2 and len(d_fw) == 2
    half = len(names) // 2
    copies = [fc.assign(s, d) for d, s in zip(fc.global_variables()[:half],
                                                fc.global_variables()[half:])]
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        sess.run(copies)
        xv = RNG.standard_normal((3, 2, 2)).astype(np.float32)
        a, b, c, d = sess.run([d_out, fc.stack(s_out, 1), d_bw[1], s_bw[1]], {x: xv})
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c, d, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="at least one bw cell"):
        fc.contrib.rnn.stack_bidirectional_dynamic_rnn([gru(2)], [], x, dtype=fc.float32)
    with pytest.raises(ValueError, match="same depth"):
        fc.contrib.rnn.stack_bidirectional_rnn([gru(2)], [gru(2), gru(2)], [x[0]],
                                               dtype=fc.float32)


def test_second_model_in_a_reused_scope_shares_the_weights():
    """The PTB idiom: a training and an evaluation model built in
    `variable_scope("Model", reuse=None/True)`, each with its own CudnnLSTM object,
    share the variables (TF1's names made unique only once)."""
    x = fc.placeholder(fc.float32, [3, 2, 2], name="x")
    with fc.variable_scope("Model", reuse=None):
        train_out, _ = fc.contrib.cudnn_rnn.CudnnLSTM(2, 4, direction="bidirectional")(x)
    names = [v.name for v in fc.global_variables()]
    with fc.variable_scope("Model", reuse=True):
        eval_out, _ = fc.contrib.cudnn_rnn.CudnnLSTM(2, 4, direction="bidirectional")(
            x, training=False)
    assert [v.name for v in fc.global_variables()] == names and len(names) == 8
    assert names[0] == ("Model/cudnn_lstm/stack_bidirectional_rnn/cell_0/bidirectional_rnn/"
                        "fw/cudnn_compatible_lstm_cell/kernel:0")
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        a, b = sess.run([train_out, eval_out], {x: np.ones((3, 2, 2), np.float32)})
    np.testing.assert_array_equal(a, b)
