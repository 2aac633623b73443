"""The placer: the device of every op of a compile, with its reason, by TF1's rules.

One entry point, `place(ops, options, config) -> {op: Placement(device, reason)}`:

1. explicit: the op's device string (`with fc.device(...)` scopes merged as TF1 merges
   them, device functions, `replica_device_setter`: frontend/device_spec.py);
2. colocation: ops of one colocation group (`colocate_with`'s `_class` attr, and the
   reference edges of a variable: its `variable` op, its reads and every op that
   assigns it through its `var` attr) go where the group's anchor goes (the variable,
   else the colocated-with op, else the first member with a device);
3. ops with no device take the device of their first placed data input (TF1: `loss =
   reduce_mean(y)` stays with `y`); with no placed input, the compile's default: the
   GPU when an op of the compile is on the GPU or `CompileOptions(device='gpu')`, else
   the CPU, on `PlacementConfig.task()` (with a cluster: `default_task`, else
   /job:worker/task:0, else the first job's task 0);
4. the process's devices: /job:localhost/replica:0/task:0/device:CPU:0 and .../GPU:0
   (not with `ConfigProto(device_count={'GPU': 0})`), or with a cluster
   (`PlacementConfig.cluster`, given by a distributed Session) each task's. A
   requested device this process lacks (another job or task, GPU:1, a GPU not
   allowed) is an error naming the op, or with `allow_soft_placement` the local
   device of that type (the CPU when that type is not here), reason "soft placement";
5. `log_device_placement` writes TF1's lines ("name: (Type): /job:localhost/...") to
   stderr, once per compile (the Session's compile of a signature).

`kind_of` (the one backend of a compile, "cpu" or "gpu") is derived from the decisions;
decisions on more than one device are partitioned by compiler/partition.py (the
Session, fc.dump); `kind_of` on them is a PlacementError naming one op of each.
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
    cluster: object = None  # a train.ClusterSpec: its tasks' devices, not localhost's
    default_task: object = None  # DeviceSpec (job/replica/task) of free ops; None: task()

    @classmethod
    def of(cls, config, cluster=None) -> PlacementConfig:
        """From a ConfigProto (or None: TF1's defaults); `cluster` (a ClusterSpec, a
        ClusterDef or a dict) places over its tasks: the distributed Session passes its
        config's cluster_def, an in-process Session none."""
        if cluster is not None:
            from .train.cluster import ClusterSpec
            cluster = ClusterSpec(cluster)
        if config is None:
            return cls(cluster=cluster)
        counts = {str(k).upper(): v for k, v in (config.device_count or {}).items()}
        return cls(bool(config.allow_soft_placement), bool(config.log_device_placement),
                   counts.get("GPU", 1) > 0, cluster)

    def task(self) -> DeviceSpec:
        """The task of free ops: `default_task`, else with a cluster /job:worker/task:0
        (the first job's task 0 without a worker job), else /job:localhost."""
        if self.default_task is not None:
            spec = DeviceSpec.from_string(self.default_task)
            return DeviceSpec(spec.job, 0 if spec.replica is None else spec.replica,
                              0 if spec.task is None else spec.task)
        if self.cluster is None:
            return LOCAL
        job = "worker" if "worker" in self.cluster.jobs else self.cluster.jobs[0]
        return DeviceSpec(job, 0, min(self.cluster.task_indices(job)))

    def devices(self) -> list:
        kinds = ("CPU", "GPU") if self.gpu else ("CPU",)
        tasks = [LOCAL] if self.cluster is None else \
            [DeviceSpec(j, 0, t) for j in self.cluster.jobs
             for t in self.cluster.task_indices(j)]
        return [task.replace(device_type=k, device_index=0) for task in tasks
                for k in kinds]


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
        var = next((var_of[op.name] for op in group if op.name in var_of), None)
        if len(group) == 1 and (var is None or group[0].type == "variable"):
            continue  # alone (an assign or read alone still follows its variable op)
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
    """{op: Placement} for the Operations `ops` of one compile, in topological order (see
    the module doc); `options` is the compile's CompileOptions (its device is the
    default of ops with none), `config` the session's PlacementConfig."""
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
    free_kind = "GPU" if (gpu_op is not None or default == "gpu") and config.gpu else "CPU"
    if gpu_op is not None:
        free_why = f"no device: follows {gpu_op.name!r} on the GPU"
    else:
        free_why = f"no device: the compile's default (CompileOptions device={default!r})"
    task = config.task()
    free_spec = task.replace(device_type=free_kind, device_index=0)
    if config.cluster is not None:
        free_why += f", the default task {task.to_string()!r}"
    grouped = {}  # a colocation group with no device anywhere: anchor -> its Placement
    generators = set()  # free ops with no inputs, placed by the default for now

    def default(o):
        if not o.inputs and o not in groups:
            generators.add(o)
        return resolve(o, free_spec, free_why)

    for op in ops:
        if op in out:
            continue
        spec, why = requested.get(op, (None, free_why))
        if spec is None:
            out[op] = _free(op, out, groups, grouped, default, generators)
            continue
        why += f", device type from the compile ({free_why})"
        out[op] = resolve(op, spec.replace(device_type=free_kind, device_index=0), why)
    _follow_consumers(ops, out, generators)
    out = {op: out[op] for op in ops}
    if config.log_device_placement:
        log(out)
    return out


def _follow_consumers(ops, out, generators):
    """A free op with no inputs (a constant, a random draw) whose consumers are all on
    one other device goes there (TF1 colocates such generators with their user), so no
    transfer carries a constant."""
    users = {}
    for op in ops:
        for t in op.inputs:
            if t.op in generators:
                users.setdefault(t.op, []).append(op)
    for op, consumers in users.items():
        devices = {out[c].device for c in consumers}
        if len(devices) == 1 and out[consumers[0]].device != out[op].device:
            device = out[consumers[0]].device
            out[op] = Placement(device, f"no device, no inputs: follows its consumer "
                                        f"{consumers[0].name!r} on {device.to_string()}")


def _free(op, out, groups, grouped, default, generators=()) -> Placement:
    """The placement of an op with no device: its colocation group's (a group with no
    device anywhere goes where its anchor goes, the anchor by this rule), else the
    device of its first placed data input (TF1 keeps `loss = reduce_mean(y)` with `y`),
    else the compile's default (`default(op)`)."""
    if op in groups:
        anchor, why, _ = groups[op]
        if anchor is not op and anchor in out:
            return Placement(out[anchor].device, f"colocated with {anchor.name!r} ({why})")
        if anchor in grouped:
            found = grouped[anchor]
            return found if anchor is op else \
                Placement(found.device, f"colocated with {anchor.name!r} ({why})")
        found = grouped[anchor] = _inherited(op, out, generators) or default(op)
        return found if anchor is op else \
            Placement(found.device, f"colocated with {anchor.name!r} ({why})")
    return _inherited(op, out, generators) or default(op)


def _inherited(op, out, generators=()):
    """Its first placed data input's device (inputs from ops placed by the default for
    want of inputs count last: they follow their consumers, `_follow_consumers`)."""
    inputs = [t for t in op.inputs if t.op not in generators] + \
        [t for t in op.inputs if t.op in generators]
    for t in inputs:
        if t.op in out:
            device = out[t.op].device
            return Placement(device, f"no device: follows input {t.name!r} on "
                                     f"{device.to_string()}")
    return None


def _resolve(op, spec, why, config) -> Placement:
    """The device of this process (of the cluster, with one) that `spec` names, or soft
    placement's choice."""
    task = config.task()
    missing = None
    full = task.merge_from(spec)
    if config.cluster is None:
        if spec.job not in (None, "localhost") or spec.replica not in (None, 0) or \
                spec.task not in (None, 0):
            missing = "another job, replica or task than this process's /job:localhost/" \
                      "replica:0/task:0"
    elif full.job not in config.cluster.jobs or full.replica != 0 or \
            full.task not in config.cluster.task_indices(full.job):
        missing = f"no such task in the cluster ({_tasks(config.cluster)})"
    if missing is not None:
        pass
    elif spec.device_type not in ("CPU", "GPU") or spec.device_index not in (None, 0):
        missing = "no such device in this process"
    elif spec.device_type == "GPU" and not config.gpu:
        missing = "no GPU is allowed (ConfigProto device_count={'GPU': 0})"
    if missing is None:
        return Placement(full.replace(device_index=0), why)
    if not config.allow_soft_placement:
        have = ", ".join(d.to_string() for d in config.devices())
        where = "the cluster has" if config.cluster is not None else "this process has"
        raise PlacementError(f"{op.describe()}: cannot place it on {spec.to_string()!r} "
                             f"({why}): {missing}; {where} {have}; "
                             "ConfigProto(allow_soft_placement=True) places it on a "
                             "device it has")
    kind = "GPU" if spec.device_type == "GPU" and config.gpu else "CPU"
    if config.cluster is not None and not missing.startswith("no such task"):
        task = full   # the requested task exists: the soft choice stays on it
    device = task.replace(device_type=kind, device_index=0)
    return Placement(device, f"soft placement: {spec.to_string()!r} requested ({why}): "
                             f"{missing}")


def _tasks(cluster) -> str:
    return ", ".join(f"/job:{j}/task:{t}" for j in cluster.jobs
                     for t in cluster.task_indices(j))


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
    """The one backend ("cpu"/"gpu") of placement `decisions`; a PlacementError when they
    use both (for callers that compile one program: a mixed graph is partitioned,
    compiler/partition.py)."""
    first = {}
    for op, p in decisions.items():
        first.setdefault(p.kind, op)
    if len(first) > 1:
        cpu, gpu = first["cpu"], first["gpu"]
        raise PlacementError(
            f"this graph places ops on both the CPU and the GPU, e.g. {cpu.describe()} on "
            f"the CPU ({decisions[cpu].reason}) and {gpu.describe()} on the GPU "
            f"({decisions[gpu].reason}); this compile makes one program for one device: "
            "Session.run and fc.dump partition such a graph (compiler/partition.py)")
    return next(iter(first), options.device)
