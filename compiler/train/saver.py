"""Checkpoints: `Saver(var_list=None)`, `save(sess, path)`, `restore(sess, path)`.

A checkpoint is an `.npz` file (a zip of `.npy` members, numpy's `savez` layout, written
by `runtime.npy`: plain numeric arrays only): one array per variable keyed by the
variable's name (`layer/w`, without `:0`), plus the Session's run counter (the
random-number state, DESIGN.md) under the reserved key `RUN_COUNTER_KEY` as an int64
scalar. It is written to a temporary file
(`.ckpt-PID-*.npz`), synced to disk and renamed, so a crash never leaves a half-written
checkpoint at `path`; the next save in the folder removes the temporary files of killed
saves (their process is gone).

`restore` reads the file with `checkpoint.read_checkpoint` (plain arrays) and validates
everything first: every variable of the saver must be in the file with the variable's
exact dtype and shape. Any mismatch, and any damage to the file (truncated, not a zip, a
directory, a bad CRC, a forged header), raises `CheckpointError` (a ValueError) naming the
file and each offending variable, and then no variable (and not the run counter) has been
changed. Keys in the file that the saver does not cover are
ignored. A graph built the same way in a fresh process restores the same values.

With threads training the same Session, `save` copies every variable from one moment
(between two steps' commits) and `restore` installs every value in one exclusive section
of the Session's variable store (runtime/variables.py): no run sees a mix.
"""

from __future__ import annotations

import glob
import os
import stat
import tempfile
import time
import zipfile

import numpy as np

from runtime import npy

from ..frontend.variables import Variable, global_variables
from .checkpoint import CheckpointError, read_checkpoint

RUN_COUNTER_KEY = "__flowc__/run_counter"

__all__ = ["Saver", "latest_checkpoint", "RUN_COUNTER_KEY", "CheckpointError"]


class Saver:
    """Saves and restores `var_list` (default: the global variables when the Saver is
    made): a list of Variables, or a dict checkpoint name -> Variable."""

    def __init__(self, var_list=None, max_to_keep=None, name=None):
        if var_list is None:
            var_list = global_variables()
        if isinstance(var_list, dict):
            items = dict(var_list)
        else:
            items = {_key(v): v for v in var_list}
        if not items:
            raise ValueError("No variables to save")
        for key, var in items.items():
            if not isinstance(var, Variable):
                raise TypeError(f"Saver: {key!r} is not a Variable: {var!r}")
            if key == RUN_COUNTER_KEY:
                raise ValueError(f"Saver: {RUN_COUNTER_KEY!r} is a reserved key")
        self._vars = items

    def save(self, sess, save_path, global_step=None):
        """Write the variables' values in `sess` and its run counter; returns the path
        (`save_path`, with `-<global_step>` when given, ending in `.npz`)."""
        self._check_graph(sess)
        path = _npz_path(save_path, global_step, sess)
        arrays = {}
        with sess._store.lock.reading:  # copies from one moment: no concurrent step's half
            for key, var in self._vars.items():
                value = sess._store.get(_store_name(var), f"saving {var.name!r}")
                arrays[key] = np.array(value, order="C")  # (ascontiguousarray makes 0-d 1-d)
            arrays[RUN_COUNTER_KEY] = np.asarray(sess._run_counter, dtype=np.int64)
        _write_npz(path, arrays)
        return path

    def restore(self, sess, save_path):
        """Load the checkpoint at `save_path` into `sess` (see the module docstring)."""
        self._check_graph(sess)
        save_path = os.fspath(save_path)
        path = save_path if os.path.exists(save_path) or save_path.endswith(".npz") \
            else save_path + ".npz"
        if not os.path.lexists(path):
            raise CheckpointError(f"checkpoint {save_path!r} not found")
        wanted = {key: (var.dtype.np, tuple(var.shape), f"variable {var.name!r}")
                  for key, var in self._vars.items()}
        loaded, counter = read_checkpoint(path, wanted, RUN_COUNTER_KEY)
        with sess._store.lock.exclusive():  # no run sees a half-restored checkpoint
            for key, var in self._vars.items():
                sess._store.set(_store_name(var), loaded[key])
            if counter is not None:
                sess._run_counter = counter

    def _check_graph(self, sess):
        for var in self._vars.values():
            if var.graph is not sess.graph:
                raise ValueError(f"Saver: variable {var.name!r} is not in the session's graph")


def _key(var) -> str:
    return var.op.name


def _store_name(var) -> str:
    return var.op.attrs["var"]


def _npz_path(save_path, global_step, sess):
    path = os.fspath(save_path)
    if path.endswith(".npz"):
        path = path[:-4]
    if global_step is not None:
        step = global_step
        if not isinstance(step, (int, np.integer)):
            step = sess.run(step)
        path = f"{path}-{int(step)}"
    return path + ".npz"


def _write_npz(path, arrays):
    """numpy's savez layout (one uncompressed `KEY.npy` member per array, plain arrays only),
    written to a temporary file `.ckpt-PID-*.npz` in the same folder, flushed to disk
    (fsync) and renamed over `path`, then the folder is synced so the rename survives a
    power loss. Temporary files left by killed saves are removed first (`_sweep`)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    _sweep(folder)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".npz",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
                for key, arr in arrays.items():
                    with zf.open(key + ".npy", "w", force_zip64=True) as member:
                        npy.write(member, arr)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


TEMP_PREFIX = ".ckpt-"
#: a temporary file whose writer cannot be told (no pid in its name) is stale after this
STALE_TEMP_S = 600


def _sweep(folder) -> int:
    """Remove the temporary files of saves killed before their rename: those whose
    process (the pid in the name) is gone, and nameless ones older than STALE_TEMP_S.
    A live save's file (this or another running process) is kept. Returns the count."""
    count = 0
    for name in os.listdir(folder):
        if not (name.startswith(TEMP_PREFIX) and name.endswith(".npz")):
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


def _fsync_dir(folder):
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


def latest_checkpoint(checkpoint_dir, prefix=""):
    """The newest (by modification time) `PREFIX*.npz` regular file in `checkpoint_dir`,
    or None. Directories, dangling links and files that vanish meanwhile are skipped."""
    paths = glob.glob(os.path.join(glob.escape(checkpoint_dir), glob.escape(prefix) + "*.npz"))
    newest, newest_time = None, None
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and (newest_time is None or st.st_mtime > newest_time):
            newest, newest_time = path, st.st_mtime
    return newest
