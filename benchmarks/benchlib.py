"""Helpers shared by the benchmark workloads: timing, result checks, JSON lines, a
description of the environment (which BLAS numpy runs, OPENBLAS_CORETYPE), and the
flowc systems of a one-input workload (`flowc_record`: "flowc" and "flowc-out") with the
kernel count of a Session's compiled program (`flowc_kernels`); for the training
workloads, the loop over systems (`run_systems`), the check of one SGD step against the
reference's (`sgd_reference`, `check_sgd_step`) and the timed steps of flowc and jax
(`flowc_train_record`, `numpy_train_record`, `jax_train_record`).

A workload is a function `(cfg) -> iterator of result dicts`; `emit` prints each as one
JSON line with the keys of DESIGN.md's benchmark contract:
    {"workload", "system", "median_ms", "min_ms", "check"}
plus optional "compile_s", "kernels", "gflops", "gbps", "note". `check` is "ok", what
differed from the numpy reference, or "skipped: <reason>" for a peer that is not
installed. This module never changes the environment (threads, BLAS settings); only
`no_disk_cache` sets FLOWC_CACHE, inside its block.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import re
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


def flowc_executable(sess):
    """The executable of the program that `sess` compiled last, or None before its first
    compile. Reads the private `Session._cache` (a dict filled in compile order), so it
    may need a change when the Session's internals do; benchmarks only."""
    cache = getattr(sess, "_cache", None) or {}
    return next(reversed(cache.values()), None)


def flowc_kernels(sess):
    """The number of kernels of the program that `sess` compiled last: the first line
    ("N kernel(s)") of its fusion dump, `executable.texts["fusion"]` (through
    `flowc_executable`, which reads a private attribute). None when it is unknown."""
    exe = flowc_executable(sess)
    text = getattr(exe, "texts", {}).get("fusion", "")
    m = re.match(r"\s*(\d+) kernel", text)
    return int(m.group(1)) if m else None


def flowc_record(workload, system, build, x, want, rtol, atol, timing):
    """Compile, check and time one flowc system on a graph with one fed input and one
    fetch. `build()` returns `(graph, placeholder, fetch)`; the placeholder's first dim
    is symbolic, so compiling at `x[:1]` serves the full size. Systems:
      "flowc"      `Session.run(fetch, {placeholder: x})`, a fresh output per call;
      "flowc-out"  `Session.make_callable(fetch, feed_list=[placeholder])` called with
                   `out=` one preallocated array (the caller's buffer), so no output is
                   allocated per call.
    `compile_s` is the first call (at size 1: compile plus one tiny run) without the
    one-time LLVM start-up; `kernels` comes from the compiled program's fusion dump."""
    if system not in ("flowc", "flowc-out"):
        raise ValueError(f"unknown flowc system {system!r}")
    import compiler as fc
    graph, xp, y = build()
    init_s = flowc_init_s()
    sess = fc.Session(graph=graph)
    if system == "flowc":
        def call(v, buf=None):
            return sess.run(y, {xp: v})
    else:
        fn = sess.make_callable(y, feed_list=[xp])

        def call(v, buf=None):
            return fn(v, out=buf)
    small = np.empty((1,) + want.shape[1:], want.dtype)
    t0 = time.perf_counter()
    call(x[:1], small)                  # compiles; the symbolic dim serves every size
    compile_s = time.perf_counter() - t0
    buf = np.full_like(want, np.nan) if system == "flowc-out" else None
    got = call(x, buf)
    check = compare(got, want, rtol, atol)
    if system == "flowc-out":
        if check == "ok" and got is not buf:
            check = "the callable returned another array than the out= buffer"
        exe = flowc_executable(sess)
        copied = getattr(exe, "_copy_out", [None])[0]   # private: how out= was served
        how = {False: "written in place by the generated code",
               True: "computed into a temporary, then copied into out="}.get(copied, "")
        what = ("make_callable(fetch, [x])(x, out=buf), buf preallocated by the caller"
                + (f" ({how})" if how else ""))
        times = measure(lambda: fn(x, out=buf), **timing)
    else:
        what = "Session.run, fresh output per call"
        times = measure(lambda: sess.run(y, {xp: x}), **timing)
    msg = (f"{what}; {sess.compile_count} compile(s) for leading dims 1 and {x.shape[0]}; "
           f"max |diff| vs numpy {max_abs_diff(got, want):.2e}; "
           f"{sess.options.threads} thread(s) configured; compile_s excludes the one-time "
           f"LLVM start-up ({init_s:.2f} s, first compile in the process)")
    return result(workload, system, times, check, compile_s=compile_s,
                  kernels=flowc_kernels(sess), note=msg)


def in_new_graph(tf, build, *args):
    """`(graph, *build(tf, *args))`: a workload's graph-building function run in a fresh
    `tf.Graph()` of the module `tf` (`compiler`, or `tensorflow.compat.v1` for the tf1
    peers: one function builds both systems' graphs)."""
    graph = tf.Graph()
    with graph.as_default():
        out = build(tf, *args)
    return (graph, *out)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo's first "model name"), or the platform's
    processor string where there is no /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown"


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


def torch_compile_record(workload, fn, x, want, rtol, atol, timing):
    """The `torch-compile` line: torch.compile(fn) on x (numpy), checked, then timed;
    compile_s is the first call (it includes one run)."""
    torch = try_import("torch")
    if torch is None:
        return skipped(workload, "torch-compile", "torch not installed")
    xt = torch.from_numpy(x)
    compiled = torch.compile(fn)
    with torch.no_grad():
        t0 = time.perf_counter()
        out = compiled(xt)
        compile_s = time.perf_counter() - t0
        check = compare(out.numpy(), want, rtol, atol)
        times = measure(lambda: compiled(xt), **timing)
    return result(workload, "torch-compile", times, check, compile_s=compile_s,
                  note="compile_s = first call (includes one run)")


def onnxruntime_record(workload, make_model, x, want, rtol, atol, timing, note=""):
    """The `onnxruntime` line: `make_model(onnx)` -> ModelProto with one input "x",
    run on the CPU provider, checked, then timed; compile_s is the session creation."""
    ort = try_import("onnxruntime")
    onnx = try_import("onnx") if ort is not None else None
    if ort is None or onnx is None:
        return skipped(workload, "onnxruntime", "onnxruntime or onnx not installed")
    t0 = time.perf_counter()
    sess = ort.InferenceSession(make_model(onnx).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    compile_s = time.perf_counter() - t0
    check = compare(sess.run(None, {"x": x})[0], want, rtol, atol)
    times = measure(lambda: sess.run(None, {"x": x}), **timing)
    return result(workload, "onnxruntime", times, check, compile_s=compile_s,
                  note=f"onnxruntime {ort.__version__}, CPUExecutionProvider{note}")


def run_systems(workload, cfg, systems, args, gflop=None):
    """Yield one record a system of `systems` ((name, fn) pairs, in order) that `cfg`
    wants: `fn(*args)`, or a `failed` record when it raises (a failing peer must not stop
    the others). With `gflop`, a timed record gets "gflops" from its median."""
    for system, fn in systems:
        if not cfg.wants(system):
            continue
        try:
            rec = fn(*args)
        except Exception as e:  # noqa: BLE001  (a failing peer must not stop the others)
            rec = failed(workload, system, e)
        if gflop is not None and rec.get("median_ms"):
            rec["gflops"] = round(gflop / (rec["median_ms"] / 1e3), 2)
        yield rec


def sgd_reference(step, p0, *args):
    """The reference of `check_sgd_step`: `(p0, p1, loss0)`, where `step(p1, *args)`
    updates p1 (a copy of the dict `p0`) in place and returns the loss before it."""
    p1 = {k: v.copy() for k, v in p0.items()}
    loss0 = step(p1, *args)
    return p0, p1, loss0


def check_sgd_step(names, got, loss, want, rtol):
    """"ok" when `loss` and every parameter's update (new - old) match the reference's,
    else what differed. `want` is `sgd_reference`'s `(p0, p1, loss0)`: the parameters
    (dicts by name) before and after the reference step and its loss; `got` maps each
    name to the new value.
    Updates are compared, not values, so a wrong gradient is not hidden behind the
    weights; each update's atol is `rtol` times its largest reference magnitude."""
    p0, p1, loss0 = want
    for k in names:
        step_want = p1[k] - p0[k]
        step_got = np.asarray(got[k], np.float32) - p0[k]
        atol = rtol * float(np.max(np.abs(step_want)))
        c = compare(step_got, step_want, rtol, atol)
        if c != "ok":
            return f"{k} update: {c}"
    return compare(np.float32(loss), np.float32(loss0), rtol, 0.0)


def flowc_train_record(workload, graph, init, train, loss, feed, variables, check, timing,
                       first_step="cold compile, disk cache off"):
    """The "flowc" line of a training workload: a Session on `graph` runs `init`, then
    `Session.run([train, loss], feed)`. The first step is a cold compile (the disk cache
    off) and gives `compile_s`, without the one-time LLVM start-up (`flowc_init_s`, run
    before the Session); `check(values, loss_value)` with the values of the list
    `variables` after it gives the check; then steps are timed (they keep training).
    `first_step` says in the note what compile_s covers."""
    import compiler as fc
    init_s = flowc_init_s()
    sess = fc.Session(graph=graph)
    sess.run(init)
    with no_disk_cache():
        t0 = time.perf_counter()
        _, lv = sess.run([train, loss], feed)
        compile_s = time.perf_counter() - t0
    kernels = flowc_kernels(sess)
    chk = check(sess.run(list(variables)), lv)
    times = measure(lambda: sess.run([train, loss], feed), **timing)
    msg = (f"Session.run([train_op, loss]); compile_s = first step ({first_step}), "
           f"without the one-time LLVM start-up ({init_s:.2f} s); "
           f"{sess.compile_count} compile(s); {sess.options.threads} thread(s) configured")
    return result(workload, "flowc", times, chk, compile_s=compile_s, kernels=kernels,
                  note=msg)


def numpy_train_record(workload, step, p0, args, check, timing, note):
    """The "numpy" line of a training workload: `step(p, *args)` updates the dict `p` (a
    copy of `p0`) in place and returns the loss; `check(p, loss)` after the first step
    gives the check; then steps are timed (they keep training)."""
    p = {k: v.copy() for k, v in p0.items()}
    loss = step(p, *args)
    chk = check(p, loss)
    times = measure(lambda: step(p, *args), **timing)
    return result(workload, "numpy", times, chk, note=note)


def jax_train_record(workload, jax, loss_fn, lr, params, args, check, timing, note):
    """The "jax-jit" line of a training workload: one jitted SGD step, `value_and_grad`
    of `loss_fn(params, *args)` and `p - lr * g` on every leaf of `params` (a dict, or a
    list of tuples: any jax tree). The first call (compile plus one step, waited for)
    gives `compile_s`; `check(new_params, loss)` gives the check; then steps are timed,
    each one waited for and feeding the next its parameters."""
    @jax.jit
    def step(p, *xs):
        lv, g = jax.value_and_grad(loss_fn)(p, *xs)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), lv

    t0 = time.perf_counter()
    new, lv = step(params, *args)
    jax.block_until_ready(new)
    compile_s = time.perf_counter() - t0
    chk = check(new, float(lv))
    state = [new]

    def call():
        state[0], _ = step(state[0], *args)
        jax.block_until_ready(state[0])

    times = measure(call, **timing)
    return result(workload, "jax-jit", times, chk, compile_s=compile_s, note=note)


@contextlib.contextmanager
def no_disk_cache():
    """FLOWC_CACHE=0 inside the block, so a first call is a cold compile, not a load from
    the on-disk compile cache that an earlier run filled."""
    old = os.environ.get("FLOWC_CACHE")
    os.environ["FLOWC_CACHE"] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("FLOWC_CACHE", None)
        else:
            os.environ["FLOWC_CACHE"] = old
