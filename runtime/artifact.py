"""The ahead-of-time artifact format: a directory holding `NAME.so` (the code, C ABI in
docs/abi.md), `NAME.h` (its C header) and `NAME.json` (the manifest, below).

The compiler writes the manifest with `write_manifest(path, manifest)` (it adds the
format tag, the ABI version and the library's size and sha256); the runtime finds an
artifact with `resolve(path)` (the .so, the .json or a directory holding one model) and
reads it with `read_manifest(path)`, which checks the JSON against the schema, the ABI
version, the library's size and hash and this host's CPU features, raising `ArtifactError`
with a message that says what is wrong. Nothing here runs the library.

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

import hashlib
import json
import os

from .cpu import missing_features
from .signature import ArgSpec, Signature

FORMAT = "flowc-model"
ABI_VERSION = 1

_SCHEMA = {
    "format": str, "abi_version": int, "flowc_version": str, "name": str, "library": str,
    "header": str, "library_bytes": int, "library_sha256": str, "target": dict,
    "threads": int, "inputs": list, "outputs": list, "symbols": list, "checks": list,
    "bounds": list, "variables": list, "temporaries": dict, "errors": dict, "functions": dict,
}
_ARG_KEYS = ("name", "dtype", "shape", "c_name")


class ArtifactError(RuntimeError):
    """An artifact cannot be used: missing, corrupted, truncated, built for another ABI or
    CPU, or a library that does not match its manifest."""


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
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"cannot read the manifest {manifest_path!r} (corrupted or "
                            f"truncated?): {e}") from None
    check_schema(manifest, manifest_path)
    lib = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), manifest["library"])
    if library_path is not None and os.path.abspath(library_path) != lib:
        raise ArtifactError(f"{library_path!r} does not match its manifest, which names "
                            f"{manifest['library']!r}")
    check_library(manifest, lib)
    check_cpu(manifest)
    return manifest, lib


def check_schema(m, where):
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ArtifactError(f"{where!r} is not a flowc model manifest (format "
                            f"{m.get('format') if isinstance(m, dict) else None!r})")
    if m.get("abi_version") != ABI_VERSION:
        raise ArtifactError(f"{where!r} was built for flowc ABI version "
                            f"{m.get('abi_version')!r} (flowc {m.get('flowc_version')}); "
                            f"this runtime reads version {ABI_VERSION}: recompile the model")
    for key, typ in _SCHEMA.items():
        if not isinstance(m.get(key), typ):
            raise ArtifactError(f"manifest {where!r}: {key!r} is missing or not a "
                                f"{typ.__name__}")
    for section in ("inputs", "outputs", "variables"):
        for arg in m[section]:
            if not isinstance(arg, dict) or any(k not in arg for k in _ARG_KEYS):
                raise ArtifactError(f"manifest {where!r}: an entry of {section!r} lacks one "
                                    f"of {list(_ARG_KEYS)}: {arg!r}")


def check_library(m, lib):
    if not os.path.isfile(lib):
        raise ArtifactError(f"the library {lib!r} named by the manifest is missing")
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
