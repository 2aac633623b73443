"""fc.layers.dense, fc.nn.dropout, fc.nn.rnn_cell LSTM cells and fc.nn.static_rnn: against
numpy implementations of the same equations (variables read back from the Session), on
the interpreter and the LLVM backend; reuse semantics; shared kernels across time steps."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]
RNG = np.random.default_rng(0)


def _run(backend, fetches, feed_dict=None, graph=None):
    """Run `fetches` after the variable initializers, on `backend`."""
    with fc.Session(graph=graph, config=fc.ConfigProto(backend=backend)) as sess:
        sess.run(fc.global_variables_initializer())
        return sess.run(fetches, feed_dict)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---- dense ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(None, 3), (None, 4, 3)])
def test_dense_matches_numpy(backend, shape):
    x = fc.placeholder(fc.float32, shape)
    y = fc.layers.dense(x, 5, activation=fc.nn.relu, name="fc1",
                        bias_initializer=fc.constant_initializer(0.1))
    assert y.shape.as_list()[-1] == 5 and y.shape.ndims == len(shape)
    xv = _rand(2, *shape[1:])
    out, k, b = _run(backend, [y, "fc1/kernel:0", "fc1/bias:0"], {x: xv})
    assert k.shape == (3, 5) and np.allclose(b, 0.1)
    np.testing.assert_allclose(out, np.maximum(xv @ k + b, 0), rtol=1e-5, atol=1e-6)


def test_dense_names_and_reuse():
    x = fc.placeholder(fc.float32, [None, 3])
    fc.layers.dense(x, 4)
    fc.layers.dense(x, 4)
    fc.layers.dense(x, 2, use_bias=False, name="out")
    names = [v.name for v in fc.global_variables()]
    assert names == ["dense/kernel:0", "dense/bias:0", "dense_1/kernel:0", "dense_1/bias:0",
                     "out/kernel:0"]
    assert all(v in fc.trainable_variables() for v in fc.global_variables())
    fc.layers.dense(x, 2, use_bias=False, name="out", reuse=True)
    fc.layers.dense(x, 2, name="auto", reuse=fc.AUTO_REUSE)
    fc.layers.dense(x, 2, name="auto", reuse=fc.AUTO_REUSE)
    assert len(fc.global_variables()) == 7
    with pytest.raises(ValueError, match="already exists"):
        fc.layers.dense(x, 2, name="out")
    with pytest.raises(ValueError, match="does not exist"):
        fc.layers.dense(x, 2, name="missing", reuse=True)
    fc.layers.dense(x, 3, name="frozen", trainable=False)
    assert "frozen/kernel:0" not in [v.name for v in fc.trainable_variables()]


def test_dense_glorot_default_bounds():
    x = fc.placeholder(fc.float32, [None, 300])
    fc.layers.dense(x, 200)
    (k,) = _run("interpret", ["dense/kernel:0"])
    limit = np.sqrt(6 / 500)
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit


# ---- dropout ----------------------------------------------------------------------------
def _dropout_graph(seed):
    g = fc.Graph()
    with g.as_default():
        fc.set_random_seed(3)
        x = fc.placeholder(fc.float32, [None, 4000])
        training = fc.placeholder_with_default(True, [])
        rate = fc.where(training, 0.25, 0.0)
        y = fc.nn.dropout(x, rate=rate, seed=seed)
    return g, x, training, y


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_statistics_and_training_flag(backend):
    g, x, training, y = _dropout_graph(seed=11)
    xv = np.ones((2, 4000), np.float32)
    out = _run(backend, y, {x: xv}, graph=g)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    off = _run(backend, y, {x: xv, training: False}, graph=g)
    np.testing.assert_array_equal(off, xv)


def test_dropout_same_mask_on_both_backends_and_deterministic():
    xv = _rand(3, 4000)
    masks = []
    for backend in BACKENDS + ["interpret"]:
        g, x, _, y = _dropout_graph(seed=11)
        masks.append(_run(backend, y, {x: xv}, graph=g) != 0)
    np.testing.assert_array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks[0], masks[2])
    g, x, _, y = _dropout_graph(seed=12)
    assert (_run("interpret", y, {x: xv}, graph=g) != 0).tolist() != masks[0].tolist()


def test_dropout_keep_prob_and_errors():
    x = fc.ones([1000])
    y = fc.nn.dropout(x, keep_prob=0.5, seed=1)
    (out,) = _run("interpret", [y])
    assert set(np.unique(out)) <= {0.0, 2.0}
    with pytest.raises(ValueError, match="exactly one"):
        fc.nn.dropout(x)


# ---- LSTM -------------------------------------------------------------------------------
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _np_lstm_step(x, c, h, v, forget_bias=1.0, peep=False, proj=False):
    """One step of TF1's LSTM equations (gate order i, j, f, o) in numpy."""
    gates = np.concatenate([x, h], 1) @ v["kernel"] + v["bias"]
    i, j, f, o = np.split(gates, 4, axis=1)
    if peep:
        f, i = f + v["w_f_diag"] * c, i + v["w_i_diag"] * c
    new_c = c * _sigmoid(f + forget_bias) + _sigmoid(i) * np.tanh(j)
    if peep:
        o = o + v["w_o_diag"] * new_c
    new_h = np.tanh(new_c) * _sigmoid(o)
    if proj:
        new_h = new_h @ v["projection"]
    return new_h, new_c


def _values(backend, fetches, feed, cell_vars, prefix):
    """Run `fetches` and read the cell's variables, keyed by their short names."""
    names = [var.name for var in cell_vars]
    out = _run(backend, [fetches, names], feed)
    short = {n[len(prefix):-2].replace("projection/kernel", "projection"): val
             for n, val in zip(names, out[1])}
    return out[0], short


@pytest.mark.parametrize("backend", BACKENDS)
def test_basic_lstm_cell_one_step(backend):
    x = fc.placeholder(fc.float32, [None, 3])
    cell = fc.nn.rnn_cell.BasicLSTMCell(4, forget_bias=0.5)
    state = cell.zero_state(fc.shape(x)[0], fc.float32)
    h0 = fc.constant(_rand(2, 4))
    out, new = cell(x, fc.nn.rnn_cell.LSTMStateTuple(state.c + 0.3, h0))
    assert isinstance(new, fc.nn.rnn_cell.LSTMStateTuple) and out is new.h
    assert [v.name for v in cell.variables] == ["basic_lstm_cell/kernel:0",
                                                "basic_lstm_cell/bias:0"]
    assert cell.variables[0].shape.as_list() == [7, 16]
    xv = _rand(2, 3)
    (o, c), v = _values(backend, [out, new.c], {x: xv}, cell.variables, "basic_lstm_cell/")
    want_h, want_c = _np_lstm_step(xv, np.full((2, 4), 0.3, np.float32),
                                   _run("interpret", h0), v, forget_bias=0.5)
    np.testing.assert_allclose(c, want_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o, want_h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["basic", "peephole_proj"])
def test_static_rnn_matches_numpy(backend, kind):
    seq = fc.placeholder(fc.float32, [None, 5, 3])
    inputs = fc.unstack(seq, axis=1)
    if kind == "basic":
        cell, prefix = fc.nn.rnn_cell.BasicLSTMCell(4), "rnn/basic_lstm_cell/"
    else:
        cell = fc.nn.rnn_cell.LSTMCell(4, use_peepholes=True, num_proj=2,
                                       initializer=fc.random_uniform_initializer(-0.5, 0.5))
        prefix = "rnn/lstm_cell/"
    outputs, final = fc.nn.static_rnn(cell, inputs, dtype=fc.float32)
    assert len(outputs) == 5 and len(fc.global_variables()) == len(cell.variables)
    xv = _rand(2, 5, 3)
    (outs, c_last), v = _values(backend, [outputs, final.c], {seq: xv}, cell.variables,
                                prefix)
    h = np.zeros((2, cell.output_size), np.float32)
    c = np.zeros((2, 4), np.float32)
    for t in range(5):
        h, c = _np_lstm_step(xv[:, t], c, h, v, peep=kind != "basic", proj=kind != "basic")
        np.testing.assert_allclose(outs[t], h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c_last, c, rtol=1e-4, atol=1e-5)


def test_static_rnn_state_not_tuple_and_errors():
    x = [fc.placeholder(fc.float32, [2, 3]) for _ in range(2)]
    cell = fc.nn.rnn_cell.BasicLSTMCell(4, state_is_tuple=False)
    outs, state = fc.nn.static_rnn(cell, x, initial_state=cell.zero_state(2, fc.float32),
                                   scope="enc")
    assert state.shape.as_list() == [2, 8] and outs[1].shape.as_list() == [2, 4]
    assert [v.name for v in fc.global_variables()] == ["enc/basic_lstm_cell/kernel:0",
                                                       "enc/basic_lstm_cell/bias:0"]
    # sequence_length is supported now (tests/test_rnn_cells.py); a bad one still raises
    with pytest.raises(ValueError, match="sequence_length must be a vector"):
        fc.nn.static_rnn(cell, x, dtype=fc.float32, sequence_length=[[2, 2]])
    with pytest.raises(ValueError, match="dtype must"):
        fc.nn.static_rnn(fc.nn.rnn_cell.BasicLSTMCell(4), x)


# ---- shared kernels across time steps ---------------------------------------------------
def _kernel_counts(steps, unstacked):
    """(distinct kernel functions, kernel calls) of a static_rnn unrolled `steps` times, its
    inputs fed as one [batch, steps, 3] tensor (`unstacked`) or as `steps` placeholders."""
    from compiler.backends.llvm.target import cpu_schedule
    from compiler.convert import convert
    from compiler.lower import lower_program
    from passes.fusion import plan_kernels
    from passes.manager import run_pipeline
    g = fc.Graph()
    with g.as_default():
        if unstacked:
            feeds = [fc.placeholder(fc.float32, [None, steps, 3])]
            inputs = fc.unstack(feeds[0], axis=1)
        else:
            feeds = inputs = [fc.placeholder(fc.float32, [None, 3]) for _ in range(steps)]
        outputs, _ = fc.nn.static_rnn(fc.nn.rnn_cell.BasicLSTMCell(8), inputs,
                                      dtype=fc.float32)
        loss = fc.reduce_sum(fc.stack(outputs))
    program = convert(g, [loss], feeds)
    program, _ = run_pipeline(program, fc.CompileOptions())
    lowered = lower_program(program, plan_kernels(program), cpu_schedule("host"))
    return len(lowered.kernels), len(lowered.calls)


@pytest.mark.parametrize("unstacked", [False, True])
def test_static_rnn_kernels_do_not_grow_with_sequence_length(unstacked):
    # With `unstack`, step t's input slice is fused into its matmul at offset t: the
    # kernels differ only in that index offset, which becomes a kernel argument.
    k4, calls4 = _kernel_counts(4, unstacked)
    k8, calls8 = _kernel_counts(8, unstacked)
    assert calls8 > calls4
    assert k8 == k4, (k4, k8)


def test_kernels_equal_up_to_offsets_share_one_function_with_offset_arguments():
    from compiler.backends.llvm.target import cpu_schedule
    from compiler.convert import convert
    from compiler.lower import lower_program
    from passes.fusion import plan_kernels
    from passes.manager import run_pipeline
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [6, 5])
        rows = fc.unstack(x, axis=0)
        outs = [fc.exp(r) * 2.0 for r in rows]
    program = convert(g, outs, [x])
    program, _ = run_pipeline(program, fc.CompileOptions())
    lowered = lower_program(program, plan_kernels(program), cpu_schedule("host"))
    offsets = sorted(tuple(c[2]) for c in lowered.calls)
    assert len(lowered.calls) == 6
    assert len(lowered.kernels) < 6, [k.name for k in lowered.kernels]
    # each call passes its own row offset (row 0 has none to add: its own kernel)
    assert [1, 2, 3, 4, 5] == sorted(o for c in offsets for o in c if o), offsets
    xv = _rand(6, 5)
    for backend in BACKENDS:
        got = _run(backend, outs, {x: xv}, graph=g)
        for i, v in enumerate(got):
            np.testing.assert_allclose(v, np.exp(xv[i]) * 2.0, rtol=1e-6)


def test_gradients_reach_every_layer_variable():
    seq = fc.placeholder(fc.float32, [None, 3, 2])
    cell = fc.nn.rnn_cell.LSTMCell(4, use_peepholes=True, num_proj=3)
    outputs, _ = fc.nn.static_rnn(cell, fc.unstack(seq, axis=1), dtype=fc.float32)
    pred = fc.layers.dense(fc.nn.dropout(outputs[-1], rate=0.1, seed=2), 1)
    loss = fc.reduce_mean(fc.square(pred))
    variables = fc.trainable_variables()
    assert len(variables) == 8
    grads = fc.gradients(loss, variables)
    values = _run("interpret", grads, {seq: _rand(2, 3, 2)})
    for var, g in zip(variables, values):
        assert g.shape == tuple(var.shape.as_list()) and np.all(np.isfinite(g)), var.name
        assert np.any(g != 0), var.name


@pytest.mark.parametrize("backend", BACKENDS)
def test_layers_dropout_training_switch(backend):
    x = fc.placeholder(fc.float32, [None, 2000])
    training = fc.placeholder_with_default(False, [])
    y = fc.layers.dropout(x, rate=0.5, seed=4, training=training)
    same = fc.layers.dropout(x, rate=0.5, training=False)
    always = fc.layers.dropout(x, rate=0.5, seed=5, training=True)
    xv = np.ones((2, 2000), np.float32)
    off, s, a = _run(backend, [y, same, always], {x: xv})
    np.testing.assert_array_equal(off, xv)
    np.testing.assert_array_equal(s, xv)
    assert abs((a == 0).mean() - 0.5) < 0.03
    (on,) = _run(backend, [y], {x: xv, training: True})
    assert abs((on == 0).mean() - 0.5) < 0.03 and set(np.unique(on)) <= {0.0, 2.0}


def test_cells_share_variables_through_reuse():
    x = [fc.placeholder(fc.float32, [2, 3]) for _ in range(2)]
    first = fc.nn.rnn_cell.BasicLSTMCell(4)
    out_a, _ = fc.nn.static_rnn(first, x, dtype=fc.float32)
    out_b, _ = fc.nn.static_rnn(first, x, dtype=fc.float32)  # same object: same variables
    again = fc.nn.rnn_cell.BasicLSTMCell(4, reuse=True)
    out_c, _ = fc.nn.static_rnn(again, x, dtype=fc.float32)
    assert [v.name for v in fc.global_variables()] == ["rnn/basic_lstm_cell/kernel:0",
                                                       "rnn/basic_lstm_cell/bias:0"]
    assert again.variables == first.variables
    # TF1: leaving "rnn" resets the default names made unique inside it, so a new cell
    # in a new static_rnn finds "rnn/basic_lstm_cell" taken (TF1's well-known error);
    # a scope of its own separates it
    with pytest.raises(ValueError, match="already exists"):
        fc.nn.static_rnn(fc.nn.rnn_cell.BasicLSTMCell(4), x, dtype=fc.float32)
    other = fc.nn.rnn_cell.BasicLSTMCell(4)
    fc.nn.static_rnn(other, x, dtype=fc.float32, scope="second")
    assert other.variables[0].name == "second/basic_lstm_cell/kernel:0"
    feed = {p: _rand(2, 3) for p in x}
    a, b, c = _run("interpret", [out_a[-1], out_b[-1], out_c[-1]], feed)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
