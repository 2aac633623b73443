"""Ahead-of-time example: a small MLP classifier with variables, compiled to a shared
object with a C header (docs/abi.md).

The weights are set in a Session (as training would leave them) and compiled in as the
model's state; each run also counts the examples it has seen in a variable. The batch
dim is symbolic, so the .so serves every batch size.

Run:  python examples/aot/compile_mlp.py OUT_DIR      (writes mlp.so, mlp.h, mlp.json)
Then: cc -std=c99 -I OUT_DIR examples/aot/main.c OUT_DIR/mlp.so -Wl,-rpath,OUT_DIR -o main
      ./main
And from Python without the compiler: python -c "import runtime; m = runtime.load('OUT_DIR')"
"""

from __future__ import annotations

import sys

import numpy as np

import compiler as fc


def build():
    x = fc.placeholder(fc.float32, [None, 4], name="x")
    w1 = fc.Variable(fc.zeros([4, 8]), name="layer1/w")
    b1 = fc.Variable(fc.zeros([8]), name="layer1/b")
    w2 = fc.Variable(fc.zeros([8, 3]), name="layer2/w")
    b2 = fc.Variable(fc.zeros([3]), name="layer2/b")
    seen = fc.Variable(np.int64(0), name="examples_seen")
    hidden = fc.nn.relu(fc.matmul(x, w1) + b1)
    probs = fc.nn.softmax(fc.matmul(hidden, w2) + b2, name="probs")
    label = fc.argmax(probs, axis=1, name="label")
    count = fc.assign_add(seen, fc.cast(fc.shape(x)[0], fc.int64))
    return x, [w1, b1, w2, b2], [probs, label, count.op]


def main(out_dir):
    x, weights, fetches = build()
    rng = np.random.default_rng(0)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        for v in weights:  # stands in for training
            sess.run(fc.assign(v, rng.standard_normal(v.shape).astype(np.float32)))
        art = fc.compile(fetches, [x], out_dir, name="mlp", session=sess)
        batch = np.array([[1, 2, 3, 4], [-1, 0.5, 0, 2]], np.float32)
        probs, label = sess.run(fetches[:2], {x: batch})
    print(f"wrote {art.library}, {art.header}, {art.manifest}")
    print("Session reference for the batch of main.c:")
    print("  probs", np.array2string(probs, precision=6).replace("\n", "\n        "))
    print("  label", label)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mlp_out")
