"""Run time of kernels generic in their sizes against kernels specialized to them, in one
process: `python benchmarks/generic_kernels.py [W1 W3 W4 W5 MM] [--rounds N]
[--threads T]`.

Each workload's graph (the bench.py workloads' flowc graphs at their full sizes) is
compiled three times, with `compiler/lower/share.py`'s `GENERIC_SIZES` set to "off"
(kernels shared only across additive index offsets, the behaviour before), "shared"
(the default: the kernels of a family equal up to index constants are one generic
kernel) and "all" (every kernel generic, even one alone in its family), each a cold
compile (disk cache and in-process memo off). The three sessions then run in turns,
`--rounds` times, so that load changes on a shared machine hit all three alike; one JSON
line per workload gives each mode's minimum and median step time (wall), its minimum
CPU time (`process_time`: with one thread, less sensitive to other processes), its kernel
count, and the ratio of its minimum wall time to "off"'s. Threads: `--threads` (default
1) for every session.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
os.environ["FLOWC_CACHE"] = "0"

import numpy as np  # noqa: E402

import compiler as fc  # noqa: E402

MODES = ("off", "shared", "all")


def _w1():
    graph = fc.Graph()
    with graph.as_default():
        xp = fc.placeholder(fc.float32, [None], name="x")
        y = fc.tanh(xp * 1.5 + 0.3) * fc.sigmoid(xp) - 0.5 * xp * xp
    x = np.random.default_rng(0).standard_normal(1 << 24).astype(np.float32)
    return graph, y, {xp: x}, None


def _w3():
    import compile_phases
    graph, fetches, feed = compile_phases._w3()
    with graph.as_default():
        init = fc.global_variables_initializer()
    return graph, fetches, feed, init


def _w4():
    import compile_phases
    graph, fetches, feed = compile_phases._w4()
    rng = np.random.default_rng(0)
    feed = {p: rng.standard_normal(v.shape).astype(np.float32) for p, v in feed.items()}
    with graph.as_default():
        init = fc.global_variables_initializer()
    return graph, fetches, feed, init


def _w5():
    graph = fc.Graph()
    with graph.as_default():
        xp = fc.placeholder(fc.float32, [None, 1024], name="x")
        y = fc.nn.softmax(xp)
    x = np.random.default_rng(0).standard_normal((4096, 1024)).astype(np.float32)
    return graph, y, {xp: x}, None


def _mm():
    graph = fc.Graph()
    with graph.as_default():
        ap = fc.placeholder(fc.float32, [1024, 1024], name="a")
        bp = fc.placeholder(fc.float32, [1024, 1024], name="b")
        c = fc.matmul(ap, bp)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((1024, 1024)).astype(np.float32) for _ in range(2))
    return graph, c, {ap: a, bp: b}, None


WORKLOADS = {"W1": _w1, "W3": _w3, "W4": _w4, "W5": _w5, "MM": _mm}


def _session(graph, fetches, feed, init, threads, mode):
    from compiler import memo
    from compiler.lower import share
    share.GENERIC_SIZES = mode
    memo.clear()
    sess = fc.Session(graph=graph, config=fc.ConfigProto(
        intra_op_parallelism_threads=threads))
    if init is not None:
        sess.run(init)
    try:
        out = sess.run(fetches, feed)   # the compile, in this mode
    finally:
        share.GENERIC_SIZES = "shared"
    md = fc.RunMetadata()
    sess.run(fetches, feed, options=fc.RunOptions(trace_level=fc.RunOptions.FULL_TRACE),
             run_metadata=md)
    labels = {s.timeline_label.split(" = ")[1]
              for s in md.step_stats.dev_stats[0].node_stats}
    return sess, out, len(labels)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for name in args.workloads:
        graph, fetches, feed, init = WORKLOADS[name]()
        sessions, kernels = {}, {}
        ref = None
        for mode in MODES:
            sess, out, kernels[mode] = _session(graph, fetches, feed, init, args.threads,
                                                mode)
            sessions[mode] = sess
            if init is None:   # a training step changes the state: no comparison
                ref = out if ref is None else ref
                np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5,
                                           atol=1e-5)
        times = {m: [] for m in MODES}
        cpu = {m: [] for m in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                t0, c0 = time.perf_counter(), time.process_time()
                sessions[mode].run(fetches, feed)
                cpu[mode].append((time.process_time() - c0) * 1e3)
                times[mode].append((time.perf_counter() - t0) * 1e3)
        row = {"workload": name, "threads": args.threads, "load": os.getloadavg()[0]}
        for m in MODES:
            row[m] = {"min_ms": round(min(times[m]), 3),
                      "median_ms": round(statistics.median(times[m]), 3),
                      "cpu_min_ms": round(min(cpu[m]), 3),
                      "kernels": kernels[m],
                      "min_vs_off": round(min(times[m]) / min(times["off"]), 3)}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
