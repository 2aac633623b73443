"""A/B of compile-time filter packing on the O1 models, in one process, interleaved.

    python benchmarks/o1_filter_ab.py [rounds]

A: every conv's filter packed into panels by a pack kernel on every run (the compile-time
path patched off); B: as built (constant filters packed when the program is lowered,
compiler/lower/static_values.py). Each model twice: as the wheel ships it (its weights
are ConstantOfShape broadcasts of 0.02, which B leaves to the pack kernel: a fill) and
with real initializers in their place ("+init": random weights scaled by 1/sqrt(fan-in),
BatchNormalization scale/variance near 1), the case of every model with trained weights.
Prints per model: A and B medians (ms), B/A, and the largest |A - B|.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np


def with_initializers(path, out):
    """The model at `path` with each ConstantOfShape replaced by an initializer."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    rng = np.random.default_rng(1)
    keep, new = [], []
    for n in m.graph.node:
        if n.op_type != "ConstantOfShape":
            keep.append(n)
            continue
        shape = tuple(int(v) for v in inits[n.input[0]])
        name = n.output[0]
        if len(shape) >= 2:
            v = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        elif "riv" in name or name.endswith("_s_0"):
            v = 1 + 0.1 * rng.random(shape)
        else:
            v = 0.01 * rng.standard_normal(shape)
        new.append(numpy_helper.from_array(v.astype(np.float32), name))
    del m.graph.node[:]
    m.graph.node.extend(keep)
    used = {i for n in keep for i in n.input}
    others = [t for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(others + new)
    ins = [i for i in m.graph.input if i.name in used]
    del m.graph.input[:]
    m.graph.input.extend(ins)
    m.ir_version = max(m.ir_version, 4)   # initializers that are not graph inputs
    onnx.save(m, out)
    return out


def build(path, variant, x, threads):
    from benchlib import no_disk_cache

    import compiler as fc
    import compiler.lower.conv_nests as cn
    from compiler import kernel_cache, memo
    g = fc.Graph()
    with g.as_default():
        (xp,), (y,) = fc.onnx.import_model(path)
    sess = fc.Session(graph=g, config=fc.ConfigProto(intra_op_parallelism_threads=threads))
    memo.clear()
    kernel_cache.clear_memo()
    orig = cn.static_array
    if variant == "A":
        cn.static_array = lambda node, memo: None
    try:
        with no_disk_cache():
            out = sess.run(y, {xp: x})
    finally:
        cn.static_array = orig
    return (lambda: sess.run(y, {xp: x})), out


def main():
    import onnx
    from workload_o1 import light_path, threads
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    x = np.random.default_rng(0).random((1, 3, 224, 224), np.float32)
    tmp = tempfile.mkdtemp()
    for model in ("resnet50", "squeezenet"):
        light = light_path(onnx, model)
        for label, path in ((model, light), (model + "+init", with_initializers(
                light, os.path.join(tmp, model + ".onnx")))):
            fa, oa = build(path, "A", x, threads())
            fb, ob = build(path, "B", x, threads())
            ta, tb = [], []
            for r in range(rounds):
                for f, t in ((fa, ta), (fb, tb)) if r % 2 == 0 else ((fb, tb), (fa, ta)):
                    t0 = time.perf_counter()
                    f()
                    t.append(time.perf_counter() - t0)
            ma, mb = np.median(ta) * 1e3, np.median(tb) * 1e3
            print(f"{label}: A {ma:.2f} ms  B {mb:.2f} ms  B/A {mb / ma:.3f}  "
                  f"max|A-B| {float(np.abs(oa - ob).max()):.3g}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
