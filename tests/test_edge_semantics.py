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


_KEYS = [np.s_[2:], np.s_[-3:], np.s_[1:-1], np.s_[::2], np.s_[::-1], np.s_[5:1:-2],
         np.s_[-10:], np.s_[:2], np.s_[:-2], np.s_[3::-1], np.s_[-2::-3], np.s_[1:100:3],
         np.s_[-1:], np.s_[:-1:-1], np.s_[2:1], np.s_[-100:-50]]
_SIZES = (0, 1, 2, 3, 7)


def _slice_graph():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 2], name="x")
        outs = [x[k] for k in _KEYS]
    return g, x, outs


def _feed(n):
    return np.arange(2 * n, dtype=np.float32).reshape(n, 2)


def test_symbolic_slices_clamp_like_numpy_on_every_session_path():
    g, x, outs = _slice_graph()
    for name, sess in _sessions(g):
        with sess:
            for n in _SIZES:
                v = _feed(n)
                for k, got in zip(_KEYS, sess.run(outs, {x: v})):
                    np.testing.assert_array_equal(got, v[k], err_msg=f"{name} {k} n={n}")


def test_symbolic_slices_clamp_in_runtime_load(tmp_path):
    g, x, outs = _slice_graph()
    art = fc.compile(outs, [x], str(tmp_path / "m"), name="slices",
                     options=fc.CompileOptions(threads=1))
    with runtime.load(art.directory) as model:
        for n in _SIZES:
            v = _feed(n)
            for k, got in zip(_KEYS, model(v)):
                np.testing.assert_array_equal(got, v[k], err_msg=f"{k} n={n}")


def test_symbolic_slices_clamp_in_jit_and_gradients():
    @fc.jit(dynamic_dims={0: [0]})
    def tail(x):
        return x[2:], x[-3:] * 2.0
    for n in _SIZES:
        v = _feed(n)
        a, b = tail(v)
        np.testing.assert_array_equal(a, v[2:])
        np.testing.assert_array_equal(b, v[-3:] * 2)
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float64, [None], name="x")
        loss = fc.reduce_sum(x[1:-1] * x[1:-1]) + fc.reduce_sum(x[::2])
        (grad,) = fc.gradients(loss, [x])
        for name, sess in _sessions(g):
            with sess:
                for n in _SIZES:
                    v = np.arange(n, dtype=np.float64) + 1
                    want = np.zeros(n)
                    want[1:-1] += 2 * v[1:-1]
                    want[::2] += 1
                    np.testing.assert_allclose(sess.run(grad, {x: v}), want, err_msg=name)


def test_clamped_dims_print_parse_and_simplify():
    from compiler.convert import convert
    from compiler.frontend.indexing import slice_extent
    from compiler.ir import dims as D
    from compiler.ir.text import parse_program, print_program
    n = D.DimExpr.atom(D.Sym("N0"))
    assert D.format_dim(slice_extent(n, slice(2, None))[1]) == "max(N0-2,0)"
    assert D.format_dim(slice_extent(n, slice(-3, None))[1]) == "min(N0,3)"
    assert D.format_dim(slice_extent(n, slice(1, -1))[1]) == "max(N0-2,0)"
    assert slice_extent(n, slice(None, None, -1))[1] == n
    for key in _KEYS:
        b, size, _ = slice_extent(n, key)
        for v in range(12):
            want = len(range(v)[key])
            got = size if isinstance(size, int) else size.evaluate({"N0": v})
            assert got == want, (key, v, got, want)
    g, x, outs = _slice_graph()
    text = print_program(convert(g, outs, [x]))
    assert "max(N0-2,0)" in text and "min(N0,3)" in text
    assert print_program(parse_program(text)) == text
