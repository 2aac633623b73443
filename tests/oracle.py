"""Shared helpers for differential tests: build one-op (or small) programs from
primitives, run them through the interpreter and the compiled path, compare."""

from __future__ import annotations

import numpy as np

from compiler.convert import convert
from compiler.frontend.graph import Graph
from compiler.interpret import interpret
from compiler.ir import dtypes as T
from compiler.options import CompileOptions
from compiler.pipeline import build_program

TOL = {  # (rtol, atol) per dtype for elementwise results
    "float16": (2e-3, 2e-3), "float32": (2e-6, 1e-6), "float64": (1e-13, 1e-14),
}
REDUCE_TOL = {"float16": (1e-2, 1e-2), "float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)}

_OPTIONS = CompileOptions(threads=1)


class Compiled:
    """A program compiled once and run many times against the interpreter."""

    def __init__(self, build_fn, input_specs, options=_OPTIONS):
        self.graph = Graph()
        with self.graph.as_default():
            self.inputs = [self.graph.create_op(
                "placeholder", [], {"name": f"in{i}", "dtype": T.as_dtype(dt),
                                    "shape": _dims(self.graph, shape, i)},
                name=f"in{i}").outputs[0] for i, (dt, shape) in enumerate(input_specs)]
            outs = build_fn(self.graph, *self.inputs)
        self.outputs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        self.program = convert(self.graph, self.outputs, self.inputs)
        self.exe = build_program(self.program, options)

    def run_both(self, arrays, variables=None, counter=0):
        from runtime.variables import VariableStore
        store = VariableStore()
        for k, v in (variables or {}).items():
            store.set(k, v)
        ref_error = got_error = None
        try:
            ref, _ = interpret(self.program, arrays, dict(variables or {}), counter)
        except Exception as e:  # noqa: BLE001  (error parity is checked below)
            ref_error = e
        try:
            got = self.exe.run(arrays, store, counter)
        except Exception as e:  # noqa: BLE001
            got_error = e
        assert (ref_error is None) == (got_error is None), (ref_error, got_error)
        if ref_error is not None:
            assert type(ref_error) is type(got_error), (ref_error, got_error)
            return None, None
        return ref, got


def _dims(graph, shape, i):
    """Placeholder dims: ints stay static; None or a name (e.g. "a") is symbolic."""
    from compiler.ir.dims import DimExpr
    out = []
    for axis, d in enumerate(shape):
        if d is None or isinstance(d, str):
            out.append(DimExpr.atom(graph.symbols.new_symbol(f"in{i}[{axis}]")))
        else:
            out.append(d)
    return tuple(out)


def prim(graph, op, inputs, **attrs):
    return graph.create_op(op, list(inputs), attrs).outputs[0]


def assert_close(got, want, dtype=None, tol=TOL):
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if got.dtype.kind == "f":
        rtol, atol = tol[got.dtype.name]
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                                   atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)
