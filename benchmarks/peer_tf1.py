"""The TensorFlow 1 peers of the benchmark workloads (issue 16, item 3): the program's own
TF1 running the same graph as flowc.

  tf1      a `tf.compat.v1.Session` (graph mode) on the graph that the workload's
           graph-building function builds when it is handed `tensorflow.compat.v1` as its
           `tf` module: the very function flowc's system calls with `compiler`
           (tests/test_bench_peers.py checks it), the same feeds and the same initial
           weights (variables initialized from the same numpy arrays);
  tf1-xla  the same graph and Session with XLA auto-clustering: `global_jit_level = ON_1`
           in the session's OptimizerOptions. TensorFlow 2.21 clusters nothing on the CPU
           with that alone; it needs `TF_XLA_FLAGS=--tf_xla_cpu_global_jit`, and a graph
           of one op (W5's Softmax) stays unclustered below the default minimum cluster
           size, so `load()` adds `--tf_xla_cpu_global_jit --tf_xla_min_cluster_size=1` to
           TF_XLA_FLAGS before it imports TensorFlow (flags already there are kept; the
           flags only act on sessions that ask for a jit level, so `tf1` stays plain TF,
           which the check verifies). Whether XLA
           ran is not assumed: one traced step (RunOptions FULL_TRACE) counts the `_XlaRun`
           nodes that executed, the note says how many, and the check fails when tf1-xla
           ran none (or tf1 ran some).

Both use intra- and inter-op thread pools of the threads flowc uses (its default:
the CPUs this process may run on), run the initializer, then one step whose time is
`compile_s` (graph optimization, for tf1-xla also clustering and the XLA compile, plus
one run), check that step's results against the workload's numpy reference, run one traced
step (warm-up, and the facts of the note), and time `sess.run(fetches, feed)` like flowc's
`Session.run` line. The note says the TensorFlow version, oneDNN on or off, the threads, the
CPU model (/proc/cpuinfo) and which library ran the matmuls and convolutions (oneDNN's
`_Mkl*` kernels or Eigen; inside XLA clusters XLA:CPU's code).

`load()` also sets TF_CPP_MIN_LOG_LEVEL=2 when it is unset (TensorFlow's start-up banner
on stderr), and TF_USE_LEGACY_KERAS=1 when the `tf-keras` package is installed: under
Keras 3 `tf.compat.v1.nn.rnn_cell` has no cells, so W4's `BasicLSTMCell` needs tf-keras
(the `bench` extra installs it); without it W4's tf1 lines say "skipped".
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

from benchlib import cpu_model, measure, result, skipped, try_import

SYSTEMS = ("tf1", "tf1-xla")
# auto-clustering on the CPU at all, and of clusters of one op too (W5's graph is one
# Softmax; the default minimum cluster size leaves it to plain TF)
XLA_FLAGS = ("--tf_xla_cpu_global_jit", "--tf_xla_min_cluster_size=1")
_LOADED = {}   # "tf": tensorflow.compat.v1 (or None), "version", "flags_before_import"


def load():
    """`tensorflow.compat.v1` with eager execution off, or None when TensorFlow is not
    installed. Sets the environment described in the module docstring first."""
    if "tf" not in _LOADED:
        _LOADED["flags_before_import"] = "tensorflow" not in sys.modules
        flags = os.environ.get("TF_XLA_FLAGS", "").split()
        for flag in XLA_FLAGS:
            if flag.split("=")[0] not in {f.split("=")[0] for f in flags}:
                flags.append(flag)
        os.environ["TF_XLA_FLAGS"] = " ".join(flags)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if importlib.util.find_spec("tf_keras") is not None:
            os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        tf = try_import("tensorflow")
        _LOADED["tf"] = None if tf is None else tf.compat.v1
        if tf is not None:
            _LOADED["version"] = tf.__version__
            tf.compat.v1.disable_eager_execution()
    return _LOADED["tf"]


def threads() -> int:
    """The threads flowc's Session uses by default (CompileOptions' default)."""
    from compiler.options import CompileOptions
    return CompileOptions().threads


def session(tf, graph, xla: bool):
    """A Session on `graph` with `threads()` intra- and inter-op threads; with `xla`,
    auto-clustering (global_jit_level ON_1)."""
    n = threads()
    config = tf.ConfigProto(intra_op_parallelism_threads=n, inter_op_parallelism_threads=n)
    if xla:
        config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    return tf.Session(graph=graph, config=config)


def traced_ops(tf, sess, fetches, feed):
    """The op types that ran in one traced step and how many `_XlaRun` nodes ran:
    `(set of op types, xla_clusters)`, from RunMetadata's step stats (each node's
    timeline label reads "name = Op(inputs)")."""
    meta = tf.RunMetadata()
    sess.run(fetches, feed, options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE),
             run_metadata=meta)
    ops, xla_runs = set(), set()
    for dev in meta.step_stats.dev_stats:
        for node in dev.node_stats:
            label = node.timeline_label
            op = label.split(" = ", 1)[1].split("(", 1)[0] if " = " in label else ""
            ops.add(op)
            if op == "_XlaRun":
                xla_runs.add(node.node_name)
    return ops, len(xla_runs)


def onednn_on() -> str:
    """"on"/"off": oneDNN's ops are in the build and not switched off by
    TF_ENABLE_ONEDNN_OPTS=0 (on by default on x86 Linux)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        built = _pywrap_util_port.IsMklEnabled()
    except Exception:  # noqa: BLE001  (a private module: unknown, not an error)
        return "unknown"
    return "on" if built and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0" else "off"


def missing(tf, dotted: str):
    """None when `tf.<dotted>` exists, else why not (for a "skipped" line)."""
    obj = tf
    try:
        for part in dotted.split("."):
            obj = getattr(obj, part)
    except AttributeError as e:
        return (f"tf.compat.v1.{dotted} is not available ({str(e).splitlines()[0]}); "
                "install tf-keras (the bench extra has it)")
    return None


def record(workload, system, build, timing, what):
    """Compile, check and time one TF1 system. In a fresh `tf.Graph`, `build(tf)` returns
    `(fetches, feed, init, check)`: what `sess.run` fetches, its feed dict, `init(sess)`
    (or None) run once before the first step, and `check(values, sess)`, "ok" or what
    differed for the first step's values (a training workload reads its variables through
    `sess`). `what` says in the note what one timed call runs."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown tf1 system {system!r}")
    tf = load()
    if tf is None:
        return skipped(workload, system, "tensorflow not installed "
                                         "(pip install -e '.[bench]')")
    graph = tf.Graph()
    with graph.as_default():
        fetches, feed, init, check = build(tf)
    xla = system == "tf1-xla"
    sess = session(tf, graph, xla)
    try:
        if init is not None:
            init(sess)
        t0 = time.perf_counter()
        first = sess.run(fetches, feed)
        compile_s = time.perf_counter() - t0
        chk = check(first, sess)
        ops, clusters = traced_ops(tf, sess, fetches, feed)
        if chk == "ok" and xla and clusters == 0:
            chk = "XLA did not run: no _XlaRun node in the traced step"
        if chk == "ok" and not xla and clusters:
            chk = f"XLA ran in the plain tf1 session ({clusters} _XlaRun nodes)"
        times = measure(lambda: sess.run(fetches, feed), **timing)
    finally:
        sess.close()
    return result(workload, system, times, chk, compile_s=compile_s,
                  note=describe(what, xla, ops, clusters))


def describe(what, xla, ops, clusters) -> str:
    """The note of a TF1 line (see the module docstring)."""
    n = threads()
    mkl = sorted(op for op in ops if op.startswith("_Mkl"))
    lib = (f"oneDNN ({', '.join(mkl)})" if mkl else "Eigen (no _Mkl* op ran)")
    parts = [f"TensorFlow {_LOADED.get('version', '?')} tf.compat.v1.Session: {what}",
             f"intra/inter-op threads {n}/{n}",
             f"oneDNN {onednn_on()}", f"ops outside XLA: {lib}", f"CPU {cpu_model()}"]
    if xla:
        parts.append(f"XLA auto-clustering (global_jit_level ON_1, TF_XLA_FLAGS="
                     f"{os.environ.get('TF_XLA_FLAGS', '')}): {clusters} cluster(s) ran as "
                     "_XlaRun in a traced step, compiled by XLA:CPU")
        if not _LOADED.get("flags_before_import", True):
            parts.append("TensorFlow was imported before TF_XLA_FLAGS was set")
    parts.append("compile_s = first sess.run (graph optimization"
                 + (", clustering and XLA compile" if xla else "") + ", plus one run)")
    return "; ".join(parts)



def one_input_record(workload, system, build, x, want, rtol, atol, timing):
    """`record` for a graph with one fed input and one fetch: `build(tf)` returns
    `(placeholder, fetch)` (the workload's graph-building function, as flowc_record's);
    the result is compared with `want`."""
    from benchlib import compare

    def make(tf):
        xp, y = build(tf)
        return y, {xp: x}, None, lambda got, _: compare(got, want, rtol, atol)
    return record(workload, system, make, timing,
                  "sess.run(fetch, {x: x}), fresh output per call")


def train_record(workload, system, build, values, check, timing):
    """`record` for a training step: `build(tf)` returns `(placeholders, variables, loss,
    train op, initializer)` (the workload's graph-building function, as flowc's system
    calls it); `values` are the placeholders' feeds in order; `check(variable values,
    loss)` after the first step gives the check. One timed call is
    `sess.run([train, loss], feed)`."""
    def make(tf):
        phs, variables, loss, train, init = build(tf)

        def chk(out, sess):
            return check(sess.run(list(variables)), out[1])
        return [train, loss], dict(zip(phs, values)), lambda sess: sess.run(init), chk
    return record(workload, system, make, timing,
                  "sess.run([train_op, loss], feed), one SGD step")
