"""W7, compile and cache-load time: the forward graph of a 784-512-512-10 MLP (relu,
relu, softmax; weights as constants) run once on a batch of 64, in a fresh Python process
each time (issue 5, item 8).

Systems: "flowc-cold" (an empty compile cache, so the full pipeline and LLVM run) and
"flowc-warm-cache" (a cache that a cold run filled: the program is looked up, the shared
object loaded with ctypes; target: under 20 ms). `median_ms` is the time from "graph
built" to "first result" in the child process; `compile_s` is the median of the
Session's `compile_graph` step alone (conversion, the cache lookup — keyed on the
converted program — and either the passes, lowering and LLVM or the load). The child's
interpreter start and `import compiler` are not counted (the note gives them).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
from benchlib import compare, failed, result

NAME = "W7"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
t_start = time.perf_counter()
import numpy as np
import compiler as fc
import compiler.session as build
t_import = time.perf_counter()
spent = []
inner = build.compile_graph
def timed(*a, **k):
    t = time.perf_counter()
    try:
        return inner(*a, **k)
    finally:
        spent.append(time.perf_counter() - t)
build.compile_graph = timed
rng = np.random.default_rng(0)
sizes = [784, 512, 512, 10]
ws = [(rng.standard_normal((m, n)) / np.sqrt(m)).astype(np.float32)
      for m, n in zip(sizes, sizes[1:])]
bs = [np.full(n, 0.01, np.float32) for n in sizes[1:]]
x_val = rng.standard_normal((64, 784)).astype(np.float32)
g = fc.Graph()
with g.as_default():
    x = fc.placeholder(fc.float32, [None, 784], name="x")
    h = x
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = fc.matmul(h, fc.constant(w)) + fc.constant(b)
        h = fc.nn.relu(h) if i < 2 else fc.nn.softmax(h)
sess = fc.Session(graph=g)
t0 = time.perf_counter()
out = sess.run(h, {x: x_val})
t1 = time.perf_counter()
from compiler import cache
print(json.dumps({"total_s": t1 - t0, "build_s": sum(spent), "import_s": t_import - t_start,
                  "stats": cache.stats, "out": out.tolist()}))
"""


def run(cfg):
    repeats = 2 if cfg.quick else 7
    want = _reference()
    with tempfile.TemporaryDirectory(prefix="flowc-w7-") as tmp:
        for system, warm in (("flowc-cold", False), ("flowc-warm-cache", True)):
            if not cfg.wants(system):
                continue
            try:
                yield _measure(system, warm, repeats, tmp, want)
            except Exception as e:  # noqa: BLE001  (report, go on)
                yield failed(NAME, system, e)


def _measure(system, warm, repeats, tmp, want):
    runs = []
    for i in range(repeats):
        cache_dir = os.path.join(tmp, "warm" if warm else f"cold{i}")
        if warm and i == 0:
            _child(cache_dir)  # fills the cache
        runs.append(_child(cache_dir))
    expect = {"hits": 1} if warm else {"misses": 1, "stores": 1}
    bad = [r["stats"] for r in runs if any(r["stats"][k] != v for k, v in expect.items())]
    check = compare(np.asarray(runs[-1]["out"], np.float32), want, 1e-4, 1e-6)
    if bad:
        check = f"cache counters {bad[0]}, expected {expect}"
    times = [r["total_s"] * 1e3 for r in runs]
    build_s = statistics.median(r["build_s"] for r in runs)
    import_s = statistics.median(r["import_s"] for r in runs)
    return result(NAME, system, times, check, compile_s=round(build_s, 4),
                  note=f"graph built -> first result, fresh process x{repeats}; "
                       f"compile_graph {build_s * 1e3:.1f} ms; interpreter start not "
                       f"counted, import compiler {import_s * 1e3:.0f} ms")


def _child(cache_dir) -> dict:
    env = {**os.environ, "FLOWC_CACHE_DIR": cache_dir, "PYTHONPATH": ROOT}
    env.pop("FLOWC_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else
                           f"exit status {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _reference():
    rng = np.random.default_rng(0)
    sizes = [784, 512, 512, 10]
    ws = [(rng.standard_normal((m, n)) / np.sqrt(m)).astype(np.float32)
          for m, n in zip(sizes, sizes[1:])]
    h = rng.standard_normal((64, 784)).astype(np.float32)
    for i, w in enumerate(ws):
        h = h @ w + np.float32(0.01)
        if i < 2:
            h = np.maximum(h, 0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
