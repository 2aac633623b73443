"""Differential tests: every primitive of the op table, compiled through LLVM, against the
numpy reference interpreter on the same program.

Each case compiles once (symbolic dims, so one compile serves every shape) and hypothesis
draws the symbol values (including 0 and 1) and the data. A completeness test checks
that every op in the table has a case here, a lowering and LLVM rules.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import REDUCE_TOL, TOL, Compiled, assert_close, prim

from compiler.ir import dtypes as T
from compiler.ops import OPS, names

FLOATS = ("float32", "float64", "float16")
INTS = ("int32", "int64", "int8", "int16", "uint8", "uint16", "uint32", "uint64")


def _data(draw_rng, dtype, shape, kind):
    rng = draw_rng
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in INTS:
        unsigned = np.dtype(dtype).kind == "u"
        lo, hi = (0, 3) if kind == "index" else (0, 16) if unsigned else (-7, 8)
        arr = rng.integers(lo, hi, size=shape).astype(dtype)
        if kind == "edge" and arr.size >= 2:
            # the ends of the range: arithmetic on them wraps around modulo 2**bits
            arr.flat[0] = np.iinfo(dtype).max if unsigned else np.iinfo(dtype).min
            arr.flat[1] = np.iinfo(dtype).max - 1 if unsigned else -1
        return arr
    arr = (rng.standard_normal(shape) * 3).astype(dtype)
    if kind == "positive":
        arr = np.abs(arr) + np.asarray(0.1, dtype)
    if kind == "edge" and arr.size >= 4:
        arr.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    return arr


class Case:
    """One compiled program: `build(graph, *inputs)` over inputs of (dtype, shape)."""

    def __init__(self, op, build, specs, kinds=None, tol=TOL, rank_syms=None):
        self.op, self.build, self.specs, self.tol = op, build, specs, tol
        self.kinds = kinds or ["normal"] * len(specs)
        self._compiled = None

    @property
    def compiled(self):
        if self._compiled is None:
            self._compiled = Compiled(self.build, self.specs)
        return self._compiled

    def arrays(self, rng, sym_values):
        out = []
        for (dt, shape), kind in zip(self.specs, self.kinds):
            concrete = tuple(sym_values[d] if isinstance(d, str) else d for d in shape)
            out.append(_data(rng, dt, concrete, kind))
        return out

    def __repr__(self):
        return f"{self.op}:{'/'.join(dt for dt, _ in self.specs)}"


def _unary(op, dtypes, kind="edge"):
    return [Case(op, lambda g, x, op=op: prim(g, op, [x]), [(dt, ("a", 3))], [kind])
            for dt in dtypes]


def _binary(op, dtypes, kind="normal"):
    # (a, 3) with (3,): broadcasting of a lower-rank operand; (a, 1) with (1, b) both ways
    cases = []
    for dt in dtypes:
        cases.append(Case(op, lambda g, x, y, op=op: prim(g, op, [x, y]),
                          [(dt, ("a", 3)), (dt, (3,))], [kind, "normal"]))
        cases.append(Case(op, lambda g, x, y, op=op: prim(g, op, [x, y]),
                          [(dt, ("a", 1)), (dt, (1, "b"))], [kind, kind]))
    return cases


def _cases():
    cases = []
    for op in ("neg", "abs", "sign"):
        cases += _unary(op, FLOATS + INTS)
    for op in ("exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "tanh", "sigmoid", "sin",
               "cos", "floor", "ceil", "erf", "atan"):
        cases += _unary(op, FLOATS)
    cases += _unary("invert", INTS)
    cases += _unary("stop_gradient", ("float32", "int32", "bool"))
    cases += _unary("logical_not", ("bool",))
    for op in ("add", "sub", "mul", "div", "mod", "maximum", "minimum", "less", "less_equal",
               "greater", "greater_equal", "equal", "not_equal"):
        cases += _binary(op, FLOATS + INTS, "edge")
    cases += _binary("pow", FLOATS, "positive")
    for op in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        cases += _binary(op, INTS, "edge")
    for op in ("equal", "not_equal", "logical_and", "logical_or"):
        cases += _binary(op, ("bool",))
    cases.append(Case("select", lambda g, c, x, y: prim(g, "select", [c, x, y]),
                      [("bool", ("a", 3)), ("float32", ("a", 3)), ("float32", (3,))]))
    for src in FLOATS + INTS + ("bool",):
        cases.append(Case("cast", lambda g, x: [prim(g, "cast", [x], dtype=d) for d in T.ALL],
                          [(src, ("a",))], ["edge"]))
    # bitcast: floats <-> ints (signed and unsigned) of one width, and int <-> int; the
    # int -> float cases make NaNs with payloads, infs and subnormals
    for src, dst in (("float32", "int32"), ("float64", "int64"), ("float32", "uint32"),
                     ("float64", "uint64"), ("int32", "float32"), ("int64", "float64"),
                     ("uint32", "float32"), ("uint64", "float64"), ("int16", "uint16"),
                     ("uint8", "int8")):
        cases.append(Case("bitcast", lambda g, x, d=dst: prim(g, "bitcast", [x],
                                                               dtype=T.as_dtype(d)),
                          [(src, ("a", 3))], ["edge"]))
    for op in ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min"):
        for axes in (None, (0,), (1,), (0, 2)):
            for keep in (False, True):
                for dt in ("float32", "int32", "float16"):
                    cases.append(Case(op, lambda g, x, op=op, axes=axes, keep=keep: prim(
                        g, op, [x], axes=axes, keepdims=keep), [(dt, ("a", "b", 3))],
                        tol=REDUCE_TOL))
    for op in ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min"):
        for dt in INTS[2:]:  # the narrow and unsigned ints: sums and products wrap
            cases.append(Case(op, lambda g, x, op=op: prim(g, op, [x], axes=(1,),
                                                              keepdims=False),
                              [(dt, ("a", "b", 3))], ["edge"]))
    for op in ("argmax", "argmin"):
        for axis in (0, 1):
            for dt in ("float32", "int64", "uint8"):
                cases.append(Case(op, lambda g, x, op=op, axis=axis: prim(
                    g, op, [x], axis=axis, dtype=T.int64), [(dt, ("a", "b"))], ["edge"]))
    cases += _movement_cases()
    cases += _source_cases()
    return cases


def _movement_cases():
    f = "float32"
    return [
        Case("transpose", lambda g, x: prim(g, "transpose", [x], perm=(2, 0, 1)),
             [(f, ("a", "b", 3))]),
        Case("reshape", lambda g, x: prim(g, "reshape", [x], shape=(-1,)), [(f, ("a", 2, 3))]),
        Case("reshape", lambda g, x: prim(g, "reshape", [x], shape=(3, -1, 2)),
             [("int32", (2, "a", 3))]),
        Case("broadcast", lambda g, x: prim(g, "broadcast", [x], shape=(2, 4, 1, 3)),
             [(f, (4, 1, 3))]),
        Case("slice", lambda g, x: prim(g, "slice", [x], begin=(1, 4, 0), size=(2, 2, 3),
                                        stride=(2, -2, 1)), [(f, (4, 5, 3))]),
        Case("concat", lambda g, x, y: prim(g, "concat", [x, y, x], axis=1),
             [(f, ("a", 2, 3)), (f, ("a", "b", 3))]),
        Case("concat", lambda g, x, y: prim(g, "concat", [x, y], axis=0),
             [("int64", ("a", 3)), ("int64", ("b", 3))]),
        Case("pad", lambda g, x: prim(g, "pad", [x], pads=((1, 2), (0, 1)), value=7.5),
             [(f, ("a", "b"))]),
        Case("patches", lambda g, x: prim(g, "patches", [x], window=(3, 2), strides=(2, 1),
                                          padding=((1, 1), (0, 1)), rhs_dilation=(1, 2),
                                          value=-1.5), [(f, ("a", 5, 4, "b"))]),
        Case("fold", lambda g, y: prim(g, "fold", [y], shape=(5, 4), window=(3, 2),
                                       strides=(2, 1), padding=((1, 1), (0, 1)),
                                       rhs_dilation=(1, 2)), [(f, ("a", 3, 3, 3, 2, "b"))],
             tol=REDUCE_TOL),
        # a window of more than 32 offsets: fold loops over it instead of unrolling
        Case("fold", lambda g, y: prim(g, "fold", [y], shape=(7, 6), window=(3, 12),
                                       strides=(2, 1), padding=((1, 1), (3, 3)),
                                       rhs_dilation=(2, 1)), [(f, ("a", 3, 1, 3, 12, "b"))],
             tol=REDUCE_TOL),
        Case("gather", lambda g, p, i: prim(g, "gather", [p, i], axis=1),
             [(f, ("a", 3, 2)), ("int32", ("b", 2))], ["normal", "index"]),
        Case("gather", lambda g, p, i: prim(g, "gather", [p, i], axis=0),
             [(f, ("a", 2)), ("int64", ("b",))], ["normal", "normal"]),
        # random conditions: mostly false (both backends raise), all true for a = 0
        Case("check", lambda g, c: prim(g, "check", [c], message="m"), [("bool", ("a", 3))]),
        Case("scatter_add", lambda g, u, i: prim(g, "scatter_add", [u, i], shape=(2, 3, 4),
                                                 axis=1),
             [(f, (2, "a", 4)), ("int64", ("a",))], ["normal", "index"]),
        # index 0..2 against a leading extent of 0..5: in range and out of range both
        Case("dynamic_update_slice", lambda g, x, u, i: prim(g, "dynamic_update_slice",
                                                              [x, u, i]),
             [(f, ("a", "b", 2)), (f, ("b", 2)), ("int32", ())], ["normal", "normal", "index"]),
        Case("dynamic_update_slice", lambda g, x, u, i: prim(g, "dynamic_update_slice",
                                                              [x, u, i]),
             [("int64", ("a",)), ("int64", ()), ("int64", ())], ["normal", "normal", "index"]),
        Case("matmul", lambda g, a, b: prim(g, "matmul", [a, b], transpose_a=False,
                                            transpose_b=False),
             [(f, ("a", "b")), (f, ("b", 3))], tol=REDUCE_TOL),
        Case("matmul", lambda g, a, b: prim(g, "matmul", [a, b], transpose_a=True,
                                            transpose_b=True),
             [("float64", (2, "b", "a")), ("float64", (3, "b"))], tol=REDUCE_TOL),
        Case("matmul", lambda g, a, b: prim(g, "matmul", [a, b], transpose_a=False,
                                            transpose_b=False),
             [("float16", (2, 1, "a", 4)), ("float16", (3, 4, 2))], tol=REDUCE_TOL),
        Case("matmul", lambda g, a, b: prim(g, "matmul", [a, b], transpose_a=False,
                                            transpose_b=True),
             [("int32", ("a", 4)), ("int32", (5, 4))]),
        # conv: a symbolic batch, strides, padding (negative too) and both dilations
        Case("conv", lambda g, x, w: prim(g, "conv", [x, w], strides=(2, 1),
                                          padding=((1, 2), (-1, 1)), lhs_dilation=(1, 2),
                                          rhs_dilation=(2, 1)),
             [(f, ("a", 6, 4, 3)), (f, (2, 2, 3, 2))], tol=REDUCE_TOL),
        Case("conv", lambda g, x, w: prim(g, "conv", [x, w], strides=(1,), padding=((1, 1),),
                                          lhs_dilation=(1,), rhs_dilation=(1,)),
             [("float64", ("a", 5, 2)), ("float64", (3, 2, 3))], tol=REDUCE_TOL),
        Case("conv", lambda g, x, w: prim(g, "conv", [x, w], strides=(1, 1, 2),
                                          padding=((0, 0), (1, 0), (0, 1)),
                                          lhs_dilation=(1, 1, 1), rhs_dilation=(1, 1, 1)),
             [("float16", ("a", 2, 3, 4, 2)), ("float16", (1, 2, 2, 2, 3))], tol=REDUCE_TOL),
    ]


def _assign_build(g, value, cur):
    return prim(g, "assign", [value], var="v", dtype=T.float32, shape=(2, 3))


def _assign_add_build(g, value, cur):
    return prim(g, "assign_add", [cur, value], var="v", dtype=T.float32, shape=(2, 3))


def _source_cases():
    from compiler.ir.const import Const
    cases = [
        Case("constant", lambda g, x: prim(g, "add", [x, prim(g, "constant", [], value=Const(
            np.arange(6, dtype=np.float32).reshape(2, 3)))]), [("float32", ("a", 2, 3))]),
        Case("iota", lambda g, x: prim(g, "iota", [], shape=(3, 4), axis=1, dtype=T.int32),
             [("float32", ("a",))]),
        Case("shape", lambda g, x: prim(g, "shape", [x], dtype=T.int64),
             [("float32", ("a", 5, "b"))]),
        Case("placeholder", lambda g, x: x, [("float32", ("a", 2))]),
        Case("assign", _assign_build, [("float32", (2, 3)), ("float32", (2, 3))]),
        Case("assign_add", _assign_add_build, [("float32", (2, 3)), ("float32", (2, 3))]),
    ]
    for op in ("random_uniform", "random_normal"):
        for dt in (T.float32, T.float64, T.float16):
            cases.append(Case(op, lambda g, x, op=op, dt=dt: prim(
                g, op, [], shape=(3, 40), dtype=dt, seed=11, op_seed=7),
                [("float32", ("a",))]))
    return cases


CASES = _cases()


def test_every_op_has_a_differential_case():
    covered = {c.op for c in CASES} | {"variable"}  # variable: see test_variable_reads
    # control flow (param, while, cond, get): tests/test_control_flow*.py
    covered |= set(names(lambda op: op.fusion == "control")) | {"param"}
    assert set(OPS) <= covered, sorted(set(OPS) - covered)


def test_every_op_has_rules_for_each_concern():
    from compiler.backends.llvm import scalar_ops
    from compiler.lower.nests import EXPR_RULES, ROOT_RULES
    for name, op in OPS.items():
        assert callable(op.infer) and callable(op.ref), name
        if op.fusion == "elementwise" and name not in ("cast", "select"):
            n = op.arity
            table = scalar_ops.UNARY if n == 1 else scalar_ops.BINARY
            assert name in table, f"{name} has no LLVM scalar rule"
        elif op.fusion in ("movement", "reduce", "contraction", "opaque", "state"):
            assert name in EXPR_RULES | ROOT_RULES, f"{name} has no lowering rule"
        elif name in ("iota", "random_uniform", "random_normal", "shape"):
            assert name in EXPR_RULES | ROOT_RULES, f"{name} has no lowering rule"


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(a=st.sampled_from([0, 1, 2, 5]), b=st.sampled_from([0, 1, 3]),
       seed=st.integers(0, 2**16))
def test_compiled_matches_interpreter(case, a, b, seed):
    rng = np.random.default_rng(seed)
    arrays = case.arrays(rng, {"a": a, "b": b})
    variables = {"v": rng.standard_normal((2, 3)).astype(np.float32)}
    ref, got = case.compiled.run_both(arrays, variables, counter=seed)
    if ref is None:  # both raised the same error type (e.g. an out-of-range index)
        return
    for g, r in zip(got, ref):
        assert_close(g, r, tol=case.tol)


def test_variable_reads():
    c = Compiled(lambda g, x: prim(g, "add", [x, prim(g, "variable", [], var="w",
                                                        dtype=T.float32, shape=(3,))]),
                 [("float32", ("a", 3))])
    w = np.arange(3, dtype=np.float32)
    x = np.ones((2, 3), np.float32)
    ref, got = c.run_both([x], {"w": w})
    assert_close(got[0], ref[0])
    np.testing.assert_array_equal(got[0], x + w)
