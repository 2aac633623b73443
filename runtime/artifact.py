"""The ahead-of-time artifact format: a directory holding `NAME.so` (the code, C ABI in
docs/abi.md), `NAME.h` (its C header) and `NAME.json` (the manifest, below).

The compiler writes the manifest with `write_manifest(path, manifest)` (it adds the
format tag, the ABI version and the library's size and sha256); the runtime finds an
artifact with `resolve(path)` (the .so, the .json or a directory holding one model) and
reads it with `read_manifest(path)`, which checks that the directory and files are owned by
this user (or root) and writable by nobody else, the JSON against the schema (every key and
type; unknown keys refused), the exported names, that the library is a file inside the
model directory (symlinks resolved), the ABI version, the library's size and hash and this
host's CPU features, raising `ArtifactError` (a `ValueError` and a `RuntimeError`) with a
message that names the file and field. Nothing here runs the library.

The library is the authority on its interface: it exports `NAME_describe()`, the sha256
and canonical JSON of every manifest field but `format`, `library`, `library_bytes` and
`library_sha256` (`describe_text` writes it, `parse_description` checks it);
`runtime.load` compares the manifest field by field with it (`check_against_library`)
before any other call. `exported_clashes(name, symbols)` says which exported C symbols
would collide with libc, libm, libpthread, libdl, librt, the dynamic loader or flowc's own
(`flowc_*`) and C's reserved names; the compiler and the loader refuse such names.

Manifest keys (JSON object):
    format "flowc-model", abi_version int, flowc_version str, name str (a C identifier),
    library / header: file names next to the manifest, library_bytes int,
    library_sha256 hex str, target {triple, cpu, features: [LLVM feature names]},
    threads int, inputs / outputs: [{name, dtype, shape, loc, reasons, c_name}],
    symbols: [{name, input, axis}] (argument order), checks / bounds: [[dim, dim, why]],
    variables: [{name, dtype, shape, c_name}] (index order), temporaries {formula,
    slots, align}, errors {code: message}, functions {role: C symbol}.
Dims use the runtime's JSON form (runtime/signature.py). This module never imports the
compiler.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import re
import stat
import struct

from .cpu import missing_features
from .signature import ArgSpec, Signature

FORMAT = "flowc-model"
ABI_VERSION = 2

_SCHEMA = {
    "format": str, "abi_version": int, "flowc_version": str, "name": str, "library": str,
    "header": str, "library_bytes": int, "library_sha256": str, "target": dict,
    "threads": int, "inputs": list, "outputs": list, "symbols": list, "checks": list,
    "bounds": list, "variables": list, "temporaries": dict, "errors": dict, "functions": dict,
}
_ARG_KEYS = ("name", "dtype", "shape", "c_name")


class ArtifactError(RuntimeError, ValueError):
    """An artifact cannot be used: missing, corrupted, truncated, built for another ABI or
    CPU, a library that does not match its manifest, or files other users may write."""


#: the C functions `runtime.load` calls, as NAME_<role>; nothing else is ever called
ROLES = ("abi_version", "describe", "create", "free", "run", "last_error", "output_shapes",
         "temporaries_size", "get_variable", "set_variable", "variable_name",
         "get_run_counter", "set_run_counter")
#: manifest keys not in the library's own description (checked by path and hash instead)
UNDESCRIBED = ("format", "library", "library_bytes", "library_sha256")
MAX_MANIFEST_BYTES = 64 << 20
_C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYSTEM_LIBS = ("c", "m", "pthread", "dl", "rt")
_LOADER = "ld-linux-x86-64.so.2"


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(path, manifest: dict) -> dict:
    """Complete `manifest` with the format, ABI version and the library's size and hash
    (the library must already be written next to `path`), write it, return it."""
    lib = os.path.join(os.path.dirname(os.path.abspath(path)), manifest["library"])
    full = {"format": FORMAT, "abi_version": ABI_VERSION, **manifest,
            "library_bytes": os.path.getsize(lib), "library_sha256": sha256_file(lib)}
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(full, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return full


def resolve(path) -> tuple:
    """(manifest path, library path) for the .so, the .json or a directory of one model."""
    path = os.fspath(path)
    if os.path.isdir(path):
        found = sorted(f for f in os.listdir(path) if f.endswith(".json"))
        if len(found) != 1:
            raise ArtifactError(f"{path!r} must hold exactly one model manifest (*.json); "
                                f"found {found or 'none'}")
        path = os.path.join(path, found[0])
    if path.endswith(".so"):
        manifest_path = path[:-3] + ".json"
    elif path.endswith(".json"):
        manifest_path = path
    else:
        raise ArtifactError(f"{path!r} is not a .so, a .json or a directory")
    if not os.path.isfile(manifest_path):
        raise ArtifactError(f"no manifest {manifest_path!r} (written by fc.compile next to "
                            "the .so)")
    return manifest_path, None if not path.endswith(".so") else path


def read_manifest(manifest_path, library_path=None) -> tuple:
    """Read and validate; returns (manifest dict, library path)."""
    directory = os.path.dirname(os.path.abspath(manifest_path))
    check_trusted(directory, "model directory")
    check_trusted(manifest_path, "manifest")
    try:
        with open(manifest_path, "rb") as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise ValueError(f"larger than {MAX_MANIFEST_BYTES} bytes")
        manifest = json.loads(data.decode())
    except (OSError, ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise ArtifactError(f"cannot read the manifest {manifest_path!r} (corrupted or "
                            f"truncated?): {e}") from None
    check_schema(manifest, manifest_path)
    lib = library_file(directory, manifest["library"], manifest_path)
    if library_path is not None and os.path.realpath(library_path) != lib:
        raise ArtifactError(f"{library_path!r} does not match its manifest, which names "
                            f"{manifest['library']!r}")
    check_trusted(lib, "library")
    check_library(manifest, lib)
    check_cpu(manifest)
    return manifest, lib


def library_file(directory, name, where) -> str:
    """The real path of the library `name` (the manifest's `library`): a plain file name
    whose real path (symlinks resolved) lies in the model directory."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or \
            name in (".", "..") or "\0" in name:
        raise ArtifactError(f"manifest {where!r}: field 'library' must be a file name in the "
                            f"model directory, got {name!r}")
    real_dir = os.path.realpath(directory)
    lib = os.path.realpath(os.path.join(directory, name))
    if os.path.dirname(lib) != real_dir:
        raise ArtifactError(f"manifest {where!r}: field 'library' ({name!r}) resolves to "
                            f"{lib!r}, outside the model directory {real_dir!r}; refusing "
                            "to load a library from elsewhere")
    return lib


def check_trusted(path, what):
    """Refuse a file or directory that another user owns or may write (as ssh and pip do):
    loading a model runs its code, so whoever can write these files can run code here."""
    try:
        st = os.stat(path)
    except OSError as e:
        if what == "library":
            raise ArtifactError(f"the library {path!r} named by the manifest is missing "
                                f"({e.strerror})") from None
        raise ArtifactError(f"cannot read the {what} {path!r}: {e}") from None
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        raise ArtifactError(f"refusing to load: the {what} {path!r} is owned by uid "
                            f"{st.st_uid}, not by you (uid {me}) or root; loading a model "
                            "runs its code, so only load your own files (copy the model "
                            "into a directory you own)")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "everyone" if st.st_mode & stat.S_IWOTH else "its group"
        raise ArtifactError(f"refusing to load: the {what} {path!r} is writable by {who} "
                            f"(mode {stat.S_IMODE(st.st_mode):o}); loading a model runs its "
                            f"code, so whoever can write it could run code in this process. "
                            f"Fix: chmod go-w {path!r}")


def _type_ok(value, typ) -> bool:
    return type(value) is typ  # bool is not an int here; JSON gives exact types


def check_schema(m, where):
    """Every key present with its JSON type, no unknown key, a valid name and the
    structure the loader reads before it can ask the library (`target`)."""
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ArtifactError(f"{where!r} is not a flowc model manifest (format "
                            f"{m.get('format') if isinstance(m, dict) else None!r})")
    if m.get("abi_version") != ABI_VERSION or not _type_ok(m.get("abi_version"), int):
        raise ArtifactError(f"{where!r} was built for flowc ABI version "
                            f"{m.get('abi_version')!r} (flowc {m.get('flowc_version')}); "
                            f"this runtime reads version {ABI_VERSION}: recompile the model")
    for key, typ in _SCHEMA.items():
        if not _type_ok(m.get(key), typ):
            raise ArtifactError(f"manifest {where!r}: {key!r} is missing or not a "
                                f"{typ.__name__} (got {type(m.get(key)).__name__})")
    unknown = sorted(set(m) - set(_SCHEMA))
    if unknown:
        raise ArtifactError(f"manifest {where!r}: unknown field(s) {unknown}")
    for section in ("inputs", "outputs", "variables"):
        for arg in m[section]:
            if not isinstance(arg, dict) or any(k not in arg for k in _ARG_KEYS):
                raise ArtifactError(f"manifest {where!r}: an entry of {section!r} lacks one "
                                    f"of {list(_ARG_KEYS)}: {arg!r}")
    name = m["name"]
    if not _C_IDENT.fullmatch(name):
        raise ArtifactError(f"manifest {where!r}: field 'name' must be a C identifier, got "
                            f"{name!r}")
    clashes = exported_clashes(name, [f"{name}_{r}" for r in ROLES])
    if clashes:
        raise ArtifactError(f"manifest {where!r}: field 'name' ({name!r}) would make the "
                            f"loader call symbols that are not the model's: "
                            f"{'; '.join(clashes)}")
    if m["library_bytes"] < 0 or not re.fullmatch(r"[0-9a-f]{64}", m["library_sha256"]):
        raise ArtifactError(f"manifest {where!r}: field 'library_bytes' or 'library_sha256' "
                            "is malformed")
    target = m["target"]
    if set(target) != {"triple", "cpu", "features"} or not all(
            _type_ok(target[k], str) for k in ("triple", "cpu")) or not _type_ok(
            target["features"], list) or not all(_type_ok(f, str)
                                                 for f in target["features"]):
        raise ArtifactError(f"manifest {where!r}: field 'target' must be {{triple: str, cpu: "
                            f"str, features: [str]}}, got {target!r:.200}")


# ---- the library's own description -------------------------------------------------------
def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def describe_text(manifest: dict) -> str:
    """What `NAME_describe()` returns for a manifest body: "<sha256>\n<canonical JSON>" of
    every field but UNDESCRIBED (the compiler embeds it; ASCII, no NUL)."""
    body = canonical({k: v for k, v in manifest.items() if k not in UNDESCRIBED})
    return hashlib.sha256(body.encode()).hexdigest() + "\n" + body


def parse_description(raw, where) -> dict:
    """The description a library returned (bytes), its hash verified."""
    if not raw or b"\n" not in raw:
        raise ArtifactError(f"{where!r}: NAME_describe returned no description")
    digest, body = raw.split(b"\n", 1)
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise ArtifactError(f"{where!r}: its description (NAME_describe) fails its sha256")
    try:
        desc = json.loads(body.decode())
    except ValueError as e:
        raise ArtifactError(f"{where!r}: its description is not JSON: {e}") from None
    if not isinstance(desc, dict):
        raise ArtifactError(f"{where!r}: its description is not a JSON object")
    return desc


def check_against_library(m, desc, where):
    """Every described field of the manifest equals the library's (canonical JSON: 3 and
    3.0, 1 and true differ); the library's description is itself a valid manifest body."""
    for key in sorted(set(_SCHEMA) - set(UNDESCRIBED)):
        if key not in desc:
            raise ArtifactError(f"{where!r}: the library's description lacks {key!r}")
        mine, theirs = canonical(m.get(key)), canonical(desc[key])
        if mine != theirs:
            raise ArtifactError(f"manifest {where!r}: field {key!r} does not match the "
                                f"library's own description (NAME_describe): manifest has "
                                f"{mine[:160]}, the library {theirs[:160]}")
    extra = sorted(set(desc) - set(_SCHEMA))
    if extra:
        raise ArtifactError(f"{where!r}: the library describes unknown field(s) {extra}")
    name = desc["name"]
    want = {r: f"{name}_{r}" for r in ROLES}
    if any(desc["functions"].get(r) != f for r, f in want.items()):
        raise ArtifactError(f"{where!r}: field 'functions' does not name the fixed ABI entry "
                            f"points {sorted(want.values())}")


# ---- exported names ----------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _system_libraries() -> tuple:
    found = []
    for n in [ctypes.util.find_library(n) or f"lib{n}.so" for n in _SYSTEM_LIBS] + [_LOADER]:
        try:
            found.append((n, ctypes.CDLL(n)))
        except OSError:
            pass
    return tuple(found)


def exported_clashes(name, symbols, internal=()) -> list:
    """Why each of `symbols` (what a model `name` exports) could collide with a symbol of
    libc, libm, libpthread, libdl, librt or the dynamic loader (looked up in the loaded
    libraries), with flowc's own (`flowc_*`, `internal`: the module's other names), or with
    a name C reserves (`__*`, `_[A-Z]*`); empty when none."""
    out = []
    internal = set(internal)
    for sym in symbols:
        if sym.startswith("flowc_"):
            return [f"{sym} (and every other) uses flowc's reserved prefix 'flowc_'"]
        if sym.startswith("__") or re.match(r"_[A-Z]", sym):
            return [f"{sym} (and every other) is reserved by C for the implementation"]
        if sym in internal:
            out.append(f"{sym} is also a function the generated code defines or calls")
        else:
            for lib_name, lib in _system_libraries():
                if hasattr(lib, sym):
                    out.append(f"{sym} is defined by {lib_name}")
                    break
    return out


def check_library(m, lib):
    if not os.path.isfile(lib):
        raise ArtifactError(f"the library {lib!r} named by the manifest is missing or not a "
                            "regular file")
    size = os.path.getsize(lib)
    if size != m["library_bytes"]:
        raise ArtifactError(f"{lib!r} does not match its manifest: {size} bytes, the "
                            f"manifest says {m['library_bytes']} (truncated, or a library "
                            "from another compile)")
    digest = sha256_file(lib)
    if digest != m["library_sha256"]:
        raise ArtifactError(f"{lib!r} does not match its manifest: sha256 {digest[:16]}… "
                            f"!= {m['library_sha256'][:16]}… (corrupted, or a library from "
                            "another compile)")
    check_elf(lib)


def check_elf(lib):
    """The library is an x86-64 ELF shared object whose headers and segments lie inside
    the file (dlopen of a truncated one dies of SIGBUS instead of failing)."""
    size = os.path.getsize(lib)
    with open(lib, "rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            raise ArtifactError(f"{lib!r} is not a 64-bit little-endian ELF file")
        e_type, machine = struct.unpack_from("<HH", head, 16)
        phoff, shoff = struct.unpack_from("<QQ", head, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", head, 54)
        if e_type != 3 or machine != 62:
            raise ArtifactError(f"{lib!r} is not an x86-64 shared object (ELF type {e_type}, "
                                f"machine {machine})")
        if phentsize != 56 or phoff + phnum * 56 > size or (
                shnum and shoff + shnum * shentsize > size):
            raise ArtifactError(f"{lib!r} is truncated or damaged: its ELF headers point past "
                                f"its {size} bytes")
        f.seek(phoff)
        table = f.read(phnum * 56)
    for k in range(phnum):
        p_type, = struct.unpack_from("<I", table, k * 56)
        offset, = struct.unpack_from("<Q", table, k * 56 + 8)
        filesz, = struct.unpack_from("<Q", table, k * 56 + 32)
        if p_type in (1, 2, 3) and offset + filesz > size:  # LOAD, DYNAMIC, INTERP
            raise ArtifactError(f"{lib!r} is truncated or damaged: segment {k} needs bytes "
                                f"up to {offset + filesz}, the file has {size}")


def check_cpu(m):
    target = m["target"]
    missing = missing_features(target.get("features", []))
    if missing:
        raise ArtifactError(f"{m['name']!r} was compiled for CPU {target.get('cpu')!r}; this "
                            f"machine lacks {', '.join(missing)}. Recompile it for this "
                            "machine (CompileOptions(target_cpu='host')) or a lower "
                            "level (e.g. 'x86-64-v2')")


def signature_of(m) -> Signature:
    """The runtime `Signature` (boundary check) of a manifest."""
    def arg(a):
        return ArgSpec(a["name"], a["dtype"], a["shape"], a.get("loc", ""),
                       {int(k): v for k, v in a.get("reasons", {}).items()})
    return Signature([arg(a) for a in m["inputs"]], [arg(a) for a in m["outputs"]],
                     [s["name"] for s in m["symbols"]],
                     [tuple(c) for c in m["checks"]], [tuple(c) for c in m["bounds"]])
