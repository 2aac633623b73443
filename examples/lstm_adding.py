"""An LSTM learns the adding problem (Hochreiter & Schmidhuber 1997).

Each input is a sequence of T steps of two features: a random value in [0, 1) and a
marker that is 1 at exactly two steps (one in each half of the sequence) and 0 elsewhere.
The target is the sum of the two marked values. Always predicting the mean (1.0) gives a
mean squared error of about 1/6 ≈ 0.167; the example passes when the LSTM's test MSE
falls below LOSS_TARGET, which it can only reach by learning to find and add the marked
values.

Model: `fc.nn.rnn_cell.BasicLSTMCell` unrolled with `fc.nn.static_rnn` over one
placeholder per step, then `fc.layers.dense` on the last output; Adam on freshly drawn
batches. The loss is printed as training goes; the script exits 1 when it does not fall
below the target.

Run:  python examples/lstm_adding.py [--small] [--steps N] [--length T]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import compiler as fc

LOSS_TARGET = 0.005          # test MSE; the mean predictor's is ~0.167
SMALL_LOSS_TARGET = 0.1      # --small: a short run only has to beat the baseline clearly


def adding_batch(rng, batch, length):
    values = rng.random((batch, length)).astype(np.float32)
    markers = np.zeros((batch, length), np.float32)
    half = length // 2
    first = rng.integers(0, half, batch)
    second = rng.integers(half, length, batch)
    rows = np.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = (values[rows, first] + values[rows, second])[:, None]
    return np.stack([values, markers], axis=2), target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a short run (for CI)")
    parser.add_argument("--steps", type=int, default=None, help="training steps")
    parser.add_argument("--length", type=int, default=None, help="sequence length T")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args(argv)
    length = args.length or (10 if args.small else 20)
    steps = args.steps or (250 if args.small else 3000)
    target = SMALL_LOSS_TARGET if args.small else LOSS_TARGET

    fc.set_random_seed(0)
    inputs = [fc.placeholder(fc.float32, [None, 2], name=f"x{t}") for t in range(length)]
    y = fc.placeholder(fc.float32, [None, 1], name="y")
    cell = fc.nn.rnn_cell.BasicLSTMCell(args.units)
    outputs, _ = fc.nn.static_rnn(cell, inputs, dtype=fc.float32)
    prediction = fc.layers.dense(outputs[-1], 1, name="out")
    loss = fc.reduce_mean(fc.square(prediction - y), name="mse")
    train_op = fc.train.AdamOptimizer(args.lr).minimize(loss)

    rng = np.random.default_rng(0)
    test_x, test_y = adding_batch(rng, 1000, length)
    test_feed = {y: test_y, **{p: test_x[:, t] for t, p in enumerate(inputs)}}
    report = max(steps // 10, 1)
    t0 = time.perf_counter()
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        print(f"T = {length}, {args.units} units; step     0  test mse "
              f"{sess.run(loss, test_feed):.4f}")
        for step in range(1, steps + 1):
            bx, by = adding_batch(rng, args.batch, length)
            _, train_mse = sess.run([train_op, loss],
                                    {y: by, **{p: bx[:, t] for t, p in enumerate(inputs)}})
            if step % report == 0:
                print(f"step {step:5d}  train mse {train_mse:.4f}  "
                      f"test mse {sess.run(loss, test_feed):.4f}")
        final = float(sess.run(loss, test_feed))
    seconds = time.perf_counter() - t0
    print(f"final test mse {final:.4f} (target < {target:g}; predicting the mean gives "
          f"~0.167) after {steps} steps in {seconds:.1f} s")
    if final < target:
        print("learned")
        return 0
    print("NOT LEARNED")
    return 1


if __name__ == "__main__":
    sys.exit(main())
