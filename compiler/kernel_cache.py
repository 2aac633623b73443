"""The kernel library: compiled kernel objects kept by kernel key, in this process and on
disk, so that a kernel is compiled once per target and later programs link against it
(docs/cache.md, "The kernel library").

It stores bytes, not code decisions: a `KernelObject` is position-independent object
code (one LLVM module's, holding one or more kernels as hidden `weak_odr` functions
named after their keys) and its stage texts.
The LLVM backend (compiler/backends/llvm/kernlib.py) makes the keys and the objects;
this module only finds and keeps them. Backend-neutral on purpose: it never imports
llvmlite and never reads what is inside an object.

In process: `find(digest, parts)` looks in a memo of objects by key digest, bounded to
`MEMO_BYTES` bytes (object code and the stage texts held in memory), least recently
used first out (an object is dropped
with every key that points to it). The memo works with the disk cache off (FLOWC_CACHE=0,
or a refused cache folder): two programs of one process share their kernels either way.

On disk (with the compile cache on, compiler/cache_root.py), under `ROOT/kernels/`:
    key/DIGEST.json   {"key": the key parts, "object": SHA, "size": bytes of the object,
                       "texts": sha256 of the texts file}
    obj/SHA.o         the object code; SHA is the sha256 of its bytes
    obj/SHA.texts.json  the object's stage texts ("llvm", "llvm_opt"), read only when
                       a program's texts are asked for
Each file is written to a temp file in its folder and renamed into place (the object and
its texts before the key files that name them), so a reader never sees half a file; a
store removes the temp files of killed stores (older than 15 minutes).
Nothing read from disk is trusted: a key file must be small JSON whose key equals the
parts being looked up exactly and whose object name is a sha256; the object must have
the recorded size (at most `MAX_OBJECT`) and hash to its name. Anything else is a
corrupt entry: its key file is removed (one warning), `stats["corrupt"]` counts it, and
the caller compiles the kernel again. Damaged texts give no texts, never a failed load.

`stats`: memo_hits, disk_hits, misses, compiled (kernels compiled by this process),
stores, corrupt, evictions. `info()` and `clear()` serve `flowc cache info|clear`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from runtime import forksafe

from .cache_root import STALE_TEMP_S, claim_root, enabled, kernels_dir, usable_root

log = logging.getLogger("flowc.cache")

#: bytes the in-process memo keeps at most: object code plus the texts held in memory
#: (W3's 37 kernels: about 1.5 MB)
MEMO_BYTES = 128 << 20
MAX_OBJECT = 64 << 20
MAX_KEY_FILE = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
stats = {"memo_hits": 0, "disk_hits": 0, "misses": 0, "compiled": 0, "stores": 0,
         "corrupt": 0, "evictions": 0}


@dataclass(eq=False)
class KernelObject:
    """Object code defining one or more kernels; `texts` maps a stage name ("llvm",
    "llvm_opt") to its text, possibly read lazily from disk."""
    data: bytes
    texts: Mapping = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """What the memo counts: the code and the texts held in memory (not those still
        on disk)."""
        texts = self.texts if isinstance(self.texts, dict) else {}
        return len(self.data) + sum(len(t) for t in texts.values())

    @property
    def sha256(self) -> str:
        if getattr(self, "_sha", None) is None:
            self._sha = hashlib.sha256(self.data).hexdigest()
        return self._sha


_memo: OrderedDict = OrderedDict()     # object sha -> KernelObject
_by_key: dict = {}                     # key digest -> object sha
_memo_bytes = 0
_lock = forksafe.lock()  # released in a forked child (runtime/forksafe.py)


# ---- lookup --------------------------------------------------------------------------------
def find(digest: str, parts: dict):
    """The KernelObject defining the kernel of key `parts` (whose digest is `digest`):
    from the memo, else from disk (validated, then kept in the memo), else None."""
    with _lock:
        sha = _by_key.get(digest)
        if sha is not None:
            _memo.move_to_end(sha)
            stats["memo_hits"] += 1
            return _memo[sha]
    obj = _load(digest, parts) if _disk_on() else None
    if obj is None:
        stats["misses"] += 1
        return None
    stats["disk_hits"] += 1
    _remember(obj, [digest])
    return obj


def _disk_on() -> bool:
    return enabled() and usable_root()


def _load(digest, parts):
    root = kernels_dir()
    key_path = os.path.join(root, "key", digest + ".json")
    if not os.path.isfile(key_path):
        return None
    try:
        record = _read_key(key_path, parts)
        sha = record["object"]
        obj_path = os.path.join(root, "obj", sha + ".o")
        with open(obj_path, "rb") as f:
            data = f.read(MAX_OBJECT + 1)
        if len(data) != record["size"]:
            raise ValueError(f"{sha}.o has {len(data)} bytes, its key file says "
                             f"{record['size']}")
        if hashlib.sha256(data).hexdigest() != sha:
            raise ValueError(f"{sha}.o does not hash to its name")
    except Exception as e:  # noqa: BLE001  (whatever the damage, compile it again)
        stats["corrupt"] += 1
        log.warning("kernel library: removing the bad entry %s (%s); compiling the kernel "
                    "again", key_path, e)
        _unlink(key_path)
        return None
    texts = HashedTexts(os.path.join(root, "obj", sha + ".texts.json"), record["texts"])
    obj = KernelObject(data, texts)
    obj._sha = sha
    return obj


def _read_key(path, parts) -> dict:
    with open(path, "rb") as f:
        raw = f.read(MAX_KEY_FILE + 1)
    if len(raw) > MAX_KEY_FILE:
        raise ValueError("the key file is too large")
    record = json.loads(raw)
    if not isinstance(record, dict) or record.get("key") != parts:
        raise ValueError("its recorded key differs from the one looked up")
    sha, size = record.get("object"), record.get("size")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
        raise ValueError("its object name is not a sha256")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_OBJECT:
        raise ValueError(f"bad object size {size!r}")
    if not isinstance(record.get("texts"), str):
        raise ValueError("no texts hash")
    return record


class HashedTexts(Mapping):
    """Stage texts kept in a JSON file beside a cached object or entry, read on first use
    and only when the file's sha256 is `want` and it holds {name: str}; a missing or
    damaged file gives no texts (a warning naming `what`), never an error. Also the
    compile cache's (compiler/cache.py): a hit needs no texts, so nothing is read unless
    asked for (truth-testing does not read the file)."""

    def __init__(self, path, want, what="kernel library"):
        self._path, self._want, self._what, self._texts = path, want, what, None

    def _get(self) -> dict:
        if self._texts is None:
            self._texts = {}
            try:
                with open(self._path, "rb") as f:
                    raw = f.read()
                if hashlib.sha256(raw).hexdigest() == self._want:
                    texts = json.loads(raw)
                    if isinstance(texts, dict) and all(isinstance(v, str)
                                                       for v in texts.values()):
                        self._texts = texts
            except (OSError, ValueError) as e:
                log.warning("%s: no stage texts from %s (%s)", self._what, self._path, e)
        return self._texts

    def __bool__(self):  # `texts or {}` must not read the file
        return True

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())


# ---- keeping -------------------------------------------------------------------------------
def keep(obj: KernelObject, parts_by_digest: dict) -> None:
    """Keep the freshly compiled `obj` (defining the kernels of `parts_by_digest`, key
    digest -> key parts) in the memo and, with the compile cache on, on disk. Never
    raises: a failed store logs a warning."""
    stats["compiled"] += len(parts_by_digest)
    _remember(obj, list(parts_by_digest))
    if _disk_on():
        try:
            _store(obj, parts_by_digest)
        except Exception as e:  # noqa: BLE001  (the library must never break a compile)
            log.warning("kernel library: could not store an object in %s: %s",
                        kernels_dir(), e)


def _remember(obj, digests) -> None:
    global _memo_bytes
    if obj.nbytes > MEMO_BYTES:
        return
    with _lock:
        sha = obj.sha256
        if sha not in _memo:
            _memo[sha] = obj
            _memo_bytes += obj.nbytes
        _memo.move_to_end(sha)
        for d in digests:
            _by_key[d] = sha
        while _memo_bytes > MEMO_BYTES:
            old_sha, old = _memo.popitem(last=False)
            _memo_bytes -= old.nbytes
            for d in [d for d, s in _by_key.items() if s == old_sha]:
                del _by_key[d]
            stats["evictions"] += 1


def _store(obj, parts_by_digest) -> None:
    root = kernels_dir()
    if not claim_root(os.path.dirname(root)):
        return
    for sub in ("obj", "key"):
        os.makedirs(os.path.join(root, sub), mode=0o700, exist_ok=True)
        _sweep(os.path.join(root, sub))
    texts = json.dumps(dict(obj.texts)).encode()
    _write_atomic(os.path.join(root, "obj", obj.sha256 + ".texts.json"), texts)
    _write_atomic(os.path.join(root, "obj", obj.sha256 + ".o"), obj.data)
    for digest, parts in parts_by_digest.items():
        record = {"key": parts, "object": obj.sha256, "size": len(obj.data),
                  "texts": hashlib.sha256(texts).hexdigest()}
        _write_atomic(os.path.join(root, "key", digest + ".json"),
                      json.dumps(record).encode())
        stats["stores"] += 1


def _sweep(folder) -> None:
    """Remove the temp files of killed stores (older than cache_root.STALE_TEMP_S)."""
    now = time.time()
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            if name.startswith(".tmp-") and now - os.lstat(path).st_mtime > STALE_TEMP_S:
                os.remove(path)
        except OSError:
            continue


def _write_atomic(path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


# ---- info, clear ---------------------------------------------------------------------------
def info() -> dict:
    """{"kernels", "objects", "bytes"} on disk and {"memo_kernels", "memo_bytes"} held in
    this process."""
    root = kernels_dir()
    keys = _names(os.path.join(root, "key"), ".json")
    objects = _names(os.path.join(root, "obj"), ".o")
    size = 0
    for name in objects:
        try:
            size += os.lstat(os.path.join(root, "obj", name)).st_size
        except OSError:
            continue
    with _lock:
        memo = {"memo_kernels": len(_by_key), "memo_bytes": _memo_bytes}
    return {"kernels": len(keys), "objects": len(objects), "bytes": size, **memo}


def _names(folder, suffix) -> list:
    try:
        return [n for n in os.listdir(folder) if n.endswith(suffix)
                and not n.startswith(".tmp-")]
    except OSError:
        return []


def clear(memo: bool = True) -> int:
    """Remove the library's folder on disk (the caller has checked the cache's marker)
    and, when `memo`, forget the in-process objects; returns the kernels removed from
    disk."""
    count = len(_names(os.path.join(kernels_dir(), "key"), ".json"))
    shutil.rmtree(kernels_dir(), ignore_errors=True)
    if memo:
        clear_memo()
    return count


def clear_memo() -> int:
    """Forget every object held in this process; returns how many kernels were held."""
    global _memo_bytes
    with _lock:
        count = len(_by_key)
        _memo.clear()
        _by_key.clear()
        _memo_bytes = 0
    return count
