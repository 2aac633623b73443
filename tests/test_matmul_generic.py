"""The packed matmul nest is generic in its sizes (compiler/lower/matmul_nests.py
`_matmul_tiles`): two matmuls of one kind (dtype, transposes, epilogue, batch dims) and
different M, N, K lower to kernels — the pack kernel and the matmul kernel — whose
statements are equal up to integer constants, so a program's matmuls of one kind can
share one compiled kernel that takes the constants as arguments (compiler/lower/program.py
`_share`). And the nest against the numpy interpreter for random shapes with partial row
blocks, partial tiles and columns past the last panel, on both schedules (AVX-512's
8 x 32 register tile, AVX2's 4 x 16)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import REDUCE_TOL, Compiled, assert_close, prim

import compiler as fc
from compiler.backends.llvm.target import cpu_schedule
from compiler.convert import convert
from compiler.lower import kir as K
from compiler.lower import lower_program
from compiler.options import CompileOptions
from passes.fusion import plan_kernels
from passes.manager import run_pipeline


def _lowered(a_shape, b_shape, ta=False, tb=False, epilogue=False, cpu="x86-64-v4"):
    """The matmul program's pack and matmul kernels, lowered for `cpu`."""
    g = fc.Graph()
    with g.as_default():
        a = fc.placeholder(fc.float32, list(a_shape), name="a")
        b = fc.placeholder(fc.float32, list(b_shape), name="b")
        c = fc.matmul(a, b, transpose_a=ta, transpose_b=tb)
        inputs = [a, b]
        if epilogue:
            bias = fc.placeholder(fc.float32, [c.shape[-1]], name="bias")
            c = fc.nn.relu(c + bias)
            inputs.append(bias)
    program, _ = run_pipeline(convert(g, [c], inputs), fc.CompileOptions())
    lowered = lower_program(program, plan_kernels(program), cpu_schedule(cpu))
    kernels = [k for k in lowered.kernels if k.kind in ("pack", "matmul")]
    assert [k.kind for k in kernels] == ["pack", "matmul"], "must take the packed nest"
    return kernels


def _up_to_integers(x):
    """`x` (kernel IR) with every integer constant replaced by 0."""
    if isinstance(x, K.IConst):
        return K.IConst(0, x.dtype)
    if isinstance(x, tuple):
        return tuple(_up_to_integers(y) for y in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return type(x)(**{f.name: _up_to_integers(getattr(x, f.name))
                          for f in dataclasses.fields(x)})
    return x


def _same_up_to_integers(k1, k2) -> bool:
    return (k1.kind, k1.params, _up_to_integers(k1.body)) == \
        (k2.kind, k2.params, _up_to_integers(k2.body))


GENERIC = [  # two shapes of one kind: (a1, b1), (a2, b2), transpose_a, transpose_b
    # 5 tiles with 12 columns past the panels / 1 tile of whole panels, 6 rows left over
    (((300, 200), (200, 700)), ((70, 96), (96, 256)), False, False),
    (((256, 512), (512, 512)), ((1024, 1024), (1024, 1024)), False, False),
    (((256, 784), (256, 512)), ((64, 300), (64, 1000)), True, False),   # weight gradients
    (((256, 512), (512, 512)), ((100, 70), (64, 70)), False, True),     # input gradients
    (((300, 64), (64, 10)), ((500, 100), (100, 20)), False, False),     # few columns
]


@pytest.mark.parametrize("cpu", ["x86-64-v4", "x86-64-v3"])
@pytest.mark.parametrize("shapes1,shapes2,ta,tb", GENERIC)
def test_matmuls_of_different_sizes_lower_to_the_same_statements(shapes1, shapes2, ta, tb,
                                                                   cpu):
    one = _lowered(*shapes1, ta, tb, cpu=cpu)
    two = _lowered(*shapes2, ta, tb, cpu=cpu)
    for k1, k2 in zip(one, two):
        assert k1.body != k2.body, "the sizes must show in the constants"
        assert _same_up_to_integers(k1, k2), (k1.kind, k1.name)


def test_the_same_holds_with_an_epilogue():
    one = _lowered((300, 200), (200, 700), epilogue=True)
    two = _lowered((64, 96), (96, 256), epilogue=True)
    assert all(_same_up_to_integers(k1, k2) for k1, k2 in zip(one, two))


def test_kinds_that_differ_do_not_compare_equal():
    # the comparison can fail: the transposes, the epilogue and the target's tile show
    base = _lowered((300, 200), (200, 700))
    for other in (_lowered((300, 200), (700, 200), tb=True),
                  _lowered((300, 200), (200, 700), epilogue=True),
                  _lowered((300, 200), (200, 700), cpu="x86-64-v3")):
        assert not _same_up_to_integers(base[1], other[1])


# ---- against the interpreter: random shapes, both schedules ------------------------------
RNG = np.random.default_rng(16)
_CASE = st.tuples(st.integers(16, 150), st.integers(8, 90), st.integers(32, 300),
                  st.booleans(), st.booleans(), st.sampled_from(["x86-64-v4", "x86-64-v3"]))


def _run(m, k, n, ta, tb, cpu, dtype="float32", epilogue=False):
    a_shape = (k, m) if ta else (m, k)
    b_shape = (n, k) if tb else (k, n)

    def build(g, a, b, *rest):
        c = prim(g, "matmul", [a, b], transpose_a=ta, transpose_b=tb)
        return prim(g, "maximum", [prim(g, "add", [c, rest[0]]), rest[0]]) if epilogue else c
    specs = [(dtype, a_shape), (dtype, b_shape)] + ([(dtype, (n,))] if epilogue else [])
    c = Compiled(build, specs, CompileOptions(threads=2, target_cpu=cpu))
    arrays = [RNG.standard_normal(s).astype(dtype) for s in (a_shape, b_shape)]
    if epilogue:
        arrays.append(RNG.standard_normal(n).astype(dtype))
    ref, got = c.run_both(arrays)
    assert got[0].shape == ref[0].shape and got[0].dtype == ref[0].dtype
    assert_close(got[0], ref[0], tol=REDUCE_TOL)
    return c


@given(_CASE)
def test_random_shapes_match_the_interpreter(case):
    m, k, n, ta, tb, cpu = case
    _run(m, k, n, ta, tb, cpu)


@pytest.mark.parametrize("cpu", ["x86-64-v4", "x86-64-v3"])
def test_remainders_of_every_kind(cpu):
    # rows: 2 tiles + 1 row past the last whole register tile of either schedule (8, 4);
    # columns: a partial tile and 3 columns past the last whole panel; an epilogue
    c = _run(64 + 64 + 8 * 3 + 1, 70, 256 + 32 * 2 + 3, False, False, cpu, epilogue=True)
    assert "_pack_" in c.exe.texts["kernels"]
    _run(64 + 7, 33, 16 + 5, True, True, cpu, dtype="float64")
