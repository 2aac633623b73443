"""Where a flowc step's time goes, per kernel: `python benchmarks/kernel_profile.py W4|W8
[--threads N] [--top K] [--disable PASS,...] [--repeats R]`.

Builds W4 (LSTM forward + backward, benchmarks/workload_w4.py) or W8 (the static_rnn
classifier's training step, benchmarks/workload_w8.py) at full size, runs it warm, then
R traced runs (`RunOptions(trace_level=FULL_TRACE)`, compiler/run_metadata.py: the timed
entry stamps every kernel call) and prints, for the run with the least kernel time, each
kernel's total milliseconds, its call count and the user op it computes, largest first.
Also prints the untraced step's min and median and the process CPU time per step, which
a machine shared with other work distorts less than wall time. `--disable` compiles with
those passes left out (e.g. `--disable matmuls` for the program before that pass).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import workload_w4  # noqa: E402
import workload_w8  # noqa: E402

import compiler as fc  # noqa: E402


def _w4(config):
    xs, kernel, bias = workload_w4._data(32, 64, 128, 256)
    graph = fc.Graph()
    with graph.as_default():
        xps = [fc.placeholder(fc.float32, [None, 128], name=f"x{t}") for t in range(32)]
        cell = fc.nn.rnn_cell.BasicLSTMCell(256)
        outputs, _ = fc.nn.static_rnn(cell, xps, dtype=fc.float32)
        loss = fc.reduce_sum(outputs[-1])
        kvar, bvar = cell.trainable_variables
        grads = fc.gradients(loss, [kvar, bvar])
        init = fc.global_variables_initializer()
    sess = fc.Session(graph=graph, config=config)
    sess.run(init)
    kvar.load(kernel, sess)
    bvar.load(bias, sess)
    return sess, [loss] + list(grads), dict(zip(xps, xs))


def _w8(config):
    p0, x, y = workload_w8._data(28, 28, 128, 10, 128)
    graph = fc.Graph()
    with graph.as_default():
        m = workload_w8.build_w8(fc)
    sess = fc.Session(graph=graph, config=config)
    sess.run(m["init"])
    for k, v in m["variables"].items():
        v.load(p0[k], sess)
    return sess, [m["train"], m["loss"]], {m["x"]: x, m["y"]: y}


def profile(sess, fetches, feed, repeats):
    """(kernel ms by kernel, calls by kernel, user op by kernel) of the traced run with
    the least kernel time."""
    best = None
    for _ in range(repeats):
        md = fc.RunMetadata()
        sess.run(fetches, feed, options=fc.RunOptions(trace_level=fc.RunOptions.FULL_TRACE),
                 run_metadata=md)
        ms, calls, ops = collections.defaultdict(float), collections.Counter(), {}
        for ns in md.step_stats.dev_stats[0].node_stats:
            kernel = ns.timeline_label.split(" = ", 1)[1]
            ms[kernel] += ns.all_end_rel_nanos / 1e6
            calls[kernel] += 1
            ops.setdefault(kernel, ns.node_name)
        if best is None or sum(ms.values()) < sum(best[0].values()):
            best = (ms, calls, ops)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workload", choices=["W4", "W8"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--disable", default="")
    args = p.parse_args(argv)
    disabled = tuple(s for s in args.disable.split(",") if s)
    config = fc.ConfigProto(intra_op_parallelism_threads=args.threads,
                            compile_options=fc.CompileOptions(disabled_passes=disabled))
    sess, fetches, feed = (_w4 if args.workload == "W4" else _w8)(config)
    sess.run(fetches, feed)
    wall, cpu = [], []
    for _ in range(15):
        c0, t0 = time.process_time(), time.perf_counter()
        sess.run(fetches, feed)
        wall.append(1e3 * (time.perf_counter() - t0))
        cpu.append(1e3 * (time.process_time() - c0))
    print(f"{args.workload}, {args.threads} thread(s), passes disabled: {disabled or 'none'}; "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"step: wall min {min(wall):.2f} ms, median {np.median(wall):.2f} ms; "
          f"process CPU min {min(cpu):.2f} ms")
    ms, calls, ops = profile(sess, fetches, feed, args.repeats)
    total = sum(ms.values())
    print(f"kernels: {total:.2f} ms in {sum(calls.values())} calls of {len(ms)} kernels")
    for kernel, t in sorted(ms.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"{t:9.3f} ms {100 * t / total:5.1f} % {calls[kernel]:4d} calls  "
              f"{kernel[:36]:36s} {ops[kernel]}")


if __name__ == "__main__":
    main()
