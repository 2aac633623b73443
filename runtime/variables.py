"""Variable storage of one worker: name -> numpy array (C-contiguous, owned).

A run reads the arrays and, after it succeeds, `commit`s the new values of the
variables it assigned, so a failing run leaves every variable as it was.
"""

from __future__ import annotations

import numpy as np

from .errors import UninitializedVariableError


class VariableStore:
    def __init__(self):
        self._values: dict[str, np.ndarray] = {}
        self._specs: dict[str, tuple] = {}  # name -> (numpy dtype, shape)

    def declare(self, name: str, dtype, shape):
        self._specs[name] = (np.dtype(dtype), tuple(shape))

    def __contains__(self, name):
        return name in self._values

    def names(self):
        return list(self._values)

    def get(self, name: str, describe: str = "") -> np.ndarray:
        try:
            return self._values[name]
        except KeyError:
            where = f" ({describe})" if describe else ""
            raise UninitializedVariableError(
                f"attempting to use uninitialized variable {name!r}{where}; run "
                "fc.global_variables_initializer() (or the variable's initializer) "
                "first") from None

    def set(self, name: str, value):
        spec = self._specs.get(name)
        arr = np.asarray(value)
        if spec is not None:
            dtype, shape = spec
            if arr.dtype != dtype or arr.shape != shape:
                try:
                    arr = np.asarray(value, dtype=dtype)
                except (TypeError, ValueError):
                    arr = None
                if arr is None or arr.shape != shape:
                    raise ValueError(f"variable {name!r} is {dtype}{list(shape)}; cannot "
                                     f"set it to a value of shape {np.shape(value)}")
        self._values[name] = np.array(arr, order="C", copy=True)

    def commit(self, updates: dict):
        """Install new values produced by a run (arrays the run owns; not copied)."""
        for name, arr in updates.items():
            self._values[name] = arr

    def snapshot(self) -> dict:
        return dict(self._values)
