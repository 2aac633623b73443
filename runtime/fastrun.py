"""`FastRun`: one executable's run specialized to exact feed dtypes, shapes and strides.

Made by `CpuExecutable.fast_run(feeds)` (runtime/cpu_executable.py), which checks
`feeds` in full (`signature.bind`). The boundary check is a function of the feeds'
dtypes and shapes only, so a later call with arrays of exactly those dtypes and shapes
needs no new `bind`: `FastRun(arrays, counter)` compares each array's type, dtype, shape
and strides with the ones it was made for and its address with the dtype's alignment,
and returns None at the first difference (the caller then takes the executable's `run`,
the full path). Everything else is precomputed: buffer shapes, the arena views of the
temporaries, constants' addresses, the pointer table and a ctypes entry taking plain
addresses. A call allocates only the outputs.

Only programs without variables whose outputs are fresh temporaries qualify: no
variable store is consulted and no output is ever copied. A call that finds the
executable busy (another thread inside it) returns None as well. This module never
imports the compiler.
"""

from __future__ import annotations

import ctypes

import numpy as np

from .errors import ExecutionError
from .executable import aligned_empty

RAW_ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)
_SMALL_BYTES = 4096  # below this, outputs use numpy's own allocation (runtime/executable.py)


def _probe_data_offset():
    """Offset of the data pointer inside a numpy array object, or None.

    In CPython `id(a)` is the object's address, and numpy's `PyArrayObject` keeps its
    `data` pointer right after the object header (part of numpy's stable ABI). Reading
    it with ctypes costs a fraction of `a.__array_interface__`. The offset is verified
    here on arrays of several kinds; if none fits (another interpreter, another layout)
    the fast path is switched off."""
    probes = [np.empty(3), np.arange(10, dtype=np.int32)[3:], np.zeros((2, 3)).T,
              np.zeros((), np.float32), np.empty(0)]
    for offset in (16, 24, 32):
        if all(ctypes.c_void_p.from_address(id(p) + offset).value ==
               p.__array_interface__["data"][0] for p in probes):
            return offset
    return None


DATA_OFFSET = _probe_data_offset()


def data_address(arr: np.ndarray) -> int:
    """The address of `arr`'s first element."""
    if DATA_OFFSET is None:
        return arr.__array_interface__["data"][0]
    return ctypes.c_void_p.from_address(id(arr) + DATA_OFFSET).value or 0


def _c_strides(shape, dtype) -> tuple:
    """The strides numpy gives a new C-contiguous array of `shape`, without allocating
    one (an output too large to allocate is the run's error to report, not this one's)."""
    if 0 in shape:
        return np.empty(shape, dtype).strides   # numpy's own rule; allocates nothing
    strides, step = [], dtype.itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


class FastRun:
    """See the module docstring. `n_inputs`, `output_shapes` are public."""

    @staticmethod
    def create(exe, feeds, env, shapes):
        """A FastRun for `exe` and checked, prepared `feeds` (bound to `env`, buffer
        `shapes`); None when the program does not qualify."""
        kinds = {b.kind for b in exe.buffers}
        if DATA_OFFSET is None or "variable" in kinds or exe.updates or any(exe._copy_out):
            return None
        return FastRun(exe, feeds, env, shapes)

    def __init__(self, exe, feeds, env, shapes):
        self._lock = exe._lock
        self._errors = exe.errors
        self._entry = RAW_ENTRY_TYPE(exe.entry_address)
        self._ptrs = (ctypes.c_void_p * max(1, len(exe.buffers)))()
        self._scalars = (ctypes.c_int64 * (len(exe.signature.symbols) + 1))()
        self._ptrs_address = ctypes.addressof(self._ptrs)
        self._scalars_address = ctypes.addressof(self._scalars)
        self._counter_slot = len(exe.signature.symbols)
        for k, s in enumerate(exe.signature.symbols):
            self._scalars[k] = env[s]
        # the arena and the code (a cached entry's .so) stay alive with this run
        self._keep = [exe._arena_views(shapes), exe._keepalive]
        slots = [None] * len(feeds)
        for i, b in enumerate(exe.buffers):
            if b.kind == "input":
                slots[b.source] = i
            elif b.kind == "const":
                self._ptrs[i] = data_address(exe._consts[i])
            elif i in exe._internal:
                self._ptrs[i] = data_address(self._keep[0][i])
        self._inputs = [(slot, f.dtype, f.shape, f.strides, f.dtype.alignment)
                        for slot, f in zip(slots, feeds)]
        self._input_sizes = [(slot, f.nbytes) for slot, f in zip(slots, feeds)]
        self.n_inputs = len(feeds)
        self._outputs = []
        for i in exe.outputs:
            shape, dtype = shapes[i], exe._plan[i][2]
            nbytes = _nbytes(shape, dtype)
            self._outputs.append((i, shape, dtype, nbytes >= _SMALL_BYTES,
                                  _c_strides(shape, dtype), nbytes))
        self.output_shapes = [o[1] for o in self._outputs]

    def __call__(self, arrays, counter=0, out=None):
        """The outputs, or None when `arrays` differ from the feeds this run was made for
        or another thread is running the executable. `out`: None, or one entry per
        output, an array to write it into (None: a fresh array); None is returned as
        well when an entry is not a writeable C-contiguous aligned array of the output's
        dtype and shape, or overlaps an input or another entry (the full path copies)."""
        if len(arrays) != self.n_inputs or not self._lock.acquire(False):
            return None
        try:
            ptrs, read, offset = self._ptrs, ctypes.c_void_p.from_address, DATA_OFFSET
            for (slot, dtype, shape, strides, align), arr in zip(self._inputs, arrays):
                if type(arr) is not np.ndarray or arr.dtype is not dtype or \
                        arr.shape != shape or arr.strides != strides:
                    return None
                address = read(id(arr) + offset).value or 0
                if address % align:
                    return None
                ptrs[slot] = address
            if out is None:
                outs = []
                for slot, shape, dtype, large, _, _ in self._outputs:
                    try:
                        arr = _aligned_empty(shape, dtype) if large else np.empty(shape, dtype)
                    except MemoryError:
                        return None   # the full path reports it (ResourceExhaustedError)
                    ptrs[slot] = read(id(arr) + offset).value
                    outs.append(arr)
            else:
                outs = self._given_outputs(out)
                if outs is None:
                    return None
            self._scalars[self._counter_slot] = counter
            code = self._entry(self._ptrs_address, self._scalars_address)
        finally:
            self._lock.release()
        if code:
            raise ExecutionError(self._errors.get(code, f"generated code failed with code {code}"))
        return outs

    def _given_outputs(self, out):
        """Place the caller's output arrays in the pointer table (inputs placed first);
        None when one cannot be written directly."""
        if len(out) != len(self._outputs):
            return None
        spans = [(self._ptrs[slot] or 0, nbytes) for slot, nbytes in self._input_sizes]
        outs = []
        for (slot, shape, dtype, large, strides, nbytes), arr in zip(self._outputs, out):
            if arr is None:
                arr = _aligned_empty(shape, dtype) if large else np.empty(shape, dtype)
            elif type(arr) is not np.ndarray or arr.dtype is not dtype or \
                    arr.shape != shape or arr.strides != strides or not arr.flags.writeable:
                return None
            address = ctypes.c_void_p.from_address(id(arr) + DATA_OFFSET).value or 0
            if address % dtype.alignment:
                return None
            end = address + nbytes
            for start, size in spans:
                if start < end and address < start + size:
                    return None
            spans.append((address, nbytes))
            self._ptrs[slot] = address
            outs.append(arr)
        return outs


def _nbytes(shape, dtype) -> int:
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def _aligned_empty(shape, dtype):
    return aligned_empty(shape, dtype)
