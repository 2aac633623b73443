"""The compile driver for the GPU: Program -> kernel plan -> kernel IR (the shared
lowering; matmul groups with the CUDA nest) -> CUDA C -> NVRTC cubin -> a
`runtime.gpu.CudaExecutable` (cubin + launch schedule).

Works without a GPU (NVRTC only); the executable touches the GPU at its first run. The
compile cache (compiler/cache.py) stores the cubin and the schedule under a key that
adds the device and the architecture.
"""

from __future__ import annotations

from runtime.executable import BufferSpec
from runtime.gpu import CudaExecutable

from ...ir import dims as D
from ...ir.signature import program_signature
from ...lower import format_kernel, lower_program
from . import emit, nvrtc
from .nests import CUDA_SCHEDULE


def lower_for_cuda(program):
    """(plan, LoweredProgram) of `program` as the CUDA backend lowers it."""
    from passes.fusion import plan_kernels
    plan = plan_kernels(program)
    return plan, lower_program(program, plan, CUDA_SCHEDULE)


def schedule_of(lowered, module) -> list:
    """One launch description per kernel call (runtime/gpu.py's schedule format). A
    call's symbol entry is a program symbol name or an int constant (shared kernels of
    unrolled steps)."""
    index = {b.name: i for i, b in enumerate(lowered.buffers)}
    out = []
    for kname, buf_names, sym_names in lowered.calls:
        launch = module.launches[kname]
        out.append({"kernel": kname, "mapping": launch.mapping, "extent": launch.extent,
                    "work": launch.work, "threads": launch.threads,
                    "buffers": [index[n] for n in buf_names],
                    "symbols": [s if isinstance(s, str) else int(s) for s in sym_names],
                    "counter": launch.uses_counter, "can_fail": launch.can_fail,
                    "ilp": launch.ilp})
    return out


def build_cuda(program, options, dump=False) -> CudaExecutable:
    from ... import cache
    parts = None
    if not dump:
        exe, parts = cache.lookup_cuda(program, options)
        if exe is not None:
            return exe
    exe = _build(program, options)
    if parts is not None:
        cache.store_cuda(parts, exe)
    return exe


def _build(program, options) -> CudaExecutable:
    from passes.fusion import format_plan
    plan, lowered = lower_for_cuda(program)
    module = emit.emit_module(lowered, name=program.name or "flowc")
    cubin = nvrtc.compile_cubin(module, options.cuda_arch)
    specs = [BufferSpec(b.name, b.dtype.np.name, [D.to_json(d) for d in b.shape], b.kind,
                        b.source, b.desc) for b in lowered.buffers]
    index = {b.name: i for i, b in enumerate(lowered.buffers)}
    texts = {"fusion": format_plan(plan),
             "kernels": "\n\n".join(format_kernel(k) for k in lowered.kernels),
             "cuda": module.source}
    return CudaExecutable(program_signature(program), specs,
                          [index[n] for n in lowered.outputs],
                          {v: index[n] for v, n in lowered.updates.items()},
                          lowered.errors, cubin, schedule_of(lowered, module), texts,
                          options.cuda_arch)
