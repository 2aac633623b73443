"""NVRTC: CUDA C -> cubin for one GPU architecture (`sm_90` by default), through the pip
packages `nvidia-cuda-nvrtc` and `cuda-bindings` (the `cuda` extra).

`compile_cubin(module, arch)` returns the cubin's bytes. A compile error raises
`CudaCompileError` whose message shows NVRTC's log, the offending source lines and the
kernel and graph nodes they belong to. Options: `--fmad=false` (elementwise ops are
exact-order IEEE: no contraction except the explicit fma() of accumulations), IEEE
division and square root, no flush-to-zero (DESIGN.md numerics); TF32 never enters
CUDA C code (it is a tensor-core input format, which this backend does not use for
float32).
"""

from __future__ import annotations

import re

OPTIONS = ("--fmad=false", "--prec-div=true", "--prec-sqrt=true", "--ftz=false",
           "--std=c++17")
DEFAULT_ARCH = "sm_90"


class CudaCompileError(RuntimeError):
    """NVRTC rejected the generated CUDA C (a flowc bug: please report it with the
    message)."""


class NvrtcUnavailable(CudaCompileError):
    """The NVRTC packages are not installed."""


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as e:
        raise NvrtcUnavailable(
            "the CUDA backend needs NVRTC and the CUDA Python bindings: "
            "pip install 'flowc[cuda]' (nvidia-cuda-nvrtc, cuda-bindings)") from e
    return nvrtc


def _check(nvrtc, result, what):
    err = result[0]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise CudaCompileError(f"NVRTC {what} failed: {err!r}")
    return result[1:]


def version() -> tuple:
    nvrtc = _nvrtc()
    return tuple(_check(nvrtc, nvrtc.nvrtcVersion(), "nvrtcVersion"))


def check_arch(arch: str) -> str:
    if not re.fullmatch(r"sm_\d{2,3}[a-z]?", arch or ""):
        raise ValueError(f"CUDA architecture must look like 'sm_90' (a real architecture, "
                         f"for a cubin), got {arch!r}")
    return arch


def compile_cubin(module, arch=DEFAULT_ARCH) -> bytes:
    """The cubin of `module` (an emit.CudaModule) for `arch`."""
    nvrtc = _nvrtc()
    arch = check_arch(arch)
    source = module.source.encode()
    (prog,) = _check(nvrtc, nvrtc.nvrtcCreateProgram(source, f"{module.name}.cu".encode(),
                                                     0, [], []), "nvrtcCreateProgram")
    try:
        opts = [f"--gpu-architecture={arch}".encode()] + [o.encode() for o in OPTIONS]
        result = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if result[0] != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise CudaCompileError(format_compile_error(module, _log(nvrtc, prog), arch))
        (size,) = _check(nvrtc, nvrtc.nvrtcGetCUBINSize(prog), "nvrtcGetCUBINSize")
        if size <= 0:
            raise CudaCompileError(f"NVRTC wrote an empty cubin for {arch}")
        cubin = b" " * size
        _check(nvrtc, nvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN")
        return bytes(cubin)
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _log(nvrtc, prog) -> str:
    (size,) = _check(nvrtc, nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
    log = b" " * size
    _check(nvrtc, nvrtc.nvrtcGetProgramLog(prog, log), "nvrtcGetProgramLog")
    return log.decode(errors="replace").rstrip("\x00 \n")


def format_compile_error(module, log: str, arch: str, context=2) -> str:
    """NVRTC's log, then for each line it names: the kernel and graph nodes it belongs
    to and the source lines around it (the offending one marked `>`)."""
    lines = module.source.splitlines()
    parts = [f"NVRTC could not compile the generated CUDA C of {module.name!r} for {arch}:",
             log]
    seen = set()
    for m in re.finditer(r"\((\d+)\): (?:error|catastrophic error)", log):
        n = int(m.group(1))
        if n in seen:
            continue
        seen.add(n)
        kernel, nodes = module.kernel_at(n)
        where = f"kernel {kernel} computing {', '.join(nodes)}" if kernel else \
            "the module's support code"
        parts.append(f"\nline {n}, in {where}:")
        for i in range(max(1, n - context), min(len(lines), n + context) + 1):
            mark = ">" if i == n else " "
            parts.append(f"{mark}{i:5d} | {lines[i - 1]}")
    return "\n".join(parts)
