"""Fusion: kernel counts for the workloads that matter, the reasons in the fusion dump,
and random fused graphs compiled and checked against the interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import REDUCE_TOL, assert_close

import compiler as fc
from compiler.convert import convert
from compiler.interpret import interpret
from compiler.pipeline import build_program
from passes.fusion import format_plan, plan_kernels
from passes.manager import run_pipeline
from runtime.variables import VariableStore


def _plan(fetches, feeds):
    program = convert(fc.get_default_graph(), fetches, feeds)
    return program, plan_kernels(program)


@pytest.fixture(autouse=True)
def fresh_graph():
    with fc.Graph().as_default() as g:
        yield g


def test_elementwise_chain_is_one_kernel():
    x = fc.placeholder(fc.float32, [None], name="x")
    y = fc.tanh(x * 1.5 + 0.3) * fc.sigmoid(x) - 0.5 * x * x
    _, plan = _plan([y], [x])
    assert [g.kind for g in plan.groups] == ["loop"]
    assert len(plan.groups[0].members) == 11


def test_softmax_and_log_softmax_are_one_row_kernel_each():
    z = fc.placeholder(fc.float32, [None, 10], name="z")
    _, plan = _plan([fc.nn.softmax(z)], [z])
    assert [g.kind for g in plan.groups] == ["row"]
    assert [r.op for r in plan.groups[0].reductions] == ["reduce_max", "reduce_sum"]
    _, plan = _plan([fc.nn.log_softmax(z)], [z])
    assert [g.kind for g in plan.groups] == ["row"]


def test_cross_entropy_loss_is_three_kernels():
    z = fc.placeholder(fc.float32, [None, 10], name="z")
    labels = fc.placeholder(fc.float32, [None, 10], name="labels")
    loss = fc.reduce_mean(fc.nn.softmax_cross_entropy_with_logits(labels=labels, logits=z))
    _, plan = _plan([loss], [z, labels])
    # per-example rows (softmax + dot with labels), the batch sum, the division by N
    assert [g.kind for g in plan.groups] == ["row", "row", "loop"]


def test_dense_layer_is_a_matmul_with_its_epilogue():
    x = fc.placeholder(fc.float32, [None, 8], name="x")
    w = fc.Variable(np.ones((8, 4), np.float32), name="w")
    b = fc.Variable(np.ones(4, np.float32), name="b")
    y = fc.nn.relu(fc.matmul(x, w) + b)
    _, plan = _plan([y], [x])
    assert [g.kind for g in plan.groups] == ["matmul"]
    assert plan.groups[0].root.op == "maximum"
    assert plan.groups[0].matmul.op == "matmul"


def test_a_concat_feeding_a_matmul_from_the_left_is_copied_once():
    # the LSTM cell's [x, h] @ W: without the copy, each load of the matmul's inner loop
    # would branch on which input it reads
    x = fc.placeholder(fc.float32, [None, 3], name="x")
    h = fc.placeholder(fc.float32, [None, 5], name="h")
    w = fc.placeholder(fc.float32, [8, 4], name="w")
    xh = fc.concat([x, h], axis=1)
    y = fc.matmul(xh, w)
    program, plan = _plan([y], [x, h, w])
    assert [g.kind for g in plan.groups] == ["loop", "matmul"]
    assert plan.groups[0].root.op == "concat"
    assert "left operand of a matmul" in plan.reasons[id(plan.groups[0].root)]
    feeds = [np.random.default_rng(0).standard_normal(s).astype(np.float32)
             for s in ((2, 3), (2, 5), (8, 4))]
    want, _ = interpret(program, feeds, {}, 0)
    got = build_program(program).run(feeds, VariableStore(), 0)
    assert_close(got[0], want[0], tol=REDUCE_TOL)


def test_a_concat_feeding_a_matmul_from_the_right_is_copied_once():
    # the merged weight gradient of passes/matmuls.py reads concat(g_t) as its right
    # operand: stored, the matmul's packing loads without branching per element
    a = fc.placeholder(fc.float32, [4, 9], name="a")
    g0 = fc.placeholder(fc.float32, [3, 5], name="g0")
    g1 = fc.placeholder(fc.float32, [None, 5], name="g1")
    g2 = fc.placeholder(fc.float32, [2, 5], name="g2")
    y = fc.matmul(a, fc.concat([g0, g1 * 2.0, g2], axis=0))
    program, plan = _plan([y], [a, g0, g1, g2])
    assert [g.kind for g in plan.groups] == ["loop", "matmul"]
    assert plan.groups[0].root.op == "concat"
    assert "right operand of a matmul" in plan.reasons[id(plan.groups[0].root)]
    rng = np.random.default_rng(0)
    feeds = [rng.standard_normal(s).astype(np.float32)
             for s in ((4, 9), (3, 5), (4, 5), (2, 5))]
    want, _ = interpret(program, feeds, {}, 0)
    got = build_program(program).run(feeds, VariableStore(), 0)
    assert_close(got[0], want[0], tol=REDUCE_TOL)


def test_every_boundary_has_a_reason_in_the_dump():
    x = fc.placeholder(fc.float32, [None], name="x")
    shared = fc.exp(x, name="shared")
    y = shared + 1.0
    z = shared * 2.0
    _, plan = _plan([y, z], [x])
    assert len(plan.groups) == 3
    text = format_plan(plan)
    assert "exp 'shared'" in text and "2 consumers" in text
    assert "fetched or assigned" in text and "buffer provided by the runtime" in text


def test_a_fetched_intermediate_is_stored_not_only_fused():
    z = fc.placeholder(fc.float32, [None, 6], name="z")
    m = fc.reduce_max(z, axis=1, keepdims=True)
    y = fc.exp(z - m)
    program, plan = _plan([y, m], [z])
    assert {id(g.root) for g in plan.groups} >= {id(program.outputs[0]),
                                                  id(program.outputs[1])}


# ---- random fused graphs against the interpreter --------------------------------------------
UNARY = ["exp", "tanh", "sigmoid", "abs", "negative", "sqrt_abs"]
BINARY = ["add", "sub", "mul", "maximum"]


def _random_graph(draw_ops, x, y):
    """Builds a graph from a list of (kind, a, b) instructions over a growing value list."""
    vals = [x, y, fc.transpose(y, [0, 1]), x[:, ::-1]]
    for kind, i, j in draw_ops:
        a, b = vals[i % len(vals)], vals[j % len(vals)]
        if kind in UNARY:
            v = fc.sqrt(fc.abs(a)) if kind == "sqrt_abs" else getattr(fc, kind)(a)
        elif kind in BINARY:
            v = {"add": fc.add, "sub": fc.subtract, "mul": fc.multiply,
                 "maximum": fc.maximum}[kind](a, b)
        elif kind == "rowsum":
            v = a - fc.reduce_sum(a, axis=1, keepdims=True)
        elif kind == "rowmax":
            v = fc.exp(a - fc.reduce_max(a, axis=1, keepdims=True))
        elif kind == "colsum":
            v = a * fc.reduce_mean(a, axis=0, keepdims=True)
        elif kind == "softmax":
            v = fc.nn.softmax(a)
        else:  # matmul with a bias-and-relu epilogue
            w = np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4)
            v = fc.nn.relu(fc.matmul(a, fc.constant(w)) + 0.5)
        vals.append(v)
    return vals[4:] or [vals[0]]


OPS = st.tuples(st.sampled_from(UNARY + BINARY + ["rowsum", "rowmax", "colsum", "softmax",
                                                   "dense"]),
                st.integers(0, 30), st.integers(0, 30))


@given(ops=st.lists(OPS, min_size=1, max_size=7), n=st.sampled_from([1, 3, 9]),
       seed=st.integers(0, 1000))
def test_random_fused_graphs_match_the_interpreter(ops, n, seed):
    """Random graphs, every pass on, fused and compiled, against the interpreter running
    the unoptimized program."""
    with fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        y = fc.placeholder(fc.float32, [None, 4], name="y")
        outs = _random_graph(ops, x, y)
        program = convert(g, outs[-2:], [x, y])
    optimized, _ = run_pipeline(program, fc.CompileOptions())
    exe = build_program(optimized, fc.CompileOptions(threads=2))
    rng = np.random.default_rng(seed)
    feeds = [rng.standard_normal((n, 4)).astype(np.float32) for _ in range(2)]
    want, _ = interpret(program, feeds)
    from runtime.variables import VariableStore
    got = exe.run(feeds, VariableStore())
    for a, b in zip(got, want):
        assert_close(a, b, tol=REDUCE_TOL)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_row_kernels_match_the_interpreter_in_every_float_dtype(fn, dtype):
    x = fc.placeholder(dtype, [None, 37], name="x")
    y = getattr(fc.nn, fn)(x * 2.0)
    xv = np.random.default_rng(0).standard_normal((9, 37)).astype(dtype)
    results = []
    for backend in ("llvm", "interpret"):
        with fc.Session(config=fc.ConfigProto(backend=backend)) as sess:
            results.append(sess.run(y, {x: xv}))
    assert_close(results[0], results[1], tol=REDUCE_TOL)


def test_an_elementwise_operand_read_by_a_matmul_through_movement_ops_is_stored_once():
    # a channels-first CNN's last pool flattened into its Gemm: transpose, reshape, then
    # the matmul; the relu behind the movement ops is stored once, not recomputed for
    # every output column in the matmul's inner loop
    x = fc.placeholder(fc.float32, [2, 3, 4, 5], name="x")
    w = fc.placeholder(fc.float32, [60, 7], name="w")
    r = fc.nn.relu(x)
    flat = fc.reshape(fc.transpose(r, [0, 3, 1, 2]), [2, 60])
    y = fc.matmul(flat, w)
    program, plan = _plan([y], [x, w])
    assert [g.kind for g in plan.groups] == ["loop", "matmul"]
    assert plan.groups[0].root.op == "maximum"
    assert "operand of a matmul through" in plan.reasons[id(plan.groups[0].root)]
    feeds = [np.random.default_rng(0).standard_normal(s).astype(np.float32)
             for s in ((2, 3, 4, 5), (60, 7))]
    want, _ = interpret(program, feeds, {}, 0)
    got = build_program(program).run(feeds, VariableStore(), 0)
    assert_close(got[0], want[0], tol=REDUCE_TOL)
