"""GPU benchmarks: `python benchmarks/gpu_bench.py [G1 G2 G5 ...] [--quick]`.

Workloads (DESIGN.md's `G…` names, numbered after their CPU twins):
    G1  W1's elementwise chain `tanh(x*1.5+0.3)*sigmoid(x) - 0.5*x*x` on 2^26 float32,
        against a device-to-device copy of the same bytes measured in the same run (the
        bandwidth floor: `gbps` counts 8 bytes per element for both) and cupy / jax-jit /
        torch when installed; the target is flowc at >= 85 % of the copy's bandwidth
    G5  row softmax of 16384 x 1024 float32
    G2  matmul 4096^3 float32 (TF32 off everywhere: torch/cupy/jax are told so)
Each result is one JSON line like benchmarks/bench.py's:
    {"workload", "system", "median_ms", "min_ms", "check", ...optional "compile_s",
     "gbps", "gflops", "note"}
flowc runs with device-resident inputs and outputs (`CudaExecutable.run` with a
DeviceArray feed and `out=`), so the times are the GPU's, not PCIe's. A timing is the
wall time of `reps` calls queued back to back, then one synchronize, divided by reps
(median and min over several such batches). Every system's result is checked against a
numpy reference first. A failing system prints its error in `check` and the others go on.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def emit(rec):
    print(json.dumps(rec), flush=True)


def timed(fn, sync, reps, batches=7):
    fn()
    sync()
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / reps * 1e3)
    return float(np.median(times)), float(min(times))


def check(got, want, rtol, atol):
    try:
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)
        return "ok"
    except AssertionError as e:
        return "differs: " + str(e).strip().splitlines()[-1][:200]


def record(workload, system, fn, sync, reps, got, want, tol, extra=None, fields=None):
    rec = {"workload": workload, "system": system, **(fields or {})}
    try:
        fn()
        sync()
        rec["check"] = check(got() if callable(got) else got, want, *tol)
        rec["median_ms"], rec["min_ms"] = [round(t, 4) for t in timed(fn, sync, reps)]
        for key, per_ms in (extra or {}).items():
            rec[key] = round(per_ms / rec["median_ms"], 2)
    except Exception as e:  # noqa: BLE001  (one failing system must not stop the others)
        rec["check"] = f"failed: {type(e).__name__}: {str(e)[:300]}"
        traceback.print_exc(file=sys.stderr)
    emit(rec)
    return rec


# ---- flowc ------------------------------------------------------------------------------
def flowc_program(build, feed_shapes):
    """(CudaExecutable, compile seconds) for build(*placeholders) -> fetch."""
    import compiler as fc
    from compiler.convert import convert
    from compiler.pipeline import build_program
    from passes.manager import run_pipeline
    options = fc.CompileOptions(device="gpu")
    t0 = time.perf_counter()
    with fc.Graph().as_default() as g:
        phs = [fc.placeholder(fc.float32, shape) for shape in feed_shapes]
        y = build(fc, *phs)
        program, _ = run_pipeline(convert(g, [y], phs), options)
    exe = build_program(program, options)
    return exe, time.perf_counter() - t0


def flowc_record(workload, build, inputs, want, tol, reps, extra):
    from runtime import cuda_driver as C
    from runtime.variables import VariableStore
    try:
        exe, compile_s = flowc_program(build, [[None] * a.ndim for a in inputs])
        dev_in = [C.DeviceArray.from_numpy(a) for a in inputs]
        store = VariableStore()
        out = exe.run(dev_in, store, 0, device_outputs=True)
        target = [C.DeviceArray(out[0].shape, out[0].dtype)]
        note = "kernels: " + ", ".join(f"{c['kernel']} ({c['mapping']})" for c in exe.schedule)
        record(workload, "flowc", lambda: exe.run(dev_in, store, 0, out=target),
               C.device().synchronize, reps, lambda: target[0].numpy(), want, tol, extra,
               {"compile_s": round(compile_s, 3), "kernels": len(exe.schedule), "note": note})
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
                   {"note": f"jax on {jax.devices()[0].platform}"})
        except Exception as e:  # noqa: BLE001
            emit({"workload": workload, "system": "jax-jit", "check": f"failed: {e}"[:300]})
    torch = try_import("torch")
    if torch is not None and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
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


def g2(quick):
    n = 256 if quick else 4096
    rng = np.random.default_rng(2)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    want = a.astype(np.float64) @ b
    tol, reps = (1e-3, 1e-2), 2 if quick else 5
    extra = {"gflops": 2.0 * n ** 3 / 1e6}

    def mm(m, x, y):
        return x @ y
    flowc_record("G2", lambda fc, x, y: fc.matmul(x, y), [a, b], want, tol, reps, extra)
    peers("G2", mm, [a, b], want, tol, reps, extra)


WORKLOADS = {"G1": g1, "G2": g2, "G5": g5}


def main(argv):
    quick = "--quick" in argv
    names = [a.upper() for a in argv if not a.startswith("--")] or list(WORKLOADS)
    for name in names:
        try:
            WORKLOADS[name](quick)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            emit({"workload": name, "system": "flowc", "check": f"failed: {e}"[:300]})


if __name__ == "__main__":
    main(sys.argv[1:])
