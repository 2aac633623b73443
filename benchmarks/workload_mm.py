"""MM, float32 matmul 1024x1024 @ 1024x1024 (issue 6, item 7: GFLOP/s next to numpy's).

Systems: flowc (`Session.run(matmul(a, b))` on two fed inputs, a fresh output per call),
numpy (`a @ b`, its BLAS), and, when installed, jax-jit (`jax.jit(jnp.matmul)` on device
arrays, compiled ahead and waited for), torch (`a @ b` on tensors sharing numpy's memory)
and tf1, tf1-xla (TensorFlow's compat.v1 Session on the graph that `build`, the function of
flowc's system, builds with `tensorflow.compat.v1`; benchmarks/peer_tf1.py). Every
system's result is checked against numpy's float64 product before it is timed. `gflops`
counts 2*n^3 flops per call.
The tvm line (when apache-tvm is installed): `relax.op.matmul`, checked the same way.
"""

from __future__ import annotations

import time

import numpy as np
import peer_tf1
import peer_tvm
from benchlib import (
    compare,
    cpu_model,
    failed,
    flowc_init_s,
    flowc_kernels,
    in_new_graph,
    measure,
    no_disk_cache,
    numpy_blas_note,
    result,
    skipped,
    try_import,
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
    systems = (("flowc", _flowc), ("numpy", _numpy), ("jax-jit", _jax), ("torch", _torch),
               ("tf1", _tf1), ("tf1-xla", _tf1_xla),
               ("tvm", _tvm))
    for system, fn in systems:
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


def build(tf, shape_a, shape_b):
    """The graph of flowc's and TF1's systems, built with the module `tf` (`compiler` or
    `tensorflow.compat.v1`): `(a placeholder, b placeholder, matmul(a, b))`."""
    ap = tf.placeholder(tf.float32, list(shape_a), name="a")
    bp = tf.placeholder(tf.float32, list(shape_b), name="b")
    return ap, bp, tf.matmul(ap, bp)


def _flowc(a, b, want, timing):
    import compiler as fc
    init_s = flowc_init_s()
    graph, ap, bp, c = in_new_graph(fc, build, a.shape, b.shape)
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


def _jax(a, b, want, timing):
    jax = try_import("jax")
    if jax is None:
        return skipped(NAME, "jax-jit", "jax not installed")
    import jax.numpy as jnp
    aj, bj = jax.device_put(a), jax.device_put(b)
    t0 = time.perf_counter()
    fj = jax.jit(jnp.matmul).lower(aj, bj).compile()
    compile_s = time.perf_counter() - t0
    check = compare(np.asarray(fj(aj, bj)), want, **_tol(a.shape[1]))
    times = measure(lambda: fj(aj, bj).block_until_ready(), **timing)
    return result(NAME, "jax-jit", times, check, compile_s=compile_s,
                  note=f"jax.jit(jnp.matmul), jax {jax.__version__} on "
                       f"{jax.devices()[0].platform} (XLA:CPU's dot), default precision; "
                       f"CPU {cpu_model()}")


def _torch(a, b, want, timing):
    torch = try_import("torch")
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")
    at, bt = torch.from_numpy(a), torch.from_numpy(b)
    with torch.no_grad():
        check = compare((at @ bt).numpy(), want, **_tol(a.shape[1]))
        times = measure(lambda: at @ bt, **timing)
    cfg = torch.__config__.show()
    blas = next((f.split("=", 1)[1] for f in cfg.replace(",", " ").split()
                 if f.startswith("BLAS_INFO=")), "?")   # torch's build settings
    return result(NAME, "torch", times, check,
                  note=f"a @ b, torch {torch.__version__}, {torch.get_num_threads()} threads, "
                       f"BLAS {blas}, mkldnn {torch.backends.mkldnn.is_available()}; "
                       f"CPU {cpu_model()}")


def _tf1(a, b, want, timing, system="tf1"):
    def make(tf):
        ap, bp, c = build(tf, a.shape, b.shape)
        return c, {ap: a, bp: b}, None, lambda got, _: compare(got, want, **_tol(a.shape[1]))
    return peer_tf1.record(NAME, system, make, timing,
                           "sess.run(matmul(a, b), {a: a, b: b}), fresh output per call")


def _tf1_xla(a, b, want, timing):
    return _tf1(a, b, want, timing, "tf1-xla")


def _tvm(a, b, want, timing):
    return peer_tvm.matmul_record(NAME, a, b,
                                  lambda got: compare(got, want, **_tol(a.shape[1])), timing)
