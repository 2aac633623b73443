"""The pass manager: runs a flat, named pipeline of passes over a `Program`.

A pass is a named function `program -> (program, changed)`. It takes a `Program`, never
modifies it (nodes are immutable; a pass rebuilds through a fresh `NodeCache`, see
`passes/rewrite.py`) and returns a program plus whether anything changed. Passes share
no state; everything around them is the manager's job:

- `run_pipeline(program, options=None, dump=None) -> (program, PassReport)` picks the
  pipeline named by `options.pipeline` (`PIPELINES`: "O0" runs nothing, "default" runs
  fold_constants, cse, simplify, dce), leaves out `options.disabled_passes`, and runs
  the passes in order, round after round, until every pass has run once more on the
  current program without changing it (a fixed point). More than `MAX_ROUNDS` rounds is
  a `FixedPointError` naming the passes still changing.
- It verifies the program (`compiler.ir.verify.verify`) after every pass that returned a
  new program, and times every pass (also as the `compiler.timings` phases "pass.NAME"
  and, nested, "verify", for `flowc compile --timings`).
- Any exception raised inside a pass, and a program that fails verification, becomes a
  `PassError` naming the pass and, when known, the node involved, with the IR around it.
  A program that was already invalid when handed to the pipeline is reported as such,
  never blamed on a pass.
- `PassReport` records each pass run: node counts before and after (nodes reachable from
  the outputs, effects and inputs), how many were removed, added and merged, the time,
  and with `dump=True` the IR text after the pass. A pass may return a
  `passes.rewrite.Changes` record as its (truthy) `changed`, which gives those counts;
  for a plain bool the manager compares the two programs structurally.
  `report.text()` renders the dump; `report.stages()` gives it as {stage name: text},
  ending with the stages the compile pipeline adds after the passes (`add_stage`:
  "fusion", the kernel plan; compiler/pipeline.py).

An unknown pipeline name or disabled pass name is a `ValueError` listing the valid names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from compiler import timings
from compiler.ir.nodes import Node, Program
from compiler.ir.text import print_program, render_program
from compiler.ir.verify import VerifyError, verify

from .cse import cse
from .dce import dce
from .fold_constants import fold_constants
from .rewrite import Changes, RewriteError
from .simplify import simplify

MAX_ROUNDS = 8        # rounds through the pipeline before giving up on a fixed point
EXCERPT_CONTEXT = 3   # IR lines shown on each side of the node an error names


@dataclass(frozen=True)
class Pass:
    """A named pass: `fn(program) -> (program, changed)`. The name is the dump's stage
    name and the name `CompileOptions.disabled_passes` refers to."""
    name: str
    fn: Callable

    def __call__(self, program: Program):
        return self.fn(program)


FOLD_CONSTANTS = Pass("fold_constants", fold_constants)
CSE = Pass("cse", cse)
SIMPLIFY = Pass("simplify", simplify)
DCE = Pass("dce", dce)

PIPELINES = {
    "O0": [],
    "default": [FOLD_CONSTANTS, CSE, SIMPLIFY, DCE],
}

PASSES = {p.name: p for p in (FOLD_CONSTANTS, CSE, SIMPLIFY, DCE)}


class PassError(RuntimeError):
    """A pass failed or produced an invalid program. `pass_name` names the pass, `node`
    is the node involved (or None) and `cause` the original exception."""

    def __init__(self, message: str, pass_name: str = "", node: Optional[Node] = None,
                 cause: Optional[BaseException] = None):
        super().__init__(message)
        self.pass_name = pass_name
        self.node = node
        self.cause = cause


class FixedPointError(PassError):
    """The pipeline was still changing the program after `MAX_ROUNDS` rounds."""


# ---- the report -------------------------------------------------------------------------
@dataclass
class PassRecord:
    """One run of one pass."""
    name: str
    round: int
    nodes_before: int
    nodes_after: int
    removed: int
    added: int
    merged: int
    ms: float
    changed: bool
    verify_ms: float = 0.0
    text: Optional[str] = None    # the IR after the pass, when dumping

    def summary(self) -> str:
        line = (f"pass {self.name}: {self.nodes_before} nodes -> {self.nodes_after} nodes "
                f"(removed {self.removed}, added {self.added}, merged {self.merged}) in "
                f"{self.ms:.2f} ms")
        return line if self.changed else line + ", unchanged"


@dataclass
class PassReport:
    """What a pipeline run did, pass by pass, in order."""
    pipeline: str
    passes: list                                  # the pass names that ran, in order
    records: list = field(default_factory=list)   # PassRecord per pass run
    rounds: int = 0
    input_nodes: int = 0
    input_text: Optional[str] = None              # the IR given to the pipeline, if dumping
    later: dict = field(default_factory=dict)     # stages after the passes: {"fusion": text}

    @property
    def total_ms(self) -> float:
        return sum(r.ms + r.verify_ms for r in self.records)

    def header(self) -> str:
        names = ", ".join(self.passes) or "no passes"
        return (f"pipeline {self.pipeline} ({names}): {self.input_nodes} nodes, "
                f"{self.rounds} round(s), {self.total_ms:.2f} ms")

    def add_stage(self, name: str, text: str):
        """Record a stage that follows the passes (the compile pipeline's "fusion": the
        kernel plan), so the report and the dumps show it like a pass."""
        self.later[name] = text

    def stages(self) -> dict:
        """{stage name: text} in order: "input", then one entry per pass run, named by
        the pass (with ".2", ".3", ... for its later rounds): summary line + IR text,
        then the later stages (`add_stage`)."""
        out = {"input": self.header() + "\n" + (self.input_text or "")}
        for r in self.records:
            key = r.name if r.round == 1 else f"{r.name}.{r.round}"
            body = r.text if r.changed and r.text is not None else ""
            out[key] = r.summary() + "\n" + body
        out.update(self.later)
        return out

    def text(self) -> str:
        """The whole dump: the pipeline line, the input IR, then each pass run's summary
        followed by the IR after it (left out when the pass changed nothing)."""
        parts = []
        for key, text in self.stages().items():
            parts.append(f"==== {key} ====\n{text.rstrip()}\n")
        return "\n".join(parts)


# ---- options ----------------------------------------------------------------------------
def select_passes(options=None) -> tuple:
    """(pipeline name, [Pass]) for `options` (a CompileOptions, or None for defaults)."""
    name = getattr(options, "pipeline", "default") if options is not None else "default"
    disabled = tuple(getattr(options, "disabled_passes", ()) or ())
    if name not in PIPELINES:
        raise ValueError(f"unknown pass pipeline {name!r}; valid pipelines: "
                         f"{', '.join(PIPELINES)}")
    unknown = [d for d in disabled if d not in PASSES]
    if unknown:
        raise ValueError(f"unknown pass name(s) in disabled_passes: "
                         f"{', '.join(map(repr, unknown))}; valid pass names: "
                         f"{', '.join(PASSES)}")
    return name, [p for p in PIPELINES[name] if p.name not in disabled]


# ---- running ----------------------------------------------------------------------------
def run_pipeline(program: Program, options=None, dump=None) -> tuple:
    """Run the pipeline `options` selects to a fixed point; returns (program, PassReport)."""
    name, passes = select_passes(options)
    run = _Run(program, name, passes, bool(dump))
    return run.to_fixed_point(), run.report


class _Run:
    """The state of one pipeline run (never shared with the passes)."""

    def __init__(self, program: Program, pipeline: str, passes: list, dump: bool):
        self.program = program
        self.passes = passes
        self.dump = dump
        self.verified = False     # whether self.program is known to verify
        self.keys: dict = {}      # structural key -> id, for the summaries
        self.shape = _Shape.of(program, self.keys)
        self.report = PassReport(pipeline, [p.name for p in passes],
                                 input_nodes=self.shape.count)
        if dump:
            self.report.input_text = print_program(program)

    def to_fixed_point(self) -> Program:
        if not self.passes:
            return self.program
        quiet = 0   # consecutive pass runs that changed nothing
        for round_ in range(1, MAX_ROUNDS + 1):
            self.report.rounds = round_
            changing = []
            for p in self.passes:
                if self.run_pass(p, round_):
                    changing.append(p.name)
                    quiet = 0
                else:
                    quiet += 1
                if quiet >= len(self.passes):
                    return self.program
        raise FixedPointError(f"the pass pipeline did not reach a fixed point in {MAX_ROUNDS}"
                              f" rounds; passes still changing the program in the last "
                              f"round: {', '.join(changing)}", changing[0])

    def run_pass(self, p: Pass, round_: int) -> bool:
        with timings.phase("pass." + p.name):
            return self._run_pass(p, round_)

    def _run_pass(self, p: Pass, round_: int) -> bool:
        start = time.perf_counter()
        try:
            out, changed = p(self.program)
        except Exception as e:  # every failure inside a pass is reported with its name
            raise _pass_failure(p.name, self.program, e) from e
        ms = (time.perf_counter() - start) * 1e3
        if not isinstance(out, Program):
            raise PassError(f"pass {p.name!r} returned {type(out).__name__}, not a Program",
                            p.name)
        with timings.phase("verify"):
            verify_ms = self.check(p.name, out) if out is not self.program else 0.0
        shape = _Shape.of(out, self.keys) if out is not self.program else self.shape
        if isinstance(changed, Changes):
            counts = changed.removed, changed.added, changed.merged
        else:
            counts = self.shape.diff(shape)
        record = PassRecord(p.name, round_, self.shape.count, shape.count, *counts, ms,
                            bool(changed), verify_ms)
        if self.dump and changed:
            record.text = print_program(out)
        self.report.records.append(record)
        self.program, self.shape = out, shape
        return bool(changed)

    def check(self, name: str, out: Program) -> float:
        start = time.perf_counter()
        try:
            verify(out)
        except VerifyError as e:
            if not self.verified:
                self.check_input(name)
            raise PassError(f"pass {name!r} produced an invalid program: {e}", name,
                            e.node, e) from e
        self.verified = True
        return (time.perf_counter() - start) * 1e3

    def check_input(self, name: str):
        """Blame the input, not the pass, when the program given to it was invalid."""
        try:
            verify(self.program)
        except VerifyError as e:
            raise PassError(f"the program given to pass {name!r} is not valid (it was "
                            f"invalid before the pass ran): {e}", "", e.node, e) from e
        self.verified = True


def _pass_failure(name: str, program: Program, e: Exception) -> PassError:
    cause = e.cause if isinstance(e, RewriteError) else e
    node = getattr(e, "node", None)
    message = f"pass {name!r} failed: {type(cause).__name__}: {cause}"
    if isinstance(node, Node):
        listing = render_program(program)
        number = listing.numbers.get(id(node))
        if number is not None:
            message = (f"pass {name!r} failed on %{number} {node.describe()}: "
                       f"{type(cause).__name__}: {cause}\n"
                       f"{_excerpt(listing.lines, listing.where[('node', id(node))])}")
    return PassError(message, name, node if isinstance(node, Node) else None, cause)


def _excerpt(lines: list, index: int) -> str:
    lo, hi = max(0, index - EXCERPT_CONTEXT), min(len(lines), index + EXCERPT_CONTEXT + 1)
    return "\n".join(f"{'>>' if j == index else '  '} {j + 1:>4} | {lines[j]}"
                     for j in range(lo, hi))


# ---- structural comparison for the summaries ---------------------------------------------
class _Shape:
    """A program's nodes as structural ids: equal structure (op, inputs' structure,
    attrs, type, token) gets one id, across programs, whatever the node objects are."""

    def __init__(self, ids: list):
        self.ids = ids
        self.count = len(ids)
        self.distinct = set(ids)

    @classmethod
    def of(cls, program: Program, table: dict) -> "_Shape":
        """`table` maps structural keys to ids; share it between the programs compared."""
        mine: dict = {}
        for node in program.topo():
            op, _, attrs_key, type_, token = node._key  # the key NodeCache interns by
            key = (op, tuple(mine[id(i)] for i in node.inputs), attrs_key, type_, token)
            mine[id(node)] = table.setdefault(key, len(table))
        return cls(list(mine.values()))

    def diff(self, after: "_Shape") -> tuple:
        """(removed, added, merged): nodes here with no equal node after, nodes after
        with no equal node here, and nodes here that had a structurally equal twin."""
        return (len(self.distinct - after.distinct), len(after.distinct - self.distinct),
                self.count - len(self.distinct))
