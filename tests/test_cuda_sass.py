"""compiler/backends/cuda/sass.py: the SASS reader that the static performance checks
(tests/test_cuda_sass_*.py) stand on, checked on a kernel whose shape is known."""

from __future__ import annotations

import compiler as fc
from compiler.backends.cuda import sass
from compiler.convert import convert
from compiler.pipeline import build_program
from passes.manager import run_pipeline

GPU = fc.CompileOptions(device="gpu")


def gpu_executable(build, shapes, dtype=fc.float32):
    """build(*placeholders) compiled for the GPU (no GPU needed): a CudaExecutable."""
    with fc.Graph().as_default() as g:
        phs = [fc.placeholder(dtype, s) for s in shapes]
        outs = build(*phs)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        program, _ = run_pipeline(convert(g, outs, phs), GPU)
    return build_program(program, GPU)


def gpu_cubin(build, shapes, dtype=fc.float32):
    """The cubin of build(*placeholders) compiled for the GPU."""
    return gpu_executable(build, shapes, dtype).cubin


def test_disassembly_names_each_kernel_and_parses_its_instructions():
    cubin = gpu_cubin(lambda x: fc.exp(x) + 1.0, [[None]])
    kernels = sass.disassemble(cubin)
    assert len(kernels) == 1
    (name, instrs), = kernels.items()
    assert name.startswith("k0_")
    addrs = [i.addr for i in instrs]
    assert addrs == sorted(addrs) and len(set(addrs)) == len(addrs)
    assert sass.count(instrs, "LDG") >= 1 and sass.count(instrs, "STG") >= 1
    assert any(i.op == "EXIT" for i in instrs)
    # the grid-stride loop closes with a backward branch
    spans = sass.loops(instrs)
    assert spans and all(first < last for first, last in spans)
    body = sass.within(instrs, spans[-1])
    assert sass.count(body, "LDG") >= 1
    usage = sass.resources(cubin)[name]
    assert usage["REG"] > 0 and usage["LOCAL"] == 0 and usage["STACK"] == 0
