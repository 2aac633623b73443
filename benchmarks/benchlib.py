"""Helpers shared by the benchmark workloads: timing, result checks, JSON lines and a
description of the environment (which BLAS numpy runs, OPENBLAS_CORETYPE).

A workload is a function `(cfg) -> iterator of result dicts`; `emit` prints each as one
JSON line with the keys of DESIGN.md's benchmark contract:
    {"workload", "system", "median_ms", "min_ms", "check"}
plus optional "compile_s", "kernels", "gflops", "gbps", "note". `check` is "ok", what
differed from the numpy reference, or "skipped: <reason>" for a peer that is not
installed. This module never changes the environment (threads, BLAS settings).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Config:
    quick: bool = False        # tiny sizes and few repeats (the smoke test)
    systems: frozenset = frozenset()  # empty: every system of the workload

    def wants(self, system: str) -> bool:
        return not self.systems or system in self.systems


def measure(fn, warmup=2, min_repeats=5, max_repeats=50, min_time_s=1.0, setup=None):
    """Call `fn()` `warmup` times, then time calls until at least `min_repeats` calls and
    `min_time_s` seconds (at most `max_repeats` calls). Returns the per-call times in ms.
    With `setup`, each call is `fn(setup())` and only `fn` is timed."""
    def call():
        if setup is None:
            t0 = time.perf_counter()
            fn()
        else:
            arg = setup()
            t0 = time.perf_counter()
            fn(arg)
        return (time.perf_counter() - t0) * 1e3

    for _ in range(warmup):
        call()
    times = []
    start = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while len(times) < max_repeats and (
                len(times) < min_repeats or time.perf_counter() - start < min_time_s):
            times.append(call())
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def measure_calls(fn, calls, batches):
    """Per-call times in ms of `fn()`, each sample the mean over a batch of `calls` calls
    (for functions too fast to time one call at a time)."""
    for _ in range(max(10, calls // 10)):
        fn()
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(batches):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples.append((time.perf_counter() - t0) * 1e3 / calls)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def result(workload, system, times_ms, check, **extra):
    """A result record; `extra` values that are None are left out."""
    rec = {"workload": workload, "system": system,
           "median_ms": _round(statistics.median(times_ms)),
           "min_ms": _round(min(times_ms)), "check": check}
    rec.update({k: (_round(v) if isinstance(v, float) else v)
                for k, v in extra.items() if v is not None})
    return rec


def skipped(workload, system, reason):
    return {"workload": workload, "system": system, "median_ms": None, "min_ms": None,
            "check": f"skipped: {reason}"}


def failed(workload, system, error):
    return {"workload": workload, "system": system, "median_ms": None, "min_ms": None,
            "check": f"failed: {type(error).__name__}: {error}"}


def _round(x, digits=4):
    """Round to `digits` significant digits (keeps microsecond figures readable)."""
    if x == 0 or not np.isfinite(x):
        return float(x)
    return float(f"{x:.{digits}g}")


def emit(rec):
    print(json.dumps(rec), flush=True)


def compare(got, want, rtol, atol) -> str:
    """"ok" when `got` matches `want` within tolerances, else what differed."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"shape {list(got.shape)} != expected {list(want.shape)}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype} != expected {want.dtype}"
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    bad = ~np.isclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return "ok"
    i = int(np.flatnonzero(bad)[0])
    return (f"{int(bad.sum())} of {got.size} elements differ beyond rtol={rtol}, "
            f"atol={atol}; first at flat index {i}: got {g64.flat[i]!r}, "
            f"expected {w64.flat[i]!r}")


def max_abs_diff(got, want) -> float:
    return float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))))


def numpy_blas_note() -> str:
    """Which BLAS numpy uses (threadpoolctl when installed) and OPENBLAS_CORETYPE."""
    parts = [f"numpy {np.__version__}"]
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                parts.append(f"BLAS {info.get('internal_api')} "
                             f"{info.get('architecture', '?')} {info.get('num_threads')} "
                             "threads")
    except ImportError:
        parts.append("BLAS unknown (threadpoolctl not installed)")
    parts.append(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    return ", ".join(parts)


_FLOWC_INIT_S = None


def flowc_init_s() -> float:
    """Compile and run one trivial graph, once per process, so that a workload's
    `compile_s` is its own compile, not the one-time LLVM initialization. Returns the
    seconds that first compile took (the same figure on every call)."""
    global _FLOWC_INIT_S
    if _FLOWC_INIT_S is None:
        import compiler as fc
        t0 = time.perf_counter()
        graph = fc.Graph()
        with graph.as_default():
            x = fc.placeholder(fc.float32, [None], name="x")
            y = x + 1.0
        fc.Session(graph=graph).run(y, {x: np.zeros(1, np.float32)})
        _FLOWC_INIT_S = time.perf_counter() - t0
    return _FLOWC_INIT_S


def note(msg):
    """A plain note for people, on stderr (stdout carries only JSON lines)."""
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def try_import(name):
    """The module, or None when it is not installed (or fails to import)."""
    try:
        return importlib.import_module(name)
    except Exception as e:  # noqa: BLE001  (a broken peer install is just "not available")
        note(f"{name} not available: {type(e).__name__}: {e}")
        return None
