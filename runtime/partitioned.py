"""`PartitionedExecutable`: one step of a program split into partitions by device
(compiler/partition.py), run in this process, partition after partition (issue 17,
item 3; docs/execution.md, "Mixed CPU/GPU in one process").

It has the `Executable` interface (runtime/executable.py). A step is a list of `Step`s
in a correct order; values live in numbered slots: the client's feeds first, then one
per tensor a partition produces for another partition or for the client. A partition's
run takes its slots' values as feeds and fills its output slots; a transfer between a
CPU and a GPU partition is a host numpy array (a GPU partition copies its feeds in and
returns numpy outputs), so every send/recv pair of the step is a copy in this schedule.

Variables: the caller takes `store.access(exe)` once around the whole step (this
executable's `variable_access` is the strongest of its partitions'), so writers take
turns for the whole step as with one program; each partition commits its own assigns
when it finishes (the partitioner checks that no later partition then reads a variable
a one-program run would have seen unassigned).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .executable import Executable, into_out
from .variables import READ, WRITE, WRITE_IN_PLACE

_STRENGTH = {None: 0, READ: 1, WRITE: 2, WRITE_IN_PLACE: 3}


class Step(NamedTuple):
    exe: object         # an Executable (one partition's program)
    ins: list           # slot of each of its feeds
    outs: list          # slot of each of its outputs
    device: str         # the partition's full device name
    name: str           # "p0_CPU0": its name in dumps


class PartitionedExecutable(Executable):
    device = "cpu"      # takes host feeds: GPU feeds are copied to the host by the caller

    def __init__(self, steps, fetch_slots, slots: int):
        self.steps = list(steps)
        self.fetch_slots = list(fetch_slots)
        self.slots = slots
        self.variable_access = max((s.exe.variable_access for s in self.steps),
                                   key=_STRENGTH.__getitem__, default=None)
        self.texts = {f"{s.name}/{k}": v for s in self.steps for k, v in s.exe.texts.items()}
        self.devices = [s.device for s in self.steps]
        # a partition that updates variables in place may overwrite an array an earlier
        # partition returned (a variable's value sent on): such values are copied
        self._copied = set()
        for k, step in enumerate(self.steps):
            if step.exe.variable_access == WRITE_IN_PLACE:
                later = {i for s in self.steps[k + 1:] for i in s.ins} | set(fetch_slots)
                self._copied |= {i for s in self.steps[:k] for i in s.outs if i in later}

    def run(self, feeds, store, counter=0, out=None, trace=None) -> list:
        """One step: each partition in order against `store` with the run counter
        `counter` (so random ops draw what one program would); `out`: arrays (or None
        each) to write the fetches into; `trace`: a list receiving every partition's
        kernel records `(node, kernel, start ns, end ns, device)`."""
        env = list(feeds) + [None] * (self.slots - len(feeds))
        for step in self.steps:
            values = [env[i] for i in step.ins]
            if trace is None:
                results = step.exe.run(values, store, counter)
            else:
                records = []
                results = step.exe.run(values, store, counter, trace=records)
                trace.extend((*r[:4], step.device) for r in records)
            for i, r in zip(step.outs, results):
                env[i] = np.array(r) if i in self._copied else r
        results = [env[i] for i in self.fetch_slots]
        return into_out(results, out)
