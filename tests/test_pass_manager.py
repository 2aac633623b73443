"""The pass manager: pipelines and options, fixed-point iteration and its limit, errors
wrapped with the pass's name and node, verification after every pass (a broken pass is
caught and named; a broken input is not blamed on a pass), and the dump text. Also: the
default pipeline on the programs other tests build, executed before and after."""

from __future__ import annotations

import re

import pytest
from test_ir_text import FRONTEND_PROGRAMS, all_ops_program
from test_passes import assert_same_results, program

from compiler.ir.nodes import NodeCache, Program
from compiler.ir.text import print_program
from compiler.ir.types import TensorType
from compiler.ir.verify import verify
from compiler.options import CompileOptions
from passes import manager
from passes.manager import (
    PIPELINES,
    FixedPointError,
    Pass,
    PassError,
    run_pipeline,
    select_passes,
)
from passes.rewrite import rebuild

ENABLING = """program @main(%0: float32[2,3]) {
  %0 = placeholder() {dtype=float32, name="x:0", shape=[2,3]} : float32[2,3]
  %1 = constant() {value=dense<bool[]>true} : bool[]
  %2 = constant() {value=dense<float32[2,3]>[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]} : float32[2,3]
  %3 = select(%1, %2, %0) : float32[2,3]
  %4 = constant() {value=dense<float32[]>2.0} : float32[]
  %5 = mul(%3, %4) : float32[2,3]
  return (%5)
}"""


def _use(monkeypatch, *passes):
    """Make "test" a pipeline of `passes` and allow their names in disabled_passes."""
    monkeypatch.setitem(PIPELINES, "test", list(passes))
    for p in passes:
        monkeypatch.setitem(manager.PASSES, p.name, p)
    return CompileOptions(pipeline="test")


# ---- pipelines and options -------------------------------------------------------------
def test_default_pipeline_order():
    assert [p.name for p in PIPELINES["default"]] == ["fold_constants", "cse", "simplify",
                                                       "matmuls", "dce"]
    assert PIPELINES["O0"] == []


def test_o0_returns_the_program_untouched():
    p = program(ENABLING)
    out, report = run_pipeline(p, CompileOptions(pipeline="O0"))
    assert out is p and report.records == [] and report.passes == []


def test_disabled_passes_are_skipped():
    options = CompileOptions(disabled_passes=("simplify", "cse"))
    out, report = run_pipeline(program(ENABLING), options)
    assert {r.name for r in report.records} == {"fold_constants", "matmuls", "dce"}
    assert any(n.op == "select" for n in out.topo())


@pytest.mark.parametrize("options, words", [
    (CompileOptions(pipeline="O3"), ["'O3'", "O0", "default"]),
    (CompileOptions(disabled_passes=("fold",)), ["'fold'", "fold_constants", "cse",
                                                  "simplify", "dce"]),
])
def test_unknown_names_list_the_valid_ones(options, words):
    with pytest.raises(ValueError) as info:
        select_passes(options)
    for word in words:
        assert word in str(info.value)


# ---- fixed point -------------------------------------------------------------------------
def test_a_later_pass_enables_an_earlier_one():
    """simplify turns select(true, c, x) into c, so mul(c, 2.0) becomes constant-only;
    fold_constants folds it in the second round, and the third round finds nothing."""
    p = program(ENABLING)
    out, report = run_pipeline(p)
    assert [n.op for n in out.topo()] == ["constant", "placeholder"]
    runs = [(r.name, r.round, r.changed) for r in report.records]
    assert ("simplify", 1, True) in runs and ("fold_constants", 2, True) in runs
    assert report.rounds == 3
    assert_same_results(p, out)


def test_the_pipeline_stops_once_every_pass_ran_without_a_change(monkeypatch):
    calls = []

    def twice(p):
        calls.append("twice")
        return p, calls.count("twice") <= 2

    def quiet(p):
        calls.append("quiet")
        return p, False

    options = _use(monkeypatch, Pass("twice", twice), Pass("quiet", quiet))
    run_pipeline(program(ENABLING), options)
    # after the last change ("twice", round 2) each pass runs once more: "quiet" in
    # round 2, "twice" in round 3
    assert calls == ["twice", "quiet", "twice", "quiet", "twice"]


def test_the_iteration_limit_names_the_passes_still_changing(monkeypatch):
    options = _use(monkeypatch, Pass("restless", lambda p: (p, True)),
                   Pass("calm", lambda p: (p, False)))
    with pytest.raises(FixedPointError) as info:
        run_pipeline(program(ENABLING), options)
    message = str(info.value)
    assert f"{manager.MAX_ROUNDS} rounds" in message and "restless" in message
    assert "calm" not in message


# ---- errors ---------------------------------------------------------------------------
def test_an_exception_in_a_pass_is_wrapped_with_its_name(monkeypatch):
    def broken(p):
        raise KeyError("boom")

    options = _use(monkeypatch, Pass("broken", broken))
    with pytest.raises(PassError) as info:
        run_pipeline(program(ENABLING), options)
    assert "pass 'broken' failed: KeyError" in str(info.value)
    assert info.value.pass_name == "broken" and isinstance(info.value.cause, KeyError)


def test_an_exception_on_a_node_names_the_node_and_shows_the_ir(monkeypatch):
    def fails_on_mul(node, rb):
        if node.op == "mul":
            raise ZeroDivisionError("no way")
        return None

    options = _use(monkeypatch, Pass("picky", lambda p: rebuild(p, fails_on_mul)))
    text = ENABLING.replace("mul(%3, %4) : float32[2,3]", "mul(%3, %4) : float32[2,3]  "
                            "# Mul @ model.py:7")
    with pytest.raises(PassError) as info:
        run_pipeline(program(text), options)
    message = str(info.value)
    assert re.search(r"pass 'picky' failed on %\d+ mul 'Mul' \(created at model.py:7\): "
                     "ZeroDivisionError: no way", message), message
    marked = [line for line in message.splitlines() if line.startswith(">>")]
    assert len(marked) == 1 and "= mul(" in marked[0]
    assert info.value.node.op == "mul"


def _mistyped(p: Program) -> tuple:
    """A buggy pass: gives the output a wrong type."""
    cache = NodeCache()
    x = p.inputs[0]
    bad = cache.make("exp", (x,), {}, TensorType(x.dtype, (7,)))
    return Program(list(p.inputs), [bad], {}, list(p.symbols)), True


def test_the_verifier_catches_a_broken_pass_and_names_it(monkeypatch):
    options = _use(monkeypatch, Pass("mistyped", _mistyped))
    with pytest.raises(PassError) as info:
        run_pipeline(program(ENABLING), options)
    message = str(info.value)
    assert message.startswith("pass 'mistyped' produced an invalid program: IR "
                              "verification failed: %1 exp")
    assert ">>" in message and info.value.node.op == "exp"


def test_an_invalid_input_is_not_blamed_on_the_pass(monkeypatch):
    broken, _ = _mistyped(program(ENABLING))
    options = _use(monkeypatch, Pass("mistyped", _mistyped))
    with pytest.raises(PassError) as info:
        run_pipeline(broken, options)
    assert "it was invalid before the pass ran" in str(info.value)
    assert info.value.pass_name == ""


def test_a_pass_must_return_a_program(monkeypatch):
    options = _use(monkeypatch, Pass("sloppy", lambda p: (None, True)))
    with pytest.raises(PassError, match="pass 'sloppy' returned NoneType"):
        run_pipeline(program(ENABLING), options)


# ---- dumps ---------------------------------------------------------------------------
def test_dump_shows_every_pass_run_with_its_summary():
    p = program(ENABLING)
    _, report = run_pipeline(p, dump=True)
    text = report.text()
    assert text.startswith("==== input ====\npipeline default (fold_constants, cse, "
                           "simplify, matmuls, dce): 6 nodes, 3 round(s)")
    assert print_program(p).strip() in text
    for record in report.records:
        assert record.summary() in text
    assert report.records[2].summary().startswith(
        "pass simplify: 6 nodes -> 4 nodes (removed 2, added 0, merged 0) in ")
    assert report.records[5].summary().startswith(
        "pass fold_constants: 4 nodes -> 2 nodes (removed 3, added 1, merged 0) in ")
    assert report.records[1].summary().endswith(" ms, unchanged")
    assert list(report.stages())[:7] == ["input", "fold_constants", "cse", "simplify",
                                         "matmuls", "dce", "fold_constants.2"]
    for name in ("fold_constants", "cse", "simplify", "matmuls", "dce"):
        assert f"pass {name}: " in text


def test_without_dump_no_text_is_kept():
    _, report = run_pipeline(program(ENABLING))
    assert report.input_text is None and all(r.text is None for r in report.records)
    assert "pass simplify: 6 nodes -> 4 nodes" in report.text()


def test_structural_counts_for_passes_that_return_a_bool(monkeypatch):
    def drop_output(p):
        if p.outputs == [p.inputs[0]]:
            return p, False
        return Program(list(p.inputs), [p.inputs[0]], {}, list(p.symbols)), True

    options = _use(monkeypatch, Pass("drop", drop_output))
    _, report = run_pipeline(program(ENABLING), options)
    assert report.records[0].summary().startswith(
        "pass drop: 6 nodes -> 1 nodes (removed 5, added 0, merged 0)")


# ---- the default pipeline on other tests' programs -----------------------------------
@pytest.mark.parametrize("build", FRONTEND_PROGRAMS + [all_ops_program],
                         ids=lambda f: f.__name__)
def test_default_pipeline_on_frontend_and_every_op_programs(build):
    p = build()
    out, report = run_pipeline(p)
    verify(out)
    assert report.rounds >= 1
    assert_same_results(p, out, size=4)


def test_default_pipeline_is_idempotent():
    once, _ = run_pipeline(program(ENABLING))
    twice, report = run_pipeline(once)
    assert twice is once and not any(r.changed for r in report.records)
    assert twice.outputs[0].attr["value"].array.tolist() == [[2, 4, 6], [8, 10, 12]]
