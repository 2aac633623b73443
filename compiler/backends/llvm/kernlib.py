"""Kernels compiled once per target: each kernel's canonical key, and its object code
from the kernel library (compiler/kernel_cache.py) or compiled now.

`kernel_objects(kernels, options)` -> (symbols, objects): `symbols` maps each kernel's
name (`Kernel.name`, program-local) to the global name of its function, `fk_` + 16 hex
digits of its key; `objects` are the `KernelObject`s that define them, found in the
library (this process's memo, then the disk) or compiled here and kept there. The
program's entry module (emit.py `emit_entry_module`) declares the kernels by these names
and the loader links it with the objects (runtime/llvm_jit.py; the compile cache's
`cc -shared`).

The key of a kernel (`kernel_parts`) is what its object code is a function of: the sha256
of its canonical text (`canonical_text`: every field of the kernel IR, with the
program-local names made positional: buffers p0.., symbols s0.. (lowering does that),
loop variables and locals v0.. in order of declaration; the kernel's own name and the
user nodes it computes left out), the thread count when it is a parallel kernel of a
threaded program (its chunking is built in; 1 otherwise), and the target: LLVM CPU name
and features, opt level, LLVM and llvmlite versions, flowc's version and source
fingerprint (as the compile cache's key, compiler/cache.py) and `FORMAT`. Two programs
whose kernels are equal up to names share them.

The function of a kernel is hidden (never exported from a shared object) and `weak_odr`:
one key is one code, so when two objects of a link define the same kernel (two processes
compiled it at once), the linker keeps one.

Compiling: the kernels the library does not hold go through LLVM in modules of up to
`BATCH_STATEMENTS` kernel-IR statements each (one module per kernel would pay LLVM's
fixed cost per module, ~2 ms, 416 times on W4), one object per module, and that object
is kept under the key of every kernel in it. The thread pool is not in a kernel object:
a parallel kernel calls the `flowc_pool_run` of the program it is linked into, so parallel
and serial kernels never share a module (`batches`): a program of another thread count,
which links another pool or none, finds a serial kernel in an object that calls no pool.
`hooks` lists callables run as hook(n_kernels) after each module is compiled (tests count
LLVM compiles through it).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json

import llvmlite
import llvmlite.binding as llvm
from llvmlite import ir

from ... import kernel_cache, timings
from ...ir import dtypes as T
from ...kernel_cache import KernelObject
from ...lower import kir as K
from ...toolchain import compiler_fingerprint
from . import pool, target
from .emit import FnEmitter, ModuleEmitter, emit_parallel_kernel, is_parallel

FORMAT = 1
SYMBOL_PREFIX = "fk_"
#: kernel-IR statements per LLVM module of kernels compiled together; a larger kernel
#: gets a module of its own
BATCH_STATEMENTS = 4000
#: linkage and visibility of a kernel's function (llvmlite prints the string as it is)
KERNEL_LINKAGE = "weak_odr hidden"
hooks: list = []


# ---- the key -------------------------------------------------------------------------------
def canonical_text(kernel: K.Kernel) -> str:
    """Every field of `kernel` that its code depends on, as text, with loop variables and
    locals renamed v0, v1, ... in order of declaration; no name, no node descriptions."""
    k = dataclasses.replace(kernel, name="", nodes=())
    return _Writer().text(k)


class _Writer:
    """The canonical text of a kernel-IR tree. Lowering interns its trees (equal
    subtrees are one object), so the text of each node object is made once."""

    def __init__(self):
        self.names: dict = {}
        self.memo: dict = {}   # id(node) -> (node, text); the node kept alive

    def text(self, obj) -> str:
        if isinstance(obj, (tuple, list)):
            return "(" + ",".join(self.text(x) for x in obj) + ")"
        if not dataclasses.is_dataclass(obj):
            return obj.name if isinstance(obj, T.DType) else repr(obj)
        hit = self.memo.get(id(obj))
        if hit is not None:
            return hit[1]
        cls = type(obj).__name__
        if cls in _DECLARES and obj.var not in self.names:
            self.names[obj.var] = f"v{len(self.names)}"
        fields = []
        for name in _fields(type(obj)):
            value = getattr(obj, name)
            if name == "var" or (cls == "Var" and name == "name"):
                fields.append(self.names.get(value, value))
            else:
                fields.append(self.text(value))
        out = cls + "{" + ";".join(fields) + "}"
        if cls not in _DECLARES:   # a declaring node's text depends on the order of names
            self.memo[id(obj)] = (obj, out)
        return out


_DECLARES = frozenset(["Loop", "Let", "Accumulator"])


@functools.lru_cache(maxsize=None)
def _fields(cls) -> tuple:
    return tuple(f.name for f in dataclasses.fields(cls))


@functools.lru_cache(maxsize=None)
def _target_parts(cpu: str, opt_level: int, fingerprint: str) -> tuple:
    if cpu in ("host", ""):
        target.target_machine(cpu)   # initializes LLVM
        name, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    else:
        name, features = cpu, ""
    return (("format", FORMAT), ("flowc", fingerprint), ("cpu", name),
            ("features", features), ("opt_level", opt_level),
            ("llvm", ".".join(map(str, llvm.llvm_version_info))),
            ("llvmlite", llvmlite.__version__))


def threads_of(kernel: K.Kernel, threads: int) -> int:
    """The thread count `kernel`'s code depends on: `threads` for a parallel kernel of a
    threaded program (its chunking is built in), else 1."""
    return threads if threads > 1 and is_parallel(kernel) else 1


def kernel_parts(kernel: K.Kernel, options, fingerprint=None) -> dict:
    """The key's components of `kernel` compiled with `options` (see the module
    docstring)."""
    base = _target_parts(options.target_cpu, options.opt_level,
                         fingerprint or compiler_fingerprint())
    text = canonical_text(kernel)
    return {**dict(base), "kernel": hashlib.sha256(text.encode()).hexdigest(),
            "threads": threads_of(kernel, options.threads)}


def digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def symbol(key_digest: str) -> str:
    return SYMBOL_PREFIX + key_digest[:16]


# ---- objects ---------------------------------------------------------------------------------
def kernel_objects(kernels, options, use_library=True):
    """(symbols, objects) for `kernels` (see the module docstring). `use_library` False:
    compile every kernel and keep nothing (dumps)."""
    symbols, wanted = {}, {}
    with timings.phase("llvm.key"):
        fingerprint = compiler_fingerprint()
        for k in kernels:
            parts = kernel_parts(k, options, fingerprint)
            d = digest(parts)
            symbols[k.name] = symbol(d)
            wanted.setdefault(d, (k, parts))
    objects, missing = {}, []
    with timings.phase("llvm.library"):
        for d, (k, parts) in wanted.items():
            obj = kernel_cache.find(d, parts) if use_library else None
            if obj is None:
                missing.append((d, k, parts))
            else:
                objects.setdefault(obj.sha256, obj)
    # progress counts the program's kernels (as lowering reports them), not keys
    uses = collections.Counter(symbols.values())
    done = len(kernels) - sum(uses[symbol(d)] for d, _, _ in missing)
    timings.kernels(done, len(kernels))
    for batch in batches(missing):
        obj = compile_batch([(symbol(d), k) for d, k, _ in batch], options)
        if use_library:
            with timings.phase("llvm.library"):
                kernel_cache.keep(obj, {d: parts for d, _, parts in batch})
        objects.setdefault(obj.sha256, obj)
        done += sum(uses[symbol(d)] for d, _, _ in batch)
        timings.kernels(done, len(kernels))
        for hook in hooks:
            hook(len(batch))
    return symbols, list(objects.values())


def library_status(kernels, options) -> tuple:
    """(how many of `kernels`' distinct keys the library holds, how many there are)."""
    fingerprint = compiler_fingerprint()
    wanted = {}
    for k in kernels:
        parts = kernel_parts(k, options, fingerprint)
        wanted[digest(parts)] = parts
    found = sum(kernel_cache.find(d, parts) is not None for d, parts in wanted.items())
    return found, len(wanted)


def pool_object(options) -> KernelObject:
    """The thread pool of `options.threads` (pool.py) as an object of its own, kept in
    the library like a kernel (its key's "kernel" is "flowc_pool"): every executable or
    .so links its own copy, so each still has one pool. Its functions are hidden (a .so
    exports its C API alone; MCJIT finds `flowc_pool_stop` by name all the same)."""
    parts = {**dict(_target_parts(options.target_cpu, options.opt_level,
                                  compiler_fingerprint())),
             "kernel": "flowc_pool", "threads": options.threads}
    d = digest(parts)
    obj = kernel_cache.find(d, parts)
    if obj is None:
        module = ir.Module("flowc_pool")
        pool.emit_pool(module, options.threads - 1, internal=False)
        for name in (pool.RUN, pool.STOP):
            module.globals[name].linkage = "hidden"
        text = str(module)
        opt, data, _ = compile_text(text, options)
        obj = KernelObject(data, {"llvm": text, "llvm_opt": opt})
        kernel_cache.keep(obj, {d: parts})
    return obj


def compile_entry(llvm_text, options):
    """(optimized IR text, object code) of an entry module: `target.ENTRY_PASSES` and
    code generation at O0 (target.optimize_entry says why)."""
    ref = target.optimize_entry(llvm_text, options.target_cpu)
    with timings.phase("llvm.opt_text"):
        opt_text = str(ref)
    with timings.phase("llvm.codegen"):
        obj = target.target_machine(options.target_cpu, 0, pic=True).emit_object(ref)
    return opt_text, obj


def batches(missing) -> list:
    """`missing` [(digest, kernel, parts)] in groups of at most `BATCH_STATEMENTS`
    statements each, parallel kernels (a key's thread count over 1) apart from serial
    ones: an object holding both would be found by a serial kernel's key from a program
    of another thread count, and call a `flowc_pool_run` that program does not link."""
    out = []
    for parallel in (False, True):
        size, start = 0, len(out)
        for item in missing:
            if (item[2]["threads"] > 1) != parallel:
                continue
            n = _statements(item[1].body)
            if len(out) == start or size + n > BATCH_STATEMENTS:
                out.append([])
                size = 0
            out[-1].append(item)
            size += n
    return out


def _statements(stmts) -> int:
    n = 0
    for s in stmts:
        n += 1
        for child in (getattr(s, "body", ()), getattr(s, "then", ()), getattr(s, "else_", ())):
            n += _statements(child)
    return n


def emit_kernels_module(named, threads) -> ir.Module:
    """One LLVM module defining each kernel of `named` [(symbol, Kernel)] as the hidden
    weak_odr function `symbol` (a parallel one with its chunk functions, calling the
    external `flowc_pool_run`)."""
    mod = ModuleEmitter("flowc_kernels")
    if any(threads_of(k, threads) > 1 for _, k in named):
        mod.pool = ir.Function(mod.module, pool.RUN_TY, pool.RUN)
    for sym, k in named:
        k = dataclasses.replace(k, name=sym)
        fn = emit_parallel_kernel(mod, k, threads) if threads_of(k, threads) > 1 \
            else FnEmitter(mod, k).emit()
        fn.attributes.add("noinline")
        fn.linkage = KERNEL_LINKAGE
    return mod.module


def compile_batch(named, options, assembly=False) -> KernelObject:
    """Emit, optimize and code-generate the kernels `named` [(symbol, Kernel)] as one
    position-independent object; its texts hold the module's LLVM IR before and after
    optimization (and its assembly when `assembly`)."""
    with timings.phase("llvm.emit_ir"):
        module = emit_kernels_module(named, options.threads)
    with timings.phase("llvm.ir_text"):
        text = str(module)
    opt, obj, asm = compile_text(text, options, assembly)
    texts = {"llvm": text, "llvm_opt": opt}
    if assembly:
        texts["asm"] = asm
    return KernelObject(obj, texts)


def compile_text(llvm_text, options, assembly=False):
    """(optimized IR text, position-independent object code, assembly or "") of one
    module's LLVM IR text."""
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
