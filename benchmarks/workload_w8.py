"""W8, one training step of the classic 28-step `static_rnn` LSTM classifier (issue 16,
item 2; TensorFlow-Examples' recurrent_network.py): x [128, 28, 28] (MNIST-shaped: each
image row is a time step), `tf.unstack(x, 28, 1)`, `BasicLSTMCell(128, forget_bias=1.0)`,
`tf.nn.static_rnn`, logits = last output @ w [128, 10] + b, mean softmax cross-entropy with
one-hot labels, GradientDescent (learning rate 0.1) on all four variables, float32.

The graph is built by `build_w8(tf, ...)`, which takes the TF1 module as an argument
(`compiler` for flowc, `tensorflow.compat.v1` for TF1), so every TF1-style system runs the
very same function.

Systems: flowc (`Session.run([train_op, loss])`; `compile_s` is the first step, a cold
compile with the disk cache off), numpy (hand-written forward, backward through time and
update: the reference), and, when installed, jax-jit (`jax.lax.scan` over the 28 steps,
the idiomatic jax RNN; `value_and_grad` and the update in one `jax.jit`) and torch
(`nn.LSTM(batch_first=True)` + `nn.Linear`, eager autograd, `torch.optim.SGD`), and tf1,
tf1-xla (TensorFlow's compat.v1 Session running `build_w8(tensorflow.compat.v1)`;
benchmarks/peer_tf1.py; under Keras 3 its BasicLSTMCell needs tf-keras, else "skipped"). Every
system starts from the same weights; its loss and parameter updates after one step are
checked against numpy's before it is timed. torch's LSTM has two bias vectors (input and
hidden) that each get the gate gradient: its bias update is checked on `bias_ih` (started
from the TF bias re-laid out in torch's gate order with the forget bias folded in), and
`bias_hh` starts at zero. `gflops` counts the LSTM's and the classifier's matmuls of
forward and backward (no input gradient of the first step).
"""

from __future__ import annotations

import time

import numpy as np
import peer_tf1
from benchlib import (
    check_sgd_step,
    flowc_init_s,
    flowc_kernels,
    jax_train_record,
    measure,
    no_disk_cache,
    numpy_blas_note,
    numpy_train_record,
    result,
    run_systems,
    sgd_reference,
    skipped,
    try_import,
)
from conv_numpy import softmax_xent

NAME = "W8"
LR = np.float32(0.1)
RTOL = 2e-3   # float32 through 28 recurrent steps, forward and backward
PARAMS = ("kernel", "bias", "w", "b")


def _sizes(quick):
    """(time steps, input width, hidden units, classes, batch)."""
    return (6, 5, 8, 10, 4) if quick else (28, 28, 128, 10, 128)


def _data(steps, depth, hidden, classes, batch, seed=0):
    rng = np.random.default_rng(seed)
    scale = np.float32(1 / np.sqrt(depth + hidden))
    p = dict(
        kernel=(rng.uniform(-1, 1, (depth + hidden, 4 * hidden)) * scale).astype(np.float32),
        bias=(0.1 * rng.standard_normal(4 * hidden)).astype(np.float32),
        w=(rng.standard_normal((hidden, classes)) / np.sqrt(hidden)).astype(np.float32),
        b=(0.1 * rng.standard_normal(classes)).astype(np.float32))
    x = rng.uniform(0.0, 1.0, (batch, steps, depth)).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch)]
    return p, x, y


def _sig(x):
    return np.float32(1) / (np.float32(1) + np.exp(-x))


def numpy_step(p, x, y):
    """One GradientDescent step in place on the dict `p`; returns the loss before it."""
    kernel, bias = p["kernel"], p["bias"]
    batch, steps, depth = x.shape
    n = bias.shape[0] // 4
    one = np.float32(1)
    h = np.zeros((batch, n), np.float32)
    c = np.zeros((batch, n), np.float32)
    tape = []
    for t in range(steps):
        xh = np.concatenate([x[:, t, :], h], axis=1)
        g = xh @ kernel + bias
        si, tj = _sig(g[:, :n]), np.tanh(g[:, n:2 * n])
        sf, so = _sig(g[:, 2 * n:3 * n] + one), _sig(g[:, 3 * n:])
        c_new = c * sf + si * tj
        tc = np.tanh(c_new)
        tape.append((xh, c, si, tj, sf, so, tc))
        c, h = c_new, tc * so
    loss, d = softmax_xent(h @ p["w"] + p["b"], y)
    grads = dict(w=h.T @ d, b=d.sum(axis=0), kernel=np.zeros_like(kernel),
                 bias=np.zeros_like(bias))
    dh = d @ p["w"].T
    dc = np.zeros((batch, n), np.float32)
    for xh, c_prev, si, tj, sf, so, tc in reversed(tape):
        dc = dc + dh * so * (one - tc * tc)
        dg = np.concatenate([dc * tj * si * (one - si), dc * si * (one - tj * tj),
                             dc * c_prev * sf * (one - sf), dh * tc * so * (one - so)],
                            axis=1)
        grads["kernel"] += xh.T @ dg
        grads["bias"] += dg.sum(axis=0)
        dh = (dg @ kernel.T)[:, depth:]
        dc = dc * sf
    for k in PARAMS:
        p[k] -= LR * grads[k].astype(np.float32)
    return loss


def build_w8(tf, steps=28, depth=28, hidden=128, classes=10, lr=float(LR)):
    """Build W8's training graph in the current default graph of the TF1-style module
    `tf` (`compiler`, or `tensorflow.compat.v1`). Returns a dict: `x`, `y` (placeholders
    [None, steps, depth] and [None, classes]), `loss`, `train` (the GradientDescent
    op), `init`, and `variables`: the four variables by `PARAMS` name, whose values a
    caller sets with `variable.load(value, session)` after running `init`."""
    x = tf.placeholder(tf.float32, [None, steps, depth], name="x")
    y = tf.placeholder(tf.float32, [None, classes], name="y")
    w = tf.Variable(tf.zeros([hidden, classes]), name="w")
    b = tf.Variable(tf.zeros([classes]), name="b")
    cell = tf.nn.rnn_cell.BasicLSTMCell(hidden, forget_bias=1.0)
    outputs, _ = tf.nn.static_rnn(cell, tf.unstack(x, steps, 1), dtype=tf.float32)
    logits = tf.matmul(outputs[-1], w) + b
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y,
                                                                     logits=logits))
    train = tf.train.GradientDescentOptimizer(lr).minimize(loss)
    kernel, bias = cell.trainable_variables
    return dict(x=x, y=y, loss=loss, train=train, init=tf.global_variables_initializer(),
                variables=dict(kernel=kernel, bias=bias, w=w, b=b))


def _flops(steps, depth, hidden, classes, batch):
    cell = 2 * batch * (depth + hidden) * 4 * hidden
    first_input = 2 * batch * depth * 4 * hidden   # d x of step 1 is not needed
    return 3 * steps * cell - first_input + 3 * 2 * batch * hidden * classes


def run(cfg):
    steps, depth, hidden, classes, batch = _sizes(cfg.quick)
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=5) if cfg.quick else \
        dict(min_time_s=2.0, min_repeats=10, max_repeats=100)
    p0, x, y = _data(steps, depth, hidden, classes, batch)
    want = sgd_reference(numpy_step, p0, x, y)
    gflop = _flops(steps, depth, hidden, classes, batch) / 1e9
    systems = [("flowc", _flowc), ("numpy", _numpy), ("jax-jit", _jax), ("torch", _torch),
               ("tf1", _tf1), ("tf1-xla", _tf1_xla)]
    yield from run_systems(NAME, cfg, systems, (p0, x, y, want, timing), gflop)


def check_step(got, loss, want, rtol=RTOL):
    """"ok" when the loss and every parameter's update (new - old) match numpy's."""
    return check_sgd_step(PARAMS, got, loss, want, rtol)


def _flowc(p0, x, y, want, timing, options=None):
    import compiler as fc
    init_s = flowc_init_s()
    steps, depth = x.shape[1:]
    hidden, classes = p0["w"].shape
    graph = fc.Graph()
    with graph.as_default():
        m = build_w8(fc, steps, depth, hidden, classes)
    sess = fc.Session(graph=graph, config=options)
    sess.run(m["init"])
    for k, v in m["variables"].items():
        v.load(p0[k], sess)
    feed = {m["x"]: x, m["y"]: y}
    fetches = [m["train"], m["loss"]]
    with no_disk_cache():
        t0 = time.perf_counter()
        _, lv = sess.run(fetches, feed)
        compile_s = time.perf_counter() - t0
    kernels = flowc_kernels(sess)   # before the fetch of the variables compiles another
    got = dict(zip(PARAMS, sess.run([m["variables"][k] for k in PARAMS])))
    check = check_step(got, lv, want)
    times = measure(lambda: sess.run(fetches, feed), **timing)
    note = (f"build_w8(compiler): Session.run([train_op, loss]); compile_s = first step "
            f"(cold compile, disk cache off, plus one step) without the one-time LLVM "
            f"start-up ({init_s:.2f} s); {sess.options.threads} thread(s) configured")
    return result(NAME, "flowc", times, check, compile_s=compile_s,
                  kernels=kernels, note=note)


def _tf1(p0, x, y, want, timing, system="tf1"):
    tf = peer_tf1.load()
    why = tf is not None and peer_tf1.missing(tf, "nn.rnn_cell.BasicLSTMCell")
    if why:
        return skipped(NAME, system, why)
    steps, depth = x.shape[1:]
    hidden, classes = p0["w"].shape

    def make(tf):
        m = build_w8(tf, steps, depth, hidden, classes)

        def setup(sess):
            sess.run(m["init"])
            for k, v in m["variables"].items():
                v.load(p0[k], sess)

        def check(out, sess):
            got = dict(zip(PARAMS, sess.run([m["variables"][k] for k in PARAMS])))
            return check_step(got, out[1], want)
        return [m["train"], m["loss"]], {m["x"]: x, m["y"]: y}, setup, check
    return peer_tf1.record(NAME, system, make, timing,
                           "build_w8(tensorflow.compat.v1): sess.run([train_op, loss])")


def _tf1_xla(p0, x, y, want, timing):
    return _tf1(p0, x, y, want, timing, "tf1-xla")


def _numpy(p0, x, y, want, timing):
    return numpy_train_record(
        NAME, numpy_step, p0, (x, y), lambda p, lv: check_step(p, lv, want), timing,
        note="hand-written forward, backward through time and update; "
             + numpy_blas_note())


def _jax(p0, x, y, want, timing):
    jax = try_import("jax")
    if jax is None:
        return skipped(NAME, "jax-jit", "jax not installed")
    jnp = jax.numpy
    n = p0["w"].shape[0]

    def loss_fn(p, xb, yb):
        def cell(carry, xt):
            c, h = carry
            g = jnp.concatenate([xt, h], axis=1) @ p["kernel"] + p["bias"]
            i, j, f, o = g[:, :n], g[:, n:2 * n], g[:, 2 * n:3 * n], g[:, 3 * n:]
            c = c * jax.nn.sigmoid(f + 1.0) + jax.nn.sigmoid(i) * jnp.tanh(j)
            h = jnp.tanh(c) * jax.nn.sigmoid(o)
            return (c, h), None

        zeros = jnp.zeros((xb.shape[0], n), jnp.float32)
        (_, h), _ = jax.lax.scan(cell, (zeros, zeros), jnp.swapaxes(xb, 0, 1))
        logits = h @ p["w"] + p["b"]
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * yb, axis=1))

    params = {k: jnp.asarray(v) for k, v in p0.items()}
    return jax_train_record(
        NAME, jax, loss_fn, float(LR), params, (jnp.asarray(x), jnp.asarray(y)),
        lambda new, lv: check_step({k: np.asarray(v) for k, v in new.items()}, lv, want),
        timing, note=f"jax {jax.__version__}, jit of value_and_grad + update, "
                     f"lax.scan over the {x.shape[1]} steps")


def _torch_order(n):
    """flowc/TF gate order i, j, f, o; torch's is i, f, g(=j), o."""
    return np.concatenate([np.arange(0, n), np.arange(2 * n, 3 * n), np.arange(n, 2 * n),
                           np.arange(3 * n, 4 * n)])


def _torch(p0, x, y, want, timing):
    torch = try_import("torch")
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")
    depth = x.shape[2]
    n, classes = p0["w"].shape
    order = _torch_order(n)
    lstm = torch.nn.LSTM(depth, n, batch_first=True)
    linear = torch.nn.Linear(n, classes)
    bias = p0["bias"].copy()
    bias[2 * n:3 * n] += 1   # TF's forget bias, folded into torch's bias
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(p0["kernel"][:depth, order].T.copy()))
        lstm.weight_hh_l0.copy_(torch.tensor(p0["kernel"][depth:, order].T.copy()))
        lstm.bias_ih_l0.copy_(torch.tensor(bias[order]))
        lstm.bias_hh_l0.zero_()
        linear.weight.copy_(torch.tensor(p0["w"].T.copy()))
        linear.bias.copy_(torch.tensor(p0["b"]))
    opt = torch.optim.SGD(list(lstm.parameters()) + list(linear.parameters()), lr=float(LR))
    xt, labels = torch.tensor(x), torch.tensor(y.argmax(axis=1))

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = lstm(xt)
        lv = torch.nn.functional.cross_entropy(linear(out[:, -1]), labels)
        lv.backward()
        opt.step()
        return lv.detach()

    lv = float(step())
    with torch.no_grad():
        inverse = np.argsort(order)
        kernel = np.concatenate([lstm.weight_ih_l0.numpy().T, lstm.weight_hh_l0.numpy().T])
        bias = lstm.bias_ih_l0.numpy()[inverse].copy()
        bias[2 * n:3 * n] -= 1
        got = dict(kernel=kernel[:, inverse], bias=bias, w=linear.weight.numpy().T,
                   b=linear.bias.numpy())
        check = check_step(got, lv, want)
    times = measure(step, **timing)
    return result(NAME, "torch", times, check,
                  note=f"torch {torch.__version__} nn.LSTM + nn.Linear, eager autograd, "
                       f"SGD, {torch.get_num_threads()} threads")
