"""The wire format of a registered partition: what the master ships to a worker once per
compiled partition, and the worker's check of it before use.

`describe(exe, target_cpu, opt_level) -> (meta, blobs)` (master) and
`load(meta, blobs, where) -> CpuExecutable` (worker) are the two ends. The format is the
compile cache's entry (compiler/cache.py, docs/cache.md) sent instead of written:

    meta    a plain, JSON-able dict: entry.json's fields (`signature`, `buffers` with each
            constant's `source` a blob name, `outputs`, `updates`, `errors`, `lifetimes`,
            `calls`, and `files`: the sha256 of every blob), plus `format`
            (`FORMAT`), `code` (the blob names of the code, in load order), `code_kind`
            ("objects": position-independent object files, loaded by MCJIT as
            `compiler/backends/llvm/jit.load` does; "shared": a compile-cache hit's
            `code.so`, or with `describe(..., linked=True)` (what `Cluster.register`
            ships) the objects linked by `cc -shared` on the master, loaded with ctypes
            as a cache hit is: MCJIT maps code and constant pools apart, and a worker
            aborted on their 32-bit offsets), `variables` ({name: [dtype,
            shape]}), `target` ({"cpu", "features"} the code was compiled for) and
            `opt_level`
    blobs   {name: bytes} for the code, {name: numpy array} for each constant

What crosses to the worker is bytes only (`encode` on the master, `decode` on the worker):
the meta as canonical JSON text, the code blobs as they are and each constant as an .npy
stream (runtime/npy.py: plain numeric dtypes, no object arrays), so the worker reads the
registration with a JSON parser and the .npy reader, nothing that rebuilds Python
objects. The worker trusts
nothing it receives (docs/cache.md's rule for anything from another process): `load`
checks every blob against its sha256, every field with the compile cache's own checker
(compiler/cache_check.py `check_entry`, `check_const`), the variables against the dtype
and shape its store already declares, and that this machine's CPU is the one the code
was compiled for; any failure is a `RegistrationError` naming the task and partition
(`where`). No LLVM optimization runs on the worker.

GPU executables have no such description yet: `describe` refuses them
(`UnsupportedPartition`), and so does an executable of the numpy interpreter.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile

import numpy as np

from runtime import npy
from runtime.artifact import canonical
from runtime.cpu_executable import CpuExecutable
from runtime.dylib import SharedLibrary
from runtime.executable import BufferSpec
from runtime.signature import Signature

from ..backends.llvm import jit
from ..backends.llvm.entry import ENTRY, TIMED_ENTRY
from ..backends.llvm.target import cpu_identity
from ..cache_check import BadEntry, check_const, check_dtype, check_entry, check_shape
from ..options import CompileOptions
from ..toolchain import find_c_compiler, link_shared

FORMAT = "flowc-partition/1"


class RegistrationError(ValueError):
    """A partition's description was refused by its worker (damaged, mismatched, or for
    another CPU); the message names the task and the partition."""


class UnsupportedPartition(NotImplementedError):
    """A partition whose executable cannot be shipped to a worker (GPU, interpreter)."""


def _sha(data) -> str:
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data).tobytes()
    return hashlib.sha256(data).hexdigest()


def encode(meta: dict, blobs: dict) -> tuple:
    """(meta as canonical JSON bytes, {name: bytes}) of `describe`'s result: the bytes
    a registration sends (module docstring); a constant becomes an .npy stream."""
    out = {}
    for name, data in blobs.items():
        if isinstance(data, np.ndarray):
            buf = io.BytesIO()
            npy.write(buf, data)
            data = buf.getvalue()
        out[name] = bytes(data)
    return canonical(meta).encode(), out


def decode(meta: bytes, blobs: dict, where: str) -> tuple:
    """`encode`'s bytes back to (meta, blobs) for `load`: the JSON parsed, each constant
    (a `buffers` entry of kind "const" names its blob) read by the .npy reader; anything
    else is a RegistrationError naming `where`."""
    try:
        _need(isinstance(meta, bytes) and isinstance(blobs, dict) and
              all(isinstance(v, bytes) for v in blobs.values()),
              "a registration is JSON bytes and a dict of bytes")
        parsed = json.loads(meta.decode())
        _need(isinstance(parsed, dict) and isinstance(parsed.get("buffers"), list),
              "the meta is not a JSON object with buffers")
        consts = {b.get("source") for b in parsed["buffers"]
                  if isinstance(b, dict) and b.get("kind") == "const"}
        out = {name: npy.read(io.BytesIO(data)) if name in consts else data
               for name, data in blobs.items()}
    except (BadEntry, ValueError, UnicodeDecodeError) as e:
        raise RegistrationError(f"{where}: the partition's registration was refused: "
                                f"{e}") from None
    return parsed, out


def describe(exe, target_cpu: str, opt_level: int, where: str = "",
             linked: bool = False) -> tuple:
    """(meta, blobs) of a compiled CPU partition (module docstring); `linked=True`
    ships MCJIT objects linked into one shared object (`_code_of`)."""
    code, kind = _code_of(exe, where, linked)
    blobs = {f"code_{i}": c for i, c in enumerate(code)}
    buffers = []
    for i, b in enumerate(exe.buffers):
        source = b.source
        if b.kind == "const":
            source = f"const_{i}"
            blobs[source] = np.ascontiguousarray(b.source)
        buffers.append({"name": b.name, "dtype": b.dtype, "shape": b.shape, "kind": b.kind,
                        "source": source, "desc": b.desc})
    variables = {b.source: [b.dtype, list(b.shape)] for b in exe.buffers
                 if b.kind == "variable"}
    for name, i in exe.updates.items():  # assigned, never read (an initializer)
        variables.setdefault(name, [exe.buffers[i].dtype, list(exe.buffers[i].shape)])
    meta = {"format": FORMAT, "code_kind": kind, "code": [f"code_{i}" for i in range(len(code))],
            "files": {name: _sha(data) for name, data in blobs.items()},
            "signature": exe.signature.to_json(), "buffers": buffers,
            "outputs": list(exe.outputs), "updates": dict(exe.updates),
            "errors": {str(k): v for k, v in exe.errors.items()},
            "lifetimes": {str(k): list(v) for k, v in exe.lifetimes.items()},
            "calls": [list(c) for c in exe.call_labels], "variables": variables,
            "target": cpu_identity(target_cpu), "opt_level": opt_level,
            "target_cpu": target_cpu}
    return meta, blobs


def _code_of(exe, where, linked=False):
    """The executable's code as a list of bytes, and its kind."""
    if getattr(exe, "device", "cpu") != "cpu" or not isinstance(exe, CpuExecutable):
        raise UnsupportedPartition(
            f"{where}: a {type(exe).__name__} (device {getattr(exe, 'device', '?')!r}) "
            "cannot run on a Ray worker yet: only CPU partitions compiled by LLVM are "
            "shipped (docs/execution.md, 'Workers on Ray')")
    objects = getattr(exe, "objects", None)
    if objects:
        cc = find_c_compiler() if linked else None
        if cc is None:  # (no toolchain on the master) MCJIT loads the objects
            return [bytes(o) for o in objects], "objects"
        # linked here: the worker's dynamic loader maps the code and its constant pools
        # as one object. MCJIT maps them separately, and a Ray worker (torch loaded)
        # aborted on the code's 32-bit offsets to its constants ("RuntimeDyldELF ...
        # Assertion `isInt<32>(RealOffset)' failed")
        with tempfile.TemporaryDirectory(prefix="flowc-ship-") as tmp:
            path = os.path.join(tmp, "code.so")
            link_shared([bytes(o) for o in objects], cc, path)
            with open(path, "rb") as f:
                return [f.read()], "shared"
    lib = exe._keepalive
    if isinstance(lib, SharedLibrary):  # a compile-cache hit: its entry's code.so
        with open(lib.path, "rb") as f:
            return [f.read()], "shared"
    raise UnsupportedPartition(f"{where}: this executable keeps no code to ship")


# ---- the worker's end -----------------------------------------------------------------
class _VarType:
    """What `check_entry` reads of a variable's type: `.dtype.np` and `.shape`."""

    class _D:
        def __init__(self, name):
            self.np = np.dtype(name).type

    def __init__(self, dtype, shape):
        self.dtype, self.shape = self._D(dtype), tuple(shape)


def load(meta, blobs, where: str, declared: dict, workdir: str | None = None) -> CpuExecutable:
    """The executable of a shipped partition, after every check (module docstring).
    `declared`: {variable name: (dtype name, shape)} the worker's store already holds;
    `workdir`: where a shared object's file is written for a moment (default: the
    temporary folder; the file is removed once loaded)."""
    try:
        return _load(meta, blobs, declared, workdir)
    except (BadEntry, KeyError, TypeError, ValueError) as e:
        raise RegistrationError(f"{where}: the partition's description was refused: "
                                f"{e}") from None


def _need(cond, what):
    if not cond:
        raise BadEntry(what)


def _load(meta, blobs, declared, workdir) -> CpuExecutable:
    _need(isinstance(meta, dict) and isinstance(blobs, dict), "meta and blobs must be dicts")
    _need(meta.get("format") == FORMAT, f"format {meta.get('format')!r} is not {FORMAT!r}")
    files = meta.get("files")
    _need(isinstance(files, dict) and set(files) == set(blobs),
          "the blobs are not the ones its files list names")
    for name, data in blobs.items():
        _need(isinstance(data, (bytes, np.ndarray)), f"blob {name!r} is a "
                                                     f"{type(data).__name__}")
        _need(_sha(data) == files[name], f"blob {name!r} does not match its sha256")
    variables = _variables(meta.get("variables"), declared)
    signature = _signature(meta.get("signature"))
    code = meta.get("code")
    _need(isinstance(code, list) and code and all(c in files for c in code) and
          all(isinstance(blobs[c], bytes) for c in code), "code names no code blobs")
    check_entry(meta, signature, variables, code[0])
    _check_target(meta)
    buffers = [_spec(b, blobs) for b in meta["buffers"]]
    errors = {int(k): v for k, v in meta["errors"].items()}
    lifetimes = {int(k): tuple(v) for k, v in meta.get("lifetimes", {}).items()}
    kind = meta.get("code_kind")
    if kind == "objects":
        opt = meta.get("opt_level")
        _need(isinstance(opt, int) and 0 <= opt <= 3, f"opt_level {opt!r}")
        options = CompileOptions(target_cpu=meta["target_cpu"], opt_level=opt, threads=1)
        description = {"objects": [blobs[c] for c in code], "buffers": buffers,
                       "outputs": meta["outputs"], "updates": meta["updates"],
                       "errors": errors, "lifetimes": lifetimes,
                       "calls": meta.get("calls", []), "texts": {}}
        return jit.load(description, signature, options)
    _need(kind == "shared" and len(code) == 1, f"code_kind {kind!r} is not objects or shared")
    fd, path = tempfile.mkstemp(suffix=".so", dir=workdir)
    with os.fdopen(fd, "wb") as f:
        f.write(blobs[code[0]])
    lib = SharedLibrary(path)
    os.unlink(path)  # the mapping stays; nothing is left behind when the worker dies
    calls = meta.get("calls")
    timed = (lib.address(TIMED_ENTRY), calls) if calls is not None else None
    return CpuExecutable(signature, buffers, meta["outputs"], meta["updates"], errors,
                         lib.address(ENTRY), keepalive=lib, lifetimes=lifetimes,
                         timed=timed)


def _variables(stored, declared) -> dict:
    _need(isinstance(stored, dict), "variables must be a dict")
    out = {}
    for name, spec in stored.items():
        _need(isinstance(name, str) and isinstance(spec, list) and len(spec) == 2,
              f"variables[{name!r}] is not [dtype, shape]")
        check_dtype(spec[0], f"variables[{name!r}].dtype")
        check_shape(spec[1], (), f"variables[{name!r}].shape")
        if name in declared:
            _need(declared[name] == (spec[0], tuple(spec[1])),
                  f"variable {name!r} is {spec[0]}{spec[1]} here, but this worker already "
                  f"holds it as {declared[name][0]}{list(declared[name][1])}")
        out[name] = _VarType(*spec)
    return out


def _signature(stored) -> Signature:
    _need(isinstance(stored, dict), "signature must be a dict")
    for side in ("inputs", "outputs"):
        args = stored.get(side)
        _need(isinstance(args, list) and all(isinstance(a, dict) and
                                             isinstance(a.get("name"), str) for a in args),
              f"signature.{side} must be a list of named arguments")
        for k, a in enumerate(args):
            check_dtype(a.get("dtype"), f"signature.{side}[{k}].dtype")
    symbols = stored.get("symbols")
    _need(isinstance(symbols, list) and all(isinstance(s, str) for s in symbols),
          "signature.symbols must be a list of names")
    for side in ("inputs", "outputs"):
        for k, a in enumerate(stored[side]):
            check_shape(a.get("shape"), symbols, f"signature.{side}[{k}].shape")
    return Signature.from_json(stored)


def _check_target(meta):
    """Code compiled for this machine's CPU ("host"/"") runs only on the same CPU."""
    target = meta.get("target")
    _need(isinstance(target, dict), "target must be a dict")
    cpu = meta.get("target_cpu")
    _need(isinstance(cpu, str), "target_cpu must be a string")
    here = cpu_identity(cpu)
    _need(target == here, f"the code was compiled for CPU {target.get('cpu')!r} "
                          f"(features {str(target.get('features'))[:60]}...), this worker "
                          f"runs on {here['cpu']!r}; compile with CompileOptions(target_cpu="
                          "'x86-64-v3') for a cluster of different machines")


def _spec(b, blobs) -> BufferSpec:
    source = b["source"]
    if b["kind"] == "const":
        source = check_const(blobs[source], b, source)
    return BufferSpec(b["name"], b["dtype"], b["shape"], b["kind"], source, b["desc"])
