"""`SharedLibrary(path)`: a shared object loaded with ctypes that is unloaded
(`dlclose`) when the object is closed or collected, so a process that loads and drops
many compiled programs (the compile cache's `code.so`, one per entry) keeps its mapped
libraries and threads constant.

The generated thread pool of a flowc `.so` (compiler/backends/llvm/pool.py) is stopped
by the module destructor the `.so` registers, which the dynamic loader runs when the
last handle to the file is closed: `dlopen` counts references, so two loads of one path
share one copy of the code and of its pool, and the pool stops only with the last of
them (an explicit stop from the first one to go could stop workers the other is using).
Callers must hold the object while they use any address from it.
"""

from __future__ import annotations

import _ctypes
import ctypes


class SharedLibrary:
    def __init__(self, path: str):
        self.path = path
        self._lib = ctypes.CDLL(path)
        self._handle = self._lib._handle

    def address(self, name: str) -> int:
        """The address of the exported symbol `name` (KeyError when it has none)."""
        if self._lib is None:
            raise ValueError(f"{self.path} was unloaded")
        try:
            fn = getattr(self._lib, name)
        except AttributeError:
            raise KeyError(f"{self.path} exports no symbol {name!r}") from None
        return ctypes.cast(fn, ctypes.c_void_p).value

    def close(self):
        """Unload the library (its destructors run when this was the last handle).
        Idempotent; also run when the object is collected."""
        handle, self._handle, self._lib = getattr(self, "_handle", None), None, None
        if handle:
            try:
                _ctypes.dlclose(handle)
            except Exception:  # noqa: BLE001  (interpreter shutdown: nothing left to do)
                pass

    def __del__(self):
        self.close()
