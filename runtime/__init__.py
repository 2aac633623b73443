"""flowc runtime: loads and runs compiled programs. Imports neither `compiler`, `passes`
nor llvmlite (except `runtime.llvm_jit`, the JIT loader)."""

from .artifact import ArtifactError
from .loader import Model, load
from .signature import ArgSpec, FeedError, Signature, bind

__all__ = ["ArgSpec", "ArtifactError", "FeedError", "Model", "Signature", "bind", "load"]
