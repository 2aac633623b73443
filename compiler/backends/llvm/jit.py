"""The CPU backend: kernel IR -> LLVM IR -> optimized modules -> position-independent
object code -> MCJIT -> a `runtime.cpu_executable.CpuExecutable`.

A program is the objects of its kernels, each compiled once per target and kept in the
kernel library (kernlib.py, compiler/kernel_cache.py), and an object of its own entry
module (the host schedule and the thread pool, emit.py `emit_entry_module`) that calls
them, and the thread pool's object (threaded programs; kernlib.py `pool_object`). The
entry module is only optimized lightly (kernlib.py `compile_entry`). The object code is
made once: MCJIT loads it, and the compile cache links the same
bytes into its shared object (`executable.objects`). Stage texts added: "llvm" and
"llvm_opt" (the entry module's, then each kernel object's, joined when first read); a
dump (`assembly`) compiles the program as one module, as before, and adds "asm". Never
plans kernels or touches the program cache. Timed as the phases "llvm.key",
"llvm.library", "llvm.emit_ir", "llvm.ir_text", "llvm.parse", "llvm.optimize",
"llvm.opt_text", "llvm.codegen", "llvm.asm" and "llvm.load" (compiler/timings.py);
the kernels compiled so far are progress events (`timings.kernels`).

`describe(exe)` and `load(description, signature, options)` make another executable of
a program from its object code without LLVM optimization (the in-process memo,
compiler/memo.py): a new MCJIT engine per executable, fresh constants.

In a process connected to Ray or that has loaded torch (`library`), the objects are
linked by `cc -shared` and loaded by the dynamic loader instead of MCJIT (~25 ms a
program): MCJIT maps an object's code and its constant pools apart, and its 32-bit
offsets between them overflowed in processes holding Ray's object store and threads, or
torch's libraries (an abort in `finalize_object`, seen in a distributed Session's client,
in test processes that had started Ray, and in one that imported an ONNX model exported
by torch). The dynamic loader maps a shared object's sections as one image.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import replace

from runtime.cpu_executable import CpuExecutable
from runtime.dylib import SharedLibrary
from runtime.llvm_jit import JitLibrary

from ... import timings
from ..base import Backend
from ..layout import call_labels, layout_of
from . import emit, entry, kernlib, target


def build(lowered, signature, name, options, texts, assembly=False) -> CpuExecutable:
    """The executable of `lowered`: its kernels' objects from the kernel library or
    compiled now (kernlib.py), and the entry module compiled and linked with them. A dump
    (`assembly`) compiles the program as one module, as its stage texts show it."""
    if assembly:
        return _build_whole(lowered, signature, name, options, texts)
    symbols, kernel_objs = kernlib.kernel_objects(lowered.kernels, options)
    if options.threads > 1:
        kernel_objs.append(kernlib.pool_object(options))
    with timings.phase("llvm.emit_ir"):
        module = emit.emit_entry_module(lowered, symbols, name=name)
    with timings.phase("llvm.ir_text"):
        entry_text = str(module)
    entry_opt, entry_obj = kernlib.compile_entry(entry_text, options)
    objects = [entry_obj] + [o.data for o in kernel_objs]
    texts = _StageTexts(texts, {
        "llvm": lambda: _joined(entry_text, kernel_objs, "llvm"),
        "llvm_opt": lambda: _joined(entry_opt, kernel_objs, "llvm_opt")})
    with timings.phase("llvm.load"):
        return _executable(lowered, signature, options, objects, texts)


class _StageTexts(Mapping):
    """Stage texts, some of them made only when first read (the LLVM texts of a program
    whose kernels came from the library: joined from the objects' texts)."""

    def __init__(self, texts: dict, lazy: dict):
        self._texts, self._lazy = dict(texts), dict(lazy)

    def __getitem__(self, key):
        if key in self._lazy:
            self._texts[key] = self._lazy.pop(key)()
        return self._texts[key]

    def __iter__(self):
        return iter(list(self._texts) + list(self._lazy))

    def __len__(self):
        return len(self._texts) + len(self._lazy)


def _joined(entry_text, kernel_objs, stage) -> str:
    """The entry module's text, then each kernel object's module text."""
    parts = [entry_text]
    for obj in kernel_objs:
        parts.append(f"; ---- kernel object {obj.sha256[:16]}\n" + obj.texts.get(stage, ""))
    return "\n".join(parts)


def _build_whole(lowered, signature, name, options, texts) -> CpuExecutable:
    """The program as one module (every kernel an internal function of it), its LLVM
    texts and assembly in `texts`: what a dump shows is what runs."""
    module = emit.emit_module(lowered, name=name, threads=options.threads,
                              internal_pool=False)
    with timings.phase("llvm.ir_text"):
        llvm_text = str(module)
    llvm_opt, obj, asm = kernlib.compile_text(llvm_text, options, assembly=True)
    texts.update({"llvm": llvm_text, "llvm_opt": llvm_opt, "asm": asm})
    with timings.phase("llvm.load"):
        return _executable(lowered, signature, options, [obj], texts)


def _crowded_process() -> bool:
    """Whether MCJIT's sections may land too far apart here (module doc): Ray is
    initialized or torch is loaded."""
    ray = sys.modules.get("ray")
    return ((ray is not None and getattr(ray, "is_initialized", lambda: False)())
            or "torch" in sys.modules)


def library(objects, options):
    """The loaded code of a program's objects: an MCJIT `JitLibrary`, or in a process
    connected to Ray or with torch loaded (and with a C compiler) a linked
    `SharedLibrary` (module doc)."""
    if _crowded_process():
        from ...toolchain import find_c_compiler, link_shared
        cc = find_c_compiler()
        if cc is not None:
            with tempfile.TemporaryDirectory(prefix="flowc-jit-") as tmp:
                path = os.path.join(tmp, "code.so")
                link_shared(objects, cc, path)
                return SharedLibrary(path)  # mapped; the file goes with the folder
    return JitLibrary(objects, target.target_machine(options.target_cpu, options.opt_level,
                                                     pic=True))


def _executable(lowered, signature, options, objects, texts) -> CpuExecutable:
    lib = library(objects, options)
    layout = layout_of(lowered)
    exe = CpuExecutable(signature, layout.specs, layout.outputs, layout.updates, layout.errors,
                        lib.address(entry.ENTRY), keepalive=lib, texts=texts,
                        lifetimes=layout.lifetimes(lowered),
                        timed=(lib.address(entry.TIMED_ENTRY), call_labels(lowered)))
    exe.objects = objects  # position-independent: the compile cache links them as they are
    return exe


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
    lib = library(description["objects"], options)
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
