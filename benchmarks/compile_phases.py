"""Cold compile time of W3, W4 and Inception (quick), split by pipeline phase, and the
stage dumps' hashes: `python benchmarks/compile_phases.py [w3 w4 inception conv]
[--profile DIR] [--hash] [--repeat N]`.

Each workload's graph is built once; then its training step (W3: SGD step; W4: loss and
gradients of the 32-step static_rnn LSTM; inception: `examples/inception.py --quick`'s
training step; conv: a small conv + pool + dense training step) is compiled `--repeat`
times with the disk cache and the in-process memo off, and the CPU time of this process
(`time.process_time`, less sensitive to other processes than wall time) of each phase is
printed as one JSON line: convert, verify, passes, plan (fusion), lower, backend (LLVM
IR, optimize, codegen, load) and total, the minimum over the repeats.

`--hash` prints instead the sha256 (first 16 hex digits) of every stage text of
`fc.dump` (graph, input, each pass, fusion, kernels, llvm, ...; times in the pass
headers masked), to check that a change of the compiler's speed left its outputs as
they were.
`--profile DIR` writes cProfile stats of one more cold compile to DIR/<workload>.prof.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, os.path.join(ROOT, "examples"))
os.environ["FLOWC_CACHE"] = "0"


def _w3():
    import compiler as fc  # noqa: I001  (line numbers: the dump hashes name them)
    import workload_w3 as w
    from benchlib import in_new_graph
    ws0, bs0, x, y = w._data(256, w.SIZES)
    graph, xp, yp, _, _, loss, train, _ = in_new_graph(fc, w.build, ws0, bs0, x.shape[1],
                                                       y.shape[1])
    return graph, [train, loss], {xp: x, yp: y}


def _w4():
    import numpy as np
    import workload_w4 as w
    from benchlib import in_new_graph

    import compiler as fc
    seq, batch, depth, hidden = w._sizes(False)
    graph, xps, loss, grads, _, _ = in_new_graph(fc, w.build, seq, depth, hidden)
    feed = {p: np.zeros((batch, depth), np.float32) for p in xps}
    return graph, [loss] + list(grads), feed


def _inception():
    import numpy as np  # noqa: I001
    import compiler as fc  # noqa: I001  (line numbers: the dump hashes name them)
    import inception
    graph = fc.Graph()
    with graph.as_default():
        images, labels, loss, train_op, _, _ = inception.build(107, 2, 0.25, full=False)
    rng = np.random.default_rng(0)
    feed = {images: rng.standard_normal((2, 107, 107, 3)).astype(np.float32),
            labels: rng.integers(0, 10, 2)}
    return graph, [loss, train_op], feed


def _conv():
    import numpy as np  # noqa: I001
    import compiler as fc  # noqa: I001  (line numbers: the dump hashes name them)
    graph = fc.Graph()
    with graph.as_default():
        fc.set_random_seed(0)
        x = fc.placeholder(fc.float32, [4, 16, 16, 3], name="x")
        y = fc.placeholder(fc.int64, [4], name="y")
        h = fc.layers.conv2d(x, 8, 3, padding="same", activation=fc.nn.relu, name="c1")
        h = fc.layers.max_pooling2d(h, 2, 2)
        h = fc.layers.conv2d(h, 8, 3, padding="valid", activation=fc.nn.relu, name="c2")
        h = fc.layers.dense(fc.layers.flatten(h), 10, name="d")
        loss = fc.reduce_mean(fc.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                              logits=h))
        train = fc.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
    rng = np.random.default_rng(0)
    feed = {x: rng.standard_normal((4, 16, 16, 3)).astype(np.float32),
            y: rng.integers(0, 10, 4)}
    return graph, [loss, train], feed


WORKLOADS = {"w3": _w3, "w4": _w4, "inception": _inception, "conv": _conv}


class _Phases:
    """process_time per phase, by wrapping the pipeline's stage functions."""

    def __init__(self):
        import dataclasses

        from compiler import pipeline
        from compiler.backends.llvm import jit
        self.times: dict = {}
        self.pipeline = pipeline
        self.saved = []
        for name, phase in (("convert", "convert"), ("verify", "verify"),
                            ("run_pipeline", "passes"), ("plan_kernels", "plan"),
                            ("lower_program", "lower")):
            self._wrap(pipeline, name, phase)
        self.saved.append((jit, "BACKEND", jit.BACKEND))
        jit.BACKEND = dataclasses.replace(jit.BACKEND,
                                          build=self._timed(jit.BACKEND.build, "backend"))

    def _wrap(self, obj, name, phase):
        fn = getattr(obj, name)
        self.saved.append((obj, name, fn))
        setattr(obj, name, self._timed(fn, phase))

    def _timed(self, fn, phase):
        times = self.times

        def timed(*a, **k):
            t0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                times[phase] = times.get(phase, 0.0) + time.process_time() - t0
        return timed

    def restore(self):
        for obj, name, fn in reversed(self.saved):
            setattr(obj, name, fn)


def _compile(graph, fetches, feed):
    import compiler as fc  # noqa: I001  (line numbers: the dump hashes name them)
    from compiler import memo
    memo.clear()   # each compile is cold: no LLVM result from an earlier repeat
    sess = fc.Session(graph=graph)
    with graph.as_default():
        init = fc.global_variables_initializer()
    sess.run(init)
    t0 = time.process_time()
    sess.run(fetches, feed)
    return time.process_time() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["w3", "w4", "inception"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--hash", action="store_true")
    args = parser.parse_args(argv)
    import compiler as fc  # noqa: I001  (line numbers: the dump hashes name them)
    from compiler.backends.llvm import jit  # noqa: F401  (LLVM start-up not counted)
    for name in args.workloads:
        graph, fetches, feed = WORKLOADS[name]()
        if args.hash:
            import re
            with graph.as_default():
                texts = fc.dump(fetches, feeds=list(feed))
            # the pass stages' headers carry the pipeline's and each pass's wall time
            texts = {k: re.sub(r"[0-9.]+ ms", "_ ms", v) for k, v in texts.items()}
            print(json.dumps({"workload": name, **{
                k: hashlib.sha256(v.encode()).hexdigest()[:16] for k, v in texts.items()}}))
            continue
        best: dict = {}
        for _ in range(args.repeat):
            phases = _Phases()
            try:
                total = _compile(graph, fetches, feed)
            finally:
                phases.restore()
            row = {**phases.times, "total": total}
            best = {k: min(v, best.get(k, v)) for k, v in row.items()}
        print(json.dumps({"workload": name, **{k: round(v, 3) for k, v in best.items()}}))
        if args.profile:
            os.makedirs(args.profile, exist_ok=True)
            prof = cProfile.Profile()
            prof.runcall(_compile, graph, fetches, feed)
            prof.dump_stats(os.path.join(args.profile, f"{name}.prof"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
