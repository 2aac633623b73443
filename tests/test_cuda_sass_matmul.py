"""Static performance checks of the matmul kernels (no GPU): the SASS of their sm_90
cubins (compiler/backends/cuda/sass.py) has the shape that makes them fast. float32
(`tiled`): at least 4 FFMA per shared load in the k-loop, all of them 128-bit (LDS.128),
the next k-step's operands loaded before the FMAs and stored after them, one barrier per
k-step; float16 (`mma`): at least 8 tensor-core HMMA per 16 along k per warp (the 64 x 32
warp tile gives 16), fragments by ldmatrix (LDSM, no scalar shared loads), operands
copied by cp.async (LDGSTS). Both: no local memory (no LDL/STL, no stack), at most 255
registers. Statements about code shape, never timings."""

from __future__ import annotations

import pytest
from test_cuda_sass import gpu_cubin

import compiler as fc
from compiler.backends.cuda import sass

SPILL = ("LDL", "STL")


def _kernel(dtype, build=None):
    build = build or (lambda a, b: fc.nn.relu(fc.matmul(a, b) + 1.0))
    cubin = gpu_cubin(build, [[None, None, None], [None, None, None]], dtype)
    (name, instrs), = sass.disassemble(cubin).items()
    return instrs, sass.resources(cubin)[name]


def _k_loop(instrs, op):
    """The innermost loop holding `op` (the k-loop of a matmul kernel)."""
    for span in sass.loops(instrs):
        body = sass.within(instrs, span)
        if sass.count(body, op):
            return body
    raise AssertionError(f"no loop holds {op}")


def _no_spill(instrs, usage):
    assert not [i for i in instrs if i.op in SPILL], "local-memory spill"
    assert usage["LOCAL"] == 0 and usage["STACK"] == 0 and usage["REG"] <= 255, usage


def test_float32_tiled_kernel_reads_shared_memory_128_bits_at_a_time():
    instrs, usage = _kernel(fc.float32)
    body = _k_loop(instrs, "FFMA")
    ffma, lds = sass.count(body, "FFMA"), sass.count(body, "LDS")
    assert lds and ffma >= 4 * lds, (ffma, lds)
    assert sass.count(body, "LDS.128") == lds, "every shared fragment load is 128-bit"
    # double-buffering: the next k-step's operands are loaded into registers before the
    # FMAs and stored to the other shared buffer after them (in flight meanwhile); one
    # barrier per k-step
    first_ffma = min(i.addr for i in body if i.op == "FFMA")
    assert [i for i in body if i.op == "LDG" and i.addr < first_ffma]
    assert [i for i in body if i.op == "STS" and i.addr > first_ffma]
    assert sass.count(body, "BAR") == 1
    _no_spill(instrs, usage)


@pytest.mark.parametrize("transpose", [False, True])
def test_float16_kernel_keeps_tensor_cores_busy(transpose):
    from compiler.backends.cuda.matmul_mma import KT
    instrs, usage = _kernel(fc.float16, lambda a, b: fc.matmul(a, b, transpose_b=transpose))
    body = _k_loop(instrs, "HMMA")
    per_k16 = sass.count(body, "HMMA.16816") / (KT // 16)
    # per warp: the SASS is what each warp runs
    assert per_k16 >= 8, per_k16
    assert sass.count(body, "LDSM") >= 1, "fragments by ldmatrix"
    scalar = [i for i in body if i.op == "LDS" and i.guard != "@!PT"]  # (@!PT: never runs)
    assert not scalar, "fragments are not packed from scalar shared loads"
    if not transpose:  # B with unit stride along j: both operands by cp.async
        assert sass.count(body, "LDGSTS") >= 1, "cp.async copies"
    _no_spill(instrs, usage)
