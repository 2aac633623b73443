"""Host CPU features, read without llvmlite: which instruction-set extensions this
machine has, so an artifact built for a CPU level it lacks is refused before its code runs.

Features are named as LLVM names them (the names in an artifact's manifest, e.g. "avx2",
"bmi", "sse4.1"); `LINUX_FLAGS` maps each checkable feature to its `/proc/cpuinfo` flag.
`host_flags()` returns the set of flags of this machine, or None where the kernel does not
say (not Linux); `missing_features(required)` lists the features of `required` that this
host lacks (empty when it cannot tell). `LEVELS` gives the features of the portable x86-64
levels, which the compiler records for an artifact built for one of them.
This module never imports the compiler nor llvmlite.
"""

from __future__ import annotations

import functools

#: LLVM feature name -> Linux /proc/cpuinfo flag
LINUX_FLAGS = {
    "64bit": "lm", "adx": "adx", "aes": "aes", "amx-bf16": "amx_bf16",
    "amx-int8": "amx_int8", "amx-tile": "amx_tile", "avx": "avx", "avx2": "avx2",
    "avx512bf16": "avx512_bf16", "avx512bitalg": "avx512_bitalg", "avx512bw": "avx512bw",
    "avx512cd": "avx512cd", "avx512dq": "avx512dq", "avx512f": "avx512f",
    "avx512fp16": "avx512_fp16", "avx512ifma": "avx512ifma", "avx512vbmi": "avx512vbmi",
    "avx512vbmi2": "avx512_vbmi2", "avx512vl": "avx512vl", "avx512vnni": "avx512_vnni",
    "avx512vpopcntdq": "avx512_vpopcntdq", "avxvnni": "avx_vnni", "bmi": "bmi1",
    "bmi2": "bmi2", "clflushopt": "clflushopt", "clwb": "clwb", "cmov": "cmov", "cx16": "cx16",
    "cx8": "cx8", "f16c": "f16c", "fma": "fma", "fxsr": "fxsr", "gfni": "gfni",
    "lzcnt": "abm", "mmx": "mmx", "movbe": "movbe", "pclmul": "pclmulqdq", "popcnt": "popcnt",
    "rdrnd": "rdrand", "rdseed": "rdseed", "sahf": "lahf_lm", "sha": "sha_ni", "sse": "sse",
    "sse2": "sse2", "sse3": "pni", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "sse4a": "sse4a",
    "ssse3": "ssse3", "vaes": "vaes", "vpclmulqdq": "vpclmulqdq", "xsave": "xsave",
}

_V1 = ("64bit", "cmov", "cx8", "fxsr", "mmx", "sse", "sse2")
_V2 = _V1 + ("cx16", "popcnt", "sahf", "sse3", "sse4.1", "sse4.2", "ssse3")
_V3 = _V2 + ("avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
_V4 = _V3 + ("avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl")

#: the x86-64 micro-architecture levels (LLVM CPU names) and the features each implies
LEVELS = {"x86-64": _V1, "x86-64-v2": _V2, "x86-64-v3": _V3, "x86-64-v4": _V4}


@functools.lru_cache(maxsize=None)
def host_flags(cpuinfo: str = "/proc/cpuinfo"):
    """The CPU flags of this machine (a frozenset), or None when they cannot be read."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        return None
    return None


def missing_features(required) -> list:
    """Features in `required` (LLVM names) that this host lacks; a feature flowc cannot
    check is reported as missing, so an artifact is never run on a guess."""
    flags = host_flags()
    if flags is None:
        return []
    return [f for f in required if LINUX_FLAGS.get(f) not in flags]
