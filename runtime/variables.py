"""Variable storage of one worker: name -> numpy array (C-contiguous, owned).

A run reads the arrays and, after it succeeds, `commit`s the new values of the
variables it assigned, so a failing run leaves every variable as it was.

GPU programs keep variables on the device: `get_device` returns a variable's device
value (uploading the host value once), `commit_device` installs new device values. A
variable's host value is copied back only when the host asks for it (`get`, `snapshot`);
a host `set` or `commit` makes the device copy stale (it is dropped).
"""

from __future__ import annotations

import numpy as np

from .errors import UninitializedVariableError


class VariableStore:
    def __init__(self):
        self._values: dict[str, np.ndarray] = {}
        self._specs: dict[str, tuple] = {}  # name -> (numpy dtype, shape)
        self._device: dict = {}  # name -> device value (has .numpy()), when current

    def declare(self, name: str, dtype, shape):
        self._specs[name] = (np.dtype(dtype), tuple(shape))

    def __contains__(self, name):
        return name in self._values or name in self._device

    def names(self):
        return list(dict.fromkeys(list(self._values) + list(self._device)))

    def get(self, name: str, describe: str = "") -> np.ndarray:
        if name not in self._values and name in self._device:
            self._values[name] = self._device[name].numpy()
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
        self._device.pop(name, None)

    def commit(self, updates: dict):
        """Install new values produced by a run (arrays the run owns; not copied)."""
        for name, arr in updates.items():
            self._values[name] = arr
            self._device.pop(name, None)

    def get_device(self, name: str, upload, describe: str = ""):
        """The variable's device value; `upload(host array)` makes it when the device
        has no current copy."""
        value = self._device.get(name)
        if value is None:
            value = self._device[name] = upload(self.get(name, describe))
        return value

    def commit_device(self, updates: dict):
        """Install new device values produced by a GPU run (owned by the store now)."""
        for name, value in updates.items():
            self._device[name] = value
            self._values.pop(name, None)

    def snapshot(self) -> dict:
        return {name: self.get(name) for name in self.names()}
