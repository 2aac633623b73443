"""Semantics at the edges (issue 13, items 11 and 12), on every path: Session (LLVM),
the interpreter backend, the emulated CUDA backend, fc.jit and runtime.load.

- sparse_softmax_cross_entropy_with_logits with a label outside [0, classes) raises
  ExecutionError naming the op and its file:line, as TF does (no loss of -0.0).
- Slices with symbolic dims clamp like numpy and TF1: `x[2:]` on one element is empty.
"""

from __future__ import annotations

import numpy as np
import pytest
from cuda_emulator import emulated_gpu

import compiler as fc
import runtime
from runtime.errors import ExecutionError

_CONFIGS = {"llvm": None, "interpret": fc.ConfigProto(backend="interpret")}


def _sessions(graph):
    for name, config in _CONFIGS.items():
        yield name, fc.Session(graph=graph, config=config)
    with emulated_gpu():
        yield "cuda-emulated", fc.Session(
            graph=graph, config=fc.ConfigProto(device="gpu"))


def _sparse_loss_graph():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        y = fc.placeholder(fc.int32, [None], name="y")
        loss = fc.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x)
    return g, x, y, loss


@pytest.mark.parametrize("labels", [[1, 4], [-1, 0], [0, 2**31 - 1], [-2**31, 3]])
def test_sparse_softmax_label_out_of_range_raises_on_every_path(labels, tmp_path):
    g, x, y, loss = _sparse_loss_graph()
    logits = np.zeros((2, 4), np.float32)
    pattern = r"SparseSoftmaxCrossEntropyWithLogits.*test_edge_semantics\.py:\d+.*out of range"
    for name, sess in _sessions(g):
        with sess:
            np.testing.assert_allclose(sess.run(loss, {x: logits, y: [1, 3]}), [np.log(4)] * 2,
                                       rtol=1e-6, err_msg=name)
            with pytest.raises(ExecutionError, match=pattern):
                sess.run(loss, {x: logits, y: np.array(labels, np.int32)})
    art = fc.compile([loss], [x, y], str(tmp_path / "m"), name="sparse_loss",
                     options=fc.CompileOptions(threads=1))
    with runtime.load(art.directory) as model:
        np.testing.assert_allclose(model(logits, np.array([1, 3], np.int32)), [np.log(4)] * 2,
                                   rtol=1e-6)
        with pytest.raises(ExecutionError, match="SparseSoftmaxCrossEntropyWithLogits"):
            model(logits, np.array(labels, np.int32))


def test_sparse_softmax_label_error_in_jit():
    @fc.jit
    def loss(x, y):
        return fc.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x)
    x = np.zeros((3, 5), np.float64)
    assert loss(x, np.array([0, 4, 2])).shape == (3,)
    with pytest.raises(ExecutionError, match="out of range"):
        loss(x, np.array([0, 5, 2]))
