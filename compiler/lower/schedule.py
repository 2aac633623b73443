"""Per-target schedules: the target-specific choices that lowering takes as input.

Lowering (compiler/lower) decides every index and value of a kernel; a few of its
choices depend on the machine the kernels run on, and those come in as a `Schedule`
(`lower_program(program, plan, schedule)`), so the shared lowering holds no machine
constants and each backend states its own:

- the CPU (compiler/backends/llvm/target.py `cpu_schedule(target_cpu)`): `MatmulTiles`,
  the loop nests of matmul kernels, whose register tile follows the target's vector
  width (`matmul_tiles(vector_bytes)`: two vectors of float32 per tile row, 8 rows on
  AVX-512 and 4 on narrower targets), and
  `ConvTiles`, the register tile of the direct convolution (`conv_tiles(vector_bytes)`);
- CUDA (compiler/backends/cuda/nests.py `CUDA_SCHEDULE`): its own loop nest for matmul
  groups (`group_rule`); how loops map onto threads and blocks is the CUDA emitter's
  choice, made per kernel from `Kernel.kind` and the kernel's statements.

A schedule is a function of the compile options (target_cpu and, for "host", this CPU's
features; device), which the compile cache key already holds, so it adds nothing to the
key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class MatmulTiles:
    """The CPU matmul nests (compiler/lower/matmul_nests.py): the plain i-k-j nest's unrolling
    and row block, and the packed, register-tiled nest's tiles."""
    vector_bytes: int = 64   # the target's SIMD register width (64: AVX-512, 32: AVX2)
    k_unroll: int = 4        # rows of B that one pass of the i-k-j nest accumulates
    m_block: int = 4         # output rows that one pass of the i-k-j nest computes
    #: a task of the packed nest computes an m_tile x n_tile block of the output; each
    #: K x j_vec panel of packed B stays in the core's L2 while the task's row blocks
    #: stream past it, and each micro_rows x n_tile strip being accumulated stays in L1
    m_tile: int = 64
    n_tile: int = 256
    j_vec: int = 32          # columns of the register tile (two vectors per row)
    micro_rows: int = 4      # rows of the register tile
    pack_min: int = 64 * 64  # B (K x N elements) at least this large takes the packed nest

    def __post_init__(self):
        if self.n_tile % self.j_vec:
            raise ValueError("a task's columns must be whole panels (n_tile % j_vec)")


def matmul_tiles(vector_bytes: int) -> MatmulTiles:
    """The matmul tiles for a target whose widest vector is `vector_bytes` bytes: a
    register tile of micro_rows x (2 vectors of float32) accumulators, which with the two
    vectors of a packed B row and a broadcast element of A fits the vector registers:
    AVX-512's 32 hold 8 x 2 zmm accumulators (16, enough independent FMAs to cover two
    FMA units' latency), AVX2's 16 hold 4 x 2 ymm (measured on an AVX-512 Xeon, 1
    thread, AVX2 code: 4 x 2 reaches ~80 GFLOP/s there, 6 x 2 less)."""
    return MatmulTiles(vector_bytes=vector_bytes, j_vec=2 * vector_bytes // 4,
                       micro_rows=8 if vector_bytes >= 64 else 4)


@dataclass(frozen=True)
class ConvTiles:
    """The CPU's register-blocked direct convolution (compiler/lower/conv_nests.py): a
    register tile of `micro_rows` consecutive output positions (along the last spatial
    axis) x `vec_lanes` bytes of output channels, the filter packed in panels of that
    many channels."""
    vector_bytes: int = 64   # the target's SIMD register width
    vectors: int = 2         # vectors of output channels per tile row (a panel's width)
    micro_rows: int = 6      # output positions per register tile
    #: batch tiling (the filter gradient): the window rows of a block of the packed
    #: filter that every output position uses before the next block, about half of L2
    panel_block_bytes: int = 512 * 1024

    def j_vec(self, itemsize: int) -> int:
        """Output channels per panel for elements of `itemsize` bytes."""
        return self.vectors * self.vector_bytes // itemsize


def conv_tiles(vector_bytes: int) -> ConvTiles:
    """The conv tile for a target whose widest vector is `vector_bytes` bytes:
    micro_rows x 2 vector accumulators, which with a filter row and a broadcast input
    element fit the vector registers (AVX-512: 32 registers, 6 x 2 accumulators; AVX2
    and narrower: 16, 4 x 2)."""
    return ConvTiles(vector_bytes=vector_bytes, micro_rows=6 if vector_bytes >= 64 else 4)


@dataclass(frozen=True)
class Schedule:
    target: str                          # what it was made for ("host (avx512f)", "cuda")
    matmul: MatmulTiles = MatmulTiles()  # the CPU matmul nests (unused by a group rule
    #                                      that builds matmul kernels itself)
    #: (builder, group, out) -> statements of one group's kernel: a backend's own loop
    #: nests for some group kinds; None: compiler/lower/nests.py `lower_group`
    group_rule: Callable | None = None
    #: the CPU conv tile; None: every conv takes the generic nest (CUDA's choice)
    conv: ConvTiles | None = None
