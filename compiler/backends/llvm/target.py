"""LLVM target setup and optimization (llvmlite 0.50 / LLVM 22, new pass manager).

`target_machine(cpu)` makes a TargetMachine for "host" (this CPU and its features) or a
named CPU (e.g. "x86-64-v3"); `optimize(module_text, opt_level, cpu)` parses, verifies
and optimizes an LLVM module (O0..O3, loop and SLP vectorization on, LLVM's loop unroller
off) and returns the llvmlite `ModuleRef` (timed as the phases "llvm.parse" and
"llvm.optimize", compiler/timings.py). No fast-math: exact IEEE order is kept (see
DESIGN.md numerics).

`cpu_schedule(cpu)` is the lowering schedule (compiler/lower/schedule.py) for that CPU:
its matmul and conv register tiles follow the CPU's widest vector (`vector_bytes`).
"""

from __future__ import annotations

import functools

import llvmlite.binding as llvm

from runtime.cpu import LEVELS
from runtime.llvm_jit import check_llvm

from ... import timings
from ...lower.schedule import Schedule, conv_tiles, matmul_tiles


@functools.lru_cache(maxsize=None)
def _init():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return True


def cpu_identity(cpu: str) -> dict:
    """{"cpu", "features"} that code compiled for `cpu` assumes: this CPU's name and
    features for "host"/"", else the named CPU and no extra features (the compile
    cache's key parts for the target, and what a Ray worker checks shipped code
    against, compiler/distributed/wire.py)."""
    if cpu not in ("host", ""):
        return {"cpu": cpu, "features": ""}
    check_llvm()
    _init()
    return {"cpu": llvm.get_host_cpu_name(), "features": llvm.get_host_cpu_features().flatten()}


def target_machine(cpu: str = "host", opt_level: int = 3, pic: bool = False):
    """A new TargetMachine (an MCJIT engine takes ownership of the one it is given, so
    machines are never shared between engines)."""
    check_llvm()  # a forked child whose parent was inside LLVM: a clear error, not a hang
    _init()
    target = llvm.Target.from_default_triple()
    if cpu in ("host", ""):
        name, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    else:
        name, features = cpu, ""
    kwargs = {"reloc": "pic", "codemodel": "default"} if pic else {}
    return target.create_target_machine(cpu=name, features=features, opt=opt_level, **kwargs)


def optimize(module_text: str, opt_level: int = 3, cpu: str = "host"):
    check_llvm()
    _init()
    with timings.phase("llvm.parse"):
        mod = llvm.parse_assembly(module_text)
        mod.verify()
    tm = target_machine(cpu, opt_level)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    if opt_level > 0:
        pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        # LLVM's loop unroller is off: the kernels carry the unrolling that pays (k steps
        # and row blocks of matmul, interleave-4 metadata on innermost loops, register
        # tiles); measured on W3/W4/W1/W5/MM it changed no run time within noise and
        # halved compile time (W3 training step: opt 1.6 -> 1.0 s, codegen 0.9 -> 0.3 s)
        pto.loop_unrolling = False
        with timings.phase("llvm.optimize"):
            pb = llvm.create_pass_builder(tm, pto)
            pm = pb.getModulePassManager()
            pm.run(mod, pb)
    return mod


#: the passes of an entry module (host schedule: loads of the buffer table, calls, error
#: checks; no arithmetic worth optimizing): locals to registers, branches merged
ENTRY_PASSES = ("sroa", "simplify_cfg")


def optimize_entry(module_text: str, cpu: str = "host"):
    """Parse, verify and run `ENTRY_PASSES` alone on an entry module (compiler/backends/
    llvm/jit.py): the O1-O3 pipelines and code generation above O0 cost W4's entry (450
    kernel calls, 750 KB of IR) 0.8 s of a 3 s compile, for code that only calls kernels.
    Returns the `ModuleRef`; emit it with a `target_machine(cpu, 0, pic=True)`."""
    check_llvm()
    _init()
    with timings.phase("llvm.parse"):
        mod = llvm.parse_assembly(module_text)
        mod.verify()
    tm = target_machine(cpu, 0)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    with timings.phase("llvm.optimize"):
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=0))
        pm = llvm.create_new_module_pass_manager()
        for name in ENTRY_PASSES:
            getattr(pm, f"add_{name}_pass")()
        pm.run(mod, pb)
    return mod


def assembly(module_ref, cpu: str = "host") -> str:
    return target_machine(cpu).emit_assembly(module_ref)


#: vector width of a CPU named neither "host" nor an x86-64 level (flowc cannot tell its
#: features): the AVX-512 tile, what every CPU target got before schedules existed
UNKNOWN_CPU_VECTOR_BYTES = 64


def _widest_vector(features) -> int:
    """Bytes of the widest vector register among LLVM feature names `features`."""
    if "avx512f" in features:
        return 64
    if "avx2" in features:
        return 32
    return 16


@functools.lru_cache(maxsize=None)
def vector_bytes(cpu: str = "host") -> int:
    """The widest vector register of `cpu`, in bytes: "host" (or "") from this CPU's
    features as LLVM reports them, an x86-64 level from the features it implies
    (runtime/cpu.py `LEVELS`: x86-64-v4 -> 64, x86-64-v3 -> 32, v2 and v1 -> 16)."""
    if cpu in ("host", ""):
        _init()
        host = llvm.get_host_cpu_features()
        return _widest_vector({f for f, on in host.items() if on})
    if cpu in LEVELS:
        return _widest_vector(LEVELS[cpu])
    return UNKNOWN_CPU_VECTOR_BYTES


def cpu_schedule(cpu: str = "host") -> Schedule:
    """The lowering schedule for kernels that run on `cpu` (a CompileOptions.target_cpu).
    It is a function of `cpu` and, for "host", of this CPU's features, which the compile
    cache key holds already (compiler/cache.py: the CPU name and host features), so the
    schedule needs no field of its own in the key."""
    width = vector_bytes(cpu)
    return Schedule(f"{cpu or 'host'} ({width}-byte vectors)", matmul_tiles(width),
                    conv=conv_tiles(width))
