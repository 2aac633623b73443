"""C3, one SGD step of LeNet-5 on 28x28 images, batch 64 (issue 15, item 4): x [64, 28,
28, 1] NHWC -> 5x5 conv (6, SAME, the original's 32x32 input) + bias -> relu -> 2x2 max
pool -> 5x5 conv (16, VALID) + bias -> relu -> 2x2 max pool -> 400 -> dense 120 relu ->
dense 84 relu -> dense 10; softmax cross-entropy with one-hot labels; SGD, learning rate
0.05, on all ten variables.

Systems: flowc (`Session.run([train_op, loss])` of the TF1 graph: `tf.nn.conv2d`,
`tf.nn.bias_add`, `tf.nn.max_pool`, `tf.reshape`, `tf.matmul`,
`tf.nn.softmax_cross_entropy_with_logits_v2`, GradientDescentOptimizer; `compile_s` is the
first step, a cold compile), numpy (hand-written forward and backward,
benchmarks/conv_numpy.py: the reference; max pooling's gradient goes to the first maximum
of a window, as TF's), and, when installed, jax-jit, torch (eager autograd, NCHW) and tf1,
tf1-xla (TensorFlow's compat.v1 Session running `build`, the function of flowc's system,
with `tensorflow.compat.v1`; benchmarks/peer_tf1.py). Every
system starts from the same weights; its loss and parameter updates after one step are
checked against numpy's before it is timed. `gflops` counts the convolutions and matmuls
of forward and backward (no input gradient of the first conv).
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
from conv_numpy import (
    conv_same,
    conv_same_grads,
    conv_valid,
    conv_valid_grads,
    max_pool2,
    max_pool2_grad,
    softmax_xent,
)

NAME = "C3"
LR = np.float32(0.05)
RTOL = 2e-3
PARAMS = ("c1w", "c1b", "c2w", "c2b", "f1w", "f1b", "f2w", "f2b", "f3w", "f3b")
SHAPES = dict(c1w=(5, 5, 1, 6), c1b=(6,), c2w=(5, 5, 6, 16), c2b=(16,), f1w=(400, 120),
              f1b=(120,), f2w=(120, 84), f2b=(84,), f3w=(84, 10), f3b=(10,))


def _data(batch):
    rng = np.random.default_rng(0)
    p = {}
    for k, shape in SHAPES.items():
        if k.endswith("b"):
            p[k] = np.full(shape, 0.01, np.float32)
        else:
            fan_in = int(np.prod(shape[:-1]))
            p[k] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    x = rng.uniform(0.0, 1.0, (batch, 28, 28, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    return p, x, y


def numpy_step(p, x, y):
    """One SGD step in place on the dict `p`; returns the loss before the update."""
    a1 = conv_same(x, p["c1w"]) + p["c1b"]
    r1 = np.maximum(a1, 0)
    m1, arg1 = max_pool2(r1)
    a2 = conv_valid(m1, p["c2w"]) + p["c2b"]
    r2 = np.maximum(a2, 0)
    m2, arg2 = max_pool2(r2)
    f0 = m2.reshape(len(x), -1)
    h1 = np.maximum(f0 @ p["f1w"] + p["f1b"], 0)
    h2 = np.maximum(h1 @ p["f2w"] + p["f2b"], 0)
    loss, d = softmax_xent(h2 @ p["f3w"] + p["f3b"], y)
    g = dict(f3w=h2.T @ d, f3b=d.sum(0))
    d = (d @ p["f3w"].T) * (h2 > 0)
    g.update(f2w=h1.T @ d, f2b=d.sum(0))
    d = (d @ p["f2w"].T) * (h1 > 0)
    g.update(f1w=f0.T @ d, f1b=d.sum(0))
    d = (d @ p["f1w"].T).reshape(m2.shape)
    d = max_pool2_grad(d, arg2) * (a2 > 0)
    dm1, g["c2w"] = conv_valid_grads(m1, p["c2w"], d)
    g["c2b"] = d.sum(axis=(0, 1, 2))
    d = max_pool2_grad(dm1, arg1) * (a1 > 0)
    _, g["c1w"] = conv_same_grads(x, p["c1w"], d)
    g["c1b"] = d.sum(axis=(0, 1, 2))
    for k in PARAMS:
        p[k] -= LR * g[k].astype(np.float32)
    return loss


def _flops(batch):
    conv1 = 2 * batch * 28 * 28 * 25 * 1 * 6
    conv2 = 2 * batch * 10 * 10 * 25 * 6 * 16
    dense = 2 * batch * (400 * 120 + 120 * 84 + 84 * 10)
    return 2 * conv1 + 3 * conv2 + 3 * dense


def run(cfg):
    batch = 4 if cfg.quick else 64
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=5) if cfg.quick else \
        dict(min_time_s=2.0, min_repeats=10, max_repeats=200)
    p0, x, y = _data(batch)
    want = sgd_reference(numpy_step, p0, x, y)
    gflop = _flops(batch) / 1e9
    systems = [("flowc", _flowc), ("numpy", _numpy), ("jax-jit", _jax), ("torch", _torch),
               ("tf1", _tf1), ("tf1-xla", _tf1_xla)]
    yield from run_systems(NAME, cfg, systems, (p0, x, y, want, timing), gflop)


def check_step(got, loss, want, rtol=RTOL):
    """"ok" when the loss and every parameter's update (new - old) match numpy's."""
    return check_sgd_step(PARAMS, got, loss, want, rtol)


def build(tf, p0):
    """The training graph of flowc's and TF1's systems, built with the module `tf`
    (`compiler` or `tensorflow.compat.v1`), variables initialized from `p0`:
    `([x, y] placeholders, variables in PARAMS order, loss, train op, initializer)`."""
    xp = tf.placeholder(tf.float32, [None, 28, 28, 1], name="x")
    yp = tf.placeholder(tf.float32, [None, 10], name="y")
    v = {k: tf.Variable(p0[k], name=k) for k in PARAMS}

    def conv_relu_pool(h, w, b, padding):
        h = tf.nn.conv2d(h, v[w], strides=[1, 1, 1, 1], padding=padding)
        h = tf.nn.relu(tf.nn.bias_add(h, v[b]))
        return tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")

    h = conv_relu_pool(xp, "c1w", "c1b", "SAME")
    h = conv_relu_pool(h, "c2w", "c2b", "VALID")
    h = tf.reshape(h, [-1, 400])
    h = tf.nn.relu(tf.matmul(h, v["f1w"]) + v["f1b"])
    h = tf.nn.relu(tf.matmul(h, v["f2w"]) + v["f2b"])
    logits = tf.matmul(h, v["f3w"]) + v["f3b"]
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=yp,
                                                                     logits=logits))
    train = tf.train.GradientDescentOptimizer(float(LR)).minimize(loss)
    return [xp, yp], [v[k] for k in PARAMS], loss, train, tf.global_variables_initializer()


def _flowc(p0, x, y, want, timing):
    import compiler as fc
    graph, (xp, yp), variables, loss, train, init = in_new_graph(fc, build, p0)
    return flowc_train_record(
        NAME, graph, init, train, loss, {xp: x, yp: y}, variables,
        lambda vals, lv: check_step(dict(zip(PARAMS, vals)), lv, want), timing)


def _tf1(p0, x, y, want, timing, system="tf1"):
    return peer_tf1.train_record(
        NAME, system, lambda tf: build(tf, p0), (x, y),
        lambda vals, lv: check_step(dict(zip(PARAMS, vals)), lv, want), timing)


def _tf1_xla(p0, x, y, want, timing):
    return _tf1(p0, x, y, want, timing, "tf1-xla")


def _numpy(p0, x, y, want, timing):
    return numpy_train_record(
        NAME, numpy_step, p0, (x, y), lambda p, lv: check_step(p, lv, want), timing,
        note=f"numpy {np.__version__}: hand-written forward+backward, eager")


def _jax(p0, x, y, want, timing):
    jax = try_import("jax")
    if jax is None:
        return skipped(NAME, "jax-jit", "jax not installed")
    jnp, lax = jax.numpy, jax.lax

    def conv_relu_pool(h, w, b, padding):
        h = lax.conv_general_dilated(h, w, (1, 1), padding,
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = jax.nn.relu(h + b)
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def loss_fn(p, xb, yb):
        h = conv_relu_pool(xb, p["c1w"], p["c1b"], "SAME")
        h = conv_relu_pool(h, p["c2w"], p["c2b"], "VALID").reshape(xb.shape[0], -1)
        h = jax.nn.relu(h @ p["f1w"] + p["f1b"])
        h = jax.nn.relu(h @ p["f2w"] + p["f2b"])
        logits = h @ p["f3w"] + p["f3b"]
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * yb, axis=1))

    params = {k: jnp.asarray(v) for k, v in p0.items()}
    return jax_train_record(
        NAME, jax, loss_fn, LR, params, (jnp.asarray(x), jnp.asarray(y)),
        lambda new, lv: check_step({k: np.asarray(v) for k, v in new.items()}, lv, want),
        timing, note=f"jax {jax.__version__}, jit of value_and_grad + update")


def _torch(p0, x, y, want, timing):
    torch = try_import("torch")
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")
    F = torch.nn.functional

    def layout(k, v):
        if k in ("c1w", "c2w"):
            return v.transpose(3, 2, 0, 1)          # HWIO -> OIHW
        if k == "f1w":                              # rows in NHWC flatten order -> NCHW
            return v.reshape(5, 5, 16, 120).transpose(2, 0, 1, 3).reshape(400, 120)
        return v

    params = {k: torch.tensor(np.ascontiguousarray(layout(k, v)), requires_grad=True)
              for k, v in p0.items()}
    opt = torch.optim.SGD(list(params.values()), lr=float(LR))
    xt = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    labels = torch.tensor(y.argmax(axis=1))

    def step():
        opt.zero_grad(set_to_none=True)
        h = F.max_pool2d(F.relu(F.conv2d(xt, params["c1w"], params["c1b"], padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, params["c2w"], params["c2b"])), 2)
        h = F.relu(h.flatten(1) @ params["f1w"] + params["f1b"])
        h = F.relu(h @ params["f2w"] + params["f2b"])
        lv = F.cross_entropy(h @ params["f3w"] + params["f3b"], labels)
        lv.backward()
        opt.step()
        return lv

    lv = float(step().detach())
    with torch.no_grad():
        got = {}
        for k, t in params.items():
            v = t.numpy()
            if k in ("c1w", "c2w"):
                v = v.transpose(2, 3, 1, 0)
            elif k == "f1w":
                v = v.reshape(16, 5, 5, 120).transpose(1, 2, 0, 3).reshape(400, 120)
            got[k] = v
        check = check_step(got, lv, want)
    times = measure(step, **timing)
    return result(NAME, "torch", times, check,
                  note=f"torch {torch.__version__} eager autograd, NCHW, "
                       f"{torch.get_num_threads()} threads")
