"""Code generators that render the kernel IR: `llvm` (CPU) and `cuda` (GPU).

`BACKENDS[device]` is the `Backend` (base.py) of a `CompileOptions.device`: "cpu" the
LLVM JIT (llvm/jit.py), "gpu" CUDA (cuda/build.py). Each is imported on first use, so a
CPU-only process never loads the CUDA backend (jinja2 and its templates).
`layout.py` turns a lowered program's buffers into the runtime's BufferSpecs.
"""

from __future__ import annotations

from collections.abc import Mapping

DEVICES = ("cpu", "gpu")


class _Registry(Mapping):
    """device -> Backend, each imported on first use."""

    def __getitem__(self, device):
        if device == "cpu":
            from .llvm.jit import BACKEND
        elif device == "gpu":
            from .cuda.build import BACKEND
        else:
            raise KeyError(device)
        return BACKEND

    def __iter__(self):
        return iter(DEVICES)

    def __len__(self):
        return len(DEVICES)


BACKENDS = _Registry()
