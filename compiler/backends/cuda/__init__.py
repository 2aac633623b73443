"""The CUDA backend: kernel IR -> CUDA C (emit.py, scalar_ops.py, kernel.cu.j2) -> NVRTC
cubin (nvrtc.py) -> an artifact of cubins plus a host-side launch schedule that
runtime/cuda_executable.py runs (build.py). See docs/cuda.md."""
