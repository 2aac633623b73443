"""W1, the elementwise chain `tanh(x*1.5+0.3)*sigmoid(x) - 0.5*x*x` on 2^24 float32.

Systems: flowc (Session.run, a fresh output per call), flowc-out (`Session.make_callable`
called with `out=` the caller's preallocated buffer: no output allocation per call),
numpy, and, when installed, jax-jit, jax-jit-donate, torch, torch-compile, onnxruntime
and tf1, tf1-xla (TensorFlow's compat.v1 Session on the graph that `build`, the function
flowc's systems use, builds with `tensorflow.compat.v1`; benchmarks/peer_tf1.py). Every
system's result is checked against the numpy float32 result before it is timed. `gbps`
counts the minimal traffic (read x, write y: 8 bytes per element), so it is comparable
across systems however many passes over memory a system makes.
The tvm line (when apache-tvm is installed): the chain as a Relax function, peer_tvm.py.
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
    numpy_blas_note,
    onnxruntime_record,
    result,
    skipped,
    torch_compile_record,
    try_import,
)

NAME = "W1"
RTOL, ATOL = 1e-5, 1e-5   # float32; transcendental implementations differ by a few ulp


def expr_numpy(x):
    one = np.float32(1.0)
    return (np.tanh(x * np.float32(1.5) + np.float32(0.3)) * (one / (one + np.exp(-x)))
            - np.float32(0.5) * x * x)


def run(cfg):
    n = 1 << 12 if cfg.quick else 1 << 24
    rng = np.random.default_rng(0)
    x = rng.uniform(-4.0, 4.0, n).astype(np.float32)
    want = expr_numpy(x)
    timing = dict(min_time_s=0.05, min_repeats=3, max_repeats=10) if cfg.quick else \
        dict(min_time_s=2.0, min_repeats=5, max_repeats=30)
    gbps = 8.0 * n / 1e9
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
            rec["gbps"] = round(gbps / (rec["median_ms"] / 1e3), 2)
        yield rec


def build(tf):
    """The graph of flowc's and TF1's systems, built with the module `tf` (`compiler` or
    `tensorflow.compat.v1`): `(placeholder, fetch)`."""
    xp = tf.placeholder(tf.float32, [None], name="x")
    return xp, tf.tanh(xp * 1.5 + 0.3) * tf.sigmoid(xp) - 0.5 * xp * xp


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
    times = measure(lambda: expr_numpy(x), **timing)
    return result(NAME, "numpy", times, compare(expr_numpy(x), want, RTOL, ATOL),
                  note=numpy_blas_note())


def _jax_fn():
    jax = try_import("jax")
    if jax is None:
        return None, None
    import jax.numpy as jnp

    def f(x):
        return jnp.tanh(x * 1.5 + 0.3) * jax.nn.sigmoid(x) - 0.5 * x * x
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
                  note=f"jax {jax.__version__} on {jax.devices()[0].platform}")


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


def _torch_setup(x):
    torch = try_import("torch")
    if torch is None:
        return None, None
    return torch, torch.from_numpy(x)


def _torch(x, want, timing):
    torch, xt = _torch_setup(x)
    if torch is None:
        return skipped(NAME, "torch", "torch not installed")

    def f(t):
        return torch.tanh(t * 1.5 + 0.3) * torch.sigmoid(t) - 0.5 * t * t
    with torch.no_grad():
        check = compare(f(xt).numpy(), want, RTOL, ATOL)
        times = measure(lambda: f(xt), **timing)
    return result(NAME, "torch", times, check,
                  note=f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def _torch_compile(x, want, timing):
    def f(t):
        return (t * 1.5 + 0.3).tanh() * t.sigmoid() - 0.5 * t * t
    return torch_compile_record(NAME, f, x, want, RTOL, ATOL, timing)


def _onnxruntime(x, want, timing):
    return onnxruntime_record(NAME, _onnx_model, x, want, RTOL, ATOL, timing)


def _tvm(x, want, timing):
    return peer_tvm.one_input_record(NAME, peer_tvm.w1_expr, x,
                                     lambda got: compare(got, want, RTOL, ATOL), timing,
                                     "the chain in Relax ops")


def _onnx_model(onnx):
    from onnx import TensorProto, helper

    def const(name, v):
        return helper.make_tensor(name, TensorProto.FLOAT, [], [v])
    nodes = [
        helper.make_node("Mul", ["x", "c15"], ["a"]),
        helper.make_node("Add", ["a", "c03"], ["b"]),
        helper.make_node("Tanh", ["b"], ["t"]),
        helper.make_node("Sigmoid", ["x"], ["s"]),
        helper.make_node("Mul", ["t", "s"], ["ts"]),
        helper.make_node("Mul", ["c05", "x"], ["h1"]),
        helper.make_node("Mul", ["h1", "x"], ["h"]),
        helper.make_node("Sub", ["ts", "h"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "w1", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
        initializer=[const("c15", 1.5), const("c03", 0.3), const("c05", 0.5)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model

