"""The run counter inside a loop: `fold_iteration(counter, k)` is the counter that the
random draws of a `while` loop's cond and body see in iteration `k` (0-based), so each
iteration draws new numbers. The interpreter (compiler/interpret), the LLVM entry point
(compiler/backends/llvm/emit.py, the same integer steps in IR) and the CUDA runtime
(runtime/cuda_executable.py) all use this one definition; nested loops fold once per
level, outermost first.

    z = counter + (k + 1) * 0x9E3779B97F4A7C15          (mod 2^64)
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    fold = z ^ (z >> 31)

(SplitMix64's finalizer, a bijection of z: two (counter, k) pairs with the same z — the
only way two iterations could share draws — need counters that differ by a multiple of
the golden-ratio constant.)
"""

from __future__ import annotations

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


def fold_iteration(counter: int, k: int) -> int:
    z = (int(counter) + (int(k) + 1) * GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * MIX1) & MASK
    z = ((z ^ (z >> 27)) * MIX2) & MASK
    return z ^ (z >> 31)
