"""Pass tests as before/after IR text (TVM's Before/Expected, XLA's parse-run-compare):
each test parses the "before" program, runs one pass, compares the printed result with
the "after" text, verifies it, and then runs both programs on the reference interpreter
with random inputs (NaN, inf and signed zeros included) and requires bit-identical
results (or the same error). Every pass also gets its negative case: nothing to do, so
`changed` is falsy and the text is unchanged.

This module holds the shared helpers (`check_pass`, `assert_same_results`) and the tests
of fold_constants, cse and dce; the simplification rules are in test_passes_simplify.py,
the pass manager in test_pass_manager.py, random programs in test_passes_random.py.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from compiler.interpret import eval_shape, interpret
from compiler.ir import dims as D
from compiler.ir import dtypes as T
from compiler.ir.const import Const
from compiler.ir.nodes import NodeCache, Program
from compiler.ir.text import parse_program, print_program
from compiler.ir.types import TensorType
from compiler.ir.verify import verify
from passes import fold_constants as fold_module
from passes.cse import cse
from passes.dce import dce
from passes.fold_constants import fold_constants

SPECIALS = {"float": [np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0]}


# ---- helpers ---------------------------------------------------------------------------
def program(text: str) -> Program:
    return parse_program(textwrap.dedent(text))


def canonical(text: str) -> str:
    """The printer's form of a program text (numbering, spacing)."""
    return print_program(program(text))


def check_pass(fn, before: str, after: str = None, size: int = 3) -> Program:
    """Run pass `fn` on `before`; expect `after` (None: expect no change); verify the
    result and compare execution. Returns the result."""
    p = program(before)
    out, changed = fn(p)
    if after is None:
        assert not changed, f"{fn.__name__} changed a program it should leave alone"
        assert print_program(out) == print_program(p)
    else:
        assert changed, f"{fn.__name__} reported no change"
        assert print_program(out) == canonical(after)
    verify(out)
    assert_same_results(p, out, size)
    return out


def random_array(rng, dtype, shape):
    if dtype.is_bool:
        return rng.random(shape) < 0.5
    if dtype.is_int:
        info = np.iinfo(dtype.np)
        out = rng.integers(-5, 6, size=shape).astype(dtype.np)
        specials = [0, 1, -1, info.min, info.max]
    else:
        out = rng.standard_normal(shape).astype(dtype.np)
        specials = SPECIALS["float"]
    flat = out.reshape(-1)
    for i in range(0, flat.size, 3):   # every third element is a special value
        flat[i] = specials[(i // 3) % len(specials)]
    return out


def inputs_for(p: Program, size: int, seed: int):
    rng = np.random.default_rng(seed)
    env = {s.name: size for s in p.symbols}
    feeds = [random_array(rng, n.dtype, eval_shape(n.shape, env)) for n in p.inputs]
    variables = {name: random_array(rng, t.dtype, eval_shape(t.shape, env))
                 for name, t in p.variables().items()}
    return feeds, variables


def run(p: Program, feeds, variables, counter=1):
    """("ok", outputs, variable values after the run) or ("error", exception type,
    message). A variable the run does not write keeps its value."""
    try:
        outputs, updates = interpret(p, feeds, variables, counter)
    except Exception as e:  # error parity: the same error before and after
        return ("error", type(e), str(e))
    state = {**variables, **updates}
    return ("ok", [_bits(o) for o in outputs], {k: _bits(v) for k, v in state.items()})


def _bits(a):
    a = np.asarray(a)
    return (a.dtype.str, a.shape, a.tobytes())


def assert_same_results(before: Program, after: Program, size: int = 3, seeds=(0, 1)):
    for seed in seeds:
        feeds, variables = inputs_for(before, size, seed)
        assert run(after, feeds, variables) == run(before, feeds, variables)


# ---- fold_constants ----------------------------------------------------------------------
def test_fold_a_chain_of_constant_ops():
    check_pass(fold_constants, """
        program @main(%0: float32[N0,3]) symbols(N0) {
          %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]
          %1 = constant() {value=dense<float32[3]>[1.0, 2.0, 3.0]} : float32[3]
          %2 = constant() {value=dense<float32[]>2.0} : float32[]
          %3 = mul(%1, %2) : float32[3]
          %4 = constant() {value=dense<int32[3]>[1, 2, 3]} : int32[3]
          %5 = cast(%4) {dtype=float32} : float32[3]
          %6 = add(%3, %5) : float32[3]
          %7 = exp(%6) : float32[3]
          %8 = add(%0, %7) : float32[N0,3]
          return (%8)
        }""", """
        program @main(%0: float32[N0,3]) symbols(N0) {
          %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]
          %1 = constant() {value=dense<float32[3]>[20.085537, 403.42877, 8103.084]} : float32[3]
          %2 = add(%0, %1) : float32[N0,3]
          return (%2)
        }""")


def test_fold_uses_the_reference_semantics():
    """Integer division by zero gives 0, float -> int casts saturate (numerics.py)."""
    out = check_pass(fold_constants, """
        program @main() {
          %0 = constant() {value=dense<int32[3]>[7, -7, 5]} : int32[3]
          %1 = constant() {value=dense<int32[3]>[2, 2, 0]} : int32[3]
          %2 = div(%0, %1) : int32[3]
          %3 = constant() {value=dense<float32[3]>[nan, 1e+20, -2.5]} : float32[3]
          %4 = cast(%3) {dtype=int32} : int32[3]
          return (%2, %4)
        }""", """
        program @main() {
          %0 = constant() {value=dense<int32[3]>[3, -4, 0]} : int32[3]
          %1 = constant() {value=dense<int32[3]>[0, 2147483647, -2]} : int32[3]
          return (%0, %1)
        }""")
    assert [n.op for n in out.topo()] == ["constant", "constant"]


def test_fold_shape_of_a_static_input_but_not_of_a_symbolic_one():
    check_pass(fold_constants, """
        program @main(%0: float32[4,3], %1: float32[N0]) symbols(N0) {
          %0 = placeholder() {dtype=float32, name="x:0", shape=[4,3]} : float32[4,3]
          %1 = placeholder() {dtype=float32, name="y:0", shape=[N0]} : float32[N0]
          %2 = shape(%0) {dtype=int32} : int32[2]
          %3 = shape(%1) {dtype=int64} : int64[1]
          return (%2, %3)
        }""", """
        program @main(%0: float32[4,3], %2: float32[N0]) symbols(N0) {
          %0 = placeholder() {dtype=float32, name="x:0", shape=[4,3]} : float32[4,3]
          %1 = constant() {value=dense<int32[2]>[4, 3]} : int32[2]
          %2 = placeholder() {dtype=float32, name="y:0", shape=[N0]} : float32[N0]
          %3 = shape(%2) {dtype=int64} : int64[1]
          return (%1, %3)
        }""")


def test_fold_size_cap_keeps_a_cheap_broadcast_but_folds_a_reshape():
    big = "dense<float32[2048]>\"0x" + "0000803F" * 2048 + "\""
    check_pass(fold_constants, f"""
        program @main() {{
          %0 = constant() {{value=dense<float32[]>1.5}} : float32[]
          %1 = broadcast(%0) {{shape=[64,32]}} : float32[64,32]
          %2 = constant() {{value={big}}} : float32[2048]
          %3 = reshape(%2) {{shape=[32,64]}} : float32[32,64]
          %4 = neg(%1) : float32[64,32]
          return (%4, %3)
        }}""", f"""
        program @main() {{
          %0 = constant() {{value=dense<float32[]>1.5}} : float32[]
          %1 = broadcast(%0) {{shape=[64,32]}} : float32[64,32]
          %2 = neg(%1) : float32[64,32]
          %3 = constant() {{value={big.replace("[2048]", "[32,64]")}}} : float32[32,64]
          return (%2, %3)
        }}""")


def test_fold_limit_is_the_only_size_rule(monkeypatch):
    monkeypatch.setattr(fold_module, "FOLD_LIMIT", 4096)
    out, changed = fold_constants(program("""
        program @main() {
          %0 = constant() {value=dense<float32[]>1.5} : float32[]
          %1 = broadcast(%0) {shape=[64,32]} : float32[64,32]
          return (%1)
        }"""))
    assert changed and out.outputs[0].op == "constant"


def test_fold_never_folds_random_variables_or_assigns():
    check_pass(fold_constants, """
        program @main() {
          %0 = random_uniform() {dtype=float32, op_seed=1, seed=2, shape=[3]} : float32[3] token=1
          %1 = variable() {dtype=float32, shape=[3], var="v"} : float32[3]
          %2 = constant() {value=dense<float32[3]>[1.0, 2.0, 3.0]} : float32[3]
          %3 = assign(%2) {dtype=float32, shape=[3], var="v"} : float32[3] token=2
          %4 = add(%0, %1) : float32[3]
          return (%4)
          effect "v" = %3
        }""")


def test_fold_leaves_run_time_errors_to_the_run_time():
    """An out-of-range constant gather index is reported when the program runs, by both
    programs alike, not by the compiler."""
    p = check_pass(fold_constants, """
        program @main() {
          %0 = constant() {value=dense<float32[3]>[1.0, 2.0, 3.0]} : float32[3]
          %1 = constant() {value=dense<int32[2]>[0, 7]} : int32[2]
          %2 = gather(%0, %1) {axis=0} : float32[2]
          return (%2)
        }""")
    assert run(p, [], {})[0] == "error"


def test_fold_small_iota_and_dependent_ops_in_one_pass():
    check_pass(fold_constants, """
        program @main() {
          %0 = iota() {axis=0, dtype=int32, shape=[4]} : int32[4]
          %1 = constant() {value=dense<int32[]>3} : int32[]
          %2 = mul(%0, %1) : int32[4]
          return (%2)
        }""", """
        program @main() {
          %0 = constant() {value=dense<int32[4]>[0, 3, 6, 9]} : int32[4]
          return (%0)
        }""")


def test_fold_keeps_provenance():
    p = program("""
        program @main() {
          %0 = constant() {value=dense<float32[]>2.0} : float32[]  # two @ m.py:1
          %1 = neg(%0) : float32[]  # minus @ m.py:2
          return (%1)
        }""")
    out, _ = fold_constants(p)
    assert (out.outputs[0].names, out.outputs[0].locs) == (["minus"], ["m.py:2"])
    assert p.outputs[0].op == "neg", "the input program is never modified"


# ---- cse ---------------------------------------------------------------------------------
def _twins_program():
    """x -> exp twice (from two caches) -> add; two random draws sharing one token."""
    caches = NodeCache(), NodeCache()
    n0 = D.DimExpr.atom(D.Sym("N0"))
    ty = TensorType(T.float32, (n0,))
    x = caches[0].make("placeholder", (), {"name": "x:0", "dtype": T.float32,
                                           "shape": (n0,)}, ty)
    exps = [c.make("exp", (x,), {}, ty) for c in caches]
    for i, e in enumerate(exps):
        e.add_provenance(f"Exp_{i}", f"m.py:{i}")
    r_ty = TensorType(T.float32, (2,))
    attrs = {"dtype": T.float32, "shape": (2,), "seed": 1, "op_seed": 2}
    draws = [c.make("random_uniform", (), attrs, r_ty, token=99) for c in caches]
    total = caches[0].make("add", tuple(exps), {}, ty)
    both = caches[0].make("add", tuple(draws), {}, r_ty)
    return Program([x], [total, both], {}, [D.Sym("N0")])


def test_cse_merges_stateless_twins_and_keeps_their_provenance():
    p = _twins_program()
    out, changed = cse(p)
    assert changed and changed.merged == 1
    verify(out)
    exps = [n for n in out.topo() if n.op == "exp"]
    assert len(exps) == 1 and exps[0].names == ["Exp_0", "Exp_1"]
    assert_same_results(p, out)


def test_cse_never_merges_tokened_nodes():
    out, changed = cse(_twins_program())
    draws = [n for n in out.topo() if n.op.startswith("random")]
    assert len(draws) == 2 and draws[0].token != draws[1].token
    assert changed.retokened == 1


def test_cse_changes_nothing_in_a_parsed_program():
    check_pass(cse, """
        program @main(%0: float32[N0,3]) symbols(N0) {
          %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]
          %1 = exp(%0) : float32[N0,3]
          %2 = random_normal() {dtype=float32, op_seed=1, seed=2, shape=[3]} : float32[3] token=1
          %3 = random_normal() {dtype=float32, op_seed=1, seed=2, shape=[3]} : float32[3] token=2
          %4 = add(%2, %3) : float32[3]
          %5 = add(%1, %4) : float32[N0,3]
          return (%5, %1)
        }""")


# ---- dce -------------------------------------------------------------------------------
def test_dce_drops_an_assign_of_the_variable_to_itself():
    check_pass(dce, """
        program @main(%0: float32[3]) {
          %0 = placeholder() {dtype=float32, name="x:0", shape=[3]} : float32[3]
          %1 = variable() {dtype=float32, shape=[3], var="v"} : float32[3]
          %2 = assign(%1) {dtype=float32, shape=[3], var="v"} : float32[3] token=1
          %3 = variable() {dtype=float32, shape=[3], var="w"} : float32[3]
          %4 = assign_add(%3, %0) {dtype=float32, shape=[3], var="w"} : float32[3] token=2
          return (%0)
          effect "v" = %2
          effect "w" = %4
        }""", """
        program @main(%0: float32[3]) {
          %0 = placeholder() {dtype=float32, name="x:0", shape=[3]} : float32[3]
          %1 = variable() {dtype=float32, shape=[3], var="w"} : float32[3]
          %2 = assign_add(%1, %0) {dtype=float32, shape=[3], var="w"} : float32[3] token=2
          return (%0)
          effect "w" = %2
        }""")


def test_dce_keeps_a_no_op_assign_that_is_fetched():
    check_pass(dce, """
        program @main() {
          %0 = variable() {dtype=float32, shape=[3], var="v"} : float32[3]
          %1 = assign(%0) {dtype=float32, shape=[3], var="v"} : float32[3] token=1
          return (%1)
          effect "v" = %1
        }""")


def test_dce_keeps_assigns_of_other_values():
    check_pass(dce, """
        program @main() {
          %0 = variable() {dtype=float32, shape=[3], var="v"} : float32[3]
          %1 = variable() {dtype=float32, shape=[3], var="w"} : float32[3]
          %2 = assign(%1) {dtype=float32, shape=[3], var="v"} : float32[3] token=1
          %3 = assign(%0) {dtype=float32, shape=[3], var="w"} : float32[3] token=2
          return ()
          effect "v" = %2
          effect "w" = %3
        }""")


@pytest.mark.parametrize("fn", [fold_constants, cse, dce], ids=lambda f: f.__name__)
def test_passes_leave_a_program_without_opportunities_alone(fn):
    p = program("""
        program @main(%0: float32[N0,3]) symbols(N0) {
          %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]
          %1 = constant() {value=dense<float32[]>2.0} : float32[]
          %2 = mul(%0, %1) : float32[N0,3]
          return (%2)
        }""")
    out, changed = fn(p)
    assert not changed and out is p


def test_constants_survive_as_outputs():
    """A fetched value that folds completely is a constant output."""
    p = program("""
        program @main() {
          %0 = constant() {value=dense<float64[2]>[1.0, -0.0]} : float64[2]
          %1 = neg(%0) : float64[2]
          return (%1, %0)
        }""")
    out, _ = fold_constants(p)
    assert_same_results(p, out)
    assert Const(np.array([-1.0, 0.0])) == out.outputs[0].attr["value"]
