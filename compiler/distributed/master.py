"""The master of a distributed Session (issue 17 items 4-6; docs/execution.md, "The
distributed Session"): `fc.Session("ray://…", config=ConfigProto(cluster_def=…))` keeps
one `Master`, and the client process is the master.

    Master(target, graph, config)           connects: one Ray worker actor per task
    master.placement()                      the PlacementConfig of the cluster's devices
    master.executable(partitioning, compiled, options) -> RemoteExecutable
    master.store                            the Session's store-like `ClusterStore`
    master.close()

The Session places a signature with `placement()` (the cluster's tasks, CPU devices:
GPU partitions cannot be shipped yet, compiler/distributed/wire.py), partitions it by
task then device (compiler/partition.py, also when everything sits on one task: the
variables live on the workers) and compiles every partition here, on the master
(`compile_partitions`). `executable` registers each partition with its task's worker
once (key "sN/pI_CPU0": signature N) and builds the signature's `StepPlan`; the
`RemoteExecutable` it returns has the executable interface the Session runs
(`run(feeds, store, counter, out=None, trace=None)`), so fetch structures, make_callable,
host input, summaries, prints and assertions go through the Session's usual code.

`ClusterStore` is what the Session's `VariableStore` is to saver.py, variables.py
(`Variable.load`) and aot.py — `get`, `set`, `commit`, `names`, `snapshot`, `access`,
`lock.reading`, `lock.exclusive()` — with each variable mapped to the task that owns it
(the task of its `variable` op and assigns in the partitions compiled so far; for a
variable no step has used yet, the placer's decision for its ops). Its lock is the
cluster's: a save or restore runs between steps, never inside one.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import replace

import numpy as np

from runtime.executable import Executable, into_out

from ..convert import _ASSIGNS
from ..frontend.device_spec import DeviceSpec
from ..partition import partition_feeds, partition_fetches
from ..placement import PlacementConfig, PlacementError, decisions_for
from .cluster import connect, parse_target
from .step import Stage


def task_of(spec: DeviceSpec) -> str:
    """"/job:J/replica:R/task:I" of a partition's task (the worker's name)."""
    return DeviceSpec(spec.job, spec.replica or 0, spec.task or 0).to_string()


class Master:
    def __init__(self, target: str, graph, config):
        parse_target(target)  # a bad target: ValueError naming it, before any Ray import
        if config.backend != "llvm":
            raise ValueError(f"a distributed Session ({target!r}) runs programs compiled by "
                             f"LLVM on its workers; backend {config.backend!r} cannot be "
                             "shipped (use the default backend 'llvm')")
        self.target, self.graph, self.config = target, graph, config
        self.cluster = connect(target, config.cluster_def, config)
        self.store = ClusterStore(self)
        self._signatures = itertools.count(1)

    def placement(self) -> PlacementConfig:
        """The cluster's tasks as the placer's devices (CPU only: module docstring)."""
        return replace(PlacementConfig.of(self.config, self.config.cluster_def), gpu=False)

    def executable(self, partitioning, compiled, options) -> RemoteExecutable:
        """Register the compiled partitions of one signature with their workers and
        build its StepPlan (module docstring)."""
        with self.cluster.lock:  # between steps: no registration races one in flight
            return self._executable(partitioning, compiled, options)

    def _executable(self, partitioning, compiled, options) -> RemoteExecutable:
        sig = next(self._signatures)
        stages = []
        for p, c in zip(partitioning.partitions, compiled):
            task = task_of(p.task)
            self.store.own(p, task)
            key = f"s{sig}/{p.name}"
            self.cluster.register(task, key, c.executable, options)
            tensors, _ = partition_fetches(p)
            after = tuple(sorted({t.src for t in p.recvs if t.tensor is None}))
            stages.append(Stage(task, key, tuple(t.name for t in partition_feeds(p)),
                                tuple(t.name for t in tensors), after))
        plan = self.cluster.plan(stages, [t.name for t in partitioning.feeds],
                                 [t.name for t in partitioning.fetches])
        return RemoteExecutable(plan, [task_of(p.task) for p in partitioning.partitions])

    def close(self):
        self.cluster.close()


class RemoteExecutable(Executable):
    """One signature's step on the workers: the Session's executable interface over a
    StepPlan (host feeds in, numpy fetches out). Its variables live on the workers, so
    the Session's `store.access` takes nothing: the plan's steps take turns on the
    cluster's lock."""
    device = "cpu"
    variable_access = None
    texts: dict = {}

    def __init__(self, plan, devices):
        self.plan = plan
        self.devices = devices

    def run(self, feeds, store, counter=0, out=None, trace=None) -> list:
        plan = self.plan
        got = plan.run(dict(zip(plan.feed_keys, feeds)), counter)
        results = [got[k] for k in plan.fetch_keys]
        return into_out(results, out)


class _ClusterLock:
    """`reading` and `exclusive()` of a StateLock, both the cluster's step lock."""

    def __init__(self, cluster):
        self._cluster = cluster

    @property
    def reading(self):
        return self._cluster.lock

    def exclusive(self):
        return self._cluster.lock


class ClusterStore:
    """The Session's variables, held by their owners' workers (module docstring)."""

    def __init__(self, master: Master):
        self._master = master
        self._cluster = master.cluster
        self._owner: dict = {}   # variable name -> task
        self.lock = _ClusterLock(master.cluster)

    # ---- owners -------------------------------------------------------------------
    def own(self, partition, task: str):
        """Record the owner of every variable a partition reads or assigns; a variable
        placed on two tasks by two signatures is a PlacementError naming both."""
        for op in partition.ops:
            if op.type == "variable" or op.type in _ASSIGNS:
                self._claim(op.attrs["var"], task, op)

    def _claim(self, name, task, op):
        known = self._owner.setdefault(name, task)
        if known != task:
            raise PlacementError(
                f"variable {name!r} lives on task {known}, but this step places "
                f"{op.describe()} on {task}: a variable stays on one task; pin it with "
                "fc.device (or replica_device_setter) where it is created")

    def owner(self, name: str) -> str:
        """The task holding variable `name`: recorded, else placed now from its ops."""
        task = self._owner.get(name)
        if task is not None:
            return task
        ops = [op for op in self._master.graph.get_operations()
               if op.type == "variable" and op.attrs.get("var") == name]
        if not ops:
            raise KeyError(f"no variable {name!r} in the Session's graph")
        ops += [op for op in self._master.graph.get_operations()
                if op.type in _ASSIGNS and op.attrs.get("var") == name]
        master = self._master
        options = master.config.options()
        decisions = decisions_for(ops, (), options, master.placement())
        self._claim(name, task_of(decisions[ops[0]].device), ops[0])
        return self._owner[name]

    # ---- the store interface (runtime/variables.py VariableStore) ---------------------
    def access(self, exe):
        return contextlib.nullcontext()

    def declare(self, name, dtype, shape):
        """Workers declare their variables when a partition is registered."""

    def get(self, name: str, describe: str = "") -> np.ndarray:
        """A copy of the variable's value from its owner; uninitialized: the worker's
        UninitializedVariableError, naming the variable and the task."""
        with self.lock.reading:
            return self._cluster.get_variables(self.owner(name), [name])[name]

    def set(self, name: str, value):
        with self.lock.exclusive():  # a host set is a writer of its own, between steps
            self._cluster.set_variables(self.owner(name), {name: np.asarray(value)})

    def commit(self, updates: dict):
        by_task: dict = {}
        for name, value in updates.items():
            by_task.setdefault(self.owner(name), {})[name] = np.asarray(value)
        with self.lock.exclusive():
            for task, values in by_task.items():
                self._cluster.set_variables(task, values)

    def names(self) -> list:
        out = []
        for task in self._cluster.tasks:
            out.extend(self._cluster.variable_names(task))
        return list(dict.fromkeys(out))

    def __contains__(self, name) -> bool:
        return name in self.names()

    def snapshot(self) -> dict:
        with self.lock.reading:
            out = {}
            for task in self._cluster.tasks:
                names = self._cluster.variable_names(task)
                out.update(self._cluster.get_variables(task, names) if names else {})
            return out
