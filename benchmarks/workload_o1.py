"""O1, ONNX model inference (issue 18, item 4): ResNet-50 and SqueezeNet 1.0, batch 1,
3 x 224 x 224 float32, NCHW, from the model zoo graphs shipped in the `onnx` wheel
(onnx/backend/test/data/light; opset 9; their weights are ConstantOfShape nodes, so the
work per inference is the full model's: every conv, batch norm, pool and Gemm of it).

Systems, one line per model and system (`workload` "O1-resnet50", "O1-squeezenet"):
- flowc: `fc.onnx.import_model(path)` into a graph, `Session.run` (the LLVM path, a fresh
  output per call), `intra_op_parallelism_threads` = the thread count below;
- onnxruntime: `InferenceSession(path)` on the default CPUExecutionProvider with
  `intra_op_num_threads` = the same thread count (graph optimizations at their default,
  ORT_ENABLE_ALL).
The thread count is the cores this process may use (`os.sched_getaffinity`), or
`OMP_NUM_THREADS` when set. Before anything is timed, onnxruntime's output on the
wheel's dummy input (arange / n, as onnx's BackendTest feeds it) is checked against the
wheel's stored expected output, and flowc's output on the timed input (uniform [0, 1),
seed 0) against onnxruntime's (rtol 1e-3, atol 1e-5). `compile_s` is flowc's first run
(import excluded, the one-time LLVM start-up excluded) and onnxruntime's session
creation; `kernels` is the number of kernels flowc compiled the model to.
"""

from __future__ import annotations

import os
import time

import numpy as np
from benchlib import (
    compare,
    failed,
    flowc_init_s,
    flowc_kernels,
    measure,
    no_disk_cache,
    result,
    skipped,
    try_import,
)

NAME = "O1"
MODELS = ("resnet50", "squeezenet")
QUICK_MODELS = ("squeezenet",)   # --quick (tests/test_examples.py): the small one only
RTOL, ATOL = 1e-3, 1e-5


def threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


def light_path(onnx, model):
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data",
                        "light", f"light_{model}.onnx")


def run(cfg):
    onnx = try_import("onnx")
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=5) if cfg.quick else \
        dict(min_time_s=3.0, min_repeats=10, max_repeats=100)
    for model in QUICK_MODELS if cfg.quick else MODELS:
        workload = f"{NAME}-{model}"
        if onnx is None:
            yield skipped(workload, "flowc", "onnx not installed")
            continue
        x = np.random.default_rng(0).random((1, 3, 224, 224), np.float32)
        ort_out, ort_rec = None, None
        if cfg.wants("onnxruntime") or cfg.wants("flowc"):
            try:
                ort_out, ort_rec = _onnxruntime(onnx, model, x, timing,
                                                cfg.wants("onnxruntime"))
            except Exception as e:  # noqa: BLE001  (report, go on)
                ort_rec = failed(workload, "onnxruntime", e)
        if cfg.wants("flowc"):
            try:
                yield _flowc(onnx, model, x, ort_out, timing)
            except Exception as e:  # noqa: BLE001
                yield failed(workload, "flowc", e)
        if cfg.wants("onnxruntime") and ort_rec is not None:
            yield ort_rec


def _dummy_and_expected(onnx, model):
    from onnx import numpy_helper
    from onnx.backend.test.runner import Runner
    m = onnx.load(light_path(onnx, model))
    inits = {t.name for t in m.graph.initializer}
    vi = next(v for v in m.graph.input if v.name not in inits)
    dummy = Runner.generate_dummy_data(vi, seed=0, random=False)
    want = numpy_helper.to_array(onnx.load_tensor(
        light_path(onnx, model).replace(".onnx", "_output_0.pb")))
    return vi.name, dummy, want


def _onnxruntime(onnx, model, x, timing, timed):
    """(onnxruntime's output on x, its record or None when not `timed`)."""
    workload = f"{NAME}-{model}"
    ort = try_import("onnxruntime")
    if ort is None:
        return None, skipped(workload, "onnxruntime", "onnxruntime not installed")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads()
    t0 = time.perf_counter()
    sess = ort.InferenceSession(light_path(onnx, model), opts,
                                providers=["CPUExecutionProvider"])
    compile_s = time.perf_counter() - t0
    name, dummy, want = _dummy_and_expected(onnx, model)
    check = compare(sess.run(None, {name: dummy})[0], want, 1e-3, 1e-7)
    out = sess.run(None, {name: x})[0]
    if not timed:
        return out, None
    times = measure(lambda: sess.run(None, {name: x}), **timing)
    return out, result(workload, "onnxruntime", times,
                       "ok" if check == "ok" else f"vs the wheel's expected output: {check}",
                       compile_s=compile_s,
                       note=f"onnxruntime {ort.__version__}, CPUExecutionProvider, "
                            f"intra_op_num_threads={threads()}, default graph "
                            f"optimizations; checked against the wheel's stored output")


def _flowc(onnx, model, x, want, timing):
    import compiler as fc
    workload = f"{NAME}-{model}"
    if want is None:
        return skipped(workload, "flowc", "no onnxruntime output to check against")
    init_s = flowc_init_s()
    graph = fc.Graph()
    with graph.as_default():
        t0 = time.perf_counter()
        (xp,), (y,) = fc.onnx.import_model(light_path(onnx, model))
        import_s = time.perf_counter() - t0
    sess = fc.Session(graph=graph, config=fc.ConfigProto(
        intra_op_parallelism_threads=threads()))
    with no_disk_cache():
        t0 = time.perf_counter()
        got = sess.run(y, {xp: x})
        compile_s = time.perf_counter() - t0
    check = compare(got, want, RTOL, ATOL)
    times = measure(lambda: sess.run(y, {xp: x}), **timing)
    return result(workload, "flowc", times, check, compile_s=compile_s,
                  kernels=flowc_kernels(sess),
                  note=f"fc.onnx.import_model ({import_s:.2f} s) + Session.run, generated "
                       f"kernels (no BLAS, no oneDNN); {sess.options.threads} thread(s); "
                       f"checked against onnxruntime's output (rtol {RTOL}, atol {ATOL}); "
                       f"compile_s without the disk cache, excludes the one-time LLVM "
                       f"start-up ({init_s:.2f} s)")
