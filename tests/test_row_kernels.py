"""Row kernels (a fusion group of per-row reductions and the elementwise root over the same
rows, compiler/lower/nests.py `_row_root`): softmax, log_softmax, a layer-norm-like
normalization and row reductions, against the interpreter, for row lengths that are and
are not multiples of any vector width (1 to 1025), on one thread and on the pool, with
rows holding NaN, +-inf and signed zeros. Row and loop kernels prefer the target's
widest vectors (compiler/backends/llvm/emit.py `WIDE_KINDS`); results do not depend on
that beyond the reassociation that reductions are allowed (REDUCE_TOL)."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import REDUCE_TOL, Compiled, assert_close

import compiler as fc
from compiler.backends.llvm.emit import MIN_PARALLEL_WORK
from compiler.options import CompileOptions
from compiler.pipeline import build_program


def _layer_norm(x):
    mean = fc.reduce_mean(x, axis=-1, keepdims=True)
    centered = x - mean
    var = fc.reduce_mean(centered * centered, axis=-1, keepdims=True)
    return centered / fc.sqrt(var + 1e-5)


BUILDS = {
    "softmax": lambda g, x: fc.nn.softmax(x),
    "log_softmax": lambda g, x: fc.nn.log_softmax(x),
    "layer_norm": lambda g, x: _layer_norm(x),
    "row_max": lambda g, x: fc.reduce_max(x, axis=-1),
    "row_sum_exp": lambda g, x: fc.reduce_sum(fc.exp(x - 1.0), axis=-1, keepdims=True),
}


def _rows(cols, parallel):
    rows = max(8, MIN_PARALLEL_WORK // cols + 3) if parallel else 8
    x = (np.random.default_rng(cols).standard_normal((rows, cols)) * 8).astype(np.float32)
    x[1, cols // 2] = np.nan
    x[2, 0] = np.inf
    x[3, -1] = -np.inf
    x[4, :] = -np.inf
    x[5, :] = np.float32(-0.0)
    x[5, ::2] = 0.0
    x[6, :] = 88.0 + np.arange(cols, dtype=np.float32) % 3   # exp overflows without the max
    return x


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cols", [1, 7, 17, 100, 1023, 1025])
@pytest.mark.parametrize("name", sorted(BUILDS))
def test_row_kernels_match_the_interpreter(name, cols, threads):
    c = Compiled(BUILDS[name], [("float32", (None, cols))], CompileOptions(threads=threads))
    assert "_row_" in c.exe.texts["kernels"], c.exe.texts["kernels"]
    for x in (_rows(cols, threads > 1), _rows(cols, False)[:1]):
        ref, got = c.run_both([x])
        assert_close(got[0], ref[0], tol=REDUCE_TOL)


def test_row_and_loop_kernels_prefer_the_widest_vectors():
    c = Compiled(BUILDS["softmax"], [("float32", (None, 33))])
    # the dump's whole-program module names the kernels by kind (library objects: by key)
    text = build_program(c.program, assembly=True).texts["llvm"]
    fns = [line for line in text.splitlines()
           if line.startswith("define") and "_row_" in line]
    assert fns
    attrs = text
    assert '"prefer-vector-width"="512"' in attrs
