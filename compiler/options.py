"""`CompileOptions`: one frozen, hashable object that controls a compile and is part of
every cache key (pipeline/opt level, disabled passes, target CPU, device, CUDA
architecture, threads, dump directory)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


@dataclass(frozen=True)
class CompileOptions:
    opt_level: int = 3                  # LLVM optimization level 0..3
    pipeline: str = "default"           # pass pipeline name ("O0" runs none)
    disabled_passes: tuple = ()         # pass names to skip
    target_cpu: str = ""                # "host", an x86-64 level/LLVM CPU name ("x86-64-v3"),
    #                                     or "" = the default of the use: this CPU for the
    #                                     JIT, the portable x86-64-v3 for fc.compile
    device: str = "cpu"                 # "cpu" (LLVM) or "gpu" (CUDA); "/gpu:0", "cuda" and
    #                                     "/device:GPU:0" mean "gpu"
    cuda_arch: str = "sm_90"            # the GPU architecture cubins are compiled for
    threads: int = field(default_factory=default_threads)
    dump_dir: str = ""                  # write per-stage dumps here when set

    def __post_init__(self):
        if not 0 <= self.opt_level <= 3:
            raise ValueError(f"opt_level must be 0..3, got {self.opt_level}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        object.__setattr__(self, "disabled_passes", tuple(self.disabled_passes))
        object.__setattr__(self, "device", device_kind(self.device))


def device_kind(name: str) -> str:
    """"cpu" or "gpu" for a device string ("", "/cpu:0", "/gpu:0", "/device:GPU:0",
    "cuda", "/job:localhost/replica:0/task:0/device:GPU:0", ...); ValueError for anything
    else. Only device 0 of each kind exists."""
    parts = [p for p in (name or "cpu").strip().lower().split("/") if p]
    parts = [p for p in parts if not p.startswith(("job:", "replica:", "task:"))] or ["cpu"]
    text = parts[-1]
    if text.startswith("device:"):
        text = text[len("device:"):]
    kind, _, index = text.partition(":")
    kind = {"cuda": "gpu", "gpu": "gpu", "cpu": "cpu"}.get(kind)
    if kind is None or index not in ("", "0") or len(parts) > 1:
        raise ValueError(f"unknown device {name!r}: flowc has '/cpu:0' and '/gpu:0'")
    return kind
