"""W3, one SGD step of a 784-512-512-10 MLP (relu, relu, softmax cross-entropy), batch
256, float32, learning rate 0.01 (issue 6, item 7).

Systems: flowc (`Session.run([train_op, loss])`: forward, backward and in-place update in
one compiled call; `compile_s` is the first step, the cold compile of the training
program), numpy (hand-written forward, backward and update), and, when installed, jax-jit,
torch, and tf1, tf1-xla (TensorFlow's compat.v1 Session running `build`, the function that
builds flowc's graph, with `tensorflow.compat.v1`: the same graph, weights and feeds;
benchmarks/peer_tf1.py). Every system starts from the same weights; after one step its
updated weights and loss are checked against numpy's before it is timed. Timed steps keep
updating the weights (as training does), so weights drift from the checked values; that
does not change the work per step. `gflops` counts the six matmuls of forward and backward
(2*B*m*n each, minus the unused input gradient of the first layer).
The tvm line (when apache-tvm is installed): one Relax function of the step, peer_tvm.py.
"""

from __future__ import annotations

import numpy as np
import peer_tf1
import peer_tvm
from benchlib import (
    compare,
    flowc_train_record,
    in_new_graph,
    jax_train_record,
    measure,
    numpy_blas_note,
    result,
    run_systems,
    skipped,
    try_import,
)

NAME = "W3"
SIZES = (784, 512, 512, 10)
LR = 0.01
RTOL, ATOL = 1e-4, 1e-6


def _data(batch, sizes):
    rng = np.random.default_rng(0)
    ws = [(rng.standard_normal((m, n)) * np.sqrt(2.0 / m)).astype(np.float32)
          for m, n in zip(sizes, sizes[1:])]
    bs = [np.full(n, 0.01, np.float32) for n in sizes[1:]]
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], batch)
    y = np.eye(sizes[-1], dtype=np.float32)[labels]
    return ws, bs, x, y


def _flops(batch, sizes):
    fwd = sum(2 * batch * m * n for m, n in zip(sizes, sizes[1:]))
    bwd_w = fwd
    bwd_x = fwd - 2 * batch * sizes[0] * sizes[1]
    return fwd + bwd_w + bwd_x


def numpy_step(ws, bs, x, y, lr=LR):
    """One SGD step in place on `ws`, `bs`; returns the loss (before the update)."""
    hs = [x]
    h = x
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w + b
        if i < len(ws) - 1:
            h = np.maximum(h, np.float32(0))
        hs.append(h)
    logits = hs[-1]
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s)[:, 0] - (z * y).sum(axis=1)))
    g = (e / s - y) / np.float32(x.shape[0])
    lr = np.float32(lr)
    for i in reversed(range(len(ws))):
        gw = hs[i].T @ g
        gb = g.sum(axis=0)
        if i > 0:
            g = (g @ ws[i].T) * (hs[i] > 0)
        ws[i] -= lr * gw
        bs[i] -= lr * gb
    return loss


def run(cfg):
    batch = 16 if cfg.quick else 256
    sizes = (32, 16, 16, 10) if cfg.quick else SIZES
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=10) if cfg.quick else \
        dict(min_time_s=2.0, min_repeats=10, max_repeats=100)
    ws0, bs0, x, y = _data(batch, sizes)
    ws1, bs1 = [w.copy() for w in ws0], [b.copy() for b in bs0]
    loss0 = numpy_step(ws1, bs1, x, y)
    want = (ws1, bs1, loss0)
    gflop = _flops(batch, sizes) / 1e9
    systems = [("flowc", _flowc), ("numpy", _numpy), ("jax-jit", _jax), ("torch", _torch),
               ("tf1", _tf1), ("tf1-xla", _tf1_xla),
               ("tvm", _tvm)]
    yield from run_systems(NAME, cfg, systems, (ws0, bs0, x, y, want, timing), gflop)


def _check(ws, bs, loss, want):
    for got, exp in zip(list(ws) + list(bs), list(want[0]) + list(want[1])):
        c = compare(np.asarray(got, np.float32), exp, RTOL, ATOL)
        if c != "ok":
            return c
    return compare(np.float32(loss), np.float32(want[2]), RTOL, ATOL)


def build(tf, ws0, bs0, n_in, n_out):
    """The training graph of flowc's and TF1's systems, built with the module `tf`
    (`compiler` or `tensorflow.compat.v1`), variables initialized from `ws0`, `bs0`:
    `(x placeholder, y placeholder, weights, biases, loss, train op, initializer)`."""
    xp = tf.placeholder(tf.float32, [None, n_in], name="x")
    yp = tf.placeholder(tf.float32, [None, n_out], name="y")
    wv = [tf.Variable(w, name=f"w{i}") for i, w in enumerate(ws0)]
    bv = [tf.Variable(b, name=f"b{i}") for i, b in enumerate(bs0)]
    h = xp
    for i, (w, b) in enumerate(zip(wv, bv)):
        h = tf.matmul(h, w) + b
        if i < len(wv) - 1:
            h = tf.nn.relu(h)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=yp, logits=h))
    train = tf.train.GradientDescentOptimizer(LR).minimize(loss)
    return xp, yp, wv, bv, loss, train, tf.global_variables_initializer()


def _flowc(ws0, bs0, x, y, want, timing):
    import compiler as fc
    graph, xp, yp, wv, bv, loss, train, init = in_new_graph(fc, build, ws0, bs0, x.shape[1],
                                                            y.shape[1])
    return flowc_train_record(
        NAME, graph, init, train, loss, {xp: x, yp: y}, wv + bv,
        lambda vals, lv: _check(vals[:len(wv)], vals[len(wv):], lv, want), timing,
        first_step="cold compile of the training program, disk cache off, plus one step")


def _tf1(ws0, bs0, x, y, want, timing, system="tf1"):
    def make(tf):
        xp, yp, wv, bv, loss, train, init = build(tf, ws0, bs0, x.shape[1], y.shape[1])
        variables = wv + bv

        def check(out, sess):
            vals = sess.run(variables)
            return _check(vals[:len(wv)], vals[len(wv):], out[1], want)
        return [train, loss], {xp: x, yp: y}, lambda sess: sess.run(init), check
    return peer_tf1.record(NAME, system, make, timing,
                           "sess.run([train_op, loss], feed), one SGD step")


def _tf1_xla(ws0, bs0, x, y, want, timing):
    return _tf1(ws0, bs0, x, y, want, timing, "tf1-xla")


def _numpy(ws0, bs0, x, y, want, timing):
    ws, bs = [w.copy() for w in ws0], [b.copy() for b in bs0]
    loss = numpy_step(ws, bs, x, y)
    check = _check(ws, bs, loss, want)
    times = measure(lambda: numpy_step(ws, bs, x, y), **timing)
    return result(NAME, "numpy", times, check,
                  note="hand-written forward+backward+update; " + numpy_blas_note())


def _jax(ws0, bs0, x, y, want, timing):
    jax = try_import("jax")
    if jax is None:
        return skipped(NAME, "jax-jit", "jax not installed")
    jnp = jax.numpy

    def loss_fn(params, xb, yb):
        h = xb
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(h) * yb, axis=1))

    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(ws0, bs0)]
    return jax_train_record(
        NAME, jax, loss_fn, LR, params, (jnp.asarray(x), jnp.asarray(y)),
        lambda new, lv: _check([np.asarray(w) for w, _ in new],
                               [np.asarray(b) for _, b in new], lv, want),
        timing, note=f"jax {jax.__version__}, jit of value_and_grad + update")


def _torch(ws0, bs0, x, y, want, timing):
    torch = try_import("torch")
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")
    params = []
    for w, b in zip(ws0, bs0):
        params += [torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)]
    opt = torch.optim.SGD(params, lr=LR)
    xt, labels = torch.tensor(x), torch.tensor(y.argmax(axis=1))

    def step():
        opt.zero_grad(set_to_none=True)
        h = xt
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = torch.relu(h)
        lv = torch.nn.functional.cross_entropy(h, labels)
        lv.backward()
        opt.step()
        return lv

    lv = float(step())
    with torch.no_grad():
        check = _check([p.numpy() for p in params[0::2]], [p.numpy() for p in params[1::2]],
                       lv, want)
    times = measure(step, **timing)
    return result(NAME, "torch", times, check,
                  note=f"torch {torch.__version__} eager, {torch.get_num_threads()} threads")


def _tvm(ws0, bs0, x, y, want, timing):
    return peer_tvm.mlp_step_record(NAME, ws0, bs0, x, y, LR,
                                    lambda ws, bs, lv: _check(ws, bs, lv, want), timing)
