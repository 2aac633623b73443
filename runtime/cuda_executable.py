"""`CudaExecutable`: runs a program compiled by the CUDA backend: a cubin plus a host-side
launch schedule (plain data). It is a `runtime.executable.Executable` with device "gpu"
(feeds may be GPU arrays), so a Session uses it like the CPU's.

The schedule is a list of launches, one per kernel call:
    {"kernel", "node" (the user op it computes; optional), "mapping" (grid | rows | tiled |
     mma | block | serial), "extent", "work" (index
     expressions over the kernel's symbols, JSON: int | "s0" | [op, a, b]), "threads",
     "buffers" (buffer indices), "symbols" (per kernel symbol: a program symbol name, or
     an int constant), "counter", "can_fail", "ilp" (grid: elements per thread and
     trip)}
and, for control flow, structured items around launches:
    {"while": {"cond": [items], "pred": buffer index, "body": [items]}}  run cond, read
        the bool scalar buffer `pred` back; while true run body and test again;
    {"if": {"pred": buffer index, "then": [items], "else": [items]}}.
Reading a predicate waits for the GPU; when a kernel can fail, the error slot is read
with it, so a fault inside a loop stops the loop (as the CPU's entry point returns).
A run checks the feeds (`signature.bind`), copies numpy feeds to the device (GPU arrays
with `__cuda_array_interface__` or DLPack are used in place), launches every kernel in
order on the default stream, reads the error slot back when a kernel can fail (an
`ExecutionError` with the same text as the CPU runtime's), copies the outputs to numpy
(or returns `DeviceArray`s with `device_outputs=True`; `out=` may name numpy arrays or
DeviceArrays, which outputs are computed into) and only then installs the new variable
values. A run without a failing kernel and with device outputs does not wait for the
GPU (launches are asynchronous; the next host copy waits). Temporaries that never leave
a run are kept for the next run of the same shapes. Variables stay on the device between
runs (`VariableStore`'s device side); the host copy is made only when the host asks.
Runs of one executable take turns (a lock, also around the first run's loading): they
share its module, constants, kept temporaries and error slot. Every launch and copy goes
to the legacy default stream, so work issued by runs in different threads (of one or of
several executables) runs in issue order; a device output handed back before the GPU
finished is ordered before any later use through that stream (its array interface names
it). The lock covers enqueue and read-back of one run, so another thread's run cannot
reset the error slot or overwrite a kept temporary between them. A Session's writers and
readers coordinate through the store (runtime/variables.py): an in-place assign on the
device excludes readers for the whole run, as on the CPU.

`run(..., trace=[])` (RunOptions' FULL_TRACE) waits for the GPU after each launch and
appends `(node name, kernel name, start ns, end ns)` per launch (every iteration of a
loop), host-timed (the wait included): each launch's "node" is the user op its kernel
computes.

Nothing touches the GPU before the first run: building and loading this object works on
a machine without one; running raises `NoGpuError`.
"""

from __future__ import annotations

import ctypes
import time

import numpy as np

from . import cuda_driver as C
from . import forksafe
from .errors import ExecutionError, FeedError
from .executable import Executable
from .loop_counter import fold_iteration
from .signature import Signature, bind, checked_shape
from .variables import access_of

_OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
        "idiv": lambda a, b: a // b if b else 0, "imod": lambda a, b: a % b if b else 0,
        "imin": min, "imax": max}


def eval_index(expr, symbols: dict) -> int:
    """Value of a launch-time index expression (see the module docstring)."""
    if isinstance(expr, int):
        return expr
    if isinstance(expr, str):
        return int(symbols[expr])
    op, a, b = expr
    return _OPS[op](eval_index(a, symbols), eval_index(b, symbols))


class _Shape:
    """What `signature.bind` needs of a feed: dtype, shape, ndim."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)


def launches(schedule) -> list:
    """Every launch of a schedule, loop and branch bodies included."""
    out = []
    for item in schedule:
        if "while" in item:
            out += launches(item["while"]["cond"]) + launches(item["while"]["body"])
        elif "if" in item:
            out += launches(item["if"]["then"]) + launches(item["if"]["else"])
        else:
            out.append(item)
    return out


def launch_config(launch: dict, symbols: dict, sm_count: int):
    """(blocks, threads) of one launch, or None when it has no work."""
    mapping = launch["mapping"]
    if mapping == "serial":
        return 1, 1
    if mapping == "block":
        return 1, launch["threads"]
    extent = eval_index(launch["extent"], symbols)
    if extent <= 0:
        return None
    if mapping == "grid":
        threads = launch["threads"]
        per_block = threads * launch.get("ilp", 1)
        return max(1, min(-(-extent // per_block), sm_count * 32)), threads
    if mapping in ("tiled", "mma"):  # a block per output tile; exactly `threads` threads
        return max(1, min(extent, sm_count * 32)), launch["threads"]
    # rows: one block per row; enough threads for the row's work, a multiple of 32
    work = eval_index(launch["work"], symbols) if launch["work"] is not None else extent
    per_row = max(1, work // extent)
    threads = 32
    while threads < launch["threads"] and threads * 4 < per_row:
        threads *= 2
    return max(1, min(extent, sm_count * 32)), threads


class CudaExecutable(Executable):
    device = "gpu"

    def __init__(self, signature: Signature, buffers, outputs, updates, errors, cubin: bytes,
                 schedule: list, texts=None, arch="sm_90"):
        self.signature = signature
        self.buffers = list(buffers)         # runtime.executable.BufferSpec
        self.outputs = list(outputs)
        self.updates = dict(updates)
        self.variable_access = access_of(self.buffers, self.updates)
        self.errors = {int(k): v for k, v in errors.items()}
        self.cubin = bytes(cubin)
        self.schedule = list(schedule)
        self.texts = texts or {}
        self.arch = arch
        self.lifetimes = {}
        self._module = None
        self._functions = {}
        self._consts = {}
        self._err = None
        self._launches = launches(self.schedule)
        self._can_fail = any(c["can_fail"] for c in self._launches)
        leaving = set(self.outputs) | set(self.updates.values())
        # temporaries that never leave a run are kept for the next run of the same shapes
        self._internal = frozenset(i for i, b in enumerate(self.buffers)
                                   if b.kind == "temp" and i not in leaving)
        self._scratch: dict = {}
        self._lock = forksafe.lock()

    # ---- loading (first run) ---------------------------------------------------------
    def _load(self):
        dev = C.device()
        if self._module is None:
            if not C.arch_runs_on(self.arch, dev.arch):   # cuda_driver.arch_runs_on
                raise C.CudaError(f"this program was compiled for {self.arch}, which does "
                                  f"not run on the GPU ({dev.name}, {dev.arch}): compile "
                                  f"with CompileOptions(cuda_arch={dev.arch!r})")
            self._module = C.Module(self.cubin)
            self._functions = {c["kernel"]: self._module.function(c["kernel"])
                               for c in self._launches}
            self._consts = {i: C.DeviceArray.from_numpy(np.asarray(b.source, b.dtype))
                            for i, b in enumerate(self.buffers) if b.kind == "const"}
            self._err = C.DeviceBuffer(4)
        return dev

    def fast_run(self, feeds):
        """None: GPU programs take the ordinary `run` path (Executable's fast path is a
        CPU-only specialization)."""
        return None

    # ---- run -------------------------------------------------------------------------
    def run(self, feeds, store, counter=0, out=None, device_outputs=False, trace=None):
        # one run at a time per executable: the module, the kept temporaries and the
        # error slot are shared (the launches go to one stream in order anyway)
        with self._lock:
            return self._run(feeds, store, counter, out, device_outputs, trace)

    def _run(self, feeds, store, counter, out, device_outputs, trace=None):
        dev = self._load()
        views = [self._feed(f, i) for i, f in enumerate(feeds)]
        env = bind(self.signature, [_Shape(v.shape, v.dtype) for v in views])
        shapes = [checked_shape(b.shape, np.dtype(b.dtype).itemsize, b.desc, env)
                  for b in self.buffers]
        if any(x < 0 for s in shapes for x in s):
            raise ExecutionError(f"the fed shapes give a negative extent: {shapes}")
        arrays = self._arrays(views, store, shapes, self._device_targets(out, shapes))
        if self._can_fail:
            C.memset32(self._err.ptr, 0, 1)
        if trace is not None:
            dev.synchronize()
        self._execute(self.schedule, arrays, env, counter, dev, trace)
        self._check_error()
        results = self._results(arrays, out, device_outputs)
        store.commit_device({name: self._owned(arrays, i, name) for name, i in
                             self.updates.items()})
        return results

    def _execute(self, items, arrays, env, counter, dev, trace=None) -> bool:
        """Run schedule items in order; False when a fault stopped a loop (reported by
        `_check_error` after the run). `trace`: a list receiving one host-timed record
        per launch (module docstring)."""
        for item in items:
            if "while" in item:
                loop, k = item["while"], 0
                while True:   # iteration k draws with the folded run counter
                    step = fold_iteration(counter, k)
                    if not self._execute(loop["cond"], arrays, env, step, dev, trace):
                        return False
                    if not self._predicate(arrays, loop["pred"]):
                        break
                    if not self._execute(loop["body"], arrays, env, step, dev, trace):
                        return False
                    k += 1
            elif "if" in item:
                branch = item["if"]
                taken = branch["then"] if self._predicate(arrays, branch["pred"]) \
                    else branch["else"]
                if not self._execute(taken, arrays, env, counter, dev, trace):
                    return False
            elif trace is None:
                self._launch(item, arrays, env, counter, dev)
            else:
                start = time.perf_counter_ns()
                self._launch(item, arrays, env, counter, dev)
                dev.synchronize()
                trace.append((item.get("node", item["kernel"]), item["kernel"], start,
                              time.perf_counter_ns()))
        return True

    def _predicate(self, arrays, i) -> bool:
        """The bool scalar of buffer `i` read back (False once a kernel has failed, so a
        loop stops at the first fault and no branch runs after it)."""
        if self._can_fail and self._error_code():
            return False
        flag = np.zeros(1, np.bool_)
        C.download(flag, arrays[i].ptr)
        return bool(flag[0])

    def _error_code(self) -> int:
        code = np.zeros(1, np.int32)
        C.download(code, self._err.ptr)
        return int(code[0])

    def _check_error(self):
        if self._can_fail:
            code = self._error_code()
            if code:
                raise ExecutionError(self.errors.get(code, "generated code failed "
                                                     f"with code {code}"))

    def _feed(self, value, k):
        if C.is_device_array(value):
            try:
                return C.device_array_view(value)
            except ValueError as e:
                raise FeedError(f"feed {k}: {e}") from None
        value = np.asarray(value)
        # ascontiguousarray makes a 0-d feed 1-d: keep the fed shape (scalar feeds)
        return np.ascontiguousarray(value).reshape(value.shape)

    def _device_targets(self, out, shapes) -> dict:
        """buffer index -> a caller's DeviceArray to compute an output into (`out=`)."""
        targets = {}
        for k, i in enumerate(self.outputs):
            t = out[k] if out is not None else None
            if isinstance(t, C.DeviceArray) and self.buffers[i].kind == "temp" and \
                    self.outputs.count(i) == 1 and i not in self.updates.values():
                if t.shape != shapes[i] or t.dtype != np.dtype(self.buffers[i].dtype):
                    raise ValueError(f"out[{k}] must be a {self.buffers[i].dtype} device "
                                     f"array of shape {list(shapes[i])}")
                targets[i] = t
        return targets

    def _arrays(self, views, store, shapes, targets):
        if len(self._scratch) > 64:
            self._scratch.clear()
        arrays = []
        for i, b in enumerate(self.buffers):
            if b.kind == "input":
                v = views[b.source]
                arr = v if isinstance(v, C.DeviceArray) else C.DeviceArray.from_numpy(v)
            elif b.kind == "variable":
                arr = store.get_device(b.source, C.DeviceArray.from_numpy, b.desc)
            elif b.kind == "const":
                arr = self._consts[i]
            elif i in targets:
                arr = targets[i]
            elif i in self._internal:
                arr = self._scratch.get((i, shapes[i]))
                if arr is None:
                    arr = self._scratch[(i, shapes[i])] = C.DeviceArray(shapes[i], b.dtype)
            else:
                arr = C.DeviceArray(shapes[i], b.dtype)
            arrays.append(arr)
        return arrays

    def _owned(self, arrays, i, name):
        """The device array of buffer `i` as variable `name`'s new value: the variable's
        own array when its assign updated it in place, a temporary is handed over;
        anything else (an input, another variable, a constant) is copied."""
        b = self.buffers[i]
        if b.kind == "variable" and b.source == name:
            return arrays[i]
        if self.buffers[i].kind == "temp" and sum(
                1 for j in self.updates.values() if j == i) == 1:
            return arrays[i]
        return arrays[i].copy()

    def _launch(self, call, arrays, env, counter, dev):
        syms = [int(env[s]) if isinstance(s, str) else int(s) for s in call["symbols"]]
        local = {f"s{k}": v for k, v in enumerate(syms)}
        config = launch_config(call, local, dev.sm_count)
        if config is None:
            return
        args = [ctypes.c_void_p(arrays[i].ptr) for i in call["buffers"]]
        args += [ctypes.c_int64(v) for v in syms]
        if call["counter"]:
            args.append(ctypes.c_int64(counter))
        if call["can_fail"]:
            args.append(ctypes.c_void_p(self._err.ptr))
        C.launch(self._functions[call["kernel"]], config[0], config[1], args, call["kernel"])

    def _results(self, arrays, out, device_outputs):
        results = []
        for k, i in enumerate(self.outputs):
            arr = arrays[i]
            if device_outputs:
                results.append(arr.copy() if i in self.updates.values() or
                               self.buffers[i].kind != "temp" else arr)
                continue
            target = out[k] if out is not None and out[k] is not None else None
            if isinstance(target, C.DeviceArray):
                if target is not arr:
                    C.copy_device(target.ptr, arr.ptr, arr.nbytes)
                results.append(target)
            elif target is not None:
                if not isinstance(target, np.ndarray) or target.shape != arr.shape or \
                        target.dtype != arr.dtype or not target.flags.c_contiguous:
                    raise ValueError(f"out[{k}] must be a C-contiguous {arr.dtype} array of "
                                     f"shape {list(arr.shape)}")
                C.download(target, arr.ptr)
                results.append(target)
            else:
                results.append(arr.numpy())
        return results
