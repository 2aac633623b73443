"""C2, one SGD step of a ResNet basic block (issue 15, item 4): x [8, 56, 56, 64] NHWC ->
3x3 conv (64 -> 64, SAME, no bias) -> batch norm (training mode: batch statistics,
epsilon 1e-5) -> relu -> 3x3 conv -> batch norm -> + x -> relu; loss = mean squared
error against a fixed target; forward, backward and an SGD update (learning rate 0.1) of
both filters and both batch norms' gamma and beta.

Systems: flowc (`Session.run([train_op, loss])` of the TF1 graph: `tf.nn.conv2d`,
`tf.nn.moments`, `tf.nn.batch_normalization`, `tf.train.GradientDescentOptimizer`;
`compile_s` is the first step, a cold compile), numpy (hand-written forward and backward,
benchmarks/conv_numpy.py: the reference), and, when installed, jax-jit (`jax.grad` of
`lax.conv_general_dilated`), torch (eager autograd, NCHW, `F.batch_norm(training=True)`;
oneDNN) and tf1, tf1-xla (TensorFlow's compat.v1 Session running `build`, the function of
flowc's system, with `tensorflow.compat.v1`; benchmarks/peer_tf1.py). Every system starts
from the same weights; after one step its loss and its parameter updates (new - old, so a
wrong gradient is not hidden behind the weights) are checked against numpy's before it is
timed; timed steps keep training. `gflops` counts the convolutions only: two forward, two
filter gradients and one input gradient (the block's input needs none), 2*N*H*W*9*C*C
each.
"""

from __future__ import annotations

import numpy as np
import peer_tf1
from benchlib import (
    check_sgd_step,
    flowc_train_record,
    in_new_graph,
    jax_train_record,
    measure,
    numpy_train_record,
    result,
    run_systems,
    sgd_reference,
    skipped,
    try_import,
)
from conv_numpy import batch_norm, batch_norm_grads, conv_same, conv_same_grads

NAME = "C2"
LR = np.float32(0.1)
EPS = 1e-5
RTOL = 2e-3


def _data(n, hw, c):
    rng = np.random.default_rng(0)
    ws = [(rng.standard_normal((3, 3, c, c)) * np.sqrt(2.0 / (9 * c))).astype(np.float32)
          for _ in range(2)]
    gammas = [rng.uniform(0.5, 1.5, c).astype(np.float32) for _ in range(2)]
    betas = [rng.uniform(-0.2, 0.2, c).astype(np.float32) for _ in range(2)]
    x = rng.standard_normal((n, hw, hw, c)).astype(np.float32)
    target = rng.standard_normal((n, hw, hw, c)).astype(np.float32)
    return dict(w1=ws[0], g1=gammas[0], b1=betas[0], w2=ws[1], g2=gammas[1],
                b2=betas[1]), x, target


PARAMS = ("w1", "g1", "b1", "w2", "g2", "b2")


def numpy_step(p, x, target):
    """One SGD step in place on the dict `p`; returns the loss before the update."""
    h1 = conv_same(x, p["w1"])
    n1, c1 = batch_norm(h1, p["g1"], p["b1"], EPS)
    r1 = np.maximum(n1, 0)
    h2 = conv_same(r1, p["w2"])
    n2, c2 = batch_norm(h2, p["g2"], p["b2"], EPS)
    out = np.maximum(n2 + x, 0)
    diff = out - target
    loss = float(np.mean(diff * diff))
    d = (2.0 / diff.size) * diff * (out > 0)
    dh2, dg2, db2 = batch_norm_grads(d.astype(np.float32), c2)
    dr1, dw2 = conv_same_grads(r1, p["w2"], dh2)
    dh1, dg1, db1 = batch_norm_grads(dr1 * (n1 > 0), c1)
    _, dw1 = conv_same_grads(x, p["w1"], dh1)
    for k, g in zip(PARAMS, (dw1, dg1, db1, dw2, dg2, db2)):
        p[k] -= LR * g.astype(np.float32)
    return loss


def _flops(n, hw, c):
    return 5 * 2 * n * hw * hw * 9 * c * c


def run(cfg):
    n, hw, c = (2, 8, 8) if cfg.quick else (8, 56, 64)
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=5) if cfg.quick else \
        dict(min_time_s=3.0, min_repeats=5, max_repeats=50)
    p0, x, target = _data(n, hw, c)
    want = sgd_reference(numpy_step, p0, x, target)
    gflop = _flops(n, hw, c) / 1e9
    systems = [("flowc", _flowc), ("numpy", _numpy), ("jax-jit", _jax), ("torch", _torch),
               ("tf1", _tf1), ("tf1-xla", _tf1_xla)]
    yield from run_systems(NAME, cfg, systems, (p0, x, target, want, timing), gflop)


def check_step(got, loss, want, rtol=RTOL):
    """"ok" when the loss and every parameter's update (new - old) match numpy's."""
    return check_sgd_step(PARAMS, got, loss, want, rtol)


def build(tf, p0, shape):
    """The training graph of flowc's and TF1's systems, built with the module `tf`
    (`compiler` or `tensorflow.compat.v1`), variables initialized from `p0`:
    `([x, target] placeholders, variables in PARAMS order, loss, train op, initializer)`."""
    xp = tf.placeholder(tf.float32, [None] + list(shape[1:]), name="x")
    tp = tf.placeholder(tf.float32, [None] + list(shape[1:]), name="target")
    v = {k: tf.Variable(p0[k], name=k) for k in PARAMS}

    def bn(h, gamma, beta):
        mean, var = tf.nn.moments(h, axes=[0, 1, 2])
        return tf.nn.batch_normalization(h, mean, var, beta, gamma, EPS)

    h = tf.nn.conv2d(xp, v["w1"], strides=[1, 1, 1, 1], padding="SAME")
    h = tf.nn.relu(bn(h, v["g1"], v["b1"]))
    h = tf.nn.conv2d(h, v["w2"], strides=[1, 1, 1, 1], padding="SAME")
    out = tf.nn.relu(bn(h, v["g2"], v["b2"]) + xp)
    loss = tf.reduce_mean(tf.square(out - tp))
    train = tf.train.GradientDescentOptimizer(float(LR)).minimize(loss)
    return [xp, tp], [v[k] for k in PARAMS], loss, train, tf.global_variables_initializer()


def _flowc(p0, x, target, want, timing):
    import compiler as fc
    graph, (xp, tp), variables, loss, train, init = in_new_graph(fc, build, p0, x.shape)
    return flowc_train_record(
        NAME, graph, init, train, loss, {xp: x, tp: target}, variables,
        lambda vals, lv: check_step(dict(zip(PARAMS, vals)), lv, want), timing)


def _tf1(p0, x, target, want, timing, system="tf1"):
    return peer_tf1.train_record(
        NAME, system, lambda tf: build(tf, p0, x.shape), (x, target),
        lambda vals, lv: check_step(dict(zip(PARAMS, vals)), lv, want), timing)


def _tf1_xla(p0, x, target, want, timing):
    return _tf1(p0, x, target, want, timing, "tf1-xla")


def _numpy(p0, x, target, want, timing):
    return numpy_train_record(
        NAME, numpy_step, p0, (x, target), lambda p, lv: check_step(p, lv, want), timing,
        note=f"numpy {np.__version__}: hand-written forward+backward "
             "(sliding_window_view + tensordot), eager")


def _jax(p0, x, target, want, timing):
    jax = try_import("jax")
    if jax is None:
        return skipped(NAME, "jax-jit", "jax not installed")
    jnp, lax = jax.numpy, jax.lax

    def conv(h, w):
        return lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def bn(h, gamma, beta):
        mean = h.mean(axis=(0, 1, 2))
        var = h.var(axis=(0, 1, 2))
        return (h - mean) * lax.rsqrt(var + EPS) * gamma + beta

    def loss_fn(p, xb, tb):
        h = jax.nn.relu(bn(conv(xb, p["w1"]), p["g1"], p["b1"]))
        out = jax.nn.relu(bn(conv(h, p["w2"]), p["g2"], p["b2"]) + xb)
        return jnp.mean(jnp.square(out - tb))

    params = {k: jnp.asarray(v) for k, v in p0.items()}
    return jax_train_record(
        NAME, jax, loss_fn, LR, params, (jnp.asarray(x), jnp.asarray(target)),
        lambda new, lv: check_step({k: np.asarray(v) for k, v in new.items()}, lv, want),
        timing, note=f"jax {jax.__version__}, jit of value_and_grad + update, "
                     "lax.conv_general_dilated NHWC/HWIO")


def _torch(p0, x, target, want, timing):
    torch = try_import("torch")
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")
    F = torch.nn.functional

    def as_param(k):
        v = p0[k].transpose(3, 2, 0, 1) if k.startswith("w") else p0[k]   # OIHW
        return torch.tensor(np.ascontiguousarray(v), requires_grad=True)

    params = {k: as_param(k) for k in PARAMS}
    opt = torch.optim.SGD(list(params.values()), lr=float(LR))
    xt = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    tt = torch.tensor(np.ascontiguousarray(target.transpose(0, 3, 1, 2)))

    def bn(h, g, b):
        return F.batch_norm(h, None, None, params[g], params[b], training=True, eps=EPS)

    def step():
        opt.zero_grad(set_to_none=True)
        h = F.relu(bn(F.conv2d(xt, params["w1"], padding=1), "g1", "b1"))
        out = F.relu(bn(F.conv2d(h, params["w2"], padding=1), "g2", "b2") + xt)
        lv = F.mse_loss(out, tt)
        lv.backward()
        opt.step()
        return lv

    lv = float(step().detach())
    with torch.no_grad():
        got = {k: (t.numpy().transpose(2, 3, 1, 0) if k.startswith("w") else t.numpy())
               for k, t in params.items()}
        check = check_step(got, lv, want)
    times = measure(step, **timing)
    return result(NAME, "torch", times, check,
                  note=f"torch {torch.__version__} eager autograd, NCHW, "
                       f"{torch.get_num_threads()} threads, mkldnn "
                       f"{torch.backends.mkldnn.is_available()}")
