"""Build, train, compile and run: an MLP classifier on scikit-learn's bundled digits.

1. Build: a 64-128-64-10 perceptron (`fc.layers.dense` with relu) on the 1797 8x8
   digit images that ship inside scikit-learn (`sklearn.datasets.load_digits`: no
   download), softmax cross-entropy loss.
2. Train: Adam on mini-batches of a stratified 75 / 25 train / test split; the loss and
   test accuracy are printed per epoch. Expected test accuracy: at least 95 %.
3. Compile: `fc.compile(probs, [x], OUT_DIR, session=sess)` writes a self-contained
   shared object with the trained weights inside (docs/abi.md).
4. Run: `runtime.load(OUT_DIR)` runs the compiled model on the test set with numpy and
   ctypes alone; its predictions must agree with the Session's.

The script exits 1 when the accuracy is below the target or the compiled model disagrees.

Run:  python examples/mlp_digits.py [--small] [--epochs N] [--out DIR]
(scikit-learn comes with the test extra: pip install -e '.[test]')
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import compiler as fc
import runtime

TARGET = 0.95            # full run; --small (a few epochs, for CI) only needs SMALL_TARGET
SMALL_TARGET = 0.85


def load_data(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    xs = (digits.data / 16.0).astype(np.float32)          # pixels are 0..16
    ys = digits.target.astype(np.int64)
    return train_test_split(xs, ys, test_size=0.25, random_state=seed, stratify=ys)


def build(hidden=(128, 64), lr=0.003, seed=0):
    fc.set_random_seed(seed)
    x = fc.placeholder(fc.float32, [None, 64], name="x")
    labels = fc.placeholder(fc.int64, [None], name="labels")
    h = x
    for i, units in enumerate(hidden):
        h = fc.layers.dense(h, units, activation=fc.nn.relu, name=f"hidden{i + 1}")
    logits = fc.layers.dense(h, 10, name="logits")
    probs = fc.nn.softmax(logits, name="probs")
    loss = fc.reduce_mean(fc.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits), name="loss")
    correct = fc.equal(fc.argmax(logits, axis=1), labels)
    accuracy = fc.reduce_mean(fc.cast(correct, fc.float32), name="accuracy")
    train_op = fc.train.AdamOptimizer(lr).minimize(
        loss, global_step=fc.train.get_or_create_global_step())
    return x, labels, probs, loss, accuracy, train_op


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few epochs (for CI)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", default=None, help="where to write the compiled model "
                        "(default: a temporary directory)")
    args = parser.parse_args(argv)
    epochs = args.epochs or (2 if args.small else 40)
    target = SMALL_TARGET if args.small else TARGET

    x_train, x_test, y_train, y_test = load_data(seed=0)
    print(f"digits: {len(x_train)} train, {len(x_test)} test images of 8x8 pixels")
    x, labels, probs, loss, accuracy, train_op = build()

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(x_train))
            for i in range(0, len(x_train), args.batch):
                idx = order[i:i + args.batch]
                sess.run(train_op, {x: x_train[idx], labels: y_train[idx]})
            if epoch == 1 or epoch == epochs or epoch % 5 == 0:
                train_loss = sess.run(loss, {x: x_train, labels: y_train})
                test_acc = sess.run(accuracy, {x: x_test, labels: y_test})
                print(f"epoch {epoch:3d}  train loss {train_loss:.4f}  "
                      f"test accuracy {100 * test_acc:.2f} %")
        train_s = time.perf_counter() - t0
        test_acc = float(sess.run(accuracy, {x: x_test, labels: y_test}))
        session_probs = sess.run(probs, {x: x_test})

        t1 = time.perf_counter()
        tmp = None
        if args.out is None:
            tmp = tempfile.TemporaryDirectory(prefix="flowc_digits_")
        out_dir = args.out or os.path.join(tmp.name, "digits")
        art = fc.compile(probs, [x], out_dir, name="digits", session=sess)
        compile_s = time.perf_counter() - t1

    with runtime.load(out_dir) as model:
        compiled_probs = model(x_test)
    if tmp is not None:
        tmp.cleanup()
    agree = np.mean(compiled_probs.argmax(1) == session_probs.argmax(1))
    max_diff = float(np.max(np.abs(compiled_probs - session_probs)))
    compiled_acc = float(np.mean(compiled_probs.argmax(1) == y_test))

    print(f"trained {epochs} epochs in {train_s:.2f} s; test accuracy {100 * test_acc:.2f} % "
          f"(target >= {100 * target:.0f} %)")
    print(f"compiled {os.path.basename(art.library)} in {compile_s:.2f} s; runtime.load on the "
          f"test set: accuracy {100 * compiled_acc:.2f} %, predictions agree with the Session "
          f"on {100 * agree:.1f} %, max |p_so - p_session| = {max_diff:.1e}")
    ok = test_acc >= target and agree == 1.0 and max_diff < 1e-4
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
