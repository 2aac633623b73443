"""W5, row softmax of a 4096x1024 float32 matrix: `fc.nn.softmax(x)` with `x` a
placeholder of shape [None, 1024].

Systems: flowc (Session.run, a fresh output per call), flowc-out (`Session.make_callable`
called with `out=` the caller's preallocated buffer: no output allocation per call),
numpy (`e = exp(x - max(x))`, `e / sum(e)`, rows with keepdims), and, when installed,
jax-jit, jax-jit-donate, torch, torch-compile, onnxruntime (a one-node ONNX model,
`Softmax` with axis=-1, opset 13) and tf1, tf1-xla (TensorFlow's compat.v1 Session on the
graph that `build`, the function flowc's systems use, builds with `tensorflow.compat.v1`;
benchmarks/peer_tf1.py). Every system's result is checked against the numpy
float32 result before it is timed. `gbps` counts the minimal traffic (read x, write the
result: 8 bytes per element), so it is comparable across systems however many passes over
memory a system makes.
The tvm line (when apache-tvm is installed): `relax.op.nn.softmax`, peer_tvm.py.
"""

from __future__ import annotations

import time

import numpy as np
import peer_tf1
import peer_tvm
from benchlib import (
    compare,
    failed,
    flowc_record,
    in_new_graph,
    measure,
    onnxruntime_record,
    result,
    skipped,
    torch_compile_record,
    try_import,
)

NAME = "W5"
COLS = 1024
RTOL, ATOL = 1e-5, 1e-9   # float32 probabilities; exp implementations differ by a few ulp


def softmax_numpy(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run(cfg):
    rows = 64 if cfg.quick else 4096
    rng = np.random.default_rng(0)
    x = rng.uniform(-8.0, 8.0, (rows, COLS)).astype(np.float32)
    want = softmax_numpy(x)
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=10) if cfg.quick else \
        dict(min_time_s=2.0, min_repeats=10, max_repeats=200)
    gbytes = 8.0 * x.size / 1e9
    systems = [("flowc", _flowc), ("flowc-out", _flowc_out), ("numpy", _numpy),
               ("jax-jit", _jax), ("jax-jit-donate", _jax_donate), ("torch", _torch),
               ("torch-compile", _torch_compile), ("onnxruntime", _onnxruntime),
               ("tf1", _tf1), ("tf1-xla", _tf1_xla),
               ("tvm", _tvm)]
    for system, fn in systems:
        if not cfg.wants(system):
            continue
        try:
            rec = fn(x, want, timing)
        except Exception as e:  # noqa: BLE001  (a failing peer must not stop the others)
            rec = failed(NAME, system, e)
        if rec.get("median_ms"):
            rec["gbps"] = round(gbytes / (rec["median_ms"] / 1e3), 2)
        yield rec


def build(tf):
    """The graph of flowc's and TF1's systems, built with the module `tf` (`compiler` or
    `tensorflow.compat.v1`): `(placeholder, fetch)`."""
    xp = tf.placeholder(tf.float32, [None, COLS], name="x")
    return xp, tf.nn.softmax(xp)


def _graph():
    import compiler as fc
    return in_new_graph(fc, build)


def _flowc(x, want, timing):
    return flowc_record(NAME, "flowc", _graph, x, want, RTOL, ATOL, timing)


def _flowc_out(x, want, timing):
    return flowc_record(NAME, "flowc-out", _graph, x, want, RTOL, ATOL, timing)


def _tf1(x, want, timing, system="tf1"):
    return peer_tf1.one_input_record(NAME, system, build, x, want, RTOL, ATOL, timing)


def _tf1_xla(x, want, timing):
    return _tf1(x, want, timing, "tf1-xla")


def _numpy(x, want, timing):
    times = measure(lambda: softmax_numpy(x), **timing)
    return result(NAME, "numpy", times, compare(softmax_numpy(x), want, RTOL, ATOL),
                  note=f"numpy {np.__version__}: exp(x - max), / sum, keepdims (eager)")


def _jax_fn():
    jax = try_import("jax")
    if jax is None:
        return None, None

    def f(x):
        return jax.nn.softmax(x, axis=-1)
    return jax, f


def _jax(x, want, timing):
    jax, f = _jax_fn()
    if jax is None:
        return skipped(NAME, "jax-jit", "jax not installed")
    xj = jax.device_put(x)
    t0 = time.perf_counter()
    fj = jax.jit(f).lower(xj).compile()
    compile_s = time.perf_counter() - t0
    check = compare(np.asarray(fj(xj)), want, RTOL, ATOL)
    times = measure(lambda: fj(xj).block_until_ready(), **timing)
    return result(NAME, "jax-jit", times, check, compile_s=compile_s,
                  note=f"jax {jax.__version__} on {jax.devices()[0].platform}, "
                       "jax.nn.softmax(axis=-1)")


def _jax_donate(x, want, timing):
    jax, f = _jax_fn()
    if jax is None:
        return skipped(NAME, "jax-jit-donate", "jax not installed")
    import jax.numpy as jnp
    t0 = time.perf_counter()
    fj = jax.jit(f, donate_argnums=0).lower(jax.device_put(x)).compile()
    compile_s = time.perf_counter() - t0
    check = compare(np.asarray(fj(jnp.array(x))), want, RTOL, ATOL)

    def fresh_copy():
        return jnp.array(x).block_until_ready()
    times = measure(lambda xj: fj(xj).block_until_ready(), setup=fresh_copy, **timing)
    return result(NAME, "jax-jit-donate", times, check, compile_s=compile_s,
                  note="input donated: a fresh copy per call, made outside the timing")


def _torch(x, want, timing):
    torch = try_import("torch")
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")
    xt = torch.from_numpy(x)
    with torch.no_grad():
        check = compare(torch.softmax(xt, dim=-1).numpy(), want, RTOL, ATOL)
        times = measure(lambda: torch.softmax(xt, dim=-1), **timing)
    return result(NAME, "torch", times, check,
                  note=f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
                       "torch.softmax(dim=-1)")


def _torch_compile(x, want, timing):
    def f(t):
        return t.softmax(dim=-1)
    return torch_compile_record(NAME, f, x, want, RTOL, ATOL, timing)


def _onnxruntime(x, want, timing):
    return onnxruntime_record(NAME, _onnx_model, x, want, RTOL, ATOL, timing,
                              ", Softmax(axis=-1) opset 13")


def _tvm(x, want, timing):
    return peer_tvm.one_input_record(NAME, peer_tvm.w5_expr, x,
                                     lambda got: compare(got, want, RTOL, ATOL), timing,
                                     "relax.op.nn.softmax(x, axis=-1)")


def _onnx_model(onnx):
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], axis=-1)], "w5",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", COLS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", COLS])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
