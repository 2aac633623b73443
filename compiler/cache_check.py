"""Field-by-field validation of a compile-cache entry's description (`entry.json`) before
anything in it is used (compiler/cache.py is the one caller).

`check_entry(meta, signature, variables, code)` takes the parsed JSON, the signature of
the program being compiled (`runtime.signature.Signature`), its variables ({name:
TensorType}) and the name of the entry's code file ("code.so" or "code.cubin"), and
raises `BadEntry` naming the first field that is wrong: a wrong type (null, a list
where a dict belongs, ...), an unknown dtype or kind, a dim that is negative, too large
or names an unknown symbol, an index out of range, a file name that leaves the entry's
folder, or a buffer whose dtype or shape differs from what the program says of the same
input, output or variable. It never reads a file and never imports llvmlite.

What it cannot see (the shape of a temporary the code indexes, the code itself) is
covered by the hashes: `entry.sha256` holds the sha256 of entry.json, and entry.json the
sha256 of every other file (compiler/cache.py); the trust model is in docs/cache.md.
"""

from __future__ import annotations

import re

import numpy as np

KINDS = ("input", "variable", "const", "temp")
DIM_OPS = ("+", "*", "//")
MAX_DIM = 1 << 62
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class BadEntry(ValueError):
    """A cache entry whose description is not what flowc writes."""


def _need(cond, what):
    if not cond:
        raise BadEntry(what)


def _typed(value, kind, what):
    # bool is an int in Python; a JSON true is never a count or an index
    _need(isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)),
          f"{what} must be a {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def _index(value, n, what) -> int:
    _typed(value, int, what)
    _need(0 <= value < n, f"{what} {value} is out of range [0, {n})")
    return value


def check_dtype(name, what) -> np.dtype:
    _typed(name, str, what)
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise BadEntry(f"{what} {name!r} is not a dtype") from None
    _need(dtype.kind in "biuf" and dtype.name == name, f"{what} {name!r} is not a flowc dtype")
    return dtype


def check_dim(d, symbols, what, depth=0):
    _need(depth < 32, f"{what} nests too deep")
    if isinstance(d, bool):
        raise BadEntry(f"{what} is a bool")
    if isinstance(d, int):  # a dim is >= 0; a term of an expression may be negative
        low = 0 if depth == 0 else -MAX_DIM
        _need(low <= d < MAX_DIM, f"{what} {d} is out of range [{low}, {MAX_DIM})")
    elif isinstance(d, str):
        _need(d in symbols, f"{what} names the unknown symbol {d!r}")
    else:
        _typed(d, list, what)
        _need(len(d) == 3 and d[0] in DIM_OPS, f"{what} {d!r} is not a dim expression")
        check_dim(d[1], symbols, what, depth + 1)
        check_dim(d[2], symbols, what, depth + 1)
        if d[0] == "//":
            _need(isinstance(d[2], int) and d[2] > 0, f"{what} divides by {d[2]!r}")


def check_shape(shape, symbols, what) -> list:
    _typed(shape, list, what)
    _need(len(shape) <= 64, f"{what} has {len(shape)} dims")
    for k, d in enumerate(shape):
        check_dim(d, symbols, f"{what}[{k}]")
    return shape


def check_file_name(name, what) -> str:
    _typed(name, str, what)
    _need(_FILE.fullmatch(name) is not None and ".." not in name,
          f"{what} {name!r} is not a plain file name of the entry")
    return name


def _same_type(spec, dtype, shape, what):
    _need(spec["dtype"] == dtype, f"{what} has dtype {spec['dtype']}, the program {dtype}")
    _need(spec["shape"] == list(shape), f"{what} has shape {spec['shape']}, the program "
                                        f"{list(shape)}")


def _check_signature(stored, signature):
    """The stored signature must describe the program's feeds and outputs."""
    _typed(stored, dict, "signature")
    want = signature.to_json()
    for side in ("inputs", "outputs"):
        args = _typed(stored.get(side), list, f"signature.{side}")
        _need(len(args) == len(want[side]), f"signature.{side} has {len(args)} entries, the "
                                            f"program {len(want[side])}")
        for k, (a, w) in enumerate(zip(args, want[side])):
            _typed(a, dict, f"signature.{side}[{k}]")
            _need(a.get("dtype") == w["dtype"] and a.get("shape") == w["shape"],
                  f"signature.{side}[{k}] differs from the program's")
    _need(stored.get("symbols") == want["symbols"], "signature.symbols differ from the "
                                                    "program's")


def _check_buffer(k, b, files, signature, variables):
    what = f"buffers[{k}]"
    _typed(b, dict, what)
    for field in ("name", "desc"):
        _typed(b.get(field), str, f"{what}.{field}")
    kind = b.get("kind")
    _need(kind in KINDS, f"{what}.kind {kind!r} is not one of {', '.join(KINDS)}")
    check_dtype(b.get("dtype"), f"{what}.dtype")
    check_shape(b.get("shape"), signature.symbols, f"{what}.shape")
    source = b.get("source")
    if kind == "input":
        arg = signature.inputs[_index(source, len(signature.inputs), f"{what}.source")]
        _same_type(b, arg.dtype, arg.shape, f"{what} (input {source})")
    elif kind == "variable":
        _need(source in variables, f"{what}.source {source!r} is not a variable of the "
                                   "program")
        ty = variables[source]
        _same_type(b, np.dtype(ty.dtype.np).name, ty.shape, f"{what} (variable {source!r})")
    elif kind == "const":
        check_file_name(source, f"{what}.source")
        _need(source in files, f"{what}.source {source!r} has no recorded hash")
        _need(all(isinstance(d, int) for d in b["shape"]), f"{what}: a constant's shape "
                                                            "must be static")
    else:
        _need(source is None, f"{what}.source of a temporary must be null")


def check_entry(meta, signature, variables, code: str) -> None:
    """Raise `BadEntry` unless `meta` is a well-formed description of an entry for a
    program with this `signature` and `variables` ({name: TensorType})."""
    _typed(meta, dict, "entry.json")
    files = _typed(meta.get("files"), dict, "files")
    for name, digest in files.items():
        check_file_name(name, "files")
        _need(isinstance(digest, str) and _HEX64.fullmatch(digest) is not None,
              f"files[{name!r}] is not a sha256")
    _need(code in files, f"files has no {code}")
    _check_signature(meta.get("signature"), signature)
    buffers = _typed(meta.get("buffers"), list, "buffers")
    for k, b in enumerate(buffers):
        _check_buffer(k, b, files, signature, variables)
    n = len(buffers)
    outputs = _typed(meta.get("outputs"), list, "outputs")
    _need(len(outputs) == len(signature.outputs), f"outputs has {len(outputs)} entries, the "
                                                  f"program {len(signature.outputs)}")
    for k, (i, arg) in enumerate(zip(outputs, signature.outputs)):
        _index(i, n, f"outputs[{k}]")
        _same_type(buffers[i], arg.dtype, arg.shape, f"outputs[{k}] (buffer {i})")
    updates = _typed(meta.get("updates"), dict, "updates")
    for name, i in updates.items():
        _need(name in variables, f"updates names {name!r}, not a variable of the program")
        _index(i, n, f"updates[{name!r}]")
        ty = variables[name]
        _same_type(buffers[i], np.dtype(ty.dtype.np).name, ty.shape,
                   f"updates[{name!r}] (buffer {i})")
    for name, message in _typed(meta.get("errors"), dict, "errors").items():
        _need(name.lstrip("-").isdigit(), f"errors key {name!r} is not a code")
        _typed(message, str, f"errors[{name!r}]")
    if "calls" in meta:   # [user op name, kernel name] per kernel call (run timings)
        for k, c in enumerate(_typed(meta["calls"], list, "calls")):
            _need(isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c),
                  f"calls[{k}] is not a [node name, kernel name] pair")
    if "lifetimes" in meta:
        for name, span in _typed(meta["lifetimes"], dict, "lifetimes").items():
            _need(name.isdigit() and int(name) < n, f"lifetimes key {name!r} is not a buffer")
            _need(isinstance(span, list) and len(span) == 2 and
                  all(isinstance(v, int) and not isinstance(v, bool) for v in span) and
                  0 <= span[0] <= span[1] < 1 << 31,
                  f"lifetimes[{name!r}] is not a [first, last] pair of steps")


def check_const(array, spec, what) -> np.ndarray:
    """A constant loaded from its .npy file must have its spec's dtype and shape."""
    _need(array.dtype == np.dtype(spec["dtype"]) and list(array.shape) == spec["shape"],
          f"{what} holds {array.dtype}{list(array.shape)}, the entry says "
          f"{spec['dtype']}{spec['shape']}")
    return array

