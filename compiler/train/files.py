"""Crash-safe checkpoint files: `atomic_write(path, write)` and the sweep of the temporary
files that killed saves leave behind.

Every checkpoint file (an `.npz`, a V2 `.index` or `.data-00000-of-00001`, the
`checkpoint` state file, a `.meta`) is written to a temporary file `.ckpt-PID-*` in the
same folder, flushed to disk (fsync) and renamed over its name, then the folder is synced
so the rename survives a power loss: a crash never leaves a half-written file under a
checkpoint's name. The next save in the folder removes the temporary files of killed
saves (their process is gone; `sweep`).
"""

from __future__ import annotations

import os
import tempfile
import time

TEMP_PREFIX = ".ckpt-"
#: a temporary file whose writer cannot be told (no pid in its name) is stale after this
STALE_TEMP_S = 600

__all__ = ["atomic_write", "sweep", "TEMP_PREFIX", "STALE_TEMP_S"]


def atomic_write(path, write, sweep_first=True):
    """Create `path` through a temporary file: `write(fh)` fills the open binary file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if sweep_first:
        sweep(folder)
    suffix = os.path.splitext(path)[1] or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=suffix,
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def sweep(folder) -> int:
    """Remove the temporary files of saves killed before their rename: those whose
    process (the pid in the name) is gone, and nameless ones older than STALE_TEMP_S.
    A live save's file (this or another running process) is kept. Returns the count."""
    count = 0
    for name in os.listdir(folder):
        if not name.startswith(TEMP_PREFIX):
            continue
        pid = name[len(TEMP_PREFIX):].split("-", 1)[0]
        path = os.path.join(folder, name)
        try:
            stale = (not _alive(int(pid))) if pid.isdigit() else \
                time.time() - os.lstat(path).st_mtime > STALE_TEMP_S
            if stale:
                os.unlink(path)
                count += 1
        except OSError:  # gone already (another sweeper), or not ours to remove
            continue
    return count


def _alive(pid) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory
        pass
    finally:
        os.close(fd)
