"""The in-process memo of compiled CPU programs (`compiler.pipeline.build_program`, the one
caller; docs/cache.md).

When the compile cache on disk is off (FLOWC_CACHE=0, no C compiler, or a refused cache
folder), compiling the same program again in one process — a new Session of the same
graph, an fc.jit function rebuilt — would run LLVM again, and every LLVM optimization run
leaks about 70 KiB inside llvmlite (docs/toolchain.md). The memo keeps what a new
executable needs without LLVM: the position-independent object code and the executable's
description (`compiler/backends/llvm/jit.py` `describe`); a hit loads the object code
into a new MCJIT engine (`jit.load`), so every executable still has its own engine,
thread pool, arena and constants, and nothing of a dropped executable stays loaded (the
memo holds bytes and arrays, no engine or library).

Key (made by the pipeline, the one caller of the compile cache): the digest of the compile
cache's key parts (`cache.key_parts`: the program, the flowc fingerprint, the target and
the options that change code) with the program's hash taken *with* provenance
(`program_hash`: names, file:line, reasons), since error messages and buffer
descriptions come from the compile that filled an entry: a hit must have compiled a
program with the same names. Bounded: at most `MAX_ENTRIES` entries and `MAX_BYTES` bytes
(object code and constants), least recently used first out. Thread-safe; its lock is
re-created in a forked child. Never used for dumps (assembly) or GPU programs.

`stats`: hits, misses, stores and evictions in this process (kept apart from the disk
cache's `cache.stats`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from runtime import forksafe

MAX_ENTRIES = 64
MAX_BYTES = 64 << 20
stats = {"hits": 0, "misses": 0, "stores": 0, "evictions": 0}

_entries: OrderedDict = OrderedDict()  # key -> (description, bytes)
_bytes = 0
_lock = forksafe.lock()  # released in a forked child (runtime/forksafe.py)


def program_hash(program) -> str:
    """The sha256 of the program's text with its provenance (names, file:line, reasons)
    and its tokens numbered by position (a program built again has fresh tokens but the
    same code): with the compile cache's other key parts, the memo's key
    (compiler/pipeline.py)."""
    from .ir.text import print_program
    text = print_program(program, positional_tokens=True)
    return hashlib.sha256(text.encode()).hexdigest()


def get(key: str):
    """The description stored under `key`, or None (counted as a miss)."""
    with _lock:
        item = _entries.get(key)
        if item is None:
            stats["misses"] += 1
            return None
        _entries.move_to_end(key)
        stats["hits"] += 1
        return item[0]


def put(key: str, description, size: int) -> None:
    """Keep `description` (of `size` bytes) under `key`, dropping the least recently
    used entries beyond the bounds; one larger than `MAX_BYTES` is not kept."""
    global _bytes
    if size > MAX_BYTES:
        return
    with _lock:
        old = _entries.pop(key, None)
        if old is not None:
            _bytes -= old[1]
        _entries[key] = (description, size)
        _bytes += size
        stats["stores"] += 1
        while len(_entries) > MAX_ENTRIES or _bytes > MAX_BYTES:
            _, (_, dropped) = _entries.popitem(last=False)
            _bytes -= dropped
            stats["evictions"] += 1


def clear() -> int:
    """Forget every entry; returns how many there were."""
    global _bytes
    with _lock:
        count = len(_entries)
        _entries.clear()
        _bytes = 0
    return count


def info() -> dict:
    """{"entries", "bytes"} held now."""
    with _lock:
        return {"entries": len(_entries), "bytes": _bytes}
