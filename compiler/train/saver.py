"""Checkpoints: `Saver(var_list=None, max_to_keep=5, ...)`, `save(sess, path)`,
`restore(sess, path)` (docs/checkpoints.md, docs/training.md).

By default a checkpoint is TF1's V2 format (bundle.py): `PREFIX.index` +
`PREFIX.data-00000-of-00001`, readable by TensorFlow and read from TensorFlow; with
`Saver(..., format="npz")` it is flowc's `.npz` (numpy's `savez` layout, written by
`runtime.npy`: plain numeric arrays only). Either holds one tensor per variable keyed by
its checkpoint name (the variable's name, `layer/w`, without `:0`, or the key of a
`var_list` dict; a partitioned variable's shards are one whole tensor under its full name,
saveables.py) plus the Session's run counter (the random-number state, DESIGN.md)
under the reserved key `RUN_COUNTER_KEY` as an int64 scalar. Files are written through
temporary files and renamed (files.py), so a crash never leaves a half-written checkpoint.
`save` also updates the folder's `checkpoint` state file (checkpoint_state.py), deletes
the checkpoints beyond `max_to_keep` (except those kept by
`keep_checkpoint_every_n_hours`) and writes `PREFIX.meta` (meta_graph.py) unless
`write_meta_graph=False`.

`restore` detects the format from the files present (`PREFIX.index`: V2; `PREFIX.npz` or
a path ending in `.npz`: npz) and validates everything first: every variable of the saver
must be in the file with the variable's exact dtype and shape, and the file must be
intact. Any mismatch or damage raises `CheckpointError` (a ValueError) naming the file and
each offending variable, and then no variable (and not the run counter) has been changed.
Keys in the file that the saver does not cover are ignored. A graph built the same way in
a fresh process restores the same values.

With threads training the same Session, `save` copies every variable from one moment
(between two steps' commits) and `restore` installs every value in one exclusive section
of the Session's variable store (runtime/variables.py): no run sees a mix.
"""

from __future__ import annotations

import os
import threading
import time
import zipfile

import numpy as np

from runtime import npy

from ..frontend.variables import global_variables
from . import bundle
from .checkpoint import CheckpointError, read_checkpoint
from .checkpoint_state import (
    checkpoint_exists,
    latest_checkpoint,
    remove_checkpoint,
    update_checkpoint_state,
)
from .files import STALE_TEMP_S, TEMP_PREFIX, atomic_write
from .files import sweep as _sweep
from .meta_graph import export_meta_graph, rebuild
from .saveables import assign as assign_saveable
from .saveables import saveables, value_of

RUN_COUNTER_KEY = "__flowc__/run_counter"
FORMATS = ("v2", "npz")

__all__ = ["Saver", "SaverDef", "import_meta_graph", "latest_checkpoint", "RUN_COUNTER_KEY",
           "CheckpointError", "STALE_TEMP_S", "TEMP_PREFIX", "_sweep"]


class SaverDef:
    """TF1's `tf.train.SaverDef` format versions (for `Saver(write_version=...)`)."""

    LEGACY, V1, V2 = 0, 1, 2


class Saver:
    """Saves and restores `var_list` (default: the global variables when the Saver is
    made): a list of Variables, or a dict checkpoint name -> Variable; a partitioned
    variable (its PartitionedVariable, its shards, or a dict value listing them) is one
    whole tensor under its full name (saveables.py). `format` is "v2"
    (TF1's format, the default) or "npz"; `write_version` accepts TF1's
    `SaverDef.V2` only (V1 is not written). `max_to_keep` (None or 0: keep all),
    `keep_checkpoint_every_n_hours`, `save_relative_paths` and `allow_empty` act as in
    TF1; `reshape`,
    `sharded`, `restore_sequentially`, `pad_step_number` and the rest are accepted."""

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None,
                 restore_sequentially=False, saver_def=None, builder=None,
                 defer_build=False, allow_empty=False, write_version=SaverDef.V2,
                 pad_step_number=False, save_relative_paths=False, filename=None,
                 format="v2"):  # noqa: A002 - flowc's keyword
        if var_list is None:
            var_list = global_variables()
        items = saveables(var_list)
        if not items and not allow_empty:
            raise ValueError("No variables to save")
        for key in items:
            if key == RUN_COUNTER_KEY:
                raise ValueError(f"Saver: {RUN_COUNTER_KEY!r} is a reserved key")
        if format not in FORMATS:
            raise ValueError(f"Saver(format={format!r}): expected one of {FORMATS}")
        if write_version != SaverDef.V2:
            raise ValueError(f"Saver(write_version={write_version!r}): flowc writes TF1's V2 "
                             "format (SaverDef.V2) or its own npz (format='npz'), not V1")
        self._vars = items
        self._format = format
        self._max_to_keep = max_to_keep
        self._keep_every_s = float(keep_checkpoint_every_n_hours) * 3600.0
        self._next_keep_time = time.time() + self._keep_every_s
        self._relative = bool(save_relative_paths)
        self._last = []  # [(path, time)], oldest first
        self._last_lock = threading.Lock()  # saves from several threads keep one list
        self._graph = next(iter(items.values())).graph if items else None

    # ---- the checkpoint list (max_to_keep) --------------------------------------------------
    @property
    def last_checkpoints(self):
        """The checkpoints this Saver keeps, oldest first."""
        return [p for p, _ in self._last]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time):
        self._last = [(os.fspath(p), float(t)) for p, t in last_checkpoints_with_time]

    def recover_last_checkpoints(self, checkpoint_paths):
        """Adopt `checkpoint_paths` (e.g. a state file's all_model_checkpoint_paths) that
        still exist as this Saver's list, for max_to_keep."""
        now = time.time()
        self._last = [(p, now) for p in checkpoint_paths if checkpoint_exists(p)]

    def _record(self, path):
        self._last = [(p, t) for p, t in self._last if p != path] + [(path, time.time())]
        if not self._max_to_keep:
            return
        while len(self._last) > self._max_to_keep:
            old, saved_at = self._last.pop(0)
            if saved_at >= self._next_keep_time:  # keep_checkpoint_every_n_hours keeps it
                self._next_keep_time += self._keep_every_s
                continue
            remove_checkpoint(old)

    # ---- save / restore ------------------------------------------------------------------
    def save(self, sess, save_path, global_step=None, latest_filename=None,
             meta_graph_suffix="meta", write_meta_graph=True, write_state=True,
             strip_default_attrs=False, save_debug_info=False):
        """Write the variables' values in `sess` and its run counter; returns the
        checkpoint's path: the prefix `save_path[-STEP]` (V2) or that with `.npz`. A Saver
        made with `allow_empty=True` and no variables saves nothing and returns None."""
        if not self._vars:
            return None
        self._check_graph(sess)
        prefix = _prefix(save_path, global_step, sess)
        arrays = {}
        with sess._store.lock.reading:  # copies from one moment: no concurrent step's half
            for key, var in self._vars.items():
                arrays[key] = value_of(sess._store, var, f"saving {var.name!r}")
            arrays[RUN_COUNTER_KEY] = np.asarray(sess._run_counter, dtype=np.int64)
        if self._format == "npz":
            path = prefix + ".npz"
            _write_npz(path, arrays)
        else:
            path = prefix
            bundle.write_bundle(path, arrays)
        if write_meta_graph:
            export_meta_graph(f"{prefix}.{meta_graph_suffix}", graph=sess.graph, saver=self)
        if write_state:
            with self._last_lock:
                self._record(path)
                update_checkpoint_state(os.path.dirname(os.path.abspath(path)), path,
                                        self.last_checkpoints, latest_filename,
                                        self._relative)
        return path

    def restore(self, sess, save_path):
        """Load the checkpoint at `save_path` into `sess` (see the module docstring)."""
        if not self._vars:
            return
        self._check_graph(sess)
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        save_path = os.fspath(save_path)
        wanted = {key: (var.dtype.np, tuple(var.shape), f"variable {var.name!r}")
                  for key, var in self._vars.items()}
        loaded, counter = read_any(save_path, wanted)
        with sess._store.lock.exclusive():  # no run sees a half-restored checkpoint
            for key, var in self._vars.items():
                assign_saveable(sess._store, var, loaded[key])
            if counter is not None:
                sess._run_counter = counter

    def export_meta_graph(self, filename=None, collection_list=None, as_text=False,
                          export_scope=None, clear_devices=False,
                          clear_extraneous_savers=False, strip_default_attrs=False,
                          save_debug_info=False):
        """Write the graph of this Saver's variables as a MetaGraphDef (meta_graph.py)."""
        return export_meta_graph(filename, graph=self._graph, saver=self if self._vars else None,
                                 collection_list=collection_list, as_text=as_text,
                                 clear_devices=clear_devices)

    def _check_graph(self, sess):
        for var in self._vars.values():
            if var.graph is not sess.graph:
                raise ValueError(f"Saver: variable {var.name!r} is not in the session's graph")


def import_meta_graph(meta_graph_or_file, clear_devices=False, import_scope=None, **kwargs):
    """TF1's `tf.train.import_meta_graph`: rebuild the graph of a `.meta` flowc wrote in the
    default graph (meta_graph.py) and return a Saver of its variables (with the saved
    Saver's var_list keys and max_to_keep), or None when it has no variables. A graph
    flowc cannot rebuild raises `MetaGraphError` listing what it cannot."""
    var_list, settings = rebuild(meta_graph_or_file, clear_devices, import_scope)
    return None if var_list is None else Saver(var_list, **settings)


def read_any(save_path: str, wanted: dict):
    """({key: array} for `wanted`, the run counter or None) from the checkpoint at
    `save_path`, in the format its files show (see the module docstring)."""
    if bundle.exists(save_path):
        reader = bundle.Bundle(save_path)
        loaded = reader.read(wanted)
        counter = None
        if RUN_COUNTER_KEY in reader.entries:
            c = reader.read({RUN_COUNTER_KEY: (None, (), "the run counter")})
            value = c[RUN_COUNTER_KEY]
            if value.dtype.kind not in "iu" or not 0 <= int(value) < 2**63:
                raise CheckpointError(f"cannot restore {reader.index_file!r}: "
                                      f"{RUN_COUNTER_KEY!r} is not a non-negative integer "
                                      "scalar; no variable was changed")
            counter = int(value)
        return loaded, counter
    path = save_path if os.path.lexists(save_path) or save_path.endswith(".npz") \
        else save_path + ".npz"
    if not os.path.lexists(path):
        raise CheckpointError(f"checkpoint {save_path!r} not found (no {save_path}.index, "
                              f"{save_path}.npz or {save_path})")
    return read_checkpoint(path, wanted, RUN_COUNTER_KEY)


def _prefix(save_path, global_step, sess):
    path = os.fspath(save_path)
    if path.endswith(".npz"):
        path = path[:-4]
    if global_step is not None:
        step = global_step
        if not isinstance(step, (int, np.integer)):
            step = sess.run(step)
        path = f"{path}-{int(step)}"
    return path


def _write_npz(path, arrays):
    """numpy's savez layout (one uncompressed `KEY.npy` member per array, plain arrays only),
    written through a temporary file (files.atomic_write)."""
    def write(fh):
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for key, arr in arrays.items():
                with zf.open(key + ".npy", "w", force_zip64=True) as member:
                    npy.write(member, arr)
    atomic_write(path, write)
