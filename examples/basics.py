"""flowc's main example: TF1-style graphs, compiled to LLVM and run through a Session.

1. The seed's forward pass  ŷ = tanh(xᵀw + b)  with variables w and b (x holds one
   example per row, so xᵀw is `fc.matmul(x, w)`).
2. A small two-layer perceptron: relu hidden layer, softmax output, plus the argmax
   prediction.

Both graphs take a placeholder whose batch dimension is `None`: a symbolic dim, so one
compile serves every batch size. Each graph runs at batch 1, 7 and 1000; the Session's
`compile_count` shows one compile per (fetches, feeds) signature. Every result is
checked against the same computation in numpy; the script exits non-zero on a mismatch.

Run:  python examples/basics.py
"""

from __future__ import annotations

import sys
import time

import numpy as np

import compiler as fc

BATCHES = (1, 7, 1000)
RTOL, ATOL = 1e-5, 1e-5     # float32; matmul sums in another order than numpy's BLAS


def check(label, got, want) -> bool:
    ok = got.shape == want.shape and got.dtype == want.dtype and \
        np.allclose(got, want, rtol=RTOL, atol=ATOL)
    diff = float(np.max(np.abs(got - want))) if got.shape == want.shape and got.size else 0.0
    status = "ok" if ok else "MISMATCH"
    print(f"  {label:<20} shape {str(got.shape):<11} max |flowc - numpy| = {diff:.1e}  "
          f"{status}")
    return ok


def seed_forward(rng) -> bool:
    """ŷ = tanh(xᵀw + b): the forward pass from the seed's slides."""
    print("ŷ = tanh(xᵀw + b)")
    w0 = rng.standard_normal((4, 3)).astype(np.float32)
    b0 = np.array([0.1, -0.2, 0.3], np.float32)
    graph = fc.Graph()
    with graph.as_default():
        x = fc.placeholder(fc.float32, shape=[None, 4], name="x")
        w = fc.Variable(w0, name="w")
        b = fc.Variable(b0, name="b")
        y_hat = fc.tanh(fc.matmul(x, w) + b, name="y_hat")
        init = fc.global_variables_initializer()

    ok = True
    with fc.Session(graph=graph) as sess:
        sess.run(init)
        before = sess.compile_count
        for n in BATCHES:
            xs = rng.standard_normal((n, 4)).astype(np.float32)
            got = sess.run(y_hat, feed_dict={x: xs})
            ok &= check(f"batch {n:>4}", got, np.tanh(xs @ w0 + b0))
        print(f"  compiles for y_hat over batches {BATCHES}: {sess.compile_count - before}")
        ok &= sess.compile_count - before == 1
        print(f"  ŷ for the first of the {n} examples: {np.array2string(got[0], precision=4)}")
    return ok


def mlp(rng) -> bool:
    """A 2-layer perceptron: 16 inputs -> 32 relu units -> 10-way softmax."""
    print("MLP 16 -> 32 (relu) -> 10 (softmax)")
    w1 = (rng.standard_normal((16, 32)) * 0.25).astype(np.float32)
    b1 = (rng.standard_normal(32) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((32, 10)) * 0.25).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    graph = fc.Graph()
    with graph.as_default():
        x = fc.placeholder(fc.float32, shape=[None, 16], name="x")
        with fc.name_scope("hidden"):
            W1 = fc.Variable(w1, name="weights")
            B1 = fc.Variable(b1, name="biases")
            h = fc.nn.relu(fc.matmul(x, W1) + B1)
        with fc.name_scope("output"):
            W2 = fc.Variable(w2, name="weights")
            B2 = fc.Variable(b2, name="biases")
            logits = fc.matmul(h, W2) + B2
            probs = fc.nn.softmax(logits)
            label = fc.argmax(probs, axis=1)
        init = fc.global_variables_initializer()

    ok = True
    with fc.Session(graph=graph) as sess:
        sess.run(init)
        before = sess.compile_count
        for n in BATCHES:
            xs = rng.standard_normal((n, 16)).astype(np.float32)
            got = sess.run({"probs": probs, "label": label}, feed_dict={x: xs})
            hid = np.maximum(xs @ w1 + b1, 0)
            z = hid @ w2 + b2
            e = np.exp(z - z.max(axis=1, keepdims=True))
            want = e / e.sum(axis=1, keepdims=True)
            ok &= check(f"batch {n:>4} softmax", got["probs"], want)
            agree = float(np.mean(got["label"] == want.argmax(axis=1)))
            print(f"  {'':<20} argmax agrees with numpy on {agree:.0%} of rows")
            ok &= agree == 1.0 and np.allclose(got["probs"].sum(axis=1), 1, atol=1e-5)
        print(f"  compiles for (probs, label) over batches {BATCHES}: "
              f"{sess.compile_count - before}")
        ok &= sess.compile_count - before == 1
    return ok


def main() -> int:
    rng = np.random.default_rng(2026)
    t0 = time.perf_counter()
    ok = seed_forward(rng)
    print()
    ok &= mlp(rng)
    print()
    print(f"{'all results match numpy' if ok else 'SOME RESULTS DIFFER'} "
          f"({time.perf_counter() - t0:.2f} s, including compiles)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
