"""The placer: the device of every op of a compile, with its reason, by TF1's rules.

One entry point, `place(ops, options, config) -> {op: Placement(device, reason)}`:

1. explicit: the op's device string (`with fc.device(...)` scopes merged as TF1 merges
   them, device functions, `replica_device_setter`: frontend/device_spec.py);
2. colocation: ops of one colocation group (`colocate_with`'s `_class` attr, and the
   reference edges of a variable: its `variable` op, its reads and every op that
   assigns it through its `var` attr) go where the group's anchor goes (the variable,
   else the colocated-with op, else the first member with a device);
3. ops with no device follow the placed ops of the compile (today's rule: the GPU when
   an op of the compile is on the GPU or `CompileOptions(device='gpu')`, else the CPU);
4. the process's devices: /job:localhost/replica:0/task:0/device:CPU:0 and .../GPU:0
   (not with `ConfigProto(device_count={'GPU': 0})`). A requested device this process
   lacks (another job or task, GPU:1, a GPU not allowed) is an error naming the op,
   or with `allow_soft_placement` the local device of that type (the CPU when that
   type is not here), reason "soft placement";
5. `log_device_placement` writes TF1's lines ("name: (Type): /job:localhost/...") to
   stderr, once per compile (the Session's compile of a signature).

`device_for` (the one backend of a compile, "cpu" or "gpu") is derived from the
decisions; ops on both the CPU and the GPU are a PlacementError naming one op of each:
partitioning a program across devices comes later (issue 17).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import NamedTuple

from .convert import _needed_ops
from .frontend.device_spec import DeviceSpec

LOCAL = DeviceSpec(job="localhost", replica=0, task=0)


class PlacementError(ValueError):
    """An op cannot be placed, or the ops of one compile are on more than one device."""


class Placement(NamedTuple):
    device: DeviceSpec      # a full device of this process
    reason: str

    @property
    def kind(self) -> str:
        return self.device.device_type.lower()


@dataclass(frozen=True)
class PlacementConfig:
    """The session's placement settings (ConfigProto's)."""
    allow_soft_placement: bool = False
    log_device_placement: bool = False
    gpu: bool = True        # a GPU device exists for placement

    @classmethod
    def of(cls, config) -> PlacementConfig:
        """From a ConfigProto (or None: TF1's defaults)."""
        if config is None:
            return cls()
        counts = {str(k).upper(): v for k, v in (config.device_count or {}).items()}
        return cls(bool(config.allow_soft_placement), bool(config.log_device_placement),
                   counts.get("GPU", 1) > 0)

    def devices(self) -> list:
        kinds = ("CPU", "GPU") if self.gpu else ("CPU",)
        return [LOCAL.replace(device_type=k, device_index=0) for k in kinds]


def _requested(op):
    try:
        return DeviceSpec.from_string(op.device) if op.device else None
    except ValueError as e:
        raise PlacementError(f"{op.describe()}: {e}") from None


# ---- colocation ---------------------------------------------------------------------------
def _groups(ops):
    """{op: (anchor op, why, members)} for the ops of `ops` in a colocation group: a
    variable with its reads (identities of its value, TF1's v/read) and the ops that
    assign it (their `var` attr), and colocate_with's "loc:@name" groups."""
    parent = {}

    def find(n):
        while parent.setdefault(n, n) != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def union(a, b):
        parent[find(a)] = find(b)

    linked, named, var_of = set(), {}, {}
    for op in ops:
        var = op.attrs.get("var") if isinstance(op.attrs.get("var"), str) else None
        if var is None and op.type == "identity" and len(op.inputs) == 1 and \
                op.inputs[0].op.type == "variable":
            var = op.inputs[0].op.attrs["var"]  # a read snapshot
        if var is not None:
            union(op.name, "var:" + var)
            var_of[op.name] = var
            linked.add(op)
        for g in op._colocation:
            union(op.name, g[len("loc:@"):])
            named[op.name] = g[len("loc:@"):]
            linked.add(op)
    members = {}
    for op in ops:
        if op in linked or op.name in parent:
            members.setdefault(find(op.name), []).append(op)
    out = {}
    for group in members.values():
        if len(group) == 1:
            continue
        var = next((var_of[op.name] for op in group if op.name in var_of), None)
        if var is not None:  # the variable op, also when outside this compile
            anchor = next((op for op in group if op.type == "variable"),
                          group[0].graph._by_name.get(var, group[0]))
            why = f"reference edge of variable {var!r}"
        else:
            target = next(named[op.name] for op in group if op.name in named)
            anchor = next((op for op in group if op.name == target), None)
            why = f"colocate_with {target!r}"
            if anchor is None:  # the colocated-with op is outside this compile
                anchor = group[0].graph._by_name.get(target, group[0])
        for op in group:
            out[op] = (anchor, why, group)
    return out


# ---- the placer ---------------------------------------------------------------------------
def place(ops, options, config: PlacementConfig = None) -> dict:
    """{op: Placement} for the Operations `ops` of one compile (see the module doc);
    `options` is the compile's CompileOptions (its device is the default of ops with
    none), `config` the session's PlacementConfig."""
    config = config or PlacementConfig()
    ops = list(ops)
    requested = {op: (_requested(op), f"device {op.device!r}") for op in ops if op.device}
    groups = _groups(ops)
    for op, (anchor, why, group) in groups.items():
        source = anchor if anchor.device else next((m for m in group if m.device), None)
        if op is anchor or source is None:
            continue
        spec, own = _requested(source), requested.get(op)
        text = f"colocated with {anchor.name!r} ({why}, device {source.device!r})"
        if own is not None and own[0] != spec:
            text += f"; its own device {op.device!r} overridden"
        requested[op] = (spec, text)
    out, memo = {}, {}   # memo: (spec, reason) -> Placement (ops share few of them)

    def resolve(op, spec, why):
        found = memo.get((spec, why))
        if found is None:
            found = memo[(spec, why)] = _resolve(op, spec, why, config)
        return found

    for op in ops:  # typed requests first: the free ops follow where they land
        spec, why = requested.get(op, (None, ""))
        if spec is not None and spec.device_type is not None:
            out[op] = resolve(op, spec, why)
    default = options.device
    gpu_op = next((op for op in ops if op in out and out[op].kind == "gpu"), None)
    free_kind = "GPU" if gpu_op is not None or default == "gpu" else "CPU"
    if gpu_op is not None:
        free_why = f"no device: follows {gpu_op.name!r} on the GPU"
    else:
        free_why = f"no device: the compile's default (CompileOptions device={default!r})"
    free_spec = DeviceSpec(device_type=free_kind, device_index=0)
    for op in ops:
        if op in out:
            continue
        spec, why = requested.get(op, (None, free_why))
        if spec is None:
            out[op] = resolve(op, free_spec, why)
            continue
        why += f", device type from the compile ({free_why})"
        out[op] = resolve(op, spec.replace(device_type=free_kind, device_index=0), why)
    out = {op: out[op] for op in ops}
    if config.log_device_placement:
        log(out)
    return out


def _resolve(op, spec, why, config) -> Placement:
    """The device of this process that `spec` names, or soft placement's choice."""
    missing = None
    if spec.job not in (None, "localhost") or spec.replica not in (None, 0) or \
            spec.task not in (None, 0):
        missing = "another job, replica or task than this process's /job:localhost/" \
                  "replica:0/task:0"
    elif spec.device_type not in ("CPU", "GPU") or spec.device_index not in (None, 0):
        missing = "no such device in this process"
    elif spec.device_type == "GPU" and not config.gpu:
        missing = "no GPU is allowed (ConfigProto device_count={'GPU': 0})"
    if missing is None:
        return Placement(LOCAL.merge_from(spec).replace(device_index=0), why)
    if not config.allow_soft_placement:
        have = ", ".join(d.to_string() for d in config.devices())
        raise PlacementError(f"{op.describe()}: cannot place it on {spec.to_string()!r} "
                             f"({why}): {missing}; this process has {have}; "
                             "ConfigProto(allow_soft_placement=True) places it on a "
                             "device it has")
    kind = "GPU" if spec.device_type == "GPU" and config.gpu else "CPU"
    device = LOCAL.replace(device_type=kind, device_index=0)
    return Placement(device, f"soft placement: {spec.to_string()!r} requested ({why}): "
                             f"{missing}")


def _typed(op) -> bool:
    return bool(op.device) and DeviceSpec.from_string(op.device).device_type is not None


def _check_one_kind(ops, out, default):
    """The one-device rule of today, with today's messages: explicitly typed ops on both
    kinds, or a CPU-typed op with free ops and CompileOptions(device='gpu')."""
    first = {}
    for op in ops:
        if _typed(op):
            first.setdefault(out[op].kind, op)
    if "cpu" in first and "gpu" in first:
        raise PlacementError(_mixed(first["cpu"], _why(first["cpu"], out), first["gpu"],
                                    _why(first["gpu"], out)))
    if "cpu" in first and default == "gpu":
        free = next((op for op in ops if not op.device), None)
        if free is not None:
            raise PlacementError(_mixed(first["cpu"], _why(first["cpu"], out), free,
                                        "by CompileOptions(device='gpu')"))


def _why(op, out) -> str:
    return f"with its device string {op.device!r}" + \
        (f", {out[op].reason}" if out[op].reason.startswith(("soft", "colocated")) else "")


def _mixed(cpu_op, cpu_why, gpu_op, gpu_why) -> str:
    return (f"this graph places ops on both the CPU and the GPU, e.g. {cpu_op.describe()} "
            f"on the CPU ({cpu_why}) and {gpu_op.describe()} on the GPU ({gpu_why}); "
            "flowc compiles one device per run for now: place every op of these fetches "
            "on one device")


def log(decisions, file=None) -> None:
    """TF1's log_device_placement lines, one per op."""
    file = file or sys.stderr
    for op, p in decisions.items():
        print(f"{op.name}: ({op.type}): {p.device.to_string()}", file=file)


def placement_text(decisions) -> str:
    """The "placement" dump stage: one line per op, its device and the reason."""
    return "\n".join(f"{op.name} = {op.type} -> {p.device.to_string()}  # {p.reason}"
                     for op, p in decisions.items()) + "\n"


def decisions_for(graph_ops_roots, fed, options, config=None) -> dict:
    """`place` over the ops the fetch ops `graph_ops_roots` need, stopping at the fed
    tensors `fed`."""
    return place(_needed_ops(list(graph_ops_roots), set(fed)), options, config)


def device_for(graph_ops_roots, fed, options, config=None) -> str:
    """"cpu" or "gpu": the one backend of the compile, from the placer's decisions."""
    return kind_of(decisions_for(graph_ops_roots, fed, options, config), options)


def kind_of(decisions, options) -> str:
    """The one backend of placement `decisions`; PlacementError when they use both."""
    ops = list(decisions)
    _check_one_kind(ops, decisions, options.device)
    first = {}
    for op, p in decisions.items():
        first.setdefault(p.kind, op)
    if len(first) > 1:
        cpu, gpu = first["cpu"], first["gpu"]
        raise PlacementError(_mixed(cpu, decisions[cpu].reason, gpu, decisions[gpu].reason))
    return next(iter(first), options.device)
