"""`Backend`: what the compile pipeline (compiler/pipeline.py) needs from a code generator.

    schedule(options) -> Schedule    the target's choices that lowering takes
                                     (compiler/lower/schedule.py: the CPU's matmul tiles
                                     for the target's vector width, the CUDA backend's own
                                     matmul nest)
    build(lowered, signature, name, options, texts, assembly) -> executable
                                     the kernel IR to a runnable executable of the
                                     runtime; `texts` holds the stage texts so far
                                     ("fusion", "kernels"), to which the backend adds its
                                     own ("llvm", "llvm_opt", "asm" / "cuda") before the
                                     executable keeps them

A backend is a function of the lowered program and the options: it never plans kernels,
never runs passes and never touches the compile cache (the pipeline does all three).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Backend:
    device: str           # the CompileOptions.device it serves
    schedule: Callable    # options -> the Schedule that lower_program takes
    build: Callable       # (lowered, signature, name, options, texts, assembly) -> executable
