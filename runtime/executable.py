"""`Executable`: the one interface of every program the runtime runs in process, whatever
compiled it: `CpuExecutable` (runtime/cpu_executable.py: LLVM code through its entry
point), `CudaExecutable` (runtime/cuda_executable.py: a cubin and a launch schedule) and
the compiler's numpy reference (`compiler.interpret.InterpretedProgram`).

    device                      "cpu": feeds are host (numpy) arrays; "gpu": feeds may be
                                GPU arrays, used in place
    signature                   the feeds and outputs it takes (runtime/signature.py)
    texts                       {stage name: text} of its compile, for dumps ({} if none)
    run(feeds, store, counter, out=None) -> outputs
                                one run against a `VariableStore`; `counter` keys the
                                random numbers; `out`: arrays to write the outputs into
    fast_run(feeds)             a `FastRun` specialized to these feeds, or None when
                                the program has no fast path
    variable_access             what a run does to the store's variables: None, READ,
                                WRITE or WRITE_IN_PLACE (runtime/variables.py); a
                                caller sharing the store between threads takes
                                `store.access(exe)` around `run`

Also the plain data every executable shares: `BufferSpec` (where a buffer comes from),
`prepare_feed` and `aligned_empty`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class Executable:
    """The interface above; subclasses set `device`, `signature` and `texts`."""
    device = "cpu"
    texts: dict = {}
    variable_access = None

    def run(self, feeds, store, counter=0, out=None) -> list:
        raise NotImplementedError

    def fast_run(self, feeds):
        """None: no fast path (callers take `run`)."""
        return None


def into_out(results, out) -> list:
    """`results` with each one whose `out` entry is an array copied into that array
    (an executable's `out=`: arrays, or None each); `out=None`: `results`."""
    if out is None:
        return results
    done = []
    for r, o in zip(results, out):
        if o is not None:
            np.copyto(o, r)
        done.append(r if o is None else o)
    return done


@dataclass
class BufferSpec:
    name: str
    dtype: str          # numpy dtype name
    shape: list         # dims in JSON form
    kind: str           # input | variable | const | temp
    source: object = None  # input index | variable name | np.ndarray (const)
    desc: str = ""         # what the buffer holds, for error messages


def prepare_feed(value) -> np.ndarray:
    """C-contiguous and aligned (copying only when needed); keeps 0-d arrays 0-d."""
    arr = np.asarray(value, order="C")
    return arr if arr.flags.aligned else arr.copy()


ALIGN = 64  # bytes: a cache line, and AVX-512's natural alignment


def aligned_empty(shape, dtype) -> np.ndarray:
    """np.empty whose data starts on an ALIGN-byte boundary (small arrays: numpy's own
    16-byte alignment, which is all their loops can use)."""
    n = math.prod(shape)
    if n * dtype.itemsize < 4096:
        return np.empty(shape, dtype)
    raw = np.empty(n * dtype.itemsize + ALIGN, np.uint8)
    start = (-raw.__array_interface__["data"][0]) % ALIGN
    return raw[start:start + n * dtype.itemsize].view(dtype).reshape(shape)
