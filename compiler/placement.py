"""Placement: which backend compiles a (fetches, feeds) signature.

Explicit for now (DESIGN.md): an op's device string (`with fc.device('/gpu:0')`) and
`CompileOptions(device=...)` (also through `ConfigProto(device=...)`) choose between the
CPU (LLVM) and the GPU (CUDA). Ops without a device string follow the ops that have one
(so a placeholder made outside a `with fc.device('/gpu:0')` block joins the GPU
computation that reads it); when no op names a device, the options decide. A graph whose
ops land on both devices is an error naming one CPU-placed and one GPU-placed op:
partitioning a graph across devices comes later.
"""

from __future__ import annotations

from .convert import _needed_ops
from .options import device_kind


class PlacementError(ValueError):
    """The ops of one compile are placed on more than one device."""


def _kind_of(op) -> str:
    try:
        return device_kind(op.device)
    except ValueError as e:
        raise PlacementError(f"{op.describe()}: {e}") from None


def choose_device(ops, default: str) -> str:
    """"cpu" or "gpu" for the ops `ops` (Operations), with `default` the options'
    device; PlacementError when they are placed on both."""
    first = {}
    for op in ops:
        if op.device:
            first.setdefault(_kind_of(op), op)
    if "cpu" in first and "gpu" in first:
        raise PlacementError(_mixed(first["cpu"], "with its device string "
                                    f"{first['cpu'].device!r}", first["gpu"],
                                    f"with its device string {first['gpu'].device!r}"))
    if "gpu" in first:
        return "gpu"
    if "cpu" in first:
        free = next((op for op in ops if not op.device), None)
        if default == "gpu" and free is not None:
            raise PlacementError(_mixed(first["cpu"], f"with its device string "
                                        f"{first['cpu'].device!r}", free,
                                        "by CompileOptions(device='gpu')"))
        return "cpu"
    return default


def _mixed(cpu_op, cpu_why, gpu_op, gpu_why) -> str:
    return (f"this graph places ops on both the CPU and the GPU, e.g. {cpu_op.describe()} "
            f"on the CPU ({cpu_why}) and {gpu_op.describe()} on the GPU ({gpu_why}); "
            "flowc compiles one device per run for now: place every op of these fetches "
            "on one device")


def device_for(graph_ops_roots, fed, default: str) -> str:
    """`choose_device` over the ops that the fetch ops `graph_ops_roots` need, stopping
    at the fed tensors `fed`."""
    return choose_device(_needed_ops(list(graph_ops_roots), set(fed)), default)
