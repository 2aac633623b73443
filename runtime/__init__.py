"""flowc runtime: loads and runs compiled programs. Imports neither `compiler`, `passes`
nor llvmlite (except `runtime.llvm_jit`, the JIT loader).

`executable` (the interface of in-process programs, `BufferSpec`), `cpu_executable`
(LLVM code), `cuda_executable` (cubin + launch schedule) over `cuda_driver` (the CUDA
driver API), `fastrun` (the CPU hot path), `aot_model` (`runtime.load`: fc.compile's
artifacts), `artifact` (their manifest), `cpu` (host CPU features), `signature` (the
boundary check), `variables` (`VariableStore`, its lock for threads), `forksafe` (locks
and state across `os.fork`), `errors`, `llvm_jit` (the JIT seam)."""

from .aot_model import Model, load
from .artifact import ArtifactError
from .signature import ArgSpec, FeedError, Signature, bind

__all__ = ["ArgSpec", "ArtifactError", "FeedError", "Model", "Signature", "bind", "load"]
