"""C1, a ResNet basic block forward (issue 15, item 4): NHWC float32, batch 8, 56x56, 64
channels, two 3x3 convs (stride 1, padding 1), batch norm at inference as a per-channel
scale and shift, relu, and the residual add:

    h = relu(conv(x, w1) * s1 + b1);   out = relu(conv(h, w2) * s2 + b2 + x)

Systems: flowc (the `conv` primitive through `make`, the elementwise ops through the TF1
API; `Session.run` with every operand fed, a fresh output per call), torch (CPU,
`torch.nn.functional.conv2d` on channels-last tensors, its oneDNN kernels, under
`torch.no_grad`) and jax-jit (`jax.lax.conv_general_dilated` with NHWC/HWIO dimension
numbers). Each system's output is checked against a numpy float64 reference before it
is timed. `gflops` counts the two convs' 2 * N * H * W * Co * 9 * Ci multiply-adds each
(the elementwise work is not counted).
"""

from __future__ import annotations

import time

import numpy as np
from benchlib import (
    compare,
    failed,
    flowc_kernels,
    measure,
    no_disk_cache,
    result,
    skipped,
    try_import,
)

NAME = "C1"


def _shapes(quick):
    return (2, 14, 14, 16) if quick else (8, 56, 56, 64)


def _inputs(quick):
    n, h, w, c = _shapes(quick)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    ws = [(rng.standard_normal((3, 3, c, c)) / np.sqrt(9 * c)).astype(np.float32)
          for _ in range(2)]
    bn = [(1 + 0.1 * rng.standard_normal(c)).astype(np.float32) for _ in range(4)]
    bn[1] *= 0.1
    bn[3] *= 0.1
    return x, ws, bn


def _conv3x3(a, w):
    """numpy float64 3x3 convolution, stride 1, padding 1, NHWC/HWIO: a sum over the
    nine offsets of shifted slices times the filter tap."""
    n, h, wd, _ = a.shape
    padded = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, wd, w.shape[-1]))
    for i in range(3):
        for j in range(3):
            out += padded[:, i:i + h, j:j + wd, :] @ w[i, j]
    return out


def _reference(x, ws, bn):
    """The block in numpy float64."""
    x64, (w1, w2) = x.astype(np.float64), [w.astype(np.float64) for w in ws]
    h = np.maximum(_conv3x3(x64, w1) * bn[0] + bn[1], 0)
    return np.maximum(_conv3x3(h, w2) * bn[2] + bn[3] + x64, 0).astype(np.float32)


def run(cfg):
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=10) if cfg.quick else \
        dict(min_time_s=2.0, min_repeats=5, max_repeats=30)
    x, ws, bn = _inputs(cfg.quick)
    want = _reference(x, ws, bn)
    n, h, w, c = x.shape
    gflop = 2 * (2.0 * n * h * w * c * 9 * c) / 1e9
    for system, fn in (("flowc", _flowc), ("torch", _torch), ("jax-jit", _jax)):
        if not cfg.wants(system):
            continue
        try:
            rec = fn(x, ws, bn, want, timing)
        except Exception as e:  # noqa: BLE001  (report, go on)
            rec = failed(NAME, system, e)
        if rec.get("median_ms"):
            rec["gflops"] = round(gflop / (rec["median_ms"] / 1e3), 2)
        yield rec


TOL = dict(rtol=1e-4, atol=1e-4)


def cpu_note(fn, repeats):
    """The least process CPU time (all threads) of `repeats` calls, as a note: on a
    machine shared with other work the wall time says what this process was given, the
    CPU time what it used."""
    import time as _t
    best = float("inf")
    for _ in range(repeats):
        t0 = _t.process_time()
        fn()
        best = min(best, _t.process_time() - t0)
    return f"; least CPU time per call {best * 1e3:.1f} ms (all threads)"


def _flowc(x, ws, bn, want, timing):
    import compiler as fc
    from compiler.frontend.core import make
    c = x.shape[-1]
    graph = fc.Graph()
    with graph.as_default():
        xp = fc.placeholder(fc.float32, [None, *x.shape[1:]], name="x")
        wp = [fc.placeholder(fc.float32, [3, 3, c, c], name=f"w{i}") for i in (1, 2)]
        bp = [fc.placeholder(fc.float32, [c], name=nm) for nm in ("s1", "b1", "s2", "b2")]

        def conv(a, wt):
            return make("conv", [a, wt], strides=(1, 1), padding=((1, 1), (1, 1)),
                        lhs_dilation=(1, 1), rhs_dilation=(1, 1))
        hid = fc.nn.relu(conv(xp, wp[0]) * bp[0] + bp[1])
        out = fc.nn.relu(conv(hid, wp[1]) * bp[2] + bp[3] + xp)
    sess = fc.Session(graph=graph)
    feed = {xp: x, **dict(zip(wp, ws)), **dict(zip(bp, bn))}
    with no_disk_cache():
        t0 = time.perf_counter()
        got = sess.run(out, feed)
        compile_s = time.perf_counter() - t0
    check = compare(got, want, **TOL)
    times = measure(lambda: sess.run(out, feed), **timing)
    cpu = cpu_note(lambda: sess.run(out, feed), timing["min_repeats"])
    return result(NAME, "flowc", times, check, compile_s=compile_s,
                  kernels=flowc_kernels(sess),
                  note=f"Session.run, generated kernels (no BLAS, no oneDNN); "
                       f"{sess.options.threads} thread(s) configured{cpu}")


def _torch(x, ws, bn, want, timing):
    torch = try_import("torch")
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")
    F = torch.nn.functional
    cl = torch.channels_last
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=cl)
    wt = [torch.from_numpy(w).permute(3, 2, 0, 1).contiguous(memory_format=cl) for w in ws]
    bt = [torch.from_numpy(v).view(1, -1, 1, 1) for v in bn]

    def block():
        with torch.no_grad():
            hid = torch.relu(F.conv2d(xt, wt[0], padding=1) * bt[0] + bt[1])
            return torch.relu(F.conv2d(hid, wt[1], padding=1) * bt[2] + bt[3] + xt)
    got = block().permute(0, 2, 3, 1).numpy()
    check = compare(np.ascontiguousarray(got), want, **TOL)
    times = measure(block, **timing)
    cpu = cpu_note(block, timing["min_repeats"])
    return result(NAME, "torch", times, check,
                  note=f"torch {torch.__version__} CPU, channels_last conv2d (oneDNN "
                       f"{'on' if torch.backends.mkldnn.is_available() else 'off'}), "
                       f"{torch.get_num_threads()} thread(s), no_grad{cpu}")


def _jax(x, ws, bn, want, timing):
    jax = try_import("jax")
    if jax is None:
        return skipped(NAME, "jax-jit", "jax not installed")
    dn = ("NHWC", "HWIO", "NHWC")

    @jax.jit
    def block(xb, w1, w2, s1, b1, s2, b2):
        def conv(a, w):
            return jax.lax.conv_general_dilated(a, w, (1, 1), ((1, 1), (1, 1)),
                                                dimension_numbers=dn)
        hid = jax.nn.relu(conv(xb, w1) * s1 + b1)
        return jax.nn.relu(conv(hid, w2) * s2 + b2 + xb)
    args = [jax.numpy.asarray(a) for a in (x, *ws, *bn)]
    t0 = time.perf_counter()
    got = np.asarray(jax.block_until_ready(block(*args)))
    compile_s = time.perf_counter() - t0
    check = compare(got, want, **TOL)
    times = measure(lambda: jax.block_until_ready(block(*args)), **timing)
    cpu = cpu_note(lambda: jax.block_until_ready(block(*args)), timing["min_repeats"])
    return result(NAME, "jax-jit", times, check, compile_s=compile_s,
                  note=f"jax {jax.__version__} jit, lax.conv_general_dilated NHWC/HWIO{cpu}")
