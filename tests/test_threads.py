"""Parallel kernels: outer loops split over threads that the generated code starts
itself (pthreads), checked against the interpreter above the parallel threshold and for
thread counts that do not divide the extent."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import REDUCE_TOL, TOL, Compiled, assert_close, prim

from compiler.backends.llvm.emit import MIN_PARALLEL_WORK
from compiler.ir import dtypes as T
from compiler.options import CompileOptions

CASES = {
    "elementwise": (lambda g, x: prim(g, "tanh", [x]), [("float32", (None, 7))], TOL),
    "reduce": (lambda g, x: prim(g, "reduce_sum", [x], axes=(1,), keepdims=False),
               [("float32", (None, 7))], REDUCE_TOL),
    "argmax": (lambda g, x: prim(g, "argmax", [x], axis=1, dtype=T.int64),
               [("float32", (None, 7))], TOL),
    "matmul": (lambda g, x: prim(g, "matmul", [x, prim(g, "transpose", [x], perm=(1, 0))],
                                 transpose_a=False, transpose_b=False),
               [("float32", (None, 7))], REDUCE_TOL),
}


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_parallel_kernels_match_the_interpreter(name, threads):
    build, specs, tol = CASES[name]
    c = Compiled(build, specs, CompileOptions(threads=threads))
    rows = MIN_PARALLEL_WORK // 7 + 5 if name != "matmul" else 400
    for n in (rows, 1, 0, 2):
        x = np.random.default_rng(n).standard_normal((n, 7)).astype(np.float32)
        ref, got = c.run_both([x])
        assert_close(got[0], ref[0], tol=tol)
    assert "parallel" in c.exe.texts["kernels"]
    assert "pthread_create" in c.exe.texts["llvm"]
