"""Reading checkpoints without a graph: `NewCheckpointReader(prefix)`,
`list_variables(ckpt_dir_or_file)`, `load_variable(ckpt_dir_or_file, name)` (TF1's
`tf.train` names).

Both formats are read (V2 through bundle.py, `.npz` through checkpoint.py), with the same
validation as `Saver.restore`: a damaged file raises `CheckpointError` naming the file and
the tensor. The run counter (saver.RUN_COUNTER_KEY) is flowc's, not a variable, and is not
listed.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from runtime import npy

from ..ir import dtypes as _dtypes
from . import bundle
from .checkpoint import CheckpointError, read_checkpoint
from .checkpoint_state import latest_checkpoint
from .saver import RUN_COUNTER_KEY

__all__ = ["CheckpointReader", "NewCheckpointReader", "list_variables", "load_variable"]


class CheckpointReader:
    """TF1's `NewCheckpointReader` result: `get_tensor(name)`, `has_tensor(name)`,
    `get_variable_to_shape_map()`, `get_variable_to_dtype_map()`, `debug_string()`."""

    def __init__(self, prefix):
        prefix = os.fspath(prefix)
        self._prefix = prefix
        self._bundle = None
        if bundle.exists(prefix):
            self._bundle = bundle.Bundle(prefix)
            self._meta = {k: (e.shape, e.dtype_name) for k, e in self._bundle.entries.items()
                          if k != RUN_COUNTER_KEY}
            return
        path = prefix if prefix.endswith(".npz") else prefix + ".npz"
        if not os.path.isfile(path):
            raise CheckpointError(f"Unsuccessful TensorSliceReader constructor: no checkpoint "
                                  f"at {prefix!r} (no {prefix}.index or {path})")
        self._npz = path
        self._meta = {}
        try:
            with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
                for info in zf.infolist():
                    key = info.filename[:-4]
                    if not info.filename.endswith(".npy") or key == RUN_COUNTER_KEY:
                        continue
                    with zf.open(info) as member:
                        shape, _, dtype = npy.read_header(member)
                    self._meta[key] = (tuple(shape), dtype.name)
        except Exception as e:  # noqa: BLE001 - any failure to parse is a bad file
            raise CheckpointError(f"cannot read the checkpoint {path!r}: it is damaged "
                                  f"({type(e).__name__}: {e})") from None

    def has_tensor(self, name) -> bool:
        return name in self._meta

    def get_variable_to_shape_map(self) -> dict:
        return {k: list(shape) for k, (shape, _) in self._meta.items()}

    def get_variable_to_dtype_map(self) -> dict:
        out = {}
        for k, (_, name) in self._meta.items():
            try:
                out[k] = _dtypes.as_dtype(name)
            except (TypeError, ValueError, KeyError):
                out[k] = name
        return out

    def get_tensor(self, name):
        if name not in self._meta:
            raise CheckpointError(f"Key {name} not found in checkpoint {self._prefix!r}")
        label = f"tensor {name!r}"
        if self._bundle is not None:
            return self._bundle.read({name: (None, None, label)})[name]
        shape, dtype = self._meta[name]
        return read_checkpoint(self._npz, {name: (np.dtype(dtype), shape, label)},
                               RUN_COUNTER_KEY)[0][name]

    def debug_string(self) -> bytes:
        return "".join(f"{k} ({dtype}) {list(shape)}\n"
                       for k, (shape, dtype) in sorted(self._meta.items())).encode()


def NewCheckpointReader(filepattern):  # noqa: N802 - TF1's name
    return CheckpointReader(filepattern)


def _resolve(ckpt_dir_or_file):
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        found = latest_checkpoint(path)
        if found is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given "
                             f"directory {path}")
        return found
    return path


def list_variables(ckpt_dir_or_file) -> list:
    """[(name, shape as a list)] of the checkpoint's tensors, sorted by name."""
    reader = CheckpointReader(_resolve(ckpt_dir_or_file))
    return sorted(reader.get_variable_to_shape_map().items())


def load_variable(ckpt_dir_or_file, name):
    """The value of tensor `name` (a trailing ':0' is dropped, as TF1)."""
    if name.endswith(":0"):
        name = name[:-2]
    return CheckpointReader(_resolve(ckpt_dir_or_file)).get_tensor(name)
