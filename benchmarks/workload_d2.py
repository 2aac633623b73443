"""D2 (issue 17, item 7): an MLP data-parallel training step on 2 workers + 1 ps (Ray)
against the same program in one process.

The program is TF1's data-parallel pattern: a 784-256-10 MLP (relu, softmax
cross-entropy), its four variables created under `replica_device_setter` (so they live
on the one `ps` task), one tower per worker task (`/job:worker/task:i`) computing the
loss and gradients of its half of a batch of 256 (each tower has its own placeholders,
as each worker reads its own shard of the data), the gradients averaged and SGD (learning
rate 0.01) applied on the ps. A step is `sess.run([train_op, loss], feed)`.

Systems:
- `flowc`: `fc.Session("")`, the whole program in one process (soft placement).
- `flowc-ray`: `fc.Session("ray://local", config=ConfigProto(cluster_def=...))` with a
  `ps` job of one task and a `worker` job of two: each step runs the partitions on their
  tasks' Ray actors (a compiled graph after the second step).
- `flowc-tower`: one tower alone (half the batch: forward and gradients, no update) in
  one process: the compute one worker does per step, the basis of the estimate for
  separate machines (docs/benchmarks.md).

Checked before timing: both training systems run `CHECK_STEPS` steps from the same
weights on the same data, and the loss of every step and the weights after them must
equal the numpy reference (benchmarks/workload_w3.numpy_step on the whole batch, which is
what averaging two half-batch gradients computes) within rtol 1e-4; `flowc-ray`'s note
gives its largest relative difference to `flowc`. Timed steps keep training.
Target (issue 17): flowc-ray within 1.5x of flowc on this machine.
"""

from __future__ import annotations

import time

import numpy as np
from benchlib import compare, failed, measure, note, skipped
from raybench import ray_available, start_ray, step_record, us
from workload_w3 import LR, _data, numpy_step

NAME = "D2"
SIZES = (784, 256, 10)
BATCH, WORKERS = 256, 2
CHECK_STEPS = 3
RTOL, ATOL = 1e-4, 1e-5
SYSTEMS = ("flowc", "flowc-ray", "flowc-tower")


def build(fc, ws0, bs0, batch=BATCH, workers=WORKERS, towers=None):
    """The data-parallel program: {graph, feeds [(x_i, y_i)], loss, train, init, params}.
    `towers` (default: every worker) builds only those towers, without the update (the
    `flowc-tower` line): then `train` is the list of the towers' gradients."""
    cluster = fc.train.ClusterSpec({"ps": 1, "worker": workers})
    graph = fc.Graph()
    half = batch // workers
    with graph.as_default():
        with fc.device(fc.train.replica_device_setter(cluster=cluster)):
            ws = [fc.Variable(w, name=f"w{i}") for i, w in enumerate(ws0)]
            bs = [fc.Variable(b, name=f"b{i}") for i, b in enumerate(bs0)]
        params = ws + bs
        feeds, losses, grads = [], [], []
        for i in (range(workers) if towers is None else towers):
            with fc.device(f"/job:worker/task:{i}"), fc.name_scope(f"tower{i}"):
                x = fc.placeholder(fc.float32, [half, SIZES[0]], name="x")
                y = fc.placeholder(fc.float32, [half, SIZES[-1]], name="y")
                h = x
                for j, (w, b) in enumerate(zip(ws, bs)):
                    h = fc.matmul(h, w) + b
                    if j < len(ws) - 1:
                        h = fc.nn.relu(h)
                loss = fc.reduce_mean(
                    fc.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=h))
                feeds.append((x, y))
                losses.append(loss)
                grads.append(fc.gradients(loss, params))
        if towers is not None:
            train = [g for gs in grads for g in gs]
        else:
            with fc.device("/job:ps/task:0"):  # the ps averages and applies
                avg = [fc.add_n([gs[k] for gs in grads]) / float(workers)
                       for k in range(len(params))]
                loss = fc.add_n(losses) / float(workers)
                train = fc.train.GradientDescentOptimizer(LR).apply_gradients(
                    list(zip(avg, params)))
        init = fc.global_variables_initializer()
    return dict(graph=graph, feeds=feeds, loss=loss, train=train, init=init,
                params=params, cluster=cluster)


def feed_dict(model, x, y):
    half = x.shape[0] // len(model["feeds"])
    out = {}
    for i, (xp, yp) in enumerate(model["feeds"]):
        out[xp] = x[i * half:(i + 1) * half]
        out[yp] = y[i * half:(i + 1) * half]
    return out


def reference(ws0, bs0, x, y, steps):
    """numpy's losses of `steps` SGD steps on the whole batch and the weights after."""
    ws, bs = [w.copy() for w in ws0], [b.copy() for b in bs0]
    losses = [numpy_step(ws, bs, x, y, LR) for _ in range(steps)]
    return losses, ws + bs


def check(losses, params, want) -> str:
    want_losses, want_params = want
    for i, (got, exp) in enumerate(zip(losses, want_losses)):
        c = compare(np.float32(got), np.float32(exp), RTOL, 0.0)
        if c != "ok":
            return f"loss of step {i}: {c}"
    for k, (got, exp) in enumerate(zip(params, want_params)):
        c = compare(np.asarray(got), exp, RTOL, ATOL)
        if c != "ok":
            return f"parameter {k} after {len(losses)} steps: {c}"
    return "ok"


def run(cfg):
    timing = dict(warmup=1, min_repeats=3, max_repeats=5, min_time_s=0.05) if cfg.quick \
        else dict(warmup=5, min_repeats=50, max_repeats=400, min_time_s=3.0)
    ws0, bs0, x, y = _data(BATCH, SIZES)
    want = reference(ws0, bs0, x, y, CHECK_STEPS)
    base, single, ray = None, None, ray_available()
    for system in SYSTEMS:
        if not cfg.wants(system):
            continue
        if system == "flowc-ray" and not ray:
            yield skipped(NAME, system, "ray not installed (pip install -e '.[distributed]')")
            continue
        try:
            if system == "flowc-tower":
                rec = _tower(ws0, bs0, x, y, timing)
            else:
                rec, losses = _train(system, ws0, bs0, x, y, want, timing, base, single)
                single = losses if system == "flowc" else single
        except Exception as e:  # noqa: BLE001  (a failing line must not stop the others)
            rec = failed(NAME, system, e)
        if system == "flowc" and rec["check"] == "ok":
            base = rec["median_ms"]
        yield rec


def _train(system, ws0, bs0, x, y, want, timing, base, single):
    import compiler as fc
    model = build(fc, ws0, bs0)
    feed = feed_dict(model, x, y)
    t0 = time.perf_counter()
    if system == "flowc":
        sess = fc.Session(graph=model["graph"],
                          config=fc.ConfigProto(allow_soft_placement=True))
        what = "one process: Session('').run([train_op, loss])"
    else:
        start_ray()
        sess = fc.Session("ray://local", graph=model["graph"], config=fc.ConfigProto(
            cluster_def=model["cluster"].as_cluster_def()))
        what = "Session('ray://local', cluster_def ps:1 worker:2).run([train_op, loss])"
    with sess:
        sess.run(model["init"])
        losses = [sess.run([model["train"], model["loss"]], feed)[1]
                  for _ in range(CHECK_STEPS)]
        setup = time.perf_counter() - t0
        if system == "flowc-ray":  # the train step's partitions, before another run's
            parts = sess.last_partitioning.partitions
            what += f"; {len(parts)} partitions " + ", ".join(
                f"{p.name}@{p.task.to_string()}" for p in parts)
        chk = check(losses, sess.run(model["params"]), want)
        if system == "flowc-ray":
            if single is not None:
                worst = max(abs(a - b) / abs(b) for a, b in zip(losses, single))
                what += f"; losses vs one process: largest relative difference {worst:.1e}"
        times = measure(lambda: sess.run([model["train"], model["loss"]], feed), **timing) \
            if chk == "ok" else [float("nan")]
    text = (f"{what}; batch {BATCH} in {WORKERS} towers of {BATCH // WORKERS}, SGD lr {LR}; "
            f"checked after {CHECK_STEPS} steps; setup (connect, compile, init, checked "
            f"steps) {setup:.1f} s, not timed")
    return step_record(NAME, system, times, chk, base, text), losses


def _tower(ws0, bs0, x, y, timing):
    """One tower's forward and gradients (half the batch) in one process, checked against
    numpy's gradients of that half."""
    import compiler as fc
    model = build(fc, ws0, bs0, towers=[0])
    half = BATCH // WORKERS
    (xp, yp), = model["feeds"]
    feed = {xp: x[:half], yp: y[:half]}
    with fc.Session(graph=model["graph"],
                    config=fc.ConfigProto(allow_soft_placement=True)) as sess:
        sess.run(model["init"])
        grads = sess.run(model["train"], feed)
        # numpy's gradients of the half batch: the update of one step at lr 1, negated
        ws, bs = [w.copy() for w in ws0], [b.copy() for b in bs0]
        numpy_step(ws, bs, x[:half], y[:half], 1.0)
        chk = "ok"
        for k, (got, w0, w1) in enumerate(zip(grads, ws0 + bs0, ws + bs)):
            chk = compare(got, w0 - w1, RTOL, ATOL)
            if chk != "ok":
                chk = f"gradient {k}: {chk}"
                break
        times = measure(lambda: sess.run(model["train"], feed), **timing) \
            if chk == "ok" else [float("nan")]
    if chk == "ok":
        note(f"D2 flowc-tower: one worker's compute per step {us(float(np.median(times)))}")
    return step_record(NAME, "flowc-tower", times, chk, None,
                       f"one tower alone in one process: forward and gradients of {half} "
                       "rows, no update (what one worker computes per step)")
