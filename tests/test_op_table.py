"""The op table is the one home of the facts about an op: the side lists that passes,
lowering and autodiff read are derived from its rows, and they equal the hand-written
lists they replaced (written out below), so deriving them changed no behaviour."""

import numpy as np
import pytest

from compiler import convert
from compiler.autodiff import rules
from compiler.lower import kir
from compiler.lower.lower import COMBINE
from compiler.ops import OPS, names
from compiler.ops.reduce import identity_of
from passes import fusion

# the hand-written lists as they were before the rows carried these facts
_OLD_UNARY = {"exp", "log", "sqrt", "sin", "cos", "floor", "ceil", "tanh", "expm1", "log1p",
              "neg", "abs", "rsqrt", "sigmoid", "sign", "logical_not", "stop_gradient"}
_OLD_BINARY = {"add", "sub", "mul", "div", "mod", "pow", "maximum", "minimum", "less",
               "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and",
               "logical_or", "idiv", "imod", "imin", "imax"}
# elementwise rows added after the derivation (issue 18, ONNX import: Erf, Atan, Bitwise*)
_NEW_UNARY = {"erf", "atan", "invert", "bitcast"}
_NEW_BINARY = {"bitwise_and", "bitwise_or", "bitwise_xor"}
_OLD_NON_DIFFERENTIABLE = {
    "stop_gradient", "logical_not", "logical_and", "logical_or",
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
    "argmax", "argmin", "shape",
    "placeholder", "variable", "constant", "iota", "random_uniform", "random_normal",
    "assign", "assign_add",
    "check",  # added with the check primitive (a run-time assert)
    "invert", "bitwise_and", "bitwise_or", "bitwise_xor",  # issue 18: bits, no gradient
    "bitcast"}
_OLD_REDUCTIONS = {"reduce_sum", "reduce_prod", "reduce_max", "reduce_min"}
_OLD_ALWAYS_OWN_KERNEL = {"argmax", "argmin", "scatter_add", "shape", "assign", "assign_add",
                          "matmul"} | _OLD_REDUCTIONS
# rows added after the derivation, with their own kernel: the opaque class's default
_NEW_OWN_KERNEL = {"dynamic_update_slice",
                   "conv",  # the contraction class's default (issue 15)
                   "fold"}  # issue 15's window adjoint: an output-stationary nest
_OLD_NEVER_FOLDED = {"placeholder", "variable", "constant",
                     "check"}  # added with the check primitive: it fails at run time


def test_kernel_ir_op_sets_are_the_elementwise_rows_and_the_index_ops():
    assert kir.UNARY_OPS == _OLD_UNARY | _NEW_UNARY
    assert kir.BINARY_OPS == _OLD_BINARY | _NEW_BINARY
    assert kir.INDEX_OPS == {"idiv", "imod", "imin", "imax"}
    assert not kir.INDEX_OPS & set(OPS)


def test_fusion_lists_are_derived_unchanged():
    # param: a region's parameter, a buffer its region op provides (issue 14 control flow)
    assert set(fusion.BUFFER_SOURCES) == {"placeholder", "variable", "param"}
    assert set(fusion.REDUCTIONS) == _OLD_REDUCTIONS
    # patches (issue 15) branches per element on its padding, as pad does
    assert set(fusion.BRANCHING_MOVES) == {"concat", "pad", "patches"}
    assert set(fusion.ALWAYS_OWN_KERNEL) == _OLD_ALWAYS_OWN_KERNEL | _NEW_OWN_KERNEL
    assert set(fusion.LOOP_SOURCES) == {"constant", "random_uniform", "random_normal", "iota"}


def test_state_lists_are_derived_unchanged():
    assert set(convert._ASSIGNS) == {"assign", "assign_add"}
    assert set(convert._TOKENED) == {"random_uniform", "random_normal", "assign",
                                     "assign_add"}
    # the verifier's token rule was `needs_counter or fusion == "state"`
    assert set(names(needs_token=True)) == {
        n for n, op in OPS.items() if op.needs_counter or op.fusion == "state"}
    touched = {n for n, op in OPS.items() if op.reads_variable or op.writes_variable}
    assert touched == {"variable", "assign", "assign_add"}


def test_non_differentiable_is_derived_unchanged():
    # the control-flow rows (issue 14) get their gradient rules separately
    assert rules.NON_DIFFERENTIABLE - {"param", "while", "cond", "get"} == \
        _OLD_NON_DIFFERENTIABLE


def test_foldable_is_the_old_predicate():
    old = {n for n, op in OPS.items() if n in _OLD_NEVER_FOLDED or op.stateful
           or op.needs_counter or op.fusion == "state"}
    assert set(names(foldable=False)) == old


def _old_identity_of(name, dtype):
    npd = np.dtype(dtype)
    if name == "reduce_sum":
        return npd.type(0)
    if name == "reduce_prod":
        return npd.type(1)
    big = np.inf if npd.kind == "f" else np.iinfo(npd).max
    small = -np.inf if npd.kind == "f" else np.iinfo(npd).min
    return npd.type(small if name == "reduce_max" else big)


@pytest.mark.parametrize("name", sorted(_OLD_REDUCTIONS))
def test_reduction_rows_carry_combine_and_identity(name):
    assert OPS[name].combine == COMBINE[name]
    assert OPS[name].combine in kir.BINARY_OPS
    for dt in ("float16", "float32", "float64", "int32", "int64"):
        got, want = identity_of(name, dt), _old_identity_of(name, dt)
        assert got.dtype == want.dtype and got == want, (name, dt)


def test_only_reductions_have_a_combine():
    assert {n for n, op in OPS.items() if op.combine} == _OLD_REDUCTIONS
    assert set(COMBINE) == _OLD_REDUCTIONS


def test_every_elementwise_row_has_a_kernel_ir_form():
    for name, op in OPS.items():
        if op.fusion == "elementwise":
            want = {1: "unary", 2: "binary", 3: "select"}[op.arity]
            assert op.kir == ("cast" if name == "cast" else want), name
        else:
            assert op.kir is None, name


def test_names_filters_by_fields_and_predicate():
    assert names(kir="select") == ("select",)
    assert set(names(lambda op: op.arity is None)) == {"concat", "while", "cond"}
    assert names(fusion="contraction", own_kernel=True) == ("conv", "matmul")


def test_lowering_rules_cover_exactly_the_rows_without_a_scalar_rule():
    from compiler.lower.nests import EXPR_RULES, ROOT_RULES
    # elementwise rows lower through the scalar-op tables; parameters are buffers and a
    # constant is a buffer or an immediate; every other row has an index-arithmetic
    # (expr) or a kernel-root rule, and no rule names an op that is not a row
    # control-flow rows (while, cond, get) are planned and lowered region by region
    want = {n for n, op in OPS.items() if op.fusion not in ("elementwise", "control")
            and not op.parameter and n != "constant"}
    have = set(EXPR_RULES) | set(ROOT_RULES)
    assert have == want, f"missing {sorted(want - have)}, extra {sorted(have - want)}"
