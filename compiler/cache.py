"""The compile cache on disk for the JIT path (`compiler.pipeline.build_program`, the one
caller).

Key: the sha256 of the JSON of the key's components (`key_parts`): the hash of the
compiler-IR text printed without provenance (`print_program(p, provenance=False)`: names
and source locations never enter the key, so renaming an op or editing a comment hits),
the flowc version, the cache format, the target (LLVM CPU name and features actually
used) and the `CompileOptions` fields that change code (opt_level, pipeline,
disabled_passes, target_cpu, threads; never dump_dir).

Location: $FLOWC_CACHE_DIR, else $XDG_CACHE_HOME/flowc, else ~/.cache/flowc;
FLOWC_CACHE=0 turns the cache off. An entry is the folder `ROOT/entries/KEY/`:
    code.so     the optimized module as a PIC object linked with `cc -shared`
                (`compiler.toolchain.link_shared`); it exports `flowc_main`
    const_N.npy each constant buffer (runtime/npy.py: plain numeric arrays only)
    entry.json  the key's components, the CpuExecutable's description (BufferSpecs,
                outputs, updates, errors, lifetimes, signature, texts) and the sha256
                of every other file of the entry
    entry.sha256 the sha256 of entry.json's bytes
Writes are atomic: an entry is written into `ROOT/.tmp-*` and renamed into place, so a
killed process leaves at most a temp folder, which lookups ignore, a later store removes
when stale and `clear` removes; of two concurrent stores of a key the first stays.
Before use an entry is checked (hashes, key, every field: compiler/cache_check.py); any
bad entry is removed with one warning and rebuilt. A cache folder owned by another user
or writable by others is refused (the cache is off, one warning); `clear` removes only a
folder with the cache's marker (CACHEDIR.TAG). A hit's code.so is unloaded with its
executable (runtime/dylib.py). A hit loads the .so with ctypes and does no LLVM
work. Without a C compiler the cache stays off (one debug line). An entry holds only
JSON, plain numeric .npy arrays and the .so.

GPU programs (`CompileOptions(device="gpu")`; `lookup`/`store` dispatch on the device to
`lookup_cuda`/`store_cuda`) are keyed the same way plus the device, the CUDA architecture
and the NVRTC version (no CPU fields); their entry holds `code.cubin` instead of
`code.so`, and entry.json adds the launch schedule. They need no C compiler.

A hit takes the signature (feed names) from the program being compiled; error messages
and buffer descriptions come from the compile that filled the entry, so after an edit
they may name that compile's source lines.

Public: `lookup`, `store`, `load` and `key_lock` (used by the pipeline),
`explain(program, options)`, `info()`, `clear()`, `cache_dir()`, `enabled()` (the
last two from compiler/cache_root.py, with the trust checks), and `stats` (hits,
misses, stores, corrupt in this process).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading

from runtime import npy
from runtime.artifact import sha256_file
from runtime.cpu_executable import CpuExecutable
from runtime.dylib import SharedLibrary
from runtime.executable import BufferSpec

from . import kernel_cache
from .backends.llvm import target
from .cache_check import BadEntry, check_const, check_entry
from .cache_root import (
    MARKER,
    cache_dir,
    claim_root,
    enabled,
    entries_dir,
    sweep_temps,
    usable_root,
)
from .ir.signature import program_signature
from .toolchain import compiler_fingerprint, find_c_compiler, link_shared

log = logging.getLogger("flowc.cache")

FORMAT = 1
ENTRY_SYMBOL = "flowc_main"
TIMED_ENTRY_SYMBOL = "flowc_main_timed"
OPTION_FIELDS = ("opt_level", "pipeline", "disabled_passes", "target_cpu", "threads")
#: entry.json's hash: entry.json records the hash of every other file of an entry
ENTRY_HASH = "entry.sha256"
MAX_ENTRY_JSON = 64 << 20
stats = {"hits": 0, "misses": 0, "stores": 0, "corrupt": 0}


# ---- the key ---------------------------------------------------------------------------
def program_hash(program) -> str:
    from .ir.text import print_program
    return hashlib.sha256(print_program(program, provenance=False).encode()).hexdigest()


def _host_features(cpu: str) -> str:
    return target.cpu_identity(cpu)["features"]


def _cpu_name(cpu: str) -> str:
    return target.cpu_identity(cpu)["cpu"]


#: the `stage` component: what the keyed program is. "converted": the pipeline's input
#: (`compile_graph`: the passes, planning and lowering run on it, so a hit skips them all);
#: "optimized": a program `build_program` plans and lowers as given (no passes)
STAGES = ("converted", "optimized")


def key_parts(program, options, stage="optimized") -> dict:
    """The key's components: what decides the generated code."""
    if stage not in STAGES:
        raise ValueError(f"unknown cache key stage {stage!r}")
    parts = {"program": program_hash(program), "stage": stage,
             "flowc": compiler_fingerprint(), "format": FORMAT,
             "cpu": _cpu_name(options.target_cpu),
             "features": _host_features(options.target_cpu)}
    for name in OPTION_FIELDS:
        value = getattr(options, name)
        parts[name] = list(value) if isinstance(value, tuple) else value
    return parts


def digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# ---- lookup ----------------------------------------------------------------------------
_key_locks: dict = {}
_key_locks_guard = threading.Lock()


def _reset_key_locks():
    """In a forked child: the threads that held these locks do not exist there."""
    global _key_locks_guard
    _key_locks.clear()
    _key_locks_guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_key_locks)


@contextlib.contextmanager
def key_lock(parts):
    """Held while one thread of this process compiles and stores the key `parts`, so
    threads that miss on the same key at once compile it once (the others then load
    the stored entry)."""
    key = digest(parts)
    with _key_locks_guard:
        entry = _key_locks.setdefault(key, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _key_locks_guard:
            entry[1] -= 1
            if entry[1] == 0:
                _key_locks.pop(key, None)


def lookup(program, options, stage="optimized"):
    """(executable or None, key parts or None) for a program of either device, keyed as
    `stage` (`STAGES`). Parts are None when the cache is off (no store then); an
    executable is a hit."""
    if options.device == "gpu":
        return lookup_cuda(program, options, stage)
    return lookup_cpu(program, options, stage)


def store(parts, exe, options) -> None:
    """Write the entry of `exe` (built for `options.device`) under the key `parts`.
    Never raises: a failed store logs a warning and leaves no entry."""
    if options.device == "gpu":
        store_cuda(parts, exe)
    else:
        store_cpu(parts, exe, exe.objects, options)


def lookup_cpu(program, options, stage="optimized"):
    """(CpuExecutable or None, key parts or None) of a CPU program."""
    if not enabled():
        return None, None
    if find_c_compiler() is None:
        log.debug("compile cache off: no C compiler (cc or $CC) to link entries")
        return None, None
    if not usable_root():
        return None, None
    parts = key_parts(program, options, stage)
    exe = load(parts, program, options)
    if exe is not None:
        return exe, parts
    stats["misses"] += 1
    _log_miss(parts)
    return None, parts


def load(parts, program, options):
    """The executable of the entry stored under `parts`, or None (no entry, or a bad one,
    which is removed with one warning). Counts and logs a hit; a miss is the caller's."""
    path = os.path.join(entries_dir(), digest(parts))
    if not os.path.isdir(path):
        return None
    gpu = options.device == "gpu"
    try:
        meta = _read_entry(path, parts, program, "code.cubin" if gpu else "code.so")
        exe = (_cuda_executable if gpu else _executable)(path, meta, program)
    except Exception as e:  # noqa: BLE001  (whatever the damage, the run goes on)
        stats["corrupt"] += 1
        log.warning("compile cache: removing the bad entry %s (%s); rebuilding", path, e)
        _remove(path)
        return None
    stats["hits"] += 1
    log.debug("compile cache hit %s", os.path.basename(path))
    return exe


def _remove(path):
    """Remove an entry folder: renamed away first (atomic), so no lookup sees half of it."""
    doomed = os.path.join(cache_dir(), f".tmp-bad-{os.getpid()}-{os.path.basename(path)}")
    try:
        os.rename(path, doomed)
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)


def _read_entry(path, parts, program, code) -> dict:
    """entry.json, checked: its bytes against entry.sha256, its key against `parts`, every
    field (compiler/cache_check.py) and every other file against its recorded hash."""
    with open(os.path.join(path, "entry.json"), "rb") as f:
        raw = f.read(MAX_ENTRY_JSON + 1)
    if len(raw) > MAX_ENTRY_JSON:
        raise BadEntry("entry.json is too large")
    with open(os.path.join(path, ENTRY_HASH)) as f:
        recorded = f.read(100).strip()
    if hashlib.sha256(raw).hexdigest() != recorded:
        raise BadEntry("entry.json does not match its recorded hash")
    meta = json.loads(raw)
    if not isinstance(meta, dict) or meta.get("key") != parts:
        raise BadEntry("its recorded key differs from its folder's")
    check_entry(meta, program_signature(program), program.variables(), code)
    for name, want in meta["files"].items():
        if name != TEXTS and _file_hash(os.path.join(path, name)) != want:
            raise BadEntry(f"{name} does not match its recorded hash")
    return meta


#: the stage texts of an entry (kernel IR, LLVM IR, ...): read only when asked for, since
#: a hit needs none of them and they are the largest part of an entry
TEXTS = "texts.json"


def _file_hash(path) -> str:
    return sha256_file(path)


def _executable(path, meta, program) -> CpuExecutable:
    lib = SharedLibrary(os.path.join(path, "code.so"))  # unloaded with the executable
    address = lib.address(ENTRY_SYMBOL)
    timed = (lib.address(TIMED_ENTRY_SYMBOL), meta["calls"]) if "calls" in meta else None
    specs = [_spec(path, b) for b in meta["buffers"]]
    return CpuExecutable(program_signature(program), specs, meta["outputs"], meta["updates"],
                      {int(k): v for k, v in meta["errors"].items()}, address,
                      keepalive=lib,
                      texts=kernel_cache.HashedTexts(os.path.join(path, TEXTS),
                                                   meta["files"].get(TEXTS), "compile cache")
                      if TEXTS in meta["files"] else meta.get("texts", {}),
                      lifetimes={int(k): tuple(v) for k, v in meta["lifetimes"].items()},
                      timed=timed)


def _spec(path, b) -> BufferSpec:
    source = b["source"]
    if b["kind"] == "const":
        source = check_const(npy.load(os.path.join(path, source)), b,
                             source)
    return BufferSpec(b["name"], b["dtype"], b["shape"], b["kind"], source, b["desc"])


# ---- store -----------------------------------------------------------------------------
def store_cpu(parts, exe: CpuExecutable, objects: list, options) -> None:
    """Write the entry of `exe` (whose position-independent object code is `objects`)
    under the key `parts`. Never raises: a failed store logs a warning and leaves no
    entry."""
    _store_entry(parts, lambda tmp: _write_entry(tmp, parts, exe, objects, options))


def _store_entry(parts, write) -> None:
    """Build an entry with `write(tmp_dir)` in a temporary directory of the cache and
    rename it into place (atomic); never raises. When another thread or process stored
    the same key first, its entry stays and this one is dropped, quietly."""
    root = cache_dir()
    tmp = None
    try:
        if not claim_root(root):
            return
        sweep_temps(root)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=root)
        write(tmp)
        final = os.path.join(entries_dir(), digest(parts))
        if os.path.lexists(final) and not os.path.isdir(final):
            os.remove(final)  # a stray file where the entry belongs
        try:
            os.rename(tmp, final)
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not os.path.isdir(final):
                raise
            return  # another writer was faster: its entry holds the same program
        tmp = None
        stats["stores"] += 1
    except Exception as e:  # noqa: BLE001  (the cache must never break a compile)
        log.warning("compile cache: could not store an entry in %s: %s", root, e)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _write_entry(tmp, parts, exe, objects, options):
    link_shared(objects, find_c_compiler(), os.path.join(tmp, "code.so"))
    buffers = [_write_spec(tmp, i, b) for i, b in enumerate(exe.buffers)]
    with open(os.path.join(tmp, TEXTS), "w") as f:
        json.dump({k: v for k, v in exe.texts.items() if k != "asm"}, f)
    files = {n: _file_hash(os.path.join(tmp, n)) for n in sorted(os.listdir(tmp))}
    meta = {"key": parts, "files": files, "buffers": buffers, "outputs": exe.outputs,
            "updates": exe.updates, "errors": {str(k): v for k, v in exe.errors.items()},
            "lifetimes": {str(k): list(v) for k, v in exe.lifetimes.items()},
            "signature": exe.signature.to_json(), "kernels": _kernel_count(exe),
            "calls": [list(c) for c in exe.call_labels]}
    _write_meta(tmp, meta)


def _write_meta(tmp, meta):
    """entry.json and entry.sha256 (the hash of its bytes)."""
    raw = json.dumps(meta).encode()
    with open(os.path.join(tmp, "entry.json"), "wb") as f:
        f.write(raw)
    with open(os.path.join(tmp, ENTRY_HASH), "w") as f:
        f.write(hashlib.sha256(raw).hexdigest() + "\n")


def _write_spec(tmp, i, b) -> dict:
    """The JSON of BufferSpec `b`; a constant's array goes to `tmp/const_i.npy`."""
    source = b.source
    if b.kind == "const":
        source = f"const_{i}.npy"
        npy.save(os.path.join(tmp, source), b.source)
    return {"name": b.name, "dtype": b.dtype, "shape": b.shape, "kind": b.kind,
            "source": source, "desc": b.desc}


def _kernel_count(exe):
    first = exe.texts.get("fusion", "").split(" ", 1)[0]
    return int(first) if first.isdigit() else None


# ---- explain, info, clear --------------------------------------------------------------
def _log_miss(parts):
    """Log why a lookup missed, only where the log is on: the explanation reads every
    stored entry's key, which made each miss of a session that compiles many programs
    cost time in the number of entries (Inception-v3 --quick: 253 compiles read 31,878
    entry files, 7.3 s of a profiled run)."""
    if log.isEnabledFor(logging.INFO):
        log.info("compile cache miss: %s", _explain_parts(parts))


def _stored_keys() -> list:
    """The key parts of every readable entry."""
    keys = []
    root = entries_dir()
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        try:
            with open(os.path.join(root, name, "entry.json")) as f:
                key = json.load(f)["key"]
        except Exception:  # noqa: BLE001  (a damaged entry: its own lookup removes it)
            continue
        if isinstance(key, dict):
            keys.append(key)
    return keys


def _differences(parts, other) -> list:
    out = []
    for name in parts:
        if parts[name] == other.get(name):
            continue
        if name == "program":
            out.append("the program differs")
        elif name == "features":
            out.append("the CPU features differ")
        else:
            out.append(f"{name} {other.get(name)!r} -> {parts[name]!r}")
    return out


def _explain_parts(parts) -> str:
    keys = _stored_keys()
    if not keys:
        return "the cache is empty"
    nearest = min(keys, key=lambda k: len(_differences(parts, k)))
    diff = _differences(parts, nearest)
    if not diff:
        return "an entry with this key is cached (a hit)"
    return "; ".join(diff) + f" (nearest of {len(keys)} entries)"


def explain(program, options=None, stage="optimized") -> str:
    """Why compiling the compiler-IR `program` with `options` would miss (or that it
    hits): which components of the key differ from the nearest cached entry, e.g.
    "threads 2 -> 4" or "the program differs". `stage` "optimized" (the default):
    `program` is an optimized program given to `build_program`; "converted": the
    converted (not yet optimized) program of a Session's or fc.jit's compile."""
    from .options import CompileOptions
    if not enabled():
        return "the compile cache is off (FLOWC_CACHE=0)"
    options = options or CompileOptions()
    if options.device == "gpu":
        return _explain_parts(cuda_key_parts(program, options, stage))
    return _explain_parts(key_parts(program, options, stage))


def info() -> dict:
    """{"location", "enabled", "entries", "bytes", "temp", "library_kernels",
    "library_objects", "library_bytes"} of the cache on disk (bytes: everything under
    the root; the library's: its kernels, objects and their bytes, compiler/kernel_cache.py)."""
    root = cache_dir()
    entries = os.listdir(entries_dir()) if os.path.isdir(entries_dir()) else []
    size = 0
    for folder, _, files in os.walk(root) if os.path.isdir(root) else ():
        for f in files:
            try:
                size += os.lstat(os.path.join(folder, f)).st_size
            except OSError:
                continue
    temp = [n for n in os.listdir(root) if n.startswith(".tmp-")] if os.path.isdir(root) \
        else []
    library = kernel_cache.info()
    return {"location": root, "enabled": enabled(), "entries": len(entries), "bytes": size,
            "temp": len(temp), "library_kernels": library["kernels"],
            "library_objects": library["objects"], "library_bytes": library["bytes"]}


def clear() -> int:
    """Remove every entry, the kernel library (on disk and in this process) and leftover
    temp folders; returns the number of entries. Raises ValueError when the cache folder
    does not carry the cache's marker (it may be a folder of the user's that
    FLOWC_CACHE_DIR names by mistake)."""
    root = cache_dir()
    if not os.path.isdir(root):
        kernel_cache.clear_memo()
        return 0
    if not os.path.isfile(os.path.join(root, MARKER)):
        raise ValueError(f"{root} is not a flowc compile cache (it has no {MARKER}); "
                         f"nothing removed")
    count = info()["entries"]
    kernel_cache.clear()
    for name in os.listdir(root):
        if name == "entries" or name.startswith(".tmp-"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    return count


# ---- GPU entries (the CUDA backend) -----------------------------------------------------
def cuda_key_parts(program, options, stage="optimized") -> dict:
    from .backends.cuda import nvrtc
    if stage not in STAGES:
        raise ValueError(f"unknown cache key stage {stage!r}")
    parts = {"program": program_hash(program), "stage": stage,
             "flowc": compiler_fingerprint(), "format": FORMAT,
             "device": "gpu", "cuda_arch": options.cuda_arch,
             "nvrtc": ".".join(str(v) for v in nvrtc.version())}
    for name in ("opt_level", "pipeline", "disabled_passes"):
        value = getattr(options, name)
        parts[name] = list(value) if isinstance(value, tuple) else value
    return parts


def lookup_cuda(program, options, stage="optimized"):
    """(CudaExecutable or None, key parts or None), as `lookup` for GPU programs."""
    if not enabled() or not usable_root():
        return None, None
    parts = cuda_key_parts(program, options, stage)
    exe = load(parts, program, options)
    if exe is not None:
        return exe, parts
    stats["misses"] += 1
    _log_miss(parts)
    return None, parts


def _cuda_executable(path, meta, program):
    from runtime.cuda_executable import CudaExecutable  # GPU programs only: not at startup
    with open(os.path.join(path, "code.cubin"), "rb") as f:
        cubin = f.read()
    specs = [_spec(path, b) for b in meta["buffers"]]
    return CudaExecutable(program_signature(program), specs, meta["outputs"], meta["updates"],
                          {int(k): v for k, v in meta["errors"].items()}, cubin,
                          meta["schedule"], meta.get("texts", {}), meta["arch"])


def store_cuda(parts, exe) -> None:
    """Write the entry of the CudaExecutable `exe` under `parts`; never raises."""
    def write(tmp):
        with open(os.path.join(tmp, "code.cubin"), "wb") as f:
            f.write(exe.cubin)
        buffers = [_write_spec(tmp, i, b) for i, b in enumerate(exe.buffers)]
        files = {n: _file_hash(os.path.join(tmp, n)) for n in sorted(os.listdir(tmp))}
        meta = {"key": parts, "files": files, "buffers": buffers, "outputs": exe.outputs,
                "updates": exe.updates, "errors": {str(k): v for k, v in exe.errors.items()},
                "signature": exe.signature.to_json(), "schedule": exe.schedule,
                "arch": exe.arch, "kernels": _kernel_count(exe), "texts": exe.texts}
        _write_meta(tmp, meta)
    _store_entry(parts, write)
