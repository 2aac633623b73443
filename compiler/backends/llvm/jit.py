"""The CPU backend: kernel IR -> LLVM IR -> optimized module -> position-independent
object code -> MCJIT -> a `runtime.cpu_executable.CpuExecutable`.

The object code is made once: MCJIT loads it, and the compile cache links the same bytes
into its shared object (`executable.objects`). Timed as the phases "llvm.emit_ir",
"llvm.ir_text", "llvm.parse", "llvm.optimize", "llvm.opt_text", "llvm.codegen" and
"llvm.load" (compiler/timings.py). Stage texts added: "llvm", "llvm_opt",
and "asm" when `assembly` (dumps). Never plans kernels or touches the cache.

`describe(exe)` and `load(description, signature, options)` make another executable of
a program from its object code without LLVM optimization (the in-process memo,
compiler/memo.py): a new MCJIT engine per executable, fresh constants.
"""

from __future__ import annotations

from dataclasses import replace

from runtime.cpu_executable import CpuExecutable
from runtime.llvm_jit import JitLibrary

from ... import timings
from ..base import Backend
from ..layout import call_labels, layout_of
from . import emit, entry, target


def build(lowered, signature, name, options, texts, assembly=False) -> CpuExecutable:
    module = emit.emit_module(lowered, name=name, threads=options.threads,
                              internal_pool=False)
    with timings.phase("llvm.ir_text"):
        llvm_text = str(module)
    llvm_opt, obj, asm = _compile_module(llvm_text, options, assembly)
    texts.update({"llvm": llvm_text, "llvm_opt": llvm_opt})
    if assembly:
        texts["asm"] = asm
    with timings.phase("llvm.load"):
        return _executable(lowered, signature, obj, options, texts)


def _executable(lowered, signature, obj, options, texts) -> CpuExecutable:
    """The object code `obj` loaded by MCJIT, as the executable of `lowered`."""
    lib = JitLibrary([obj], target.target_machine(options.target_cpu, options.opt_level,
                                                  pic=True))
    layout = layout_of(lowered)
    exe = CpuExecutable(signature, layout.specs, layout.outputs, layout.updates, layout.errors,
                     lib.address(entry.ENTRY), keepalive=lib, texts=texts,
                     lifetimes=layout.lifetimes(lowered),
                     timed=(lib.address(entry.TIMED_ENTRY), call_labels(lowered)))
    exe.objects = [obj]  # position-independent: the compile cache links it as it is
    return exe


def _compile_module(llvm_text, options, assembly):
    """(optimized IR text, position-independent object code, assembly or "")."""
    ref = target.optimize(llvm_text, options.opt_level, options.target_cpu)
    tm = target.target_machine(options.target_cpu, options.opt_level, pic=True)
    asm = ""
    if assembly:
        with timings.phase("llvm.asm"):
            asm = tm.emit_assembly(ref)
    with timings.phase("llvm.opt_text"):
        opt_text = str(ref)
    with timings.phase("llvm.codegen"):
        obj = tm.emit_object(ref)
    return opt_text, obj, asm


def describe(exe: CpuExecutable):
    """(description, bytes): what `load` needs to make another executable of `exe`'s
    program — its object code and buffer table (constants copied) — and its size."""
    buffers = [replace(b, source=b.source.copy()) if b.kind == "const" else b
               for b in exe.buffers]
    description = {"objects": list(exe.objects), "buffers": buffers,
                   "outputs": list(exe.outputs), "updates": dict(exe.updates),
                   "errors": dict(exe.errors), "lifetimes": dict(exe.lifetimes),
                   "calls": list(exe.call_labels),
                   "texts": {k: v for k, v in exe.texts.items() if k != "asm"}}
    size = sum(len(o) for o in exe.objects) + \
        sum(b.source.nbytes for b in buffers if b.kind == "const")
    return description, size


def load(description, signature, options) -> CpuExecutable:
    """A new executable of a `describe`d program: its object code loaded into a new MCJIT
    engine (no LLVM optimization), its constants copied (never shared between
    executables), `signature` the program's being compiled (feed names)."""
    with timings.phase("llvm.load"):
        return _load(description, signature, options)


def _load(description, signature, options) -> CpuExecutable:
    lib = JitLibrary(description["objects"],
                     target.target_machine(options.target_cpu, options.opt_level, pic=True))
    buffers = [replace(b, source=b.source.copy()) if b.kind == "const" else b
               for b in description["buffers"]]
    exe = CpuExecutable(signature, buffers, description["outputs"], description["updates"],
                        description["errors"], lib.address(entry.ENTRY), keepalive=lib,
                        texts=dict(description["texts"]), lifetimes=description["lifetimes"],
                        timed=(lib.address(entry.TIMED_ENTRY), description["calls"]))
    exe.objects = list(description["objects"])
    return exe


def schedule(options):
    """The CPU schedule: matmul tiles for the vector width of `options.target_cpu`."""
    return target.cpu_schedule(options.target_cpu)


BACKEND = Backend("cpu", schedule, build)
