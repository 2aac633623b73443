"""Checkpoints: `Saver(var_list=None)`, `save(sess, path)`, `restore(sess, path)`.

A checkpoint is an `.npz` file (a zip of `.npy` members, numpy's `savez` layout, written
with allow_pickle=False): one array per variable keyed by the variable's name (`layer/w`, without
`:0`), plus the Session's run counter (the random-number state, DESIGN.md) under the
reserved key `RUN_COUNTER_KEY` as an int64 scalar. It is written to a temporary file and
renamed, so a crash never leaves a half-written checkpoint at `path`.

`restore` loads with `np.load(path, allow_pickle=False)` and validates everything first:
every variable of the saver must be in the file with the variable's exact dtype and shape.
Any mismatch raises ValueError naming each offending variable, and then no variable (and
not the run counter) has been changed. Keys in the file that the saver does not cover are
ignored. A graph built the same way in a fresh process restores the same values.

With threads training the same Session, `save` copies every variable from one moment
(between two steps' commits) and `restore` installs every value in one exclusive section
of the Session's variable store (runtime/variables.py): no run sees a mix.
"""

from __future__ import annotations

import glob
import os
import tempfile
import zipfile

import numpy as np

from ..frontend.variables import Variable, global_variables

RUN_COUNTER_KEY = "__flowc__/run_counter"

__all__ = ["Saver", "latest_checkpoint", "RUN_COUNTER_KEY"]


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
        path = save_path if os.path.exists(save_path) or save_path.endswith(".npz") \
            else save_path + ".npz"
        if not os.path.exists(path):
            raise ValueError(f"checkpoint {save_path!r} not found")
        with np.load(path, allow_pickle=False) as data:
            loaded = {k: data[k] for k in data.files}
        values = self._validated(loaded, path)
        counter = _counter(loaded, path)
        with sess._store.lock.exclusive():  # no run sees a half-restored checkpoint
            for var, value in values:
                sess._store.set(_store_name(var), value)
            if counter is not None:
                sess._run_counter = counter

    def _check_graph(self, sess):
        for var in self._vars.values():
            if var.graph is not sess.graph:
                raise ValueError(f"Saver: variable {var.name!r} is not in the session's graph")

    def _validated(self, loaded, path):
        errors, values = [], []
        for key, var in self._vars.items():
            arr = loaded.get(key)
            want = (var.dtype.np, tuple(var.shape))
            if arr is None:
                errors.append(f"variable {var.name!r}: key {key!r} not in the checkpoint")
            elif (arr.dtype, arr.shape) != want:
                errors.append(f"variable {var.name!r}: the checkpoint has "
                              f"{arr.dtype}{list(arr.shape)}, the variable is "
                              f"{want[0]}{list(want[1])}")
            else:
                values.append((var, arr))
        if errors:
            raise ValueError(f"cannot restore {path!r} (no variable was changed):\n  "
                             + "\n  ".join(errors))
        return values


def _key(var) -> str:
    return var.op.name


def _store_name(var) -> str:
    return var.op.attrs["var"]


def _counter(loaded, path):
    if RUN_COUNTER_KEY not in loaded:
        return None
    c = loaded[RUN_COUNTER_KEY]
    if c.shape != () or c.dtype.kind not in "iu":
        raise ValueError(f"cannot restore {path!r}: {RUN_COUNTER_KEY!r} is not an integer "
                         "scalar (no variable was changed)")
    return int(c)


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
    written to a temporary file in the same folder and renamed over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for key, arr in arrays.items():
                with zf.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def latest_checkpoint(checkpoint_dir, prefix=""):
    """The newest (by modification time) `PREFIX*.npz` in `checkpoint_dir`, or None."""
    paths = glob.glob(os.path.join(glob.escape(checkpoint_dir), glob.escape(prefix) + "*.npz"))
    return max(paths, key=os.path.getmtime) if paths else None
