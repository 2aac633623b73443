"""W4, an LSTM forward+backward: sequence 32, batch 64, input 128, hidden 256, float32
(issue 6, item 7). Loss = sum of the last output; gradients w.r.t. the cell's kernel and
bias.

Systems: flowc (`fc.nn.rnn_cell.BasicLSTMCell` + `fc.nn.static_rnn` over a list of 32
placeholders, `fc.gradients(loss, cell.trainable_variables)`, one `Session.run` of the
loss and both gradients; `compile_s` is the first call, the cold compile), numpy (a
hand-written forward and backward through time) and, when installed, torch (`nn.LSTM`,
forward + `backward()`, with the same weights re-laid out in torch's gate order) and tf1,
tf1-xla (TensorFlow's compat.v1 Session on the graph that `build`, the function of
flowc's system, builds with `tensorflow.compat.v1`, the same weights loaded; under Keras 3
its BasicLSTMCell needs the tf-keras package, else these lines say "skipped").

Checks before timing: flowc's gradients on a tiny size (sequence 3, batch 4, input 5,
hidden 6) against the interpreter backend's, then flowc's loss and gradients at the full
size against numpy's; torch's loss and input-weight gradient against numpy's; tf1's loss
and gradients against numpy's.
The tvm line (when apache-tvm is installed): numpy_lstm as one Relax function, checked against it.
"""

from __future__ import annotations

import time

import numpy as np
import peer_tf1
import peer_tvm
from benchlib import (
    compare,
    failed,
    flowc_init_s,
    flowc_kernels,
    in_new_graph,
    measure,
    no_disk_cache,
    numpy_blas_note,
    result,
    skipped,
    try_import,
)

NAME = "W4"
RTOL, ATOL = 1e-3, 1e-4   # float32 through 32 recurrent steps


def _sig(x):
    return np.float32(1) / (np.float32(1) + np.exp(-x))


def numpy_lstm(xs, kernel, bias, hidden):
    """Loss = sum(h_T) of a BasicLSTMCell (forget bias 1) and its gradients
    (d kernel, d bias)."""
    batch = xs[0].shape[0]
    n = hidden
    h = np.zeros((batch, n), np.float32)
    c = np.zeros((batch, n), np.float32)
    tape = []
    for x in xs:
        xh = np.concatenate([x, h], axis=1)
        g = xh @ kernel + bias
        si, tj = _sig(g[:, :n]), np.tanh(g[:, n:2 * n])
        sf, so = _sig(g[:, 2 * n:3 * n] + np.float32(1)), _sig(g[:, 3 * n:])
        c_new = c * sf + si * tj
        tc = np.tanh(c_new)
        tape.append((xh, c, si, tj, sf, so, tc))
        c, h = c_new, tc * so
    loss = float(h.sum())
    dk = np.zeros_like(kernel)
    db = np.zeros_like(bias)
    dh = np.ones((batch, n), np.float32)
    dc = np.zeros((batch, n), np.float32)
    depth = xs[0].shape[1]
    one = np.float32(1)
    for xh, c_prev, si, tj, sf, so, tc in reversed(tape):
        dc = dc + dh * so * (one - tc * tc)
        dg = np.concatenate([dc * tj * si * (one - si), dc * si * (one - tj * tj),
                             dc * c_prev * sf * (one - sf), dh * tc * so * (one - so)],
                            axis=1)
        dk += xh.T @ dg
        db += dg.sum(axis=0)
        dh = (dg @ kernel.T)[:, depth:]
        dc = dc * sf
    return loss, dk, db


def _sizes(quick):
    return (4, 8, 16, 16) if quick else (32, 64, 128, 256)   # seq, batch, input, hidden


def _data(seq, batch, depth, hidden, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((batch, depth)).astype(np.float32) for _ in range(seq)]
    kernel = (rng.standard_normal((depth + hidden, 4 * hidden))
              / np.sqrt(depth + hidden)).astype(np.float32)
    bias = (0.1 * rng.standard_normal(4 * hidden)).astype(np.float32)
    return xs, kernel, bias


def run(cfg):
    seq, batch, depth, hidden = _sizes(cfg.quick)
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=10) if cfg.quick else \
        dict(min_time_s=2.0, min_repeats=5, max_repeats=50)
    xs, kernel, bias = _data(seq, batch, depth, hidden)
    want = numpy_lstm(xs, kernel, bias, hidden)
    # matmuls: forward 2*B*(D+H)*4H per step; backward d kernel and d [x, h] as much again
    gflop = 3 * seq * 2 * batch * (depth + hidden) * 4 * hidden / 1e9
    for system, fn in (("flowc", _flowc), ("numpy", _numpy), ("torch", _torch),
                       ("tf1", _tf1), ("tf1-xla", _tf1_xla), ("tvm", _tvm)):
        if not cfg.wants(system):
            continue
        try:
            rec = fn(xs, kernel, bias, hidden, want, timing)
        except Exception as e:  # noqa: BLE001  (a failing peer must not stop the others)
            rec = failed(NAME, system, e)
        if rec.get("median_ms"):
            rec["gflops"] = round(gflop / (rec["median_ms"] / 1e3), 2)
        yield rec


def _check(got, want):
    c = compare(np.float32(got[0]), np.float32(want[0]), RTOL, ATOL * np.sqrt(want[1].size))
    for g, w in zip(got[1:], want[1:]):
        if c != "ok":
            return c
        c = compare(np.asarray(g, np.float32), w, RTOL, ATOL * 10)
    return c


def build(tf, seq, depth, hidden):
    """The graph of flowc's and TF1's systems, built with the module `tf` (`compiler` or
    `tensorflow.compat.v1`): `(placeholders, loss, [d kernel, d bias], (kernel, bias)
    variables, initializer)`."""
    xps = [tf.placeholder(tf.float32, [None, depth], name=f"x{t}") for t in range(seq)]
    cell = tf.nn.rnn_cell.BasicLSTMCell(hidden)
    outputs, _ = tf.nn.static_rnn(cell, xps, dtype=tf.float32)
    loss = tf.reduce_sum(outputs[-1])
    kvar, bvar = cell.trainable_variables
    grads = tf.gradients(loss, [kvar, bvar])
    return xps, loss, grads, (kvar, bvar), tf.global_variables_initializer()


def _flowc_session(xs, kernel, bias, hidden, backend="llvm"):
    import compiler as fc
    graph, xps, loss, grads, (kvar, bvar), init = in_new_graph(
        fc, build, len(xs), xs[0].shape[1], hidden)
    sess = fc.Session(graph=graph, config=fc.ConfigProto(backend=backend))
    sess.run(init)
    kvar.load(kernel, sess)
    bvar.load(bias, sess)
    feed = dict(zip(xps, xs))
    fetches = [loss] + list(grads)
    return sess, (lambda: sess.run(fetches, feed))


def _flowc(xs, kernel, bias, hidden, want, timing):
    init_s = flowc_init_s()
    # tiny size: the compiled gradients against the interpreter's
    txs, tk, tb = _data(3, 4, 5, 6, seed=1)
    got = _flowc_session(txs, tk, tb, 6)[1]()
    ref = _flowc_session(txs, tk, tb, 6, backend="interpret")[1]()
    check = _check(got, (ref[0], ref[1], ref[2]))
    if check != "ok":
        check = f"tiny size vs interpreter: {check}"
    sess, call = _flowc_session(xs, kernel, bias, hidden)
    with no_disk_cache():
        t0 = time.perf_counter()
        got = call()
        compile_s = time.perf_counter() - t0
    if check == "ok":
        check = _check(got, want)
    times = measure(call, **timing)
    note = (f"Session.run([loss, d kernel, d bias]) of static_rnn over {len(xs)} "
            f"placeholders; compile_s = first call (cold compile, disk cache off, plus one "
            f"run) without the one-time LLVM start-up ({init_s:.2f} s); "
            f"{sess.options.threads} thread(s)")
    return result(NAME, "flowc", times, check, compile_s=compile_s,
                  kernels=flowc_kernels(sess), note=note)


def _tf1(xs, kernel, bias, hidden, want, timing, system="tf1"):
    tf = peer_tf1.load()
    why = tf is not None and peer_tf1.missing(tf, "nn.rnn_cell.BasicLSTMCell")
    if why:
        return skipped(NAME, system, why)

    def make(tf):
        xps, loss, grads, (kvar, bvar), init = build(tf, len(xs), xs[0].shape[1], hidden)

        def setup(sess):
            sess.run(init)
            kvar.load(kernel, sess)
            bvar.load(bias, sess)
        def check(got, _sess):
            return _check(got, want)
        return [loss] + list(grads), dict(zip(xps, xs)), setup, check
    return peer_tf1.record(NAME, system, make, timing,
                           f"sess.run([loss, d kernel, d bias]) of static_rnn over "
                           f"{len(xs)} placeholders")


def _tf1_xla(xs, kernel, bias, hidden, want, timing):
    return _tf1(xs, kernel, bias, hidden, want, timing, "tf1-xla")


def _numpy(xs, kernel, bias, hidden, want, timing):
    got = numpy_lstm(xs, kernel, bias, hidden)
    check = _check(got, want)
    times = measure(lambda: numpy_lstm(xs, kernel, bias, hidden), **timing)
    return result(NAME, "numpy", times, check,
                  note="hand-written forward and backward through time; "
                       + numpy_blas_note())


def _torch(xs, kernel, bias, hidden, want, timing):
    torch = try_import("torch")
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")
    n, depth = hidden, xs[0].shape[1]
    # flowc/TF gate order i, j, f, o (forget bias +1); torch's is i, f, g(=j), o
    order = np.concatenate([np.arange(0, n), np.arange(2 * n, 3 * n),
                            np.arange(n, 2 * n), np.arange(3 * n, 4 * n)])
    lstm = torch.nn.LSTM(depth, n)
    b = bias.copy()
    b[2 * n:3 * n] += 1
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(kernel[:depth, order].T.copy()))
        lstm.weight_hh_l0.copy_(torch.tensor(kernel[depth:, order].T.copy()))
        lstm.bias_ih_l0.copy_(torch.tensor(b[order]))
        lstm.bias_hh_l0.zero_()
    x = torch.tensor(np.stack(xs))

    def step():
        lstm.zero_grad(set_to_none=True)
        out, _ = lstm(x)
        lv = out[-1].sum()
        lv.backward()
        return lv

    lv = float(step())
    dk_ih = lstm.weight_ih_l0.grad.numpy().T
    dk = want[1][:depth, order]
    check = _check((lv, dk_ih), (want[0], dk))
    times = measure(step, **timing)
    return result(NAME, "torch", times, check,
                  note=f"torch {torch.__version__} nn.LSTM forward + backward, "
                       f"{torch.get_num_threads()} threads")


def _tvm(xs, kernel, bias, hidden, want, timing):
    return peer_tvm.lstm_record(NAME, xs, kernel, bias, hidden,
                                lambda got: _check(got, want), timing)
