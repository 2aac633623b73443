"""TF1's data-parallel training on a local Ray cluster: one parameter server, two workers.

The program is TF1's between-graph pattern written in one client (docs/execution.md,
"The distributed Session"):

- a `ClusterSpec` with a `ps` job (1 task) and a `worker` job (2 tasks);
- the variables are created under `replica_device_setter`, so they live on the ps
  (the first layer's weights are split in two shards by `fixed_size_partitioner`);
- one tower per worker task (`with fc.device("/job:worker/task:%d" % i)`) computes the
  loss and gradients of its half of the batch;
- the gradients are averaged and applied by Momentum on the ps (its slots sit with
  their variables).

`fc.Session("ray://local", config=ConfigProto(cluster_def=...))` starts a local Ray
runtime and one worker actor per task; each step's partitions run on their tasks. The
same program then runs in one process (`fc.Session()`, which soft-places every op on
this process) on the same data and seed, and the losses are compared.

Run:  python examples/distributed_mlp.py [--steps N] [--target ray://HOST:PORT]
Needs the `distributed` extra: pip install 'flowc[distributed]'. Exits 1 when the
distributed losses differ from the single-process ones.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import compiler as fc

CLUSTER = {"ps": ["localhost:2222"], "worker": ["localhost:2223", "localhost:2224"]}
FEATURES, HIDDEN, BATCH = 8, 16, 32
RTOL = 1e-4


def build(cluster, workers=2, seed=7):
    """The data-parallel graph: {x, y, loss, train, init, saver, step}."""
    g = fc.Graph()
    with g.as_default():
        fc.set_random_seed(seed)
        with fc.device(fc.train.replica_device_setter(cluster=cluster)):
            w1 = fc.get_variable("w1", [FEATURES, HIDDEN],
                                 initializer=fc.glorot_uniform_initializer(),
                                 partitioner=fc.fixed_size_partitioner(2))
            b1 = fc.get_variable("b1", [HIDDEN], initializer=fc.zeros_initializer())
            w2 = fc.get_variable("w2", [HIDDEN, 1],
                                 initializer=fc.glorot_uniform_initializer())
            b2 = fc.get_variable("b2", [1], initializer=fc.zeros_initializer())
            step = fc.train.get_or_create_global_step()
        x = fc.placeholder(fc.float32, [BATCH, FEATURES], name="x")
        y = fc.placeholder(fc.float32, [BATCH, 1], name="y")
        xs, ys = fc.split(x, workers), fc.split(y, workers)
        opt = fc.train.MomentumOptimizer(0.05, momentum=0.9)
        losses, tower_grads = [], []
        for i in range(workers):
            with fc.device("/job:worker/task:%d" % i), fc.name_scope("tower%d" % i):
                h = fc.nn.relu(fc.matmul(xs[i], w1) + b1)
                pred = fc.matmul(h, w2) + b2
                loss = fc.reduce_mean(fc.square(pred - ys[i]))
                losses.append(loss)
                tower_grads.append(opt.compute_gradients(loss))
        averaged = [(fc.add_n([g for g, _ in pairs]) / float(workers), pairs[0][1])
                    for pairs in zip(*tower_grads)]
        train = opt.apply_gradients(averaged, global_step=step)
        loss = fc.add_n(losses) / float(workers)
        init = fc.global_variables_initializer()
        saver = fc.train.Saver()
    return dict(graph=g, x=x, y=y, loss=loss, train=train, init=init, saver=saver, step=step)


def batches(steps, seed=0):
    """The same `steps` batches for every run: y = a smooth function of x, plus noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        xv = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
        yv = (np.sin(xv[:, :1]) + 0.5 * xv[:, 1:2] ** 2 +
              0.1 * rng.normal(size=(BATCH, 1))).astype(np.float32)
        out.append((xv, yv))
    return out


def train(sess, model, data, init=True):
    """The loss of each step of `data` (after `init`ializing the variables)."""
    if init:
        sess.run(model["init"])
    return [float(sess.run([model["loss"], model["train"]],
                           {model["x"]: xv, model["y"]: yv})[0]) for xv, yv in data]


def config_for(cluster, timeout_ms=30_000):
    return fc.ConfigProto(cluster_def=cluster.as_cluster_def(),
                          operation_timeout_in_ms=timeout_ms)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--target", default="ray://local")
    args = parser.parse_args(argv)
    cluster = fc.train.ClusterSpec(CLUSTER)
    data = batches(args.steps)

    model = build(cluster)
    start = time.perf_counter()
    with fc.Session(args.target, graph=model["graph"], config=config_for(cluster)) as sess:
        print(f"connected to {args.target}: tasks {', '.join(sess._master.cluster.tasks)} "
              f"({time.perf_counter() - start:.1f} s)")
        start = time.perf_counter()
        distributed = train(sess, model, data)
        took = time.perf_counter() - start
        parts = [p.name + "@" + p.task.to_string() for p in sess.last_partitioning.partitions]
        print(f"the train step runs as {len(parts)} partitions: {', '.join(parts)}")
    print(f"{args.steps} steps on Ray in {took:.2f} s (compiles included)")

    local = build(cluster)
    with fc.Session(graph=local["graph"]) as sess:  # one process: same data and seed
        single = train(sess, local, data)
    for i, (a, b) in enumerate(zip(distributed, single)):
        if i % 5 == 0 or i == len(data) - 1:
            print(f"step {i:3d}  loss on Ray {a:.6f}  in one process {b:.6f}")
    worst = max(abs(a - b) / max(abs(b), 1e-6) for a, b in zip(distributed, single))
    ok = worst <= RTOL
    print(f"largest relative difference {worst:.2e} ({'OK' if ok else 'FAIL'}: "
          f"tolerance {RTOL:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
