"""The packed, register-tiled matmul nest (compiler/lower/matmul_nests.py `_matmul_tiles`)
against the interpreter: partial row and column tiles, columns past the last whole
panel, transposed operands, a symbolic row count, a batch of A against one B, an
epilogue, float64, and several threads. Each case runs for this CPU ("host") and for the
AVX2 level x86-64-v3, whose schedule (compiler/lower/schedule.py) has a register tile of
2 ymm vectors per row (16 columns) where AVX-512 has 2 zmm (32 columns)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from oracle import REDUCE_TOL, Compiled, assert_close, prim

from compiler.backends.llvm.target import cpu_schedule
from compiler.options import CompileOptions
from runtime.cpu import host_flags, missing_features

RNG = np.random.default_rng(3)


@pytest.fixture(params=["host", "x86-64-v3"])
def cpu(request):
    """The target CPU of a compile: this machine, or AVX2 code with its 16-column tile
    (every machine this project runs on has AVX2)."""
    assert not missing_features(["avx2", "fma"]), "this machine cannot run AVX2 code"
    return request.param


def _panel_width(kernels_text) -> int:
    """Columns of a packed panel: the innermost extent of the first pack kernel."""
    pack = kernels_text[kernels_text.index("_pack_"):].split("\n\n")[0]
    return int(re.findall(r"for \w+ in 0\.\.(.+?)(?: parallel)?:$", pack, re.M)[2])


def _matmul(a_shape, b_shape, ta=False, tb=False, dtype="float32", epilogue=False,
            threads=1, cpu="host"):
    def build(g, a, b, *rest):
        c = prim(g, "matmul", [a, b], transpose_a=ta, transpose_b=tb)
        if epilogue:
            c = prim(g, "maximum", [prim(g, "add", [c, rest[0]]), prim(g, "add", [rest[0],
                                                                              rest[0]])])
        return c
    n = b_shape[-2] if tb else b_shape[-1]
    specs = [(dtype, a_shape), (dtype, b_shape)] + ([(dtype, (n,))] if epilogue else [])
    c = Compiled(build, specs, CompileOptions(threads=threads, target_cpu=cpu))
    if "_pack_" in c.exe.texts["kernels"]:  # the tile follows the target's vector width
        assert _panel_width(c.exe.texts["kernels"]) == _tile_columns(cpu)
    return c


def _tile_columns(cpu) -> int:
    """Two vectors of float32: 16 columns for AVX2 (x86-64-v3), 32 for AVX-512."""
    if cpu == "x86-64-v3":
        return 16
    flags = host_flags()
    return 32 if "avx512f" in flags else 16 if "avx2" in flags else 8


def _check(compiled, *arrays):
    ref, got = compiled.run_both(list(arrays))
    for r, g in zip(ref, got):
        assert_close(g, r, tol=REDUCE_TOL)


def _rand(shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


CASES = [  # (a shape, b shape, transpose_a, transpose_b)
    ((70, 100), (100, 300), False, False),    # partial row tile, 12 columns past the panels
    ((9, 40), (40, 256), False, False),       # one partial block of rows, whole panels
    ((130, 64), (64, 96), False, False),      # 3 panels, rows 64 + 64 + 2
    ((100, 70), (300, 100), True, True),      # both transposed
    ((64, 128), (200, 128), False, True),     # B^T: the input gradient of a dense layer
    ((128, 50), (128, 72), True, False),      # A^T: the weight gradient
]


@pytest.mark.parametrize("a_shape,b_shape,ta,tb", CASES)
def test_tiled_matmul_matches_interpreter(a_shape, b_shape, ta, tb, cpu):
    c = _matmul(a_shape, b_shape, ta, tb, cpu=cpu)
    assert "_pack_" in c.exe.texts["kernels"], "the case must take the tiled nest"
    _check(c, _rand(a_shape), _rand(b_shape))


def test_tiled_matmul_symbolic_rows_and_threads(cpu):
    c = _matmul((None, 80), (80, 288), threads=2, cpu=cpu)
    assert "_pack_" in c.exe.texts["kernels"]
    for m in (1, 3, 4, 5, 63, 64, 65, 131):
        _check(c, _rand((m, 80)), _rand((80, 288)))


def test_tiled_matmul_batched_a_float64_with_epilogue(cpu):
    c = _matmul((3, 37, 60), (60, 130), dtype="float64", epilogue=True, threads=2, cpu=cpu)
    assert "_pack_" in c.exe.texts["kernels"]
    _check(c, _rand((3, 37, 60), "float64"), _rand((60, 130), "float64"),
           _rand((130,), "float64"))


def test_small_matmuls_keep_the_plain_nest():
    c = _matmul((5, 8), (8, 16))
    assert "_pack_" not in c.exe.texts["kernels"]
    assert cpu_schedule("x86-64-v4").matmul.j_vec > 16


def test_tiled_matmul_symbolic_reduction_extent(cpu):
    # a weight gradient X^T @ dZ: the reduction runs over the (symbolic) batch
    c = _matmul((None, 40), (None, 96), ta=True, threads=2, cpu=cpu)
    assert "_pack_" in c.exe.texts["kernels"]
    for batch in (0, 1, 7, 33):
        _check(c, _rand((batch, 40)), _rand((batch, 96)))


def test_steps_multiplying_by_the_same_weights_share_one_packed_copy():
    # an unrolled loop: three matmuls by the same B (and by its transpose) pack it once each
    def build(g, x0, x1, x2, w):
        outs = [prim(g, "matmul", [x, w], transpose_a=False, transpose_b=False)
                for x in (x0, x1, x2)]
        outs += [prim(g, "matmul", [o, w], transpose_a=False, transpose_b=True)
                 for o in outs]
        return outs
    c = Compiled(build, [("float32", (8, 40))] * 3 + [("float32", (40, 128))])
    assert c.exe.texts["kernels"].count("_pack_") == 2
    _check(c, *[_rand((8, 40)) for _ in range(3)], _rand((40, 128)))


SWAPPED = [  # C with few columns: the nest computes C^T = B^T A^T
    ((300, 64), (64, 10), False, False),     # classifier logits
    ((200, 50), (12, 50), False, True),      # B transposed
    ((70, 130), (70, 9), True, False),       # A transposed (a weight gradient)
]


@pytest.mark.parametrize("a_shape,b_shape,ta,tb", SWAPPED)
def test_few_columns_take_the_transposed_product(a_shape, b_shape, ta, tb, cpu):
    c = _matmul(a_shape, b_shape, ta, tb, threads=2, cpu=cpu)
    assert "_pack_" in c.exe.texts["kernels"]
    _check(c, _rand(a_shape), _rand(b_shape))


def test_transposed_product_with_symbolic_reduction_and_epilogue(cpu):
    c = _matmul((None, 96), (None, 10), ta=True, epilogue=True, threads=2, cpu=cpu)
    assert "_pack_" in c.exe.texts["kernels"]
    for batch in (0, 5, 77):
        _check(c, _rand((batch, 96)), _rand((batch, 10)), _rand((10,)))


def test_the_schedule_follows_the_target_vector_width():
    from compiler.backends.llvm.target import vector_bytes
    assert [cpu_schedule(c).matmul.j_vec for c in ("x86-64-v4", "x86-64-v3", "x86-64-v2",
                                                    "x86-64")] == [32, 16, 8, 8]
    flags = host_flags()
    want = 64 if "avx512f" in flags else 32 if "avx2" in flags else 16
    assert vector_bytes("host") == vector_bytes("") == want
    assert cpu_schedule("host").matmul.j_vec == want // 2 == _tile_columns("host")


def test_a_panel_wider_than_the_avx2_tile_keeps_its_columns():
    # 24 columns: on AVX2 one 16-column panel and 8 columns past it (fewer than one panel
    # of AVX-512's 32 columns)
    c = _matmul((70, 300), (300, 24), cpu="x86-64-v3")
    assert "_pack_" in c.exe.texts["kernels"]
    _check(c, _rand((70, 300)), _rand((300, 24)))


def test_transposed_product_with_symbolic_rows_and_epilogue(cpu):
    # classifier logits over a fed batch: C (batch x 10) = C^T's columns, packed A^T in
    # panels whose count follows the batch; batches below one panel take the one-column
    # path only
    c = _matmul((None, 96), (96, 10), epilogue=True, threads=2, cpu=cpu)
    assert "_pack_" in c.exe.texts["kernels"]
    for batch in (0, 1, 15, 32, 33, 257):
        _check(c, _rand((batch, 96)), _rand((96, 10)), _rand((10,)))
