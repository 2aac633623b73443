"""The simplification rules, as before/after IR text: every rule has a positive case run
with only the rules it names switched on, and cases where it must not fire (IEEE special
values, broadcasting that changes the type, inexact casts, missing run-time checks) run
with every rule on. Both programs are executed on the interpreter with NaN, inf and
signed zeros among the inputs and must give bit-identical results. A completeness test
requires a positive case and a docs/passes.md entry for every rule."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from test_passes import check_pass, program

from passes import simplify as simplify_module
from passes.simplify import RULES, simplify

HEAD_X = """program @main(%0: float32[N0,3]) symbols(N0) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]
"""
HEAD_I = """program @main(%0: int32[N0]) symbols(N0) {
  %0 = placeholder() {dtype=int32, name="i:0", shape=[N0]} : int32[N0]
"""
HEAD_XY = """program @main(%0: float32[N0,3], %1: float32[3]) symbols(N0) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]
  %1 = placeholder() {dtype=float32, name="y:0", shape=[3]} : float32[3]
"""
HEAD_V = """program @main(%0: float32[N0]) symbols(N0) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0]} : float32[N0]
"""
HEAD_XB = """program @main(%0: float32[N0,3,4], %1: float32[3]) symbols(N0) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3,4]} : float32[N0,3,4]
  %1 = placeholder() {dtype=float32, name="b:0", shape=[3]} : float32[3]
"""
HEAD_XY3 = """program @main(%0: float32[N0,3,4], %1: float32[N0,2,4]) symbols(N0) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3,4]} : float32[N0,3,4]
  %1 = placeholder() {dtype=float32, name="y:0", shape=[N0,2,4]} : float32[N0,2,4]
"""
IDENTITY_X = HEAD_X + "  return (%0)\n}"

_COND_X = HEAD_X + """
  %1 = constant() {value=dense<bool[]>PRED} : bool[]
  region @r0(%2) {
    %2 = param() {dtype=float32, index=0, shape=[N0,3]} : float32[N0,3] token=1
    %3 = exp(%2) : float32[N0,3]
    yield (%3)
  }
  region @r1(%4) {
    %4 = param() {dtype=float32, index=0, shape=[N0,3]} : float32[N0,3] token=2
    %5 = neg(%4) : float32[N0,3]
    yield (%5)
  }
  %6 = cond(%1, %0) {else=@r1, then=@r0} : tuple<float32[N0,3]>
  %7 = get(%6) {index=0} : float32[N0,3]
  return (%7)
}"""
_WHILE_X = HEAD_X + """
  %1 = constant() {value=dense<int32[]>0} : int32[]
  region @r0(%2, %3) {
    %2 = param() {dtype=int32, index=0, shape=[]} : int32[] token=1
    %3 = param() {dtype=float32, index=1, shape=[N0,3]} : float32[N0,3] token=2
    %4 = constant() {value=dense<bool[]>false} : bool[]
    yield (%4)
  }
  region @r1(%5, %6) {
    %5 = param() {dtype=int32, index=0, shape=[]} : int32[] token=3
    %6 = param() {dtype=float32, index=1, shape=[N0,3]} : float32[N0,3] token=4
    %7 = exp(%6) : float32[N0,3]
    yield (%5, %7)
  }
  %8 = while(%1, %0) {body=@r1, carried=2, cond=@r0} : tuple<int32[], float32[N0,3]>
  %9 = get(%8) {index=1} : float32[N0,3]
  %10 = neg(%9) : float32[N0,3]
  return (%10)
}"""

# (rules that fire, before, after)
POSITIVE = {
    "cond_true_takes_then": (["cond_constant_predicate"], _COND_X.replace("PRED", "true"),
                             HEAD_X + "  %1 = exp(%0) : float32[N0,3]\n  return (%1)\n}"),
    "cond_false_takes_else": (["cond_constant_predicate"], _COND_X.replace("PRED", "false"),
                              HEAD_X + "  %1 = neg(%0) : float32[N0,3]\n  return (%1)\n}"),
    "while_false_never_runs": (["while_never_runs"], _WHILE_X,
                               HEAD_X + "  %1 = neg(%0) : float32[N0,3]\n  return (%1)\n}"),
    "int_zero_plus_x": (["add_zero"], HEAD_I + """
  %1 = constant() {value=dense<int32[]>0} : int32[]
  %2 = add(%1, %0) : int32[N0]
  %3 = neg(%2) : int32[N0]
  return (%3)
}""", HEAD_I + """
  %1 = neg(%0) : int32[N0]
  return (%1)
}"""),
    "float_x_plus_negative_zero": (["add_zero"], HEAD_X + """
  %1 = constant() {value=dense<float32[]>-0.0} : float32[]
  %2 = add(%0, %1) : float32[N0,3]
  return (%2)
}""", IDENTITY_X),
    "float_x_minus_positive_zero": (["sub_zero"], HEAD_X + """
  %1 = constant() {value=dense<float32[3]>[0.0, 0.0, 0.0]} : float32[3]
  %2 = sub(%0, %1) : float32[N0,3]
  return (%2)
}""", IDENTITY_X),
    "broadcast_one_times_x": (["mul_one"], HEAD_X + """
  %1 = constant() {value=dense<float32[]>1.0} : float32[]
  %2 = broadcast(%1) {shape=[N0,3]} : float32[N0,3]
  %3 = mul(%2, %0) : float32[N0,3]
  return (%3)
}""", IDENTITY_X),
    "int_x_div_one": (["div_one"], HEAD_I + """
  %1 = constant() {value=dense<int32[]>1} : int32[]
  %2 = div(%0, %1) : int32[N0]
  return (%2)
}""", HEAD_I + "  return (%0)\n}"),
    "neg_neg": (["neg_neg"], HEAD_X + """
  %1 = neg(%0) : float32[N0,3]
  %2 = neg(%1) : float32[N0,3]
  %3 = exp(%2) : float32[N0,3]
  return (%3)
}""", HEAD_X + """
  %1 = exp(%0) : float32[N0,3]
  return (%1)
}"""),
    "not_not": (["not_not"], """program @main(%0: bool[4]) {
  %0 = placeholder() {dtype=bool, name="b:0", shape=[4]} : bool[4]
  %1 = logical_not(%0) : bool[4]
  %2 = logical_not(%1) : bool[4]
  return (%2)
}""", """program @main(%0: bool[4]) {
  %0 = placeholder() {dtype=bool, name="b:0", shape=[4]} : bool[4]
  return (%0)
}"""),
    "select_same_branches": (["select_same_branches"], HEAD_X + """
  %1 = constant() {value=dense<float32[]>0.5} : float32[]
  %2 = less(%0, %1) : bool[N0,3]
  %3 = select(%2, %0, %0) : float32[N0,3]
  return (%3)
}""", IDENTITY_X),
    "select_constant_condition": (["select_constant_condition"], HEAD_X + """
  %1 = constant() {value=dense<bool[]>false} : bool[]
  %2 = broadcast(%1) {shape=[N0,3]} : bool[N0,3]
  %3 = exp(%0) : float32[N0,3]
  %4 = select(%2, %3, %0) : float32[N0,3]
  return (%4)
}""", IDENTITY_X),
    "cast_same": (["cast_same"], HEAD_X + """
  %1 = cast(%0) {dtype=float32} : float32[N0,3]
  return (%1)
}""", IDENTITY_X),
    "cast_int32_int64_float32": (["cast_cast"], HEAD_I + """
  %1 = cast(%0) {dtype=int64} : int64[N0]
  %2 = cast(%1) {dtype=float32} : float32[N0]
  return (%2)
}""", HEAD_I + """
  %1 = cast(%0) {dtype=float32} : float32[N0]
  return (%1)
}"""),
    "cast_float32_float64_float32": (["cast_cast", "cast_same"], HEAD_X + """
  %1 = cast(%0) {dtype=float64} : float64[N0,3]
  %2 = cast(%1) {dtype=float32} : float32[N0,3]
  return (%2)
}""", IDENTITY_X),
    "reshape_same_shape": (["reshape_same_shape"], HEAD_X + """
  %1 = reshape(%0) {shape=[-1,3]} : float32[N0,3]
  return (%1)
}""", IDENTITY_X),
    "reshape_reshape": (["reshape_reshape"], HEAD_X + """
  %1 = reshape(%0) {shape=[-1]} : float32[N0*3]
  %2 = reshape(%1) {shape=[3,-1]} : float32[3,N0]
  return (%2)
}""", HEAD_X + """
  %1 = reshape(%0) {shape=[3,N0]} : float32[3,N0]
  return (%1)
}"""),
    "broadcast_same_shape": (["broadcast_same_shape"], HEAD_X + """
  %1 = broadcast(%0) {shape=[N0,3]} : float32[N0,3]
  return (%1)
}""", IDENTITY_X),
    "broadcast_broadcast": (["broadcast_broadcast"], """program @main(%0: float32[3]) {
  %0 = placeholder() {dtype=float32, name="y:0", shape=[3]} : float32[3]
  %1 = broadcast(%0) {shape=[4,3]} : float32[4,3]
  %2 = broadcast(%1) {shape=[2,4,3]} : float32[2,4,3]
  return (%2)
}""", """program @main(%0: float32[3]) {
  %0 = placeholder() {dtype=float32, name="y:0", shape=[3]} : float32[3]
  %1 = broadcast(%0) {shape=[2,4,3]} : float32[2,4,3]
  return (%1)
}"""),
    "transpose_identity": (["transpose_identity"], HEAD_X + """
  %1 = transpose(%0) {perm=[0,1]} : float32[N0,3]
  return (%1)
}""", IDENTITY_X),
    "transpose_transpose": (["transpose_transpose"], """program @main(%0: float32[2,3,4]) {
  %0 = placeholder() {dtype=float32, name="z:0", shape=[2,3,4]} : float32[2,3,4]
  %1 = transpose(%0) {perm=[1,2,0]} : float32[3,4,2]
  %2 = transpose(%1) {perm=[1,0,2]} : float32[4,3,2]
  return (%2)
}""", """program @main(%0: float32[2,3,4]) {
  %0 = placeholder() {dtype=float32, name="z:0", shape=[2,3,4]} : float32[2,3,4]
  %1 = transpose(%0) {perm=[2,1,0]} : float32[4,3,2]
  return (%1)
}"""),
    "transpose_transpose_to_identity": (["transpose_transpose", "transpose_identity"],
                                        HEAD_X + """
  %1 = transpose(%0) {perm=[1,0]} : float32[3,N0]
  %2 = transpose(%1) {perm=[1,0]} : float32[N0,3]
  return (%2)
}""", IDENTITY_X),
    "transpose_elementwise": (["transpose_elementwise"], HEAD_XB + """
  %2 = transpose(%0) {perm=[0,2,1]} : float32[N0,4,3]
  %3 = add(%2, %1) : float32[N0,4,3]
  %4 = constant() {value=dense<float32[]>0.0} : float32[]
  %5 = maximum(%3, %4) : float32[N0,4,3]
  %6 = transpose(%5) {perm=[0,2,1]} : float32[N0,3,4]
  return (%6)
}""", HEAD_XB + """
  %2 = reshape(%1) {shape=[1,1,3]} : float32[1,1,3]
  %3 = transpose(%2) {perm=[0,2,1]} : float32[1,3,1]
  %4 = add(%0, %3) : float32[N0,3,4]
  %5 = constant() {value=dense<float32[]>0.0} : float32[]
  %6 = maximum(%4, %5) : float32[N0,3,4]
  return (%6)
}"""),
    "transpose_concat": (["transpose_concat"], HEAD_XY3 + """
  %2 = transpose(%0) {perm=[0,2,1]} : float32[N0,4,3]
  %3 = constant() {value=dense<float32[]>0.0} : float32[]
  %4 = maximum(%2, %3) : float32[N0,4,3]
  %5 = transpose(%1) {perm=[0,2,1]} : float32[N0,4,2]
  %6 = concat(%4, %5) {axis=2} : float32[N0,4,5]
  %7 = transpose(%6) {perm=[0,2,1]} : float32[N0,5,4]
  return (%7)
}""", """program @main(%0: float32[N0,3,4], %3: float32[N0,2,4]) symbols(N0) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3,4]} : float32[N0,3,4]
  %1 = constant() {value=dense<float32[]>0.0} : float32[]
  %2 = maximum(%0, %1) : float32[N0,3,4]
  %3 = placeholder() {dtype=float32, name="y:0", shape=[N0,2,4]} : float32[N0,2,4]
  %4 = concat(%2, %3) {axis=1} : float32[N0,5,4]
  return (%4)
}"""),
    "slice_full": (["slice_full"], HEAD_X + """
  %1 = slice(%0) {begin=[0,0], size=[N0,3], stride=[1,1]} : float32[N0,3]
  return (%1)
}""", IDENTITY_X),
    "concat_single": (["concat_single"], HEAD_X + """
  %1 = concat(%0) {axis=1} : float32[N0,3]
  return (%1)
}""", IDENTITY_X),
    "pad_nothing": (["pad_nothing"], HEAD_X + """
  %1 = pad(%0) {pads=[(0,0),(0,0)], value=1.0} : float32[N0,3]
  return (%1)
}""", IDENTITY_X),
    "implicit_broadcast": (["implicit_broadcast"], HEAD_XY + """
  %2 = broadcast(%1) {shape=[N0,3]} : float32[N0,3]
  %3 = sub(%0, %2) : float32[N0,3]
  return (%3)
}""", HEAD_XY + """
  %2 = sub(%0, %1) : float32[N0,3]
  return (%2)
}"""),
    "reshape_reshape_with_a_known_check": (["reshape_reshape"], HEAD_V + """
  %1 = reshape(%0) {shape=[-1,4]} : float32[(N0//4),4]
  %2 = reshape(%1) {shape=[-1]} : float32[(N0//4)*4]
  return (%2)
  check (N0//4)*4 == N0 "reshape"
}""", HEAD_V + """
  %1 = reshape(%0) {shape=[(N0//4)*4]} : float32[(N0//4)*4]
  return (%1)
  check (N0//4)*4 == N0 "reshape"
}"""),
}

NEGATIVE = {
    # a concat of values that are not transposes: moving the transpose cancels nothing
    "transpose_concat_nothing_cancels": HEAD_XY3 + """
  %2 = exp(%0) : float32[N0,3,4]
  %3 = concat(%2, %1) {axis=1} : float32[N0,5,4]
  %4 = transpose(%3) {perm=[0,2,1]} : float32[N0,4,5]
  return (%4)
}""",
    # no transpose below the elementwise op: moving the transpose up cancels nothing
    "transpose_elementwise_nothing_cancels": HEAD_XY + """
  %2 = add(%0, %1) : float32[N0,3]
  %3 = exp(%2) : float32[N0,3]
  %4 = transpose(%3) {perm=[1,0]} : float32[3,N0]
  return (%4)
}""",
    "float_x_plus_positive_zero": HEAD_X + """
  %1 = constant() {value=dense<float32[]>0.0} : float32[]
  %2 = add(%0, %1) : float32[N0,3]
  return (%2)
}""",
    "float_x_minus_negative_zero": HEAD_X + """
  %1 = constant() {value=dense<float32[]>-0.0} : float32[]
  %2 = sub(%0, %1) : float32[N0,3]
  return (%2)
}""",
    "zero_minus_x": HEAD_I + """
  %1 = constant() {value=dense<int32[]>0} : int32[]
  %2 = sub(%1, %0) : int32[N0]
  return (%2)
}""",
    "zero_that_broadcasts_x": """program @main(%0: float32[3]) {
  %0 = placeholder() {dtype=float32, name="y:0", shape=[3]} : float32[3]
  %1 = constant() {value=dense<float32[2,3]>[[-0.0, -0.0, -0.0], [-0.0, -0.0, -0.0]]} : float32[2,3]
  %2 = add(%0, %1) : float32[2,3]
  return (%2)
}""",
    "x_times_zero_x_minus_x_x_div_x": HEAD_X + """
  %1 = constant() {value=dense<float32[]>0.0} : float32[]
  %2 = mul(%0, %1) : float32[N0,3]
  %3 = sub(%0, %0) : float32[N0,3]
  %4 = div(%0, %0) : float32[N0,3]
  return (%2, %3, %4)
}""",
    "int_x_div_x": HEAD_I + """
  %1 = div(%0, %0) : int32[N0]
  %2 = mul(%0, %0) : int32[N0]
  return (%1, %2)
}""",
    "x_times_not_all_ones": HEAD_X + """
  %1 = constant() {value=dense<float32[3]>[1.0, 1.0, 2.0]} : float32[3]
  %2 = mul(%0, %1) : float32[N0,3]
  return (%2)
}""",
    "one_div_x": HEAD_X + """
  %1 = constant() {value=dense<float32[]>1.0} : float32[]
  %2 = div(%1, %0) : float32[N0,3]
  return (%2)
}""",
    "select_branches_broadcast_by_condition": """program @main(%0: bool[2,3], %1: float32[3]) {
  %0 = placeholder() {dtype=bool, name="c:0", shape=[2,3]} : bool[2,3]
  %1 = placeholder() {dtype=float32, name="y:0", shape=[3]} : float32[3]
  %2 = select(%0, %1, %1) : float32[2,3]
  return (%2)
}""",
    "select_mixed_condition": HEAD_X + """
  %1 = constant() {value=dense<bool[3]>[true, false, true]} : bool[3]
  %2 = neg(%0) : float32[N0,3]
  %3 = select(%1, %0, %2) : float32[N0,3]
  return (%3)
}""",
    "inexact_casts": HEAD_I + """
  %1 = cast(%0) {dtype=float32} : float32[N0]
  %2 = cast(%1) {dtype=int32} : int32[N0]
  %3 = cast(%0) {dtype=bool} : bool[N0]
  %4 = cast(%3) {dtype=int32} : int32[N0]
  return (%2, %4)
}""",
    "float64_float32_float64": """program @main(%0: float64[4]) {
  %0 = placeholder() {dtype=float64, name="d:0", shape=[4]} : float64[4]
  %1 = cast(%0) {dtype=float32} : float32[4]
  %2 = cast(%1) {dtype=float64} : float64[4]
  return (%2)
}""",
    "partial_slice_and_real_pad": HEAD_X + """
  %1 = slice(%0) {begin=[0,1], size=[N0,2], stride=[1,1]} : float32[N0,2]
  %2 = pad(%1) {pads=[(0,0),(1,0)], value=0.0} : float32[N0,3]
  %3 = transpose(%2) {perm=[1,0]} : float32[3,N0]
  return (%3)
}""",
    "broadcast_that_sets_the_type": """program @main(%0: float32[3], %1: float32[3]) {
  %0 = placeholder() {dtype=float32, name="y:0", shape=[3]} : float32[3]
  %1 = placeholder() {dtype=float32, name="z:0", shape=[3]} : float32[3]
  %2 = broadcast(%0) {shape=[2,3]} : float32[2,3]
  %3 = add(%2, %1) : float32[2,3]
  return (%3)
}""",
    "reshape_reshape_without_its_check": HEAD_V + """
  %1 = reshape(%0) {shape=[-1,4]} : float32[(N0//4),4]
  %2 = reshape(%1) {shape=[-1]} : float32[(N0//4)*4]
  return (%2)
}""",
    "stop_gradient_is_kept": HEAD_X + """
  %1 = stop_gradient(%0) : float32[N0,3]
  return (%1)
}""",
}

SIZES = {"reshape_reshape_with_a_known_check": 8, "reshape_reshape_without_its_check": 8}


def _only(monkeypatch, names):
    """Switch on only the rules named."""
    assert set(names) <= {r.name for r in RULES}, names
    by_op = defaultdict(list)
    for rule in RULES:
        if rule.name in names:
            for op in rule.ops:
                by_op[op].append(rule)
    monkeypatch.setattr(simplify_module, "_BY_OP", by_op)


@pytest.mark.parametrize("case", POSITIVE)
def test_rule_fires(case, monkeypatch):
    names, before, after = POSITIVE[case]
    _only(monkeypatch, names)
    check_pass(simplify, before, after, size=SIZES.get(case, 3))


@pytest.mark.parametrize("case", POSITIVE)
def test_rule_fires_with_every_rule_on(case):
    _, before, after = POSITIVE[case]
    out, changed = simplify(program(before))
    assert changed and out.outputs[0].type == program(after).outputs[0].type


@pytest.mark.parametrize("case", NEGATIVE)
def test_rule_does_not_fire(case):
    check_pass(simplify, NEGATIVE[case], None, size=SIZES.get(case, 3))


def test_every_rule_has_a_positive_case_and_documentation():
    fired = {name for names, _, _ in POSITIVE.values() for name in names}
    missing = [r.name for r in RULES if r.name not in fired]
    assert not missing, f"rules without a test case: {missing}"
    doc = (Path(__file__).parent.parent / "docs" / "passes.md").read_text()
    undocumented = [r.name for r in RULES if f"`{r.name}`" not in doc]
    assert not undocumented, f"rules missing from docs/passes.md: {undocumented}"
    assert len({r.name for r in RULES}) == len(RULES), "two rules share a name"


def test_replacement_keeps_the_provenance_of_what_it_replaced():
    p = program(HEAD_X + """
  %1 = neg(%0) : float32[N0,3]  # n1 @ m.py:1
  %2 = neg(%1) : float32[N0,3]  # n2 @ m.py:2
  %3 = exp(%2) : float32[N0,3]  # e @ m.py:3
  return (%3)
}""")
    out, _ = simplify(p)
    x = out.inputs[0]
    assert out.outputs[0].inputs[0] is x
    assert x.names == ["n2"] and x.locs == ["m.py:2"]
    assert p.inputs[0].names == [], "the input program is never modified"


def test_rewrites_that_meet_an_existing_node_merge_with_it():
    """x*1 + y becomes x + y, which the program already has: one node, merged."""
    p = program("""program @main(%0: float32[3], %1: float32[3]) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[3]} : float32[3]
  %1 = placeholder() {dtype=float32, name="y:0", shape=[3]} : float32[3]
  %2 = constant() {value=dense<float32[]>1.0} : float32[]
  %3 = mul(%0, %2) : float32[3]
  %4 = add(%3, %1) : float32[3]
  %5 = add(%0, %1) : float32[3]
  return (%4, %5)
}""")
    out, changes = simplify(p)
    assert out.outputs[0] is out.outputs[1]
    assert (changes.removed, changes.added, changes.merged) == (2, 0, 1)
