"""MM, float32 matmul 1024x1024 @ 1024x1024 (issue 6, item 7: GFLOP/s next to numpy's).

Systems: flowc (`Session.run(matmul(a, b))` on two fed inputs, a fresh output per call)
and numpy (`a @ b`, its BLAS). flowc's result is checked against numpy's float64 product
before it is timed. `gflops` counts 2*n^3 flops per call.
The tvm line (when apache-tvm is installed): `relax.op.matmul`, checked the same way.
"""

from __future__ import annotations

import time

import numpy as np
import peer_tvm
from benchlib import (
    compare,
    failed,
    flowc_init_s,
    flowc_kernels,
    measure,
    no_disk_cache,
    numpy_blas_note,
    result,
)

NAME = "MM"


def run(cfg):
    n = 128 if cfg.quick else 1024
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=10) if cfg.quick else \
        dict(min_time_s=2.0, min_repeats=5, max_repeats=30)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    want = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
    gflop = 2.0 * n ** 3 / 1e9
    for system, fn in (("flowc", _flowc), ("numpy", _numpy), ("tvm", _tvm)):
        if not cfg.wants(system):
            continue
        try:
            rec = fn(a, b, want, timing)
        except Exception as e:  # noqa: BLE001  (report, go on)
            rec = failed(NAME, system, e)
        if rec.get("median_ms"):
            rec["gflops"] = round(gflop / (rec["median_ms"] / 1e3), 2)
        yield rec


def _tol(n):
    return dict(rtol=1e-3, atol=1e-4 * np.sqrt(n))


def _flowc(a, b, want, timing):
    import compiler as fc
    init_s = flowc_init_s()
    graph = fc.Graph()
    with graph.as_default():
        ap = fc.placeholder(fc.float32, list(a.shape), name="a")
        bp = fc.placeholder(fc.float32, list(b.shape), name="b")
        c = fc.matmul(ap, bp)
    sess = fc.Session(graph=graph)
    feed = {ap: a, bp: b}
    with no_disk_cache():
        t0 = time.perf_counter()
        got = sess.run(c, feed)
        compile_s = time.perf_counter() - t0
    check = compare(got, want, **_tol(a.shape[1]))
    times = measure(lambda: sess.run(c, feed), **timing)
    return result(NAME, "flowc", times, check, compile_s=compile_s,
                  kernels=flowc_kernels(sess),
                  note=f"Session.run(matmul(a, b)), generated kernel (no BLAS); "
                       f"{sess.options.threads} thread(s) configured; compile_s is the "
                       f"first call (disk cache off) without the LLVM start-up ({init_s:.2f} s)")


def _numpy(a, b, want, timing):
    got = a @ b
    check = compare(got, want, **_tol(a.shape[1]))
    times = measure(lambda: a @ b, **timing)
    return result(NAME, "numpy", times, check, note="a @ b; " + numpy_blas_note())


def _tvm(a, b, want, timing):
    return peer_tvm.matmul_record(NAME, a, b,
                                  lambda got: compare(got, want, **_tol(a.shape[1])), timing)
