"""The compile driver for the CPU: Program -> kernel plan -> kernel IR -> LLVM IR ->
optimized module -> JIT -> runtime `Executable`.

`build_program(program, options)` returns the executable; `executable.texts` keeps the
text of each stage (kernel IR, LLVM IR before and after optimization) for dumps. It looks
the program up in the compile cache first (compiler/cache.py; a hit does no LLVM work)
and stores what it built there; `assembly=True` (dumps) bypasses the cache.
`CompileOptions(device="gpu")` hands the program to the CUDA backend
(compiler/backends/cuda/build.py) instead.
"""

from __future__ import annotations

from runtime.executable import BufferSpec, Executable
from runtime.llvm_jit import JitLibrary

from .backends.llvm import emit, target
from .ir import dims as D
from .ir.signature import program_signature
from .lower import format_kernel, lower_program
from .options import CompileOptions


def build_program(program, options: CompileOptions = None, assembly=False) -> Executable:
    from . import cache
    options = options or CompileOptions()
    if options.device == "gpu":
        from .backends.cuda.build import build_cuda
        return build_cuda(program, options, dump=assembly)
    parts = None
    if not assembly:
        exe, parts = cache.lookup(program, options)
        if exe is not None:
            return exe
    exe = _build(program, options, assembly)
    if parts is not None:
        cache.store(parts, exe, exe.texts["llvm_opt"], options)
    return exe


def _build(program, options, assembly) -> Executable:
    from passes.fusion import format_plan, plan_kernels
    plan = plan_kernels(program)
    lowered = lower_program(program, plan)
    module = emit.emit_module(lowered, name=program.name, threads=options.threads)
    llvm_text = str(module)
    ref = target.optimize(llvm_text, options.opt_level, options.target_cpu)
    index = {b.name: i for i, b in enumerate(lowered.buffers)}
    specs = [BufferSpec(b.name, b.dtype.np.name, [D.to_json(d) for d in b.shape], b.kind,
                        b.source, b.desc) for b in lowered.buffers]
    texts = {"fusion": format_plan(plan),
             "kernels": "\n\n".join(format_kernel(k) for k in lowered.kernels),
             "llvm": llvm_text, "llvm_opt": str(ref)}
    if assembly:
        texts["asm"] = target.assembly(ref, options.target_cpu)
    lib = JitLibrary(ref, target.target_machine(options.target_cpu, options.opt_level))
    return Executable(program_signature(program), specs,
                      [index[n] for n in lowered.outputs],
                      {v: index[n] for v, n in lowered.updates.items()},
                      lowered.errors, lib.address(emit.ENTRY), keepalive=lib, texts=texts,
                      lifetimes=buffer_lifetimes(lowered, index))


def buffer_lifetimes(lowered, index) -> dict:
    """buffer index -> (first call, last call) that touches it, for memory planning."""
    life = {}
    for c, (_, buf_names, _) in enumerate(lowered.calls):
        for name in buf_names:
            i = index[name]
            first, _ = life.get(i, (c, c))
            life[i] = (first, c)
    return life
