"""The GPU backend: kernel IR (the shared lowering, matmul groups with the CUDA nest) ->
CUDA C -> NVRTC cubin -> a `runtime.cuda_executable.CudaExecutable` (cubin + launch
schedule).

Works without a GPU (NVRTC only); the executable touches the GPU at its first run. Stage
text added: "cuda". Never plans kernels or touches the compile cache (the pipeline
stores the cubin and the schedule under a key that adds the device and architecture).
"""

from __future__ import annotations

from runtime.cuda_executable import CudaExecutable

from ... import timings
from ...lower import kir as K
from ..base import Backend
from ..layout import call_labels, layout_of
from . import emit, nvrtc
from .nests import CUDA_SCHEDULE


def schedule(options):
    """The CUDA schedule: matmul groups take the CUDA nest (cuda/nests.py)."""
    return CUDA_SCHEDULE


def schedule_of(lowered, module) -> list:
    """One launch description per kernel call (runtime/cuda_executable.py's schedule
    format). A call's symbol entry is a program symbol name or an int constant (shared
    kernels of unrolled steps). The host schedule's loops and branches become
    {"while": {"cond", "pred", "body"}} and {"if": {"pred", "then", "else"}} items around
    the launches (`pred`: the index of a bool scalar buffer the host reads back)."""
    index = {b.name: i for i, b in enumerate(lowered.buffers)}
    nodes = iter([node for node, _ in call_labels(lowered)])  # flat_calls order
    return _items(lowered.calls, index, module, nodes)


def _items(host, index, module, nodes) -> list:
    out = []
    for st in host:
        if isinstance(st, K.HostWhile):
            out.append({"while": {"cond": _items(st.cond, index, module, nodes),
                                  "pred": index[st.pred],
                                  "body": _items(st.body, index, module, nodes)}})
            continue
        if isinstance(st, K.HostIf):
            out.append({"if": {"pred": index[st.pred],
                               "then": _items(st.then, index, module, nodes),
                               "else": _items(st.else_, index, module, nodes)}})
            continue
        kname, buf_names, sym_names = st
        launch = module.launches[kname]
        out.append({"kernel": kname, "node": next(nodes), "mapping": launch.mapping,
                    "extent": launch.extent,
                    "work": launch.work, "threads": launch.threads,
                    "buffers": [index[n] for n in buf_names],
                    "symbols": [s if isinstance(s, str) else int(s) for s in sym_names],
                    "counter": launch.uses_counter, "can_fail": launch.can_fail,
                    "ilp": launch.ilp})
    return out


def build(lowered, signature, name, options, texts, assembly=False) -> CudaExecutable:
    with timings.phase("cuda.emit"):
        module = emit.emit_module(lowered, name=name or "flowc")
    with timings.phase("cuda.nvrtc"):
        cubin = nvrtc.compile_cubin(module, options.cuda_arch)
    texts["cuda"] = module.source
    layout = layout_of(lowered)
    return CudaExecutable(signature, layout.specs, layout.outputs, layout.updates,
                          layout.errors, cubin, schedule_of(lowered, module), texts,
                          options.cuda_arch)


BACKEND = Backend("gpu", schedule, build)
