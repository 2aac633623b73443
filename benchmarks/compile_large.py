"""Compile time of a very large training graph, per pipeline stage:
`python benchmarks/compile_large.py [--blocks B] [--width W] [--profile FILE] [--cached]`.

The graph is shaped like Inception-v3's training graph without convolutions: a stem of
dense layers, then `--blocks` "mixed" blocks of four branches (1, 2, 3 and 1 dense layers
with a batch-norm-like normalization and relu each, one branch starting from a mean
"pool"), concatenated; logits, softmax cross-entropy and a MomentumOptimizer step. At
the default 40 blocks it has about 36,000 user ops (`len(graph.get_operations())`), the
seed's Inception scale.

It compiles the training step with a fresh compile cache (cold) and prints one JSON line:
user ops, the seconds to build the graph, `Session.run` of the initializer and of the
cold training step (`run_s`), a later step (`step_s`); `--stages` first times each stage
(convert + verify, optimize, plan, lower, cache key, stage texts, backend build, cache
store: `run_s` is then a cache hit);
`--cached` then runs the same in a second process against the warm cache (the whole
`Session.run` from a fresh process, which converts, hashes the converted program — the
cache's key — and loads the .so).
`--profile FILE` writes cProfile stats of the cold compile (read with pstats).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def build(blocks: int, width: int, batch: int):
    """(x, labels, loss, train_op) of the Inception-shaped dense training graph."""
    import compiler as fc

    def norm_relu(h, units, name):
        with fc.variable_scope(name):
            h = fc.layers.dense(h, units, use_bias=False, name="dense")
            mean = fc.reduce_mean(h, axis=0, keepdims=True)
            var = fc.reduce_mean(fc.square(h - mean), axis=0, keepdims=True)
            gamma = fc.get_variable("gamma", [units], initializer=fc.ones_initializer())
            beta = fc.get_variable("beta", [units], initializer=fc.zeros_initializer())
            h = (h - mean) * fc.rsqrt(var + 1e-3) * gamma + beta
            return fc.nn.relu(h)

    fc.set_random_seed(0)
    x = fc.placeholder(fc.float32, [batch, width], name="x")
    labels = fc.placeholder(fc.int64, [batch], name="labels")
    h = x
    for i in range(5):
        h = norm_relu(h, width, f"stem_{i}")
    for b in range(blocks):
        with fc.variable_scope(f"Mixed_{b}"):
            w = width // 4
            b0 = norm_relu(h, w, "Branch_0")
            b1 = norm_relu(norm_relu(h, w, "Branch_1a"), w, "Branch_1b")
            b2 = norm_relu(norm_relu(norm_relu(h, w, "Branch_2a"), w, "Branch_2b"), w,
                           "Branch_2c")
            pooled = (h + fc.reduce_mean(h, axis=1, keepdims=True)) * 0.5
            b3 = norm_relu(pooled, width - 3 * w, "Branch_3")
            h = fc.concat([b0, b1, b2, b3], axis=1)
    logits = fc.layers.dense(h, 10, name="logits")
    loss = fc.reduce_mean(fc.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits), name="loss")
    train_op = fc.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
    return x, labels, loss, train_op


def timed_stages(fetches, feeds):
    """{stage: seconds} of one cold compile, stage by stage through compiler/pipeline.py
    (the cache store included)."""
    from compiler import cache, pipeline
    from compiler.options import CompileOptions

    options = CompileOptions()
    t = {}
    t0 = time.perf_counter()
    graph, tensors, targets, feed_list = pipeline.resolve_fetches(fetches, feeds)
    program = converted = pipeline.to_program(graph, tensors, feed_list, targets)
    t["convert"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    program, _ = pipeline.optimize(program, options)
    t["optimize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    kernel_plan = pipeline.plan(program)
    t["plan"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lowered = pipeline.lower(program, kernel_plan, options)
    t["lower"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts = cache.key_parts(converted, options, "converted")  # as compile_graph keys it
    t["cache_key"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    texts = {"fusion": pipeline.format_plan(kernel_plan),
             "kernels": pipeline.kernels_text(lowered)}
    t["texts"] = time.perf_counter() - t0
    from compiler.backends import BACKENDS
    from compiler.ir.signature import program_signature
    t0 = time.perf_counter()
    exe = BACKENDS["cpu"].build(lowered, program_signature(converted), program.name,
                                options, texts, False)
    t["backend"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cache.store(parts, exe, options)
    t["store"] = time.perf_counter() - t0
    return t, len(program.nodes) if hasattr(program, "nodes") else None, len(lowered.kernels)


def run_once(args) -> dict:
    import numpy as np

    import compiler as fc

    t0 = time.perf_counter()
    x, labels, loss, train_op = build(args.blocks, args.width, args.batch)
    rec = {"user_ops": len(fc.get_default_graph().get_operations()),
           "build_s": round(time.perf_counter() - t0, 2)}
    rng = np.random.default_rng(0)
    feeds = {x: rng.standard_normal((args.batch, args.width)).astype(np.float32),
             labels: rng.integers(0, 10, args.batch)}
    sess = fc.Session()
    t0 = time.perf_counter()
    sess.run(fc.global_variables_initializer())
    rec["init_s"] = round(time.perf_counter() - t0, 2)
    if args.stages:
        t, nodes, kernels = timed_stages([loss, train_op], list(feeds))
        rec.update({k + "_s": round(v, 2) for k, v in t.items()})
        rec.update(ir_nodes=nodes, kernels=kernels)
    prof = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    out = sess.run([loss, train_op], feeds)
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    rec["run_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    sess.run([loss, train_op], feeds)
    rec["step_s"] = round(time.perf_counter() - t0, 3)
    rec["loss"] = float(out[0])
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--profile", default=None, help="cProfile stats file of the cold run")
    ap.add_argument("--stages", action="store_true",
                    help="time each stage first (the Session run then loads from the cache)")
    ap.add_argument("--cached", action="store_true",
                    help="then Session.run from a fresh process on the warm cache")
    ap.add_argument("--cache-dir", default=None, help="(default: a fresh temporary one)")
    args = ap.parse_args(argv)
    if args.cache_dir is None:
        args.cache_dir = tempfile.mkdtemp(prefix="flowc-large-")
        os.environ["FLOWC_CACHE_DIR"] = args.cache_dir
        cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]),
               "--cache-dir", args.cache_dir]
        print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout,
              end="")
        if args.cached:
            cmd = [c for c in cmd if c not in ("--stages", "--cached")]
            cmd = [c for i, c in enumerate(cmd) if not (i and cmd[i - 1] == "--profile")
                   and c != "--profile"]
            print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout,
                  end="")
        return
    os.environ["FLOWC_CACHE_DIR"] = args.cache_dir
    print(json.dumps(run_once(args)), flush=True)


if __name__ == "__main__":
    main()
