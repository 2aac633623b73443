"""The "matmuls" pass (passes/matmuls.py): a slice of a matmul computes only what it
keeps; a sum of small-K matmuls becomes one matmul over concatenated operands. Each case
is a small program run through the pass, checked for what it changed (matmul and add counts)
and run on the reference interpreter before and after: the results agree within a
matmul's float32 tolerance (the merge regroups a matmul's K summation, which DESIGN.md
allows inside a matmul). The negative cases leave the program unchanged. Then an unrolled
LSTM's forward and backward, compiled with the pass, against the interpreter on the
unoptimized program, and the concat nests that the merged matmul reads.
"""

from __future__ import annotations

import numpy as np
import pytest

import compiler as fc
from compiler.convert import convert
from compiler.interpret import interpret
from compiler.ir.text import print_program
from compiler.ir.verify import verify
from compiler.options import CompileOptions
from compiler.pipeline import build_program, optimize
from passes.matmuls import MERGE_MAX_K, rewrite_matmuls

RTOL, ATOL = 1e-5, 1e-5   # float32 matmul results, regrouped K summation


def _count(program, op):
    return sum(1 for n in program.topo() if n.op == op)


def _program(build, shapes, dtype=fc.float32):
    """The IR program of `build(*placeholders)` (one placeholder per shape)."""
    graph = fc.Graph()
    with graph.as_default():
        xs = [fc.placeholder(dtype, s, name=f"p{i}") for i, s in enumerate(shapes)]
        outs = build(*xs)
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    return convert(graph, outs, xs)


def _run_pass(build, shapes, dtype=fc.float32):
    before = _program(build, shapes, dtype)
    after, changed = rewrite_matmuls(before)
    verify(after)
    if not changed:
        assert print_program(after) == print_program(before)
    return before, after, changed


def _assert_same_values(before, after):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal([int(d) for d in p.type.shape]).astype(p.dtype.np)
              for p in before.inputs]
    want, _ = interpret(before, arrays, {}, 0)
    got, _ = interpret(after, arrays, {}, 0)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def _sum_of(ks, transpose_a=True, m=5, n=6):
    """(build, shapes): the sum of one matmul(a_t^T, b_t) per K in `ks`, left to right."""
    shapes = []
    for k in ks:
        shapes += [(k, m) if transpose_a else (m, k), (k, n)]

    def build(*xs):
        total = None
        for a, b in zip(xs[0::2], xs[1::2]):
            term = fc.matmul(a, b, transpose_a=transpose_a)
            total = term if total is None else total + term
        return total
    return build, shapes


# ---- sum of matmuls ----------------------------------------------------------------------
def test_a_sum_of_small_k_matmuls_becomes_one_matmul():
    before, after, changed = _run_pass(*_sum_of([8, 8, 8, 8]))
    assert changed
    assert (_count(before, "matmul"), _count(before, "add")) == (4, 3)
    assert (_count(after, "matmul"), _count(after, "add")) == (1, 0)
    (merged,) = [n for n in after.topo() if n.op == "matmul"]
    assert [tuple(i.type.shape) for i in merged.inputs] == [(5, 32), (32, 6)]
    assert merged.attr == {"transpose_a": False, "transpose_b": False}
    _assert_same_values(before, after)


def test_a_tree_of_adds_merges_and_untransposed_operands_concat_along_k():
    def build(a0, b0, a1, b1, a2, b2):
        return fc.matmul(a0, b0) + (fc.matmul(a1, b1) + fc.matmul(a2, b2))
    before, after, changed = _run_pass(build, [(5, 4), (4, 6)] * 3)
    assert changed and _count(after, "matmul") == 1 and _count(after, "add") == 0
    _assert_same_values(before, after)


def test_operands_of_different_shapes_are_not_merged():
    _, _, changed = _run_pass(*_sum_of([8, 6, 8]))
    assert not changed


def test_large_k_is_not_merged():
    """Above MERGE_MAX_K the operand copies cost what the merge saves (measured)."""
    k = MERGE_MAX_K + 1
    _, _, changed = _run_pass(*_sum_of([k, k]))
    assert not changed


def test_float16_and_other_addends_are_not_merged():
    _, _, changed = _run_pass(*_sum_of([4, 4]), dtype=fc.float16)
    assert not changed

    def build(a0, b0, a1, b1, c):
        return (fc.matmul(a0, b0, transpose_a=True) + c) + fc.matmul(a1, b1, transpose_a=True)
    _, _, changed = _run_pass(build, [(4, 5), (4, 6), (4, 5), (4, 6), (5, 6)])
    assert not changed   # regrouping would move the exact-order add of c


def test_a_partial_sum_read_elsewhere_is_kept():
    def build(a0, b0, a1, b1, a2, b2):
        partial = fc.matmul(a0, b0, transpose_a=True) + fc.matmul(a1, b1, transpose_a=True)
        return partial, partial + fc.matmul(a2, b2, transpose_a=True)
    before, after, changed = _run_pass(build, [(4, 5), (4, 6)] * 3)
    # the partial sum is an output, so only it merges; the outer add keeps reading it
    assert changed and _count(after, "matmul") == 2 and _count(after, "add") == 1
    _assert_same_values(before, after)


# ---- slice of a matmul -------------------------------------------------------------------
def _sliced(g, k):
    return fc.matmul(g, k, transpose_b=True)[:, 3:]


def test_a_slice_of_a_matmul_computes_only_the_kept_columns():
    before, after, changed = _run_pass(_sliced, [(4, 12), (9, 12)])
    assert changed
    (m,) = [n for n in after.topo() if n.op == "matmul"]
    assert tuple(m.type.shape) == (4, 6)
    assert m.inputs[1].op == "slice" and tuple(m.inputs[1].type.shape) == (6, 12)
    _assert_same_values(before, after)


def test_a_slice_of_a_matmul_read_elsewhere_is_kept():
    def build(g, k):
        m = fc.matmul(g, k, transpose_b=True)
        return m[:, 3:], m
    _, _, changed = _run_pass(build, [(4, 12), (9, 12)])
    assert not changed


# ---- an unrolled LSTM, forward and backward ------------------------------------------------
def _lstm(batch, seq=5, depth=3, hidden=4):
    graph = fc.Graph()
    with graph.as_default():
        xs = [fc.placeholder(fc.float32, [batch, depth], name=f"x{t}") for t in range(seq)]
        cell = fc.nn.rnn_cell.BasicLSTMCell(hidden)
        outputs, _ = fc.nn.static_rnn(cell, xs, dtype=fc.float32)
        loss = fc.reduce_sum(outputs[-1] * outputs[-1])
        kernel, bias = cell.trainable_variables
        grads = fc.gradients(loss, [kernel, bias])
    program = convert(graph, [loss] + list(grads), xs)
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((batch or 6, depth)).astype(np.float32) for _ in xs]
    variables = {kernel.op.attrs["var"]: (0.5 * rng.standard_normal((depth + hidden, 4 * hidden))
                                   ).astype(np.float32),
                 bias.op.attrs["var"]: (0.1 * rng.standard_normal(4 * hidden)).astype(np.float32)}
    return program, arrays, variables


@pytest.mark.parametrize("batch", [8, None])
def test_unrolled_lstm_gradients_match_the_interpreter(batch):
    from runtime.variables import VariableStore
    program, arrays, variables = _lstm(batch)
    options = CompileOptions(threads=1)
    optimized, _ = optimize(program, options)
    unoptimized, _ = optimize(program, CompileOptions(disabled_passes=("matmuls",)))
    # the input-gradient matmuls keep only h's columns: fewer flops, as many matmuls
    if batch is not None:   # K = 8: the five weight-gradient matmuls merge into one
        assert _count(optimized, "matmul") == _count(unoptimized, "matmul") - 4
    else:                   # K = the batch, symbolic: not merged
        assert _count(optimized, "matmul") == _count(unoptimized, "matmul")
    want, _ = interpret(program, arrays, dict(variables), 0)
    store = VariableStore()
    for k, v in variables.items():
        store.set(k, v)
    got = build_program(program, options).run(arrays, store, 0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_concat_kernels_copy_each_input():
    """A stored concat (a matmul's operand, or fetched) along each axis, with fused and
    transposed inputs, against the interpreter."""
    graph = fc.Graph()
    with graph.as_default():
        a = fc.placeholder(fc.float32, [3, 4], name="a")
        b = fc.placeholder(fc.float32, [None, 4], name="b")
        c = fc.placeholder(fc.float32, [4, 2], name="c")
        rows = fc.concat([a, b * 2.0, fc.transpose(c)], axis=0)
        cols = fc.concat([fc.transpose(a), fc.exp(c)], axis=1)
        mm = fc.matmul(rows, cols)
    program = convert(graph, [rows, cols, mm], [a, b, c])
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (5, 4), (4, 2))]
    from runtime.variables import VariableStore
    got = build_program(program, CompileOptions(threads=2)).run(arrays, VariableStore(), 0)
    want, _ = interpret(program, arrays, {}, 0)
    np.testing.assert_array_equal(got[0], want[0])   # copies and an exact multiply
    for g, w in zip(got[1:], want[1:]):   # exp's polynomial (ULP bound), a matmul
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
