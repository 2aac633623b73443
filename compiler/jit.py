"""`fc.jit(fn=None, *, dynamic_dims=None, options=None)`: compile a Python function of
numpy arrays.

    @fc.jit                                 @fc.jit(dynamic_dims={"x": [0]})
    def f(x, y):                            def g(x, w, scale=0.5):
        return fc.tanh(x) * y                   return fc.matmul(x, w) * scale

A call traces `fn` into a fresh `Graph` (compiler/jit_trace.py): every array argument
becomes a placeholder of its dtype and shape, Python scalars, strings and None are passed
through as static constants, and the Tensor, or tuple, list or dict of Tensors, that
`fn` returns becomes the fetches. The graph is compiled through the compile pipeline
(compiler/pipeline.py: conversion, verification, passes, fusion, LLVM) with `options`
(a `CompileOptions`) and the call returns numpy arrays in the structure `fn` returned.

Compiles are cached per function and keyed by the static signature: each array's dtype
and static dims, and each static value. `dynamic_dims` says which dims are symbolic (one
compile serves every extent): an axis or list of axes of every array argument
(`dynamic_dims=0`), or a dict from argument index or name to an axis or list of axes
(`{0: [0]}`, `{"x": [0, 1]}`). A call with a new static shape, dtype or static value
compiles again and logs the reason at INFO on the logger "flowc.jit" (and a WARNING once
a function has compiled `WARN_AFTER` times). `f.compile_count` counts compiles;
`f.lower(*args)` / `f.dump(*args, dir=, stages=)` return `fc.dump`'s stages for those
arguments; `f.trace(*args)` returns the traced graph. `CompileOptions(dump_dir=D)` writes
every stage of every compile to `D/NAME_NNN/`.

`out=` (reserved: `fn` cannot take an argument called `out` by keyword) writes the
results into given arrays: one array, or a structure of arrays (entries may be None)
matching what `fn` returns; the call then returns `out`'s arrays. Bad calls (wrong
arguments, values that are not arrays) raise TypeError naming the argument; feeds that
contradict the compiled signature (dynamic dims that must be equal) raise FeedError.

Dispatch: the last call's arrays (types, dtypes, shapes, strides) are remembered with a
`runtime.fastrun.FastRun`, so a repeated call checks them against it and calls the
generated code directly; anything else takes the full path (binding, `Executable.run`).
Functions may not use variables (state belongs to a `Session`); random ops draw a new
stream on every call.
"""

from __future__ import annotations

import functools
import logging
import os
import time

import numpy as np

from runtime import forksafe
from runtime.executable import prepare_feed
from runtime.signature import check_size
from runtime.variables import VariableStore

from .errors import CompileError
from .frontend.graph import Tensor
from .frontend.variables import Variable
from .jit_trace import (
    CallShape,
    DynamicDims,
    arg_key,
    convert_argument,
    explain_miss,
    is_static,
    same_static,
    trace,
)
from .options import CompileOptions
from .pipeline import compile_graph

log = logging.getLogger("flowc.jit")
WARN_AFTER = 8          # compiles of one function before a warning
_FAST_RUNS_PER_ENTRY = 8  # remembered shapes per compiled entry (dynamic dims)


def jit(fn=None, *, dynamic_dims=None, options=None):
    """Decorator (also `fc.jit(fn, ...)`): see the module docstring."""
    if options is not None and not isinstance(options, CompileOptions):
        raise TypeError(f"options must be a CompileOptions, got {type(options).__name__}")
    if fn is None:
        return lambda f: JitFunction(f, dynamic_dims, options)
    if not callable(fn):
        raise TypeError(f"fc.jit decorates a function, got {type(fn).__name__}")
    return JitFunction(fn, dynamic_dims, options)


class _Entry:
    """One compile: the traced graph, its executable and the remembered fast runs."""

    def __init__(self, key, traced, exe, shapes):
        self.key, self.traced, self.exe, self.shapes = key, traced, exe, shapes
        self.arrays = [i for i, k in enumerate(key) if k.kind == "array"]
        self.rebuild = _rebuilder(traced.tree, len(traced.fetches))
        self.fast_runs = {}

    def fast_run(self, feeds):
        """The FastRun for these (prepared) feeds' shapes; None where none applies.
        Making one binds the feeds: a bad feed raises FeedError here."""
        shapes = tuple(f.shape for f in feeds)
        run = self.fast_runs.get(shapes, False)
        if run is False:
            run = self.exe.fast_run(feeds)
            if len(self.fast_runs) >= _FAST_RUNS_PER_ENTRY:
                self.fast_runs.clear()
            self.fast_runs[shapes] = run
        return run


class _FastPlan:
    """The last plain call (positional arguments only) of a JitFunction, replayed: static
    arguments must be the same (`same_static`: floats by bits), arrays must match the
    FastRun."""

    def __init__(self, entry, run, flat, nargs):
        self.nargs = nargs
        self.tail = tuple(v for _, _, v in flat[nargs:])   # defaults the call left out
        self.statics = [(i, type(v), v) for i, (_, _, v) in enumerate(flat) if is_static(v)]
        self.positions = entry.arrays
        self.run = run
        self.rebuild = entry.rebuild
        self.tree = entry.traced.tree

    def __call__(self, args, counter, out):
        values = args + self.tail if self.tail else args
        if self.statics:
            for i, type_, value in self.statics:
                if type(values[i]) is not type_ or not same_static(values[i], value):
                    return None
            values = [values[i] for i in self.positions]
        if out is None:
            outs = self.run(values, counter)
        elif type(out) is np.ndarray and self.tree.kind == "leaf":
            outs = self.run(values, counter, [out])
        else:
            outs = self.run(values, counter, self.tree.flatten_like(out))
        return None if outs is None else self.rebuild(outs)


class JitFunction:
    """A function compiled by `fc.jit`; call it like the function."""

    def __init__(self, fn, dynamic_dims=None, options=None):
        functools.update_wrapper(self, fn)
        self.fn = fn
        qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
        self.name = qualname.rsplit("<locals>.", 1)[-1]
        self.options = options or CompileOptions()
        self._call_shape = CallShape(fn, self.name)
        self._dynamic = DynamicDims(dynamic_dims, self._call_shape)
        self._cache = {}        # static signature -> _Entry
        self._last = None       # the entry of the last call
        self._fast = None       # _FastPlan of the last plain call
        self._runs = 0          # run counter: keys the random numbers
        self._store = VariableStore()  # always empty: jit functions have no variables
        self._lock = forksafe.lock()  # compiles (a forked child gets it released)
        self.compile_count = 0

    def __repr__(self):
        return f"<fc.jit {self.name}: {self.compile_count} compile(s)>"

    def __call__(self, *args, out=None, **kwargs):
        plan = self._fast
        if plan is not None and not kwargs and len(args) == plan.nargs:
            self._runs += 1
            result = plan(args, self._runs, out)
            if result is not None:
                return result
        return self._call(args, kwargs, out)

    def _call(self, args, kwargs, out):
        flat, layout = self._call_shape.flatten(args, kwargs)
        if any(isinstance(v, (Tensor, Variable)) for _, _, v in flat):
            return self.fn(*args, **kwargs)  # called while tracing: inline
        values = [convert_argument(self.name, label, v) for label, _, v in flat]
        entry = self._entry(flat, layout, values)
        feeds = [prepare_feed(values[i]) for i in entry.arrays]
        self._runs += 1
        targets = None if out is None else entry.traced.tree.flatten_like(out)
        run = entry.fast_run(feeds)
        outs = run(feeds, self._runs, targets) if run is not None else None
        if outs is None:
            outs = entry.exe.run(feeds, self._store, self._runs, out=targets)
        elif not kwargs:
            self._fast = _FastPlan(entry, run, flat, len(args))
        return entry.rebuild(outs)

    def _keys(self, flat, values):
        self._dynamic.check_count(self.name, len(flat))
        return tuple(arg_key(label, v, self._dynamic.axes(self.name, i, label, pname, v))
                     for i, ((label, pname, _), v) in enumerate(zip(flat, values)))

    def _entry(self, flat, layout, values) -> _Entry:
        key = self._keys(flat, values)
        entry = self._cache.get(key)
        if entry is None:
            with self._lock:
                entry = self._cache.get(key)
                if entry is None:
                    entry = self._compile(key, flat, layout, values)
        self._last = entry
        return entry

    def _compile(self, key, flat, layout, values) -> _Entry:
        shapes = [getattr(v, "shape", None) for v in values]
        if self._cache:
            self._log_recompile(key, shapes)
        start = time.perf_counter()
        traced = trace(self.fn, self.name, layout, flat, key)
        exe = _build(traced, self.options, self.name, self.compile_count + 1)
        self.compile_count += 1
        log.debug("compiled %s for (%s) in %.3f s", self.name,
                  ", ".join(f"{k.label}: {k.describe()}" for k in key),
                  time.perf_counter() - start)
        entry = self._cache[key] = _Entry(key, traced, exe, shapes)
        return entry

    def _log_recompile(self, key, shapes):
        """Log why `key` missed: how it differs from the nearest cached key (the last
        call's entry on a tie)."""
        def distance(entry):
            labels_differ = [k.label for k in key] != [k.label for k in entry.key]
            return (labels_differ, sum(a != b for a, b in zip(key, entry.key)),
                    entry is not self._last)
        nearest = min(self._cache.values(), key=distance)
        reason = explain_miss(key, nearest.key, shapes, nearest.shapes)
        log.info("recompiling %s: %s", self.name, reason)
        if self.compile_count + 1 == WARN_AFTER:
            log.warning("%s has been compiled %d times (last: %s); mark the dims that change "
                        "in dynamic_dims to reuse the code", self.name, WARN_AFTER, reason)

    # inspection ---------------------------------------------------------------------
    def trace(self, *args, **kwargs):
        """The `Traced` graph (graph, feeds, fetches, outputs) for these arguments."""
        flat, layout = self._call_shape.flatten(args, kwargs)
        values = [convert_argument(self.name, label, v) for label, _, v in flat]
        return trace(self.fn, self.name, layout, flat, self._keys(flat, values))

    def lower(self, *args, **kwargs) -> dict:
        """`fc.dump`'s stages (every one) of the compile for these arguments."""
        return self.dump(*args, **kwargs)

    def dump(self, *args, dir=None, stages="all", format="text", **kwargs) -> dict:  # noqa: A002
        """`fc.dump(...)` of the compile for these arguments; `dir`, `stages` and
        `format` are fc.dump's."""
        from .dump import dump
        traced = self.trace(*args, **kwargs)
        return dump(traced.fetches, feeds=traced.feeds, dir=dir, stages=stages,
                    format=format, options=self.options)


def _build(traced, options, name, number):
    """Compile a traced graph through the pipeline (compiler/pipeline.py). With
    `options.dump_dir`, every stage goes to `dump_dir/NAME_NNN/` (as the Session does)."""
    def check(program):
        variables = program.variables()
        if variables:
            raise CompileError(f"{name} uses the variable(s) "
                               f"{', '.join(map(repr, variables))}; fc.jit compiles pure "
                               "functions: keep state in a Session")
    _check_static_sizes(traced)
    dump_dir = ""
    if options.dump_dir:
        folder = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip("_")
        dump_dir = os.path.join(options.dump_dir, f"{folder}_{number:03d}")
    return compile_graph(traced.graph, traced.fetches, traced.feeds, options,
                         dump_dir=dump_dir, check=check).executable


def _check_static_sizes(traced):
    """FeedError when the arguments' static shapes make a traced tensor too large for
    int64 sizes (the verifier would reject the program; the cause is the arguments)."""
    fed = {f.op.name: list(f.type.shape) for f in traced.feeds if f.type.shape is not None}
    for op in traced.graph.get_operations():
        for t in op.outputs:
            shape = t.type.shape
            if shape is not None and all(isinstance(d, int) for d in shape):
                check_size(shape, t.dtype.np.itemsize, op.describe(), fed)


def _rebuilder(tree, n):
    """outputs list -> the structure fn returned (fast for a single Tensor and flat
    tuples)."""
    if tree.kind == "leaf":
        return _first
    if tree.kind == "seq" and tree.type is tuple and all(c.kind == "leaf"
                                                          for c in tree.children):
        return tuple
    return tree.unflatten


def _first(outs):
    return outs[0]
