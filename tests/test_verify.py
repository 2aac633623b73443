"""The IR verifier: well-formed programs pass (frontend-built, one node of every op,
parsed from text); each kind of fault raises `VerifyError` whose message names the
faulty node and shows the IR text around it with the faulty line marked."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_ir_text import FRONTEND_PROGRAMS, N0, _Builder, all_ops_program

from compiler.ir import dims as D
from compiler.ir import dtypes as T
from compiler.ir.const import Const
from compiler.ir.nodes import NodeCache, Program
from compiler.ir.text import parse_program, print_program
from compiler.ir.types import TensorType
from compiler.ir.verify import VerifyError, verify


@pytest.mark.parametrize("build", FRONTEND_PROGRAMS + [all_ops_program],
                         ids=lambda f: f.__name__)
def test_well_formed_programs_verify(build):
    program = build()
    verify(program)
    verify(parse_program(print_program(program)))


class Small:
    """x: float32[N0,3] -> matmul with variable w -> exp; assign_add to w; one check."""

    def __init__(self):
        b = self.builder = _Builder()
        self.x = b.placeholder("x:0", T.float32, (N0, 3))
        self.w = b.make("variable", var="w", dtype=T.float32, shape=(3, 4))
        self.m = b.make("matmul", [self.x, self.w], transpose_a=False, transpose_b=False)
        self.e = b.make("exp", [self.m])
        self.c = b.make("constant", value=Const(np.ones((3, 4), np.float32)))
        self.a = b.make("assign_add", [self.w, self.c], var="w", dtype=T.float32,
                        shape=(3, 4))
        self.program = Program([self.x], [self.e, self.m], {"w": self.a}, [D.Sym("N0")],
                               checks=[(D.mul(N0, 2), 8, "why")],
                               symbol_origins={"N0": ("x", 0)},
                               input_dim_reasons={(0, 0): "matmul"})


def _marked_line(message: str) -> str:
    marked = [line for line in message.splitlines() if line.startswith(">>")]
    assert len(marked) == 1, message
    return marked[0]


def _fails(program, *expected, node=None, marked=None):
    """The message has `expected`, names `node` and marks its line (or `marked`)."""
    with pytest.raises(VerifyError) as info:
        verify(program)
    message = str(info.value)
    for text in expected:
        assert text in message, message
    if node is not None:
        assert node.describe() in message
        assert info.value.node is node
    if marked is not None:
        assert marked in _marked_line(message), message
    elif node is not None:
        assert re.search(rf"%\d+ = {node.op}\(", _marked_line(message)), message
    return message


def test_the_small_program_verifies():
    verify(Small().program)


def test_wrong_type():
    s = Small()
    s.m.type = TensorType(T.float32, (N0, 5))
    _fails(s.program, "float32[N0,5] is not the type inference gives", "float32[N0,4]",
           node=s.m)


def test_wrong_dtype():
    s = Small()
    s.e.type = TensorType(T.float64, (N0, 4))
    _fails(s.program, "float64[N0,4] is not the type inference gives", node=s.e)


def test_wrong_arity():
    s = Small()
    s.e.inputs = (s.m, s.m)
    _fails(s.program, "exp takes 1 input(s), this node has 2", node=s.e)


def test_unknown_op():
    s = Small()
    s.e.op = "expo"
    _fails(s.program, "unknown op 'expo'", node=s.e)


def test_unknown_attr():
    s = Small()
    s.m.attrs = s.m.attrs + (("zzz", 1),)
    _fails(s.program, "unknown attribute 'zzz' (matmul takes transpose_a, transpose_b)",
           node=s.m)


def test_missing_attr():
    s = Small()
    s.m.attrs = s.m.attrs[:1]
    _fails(s.program, "missing attribute(s) transpose_b", node=s.m)


def test_attr_of_the_wrong_kind():
    s = Small()
    s.m.attrs = (("transpose_a", "yes"), ("transpose_b", False))
    _fails(s.program, 'attribute transpose_a="yes" is not a valid bool', node=s.m)


def test_inference_failure():
    s = Small()
    s.m.attrs = (("transpose_a", False), ("transpose_b", True))
    _fails(s.program, "type inference fails", "inner dimensions differ", node=s.m)


def test_inference_that_binds_a_symbol():
    s = Small()  # x^T @ w needs N0 == 3, which nothing in the program guarantees
    s.m.attrs = (("transpose_a", True), ("transpose_b", False))
    s.m.type = TensorType(T.float32, (3, 4))
    _fails(s.program, "inference needs N0 == 3, which the types of its inputs do not state",
           node=s.m)


def test_stateful_node_without_token():
    s = Small()
    s.a.token = 0
    _fails(s.program, "assign_add changes state and needs a token", node=s.a)


def test_two_nodes_with_one_token():
    b = _Builder()
    attrs = {"shape": (2,), "dtype": T.float32, "seed": 0, "op_seed": 1}
    r1 = b.make("random_uniform", **attrs)
    r2 = b.make("random_normal", **attrs)
    r2.token = r1.token
    _fails(Program([], [r1, r2], {}, []), f"token {r1.token} is also the token of", node=r2)


def test_structurally_equal_twins():
    s = Small()
    other = NodeCache().make("exp", [s.m], {}, s.e.type)
    s.program.outputs.append(other)
    _fails(s.program, "structurally equal to another node", node=other)


def test_dangling_output():
    s = Small()
    s.program.outputs.append("not a node")
    message = _fails(s.program, "output 2 is not a node: 'not a node'")
    assert "return (%" in _marked_line(message)


def test_dangling_node_input():
    s = Small()
    s.e.inputs = (None,)
    message = _fails(s.program, "input 0 is not a node: None", node=s.e)
    assert "exp(<not a node: None>)" in _marked_line(message)


def test_unfed_placeholder():
    s = Small()
    s.program.inputs = []
    _fails(s.program, "placeholder is used but is not among the program's inputs", node=s.x)


def test_input_that_is_not_a_placeholder():
    s = Small()
    s.program.inputs.append(s.w)
    message = _fails(s.program, "input 1 is a variable node, not a placeholder")
    assert "program @main(" in _marked_line(message)


def test_symbol_not_in_program_symbols():
    s = Small()
    s.program.symbols = []
    _fails(s.program, "uses symbol(s) N0, which are not among the program's symbols (none)",
           node=s.x)


def test_symbol_of_a_check_not_in_program_symbols():
    s = Small()
    s.program.checks.append((D.DimExpr.atom(D.Sym("N9")), 3, "r"))
    message = _fails(s.program, "this check uses symbol(s) N9")
    assert 'check N9 == 3 "r"' in _marked_line(message)


def test_dim_reason_for_a_missing_axis():
    s = Small()
    s.program.input_dim_reasons[(0, 5)] = "nowhere"
    message = _fails(s.program, "names input 0 axis 5, which does not exist")
    assert "reason (0, 5)" in _marked_line(message)


def test_effect_on_another_variable():
    s = Small()
    s.program.effects = {"v": s.a}
    _fails(s.program, "the effect on variable 'v' assigns variable 'w'", node=s.a,
           marked='effect "v" = %')


def test_effect_that_is_not_an_assign():
    s = Small()
    s.program.effects = {"w": s.e}
    message = _fails(s.program, "is a exp node, not an assign")
    assert 'effect "w" = %' in _marked_line(message)


def test_cycle():
    s = Small()
    s.m.inputs = (s.e, s.w)
    _fails(s.program, "the graph has a cycle: %1 -> %2 -> %1", node=s.m)


def test_excerpt_shows_lines_around_the_fault():
    s = Small()
    s.e.type = TensorType(T.float32, (N0, 3))
    message = _fails(s.program, node=s.e)
    lines = message.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(">>"))
    assert 0 < index < len(lines) - 1
    assert lines[index - 1].startswith("   ") and "matmul(" in lines[index - 1]
    assert issubclass(VerifyError, ValueError)


def test_a_node_that_passed_is_checked_again_once_it_changes():
    # the verifier skips nodes alike to ones that passed (verify.py `_PASSED`): alike in
    # everything the check reads, so a node changed after passing is checked again
    s = Small()
    verify(s.program)
    s.m.type = TensorType(T.float32, (N0, 5))
    _fails(s.program, "is not the type inference gives", node=s.m)
    s = Small()
    verify(s.program)
    s.m.attrs = (("transpose_a", "yes"), ("transpose_b", False))
    _fails(s.program, node=s.m)
    s = Small()
    verify(s.program)
    s.e.inputs = (s.x,)    # its input's type changed: float32[N0,3], so is its own
    _fails(s.program, node=s.e)
