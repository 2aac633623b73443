"""flowc's matmul kernels against `jax.jit(jnp.matmul)` and numpy's BLAS on the same arrays:
`python benchmarks/mm_peers.py [--threads 1,2] [--shapes MM,W3] [--time S]`.

The shapes: MM (1024 x 1024 @ 1024 x 1024 float32, bench.py's MM) and the matmuls of W3's
training step (784-512-512-10 MLP, batch 256): the forward products, the weight
gradients X^T @ dZ (A transposed), the input gradients dZ @ W^T (B transposed) and the
10-column logits layer; plus LSTM-like products with a small reduction (K = batch 64,
N = 4 * 256), which W4 runs. Each thread count runs in its own child process, so every
system there gets the same threads: with 1, the child is pinned to one core
(sched_setaffinity: flowc's default thread count and jax's pools follow it) and sets
OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1 and XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1; with more, the affinity is left alone and the variables
name the count. flowc runs `Session.run(matmul(a, b))` (a fresh output per call, like
jax's and numpy's); every system's result is checked against numpy's float64 product
before it is timed. Prints one JSON line per shape and system: median and min ms of wall
time, the least process CPU time of a call (all of the process's threads: on a machine
that others load, the 1-thread figure to compare), GFLOP/s of the median, the ratio of
the system's median to flowc's, the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SHAPES = {  # name: (M, K, N, transpose_a, transpose_b)
    "MM": [("mm1024", 1024, 1024, 1024, False, False)],
    "W3": [("w3-fwd1", 256, 784, 512, False, False),
           ("w3-fwd2", 256, 512, 512, False, False),
           ("w3-fwd3", 256, 512, 10, False, False),
           ("w3-dW1", 784, 256, 512, True, False),
           ("w3-dW2", 512, 256, 512, True, False),
           ("w3-dX2", 256, 512, 512, False, True),
           ("w3-dW3", 512, 256, 10, True, False),
           ("w3-dX3", 256, 10, 512, False, True)],
    "LSTM": [("lstm-dW", 256, 64, 1024, True, False),
             ("lstm-fwd", 64, 256, 1024, False, False)],
}


def _env(threads: int) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    if threads == 1:
        env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                            "intra_op_parallelism_threads=1")
    return env


def _timed(fn, min_time_s):
    """(wall ms, process CPU ms) per call after 3 warm-up calls: at least 10 calls and
    min_time_s."""
    for _ in range(3):
        fn()
    times, cpu, start = [], [], time.perf_counter()
    while len(times) < 10 or (time.perf_counter() - start < min_time_s and len(times) < 500):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return times, cpu


def _child(threads: int, groups, min_time_s):
    if threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import numpy as np
    rng = np.random.default_rng(0)
    for group in groups:
        for name, m, k, n, ta, tb in SHAPES[group]:
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
            _one_shape(name, a, b, ta, tb, threads, min_time_s)


def _systems(a, b, ta, tb, threads):
    """{system: call} for the product op(a) @ op(b), and flowc's compile CPU seconds."""
    import jax
    import jax.numpy as jnp

    import compiler as fc
    graph = fc.Graph()
    with graph.as_default():
        ap = fc.placeholder(fc.float32, list(a.shape), name="a")
        bp = fc.placeholder(fc.float32, list(b.shape), name="b")
        c = fc.matmul(ap, bp, transpose_a=ta, transpose_b=tb)
    sess = fc.Session(graph=graph, config=fc.ConfigProto(intra_op_parallelism_threads=threads))
    feed = {ap: a, bp: b}
    t0 = time.process_time()
    sess.run(c, feed)
    compile_s = time.process_time() - t0
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    jmm = jax.jit(lambda x, y: jnp.matmul(x.T if ta else x, y.T if tb else y))
    an, bn = (a.T if ta else a), (b.T if tb else b)
    return {"flowc": lambda: sess.run(c, feed),
            "jax-jit": lambda: jmm(ja, jb).block_until_ready(),
            "numpy": lambda: an @ bn}, compile_s


def _one_shape(name, a, b, ta, tb, threads, min_time_s):
    import numpy as np
    an, bn = (a.T if ta else a), (b.T if tb else b)
    (m, k), n = an.shape, bn.shape[1]
    want = an.astype(np.float64) @ bn.astype(np.float64)
    systems, compile_s = _systems(a, b, ta, tb, threads)
    base = None
    for system, fn in systems.items():
        got = np.asarray(fn())
        err = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))
        if err > 1e-4:
            raise AssertionError(f"{name} {system}: relative error {err:.2e}")
        times, cpu = _timed(fn, min_time_s)
        times.sort()
        med = times[len(times) // 2]
        base = base or med
        rec = {"shape": name, "mkn": [m, k, n], "ta": ta, "tb": tb, "system": system,
               "threads": threads, "median_ms": round(med, 4), "min_ms": round(times[0], 4),
               "min_cpu_ms": round(min(cpu), 4),
               "gflops": round(2.0 * m * n * k / med / 1e6, 1),
               "vs_flowc": round(med / base, 3), "load": os.getloadavg()[0]}
        if system == "flowc":
            rec["compile_cpu_s"] = round(compile_s, 3)
        print(json.dumps(rec), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2", help="thread counts, one child process each")
    ap.add_argument("--shapes", default="MM,W3,LSTM", help="groups: " + ",".join(SHAPES))
    ap.add_argument("--time", type=float, default=1.0, help="seconds per system and shape")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    groups = [g for g in args.shapes.split(",") if g]
    unknown = [g for g in groups if g not in SHAPES]
    if unknown:
        ap.error(f"unknown shape group(s) {unknown}; known: {sorted(SHAPES)}")
    if args.child is not None:
        return _child(args.child, groups, args.time)
    here = os.path.dirname(os.path.abspath(__file__))
    env_path = os.pathsep.join([os.path.dirname(here), os.environ.get("PYTHONPATH", "")])
    for threads in (int(t) for t in args.threads.split(",")):
        env = dict(_env(threads), PYTHONPATH=env_path)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(threads),
                        "--shapes", args.shapes, "--time", str(args.time)],
                       env=env, check=True)


if __name__ == "__main__":
    sys.exit(main())
