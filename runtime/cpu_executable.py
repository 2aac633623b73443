"""`CpuExecutable`: runs one program compiled by the CPU backend (LLVM, JIT or compile
cache) through its entry point

    int32 entry(void** buffers, int64* scalars)

`BufferSpec`s (plain data) say where each buffer comes from: an input (by position), a
variable (by name, from the worker's `VariableStore`), a constant (an array the
executable holds) or a temporary (allocated per run from the evaluated shape). A run
checks the feeds (`signature.bind`), makes them C-contiguous, fills the pointer table,
calls the entry once, turns a non-zero return into an `ExecutionError` naming the node,
and only then installs the new variable values, so a failed run changes nothing. A
buffer that cannot be allocated is a `ResourceExhaustedError` naming it, its byte count
and the feeds whose dims sized it.
Outputs are fresh arrays owned by the caller (copied when they alias an input, a
variable, a constant or another output).

`run(..., trace=[])` (RunOptions' FULL_TRACE) calls the timed entry instead, which
times each call slot (compiler/backends/llvm/emit.py: its first start and its summed
durations over loop iterations), and appends one `(node name, kernel name, start ns,
start + total ns)` record per slot that ran to `trace`, in start order.

It is a `runtime.executable.Executable` (device "cpu"). `fast_run(feeds)` returns a
`FastRun` (runtime/fastrun.py): a run specialized to the exact dtypes and shapes of
`feeds`, for callers that call one program many times (fc.jit's dispatch path).
"""

from __future__ import annotations

import ctypes
import dataclasses

import numpy as np

from . import forksafe
from .errors import ExecutionError, resource_exhausted
from .executable import ALIGN, Executable, aligned_empty, prepare_feed
from .fastrun import FastRun
from .signature import Signature, bind, check_size, checked_shape, eval_dim
from .variables import access_of

ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p),
                              ctypes.POINTER(ctypes.c_int64))
TIMED_ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p),
                                    ctypes.POINTER(ctypes.c_int64),
                                    ctypes.POINTER(ctypes.c_int64))


class CpuExecutable(Executable):
    device = "cpu"

    def __init__(self, signature: Signature, buffers, outputs, updates, errors, entry_address,
                 keepalive=None, texts=None, lifetimes=None, timed=None):
        self.signature = signature
        # constants on ALIGN-byte boundaries, held once (the aligned copy replaces one
        # that was not)
        self.buffers = [dataclasses.replace(b, source=_aligned(b.source))
                        if b.kind == "const" else b for b in buffers]
        self.outputs = list(outputs)        # buffer index per output
        self.updates = dict(updates)        # variable name -> buffer index
        self.variable_access = access_of(self.buffers, self.updates)
        self.errors = {int(k): v for k, v in errors.items()}
        self._entry = ENTRY_TYPE(entry_address)
        # (timed entry address, [node name, kernel name] per call), or None: no timings
        self._timed_entry = TIMED_ENTRY_TYPE(timed[0]) if timed else None
        self.call_labels = [tuple(c) for c in timed[1]] if timed else []
        self.entry_address = entry_address
        self._keepalive = keepalive
        self.texts = texts or {}
        self._ptrs = (ctypes.c_void_p * max(1, len(self.buffers)))()
        self._scalars = (ctypes.c_int64 * (len(signature.symbols) + 1))()
        self._shape_cache: dict = {}
        self._plan = [(b.kind, b.source, np.dtype(b.dtype), b.desc) for b in self.buffers]
        self._consts = {i: b.source for i, b in enumerate(self.buffers)
                        if b.kind == "const"}
        owned = [i for i, b in enumerate(self.buffers) if b.kind == "temp"]
        counts = {}
        for i in self.outputs + list(self.updates.values()):
            counts[i] = counts.get(i, 0) + 1
        self._copy_out = [not (i in owned and counts[i] == 1) for i in self.outputs]
        # temporaries that never leave a run are kept and reused by the next run; a run
        # that overlaps another (threads) uses its own pointer tables and temporaries
        self._internal = frozenset(owned) - set(counts)
        self.lifetimes = {int(k): tuple(v) for k, v in (lifetimes or {}).items()}
        self._arena_cache: dict = {}
        self._lock = forksafe.lock()  # the shared tables and arena (a fork drops it)

    def _shapes(self, env):
        key = tuple(env.get(s) for s in self.signature.symbols)
        shapes = self._shape_cache.get(key)
        if shapes is None:
            shapes = [tuple(eval_dim(d, env) for d in b.shape) for b in self.buffers]
            if any(x < 0 for s in shapes for x in s):
                raise ExecutionError(f"the fed shapes give a negative extent: {shapes}")
            for b, (_, _, dtype, desc) in zip(self.buffers, self._plan):
                checked_shape(b.shape, dtype.itemsize, desc, env)  # int64: no wrap anywhere
            if len(self._shape_cache) > 256:
                self._shape_cache.clear()
            self._shape_cache[key] = shapes
        return shapes

    def run(self, feeds, store, counter=0, out=None, trace=None):
        """Outputs in order. `out`: optional list (one entry per output, None to skip) of
        arrays to write the outputs into; they must match the output's dtype and shape.
        `trace`: a list that receives per-kernel timing records (module docstring)."""
        feeds = [prepare_feed(f) for f in feeds]
        env = bind(self.signature, feeds)
        shapes = self._shapes(env)
        outs = self._check_out(out, shapes, feeds) if out is not None else None
        if not self._lock.acquire(blocking=False):
            return self._run(feeds, store, counter, env, shapes, outs, None,
                             (ctypes.c_void_p * len(self._ptrs))(),
                             (ctypes.c_int64 * len(self._scalars))(), trace)
        try:
            return self._run(feeds, store, counter, env, shapes, outs, self._arena_views,
                             self._ptrs, self._scalars, trace)
        finally:
            self._lock.release()

    def fast_run(self, feeds):
        """A `FastRun` for feeds of exactly these dtypes and shapes (checked here in full
        by `bind`, which raises `FeedError`), or None when this program cannot take the
        fast path (it reads or writes variables, or an output needs a copy)."""
        feeds = [prepare_feed(f) for f in feeds]
        env = bind(self.signature, feeds)
        return FastRun.create(self, feeds, env, self._shapes(env))

    def _check_out(self, out, shapes, feeds):
        if len(out) != len(self.outputs):
            raise ValueError(f"out= has {len(out)} entries for {len(self.outputs)} outputs")
        direct = {}
        for k, (arr, i) in enumerate(zip(out, self.outputs)):
            if arr is None:
                continue
            spec = self.signature.outputs[k]
            if not isinstance(arr, np.ndarray) or arr.dtype != np.dtype(spec.dtype) or \
                    arr.shape != shapes[i]:
                raise ValueError(f"out[{k}] for {spec.name!r} must be a {spec.dtype} array "
                                 f"of shape {list(shapes[i])}, got "
                                 f"{getattr(arr, 'dtype', type(arr).__name__)}"
                                 f"{list(getattr(arr, 'shape', []))}")
            if not arr.flags.writeable:
                raise ValueError(f"out[{k}] for {spec.name!r} is read-only")
            usable = (arr.flags.c_contiguous and arr.flags.aligned and not self._copy_out[k]
                      and not any(np.shares_memory(arr, f) for f in feeds))
            direct[k] = (arr, usable)
        return direct

    def _arena_views(self, shapes):
        """Views of one per-instance arena for the temporaries that never leave a run,
        laid out by liveness (buffers whose lifetimes do not overlap share memory)."""
        key = tuple(shapes)
        views = self._arena_cache.get(key)
        if views is None:
            sizes = {i: max(1, int(np.prod(shapes[i], dtype=np.int64))) *
                     self._plan[i][2].itemsize for i in self._internal}
            offsets, total = plan_arena(sizes, self.lifetimes)
            check_size((total + ALIGN,), 1, "the temporaries' arena", {})
            arena = np.empty(total + ALIGN, np.uint8)
            base = (-arena.__array_interface__["data"][0]) % ALIGN
            views = {i: arena[base + off: base + off + sizes[i]].view(self._plan[i][2])
                     [:int(np.prod(shapes[i], dtype=np.int64))].reshape(shapes[i])
                     for i, off in offsets.items()}
            self._arena_cache.clear()  # one layout at a time: the arena is per instance
            self._arena_cache[key] = views
        return views

    def _run(self, feeds, store, counter, env, shapes, outs, arena, ptrs, scalars,
             trace=None):
        try:
            scratch = arena(shapes) if arena is not None else {}
        except MemoryError:
            raise self._exhausted(None, shapes, feeds) from None
        direct = {self.outputs[k]: a for k, (a, ok) in (outs or {}).items() if ok}
        arrays = []
        for i, (kind, source, dtype, desc) in enumerate(self._plan):
            if kind == "temp":
                arr = scratch.get(i)
                if arr is None:
                    arr = direct.get(i)
                    if arr is None:
                        try:
                            arr = aligned_empty(shapes[i], dtype)
                        except MemoryError:
                            raise self._exhausted(i, shapes, feeds) from None
            elif kind == "input":
                arr = feeds[source]
            elif kind == "variable":
                arr = store.get(source, desc)
            else:
                arr = self._consts[i]
            arrays.append(arr)
            ptrs[i] = arr.__array_interface__["data"][0]
        for i, s in enumerate(self.signature.symbols):
            scalars[i] = env[s]
        scalars[len(self.signature.symbols)] = counter
        if trace is not None and self._timed_entry is not None:
            code = self._timed_call(ptrs, scalars, trace)
        else:
            code = self._entry(ptrs, scalars)
        if code != 0:
            raise ExecutionError(self.errors.get(code, f"generated code failed with code {code}"))
        results = []
        for k, (i, copy) in enumerate(zip(self.outputs, self._copy_out)):
            if outs and k in outs:
                target, used = outs[k]
                if not used:
                    np.copyto(target, arrays[i])
                results.append(target)
            else:
                results.append(arrays[i].copy() if copy else arrays[i])
        store.commit({name: arrays[i] for name, i in self.updates.items()})
        return results


    def _timed_call(self, ptrs, scalars, trace):
        times = (ctypes.c_int64 * (2 * len(self.call_labels)))()
        code = self._timed_entry(ptrs, scalars, times)
        for k, (node, kernel) in enumerate(self.call_labels):
            start, total = times[2 * k], times[2 * k + 1]
            if start:  # 0: the slot never ran (a branch not taken, a fault before it)
                trace.append((node, kernel, start, start + total))
        trace.sort(key=lambda r: r[2])
        return code

    def _exhausted(self, i, shapes, feeds):
        """The ResourceExhaustedError for buffer `i` (None: the temporaries' arena, named
        by its largest buffer)."""
        if i is None:
            i = max(self._internal, key=lambda j: int(np.prod(shapes[j], dtype=np.int64))
                    * self._plan[j][2].itemsize)
        b = self.buffers[i]
        return resource_exhausted(b.desc or b.name, shapes[i], self._plan[i][2],
                                  self.signature, feeds, b.shape)


def plan_arena(sizes: dict, lifetimes: dict):
    """Offsets (ALIGN-aligned) for buffers {index: nbytes} with lifetimes {index: (first,
    last)} so that buffers alive at the same time never overlap; returns (offsets,
    total bytes). Greedy: largest first, lowest free offset. The placed buffers are numpy
    arrays, so each placement is a few array operations (thousands of temporaries in a
    large training graph: a Python scan of every placed buffer per placement took
    seconds)."""
    order = sorted(sizes, key=lambda j: (-sizes[j], j))
    n = len(order)
    starts, ends = np.zeros(n, np.int64), np.zeros(n, np.int64)
    firsts, lasts = np.zeros(n, np.int64), np.zeros(n, np.int64)
    offsets = {}
    for k, i in enumerate(order):
        first, last = lifetimes.get(i, (0, 1 << 30))
        size = -(-sizes[i] // ALIGN) * ALIGN
        live = ~((lasts[:k] < first) | (last < firsts[:k]))
        o, e = starts[:k][live], ends[:k][live]
        by = np.lexsort((e, o))        # busy intervals by (offset, end)
        o, e = o[by], e[by]
        # scanning them in order, the candidate offset before interval j is the largest
        # end among the intervals before it (or 0); the first j where the buffer fits
        # below o[j] gives the offset, else it goes after all of them
        before = np.maximum.accumulate(np.concatenate(([0], e)))
        fits = np.nonzero(before[:-1] + size <= o)[0]
        offset = int(before[fits[0]] if len(fits) else before[-1])
        offsets[i] = offset
        starts[k], ends[k], firsts[k], lasts[k] = offset, offset + size, first, last
    return offsets, int(ends.max()) if n else 0


def _aligned(source) -> np.ndarray:
    """A constant as C-contiguous data on an ALIGN-byte boundary (copied once when it is
    not): vector loads of a big constant (a filter packed into panels at compile time)
    would otherwise straddle cache lines."""
    arr = np.asarray(source, order="C")
    if arr.nbytes < 4096 or arr.__array_interface__["data"][0] % ALIGN == 0:
        return arr
    out = aligned_empty(arr.shape, arr.dtype)
    out[...] = arr
    return out
