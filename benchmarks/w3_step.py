"""W3's training step as a graph for the command line: `build()` makes one SGD step of the
784-512-512-10 MLP (relu, relu, softmax cross-entropy; workload_w3.py) and returns
`([train_op, loss], [x, y])`, so

    flowc compile benchmarks/w3_step.py:build -o /tmp/w3 --timings

shows where the cold compile of the training program goes (docs/cli.md)."""

from __future__ import annotations

import numpy as np

import compiler as fc

SIZES = (784, 512, 512, 10)
LR = 0.01


def build(sizes=SIZES):
    rng = np.random.default_rng(0)
    x = fc.placeholder(fc.float32, [None, sizes[0]], name="x")
    y = fc.placeholder(fc.float32, [None, sizes[-1]], name="y")
    h = x
    for i, (m, n) in enumerate(zip(sizes, sizes[1:])):
        w = fc.Variable((rng.standard_normal((m, n)) * np.sqrt(2.0 / m)).astype(np.float32),
                        name=f"w{i}")
        b = fc.Variable(np.full(n, 0.01, np.float32), name=f"b{i}")
        h = fc.matmul(h, w) + b
        if i < len(sizes) - 2:
            h = fc.nn.relu(h)
    loss = fc.reduce_mean(fc.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=h))
    train = fc.train.GradientDescentOptimizer(LR).minimize(loss)
    return [train, loss], [x, y]
