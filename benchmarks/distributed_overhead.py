"""D1 (issue 17): the overhead of a two-partition step on two Ray workers against the
same graph in one process. The graph is trivial (y = 2x + 1, then z = y * y, on a
float32[4] feed), cut by hand into two partitions (feeding the intermediate tensor cuts
it: compiler/pipeline.py `compile_graph`), each registered with its own worker
(compiler/distributed/); the step is timed as `StepPlan.run` (Ray compiled graph, and
chained actor calls with ObjectRefs) and, in one process, as one run of the whole graph's
executable. Prints one JSON line per system (benchmarks/bench.py's fields), medians and
minimums over `--steps` steps after `--warmup` steps:

    python benchmarks/distributed_overhead.py [--steps 2000 --warmup 200]

Systems: `flowc` (one process, the whole graph), `flowc-ray` (two workers, compiled
graph), `flowc-ray-chained` (two workers, one actor call per stage). A local Ray runtime
is started here (4 logical CPUs: both clusters at once; no dashboard)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("FLOWC_CACHE", "0")

import numpy as np  # noqa: E402

import compiler as fc  # noqa: E402
from compiler import distributed as dist  # noqa: E402
from compiler import pipeline  # noqa: E402
from runtime.variables import VariableStore  # noqa: E402

W0, W1 = "/job:worker/replica:0/task:0", "/job:worker/replica:0/task:1"


def _graph():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [4], name="x")
        y = fc.add(x * 2.0, 1.0, name="y")
        z = fc.multiply(y, y, name="z")
    opts = fc.CompileOptions(threads=1)
    return (pipeline.compile_graph(g, [z], [x], opts).executable,
            pipeline.compile_graph(g, [y], [x], opts).executable,
            pipeline.compile_graph(g, [z], [y], opts).executable)


def _time(step, steps, warmup):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    args = ap.parse_args(argv)
    whole, first, second = _graph()
    feed = np.arange(4, dtype=np.float32)
    want = ((feed * 2 + 1) ** 2).astype(np.float32)
    store = VariableStore()
    rows = [("flowc", lambda: whole.run([feed], store, 0)[0])]
    clusters = []
    for system, compiled in (("flowc-ray", True), ("flowc-ray-chained", False)):
        cl = dist.connect("ray://local", {"worker": 2}, num_cpus=4,
                          compiled_graphs=compiled)
        cl.register(W0, "first", first)
        cl.register(W1, "second", second)
        plan = cl.plan([dist.Stage(W0, "first", ("x:0",), ("y:0",)),
                        dist.Stage(W1, "second", ("y:0",), ("z:0",))], ["x:0"], ["z:0"])
        clusters.append(cl)
        rows.append((system, lambda plan=plan: plan.run({"x:0": feed}, 0)["z:0"]))
    base = None
    for system, step in rows:
        check = "ok" if np.array_equal(step(), want) else "differs from (2x+1)^2"
        median, low = _time(step, args.steps, args.warmup)
        base = median if base is None else base
        note = "one process, the whole graph" if system == "flowc" else \
            f"2 workers; overhead {(median - base) * 1e3:.0f} us a step over one process"
        print(json.dumps({"workload": "D1", "system": system, "median_ms": round(median, 4),
                          "min_ms": round(low, 4), "check": check, "note": note}),
              flush=True)
    for cl in clusters:
        cl.close()


if __name__ == "__main__":
    main()
