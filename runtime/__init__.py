"""flowc runtime: loads and runs compiled programs. Imports neither `compiler`, `passes`
nor llvmlite (except `runtime.llvm_jit`, the JIT loader)."""

from .signature import ArgSpec, FeedError, Signature, bind

__all__ = ["ArgSpec", "FeedError", "Signature", "bind"]
