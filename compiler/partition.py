"""The master's partitioner: the ops of one step split by task and device, every edge
that crosses a partition a send/recv pair (issue 17, item 2; docs/execution.md,
"Partitioning").

One entry point, `partition(tensors, targets, fed, decisions) -> Partitioning`:

- the ops are the ones the fetches (`tensors`) and `targets` need, stopping at the fed
  tensors `fed` (convert's walk), placed by `decisions` (compiler/placement.py);
- each op gets a **phase**: the max over its producers (data and control inputs) of the
  producer's phase, plus one when the producer is on another device; then, in reverse,
  the latest its consumers allow (so a constant joins its user's partition; a `variable`
  op too, unless an assign of it runs in an earlier phase). A partition is
  (task, device, phase); every edge between two partitions goes to a strictly higher
  phase, so running the partitions in (phase, device) order is correct, and a
  device's ops that need a value from another device and back (A -> B -> A) land in
  two partitions of that device with B's between them. A `While`/`If` op is one op here
  (its regions are never split);
- a data edge from partition P to Q is a `Transfer(key, tensor, src, dst, op)`, one
  per (tensor, destination partition): Q's uses of a tensor share one recv. The key is
  the rendezvous key without the step: "SRC_DEVICE;DST_DEVICE;tensor:0" (a control edge:
  "SRC;DST;^op", tensor None, `op` its source op). Control edges into a partition order
  nothing more inside it: the partition order already runs the source first;
- "State within one run" (DESIGN.md): a variable's reads and assigns are colocated by
  the placer, but they may fall into different phases of its device. A partition reads
  a variable from the store when it runs, after the earlier partitions committed their
  assigns, and a recv'd read carries what the variable op's partition saw; `partition`
  checks that every read still sees what the one-program run would (the value from
  before the step's assigns unless the reader is ordered after an assign) and raises a
  `PartitionError` naming the reader and the assign where it would not.

`compile_partitions(graph, partitioning, options, ...)` compiles each partition with
`pipeline.compile_graph` for its device (feeds: its client feeds and recvs; fetches: its
client fetches and sends; the walk stops at the partition's ops: convert's `within`), and
`partitioned_executable` joins them into the runtime's `PartitionedExecutable`
(runtime/partitioned.py), which the Session runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from .convert import _ASSIGNS, _needed_ops, _preds
from .frontend.device_spec import DeviceSpec
from .placement import PlacementError


class PartitionError(PlacementError):
    """A step that cannot be split into partitions with one program's results."""


class Transfer(NamedTuple):
    key: str            # "SRC_DEVICE;DST_DEVICE;tensor" ("...;^op" for a control edge)
    tensor: object      # the Tensor sent; None for a control edge
    src: int            # index of the sending partition
    dst: int            # index of the receiving partition
    op: object = None   # the source Operation of a control edge


class Partition(NamedTuple):
    index: int
    task: DeviceSpec    # job / replica / task
    device: DeviceSpec  # the full device
    ops: tuple          # Operations, topological order
    fetches: tuple      # client-fetched tensors computed here
    targets: tuple      # client target ops here
    feeds: tuple        # client-fed tensors used here
    recvs: tuple        # Transfers into this partition
    sends: tuple        # Transfers out of it

    @property
    def kind(self) -> str:
        """"cpu" or "gpu": the backend that compiles it."""
        return self.device.device_type.lower()

    @property
    def name(self) -> str:
        """"p1_GPU0": the prefix of this partition's dump files and stage keys."""
        return f"p{self.index}_{self.device.device_type}{self.device.device_index}"


class Partitioning(NamedTuple):
    partitions: tuple   # in a correct run order
    fetches: tuple      # the client's fetched tensors, in order
    targets: tuple
    feeds: tuple        # the client's fed tensors, in order

    def transfers(self) -> list:
        return [t for p in self.partitions for t in p.recvs]


def transfer_key(src: DeviceSpec, dst: DeviceSpec, what: str) -> str:
    """The rendezvous key without the step: "SRC;DST;tensor:0" or "SRC;DST;^op"."""
    return f"{src.to_string()};{dst.to_string()};{what}"


def partition(tensors, targets, fed, decisions) -> Partitioning:
    """The partitions of the step that fetches `tensors`, runs `targets` and feeds `fed`
    (see the module doc); `decisions` the placer's {op: Placement} over its ops."""
    fed_order, fed = tuple(dict.fromkeys(fed)), set(fed)
    roots = [t.op for t in tensors if t not in fed] + list(targets)
    ops = _needed_ops(roots, fed)
    device, phase, order = {}, {}, {}
    for op in ops:
        try:
            device[op] = decisions[op].device
        except KeyError:
            raise PartitionError(f"{op.describe()} has no placement decision") from None
        order.setdefault(device[op], len(order))
        phase[op] = max((phase[p] + (device[p] != device[op]) for p in _preds(op, fed)),
                        default=0)
    # then as late as its consumers allow (a constant joins the partition that uses it,
    # rather than making one of its own)
    users = {}
    for op in ops:
        for p in _preds(op, fed):
            users.setdefault(p, []).append(op)
    assign_phases = {}
    for op in ops:
        if op.type in _ASSIGNS:
            assign_phases.setdefault(op.attrs["var"], []).append(op)
    for op in reversed(ops):
        if op not in users:
            continue
        late = min(phase[c] - (device[c] != device[op]) for c in users[op])
        # a variable's read moves only where no assign of it runs in an earlier phase
        # (it would see the assigned value): a GPU variable then joins the partition of
        # its first reader instead of sending its value through the host
        if op.type != "variable" or all(phase[a] >= late for a in
                                        assign_phases.get(op.attrs["var"], ())):
            phase[op] = late
    keys = sorted({(phase[op], order[device[op]]) for op in ops})
    devices = list(order)
    index = {k: i for i, k in enumerate(keys)}
    part_of = {op: index[(phase[op], order[device[op]])] for op in ops}
    members = [[] for _ in keys]
    for op in ops:
        members[part_of[op]].append(op)
    recvs, sends = [[] for _ in keys], [[] for _ in keys]
    seen = set()

    def cross(src, dst, tensor, op):
        what = tensor.name if tensor is not None else "^" + op.name
        if (what, dst) in seen:
            return
        seen.add((what, dst))
        key = transfer_key(devices[keys[src][1]], devices[keys[dst][1]], what)
        t = Transfer(key, tensor, src, dst, None if tensor is not None else op)
        recvs[dst].append(t)
        sends[src].append(t)

    feeds = [[] for _ in keys]
    for op in ops:
        q = part_of[op]
        inputs = op.inputs[:1] if op.type == "Print" else () if op.type == "PrintV2" \
            else op.inputs
        for t in inputs:
            if t in fed:
                if t not in feeds[q]:
                    feeds[q].append(t)
            elif part_of[t.op] != q:
                cross(part_of[t.op], q, t, None)
        for c in _preds(op, fed):
            if c in op.control_inputs and part_of[c] != q and \
                    not any(x.op is c for x in inputs if x not in fed):
                cross(part_of[c], q, None, c)
    fetches = [[] for _ in keys]
    for t in dict.fromkeys(tensors):
        if t not in fed:
            fetches[part_of[t.op]].append(t)
    own_targets = [[] for _ in keys]
    for op in dict.fromkeys(targets):
        own_targets[part_of[op]].append(op)
    parts = tuple(
        Partition(i, DeviceSpec(devices[d].job, devices[d].replica, devices[d].task),
                  devices[d], tuple(members[i]), tuple(fetches[i]), tuple(own_targets[i]),
                  tuple(feeds[i]), tuple(recvs[i]), tuple(sends[i]))
        for i, (_, d) in enumerate(keys))
    _check_state(ops, fed, part_of)
    return Partitioning(parts, tuple(tensors), tuple(targets), fed_order)


# ---- state within one run ---------------------------------------------------------------
def _check_state(ops, fed, part_of):
    """Raise where a partitioned step would show a variable read another value than the
    one program: (1) a partition that reads the variable from the store (has its
    `variable` op) after a partition that assigned it; (2) a read sent to another
    partition (the value from before the step) whose reader is ordered after an assign
    of the variable; (3) assigns of one variable in two partitions without an order."""
    before = {}
    for op in ops:
        hb = set()
        for p in _preds(op, fed):
            hb |= before[p]
            if p.type in _ASSIGNS:
                hb.add(p)
        before[op] = frozenset(hb)
    assigns, var_op, readers = {}, {}, {}
    for op in ops:
        for t in op.inputs:
            if t.op.type == "variable" and t not in fed:
                readers.setdefault(t.op, []).append(op)
        if op.type in _ASSIGNS:
            assigns.setdefault(op.attrs["var"], []).append(op)
        elif op.type == "variable":
            var_op[op.attrs["var"]] = op
    for var, group in assigns.items():
        for a in group:
            for b in group:
                if part_of[a] < part_of[b] and a not in before[b]:
                    raise PartitionError(
                        f"variable {var!r} is assigned in two partitions without an order "
                        f"between the assigns ({a.describe()}, {b.describe()}); order "
                        "them with control_dependencies")
        v = var_op.get(var)
        if v is None:
            continue
        early = next((a for a in group if part_of[a] < part_of[v]), None)
        if early is not None:
            raise PartitionError(
                f"{v.describe()} is read in a later partition than {early.describe()} "
                f"assigns it (placement splits their device into phases): the read "
                f"would see the assigned value, one program the value from before the "
                f"step; place the ops that order the read on the variable's device")
        for op in readers.get(v, ()):
            if part_of[op] == part_of[v]:
                continue
            hit = next((a for a in group if a in before[op] or a in before[v]), None)
            if hit is not None:
                raise PartitionError(
                    f"{op.describe()} reads variable {var!r} on another device than the "
                    f"variable after {hit.describe()} assigns it (a control dependency "
                    "orders them): flowc sends the value from before the step across "
                    "devices; read the assigned value (the assign's output) instead")


# ---- compiling and running the partitions -----------------------------------------------
def partition_feeds(p: Partition) -> list:
    """The arguments of a partition's program: its client feeds, then its recvs."""
    return list(p.feeds) + [t.tensor for t in p.recvs if t.tensor is not None and
                            t.tensor not in p.feeds]


def partition_fetches(p: Partition) -> tuple:
    """(fetched tensors, target ops) of a partition's program: its client fetches and
    sends, its client targets and the sources of its outgoing control edges."""
    tensors = list(dict.fromkeys(list(p.fetches) +
                                 [t.tensor for t in p.sends if t.tensor is not None]))
    targets = list(dict.fromkeys(list(p.targets) +
                                 [t.op for t in p.sends if t.tensor is None]))
    return tensors, targets


def compile_partitions(graph, partitioning: Partitioning, options, *, feed_ranks=None,
                       dump=False, dump_dir="", prepare=None, interpret=False) -> list:
    """[Compiled] of each partition, by `pipeline.compile_graph` for its device ("cpu"
    with LLVM, "gpu" with CUDA); `dump_dir` gets one folder per partition
    (`p0_CPU0/NN_stage.txt`)."""
    import os

    from .pipeline import compile_graph
    out = []
    for p in partitioning.partitions:
        tensors, targets = partition_fetches(p)
        feeds = partition_feeds(p)
        names = {t.name for t in feeds}
        ranks = {k: v for k, v in (feed_ranks or {}).items() if k in names}
        opts = options if options.device == p.kind else replace(options, device=p.kind)
        out.append(compile_graph(graph, tensors, feeds, opts, targets=targets,
                                 feed_ranks=ranks or None, dump=dump,
                                 dump_dir=dump_dir and os.path.join(dump_dir, p.name),
                                 prepare=prepare, interpret=interpret,
                                 within=frozenset(p.ops)))
    return out


def partitioned_executable(partitioning: Partitioning, executables):
    """The runtime's PartitionedExecutable of compiled partitions: slots for the client
    feeds, then one per transferred tensor; the fetches read from the slots."""
    from runtime.partitioned import PartitionedExecutable, Step
    slot = {t: i for i, t in enumerate(partitioning.feeds)}
    steps = []
    for p, exe in zip(partitioning.partitions, executables):
        tensors, _ = partition_fetches(p)
        ins = [slot[t] for t in partition_feeds(p)]
        outs = []
        for t in tensors:
            slot.setdefault(t, len(slot))
            outs.append(slot[t])
        steps.append(Step(exe, ins, outs, p.device.to_string(), p.name))
    fetch_slots = [slot[t] for t in partitioning.fetches]
    return PartitionedExecutable(steps, fetch_slots, len(slot))


def partitions_text(partitioning: Partitioning) -> str:
    """The "partitions" dump stage: each partition's device, ops, feeds, fetches, recvs
    and sends with their keys."""
    lines = []
    for p in partitioning.partitions:
        lines.append(f"partition {p.name}: {p.device.to_string()} "
                     f"({len(p.ops)} ops)")
        lines.append("  ops: " + ", ".join(op.name for op in p.ops))
        for label, items in (("feeds", p.feeds), ("fetches", p.fetches),
                             ("targets", p.targets)):
            if items:
                lines.append(f"  {label}: " + ", ".join(x.name for x in items))
        for t in p.recvs:
            lines.append(f"  recv from p{t.src}: {t.key}")
        for t in p.sends:
            lines.append(f"  send to p{t.dst}: {t.key}")
    return "\n".join(lines) + "\n"
