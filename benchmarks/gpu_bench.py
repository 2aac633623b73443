"""GPU benchmarks: `python benchmarks/gpu_bench.py [G1 G2 G2-f16 G5 ...] [--quick]
[--flowc-only]` (the last: no copy and no peers, e.g. under Nsight Compute).

Workloads (DESIGN.md's `G…` names, numbered after their CPU twins):
    G1      W1's elementwise chain `tanh(x*1.5+0.3)*sigmoid(x) - 0.5*x*x` on 2^26 float32,
            against a device-to-device copy of the same bytes measured in the same run
            (the bandwidth floor: `gbps` counts 8 bytes per element for both) and cupy /
            jax-jit / torch when installed; the target is flowc at >= 85 % of the copy
    G5      row softmax of 16384 x 1024 float32
    G2      matmul 4096^3 float32 (TF32 off everywhere: torch/cupy/jax are told so)
    G2-f16  matmul 4096^3 float16 operands and result, float32 accumulation (flowc's
            tensor-core form; cuBLAS through cupy and torch, jax-jit). No bfloat16 row:
            flowc has no bfloat16 dtype.
Each result is one JSON line like benchmarks/bench.py's:
    {"workload", "system", "median_ms", "min_ms", "check", ...optional "compile_s",
     "kernels", "gbps", "gflops", "note"}
flowc runs with device-resident inputs and outputs (`CudaExecutable.run` with a
DeviceArray feed and `out=`), so the times are the GPU's, not PCIe's. A timing is `reps`
calls queued back to back between two CUDA events on the legacy default stream (the one
flowc, cupy and torch use), divided by reps; median and min over 7 such batches. jax
runs on its own streams, so jax-jit is host-timed (one block_until_ready per batch; its
note says so). flowc's note adds its host overhead per run (the enqueue time of one
`run` call) and the time of its kernels alone (the run's launches replayed through the
driver between events), since a small workload's run can cost more host time than GPU
time. Every system's result is checked against a numpy reference first. A failing
system prints its error in `check` and the others go on.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


FLOWC_ONLY = False


def emit(rec):
    print(json.dumps(rec), flush=True)


def timed(fn, sync, reps, batches=7, events=True):
    """(median ms, min ms, median host ms) per call of `reps` calls queued back to back:
    GPU time between two CUDA events when `events`, else host time up to `sync()`; the
    host ms is the time the calls took to enqueue."""
    from runtime import cuda_driver as C
    fn()
    sync()
    start, end = (C.Event(), C.Event()) if events else (None, None)
    times, host = [], []
    for _ in range(batches):
        if events:
            start.record()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        t1 = time.perf_counter()
        if events:
            end.record()
            end.synchronize()
            times.append(start.elapsed_ms(end) / reps)
        sync()
        if not events:
            times.append((time.perf_counter() - t0) / reps * 1e3)
        host.append((t1 - t0) / reps * 1e3)
    return float(np.median(times)), float(min(times)), float(np.median(host))


def check(got, want, rtol, atol):
    try:
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)
        return "ok"
    except AssertionError as e:
        return "differs: " + str(e).strip().splitlines()[-1][:200]


def record(workload, system, fn, sync, reps, got, want, tol, extra=None, fields=None,
           events=True, after=None):
    """Check, time and print one system; `after(rec, host_ms)` may add to the record."""
    rec = {"workload": workload, "system": system, **(fields or {})}
    try:
        fn()
        sync()
        rec["check"] = check(got() if callable(got) else got, want, *tol)
        median, low, host = timed(fn, sync, reps, events=events)
        rec["median_ms"], rec["min_ms"] = round(median, 4), round(low, 4)
        for key, per_ms in (extra or {}).items():
            rec[key] = round(per_ms / rec["median_ms"], 2)
        if not events:
            rec["note"] = (rec.get("note", "") + "; host-timed").lstrip("; ")
        if after is not None:
            after(rec, host)
    except Exception as e:  # noqa: BLE001  (one failing system must not stop the others)
        rec["check"] = f"failed: {type(e).__name__}: {str(e)[:300]}"
        traceback.print_exc(file=sys.stderr)
    emit(rec)
    return rec


# ---- flowc ------------------------------------------------------------------------------
def flowc_program(build, feeds):
    """(CudaExecutable, compile seconds) for build(*placeholders) -> fetch, with a
    placeholder of each feed's dtype and rank (unknown dims)."""
    import compiler as fc
    from compiler.convert import convert
    from compiler.pipeline import build_program
    from passes.manager import run_pipeline
    options = fc.CompileOptions(device="gpu")
    t0 = time.perf_counter()
    with fc.Graph().as_default() as g:
        phs = [fc.placeholder(fc.as_dtype(a.dtype.name), [None] * a.ndim) for a in feeds]
        y = build(fc, *phs)
        program, _ = run_pipeline(convert(g, [y], phs), options)
    exe = build_program(program, options)
    return exe, time.perf_counter() - t0


def recorded_launches(run):
    """The driver launches one call of `run` makes, as (fn, grid, block, args, name)."""
    from runtime import cuda_driver as C
    calls, launch = [], C.launch

    def recording(*args):
        calls.append(args)
        launch(*args)
    C.launch = recording
    try:
        run()
    finally:
        C.launch = launch
    return calls


def kernels_ms(calls, reps, batches=7):
    """Median GPU ms of the recorded launches replayed `reps` times between events."""
    from runtime import cuda_driver as C
    start, end, times = C.Event(), C.Event(), []
    for _ in range(batches):
        start.record()
        for _ in range(reps):
            for call in calls:
                C.launch(*call)
        end.record()
        end.synchronize()
        times.append(start.elapsed_ms(end) / reps)
    return float(np.median(times))


def flowc_record(workload, build, inputs, want, tol, reps, extra):
    from runtime import cuda_driver as C
    from runtime.variables import VariableStore
    try:
        exe, compile_s = flowc_program(build, inputs)
        dev_in = [C.DeviceArray.from_numpy(a) for a in inputs]
        store = VariableStore()
        out = exe.run(dev_in, store, 0, device_outputs=True)
        target = [C.DeviceArray(out[0].shape, out[0].dtype)]

        def run():
            exe.run(dev_in, store, 0, out=target)
        # the run's buffers are the feeds, `target` and kept temporaries: all stay alive
        calls = recorded_launches(run)
        names = ", ".join(f"{c['kernel']} ({c['mapping']})" for c in exe.schedule)

        def after(rec, host_ms):
            alone = kernels_ms(calls, reps)
            replayed = check(target[0].numpy(), want, *tol)
            rec["note"] = (f"host {1e3 * host_ms:.1f} us per run (enqueue); kernels alone "
                           f"{alone:.4f} ms ({len(calls)} launches replayed, "
                           f"check {replayed}); kernels: {names}")
        record(workload, "flowc", run, C.device().synchronize, reps,
               lambda: target[0].numpy(), want, tol, extra,
               {"compile_s": round(compile_s, 3), "kernels": len(exe.schedule)},
               after=after)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        emit({"workload": workload, "system": "flowc",
              "check": f"failed: {type(e).__name__}: {str(e)[:300]}"})


# ---- peers ----------------------------------------------------------------------------------
def try_import(name):
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001
        return None


def peers(workload, numpy_fn, inputs, want, tol, reps, extra, cupy_fn=None, jax_fn=None,
          torch_fn=None):
    if FLOWC_ONLY:
        return
    cp = try_import("cupy")
    if cp is not None:
        xs = [cp.asarray(a) for a in inputs]
        fn = cupy_fn or numpy_fn
        record(workload, "cupy", lambda: fn(cp, *xs), cp.cuda.Device().synchronize, reps,
               lambda: cp.asnumpy(fn(cp, *xs)), want, tol, extra)
    else:
        emit({"workload": workload, "system": "cupy", "check": "skipped: not installed"})
    jax = try_import("jax")
    if jax is not None:
        try:
            import jax.numpy as jnp
            jax.config.update("jax_default_matmul_precision", "highest")  # no TF32
            xs = [jax.device_put(a) for a in inputs]
            f = jax.jit(lambda *a: (jax_fn or numpy_fn)(jnp, *a))
            state = {}

            def run():
                state["y"] = f(*xs)
            record(workload, "jax-jit", run, lambda: state["y"].block_until_ready(), reps,
                   lambda: np.asarray(f(*xs)), want, tol, extra,
                   {"note": f"jax on {jax.devices()[0].platform}"}, events=False)
        except Exception as e:  # noqa: BLE001
            emit({"workload": workload, "system": "jax-jit", "check": f"failed: {e}"[:300]})
    torch = try_import("torch")
    if torch is not None and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        # float16 matmul accumulates in float32 throughout, as flowc's does
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
        xs = [torch.from_numpy(a).cuda() for a in inputs]
        fn = torch_fn or numpy_fn
        record(workload, "torch", lambda: fn(torch, *xs), torch.cuda.synchronize, reps,
               lambda: fn(torch, *xs).cpu().numpy(), want, tol, extra)
    else:
        emit({"workload": workload, "system": "torch", "check": "skipped: no torch with CUDA"})


# ---- workloads ----------------------------------------------------------------------------
def chain(m, x):
    return m.tanh(x * 1.5 + 0.3) * (1.0 / (1.0 + m.exp(-x))) - 0.5 * x * x


def g1(quick):
    from runtime import cuda_driver as C
    n = 1 << 16 if quick else 1 << 26
    x = np.random.default_rng(0).uniform(-4, 4, n).astype(np.float32)
    want = chain(np, x.astype(np.float64))
    tol, reps = (1e-5, 1e-5), 5 if quick else 50
    extra = {"gbps": 8.0 * n / 1e6}   # bytes / 1e6 / ms = GB/s

    def build(fc, xp):
        return fc.tanh(xp * 1.5 + 0.3) * fc.sigmoid(xp) - 0.5 * xp * xp
    flowc_record("G1", build, [x], want, tol, reps, extra)
    if FLOWC_ONLY:
        return
    try:
        src, dst = C.DeviceArray.from_numpy(x), C.DeviceArray((n,), np.float32)
        record("G1", "copy", lambda: C.copy_device(dst.ptr, src.ptr, src.nbytes),
               C.device().synchronize, reps, lambda: dst.numpy(), x.astype(np.float64),
               (0, 0), extra)
    except Exception as e:  # noqa: BLE001
        emit({"workload": "G1", "system": "copy", "check": f"failed: {e}"[:300]})

    def torch_chain(t, x):
        return t.tanh(x * 1.5 + 0.3) * t.sigmoid(x) - 0.5 * x * x
    peers("G1", chain, [x], want, tol, reps, extra, torch_fn=torch_chain)


def softmax(m, x):
    e = m.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def g5(quick):
    rows = 256 if quick else 16384
    x = np.random.default_rng(1).uniform(-8, 8, (rows, 1024)).astype(np.float32)
    want = softmax(np, x.astype(np.float64))
    tol, reps = (1e-5, 1e-6), 5 if quick else 50
    extra = {"gbps": 8.0 * x.size / 1e6}
    flowc_record("G5", lambda fc, xp: fc.nn.softmax(xp), [x], want, tol, reps, extra)

    def jax_softmax(jnp, x):
        import jax
        return jax.nn.softmax(x, axis=1)

    def torch_softmax(t, x):
        return t.softmax(x, dim=1)
    peers("G5", softmax, [x], want, tol, reps, extra, jax_fn=jax_softmax,
          torch_fn=torch_softmax)


def g2(quick, dtype=np.float32):
    n = 256 if quick else 4096
    rng = np.random.default_rng(2)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    # float16: the result is rounded to float16 (half an ulp is 2^-11 relative)
    tol = (1e-3, 1e-2) if dtype == np.float32 else (2e-3, 1e-1)
    reps = 2 if quick else 5
    extra = {"gflops": 2.0 * n ** 3 / 1e6}
    workload = "G2" if dtype == np.float32 else "G2-f16"

    def mm(m, x, y):
        return x @ y
    flowc_record(workload, lambda fc, x, y: fc.matmul(x, y), [a, b], want, tol, reps, extra)
    peers(workload, mm, [a, b], want, tol, reps, extra)


def g2_f16(quick):
    g2(quick, np.float16)


WORKLOADS = {"G1": g1, "G2": g2, "G2-F16": g2_f16, "G5": g5}


def main(argv):
    global FLOWC_ONLY
    quick, FLOWC_ONLY = "--quick" in argv, "--flowc-only" in argv
    names = [a.upper() for a in argv if not a.startswith("--")] or list(WORKLOADS)
    for name in names:
        try:
            WORKLOADS[name](quick)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            emit({"workload": name, "system": "flowc", "check": f"failed: {e}"[:300]})


if __name__ == "__main__":
    main(sys.argv[1:])
