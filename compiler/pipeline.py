"""The compile pipeline: every driver (Session, fc.jit, fc.dump, the viewer, fc.compile,
the CLI) compiles through these stages, in this order, and nowhere else:

    graph       the user's graph and the (fetches, feeds, targets) to compile
                                                     `resolve_fetches`, `graph_text`
    program     conversion (prune, re-infer, canonicalize) and verification
                                                     `to_program`
    optimized   the pass pipeline to a fixed point   `optimize`  (passes/manager.py)
    plan        the kernel plan: fusion              `plan`      (passes/fusion.py)
    lowered     the loop-level kernel IR             `lower`     (compiler/lower/)
    artifact    the backend's executable             `build_program`
                (`BACKENDS[options.device]`, compiler/backends/)

`build_program(program, options, assembly=False)` runs plan -> lowered -> artifact with
the compile cache (compiler/cache.py) around it, keyed on the optimized program it is
given: a hit returns the cached executable without planning or code generation, a miss
builds and stores (`assembly=True`, dumps, bypasses the cache). With the cache on disk
off, CPU programs go through the in-process memo instead (compiler/memo.py: one LLVM run
per program per process). `compile_graph` runs every stage from the graph (Session,
fc.jit, fc.dump) and writes the stage texts when asked; it keys the cache on the
converted program instead (before verification and the passes), so its hit skips every
stage after conversion. `optimized_program` stops at the optimized program (fc.compile),
`converted_program` at the converted one (`flowc cache explain`); `plan_and_lower` takes
an optimized program on to the kernel IR (fc.compile's C API module, the viewer's kernel
plan via `plan`). The stage texts ("graph", "input", one per pass run, "fusion",
"kernels", then the backend's: "llvm", "llvm_opt", "asm" or "cuda") are assembled here
(`stage_texts`), the fusion stage recorded in the pass report like a pass.

Every stage runs inside a `timings.phase` (compiler/timings.py: "convert", "verify",
"cache.lookup", one per pass run from passes/manager.py, "fusion", "lower", the backend's
"llvm.*", "cache.store"), which a driver's `timings.record()` collects (`flowc compile
--timings`) and whose names are the stages a progress line shows; `lower` reports the
kernel count (0 of N built) and the backend's build N of N.

Drivers choose the options and what to do with the result; backends are functions of
the lowered program and the options (they never plan, run passes or touch the cache).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from passes.fusion import format_plan, plan_kernels
from passes.manager import PassReport, run_pipeline, select_passes

from . import cache, memo, timings
from .backends import BACKENDS
from .convert import _needed_ops, convert
from .errors import CompileError
from .frontend.graph import Operation, Tensor, get_default_graph, op_regions
from .gcpause import gc_paused
from .interpret import InterpretedProgram
from .ir.signature import program_signature
from .ir.types import format_type
from .ir.verify import verify
from .lower import format_kernel, lower_program
from .lower.kir import flat_calls, format_call_constants, format_host, has_control
from .options import CompileOptions
from .placement import decisions_for, kind_of
from .summary.ops import is_summary, numeric_inputs


@dataclass
class Compiled:
    """What `compile_graph` made: the optimized program, the pass report (with the
    fusion stage when dumping) and the backend's executable."""
    program: object
    report: PassReport
    executable: object


# ---- graph ------------------------------------------------------------------------------
def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def elements(graph, items) -> list:
    """The graph elements (tensors, operations) that `items` name."""
    out = []
    for f in items:
        el = graph.as_graph_element(f._as_graph_element() if hasattr(f, "_as_graph_element")
                                    and not isinstance(f, Tensor) else f)
        out.append(el)
    return out


def resolve_fetches(fetches, feeds=None):
    """(graph, fetched tensors, target ops, feed tensors) of `fc.dump`'s arguments; feeds
    default to every placeholder the fetches depend on. A summary stands for the numeric
    tensors it summarizes (what `Session.run` compiles for it)."""
    items = _as_list(fetches)
    graph = items[0].graph if items else get_default_graph()
    flat = []
    for f in elements(graph, items):
        flat.extend(numeric_inputs(f) if is_summary(f) else [f])
    tensors = [f for f in flat if isinstance(f, Tensor)]
    targets = [f for f in flat if isinstance(f, Operation)]
    if feeds is None:
        feed_list = [op.outputs[0] for op in needed_ops(tensors, targets)
                     if op.type == "placeholder"]
    else:
        feed_list = elements(graph, list(feeds))
    return graph, tensors, targets, feed_list


def needed_ops(tensors, targets) -> list:
    """The user ops the fetches need, in topological order."""
    return _needed_ops([t.op for t in tensors] + list(targets), set())


def graph_text(ops, placements=None) -> str:
    """The "graph" stage: one line per user op (name, type, inputs, type, device,
    file:line); a `While`/`If` op is followed by its regions (cond and body, then and
    else), each a header line naming its params and results and then its ops, indented
    two more spaces per level of nesting. With `placements` (the placer's decisions) a
    placed op's line also shows `placed=DEVICE (reason)`."""
    lines = []
    _graph_lines(ops, "", lines, placements or {})
    return "\n".join(lines)


def _graph_lines(ops, indent, lines, placements):
    for op in ops:
        ins = ", ".join(t.name for t in op.inputs)
        ctrl = ", ".join("^" + c.name for c in op.control_inputs)
        out = " : " + ", ".join(format_type(t.type) for t in op.outputs) if op.outputs else ""
        dev = f" device={op.device!r}" if op.device else ""
        if op in placements:
            p = placements[op]
            dev += f" placed={p.device.to_string()!r} ({p.reason})"
        args = ", ".join(x for x in (ins, ctrl) if x)
        lines.append(f"{indent}{op.name} = {op.type}({args}){out}{dev}  # {op.loc}")
        for region in op_regions(op):
            params = ", ".join(t.name for t in region.params)
            results = ", ".join(t.name for t in region.results)
            lines.append(f"{indent}  {region.kind}({params}) -> ({results}):")
            _graph_lines(region.ops, indent + "    ", lines, placements)


def place(options: CompileOptions, tensors, targets, feeds, config=None) -> CompileOptions:
    """`options` with the device the placer's decisions for the fetched ops choose
    (compiler/placement.py; `config` its PlacementConfig: soft placement, logging)."""
    return placed(options, tensors, targets, feeds, config)[0]


def placed(options: CompileOptions, tensors, targets, feeds, config=None):
    """(`place`'s options, the placer's {op: Placement} decisions). When the decisions
    use more than one device, `options` is returned as given: the caller partitions
    (`is_partitioned`, compiler/partition.py)."""
    decisions = decisions_for([t.op for t in tensors] + list(targets), feeds, options, config)
    if is_partitioned(decisions):
        return options, decisions
    device = kind_of(decisions, options)
    return (options if device == options.device else replace(options, device=device),
            decisions)


def is_partitioned(decisions) -> bool:
    """Whether placement `decisions` use more than one device (or task)."""
    return len({p.device for p in decisions.values()}) > 1


# ---- program, optimized -----------------------------------------------------------------
def to_program(graph, tensors, feeds, targets=(), feed_ranks=None, name=None,
               verified=True, within=None):
    """The compiler-IR Program of (fetches, feeds), verified unless `verified=False`
    (`compile_graph` verifies only when the compile cache misses); `within`: one
    partition's ops (convert's cut, compiler/partition.py)."""
    with timings.phase("convert"):
        program = convert(graph, tensors, feeds, targets=targets, feed_ranks=feed_ranks,
                          within=within)
    if name is not None:
        program.name = name
    if verified:
        with timings.phase("verify"):
            verify(program)
    return program


def optimize(program, options: CompileOptions, dump=False):
    """(optimized program, PassReport): the pass pipeline `options` selects."""
    return run_pipeline(program, options, dump=dump)


def converted_program(fetches, feeds, name=None, verified=True):
    """(converted Program, user graph) of `fetches` with exactly `feeds` (tensors) as the
    arguments: what `compile_graph` keys the compile cache on (`flowc cache explain`)."""
    items = list(fetches) if isinstance(fetches, (list, tuple)) else [fetches]
    first = next((f for f in items if isinstance(f, (Tensor, Operation))), None)
    graph = first.graph if first is not None else get_default_graph()
    flat = elements(graph, items)
    tensors = [f for f in flat if isinstance(f, Tensor)]
    targets = [f for f in flat if isinstance(f, Operation)]
    feed_list = elements(graph, list(feeds or []))
    bad = [f for f in feed_list if not isinstance(f, Tensor)]
    if bad:
        raise CompileError(f"feeds must be tensors (placeholders), got {bad[0]!r}")
    return to_program(graph, tensors, feed_list, targets, name=name, verified=verified), graph


def optimized_program(fetches, feeds, options: CompileOptions, name=None):
    """(optimized Program, user graph) of `fetches` with exactly `feeds` (tensors) as the
    arguments: fc.compile's entry."""
    program, graph = converted_program(fetches, feeds, name)
    program, _ = optimize(program, options)
    return program, graph


# ---- plan, lowered, artifact ------------------------------------------------------------
def plan(program, report: PassReport = None):
    """The kernel plan (fusion) of an optimized program; recorded in `report` as the
    stage "fusion" when given."""
    with timings.phase("fusion"):
        kernel_plan = plan_kernels(program)
    if report is not None:
        report.add_stage("fusion", format_plan(kernel_plan))
    return kernel_plan


def lower(program, kernel_plan, options: CompileOptions):
    """The LoweredProgram (kernel IR) of a kernel plan, with the schedule of the backend
    `options.device` selects. The one call of `lower_program`."""
    with timings.phase("lower"):
        lowered = lower_program(program, kernel_plan, BACKENDS[options.device].schedule(options))
    timings.kernels(0, len(lowered.kernels))
    return lowered


def plan_and_lower(program, options: CompileOptions, report: PassReport = None):
    """(kernel plan, LoweredProgram) of an optimized program."""
    kernel_plan = plan(program, report)
    return kernel_plan, lower(program, kernel_plan, options)


def build_program(program, options: CompileOptions = None, assembly=False,
                  report: PassReport = None):
    """The executable of an optimized program for `options.device`: from the compile
    cache, else planned, lowered, built by the backend and stored. `assembly=True`
    (dumps) bypasses the cache and keeps the assembly text too."""
    options = options or CompileOptions()
    if assembly:
        return _build(program, options, assembly, report)
    with timings.phase("cache.lookup"):
        exe, parts = cache.lookup(program, options)
    if exe is not None:
        return exe
    if parts is None:  # the cache on disk is off: the in-process memo (CPU)
        return _build_memo(program, options, report)
    with cache.key_lock(parts):  # one compile per key at a time in this process
        with timings.phase("cache.lookup"):
            exe = cache.load(parts, program, options)  # another thread may have stored it
        if exe is None:
            exe = _build(program, options, assembly, report)
            with timings.phase("cache.store"):
                cache.store(parts, exe, options)
    return exe


def _build_memo(program, options, report):
    """A CPU program from the in-process memo (compiler/memo.py), else built and kept
    there: compiling one program again in this process runs LLVM once."""
    if options.device != "cpu":
        return _build(program, options, False, report)
    from .backends.llvm import jit
    with timings.phase("memo.lookup"):
        parts = {**cache.key_parts(program, options), "program": memo.program_hash(program)}
        key = cache.digest(parts)
    with cache.key_lock(parts):  # threads compiling one program at once compile it once
        description = memo.get(key)
        if description is not None:
            return jit.load(description, program_signature(program), options)
        exe = _build(program, options, False, report)
        with timings.phase("memo.store"):
            memo.put(key, *jit.describe(exe))
    return exe


def _build(program, options, assembly, report, signature=None):
    """Plan, lower and build (no cache), with the cyclic garbage collector paused
    (compiler/gcpause.py). `signature`: the executable's, when it is not the program's
    own (`compile_graph` gives the converted program's, as its hits do)."""
    with gc_paused():
        kernel_plan, lowered = plan_and_lower(program, options, report)
        with timings.phase("stage_texts"):
            texts = {"fusion": report.later["fusion"] if report is not None
                     else format_plan(kernel_plan),
                     "kernels": kernels_text(lowered)}
        exe = BACKENDS[options.device].build(lowered,
                                             signature or program_signature(program),
                                             program.name, options, texts, assembly)
    timings.kernels(len(lowered.kernels), len(lowered.kernels))
    return exe


def kernels_text(lowered) -> str:
    """The "kernels" stage: every kernel, then the host schedule when it has loops or
    branches (which kernels run in which loop body or branch)."""
    calls = flat_calls(lowered.calls)
    text = "\n\n".join(format_kernel(k) + _calls_line(k, calls) for k in lowered.kernels)
    if has_control(lowered.calls):
        text += "\n\nhost schedule:\n" + "\n".join(format_host(lowered.calls, "  "))
    return text


def _calls_line(kernel, calls) -> str:
    line = format_call_constants(kernel, calls)
    return "\n" + line if line else ""


# ---- whole compiles ---------------------------------------------------------------------
def compile_graph(graph, tensors, feeds, options: CompileOptions, *, targets=(),
                  feed_ranks=None, dump=False, dump_dir="", check=None, prepare=None,
                  interpret=False, within=None) -> Compiled:
    """Every stage from the user's graph to the executable. `check(program)` sees the
    converted program, `prepare(program)` the optimized one before the backend runs (on
    a compile-cache hit, the converted one: the same signature, its variables a superset
    of the optimized program's); `interpret=True` wraps the optimized program in the
    numpy interpreter instead. `dump=True` keeps every stage's text (`stage_texts`; the
    cache is bypassed); with `dump_dir` they are also written to `dump_dir/NN_stage.txt`.

    The compile cache is keyed on the converted program (stage "converted",
    compiler/cache.py), so a hit skips verification, the passes, planning, lowering and
    the backend: its `Compiled` holds the converted program and a pass report of no pass
    runs. `within`: the ops of one partition (compiler/partition.py: the walk stays in
    them, so fusion never crosses a partition)."""
    dump = bool(dump or dump_dir)
    program = to_program(graph, tensors, feeds, targets, feed_ranks, verified=False,
                         within=within)
    parts = None
    if not (dump or interpret):
        with timings.phase("cache.lookup"):
            exe, parts = cache.lookup(program, options, "converted")
        if exe is not None:
            return _hit(program, options, exe, check, prepare)
    if parts is None:  # dumps, the interpreter, the cache off (the memo in build_program)
        return _optimize_and_build(program, options, dump, dump_dir, check, prepare,
                                   interpret)
    with cache.key_lock(parts):  # one compile per key at a time in this process
        with timings.phase("cache.lookup"):
            exe = cache.load(parts, program, options)  # another thread may have stored it
        if exe is not None:
            return _hit(program, options, exe, check, prepare)
        signature = program_signature(program)
        compiled = _optimize_and_build(
            program, options, False, "", check, prepare, False,
            build=lambda p, report: _build(p, options, False, None, signature))
        with timings.phase("cache.store"):
            cache.store(parts, compiled.executable, options)
    return compiled


def _hit(program, options, exe, check, prepare) -> Compiled:
    """The Compiled of a compile-cache hit on the converted `program`: no pass ran."""
    if check is not None:
        check(program)
    if prepare is not None:
        prepare(program)
    name, passes = select_passes(options)
    return Compiled(program, PassReport(name, [p.name for p in passes],
                                        input_nodes=len(program.topo())), exe)


def _optimize_and_build(program, options, dump, dump_dir, check, prepare, interpret,
                        build=None) -> Compiled:
    """Verify, check, optimize, prepare and build (`build(optimized, report)`, else
    `build_program`) a converted program."""
    with timings.phase("verify"):
        verify(program)
    if check is not None:
        check(program)
    program, report = optimize(program, options, dump=dump)
    if prepare is not None:
        prepare(program)
    if interpret:
        return Compiled(program, report, InterpretedProgram(program))
    if build is not None:
        exe = build(program, report)
    else:
        exe = build_program(program, options, assembly=dump,
                            report=report if dump else None)
    if dump_dir:
        with timings.phase("write_stages"):
            write_stages(stage_texts(report, exe), dump_dir)
    return Compiled(program, report, exe)


def stage_texts(report: PassReport, exe) -> dict:
    """{stage name: text} in pipeline order, from the pass report (input, passes,
    fusion) and the executable (kernels and the backend's texts)."""
    return {**report.stages(), **exe.texts}


def write_stages(texts: dict, dir: str) -> list:  # noqa: A002
    """One file per stage, `NN_stage.txt`, in order; the paths written. A key
    "PARTITION/stage" (a partitioned compile's, compiler/partition.py) goes to
    `PARTITION/NN_stage.txt`, numbered within its partition's folder."""
    os.makedirs(dir, exist_ok=True)
    counts, paths = {}, []
    for key, text in texts.items():
        folder, _, stage = key.rpartition("/")
        i = counts[folder] = counts.get(folder, -1) + 1
        os.makedirs(os.path.join(dir, folder), exist_ok=True)
        path = os.path.join(dir, folder, f"{i:02d}_{stage}.txt")
        with open(path, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        paths.append(path)
    return paths
