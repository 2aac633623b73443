"""Kernels generic in their sizes (compiler/lower/program.py `_share`): kernels of one
program that are equal up to integer constants of index arithmetic (offsets, strides,
loop extents) are one kernel taking the constants that differ as int64 arguments; the
calls pass their own values; results equal the numpy interpreter's."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import Compiled, assert_close, prim

import compiler as fc
from compiler.backends.llvm.target import cpu_schedule
from compiler.convert import convert
from compiler.lower import kir as K
from compiler.lower import lower_program
from compiler.pipeline import kernels_text
from passes.fusion import plan_kernels
from passes.manager import run_pipeline


def _lower(fn, shapes, cpu="host"):
    g = fc.Graph()
    with g.as_default():
        xs = [fc.placeholder(fc.float32, list(s), name=f"x{i}") for i, s in enumerate(shapes)]
        outs = fn(*xs)
    program, _ = run_pipeline(convert(g, outs, xs), fc.CompileOptions())
    return lower_program(program, plan_kernels(program), cpu_schedule(cpu))


def _elementwise(*xs):
    return [fc.exp(x) * 2.0 + x for x in xs]


def test_elementwise_kernels_of_different_extents_and_strides_share_one_kernel():
    # transposed reads: the nest stays two loops, whose extents and strides differ (the
    # inner extents are > 8: shorter ones stay constants, see the test below)
    shapes = [(12, 40), (9, 40), (10, 33), (300, 17)]
    lowered = _lower(lambda *xs: [fc.exp(fc.transpose(x)) * 2.0 for x in xs], shapes)
    assert len(lowered.calls) == 4
    assert len(lowered.kernels) == 1, [k.name for k in lowered.kernels]
    (kernel,) = lowered.kernels
    # the two extents (also the strides) and the work are arguments
    assert len(kernel.symbols) == 3, kernel.symbols
    args = sorted(tuple(c[2]) for c in lowered.calls)
    assert args == sorted((n, m, m * n) for m, n in shapes), args
    text = kernels_text(lowered)
    assert "for i1 in 0..s0 parallel:" in text and "for i2 in 0..s1:" in text, text
    assert "p0[((i2 * s0) + i1)]" in text, text
    # the dump says which constants each call passes
    assert "# calls pass (s0, s1, s2): (40, 12, 480), (40, 9, 360), (33, 10, 330), " \
           "(17, 300, 5100)" in text, text


def test_contiguous_kernels_of_different_shapes_share_one_kernel():
    shapes = [(6, 40), (9, 40), (7, 33), (300, 17), (50,)]
    lowered = _lower(_elementwise, shapes)
    assert len(lowered.kernels) == 1, [k.name for k in lowered.kernels]
    assert sorted(c[2][0] for c in lowered.calls) == [50, 231, 240, 360, 5100]


def test_contiguous_loop_nests_are_flattened_into_one_loop():
    lowered = _lower(lambda a, b: [fc.exp(a), fc.exp(b) * 2.0],
                     [(5, 7, 9), (8,)])
    for k in lowered.kernels:
        loops = [s for s in _walk(k.body) if isinstance(s, K.Loop)]
        assert len(loops) == 1, kernels_text(lowered)
    # a broadcast reads the row index alone: that nest stays two loops
    lowered = _lower(lambda a, b: [a + b], [(6, 10), (10,)])
    (k,) = lowered.kernels
    assert len([s for s in _walk(k.body) if isinstance(s, K.Loop)]) == 2


def test_short_inner_extents_stay_constants_for_the_unrolled_loop():
    # an innermost serial loop of up to 8 iterations is unrolled by the backend: a
    # kernel keeps that extent, so such kernels share only with their own extent
    lowered = _lower(lambda a, b: [fc.reduce_sum(a, axis=1), fc.reduce_sum(b, axis=1)],
                     [(64, 4), (64, 6)])
    loops = [s for k in lowered.kernels for s in _walk(k.body) if isinstance(s, K.Loop)]
    assert all(isinstance(s.extent, K.IConst) for s in loops if not s.parallel), loops


def _walk(stmts):
    for s in stmts:
        yield s
        for child in (getattr(s, "body", ()), getattr(s, "then", ()),
                      getattr(s, "else_", ())):
            yield from _walk(child)


def test_matmuls_of_different_shapes_share_their_kernels():
    # M and N differ: one pack and one matmul kernel; K (the register tile's K loop,
    # not vectorized) stays a constant, so a third matmul with another K has its own
    def fn(a, b, c, d, e, f):
        return [fc.matmul(a, b), fc.matmul(c, d), fc.matmul(e, f)]
    lowered = _lower(fn, [(64, 128), (128, 96), (96, 128), (128, 160), (80, 256), (256, 96)],
                     cpu="x86-64-v3")
    kinds = [k.kind for k in lowered.kernels]
    assert kinds.count("matmul") == 2 and kinds.count("pack") <= 2, kinds
    assert len(lowered.calls) == 6


def test_w3_sgd_updates_share_kernels_and_train_like_numpy():
    rng = np.random.default_rng(0)
    sizes = [(30, 20), (20, 20), (20, 12), (20,), (20,), (12,)]   # inner extents > 8
    g = fc.Graph()
    with g.as_default():
        vs = [fc.Variable(rng.standard_normal(s).astype(np.float32), name=f"v{i}")
              for i, s in enumerate(sizes)]
        gs = [fc.placeholder(fc.float32, list(s), name=f"g{i}") for i, s in enumerate(sizes)]
        train = fc.train.GradientDescentOptimizer(0.5).apply_gradients(list(zip(gs, vs)))
        init = fc.global_variables_initializer()
    feeds = {p: rng.standard_normal(s).astype(np.float32) for p, s in zip(gs, sizes)}
    sess = fc.Session(graph=g)
    sess.run(init)
    before = sess.run(vs)
    sess.run(train, feeds)
    for v, old, p in zip(sess.run(vs), before, gs):
        np.testing.assert_allclose(v, old - np.float32(0.5) * feeds[p], rtol=1e-6)
    with g.as_default():
        text = fc.dump(train, feeds=gs, stages=["kernels"])["kernels"]
    updates = [k for k in text.split("\n\n") if "assign_add" in k]
    # one kernel: the matrices' updates are flattened to one loop like the vectors'
    assert len(updates) == 1, updates
    assert "# calls pass (s0): (600), (400), (240), (20), (12)" in updates[0], updates


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 70)), min_size=2, max_size=4),
       st.integers(0, 2 ** 31))
def test_generic_kernels_match_the_interpreter(shapes, seed):
    def build(graph, *xs):
        outs = []
        for i, x in enumerate(xs):
            t = prim(graph, "transpose", [x], perm=(1, 0)) if i % 2 else x
            outs.append(prim(graph, "mul", [prim(graph, "exp", [t]), t]))
        return outs
    specs = [("float32", s) for s in shapes]
    c = Compiled(build, specs)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ref, got = c.run_both(arrays)
    for r, x in zip(ref, got):
        assert_close(x, r, "float32")
