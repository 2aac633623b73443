"""Helpers of the distributed workloads D1 and D2 (issue 17; docs/benchmarks.md, "D1 and
D2"): the local Ray runtime they share, per-step timing with percentiles, and the result
record of a step measured against the one-process line.

    ray_available()                  whether Ray imports (else the Ray lines are skipped)
    start_ray(num_cpus)              a local Ray runtime in this process (once), no dashboard
    step_times(step, steps, warmup)  per-step wall times in ms, gc off while timing
    step_record(workload, system, times, check, base_ms, note)
                                     benchlib.result, its note ending with the p90, the
                                     overhead and the ratio against `base_ms` (the
                                     one-process line's median)

Ray's own log lines go to its session folder, not to this process's stdout, which carries
only the JSON lines.
"""

from __future__ import annotations

import gc
import time

import numpy as np
from benchlib import note, result

_RAY = None


def ray_available() -> bool:
    """Whether Ray imports (the `distributed` extra); the Ray lines are skipped without."""
    from compiler.distributed.cluster import DistributedUnavailable, import_ray
    try:
        import_ray()
    except DistributedUnavailable as e:
        note(f"ray not available: {e}")
        return False
    return True


def start_ray(num_cpus=4):
    """The `ray` module with a local runtime started by this process (`num_cpus` logical
    CPUs: the bundles of every cluster a workload starts at once; no dashboard; the
    workers' output is not forwarded). A runtime this process started before is reused.
    The workers run at the driver's priority (`worker_niceness` 0; Ray's default is nice
    15): on a shared machine a niced worker yields its core to every other process while
    the driver, at nice 0, waits for its step, so the line would measure the machine's
    other load rather than the step, and not compare like with like with one process.
    The object store is `connect`'s for a local runtime (LOCAL_STORE_BYTES, 512 MB,
    compiler/distributed/cluster.py). `address="local"` starts a new runtime even where
    a `ray start` cluster runs on this machine (a plain `ray.init()` would join it)."""
    global _RAY
    if _RAY is None:
        from compiler.distributed.cluster import LOCAL_STORE_BYTES, import_ray
        ray = import_ray()
        if not ray.is_initialized():
            t0 = time.perf_counter()
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                     log_to_driver=False, object_store_memory=LOCAL_STORE_BYTES,
                     logging_level="WARNING", _system_config={"worker_niceness": 0})
            note(f"started a local Ray {ray.__version__} runtime ({num_cpus} logical CPUs) "
                 f"in {time.perf_counter() - t0:.1f} s")
        _RAY = ray
    return _RAY


def step_times(step, steps, warmup):
    """`warmup` untimed calls of `step()`, then the wall time in ms of each of `steps`
    calls, one at a time (so percentiles mean something), with the garbage collector off."""
    for _ in range(warmup):
        step()
    times = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        if enabled:
            gc.enable()
    return times


def p90(times_ms) -> float:
    return float(np.percentile(times_ms, 90))


def step_record(workload, system, times_ms, check, base_ms=None, note_text="", **extra):
    """A result line (DESIGN.md's fields) whose note ends with the p90 and, against the
    one-process median `base_ms`, the overhead (median minus it) and the ratio (median
    over it): "p90 0.61 ms; overhead 0.48 ms; 30.1x one process"."""
    stats = []
    if len(times_ms):
        med = float(np.median(times_ms))
        stats.append(f"p90 {p90(times_ms):.4g} ms")
        if base_ms is not None:
            stats.append(f"overhead {med - base_ms:.4g} ms; {med / base_ms:.3g}x one process")
    text = "; ".join(x for x in (note_text, "; ".join(stats)) if x)
    return result(workload, system, times_ms, check, note=text or None, **extra)


def us(ms) -> str:
    """`ms` as a whole number of microseconds, for notes."""
    return f"{ms * 1e3:.0f} us"
