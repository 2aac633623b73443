"""Lowering of kernel plans to the loop-level kernel IR (`kir`)."""

from .kir import format_kernel
from .program import lower_program

__all__ = ["format_kernel", "lower_program"]
