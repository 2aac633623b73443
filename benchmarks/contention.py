"""The thread pool beside a busy process: W3 (MLP SGD step) or W4 (LSTM forward and
backward) under flowc with pool spin counts given on the command line, compiled in one
process (`compiler.backends.llvm.pool.SPIN` is read when a program is emitted), and, for
W3, jax.jit's step, each timed first alone and then with a `while 1: pass` process
running, in rounds that alternate the systems. Prints one line per system and scenario:
median and min of the step and the process CPU time per step (what the pool's waiting
costs the other processes on the machine).

    python benchmarks/contention.py W3 --spins 8000,2000 [--rounds 8 --reps 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("FLOWC_CACHE", "0")   # every variant compiles here

import workload_w3
import workload_w4


def _w3_flowc(sess_config):
    from benchlib import in_new_graph

    import compiler as fc
    ws0, bs0, x, y = workload_w3._data(256, workload_w3.SIZES)
    g, xp, yp, _, _, loss, train, init = in_new_graph(fc, workload_w3.build, ws0, bs0,
                                                      x.shape[1], y.shape[1])
    sess = fc.Session(graph=g, config=sess_config)
    sess.run(init)
    feed = {xp: x, yp: y}
    sess.run([train, loss], feed)
    return lambda: sess.run([train, loss], feed)


def _w4_flowc(sess_config):
    from benchlib import in_new_graph

    import compiler as fc
    seq, batch, depth, hidden = workload_w4._sizes(False)
    xs, kernel, bias = workload_w4._data(seq, batch, depth, hidden)
    graph, xps, loss, grads, (kv, bv), init = in_new_graph(fc, workload_w4.build, seq, depth,
                                                           hidden)
    sess = fc.Session(graph=graph, config=sess_config)
    sess.run(init)
    kv.load(kernel, sess)
    bv.load(bias, sess)
    feed, fetches = dict(zip(xps, xs)), [loss] + list(grads)
    sess.run(fetches, feed)
    return lambda: sess.run(fetches, feed)


def _w3_jax():
    import jax
    import jax.numpy as jnp
    ws0, bs0, x, y = workload_w3._data(256, workload_w3.SIZES)

    def loss_fn(p, xb, yb):
        h = xb
        for i, (w, b) in enumerate(p):
            h = h @ w + b
            if i < len(p) - 1:
                h = jax.nn.relu(h)
        return -jnp.mean(jnp.sum(yb * jax.nn.log_softmax(h), -1))

    @jax.jit
    def step(p, xb, yb):
        lv, gr = jax.value_and_grad(loss_fn)(p, xb, yb)
        return [(w - workload_w3.LR * gw, b - workload_w3.LR * gb)
                for (w, b), (gw, gb) in zip(p, gr)], lv
    state = [[(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(ws0, bs0)]]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def run():
        state[0], lv = step(state[0], xj, yj)
        lv.block_until_ready()
    run()
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=("W3", "W4"))
    ap.add_argument("--spins", default="2000", help="comma-separated pool spin counts")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args(argv)
    import compiler as fc
    from compiler import memo
    from compiler.backends.llvm import pool
    build = _w3_flowc if args.workload == "W3" else _w4_flowc
    systems = {}
    default_spin = pool.SPIN
    for spin in (int(s) for s in args.spins.split(",")):
        pool.SPIN = spin
        memo._entries.clear()   # the in-process memo would hand back the last variant
        systems[f"flowc spin={spin}"] = build(fc.ConfigProto())
    pool.SPIN = default_spin
    if args.workload == "W3":
        try:
            systems["jax-jit"] = _w3_jax()
        except ImportError:
            pass
    print(f"load before: {os.getloadavg()}", file=sys.stderr)
    for scenario in ("alone", "busy"):
        rival = (subprocess.Popen([sys.executable, "-c", "while 1: pass"])
                 if scenario == "busy" else None)
        try:
            times = {k: [] for k in systems}
            cpu = dict.fromkeys(systems, 0.0)
            for _ in range(args.rounds):
                for name, fn in systems.items():
                    c0 = time.process_time()
                    for _ in range(args.reps):
                        t0 = time.perf_counter()
                        fn()
                        times[name].append(time.perf_counter() - t0)
                    cpu[name] += time.process_time() - c0
        finally:
            if rival is not None:
                rival.kill()
                rival.wait()
        for name, ts in times.items():
            med = statistics.median(ts) * 1e3
            print(f"{args.workload} {scenario:5s} {name:18s} median {med:8.2f} ms  "
                  f"min {min(ts)*1e3:8.2f} ms  cpu/step {cpu[name]/len(ts)*1e3:7.2f} ms")
    print(f"load after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
