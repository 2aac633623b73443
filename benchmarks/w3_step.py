"""W3's training step as a graph for the command line: `build()` makes one SGD step of the
784-512-512-10 MLP (relu, relu, softmax cross-entropy; workload_w3.py) and returns
`([train_op, loss], [x, y])`, so

    flowc compile benchmarks/w3_step.py:build -o /tmp/w3 --timings

shows where the cold compile of the training program goes (docs/cli.md)."""

from __future__ import annotations

import workload_w3

import compiler as fc

SIZES = workload_w3.SIZES


def build(sizes=SIZES):
    """W3's graph (workload_w3.build, the function its systems run) with `sizes`' layer
    widths, in the default graph: `([train_op, loss], [x, y])`."""
    ws0, bs0, _, _ = workload_w3._data(1, sizes)
    xp, yp, _, _, loss, train, _ = workload_w3.build(fc, ws0, bs0, sizes[0], sizes[-1])
    return [train, loss], [xp, yp]
