"""`fc.compile`: ahead-of-time compilation of (fetches, feeds) into a self-contained shared
object with a C header and a manifest (docs/abi.md).

`compile(fetches, feeds, path, name="model", session=None, options=None)` writes into the
directory `path` (created):
    NAME.so    the code: the program's kernels plus the C ABI (`backends/llvm/capi.py`);
               it needs only libc, libm and libpthread
    NAME.h     its C99 header (`backends/llvm/header.py`)
    NAME.json  the manifest (`runtime/artifact.py`), which `runtime.load` validates
`feeds` are the tensors that become arguments, in that order. Variables become instance
state: their current values in `session` when given, else their initial values (the
initializers run once with the interpreter). The code targets "x86-64-v3" unless
`options.target_cpu` names another ("host" = this CPU and its features, or an x86-64
level); `options.threads` is baked in. Linking needs a C compiler driver (`cc`, or $CC).
Returns an `Artifact` with the paths. The stages up to the kernel IR are the compile
pipeline's (compiler/pipeline.py: conversion, verification, passes, fusion, lowering);
then the LLVM backend: the kernels' objects from the kernel library or compiled now
(`kernlib.kernel_objects`, the same objects the JIT links) and the thread pool's
(`kernlib.pool_object`), the entry module (`emit.emit_entry_module`, optimized at
`options.opt_level`) with the C API, and `compiler.toolchain.link_shared` of the
entry's object with the kernels' (hidden symbols: the .so exports its C API alone).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np

from runtime.artifact import ABI_VERSION, describe_text, exported_clashes, write_manifest
from runtime.cpu import LEVELS, LINUX_FLAGS

from . import timings
from .backends.layout import layout_of
from .backends.llvm import emit, kernlib, target
from .backends.llvm.abi import abi_model
from .backends.llvm.capi import add_c_api, add_describe, exported_symbols
from .backends.llvm.header import render_header
from .errors import CompileError
from .gcpause import gc_paused
from .options import CompileOptions
from .pipeline import optimized_program, plan_and_lower
from .toolchain import c_compiler, flowc_version, link_shared

DEFAULT_CPU = "x86-64-v3"


@dataclass(frozen=True)
class Artifact:
    directory: str
    library: str
    header: str
    manifest: str


def lower_and_emit(program, options: CompileOptions):
    """(kernel plan, LoweredProgram, llvmlite entry module, kernel objects) of an
    optimized-IR `program`: the pipeline's plan and lowering, the kernels' objects from
    the kernel library or compiled now (backends/llvm/kernlib.py), and the entry module
    that calls them (before optimization)."""
    kernel_plan, lowered = plan_and_lower(program, options)
    symbols, objects = kernlib.kernel_objects(lowered.kernels, options)
    if options.threads > 1:
        objects.append(kernlib.pool_object(options))
    with timings.phase("llvm.emit_ir"):
        module = emit.emit_entry_module(lowered, symbols, name=program.name)
    return kernel_plan, lowered, module, objects


def compile(fetches, feeds, path, name="model", session=None, options=None) -> Artifact:  # noqa: A001
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise ValueError(f"name must be a C identifier (it prefixes every C symbol), got "
                         f"{name!r}")
    if options is not None and options.device == "gpu":
        raise ValueError("fc.compile writes CPU shared objects; ahead-of-time GPU artifacts "
                         "are not available yet (run GPU programs through a Session, "
                         "fc.jit or build_program)")
    options, cpu, features = _target(options)
    cc = c_compiler()
    program, graph = optimized_program(fetches, feeds, options, name)
    with gc_paused():   # as a Session's build (compiler/gcpause.py)
        _, lowered, module, kernel_objects = lower_and_emit(program, options)
    with timings.phase("aot.c_api"):
        model = abi_model(program, lowered, name, layout_of(lowered).lifetimes(lowered))
    with timings.phase("aot.variables"):
        values = _variable_values(program, graph, session, model)
    consts = [np.ascontiguousarray(b.source, dtype=b.dtype.np).tobytes()
              for b in lowered.buffers if b.kind == "const"]
    clashes = exported_clashes(name, exported_symbols(model),
                               internal=[g for g in module.globals if not
                                         g.startswith(f"{name}.")])
    if clashes:
        raise ValueError(f"model name {name!r} cannot be used: its exported C symbols would "
                         f"collide with others in a program that links it: "
                         f"{'; '.join(clashes)}")
    with timings.phase("aot.c_api"):
        functions = add_c_api(module, model, values, consts)
    functions["describe"] = f"{name}_describe"
    info = {"flowc_version": flowc_version(), "abi_version": ABI_VERSION, "cpu": cpu,
            "features": features, "threads": options.threads}
    tm = target.target_machine(options.target_cpu, options.opt_level, pic=True)
    body = json.loads(json.dumps(_manifest(model, functions, info, tm.triple)))
    add_describe(module, name, describe_text({"abi_version": ABI_VERSION, **body}))
    created = not os.path.isdir(path)
    os.makedirs(path, exist_ok=True)
    if created:
        os.chmod(path, 0o755)
    elif os.stat(path).st_mode & 0o022:
        warnings.warn(f"fc.compile: {path!r} is writable by other users; runtime.load will "
                      f"refuse to load a model from it (chmod go-w {path!r})", stacklevel=2)
    so_path = os.path.join(path, f"{name}.so")
    _build_library(module, kernel_objects, options, cc, so_path)
    timings.kernels(len(lowered.kernels), len(lowered.kernels))
    header_path = os.path.join(path, f"{name}.h")
    _write_text(header_path, render_header(model, functions, info))
    manifest_path = os.path.join(path, f"{name}.json")
    write_manifest(manifest_path, body)
    for written in (so_path, header_path, manifest_path):
        os.chmod(written, os.stat(written).st_mode & ~0o022)
    return Artifact(os.path.abspath(path), so_path, header_path, manifest_path)


def _target(options):
    """(options, LLVM CPU name, required features) for the artifact."""
    if options is None:
        options = CompileOptions(target_cpu=DEFAULT_CPU)
    elif not options.target_cpu:
        options = dataclasses.replace(options, target_cpu=DEFAULT_CPU)
    cpu = options.target_cpu
    if cpu == "host":
        import llvmlite.binding as llvm
        target.target_machine("host")  # initializes LLVM
        host = llvm.get_host_cpu_features()
        return options, llvm.get_host_cpu_name(), sorted(f for f, on in host.items()
                                                         if on and f in LINUX_FLAGS)
    if cpu not in LEVELS:
        raise ValueError(f"fc.compile cannot tell which CPU features {cpu!r} needs (the "
                         f"manifest must list them); use 'host' or one of {sorted(LEVELS)}")
    return options, cpu, list(LEVELS[cpu])


def _variable_values(program, graph, session, model) -> list:
    """The bytes of each variable of `model` (index order)."""
    names = [v.name for v in model.variables]
    if not names:
        return []
    if session is None:
        arrays = _initial_values(graph, names)
    else:
        with session._store.lock.reading:  # copies from one moment (threads may train)
            arrays = {n: np.array(session._store.get(
                n, "its value becomes the compiled model's state")) for n in names}
    return [np.ascontiguousarray(arrays[v.name], dtype=v.dtype).reshape(v.shape).tobytes()
            for v in model.variables]


def _initial_values(graph, names) -> dict:
    from .frontend.variables import GLOBAL_VARIABLES, LOCAL_VARIABLES
    from .session import ConfigProto, Session
    found = {}
    for key in (GLOBAL_VARIABLES, LOCAL_VARIABLES):
        for var in graph.get_collection(key):
            found.setdefault(var.op.attrs["var"], var)
    missing = [n for n in names if n not in found]
    if missing:
        raise CompileError(f"no initializer for variable(s) {missing}; pass session= with "
                           "their values")
    sess = Session(graph=graph, config=ConfigProto(backend="interpret"))
    try:
        sess.run([found[n].initializer for n in names])
    except Exception as e:  # noqa: BLE001  (one by one, in creation order, for dependencies)
        order = sorted(names, key=lambda n: found[n].op._id)
        try:
            for n in order:
                sess.run(found[n].initializer)
        except Exception:  # noqa: BLE001
            raise CompileError(f"cannot compute the initial values of {names}: {e}; pass "
                               "session= with the variables initialized") from e
    return {n: sess._store.get(n) for n in names}


def _build_library(module, kernel_objects, options, cc, so_path):
    """Optimize the entry module, emit a position-independent object, link it with the
    kernels' objects (their functions hidden) by `cc -shared`."""
    with timings.phase("llvm.ir_text"):
        text = str(module)
    _, entry_obj, _ = kernlib.compile_text(text, options)
    with timings.phase("link"):
        link_shared([entry_obj] + [o.data for o in kernel_objects], cc, so_path)


def _write_text(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _manifest(model, functions, info, triple) -> dict:
    return {
        "flowc_version": info["flowc_version"], "name": model.name,
        "library": f"{model.name}.so", "header": f"{model.name}.h",
        "target": {"triple": triple, "cpu": info["cpu"], "features": info["features"]},
        "threads": info["threads"],
        "inputs": [a.to_json() for a in model.inputs],
        "outputs": [a.to_json() for a in model.outputs],
        "symbols": [{"name": s, "input": ph, "axis": axis} for s, ph, axis in model.symbols],
        "checks": [list(c) for c in model.checks], "bounds": [list(c) for c in model.bounds],
        "variables": [a.to_json() for a in model.variables],
        "temporaries": {"formula": model.temporaries_formula(), "align": 64,
                        "slots": model.slot_bytes()},
        "errors": {str(k): v for k, v in model.errors.items()},
        "functions": functions,
    }

