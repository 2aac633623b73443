"""The seed's regression, trained: ŷ = tanh(xᵀw + b) fitted by stochastic gradient descent.

Synthetic data come from a known w and b (plus a little noise); the model starts from
zeros and is trained with `fc.train.GradientDescentOptimizer(...).minimize(loss)` on
mini-batches. The whole training step (forward, backward, update) is one compiled
program. The loss is printed per epoch; at the end the recovered w and b are compared
with the true ones, and the script exits 1 when they were not learned.

With `--logdir DIR` it also writes what TensorBoard shows: the graph (name scopes
`model/`, `mse/`, `gradients/`, `GradientDescent/`), a `loss` scalar per epoch and the
compiled graph (run `compiled`: one group per fused kernel), plus the HTML viewer
`DIR/graph.html`. Then: `tensorboard --logdir DIR`, or open DIR/graph.html.

Run:  python examples/regression.py [--small] [--epochs N] [--logdir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import compiler as fc

FEATURES = 5
NOISE = 0.01
LOSS_TARGET = 1e-3       # the noise alone gives a mean squared error of NOISE**2 = 1e-4
W_TOLERANCE = 0.05


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a short run (for CI)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--logdir", default=None,
                        help="write TensorBoard events (graph, loss, compiled graph) and "
                             "graph.html here")
    args = parser.parse_args(argv)
    examples = 512 if args.small else 4096
    epochs = args.epochs or (8 if args.small else 30)

    rng = np.random.default_rng(0)
    true_w = rng.uniform(-1, 1, (FEATURES, 1)).astype(np.float32)
    true_b = np.float32(0.2)
    xs = rng.standard_normal((examples, FEATURES)).astype(np.float32)
    ys = (np.tanh(xs @ true_w + true_b)
          + NOISE * rng.standard_normal((examples, 1))).astype(np.float32)

    x = fc.placeholder(fc.float32, [None, FEATURES], name="x")
    y = fc.placeholder(fc.float32, [None, 1], name="y")
    with fc.name_scope("model"):
        w = fc.Variable(fc.zeros([FEATURES, 1]), name="w")
        b = fc.Variable(0.0, name="b")
        y_hat = fc.tanh(fc.matmul(x, w) + b, name="y_hat")
    loss = fc.reduce_mean(fc.square(y_hat - y), name="mse")
    train_op = fc.train.GradientDescentOptimizer(args.lr).minimize(loss)
    fetch = [loss, fc.summary.scalar("loss", loss)] if args.logdir else [loss]

    start = time.perf_counter()
    with fc.Session() as sess:
        writer = fc.summary.FileWriter(args.logdir, sess.graph) if args.logdir else None
        sess.run(fc.global_variables_initializer())
        for epoch in range(0, epochs + 1):
            if epoch:
                order = rng.permutation(examples)
                for i in range(0, examples, args.batch):
                    idx = order[i:i + args.batch]
                    sess.run(train_op, {x: xs[idx], y: ys[idx]})
            values = sess.run(fetch, {x: xs, y: ys})
            print(f"epoch {epoch:2d}  loss {values[0]:.6f}")
            if writer:
                writer.add_summary(values[1], epoch)
        final = float(sess.run(loss, {x: xs, y: ys}))
        got_w, got_b = sess.run([w, b])
        compiles = sess.compile_count
    seconds = time.perf_counter() - start
    if writer:
        writer.add_compiled_graph([loss, train_op], [x, y])
        writer.close()
        fc.dump([loss, train_op], [x, y], dir=args.logdir, format="html")
        print(f"wrote {args.logdir}: tensorboard --logdir {args.logdir}, or open "
              f"{args.logdir}/graph.html")

    err = float(max(np.max(np.abs(got_w - true_w)), abs(got_b - true_b)))
    print(f"true w {np.array2string(true_w.ravel(), precision=3)}  b {true_b:.3f}")
    print(f"got  w {np.array2string(got_w.ravel(), precision=3)}  b {float(got_b):.3f}")
    print(f"final loss {final:.6f} (target < {LOSS_TARGET:g}), max |w - w_true| = {err:.4f} "
          f"(tolerance {W_TOLERANCE}); {epochs} epochs in {seconds:.2f} s, {compiles} compiles")
    if final < LOSS_TARGET and err < W_TOLERANCE:
        print("learned")
        return 0
    print("NOT LEARNED")
    return 1


if __name__ == "__main__":
    sys.exit(main())
