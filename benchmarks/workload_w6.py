"""W6, dispatch overhead: one call of a tiny graph (the sum of two 4-element float32
vectors, both fed), per call. flowc systems: "flowc" (`Session.run` with a feed dict),
"flowc-callable" (`Session.make_callable(c, [a, b])` called with the two arrays),
"flowc-jit" (`fc.jit(lambda x, y: x + y)` called with the two arrays; target: under
5 us per call, issue 5), "flowc-jit-out" (the same with `out=` a preallocated array) and
"flowc-load" (the graph compiled ahead of time with `fc.compile` and loaded with
`runtime.load`, called with the two arrays).

Times are per call, in milliseconds like every workload (`median_ms` 0.012 is 12 µs);
the note repeats the figure in µs. Floors and peers: a bare ctypes call of libc `abs`
(system "ctypes"), numpy's `np.add` on the same arrays, and jax.jit when installed
(called with the same numpy arrays, result waited for).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time

import numpy as np
from benchlib import (
    compare,
    flowc_init_s,
    flowc_kernels,
    measure_calls,
    result,
    run_systems,
    skipped,
    try_import,
)

NAME = "W6"


def run(cfg):
    calls, batches = (200, 5) if cfg.quick else (2000, 30)
    a = np.arange(4, dtype=np.float32)
    b = np.full(4, 0.5, dtype=np.float32)
    want = a + b
    systems = [("flowc", _flowc), ("flowc-callable", _flowc_callable),
               ("flowc-jit", _flowc_jit), ("flowc-jit-out", _flowc_jit_out),
               ("flowc-load", _flowc_load),
               ("ctypes", _ctypes), ("numpy", _numpy), ("jax-jit", _jax)]
    for rec in run_systems(NAME, cfg, systems, (a, b, want, calls, batches)):
        if rec.get("median_ms") is not None:
            us = rec["median_ms"] * 1e3
            rec["note"] = f"{us:.3g} us/call (median of {batches} batches of {calls} calls)" \
                + (f"; {rec['note']}" if rec.get("note") else "")
        yield rec


def _flowc(a, b, want, calls, batches):
    import compiler as fc
    graph = fc.Graph()
    with graph.as_default():
        pa = fc.placeholder(fc.float32, [4], name="a")
        pb = fc.placeholder(fc.float32, [4], name="b")
        c = pa + pb
    flowc_init_s()
    sess = fc.Session(graph=graph)
    t0 = time.perf_counter()
    got = sess.run(c, {pa: a, pb: b})
    compile_s = time.perf_counter() - t0
    check = compare(got, want, 0, 0)
    times = measure_calls(lambda: sess.run(c, {pa: a, pb: b}), calls, batches)
    return result(NAME, "flowc", times, check, compile_s=compile_s,
                  kernels=flowc_kernels(sess),
                  note=f"Session.run with 2 feeds, 1 fetch; {sess.compile_count} compile(s)")


def _flowc_callable(a, b, want, calls, batches):
    import compiler as fc
    graph = fc.Graph()
    with graph.as_default():
        pa = fc.placeholder(fc.float32, [4], name="a")
        pb = fc.placeholder(fc.float32, [4], name="b")
        c = pa + pb
    flowc_init_s()
    sess = fc.Session(graph=graph)
    t0 = time.perf_counter()
    call = sess.make_callable(c, [pa, pb])
    got = call(a, b)
    compile_s = time.perf_counter() - t0
    times = measure_calls(lambda: call(a, b), calls, batches)
    return result(NAME, "flowc-callable", times, compare(got, want, 0, 0),
                  compile_s=compile_s, kernels=flowc_kernels(sess),
                  note="Session.make_callable(c, [a, b]) called with 2 arrays")


def _jitted():
    import compiler as fc

    @fc.jit
    def add(x, y):
        return x + y
    return add


def _flowc_jit(a, b, want, calls, batches):
    flowc_init_s()
    add = _jitted()
    t0 = time.perf_counter()
    got = add(a, b)
    compile_s = time.perf_counter() - t0
    check = compare(got, want, 0, 0)
    times = measure_calls(lambda: add(a, b), calls, batches)
    return result(NAME, "flowc-jit", times, check, compile_s=compile_s,
                  note=f"fc.jit add(a, b); {add.compile_count} compile(s)")


def _flowc_jit_out(a, b, want, calls, batches):
    flowc_init_s()
    add = _jitted()
    out = np.empty_like(want)
    t0 = time.perf_counter()
    add(a, b, out=out)
    compile_s = time.perf_counter() - t0
    check = compare(out, want, 0, 0)
    times = measure_calls(lambda: add(a, b, out=out), calls, batches)
    return result(NAME, "flowc-jit-out", times, check, compile_s=compile_s,
                  note="fc.jit add(a, b, out=out) into a preallocated array")


def _flowc_load(a, b, want, calls, batches):
    import tempfile

    import compiler as fc
    import runtime
    graph = fc.Graph()
    with graph.as_default():
        pa = fc.placeholder(fc.float32, [4], name="a")
        pb = fc.placeholder(fc.float32, [4], name="b")
        c = pa + pb
    with tempfile.TemporaryDirectory(prefix="flowc-w6-") as tmp:
        t0 = time.perf_counter()
        fc.compile(c, [pa, pb], tmp, name="add")
        compile_s = time.perf_counter() - t0
        model = runtime.load(tmp)
        check = compare(model(a, b), want, 0, 0)
        times = measure_calls(lambda: model(a, b), calls, batches)
    return result(NAME, "flowc-load", times, check, compile_s=compile_s,
                  note="fc.compile + runtime.load(dir), model(a, b)")


def _ctypes(a, b, want, calls, batches):
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    fn = libc.abs
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    check = "ok" if fn(-3) == 3 else f"abs(-3) returned {fn(-3)}"
    times = measure_calls(lambda: fn(-3), calls, batches)
    return result(NAME, "ctypes", times, check, note="libc abs(-3) through ctypes: the floor")


def _numpy(a, b, want, calls, batches):
    check = compare(np.add(a, b), want, 0, 0)
    times = measure_calls(lambda: np.add(a, b), calls, batches)
    return result(NAME, "numpy", times, check, note="np.add(a, b), eager")


def _jax(a, b, want, calls, batches):
    jax = try_import("jax")
    if jax is None:
        return skipped(NAME, "jax-jit", "jax not installed")

    def add(x, y):
        return x + y
    t0 = time.perf_counter()
    f = jax.jit(add)
    out = f(a, b).block_until_ready()
    compile_s = time.perf_counter() - t0
    check = compare(np.asarray(out), want, 0, 0)
    times = measure_calls(lambda: f(a, b).block_until_ready(), calls, batches)
    return result(NAME, "jax-jit", times, check, compile_s=compile_s,
                  note="numpy arguments, block_until_ready")
