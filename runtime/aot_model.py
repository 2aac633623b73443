"""`runtime.load(path)`: run an ahead-of-time artifact (`fc.compile`'s NAME.so + NAME.json)
with numpy and ctypes alone.

`load(path)` (the .so, the .json or a directory holding one model) validates the
manifest (`runtime.artifact`: owners and permissions, every field's type, the library's
place, size, sha256 and ELF headers, this CPU's features) before it opens the library;
then it calls only the fixed entry points NAME_<role>, each checked (dladdr) to be the
library's own: NAME_abi_version, NAME_describe (the library's own description, which the
manifest must equal field by field and which alone is used from then on), and creates one
instance and returns a `Model`. `model(*arrays, out=None, **by_name)` takes the inputs by
position or by placeholder name, checks them as the Session does (`signature.bind`: strict
dtypes, shapes against the symbols; sizes that fit int64; `FeedError`), returns one array
for one output, else a tuple in fetch order (`out=`: an array or a list of arrays, one per
output, to write into). A fault in the generated code raises `ExecutionError` with the
node's message. `model.variables` reads and writes the instance's variables by name; the
state (variables, run counter) persists across calls. `close()` (or garbage collection)
frees the instance.

Threads may share a `Model`: calls, variable reads and writes, the run counter and
`close()` on one instance are serialized with its lock (the instance holds the variables
and the scratch memory of a call), so no update is lost and no call sees another's half.
After `os.fork()` the child gets a fresh lock: a fork waits (runtime/forksafe.py) for a
call in flight in another thread, and if that wait times out the model raises
`ForkError` in the child instead of hanging. This module never imports the compiler.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import threading

import numpy as np

from . import forksafe
from .artifact import (
    ABI_VERSION,
    ArtifactError,
    check_against_library,
    parse_description,
    read_manifest,
    resolve,
    signature_of,
)
from .errors import ExecutionError, FeedError, ForkError, resource_exhausted
from .executable import aligned_empty, prepare_feed
from .fastrun import data_address
from .signature import bind, output_shapes

ERROR_SHAPE = -1

_P, _I32, _I64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64


def load(path) -> "Model":
    manifest_path, library_path = resolve(path)
    manifest, lib = read_manifest(manifest_path, library_path)
    return Model(manifest, lib, manifest_path)


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _dladdr():
    for lib in (None, "libdl.so.2"):
        try:
            fn = ctypes.CDLL(lib).dladdr
        except (OSError, AttributeError):
            continue
        fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
        return fn
    return None


_DLADDR = _dladdr()


def _bind(lib, name, restype, argtypes, path=None):
    """The C function `name` of `lib`, only if `lib` itself defines it (dlsym also finds the
    symbols of the libraries it depends on: libc's must never be called by mistake)."""
    try:
        fn = getattr(lib, name)
    except AttributeError:
        raise ArtifactError(f"the library lacks {name!r}: it does not match its manifest "
                            "(or was built by an older flowc: recompile it)") from None
    if path is not None and _DLADDR is not None:
        info = _DlInfo()
        if not _DLADDR(ctypes.cast(fn, ctypes.c_void_p), ctypes.byref(info)) or \
                not info.dli_fname or \
                os.path.realpath(info.dli_fname.decode(errors="replace")) != path:
            where = info.dli_fname.decode(errors="replace") if info.dli_fname else "?"
            raise ArtifactError(f"{name!r} is not defined by {path!r} (found in {where!r}); "
                                "refusing to call it")
    fn.restype, fn.argtypes = restype, argtypes
    return fn


class Model(forksafe.LockHeldAcrossFork):
    """One instance of a compiled model (see the module docstring)."""

    def __init__(self, manifest: dict, library_path: str, manifest_path=None):
        where = manifest_path or library_path
        self.path = library_path
        try:
            self._lib = ctypes.CDLL(library_path)
        except OSError as e:
            raise ArtifactError(f"cannot open {library_path!r}: {e}") from None
        name = manifest["name"]
        fn = functools.partial(_bind, self._lib, path=os.path.realpath(library_path))
        version = fn(f"{name}_abi_version", _I32, [])()
        if version != ABI_VERSION:
            raise ArtifactError(f"{library_path!r} implements ABI version {version}, its "
                                f"manifest and this runtime version {ABI_VERSION}")
        desc = parse_description(fn(f"{name}_describe", ctypes.c_char_p, [])(), library_path)
        check_against_library(manifest, desc, where)
        # from here on, only the library's own description is used
        self.manifest = {**manifest, **desc}
        self.signature = signature_of(desc)
        self.name = name
        n_in, n_sym = len(self.signature.inputs), len(self.signature.symbols)
        self._run = fn(f"{name}_run", _I32, [_P] * (1 + n_in) + [_I64] * n_sym
                       + [_P] * len(self.signature.outputs))
        self._last_error = fn(f"{name}_last_error", ctypes.c_char_p, [_P])
        self._free = fn(f"{name}_free", None, [_P])
        self._get = fn(f"{name}_get_variable", _I32, [_P, _I32, _P])
        self._set = fn(f"{name}_set_variable", _I32, [_P, _I32, _P])
        self._get_counter = fn(f"{name}_get_run_counter", _I64, [_P])
        self._set_counter = fn(f"{name}_set_run_counter", None, [_P, _I64])
        self._inst = fn(f"{name}_create", _P, [])()
        if not self._inst:
            raise MemoryError(f"{self.name}_create failed: out of memory")
        self._positions = {a.name: i for i, a in enumerate(self.signature.inputs)}
        self._plans: dict = {}
        self._lock = threading.Lock()
        self._broken = None  # set in a forked child whose copy may be half-updated
        forksafe.register(self)
        self.variables = Variables(self)

    # ---- calling ------------------------------------------------------------------------
    def __call__(self, *args, out=None, **by_name):
        if by_name or len(args) != len(self.signature.inputs):
            args = self._arguments(args, by_name)
        feeds = [prepare_feed(a) for a in args]
        key = tuple([(a.dtype, a.shape) for a in feeds])
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(feeds, key)
        symbols, shapes, dtypes = plan
        if out is None and shapes is not None:
            try:
                results = [np.empty(s, d) if d.itemsize * math.prod(s) < 4096
                           else aligned_empty(s, d) for s, d in zip(shapes, dtypes)]
            except MemoryError:
                raise self._exhausted(shapes, dtypes, feeds) from None
            targets = None
        else:
            results, targets = self._outputs(shapes, out, feeds)
        ptrs = [data_address(a) for a in feeds] + symbols
        ptrs += [0 if a is None else data_address(a) for a in results]
        forksafe.gate()
        with self._lock:
            code = self._run(self._handle(), *ptrs)
            if code != 0:
                message = self._last_error(self._inst).decode(errors="replace")
                raise (FeedError if code == ERROR_SHAPE else ExecutionError)(message)
        for k, target in (targets or {}).items():
            np.copyto(target, results[k])
            results[k] = target
        if len(results) == 1:
            return results[0]
        return tuple(results) if results else None

    def _plan(self, feeds, key):
        """(symbol values, output shapes or None when one is negative, output dtypes) for
        feeds of these dtypes and shapes, after the full boundary check; cached by `key`
        (the check depends on the dtypes and shapes alone)."""
        env = bind(self.signature, feeds)
        shapes = output_shapes(self.signature, env)
        if any(d < 0 for s in shapes for d in s):
            shapes = None  # NAME_run reports which node; nothing is written
        plan = ([env[s] for s in self.signature.symbols], shapes,
                [np.dtype(a.dtype) for a in self.signature.outputs])
        if len(self._plans) >= 64:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _arguments(self, args, by_name) -> list:
        inputs = self.signature.inputs
        if len(args) > len(inputs):
            raise TypeError(f"{self.name} takes {len(inputs)} input(s) "
                            f"({', '.join(a.name for a in inputs)}), got {len(args)}")
        values = list(args) + [None] * (len(inputs) - len(args))
        for key, value in by_name.items():
            i = self._positions.get(key)
            if i is None:
                raise TypeError(f"{self.name} has no input {key!r}; inputs: "
                                f"{[a.name for a in inputs]}")
            if i < len(args):
                raise TypeError(f"input {key!r} given by position and by name")
            values[i] = value
        missing = [inputs[i].name for i, v in enumerate(values) if v is None]
        if missing:
            raise TypeError(f"{self.name} is missing input(s) {missing}")
        return values

    def _outputs(self, shapes, out, feeds):
        """(arrays the code writes, {k: caller array to copy into afterwards})."""
        specs = self.signature.outputs
        if shapes is None:  # a negative extent: NAME_run reports it and writes nothing
            return [None] * len(specs), {}
        try:
            results = [aligned_empty(s, np.dtype(spec.dtype)) for s, spec in zip(shapes, specs)]
        except MemoryError:
            raise self._exhausted(shapes, [np.dtype(o.dtype) for o in specs], feeds) from None
        if out is None:
            return results, {}
        outs = [out] if isinstance(out, np.ndarray) else list(out)
        if len(outs) != len(specs):
            raise ValueError(f"out= needs {len(specs)} array(s), got {len(outs)}")
        targets = {}
        for k, (arr, shape, spec) in enumerate(zip(outs, shapes, specs)):
            if arr is None:
                continue
            if not isinstance(arr, np.ndarray) or arr.dtype != np.dtype(spec.dtype) or \
                    arr.shape != tuple(shape) or not arr.flags.writeable:
                raise ValueError(f"out[{k}] for {spec.name!r} must be a writeable "
                                 f"{spec.dtype} array of shape {list(shape)}, got "
                                 f"{getattr(arr, 'dtype', type(arr).__name__)}"
                                 f"{list(getattr(arr, 'shape', []))}")
            direct = arr.flags.c_contiguous and arr.flags.aligned and not any(
                np.may_share_memory(arr, x) for x in feeds + outs[:k] if x is not None)
            if direct:
                results[k] = arr
            else:
                targets[k] = arr
        return results, targets

    def _exhausted(self, shapes, dtypes, feeds):
        """The ResourceExhaustedError of outputs that cannot be allocated (it names the
        largest)."""
        k = max(range(len(shapes)), key=lambda j: math.prod(shapes[j]) * dtypes[j].itemsize)
        spec = self.signature.outputs[k]
        return resource_exhausted(f"the output {spec.name!r}", shapes[k], dtypes[k],
                                  self.signature, feeds, spec.shape)

    # ---- state ----------------------------------------------------------------------------
    def _handle(self):
        """The instance, for a call made under the lock."""
        if self._broken is not None:
            raise ForkError(self._broken)
        if not self._inst:
            raise RuntimeError(f"model {self.name!r} is closed")
        return self._inst

    @property
    def run_counter(self) -> int:
        with self._lock:
            return self._get_counter(self._handle())

    @run_counter.setter
    def run_counter(self, value: int):
        with self._lock:
            self._set_counter(self._handle(), int(value))

    def close(self):
        """Free the instance (after a call in flight in another thread has returned)."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return self._free_instance()
        with lock:
            self._free_instance()

    def _free_instance(self):
        inst, self._inst = getattr(self, "_inst", None), None
        if inst:
            self._free(inst)

    def __del__(self):
        self._free_instance()  # unreachable: no call can be in flight

    # ---- fork (runtime/forksafe.py) -------------------------------------------------
    def _fork_child(self):
        if not self._held and self._lock.locked():  # a call was in flight at the fork
            self._broken = forksafe.broken_message(f"model {self.name!r}")
        self._held = False
        self._lock = threading.Lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        ins = ", ".join(f"{a.name}: {a.dtype}{a.shape}" for a in self.signature.inputs)
        return f"<flowc model {self.name!r} ({ins}) from {self.path}>"


class Variables:
    """Dict-like view of a `Model`'s variables: `view[name]` is a copy of the value;
    `view[name] = value` sets it (converted to the variable's dtype; shape must match)."""

    def __init__(self, model: Model):
        self._model = model
        self._specs = {v["name"]: (j, np.dtype(v["dtype"]), tuple(v["shape"]))
                       for j, v in enumerate(model.manifest["variables"])}

    def _spec(self, name):
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"{self._model.name} has no variable {name!r}; variables: "
                           f"{list(self._specs)}") from None

    def __getitem__(self, name) -> np.ndarray:
        j, dtype, shape = self._spec(name)
        arr = np.empty(shape, dtype)
        with self._model._lock:
            code = self._model._get(self._model._handle(), j, arr.ctypes.data)
        if code != 0:
            raise ArtifactError(f"{self._model.name}_get_variable({j}) for {name!r} failed "
                                f"with code {code}")
        return arr

    def __setitem__(self, name, value):
        j, dtype, shape = self._spec(name)
        arr = np.ascontiguousarray(value, dtype=dtype)
        if arr.shape != shape:
            raise ValueError(f"variable {name!r} is {dtype}{list(shape)}; cannot set it to a "
                             f"value of shape {list(arr.shape)}")
        with self._model._lock:
            code = self._model._set(self._model._handle(), j, arr.ctypes.data)
        if code != 0:
            raise ArtifactError(f"{self._model.name}_set_variable({j}) for {name!r} failed "
                                f"with code {code}")

    def __iter__(self):
        return iter(self._specs)

    def __len__(self):
        return len(self._specs)

    def __contains__(self, name):
        return name in self._specs

    def keys(self):
        return list(self._specs)

    def items(self):
        return [(k, self[k]) for k in self._specs]

    def values(self):
        return [self[k] for k in self._specs]

    def __repr__(self):
        return f"<variables of {self._model.name!r}: {list(self._specs)}>"
