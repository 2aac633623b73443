"""The kernel library's effect on compile time (docs/cache.md, "The kernel library"):
each scenario runs in a fresh Python process and prints one JSON line with the CPU
seconds (`time.process_time`) of the first `Session.run` of the program (the compile,
plus one step), the per-phase CPU seconds (compiler/timings.py) and the kernel library's
counters for that compile.

    python benchmarks/kernel_library.py [--threads N] [--keep DIR]

Scenarios, in order, sharing one temporary cache folder:
    W3 cold, cache off          the training step of workload_w3 (784-512-512-10), FLOWC_CACHE=0
    W4 cold, cache off          LSTM 32 steps, batch 64, 128 -> 256 units, forward + gradients
    W3 fill                     W3 with the cache on: compiles and stores its kernels
    W3 library warm             a fresh process, the program's entry removed: only the
                                entry module is compiled, the kernels are found on disk
    W3 other widths             784-256-128-10: a different model, the library warm
    W4 fill / W4 library warm   as for W3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], "benchmarks"))
import numpy as np
import compiler as fc
from compiler import kernel_cache, timings
from compiler.backends.llvm import target
target.target_machine()   # LLVM's one-time start-up is not the compile's
which, threads = sys.argv[2], int(sys.argv[3])
g = fc.Graph()
rng = np.random.default_rng(0)
with g.as_default():
    if which.startswith("w3"):
        import w3_step
        fetches, (x, y) = w3_step.build((784, 512, 512, 10) if which == "w3"
                                        else (784, 256, 128, 10))
        feed = {x: rng.standard_normal((256, 784)).astype(np.float32),
                y: np.eye(10, dtype=np.float32)[rng.integers(0, 10, 256)]}
    else:
        xps = [fc.placeholder(fc.float32, [None, 128], name=f"x{t}") for t in range(32)]
        cell = fc.nn.rnn_cell.BasicLSTMCell(256)
        outputs, _ = fc.nn.static_rnn(cell, xps, dtype=fc.float32)
        loss = fc.reduce_sum(outputs[-1])
        fetches = [loss] + list(fc.gradients(loss, cell.trainable_variables))
        feed = {p: rng.standard_normal((64, 128)).astype(np.float32) for p in xps}
    init = fc.global_variables_initializer()
sess = fc.Session(graph=g, config=fc.ConfigProto(intra_op_parallelism_threads=threads,
                                                 progress=False))
sess.run(init)
before = dict(kernel_cache.stats)
t0 = time.process_time()
with timings.record() as rec:
    sess.run(fetches, feed)
cpu = time.process_time() - t0
phases = {k: round(v, 3) for k, v in sorted(rec.cpu_seconds().items(), key=lambda kv: -kv[1])
          if v >= 0.005}
print(json.dumps({"cpu_s": round(cpu, 3), "wall_s": round(rec.total, 3), "phases": phases,
                  "library": {k: v - before[k] for k, v in kernel_cache.stats.items()
                              if v != before[k]}}))
"""

SCENARIOS = [
    ("W3 cold, cache off", "w3", False, False),
    ("W4 cold, cache off", "w4", False, False),
    ("W3 fill", "w3", True, False),
    ("W3 library warm", "w3", True, True),
    ("W3 other widths, library warm", "w3b", True, False),
    ("W4 fill", "w4", True, False),
    ("W4 library warm", "w4", True, True),
]


def run_child(which, threads, cache_dir, cache_on) -> dict:
    env = {**os.environ, "FLOWC_CACHE": "1" if cache_on else "0",
           "FLOWC_CACHE_DIR": cache_dir, "PYTHONPATH": ROOT}
    proc = subprocess.run([sys.executable, "-c", CHILD, ROOT, which, str(threads)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", help="use (and keep) this cache folder")
    args = ap.parse_args(argv)
    cache_dir = args.keep or tempfile.mkdtemp(prefix="flowc-kernlib-")
    try:
        for label, which, cache_on, drop_entries in SCENARIOS:
            if drop_entries:   # no compile-cache hit: the kernels come from the library
                shutil.rmtree(os.path.join(cache_dir, "entries"), ignore_errors=True)
            rec = run_child(which, args.threads, cache_dir, cache_on)
            print(json.dumps({"scenario": label, "threads": args.threads, **rec}), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(cache_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
