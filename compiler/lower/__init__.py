"""Lowering of kernel plans to the loop-level kernel IR (`kir`)."""

from .kir import format_kernel
from .program import lower_program
from .schedule import MatmulTiles, Schedule, matmul_tiles

__all__ = ["MatmulTiles", "Schedule", "format_kernel", "lower_program", "matmul_tiles"]
