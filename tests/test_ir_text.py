"""The IR text form: printing and parsing round-trip for programs built through the
frontend and for a program holding one node of every op in the op table; attribute
values of every kind; symbolic dim expressions (hypothesis, derandomized); parse errors;
and a parsed program executed by the reference interpreter."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler as fc
from compiler.convert import convert
from compiler.interpret import interpret
from compiler.ir import dims as D
from compiler.ir import dtypes as T
from compiler.ir import nodes
from compiler.ir.const import Const
from compiler.ir.nodes import NodeCache, Program, region_program
from compiler.ir.regions import Region, program_nodes
from compiler.ir.text import ParseError, node_order, parse_program, print_program
from compiler.ir.textvalues import VALUE_PARSERS, Cursor, parse_dim
from compiler.ir.types import TensorType, TupleType
from compiler.ir.verify import verify
from compiler.ops import OPS, InferContext
from compiler.ops.table import ATTR_KINDS

N0 = D.DimExpr.atom(D.Sym("N0"))


# ---- program builders (also used by test_verify.py) -------------------------------------
def mlp_program():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        y = fc.placeholder(fc.float32, [None, 3], name="y")
        w = fc.Variable(np.arange(12, dtype=np.float32).reshape(3, 4) / 7, name="w")
        b = fc.Variable(np.zeros(4, np.float32), name="b")
        h = fc.add(fc.matmul(fc.add(x, y), w), b)
        out = fc.maximum(h, 0.0)
        step = w.assign_add(fc.constant(np.full((3, 4), 0.25, np.float32)))
    return convert(g, [out, h], [x, y], targets=[step.op])


def cast_program():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.int32, [None], name="ids")
        f = fc.cast(x, fc.float64)
        big = fc.constant(np.linspace(-1, 1, 40).reshape(8, 5))
        mixed = fc.multiply(fc.cast(big, fc.float64), 2.0)
        q = fc.divide(f, fc.constant(3.0, dtype=fc.float64))
        fetches = [q, fc.subtract(mixed, 1.0), fc.cast(f, fc.bool)]
    return convert(g, fetches, [x])


def targets_only_program():
    g = fc.Graph()
    with g.as_default():
        v = fc.Variable([1.0, 2.0], name="counter")
        inc = v.assign_add([1.0, 1.0])
        with g.control_dependencies([inc.op]):
            reset = v.assign(fc.constant([0.0, 0.0]))
        last = fc.minimum(reset, 5.0)
    return convert(g, [], [], targets=[last.op])


def loop_program():
    """tf.while_loop with a nest, a cond inside the body and a variable read in it."""
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        w = fc.Variable(np.ones((3, 3), np.float32), name="w")

        def body(i, h):
            return i + 1, fc.cond(i < 2, lambda: fc.tanh(fc.matmul(h, w)), lambda: h * 0.5)
        _, out = fc.while_loop(lambda i, h: i < 4, body, (fc.constant(0), x))
    return convert(g, [out], [x])


FRONTEND_PROGRAMS = [mlp_program, cast_program, targets_only_program, loop_program]


class _Builder:
    """Makes nodes through one NodeCache, inferring each type with the op table."""

    def __init__(self):
        self.cache = NodeCache()
        self.table = D.SymbolTable()
        self.count = 0

    def make(self, op, inputs=(), **attrs):
        opdef = OPS[op]
        ty = opdef.infer([n.type for n in inputs], attrs, InferContext(self.table, op))
        if not isinstance(ty, TupleType):
            ty = TensorType(ty.dtype, InferContext(self.table).resolve_shape(ty.shape))
        token = nodes.new_token() if opdef.needs_token or op == "param" else 0
        node = self.cache.make(op, inputs, attrs, ty, token)
        self.count += 1
        node.add_provenance(f"{op}_node", f"model.py:{self.count}")
        return node

    def placeholder(self, name, dtype, shape):
        return self.make("placeholder", name=name, dtype=dtype, shape=shape)


_SPECS = {   # op -> (input names, attrs); elementwise ops without attrs are automatic
    "select": (["b", "x", "x"], {}),
    "cast": (["x"], {"dtype": T.int64}),
    "bitcast": (["x"], {"dtype": T.int32}),
    "reshape": (["x"], {"shape": (-1,)}),
    "transpose": (["x"], {"perm": (1, 0)}),
    "broadcast": (["x"], {"shape": (2, N0, 3)}),
    "slice": (["x"], {"begin": (0, 1), "size": (N0, 2), "stride": (1, 1)}),
    "concat": (["x", "x", "x"], {"axis": 0}),
    "pad": (["x"], {"pads": ((1, 0), (0, 2)), "value": float("-inf")}),
    "gather": (["x", "i"], {"axis": 1}),
    "check": (["b"], {"message": "assertion failed: [x > 0] \"quoted\""}),
    "scatter_add": (["u", "i"], {"shape": (N0, 7), "axis": 1}),
    "dynamic_update_slice": (["x", "row", "s"], {}),
    "patches": (["x3"], {"window": (2,), "strides": (1,), "padding": ((1, 0),),
                         "rhs_dilation": (1,), "value": float("-inf")}),
    "fold": (["u4"], {"shape": (2,), "window": (2,), "strides": (1,), "padding": ((0, 1),),
                      "rhs_dilation": (1,)}),
    "reduce_sum": (["x"], {"axes": None, "keepdims": True}),
    "reduce_prod": (["x"], {"axes": (0,), "keepdims": False}),
    "reduce_max": (["x"], {"axes": (0, 1), "keepdims": False}),
    "reduce_min": (["x"], {"axes": (1,), "keepdims": True}),
    "argmax": (["x"], {"axis": 1, "dtype": T.int64}),
    "argmin": (["x"], {"axis": 0, "dtype": T.int32}),
    "variable": ([], {"var": "w", "dtype": T.float32, "shape": (3, 4)}),
    "constant": ([], {"value": Const(np.arange(6, dtype=np.float32).reshape(2, 3))}),
    "iota": ([], {"shape": (N0, 3), "axis": 0, "dtype": T.int32}),
    "random_uniform": ([], {"shape": (N0, 3), "dtype": T.float32, "seed": 1, "op_seed": 2}),
    "random_normal": ([], {"shape": (4,), "dtype": T.float64, "seed": 1, "op_seed": 3}),
    "shape": (["x"], {"dtype": T.int32}),
    "matmul": (["x", "w"], {"transpose_a": False, "transpose_b": False}),
    "conv": (["xc", "wc"], {"strides": (1,), "padding": ((1, -1),), "lhs_dilation": (2,),
                            "rhs_dilation": (1,)}),
    "assign": (["c"], {"var": "v", "dtype": T.float32, "shape": (3, 4)}),
    "assign_add": (["w", "c"], {"var": "w", "dtype": T.float32, "shape": (3, 4)}),
}


def _auto_node(b, op, base):
    """An elementwise op without attrs, on the first operand dtype it accepts."""
    for name in ("x", "i", "b"):
        try:
            return b.make(op, [base[name]] * OPS[op].arity)
        except TypeError:
            continue
    raise AssertionError(f"no operand dtype works for {op}")


def _control_nodes(b, base) -> dict:
    """A while loop over (int32 counter, x) and a cond on its result: param, while,
    cond and get nodes (a get among the outputs)."""
    def params(types):
        return [b.make("param", index=i, dtype=t.dtype, shape=t.shape)
                for i, t in enumerate(types)]
    x = base["x"]
    i0 = b.make("constant", value=Const(np.array(0, np.int32)))
    limit = b.make("constant", value=Const(np.array(3, np.int32)))
    cp, bp = params([i0.type, x.type, limit.type]), params([i0.type, x.type, limit.type])
    cond = Region(cp, [b.make("less", [cp[0], cp[2]])])
    one = b.make("constant", value=Const(np.array(1, np.int32)))
    body = Region(bp, [b.make("add", [bp[0], one]), b.make("exp", [bp[1]])])
    loop = b.make("while", [i0, x, limit], carried=2, cond=cond, body=body)
    count, value = b.make("get", [loop], index=0), b.make("get", [loop], index=1)
    tp, ep = params([x.type]), params([x.type])
    then = Region(tp, [b.make("tanh", [tp[0]])])
    branch = b.make("cond", [b.make("less", [count, limit]), value], then=then,
                    **{"else": Region(ep, [ep[0]])})
    return {"get": b.make("get", [branch], index=0)}


def all_ops_program() -> Program:
    """One program with a node of every op in the op table among its outputs."""
    b = _Builder()
    base = {"x": b.placeholder("x:0", T.float32, (N0, 3)),
            "i": b.placeholder("i:0", T.int32, (4,)),
            "b": b.placeholder("b:0", T.bool_, (N0, 3)),
            "u": b.placeholder("u:0", T.float32, (N0, 4))}
    base["w"] = b.make("variable", **_SPECS["variable"][1])
    base["c"] = b.make("constant", value=Const(np.ones((3, 4), np.float32)))
    base["s"] = b.make("reduce_sum", [base["i"]], axes=None, keepdims=False)
    base["row"] = b.make("reduce_sum", [base["x"]], axes=(0,), keepdims=False)
    base["x3"] = b.make("reshape", [base["x"]], shape=(N0, 3, 1))     # [N, S, C]: patches
    base["u4"] = b.make("reshape", [base["u"]], shape=(N0, 2, 2, 1))  # [N, O, K, C]: fold
    base["xc"] = b.make("reshape", [base["x"]], shape=(N0, 1, 3))       # conv operands
    base["wc"] = b.make("constant", value=Const(np.ones((1, 3, 2), np.float32)))
    made = {}
    for op, opdef in OPS.items():
        if op in _SPECS:
            names, attrs = _SPECS[op]
            made[op] = b.make(op, [base[n] for n in names], **attrs)
        elif opdef.fusion == "elementwise" and not opdef.attrs:
            made[op] = _auto_node(b, op, base)
        elif opdef.fusion == "control" or op == "param":
            continue
        elif op != "placeholder":
            raise AssertionError(f"op {op!r} has no case in test_ir_text._SPECS; add one")
    made.update(_control_nodes(b, base))
    effects = {"w": made.pop("assign_add"), "v": made.pop("assign")}
    return Program(inputs=[base[k] for k in "xibu"], outputs=list(made.values()),
                   effects=effects, symbols=[D.Sym("N0")],
                   checks=[(D.mul(N0, 2), D.add(N0, 3), "a check 'with' \"quotes\"")],
                   bounds=[(0, D.sub(N0, 1), "slice"), (D.floordiv(N0, 2), 7, "")],
                   symbol_origins={"N0": ("x", 0)},
                   input_dim_reasons={(0, 0): "add at model.py:1", (2, 1): "why"},
                   name="every_op")


# ---- structural comparison -------------------------------------------------------------
def _same_value(a, b) -> bool:
    """Equal attr values; NaN equals NaN, and a float attr may come back as a float;
    regions compare as programs."""
    if isinstance(a, Region):
        if not isinstance(b, Region):
            return False
        assert_same_program(region_program(a), region_program(b))
        return True
    if isinstance(a, tuple):
        return (isinstance(b, tuple) and len(a) == len(b)
                and all(_same_value(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def assert_same_program(p: Program, q: Program):
    tp, tq = p.topo(), q.topo()
    assert [n.op for n in tp] == [n.op for n in tq]
    ip = {id(n): k for k, n in enumerate(tp)}
    iq = {id(n): k for k, n in enumerate(tq)}
    for a, b in zip(tp, tq, strict=True):
        assert [ip[id(x)] for x in a.inputs] == [iq[id(x)] for x in b.inputs], a
        assert [k for k, _ in a.attrs] == [k for k, _ in b.attrs], a
        for (k, va), (_, vb) in zip(a.attrs, b.attrs, strict=True):
            assert _same_value(va, vb), (a, k, va, vb)
        assert (a.type, a.token, a.names, a.locs) == (b.type, b.token, b.names, b.locs)
    assert [ip[id(n)] for n in p.outputs] == [iq[id(n)] for n in q.outputs]
    assert [ip[id(n)] for n in p.inputs] == [iq[id(n)] for n in q.inputs]
    assert {k: ip[id(n)] for k, n in p.effects.items()} == {
        k: iq[id(n)] for k, n in q.effects.items()}
    assert list(p.effects) == list(q.effects)
    assert [s.name for s in p.symbols] == [s.name for s in q.symbols]
    assert p.checks == q.checks
    assert p.bounds == q.bounds
    assert p.symbol_origins == q.symbol_origins
    assert p.input_dim_reasons == q.input_dim_reasons
    assert p.name == q.name


def round_trip(program: Program) -> Program:
    text = print_program(program)
    parsed = parse_program(text)
    assert print_program(parsed) == text
    assert_same_program(program, parsed)
    return parsed


# ---- round trips -------------------------------------------------------------------------
@pytest.mark.parametrize("build", FRONTEND_PROGRAMS, ids=lambda f: f.__name__)
def test_frontend_programs_round_trip(build):
    round_trip(build())


def test_every_op_prints_and_parses():
    program = all_ops_program()
    assert {n.op for n in program_nodes(program)} == set(OPS)
    parsed = round_trip(program)
    assert parsed.symbols[0].origin == "x[0]"


def test_node_order_is_topo_order():
    for build in FRONTEND_PROGRAMS:
        program = build()
        if build is not loop_program:
            assert node_order(program) == program.topo()
    # with regions: each region's nodes (recursively) come just before the op holding it
    for program in (all_ops_program(), loop_program()):
        assert node_order(program) == program_nodes(program)
        outer = set(program.topo())
        assert [n for n in node_order(program) if n in outer] == program.topo()


def test_value_parsers_cover_every_attr_kind():
    assert set(VALUE_PARSERS) == ATTR_KINDS


def _one_node_program(op, inputs=(), **attrs):
    b = _Builder()
    node = b.make(op, [b.placeholder(n, dt, s) for n, dt, s in inputs], **attrs)
    phs = list(node.inputs)
    syms = sorted({s for i in phs for d in i.shape or () if isinstance(d, D.DimExpr)
                   for s in d.symbols()}, key=lambda s: s.name)
    return Program(phs, [node], {}, syms)


_X = [("x:0", T.float32, (N0, 3))]
_CONSTS = [
    np.float32(1.5), np.array([True, False]), np.array([2**62, -(2**63)], np.int64),
    np.array([0.1, -0.0, np.inf, -np.inf, np.nan], np.float16),
    np.array([1e-300, 0.1, 1 / 3], np.float64), np.zeros((0, 3), np.float32),
    np.zeros((3, 0), np.int32), np.arange(64, dtype=np.float32).reshape(4, 16) / 3,
    np.frombuffer(b"\x01\x00\xc0\xff", np.float32),  # a negative NaN with a payload
    np.random.default_rng(0).standard_normal((5, 7)),
]


@pytest.mark.parametrize("value", _CONSTS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_constants_round_trip_exactly(value):
    parsed = round_trip(_one_node_program("constant", value=Const(value)))
    got = parsed.outputs[0].attr["value"].array
    assert got.dtype == value.dtype and got.tobytes() == np.asarray(value).tobytes()


def test_small_constants_print_inline_and_large_ones_as_hex():
    small = print_program(_one_node_program("constant", value=Const(np.array([1.5, -2.0]))))
    assert "dense<float64[2]>[1.5, -2.0]" in small
    big = print_program(_one_node_program("constant", value=Const(np.ones(17, np.float16))))
    assert 'dense<float16[17]>"0x003C003C' in big


@pytest.mark.parametrize("pad_value", [float("nan"), float("inf"), -0.0, 1e-300, 0])
def test_float_attrs_round_trip(pad_value):
    round_trip(_one_node_program("pad", _X, pads=((0, 1), (2, 3)), value=pad_value))


@pytest.mark.parametrize("name", ['quote " and \\ backslash', "tab\tnewline\n", "é ü ∑ 😀",
                                  "# not a comment", "a@b, c"])
def test_string_attrs_and_provenance_round_trip(name):
    b = _Builder()
    node = b.placeholder(name, T.float32, None)
    node.names[:] = [name, "plain/name"]
    node.locs[:] = [name, "file.py:3"]
    round_trip(Program([node], [node], {}, []))


@pytest.mark.parametrize("axes", [None, (), (0,), (0, 1)])
def test_axes_round_trip(axes):
    round_trip(_one_node_program("reduce_sum", _X, axes=axes, keepdims=False))


def test_symbolic_dims_in_attrs_round_trip():
    n1 = D.DimExpr.atom(D.Sym("N1"))
    inputs = [("x:0", T.float32, (N0, n1, 3))]
    size = (D.floordiv(D.add(N0, 1), 2), n1, D.sub(3, 1))
    program = _one_node_program("slice", inputs, begin=(0, 0, 1), size=size,
                                stride=(2, 1, 1))
    text = print_program(program)
    assert "size=[(N0+1//2),N1,2]" in text
    round_trip(program)


def test_tokens_keep_stateful_nodes_apart():
    b = _Builder()
    attrs = {"shape": (3,), "dtype": T.float32, "seed": 0, "op_seed": 7}
    r1, r2 = b.make("random_uniform", **attrs), b.make("random_uniform", **attrs)
    assert r1 is not r2
    parsed = round_trip(Program([], [r1, r2], {}, []))
    assert parsed.outputs[0] is not parsed.outputs[1]
    assert [n.token for n in parsed.outputs] == [r1.token, r2.token]


def test_parsing_reserves_the_tokens_it_reads():
    text = ("program @p() {\n"
            "  %0 = random_normal() {dtype=float32, op_seed=1, seed=2, shape=[2]} : "
            "float32[2] token=900000\n  return (%0)\n}\n")
    parse_program(text)
    assert nodes.new_token() > 900000


def test_golden_text():
    b = _Builder()
    x = b.placeholder("x:0", T.float32, (N0, 2))
    e = b.make("exp", [x])
    s = b.make("reduce_sum", [e], axes=(1,), keepdims=False)
    program = Program([x], [s, e], {}, [D.Sym("N0")], symbol_origins={"N0": ("x", 0)})
    assert print_program(program) == (
        'program @main(%0: float32[N0,2]) symbols(N0) {\n'
        '  origin N0 = ("x", 0)\n'
        '  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,2]} : float32[N0,2]'
        '  # placeholder_node @ model.py:1\n'
        '  %1 = exp(%0) : float32[N0,2]  # exp_node @ model.py:2\n'
        '  %2 = reduce_sum(%1) {axes=[1], keepdims=false} : float32[N0]'
        '  # reduce_sum_node @ model.py:3\n'
        '  return (%2, %1)\n'
        '}\n')


def test_hand_written_text_may_number_freely_and_comment():
    text = """
    # a comment line, then a blank one

    program @"my prog"(%10: int32[4]) {
      %10 = placeholder() {name="a:0", dtype=int32, shape=[4]} : int32[4]
      %3 = neg(%10) : int32[4]
      %4 = neg(%10) : int32[4]  # twin, "a name" @ m.py:9
      # %4 is the same node as %3: structurally equal lines intern to one node
      return (%3, %4)
    }
    """
    program = parse_program(text)
    assert program.name == "my prog"
    assert program.outputs[0] is program.outputs[1]
    assert program.outputs[0].names == ["twin", "a name"]
    assert program.outputs[0].locs == ["m.py:9"]
    assert '%1 = neg(%0) : int32[4]  # twin, "a name" @ m.py:9' in print_program(program)


# ---- dim expressions ---------------------------------------------------------------------
def _parse_dim_text(text):
    c = Cursor(1, text, {})
    d = parse_dim(c)
    c.finish()
    return d


@pytest.mark.parametrize("text", ["3", "-2", "N0", "-N0", "N0*-3", "N0-N1", "N1*N0+2",
                                  "N0*3+(N1//2)", "(N0*3+1//2)*2-7", "((N0+1//2)*N1+1//3)"])
def test_dim_texts_round_trip(text):
    d = _parse_dim_text(text)
    assert _parse_dim_text(D.format_dim(d)) == d


_SYMS = [D.DimExpr.atom(D.Sym(n)) for n in ("N0", "N1", "N12")]
_DIMS = st.recursive(
    st.integers(-6, 6) | st.sampled_from(_SYMS),
    lambda inner: (st.builds(D.add, inner, inner) | st.builds(D.mul, inner, inner)
                   | st.builds(D.sub, inner, inner)
                   | st.builds(D.floordiv, inner, st.integers(1, 5))),
    max_leaves=8)


@settings(derandomize=True, max_examples=50, deadline=None)
@given(_DIMS)
def test_dim_expressions_round_trip(d):
    text = D.format_dim(d)
    parsed = _parse_dim_text(text)
    assert parsed == d
    assert D.format_dim(parsed) == text
    env = {"N0": 5, "N1": 7, "N12": 2}
    if isinstance(d, D.DimExpr):
        assert parsed.evaluate(env) == d.evaluate(env)


# ---- parse errors ------------------------------------------------------------------------
_BASE = """program @main(%0: float32[N0,3]) symbols(N0) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]
  %1 = exp(%0) : float32[N0,3]
  %2 = add(%0, %1) : float32[N0,3]
  return (%2)
}
"""
_LINE2 = "%1 = exp(%0) : float32[N0,3]"


@pytest.mark.parametrize("old, new, lineno, expected", [
    (_LINE2, "%1 = expo(%0) : float32[N0,3]", 3, "unknown op 'expo' (did you mean 'exp'?)"),
    (_LINE2, "%1 = exp(%7) : float32[N0,3]", 3, "%7 is not defined"),
    (_LINE2, "%1 = exp(%2) : float32[N0,3]", 3, "%2 is used before its definition on line 4"),
    (_LINE2, "%1 = exp(%0) {axis=1} : float32[N0,3]", 3, "exp has no attribute 'axis'"),
    (_LINE2, "%1 = exp(%0, %0) : float32[N0,3]", 3, "exp takes 1 input(s), got 2"),
    (_LINE2, "%1 = exp(%0) float32[N0,3]", 3, "expected ':', got 'float32'"),
    (_LINE2, "%1 = exp(%0) : float32[N0,4]", 3, "is not the type inference gives"),
    (_LINE2, "%1 = exp(%0) : float33[N0,3]", 3, "unknown dtype 'float33'"),
    (_LINE2, "%1 = exp(%0) : float32[N0,3] $", 3, "unexpected character '$'"),
    (_LINE2, "%0 = exp(%0) : float32[N0,3]", 3, "%0 is already defined on line 2"),
    (_LINE2, "%1 = cast(%0) {dtype=float64, dtype=int32} : float64[N0,3]", 3, "given twice"),
    (_LINE2, "%1 = cast(%0) : float64[N0,3]", 3, "cast needs attribute(s) dtype"),
    (_LINE2, "%1 = cast(%0) {dtype=3} : float64[N0,3]", 3, "attribute dtype (dtype)"),
    (_LINE2, "%1 = reshape(%0) {shape=[N0*3//2]} : float32[N0]", 3, "expected ',', got '//'"),
    (_LINE2, "%1 = exp(%0) : float32[N0,3] token=-1", 3, "token is a positive integer"),
    (_LINE2, "%1 = log(%0) : float32[N0,3] # a, b @ c @ d", 3, "two '@'"),
    (_LINE2, "%1 exp(%0)", 3, "expected '=', got 'exp'"),
    ("  return (%2)\n", "  return (%2)\n  return (%1)\n", 6, "a second 'return' statement"),
    (_LINE2, "frobnicate 3", 3, "expected '%N = op(...)' or one of return"),
    ("  return (%2)\n", "", 5, "no 'return (...)' statement"),
    ("%0: float32[N0,3]", "%0: float32[N0,2]", 1, "input %0 is declared float32[N0,2]"),
    ("%0: float32[N0,3]", "%5: float32[N0,3]", 1, "input %5 is not defined"),
    ("}\n", "", 5, "expected the program to end with a line '}'"),
    ("program @main", "prog @main", 1, "expected 'program', got 'prog'"),
    ('name="x:0"', 'name="x:0\\q"', 2, "bad escape"),
])
def test_parse_errors_name_the_line(old, new, lineno, expected):
    assert old in _BASE
    text = _BASE.replace(old, new)
    with pytest.raises(ParseError) as info:
        parse_program(text)
    message = str(info.value)
    assert expected in message
    assert message.startswith(f"line {lineno}: ")
    shown = text.splitlines()[lineno - 1].strip()
    assert message.endswith(f"{lineno} | {shown}")
    assert info.value.lineno == lineno


def test_parse_error_is_a_value_error():
    assert issubclass(ParseError, ValueError)
    with pytest.raises(ValueError, match="empty"):
        parse_program("  \n# nothing\n")


def test_bad_constant_data_is_reported():
    line = '  %0 = constant() {value=dense<int32[2,2]>[[1, 2], [3]]} : int32[2,2]'
    with pytest.raises(ParseError, match="constant data has 1 rows where its shape"):
        parse_program(f"program @p() {{\n{line}\n  return (%0)\n}}")
    line = '  %0 = constant() {value=dense<int32[2]>"0x0100"} : int32[2]'
    with pytest.raises(ParseError, match="8 bytes in hex"):
        parse_program(f"program @p() {{\n{line}\n  return (%0)\n}}")


# ---- parse, then run ---------------------------------------------------------------------
_RUNNABLE = """program @affine(%0: float32[N0,3]) symbols(N0) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]
  %1 = constant() {value=dense<float32[3,2]>[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]} : float32[3,2]
  %2 = matmul(%0, %1) {transpose_a=false, transpose_b=false} : float32[N0,2]
  %3 = constant() {value=dense<float32[2]>[0.5, -1.0]} : float32[2]
  %4 = add(%2, %3) : float32[N0,2]
  %5 = reduce_sum(%4) {axes=[1], keepdims=false} : float32[N0]
  %6 = reshape(%0) {shape=[-1]} : float32[N0*3]
  %7 = variable() {dtype=float32, shape=[2], var="acc"} : float32[2]
  %8 = reduce_sum(%4) {axes=[0], keepdims=false} : float32[2]
  %9 = assign_add(%7, %8) {dtype=float32, shape=[2], var="acc"} : float32[2] token=5
  return (%4, %5, %6)
  effect "acc" = %9
}
"""


def test_parsed_program_runs_in_the_interpreter():
    program = parse_program(_RUNNABLE)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    acc = np.array([10.0, 20.0], np.float32)
    (h, s, flat), updates = interpret(program, [x], {"acc": acc}, 0)
    want = x @ np.array([[1, 2], [3, 4], [5, 6]], np.float32) + np.array([0.5, -1.0],
                                                                          np.float32)
    np.testing.assert_allclose(h, want, rtol=1e-6)
    np.testing.assert_allclose(s, want.sum(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(flat, x.reshape(-1))
    np.testing.assert_allclose(updates["acc"], acc + want.sum(axis=0), rtol=1e-6)
    assert print_program(parse_program(print_program(program))) == print_program(program)


def test_the_example_in_docs_parses_verifies_and_reprints():
    doc = (Path(__file__).parent.parent / "docs" / "ir.md").read_text()
    start = doc.index("```\nprogram @main(") + 4
    text = doc[start:doc.index("```", start)]
    program = parse_program(text)
    verify(program)
    assert print_program(program) == text


def test_nan_float_attrs_still_merge():
    from compiler.ir import dtypes
    from compiler.ir.nodes import NodeCache
    from compiler.ir.types import TensorType
    cache = NodeCache()
    t = TensorType(dtypes.float32, (2,))
    x = cache.make("placeholder", [], {"name": "x:0", "dtype": dtypes.float32, "shape": (2,)}, t)
    a = cache.make("pad", [x], {"pads": ((0, 0),), "value": float("nan")}, t)
    b = cache.make("pad", [x], {"pads": ((0, 0),), "value": float("nan")}, t)
    assert a is b
