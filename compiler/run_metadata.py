"""TF1's `RunOptions` / `RunMetadata` and the step statistics of a traced run, plus
`timeline.Timeline` (Chrome trace JSON of them).

`Session.run(fetches, feeds, options=RunOptions(trace_level=RunOptions.FULL_TRACE),
run_metadata=md)` asks the executable for timings of that one run (any trace level
above NO_TRACE does; without it nothing is timed, so an untraced run costs nothing): the
CPU backend calls its timed entry, which takes a CLOCK_MONOTONIC timestamp after every
kernel call; the CUDA backend waits for the GPU after each launch; the interpreter times
each node. The Session turns the records into `md.step_stats`: one `DeviceStepStats`
(`device` = the run's device, `/job:localhost/replica:0/task:0/device:CPU:0` or
`...GPU:0`) whose `node_stats` are one `NodeExecStats` per kernel call, named after the
user op the kernel computes (its fusion group's root), with TF1's fields
(`all_start_micros`, `op_start_rel_micros`, `op_end_rel_micros`, `all_end_rel_micros`,
the `_nanos` twins, `timeline_label` = "node = kernel", `thread_id`).
`SerializeToString()` gives the RunMetadata protobuf (compiler/summary/proto.py), which
`FileWriter.add_run_metadata` writes as TensorBoard's tagged run-metadata event.

Not recorded: memory statistics, partition graphs, cost graphs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .summary import proto

CPU_DEVICE = "/job:localhost/replica:0/task:0/device:CPU:0"
GPU_DEVICE = "/job:localhost/replica:0/task:0/device:GPU:0"


@dataclass
class RunOptions:
    """TF1's RunOptions: `trace_level` (NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE,
    FULL_TRACE: any level above NO_TRACE records the step's kernel timings);
    `timeout_in_ms` and the other fields are accepted and unused."""

    NO_TRACE = 0
    SOFTWARE_TRACE = 1
    HARDWARE_TRACE = 2
    FULL_TRACE = 3

    trace_level: int = 0
    timeout_in_ms: int = 0
    inter_op_thread_pool: int = 0
    output_partition_graphs: bool = False
    report_tensor_allocations_upon_oom: bool = False

    @property
    def traced(self) -> bool:
        return int(self.trace_level) > self.NO_TRACE


@dataclass
class NodeExecStats:
    node_name: str
    all_start_nanos: int
    all_end_rel_nanos: int
    timeline_label: str = ""
    thread_id: int = 0

    @property
    def all_start_micros(self) -> int:
        return self.all_start_nanos // 1000

    @property
    def op_start_rel_micros(self) -> int:
        return 0

    @property
    def op_end_rel_micros(self) -> int:
        return self.all_end_rel_nanos // 1000

    @property
    def all_end_rel_micros(self) -> int:
        return self.all_end_rel_nanos // 1000

    def SerializeToString(self) -> bytes:  # noqa: N802  (protobuf's name)
        return proto.node_exec_stats(self.node_name, self.all_start_nanos,
                                     self.all_start_nanos + self.all_end_rel_nanos,
                                     self.timeline_label, self.thread_id)


@dataclass
class DeviceStepStats:
    device: str
    node_stats: list = field(default_factory=list)


@dataclass
class StepStats:
    dev_stats: list = field(default_factory=list)

    def SerializeToString(self) -> bytes:  # noqa: N802
        return proto.step_stats([(d.device, [n.SerializeToString() for n in d.node_stats])
                                 for d in self.dev_stats])


@dataclass
class RunMetadata:
    """TF1's RunMetadata: `step_stats` is filled by a traced `Session.run`; so is
    `compile_timings` (a flowc extension), the `compiler.timings.Recorder` of the compile
    that run made (None when the run compiled nothing): `.format()` is the phase table
    `flowc compile --timings` prints, `.table()` its rows."""

    step_stats: StepStats = field(default_factory=StepStats)
    partition_graphs: list = field(default_factory=list)
    compile_timings: object = None

    def SerializeToString(self) -> bytes:  # noqa: N802
        return proto.run_metadata(self.step_stats.SerializeToString())

    def Clear(self):  # noqa: N802
        self.step_stats = StepStats()
        self.compile_timings = None


def record_step(run_metadata, trace, device: str, compiled=None):
    """Fill `run_metadata.step_stats` from an executable's trace records
    `(node name, kernel name, start ns, end ns)` of a run on `device` ("cpu"/"gpu"), and
    `compile_timings` with `compiled`, the record of the compile the run made (or None)."""
    if run_metadata is None:
        return
    if not isinstance(run_metadata, RunMetadata):
        raise TypeError(f"run_metadata must be a fc.RunMetadata, got "
                        f"{type(run_metadata).__name__}")
    name = GPU_DEVICE if device == "gpu" else CPU_DEVICE
    by_device = {}  # a partitioned step's records carry their partition's device
    for node, kernel, start, end, *where in trace:
        by_device.setdefault(where[0] if where else name, []).append(
            NodeExecStats(node, start, max(end - start, 0), f"{node} = {kernel}"))
    run_metadata.step_stats = StepStats([DeviceStepStats(d, nodes)
                                         for d, nodes in by_device.items()] or
                                        [DeviceStepStats(name, [])])
    run_metadata.compile_timings = compiled


class Timeline:
    """`timeline.Timeline(step_stats).generate_chrome_trace_format()`: the step as a
    Chrome trace (chrome://tracing, Perfetto): one complete event ("ph": "X") per node,
    one process per device, times in microseconds."""

    def __init__(self, step_stats, graph=None):
        self._step_stats = step_stats

    def generate_chrome_trace_format(self, show_dataflow=True, show_memory=False) -> str:
        events = []
        for pid, dev in enumerate(self._step_stats.dev_stats):
            events.append({"name": "process_name", "ph": "M", "pid": pid,
                           "args": {"name": f"{dev.device} Compute"}})
            for n in dev.node_stats:
                events.append({"name": n.node_name, "cat": "Op", "ph": "X", "pid": pid,
                               "tid": n.thread_id, "ts": n.all_start_nanos / 1000.0,
                               "dur": n.all_end_rel_nanos / 1000.0,
                               "args": {"name": n.node_name, "op": n.timeline_label}})
        return json.dumps({"traceEvents": events}, indent=2)
