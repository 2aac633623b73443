"""Connecting to Ray and the cluster of workers: `connect(target, cluster_spec, config)`
-> `Cluster`, the master's handle on its workers (docs/execution.md, "Workers on Ray").

Targets: "ray://local" starts a local Ray runtime (or joins the one this process already
initialized), "ray://auto" joins the cluster of this machine (`ray.init(address="auto")`),
"ray://HOST:PORT" the cluster whose GCS listens there. Each task of the cluster spec
(none: the one task `/job:localhost/replica:0/task:0`) is one `Worker` actor
(compiler/distributed/worker.py), pinned to a bundle of one placement group (a bundle per
task: `cpus_per_task` CPUs, plus a GPU for the tasks in `gpu_tasks`). The strategy is
PACK by default: tasks exchange tensors every step, and on one node they move through
shared memory, zero-copy; Ray still puts bundles on other nodes when one node is full.
SPREAD puts each task on its own node where it can (one task per machine, as TF1
clusters are usually laid out). Actors are named `NAME:TASK` in the namespace "flowc"
and a placement group `NAME`: a `connect` with the name of a live cluster replaces it
(kills its actors). Actors never restart (`max_restarts=0`): a restarted worker would
hold fresh, uninitialized variables, so a lost worker is an error (module `Faults`
section of docs/execution.md). `close()` kills the actors and removes the group.

Every wait on a worker is bounded by `timeout_s` (ConfigProto's `operation_timeout_in_ms`
when it sets one, else `DEFAULT_TIMEOUT_S`). `failed(error, plan)` turns what a step
raised into the error the master raises: the worker's own error (the same type, the
task named by the worker), or, when a worker died, did not answer, or the step overran,
`UnavailableError` / `DeadlineExceededError` naming the tasks and partitions; the cluster
is then broken and every later call raises the same error at once.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import socket
import threading

from runtime.errors import DeadlineExceededError, UnavailableError

from . import wire
from .step import COMPILE_AFTER, StepPlan
from .worker import Worker

log = logging.getLogger("flowc.distributed")

DEFAULT_TIMEOUT_S = 60.0
#: how long a failed step waits for each worker's ping before naming it unresponsive
PING_S = 5.0
NAMESPACE = "flowc"
LOCAL_TASK = "/job:localhost/replica:0/task:0"
TARGETS = ('"ray://local" (start or join a Ray runtime in this process), "ray://auto" '
           '(join this machine\'s cluster) or "ray://HOST:PORT" (join the cluster whose '
           'GCS listens there)')
#: the object store of a local runtime `connect` starts. Every process of a node maps
#: its whole store (Ray's default: 30% of RAM, 6.8 GB here); LLVM's MCJIT, which loads
#: the master's compiled programs, maps code, constants and data separately and aborts
#: when a gap that size puts them over 2 GiB apart ("RuntimeDyldELF ... Assertion
#: `isInt<32>(RealOffset)' failed", seen in the master and in workers). A store under
#: 2 GiB cannot split them; the steps' tensors pass through it one step at a time.
LOCAL_STORE_BYTES = 512 << 20
_HOST_PORT = re.compile(r"([A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})")
_names = itertools.count()


class DistributedUnavailable(ImportError):
    """Ray is not installed."""


def parse_target(target: str) -> str | None:
    """The address `ray.init` takes for `target`: None (local), "auto" or "HOST:PORT";
    ValueError naming the target and the accepted forms otherwise."""
    rest = target[len("ray://"):] if isinstance(target, str) and \
        target.startswith("ray://") else None
    if rest == "local":
        return None
    if rest == "auto":
        return "auto"
    match = _HOST_PORT.fullmatch(rest or "")
    if match and 0 < int(match.group(2)) < 65536:
        return rest
    raise ValueError(f"unknown Session target {target!r}: expected {TARGETS}")


def import_ray():
    """The ray module, or DistributedUnavailable saying how to install it."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind loopback
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
    except ImportError as e:
        raise DistributedUnavailable(
            "flowc's workers on Ray need the `ray` package: pip install "
            f"'flowc[distributed]' ({e})") from None
    return ray


def task_names(cluster_spec) -> list:
    """"/job:J/replica:0/task:I" of every task of `cluster_spec` (a ClusterSpec,
    ClusterDef or dict; None: the one local task), jobs by name, tasks by index."""
    if cluster_spec is None:
        return [LOCAL_TASK]
    from ..train.cluster import ClusterSpec
    spec = ClusterSpec(cluster_spec)
    return [f"/job:{job}/replica:0/task:{i}" for job in spec.jobs
            for i in spec.task_indices(job)]


def connect(target: str, cluster_spec=None, config=None, *, gpu_tasks=(), num_cpus=None,
            cpus_per_task=1, strategy="PACK", name=None, compiled_graphs=True,
            object_store_memory=LOCAL_STORE_BYTES):
    """A `Cluster` of one worker actor per task (module docstring). `num_cpus`: the CPUs
    of a local runtime this call starts (default: enough for every task's bundle);
    `object_store_memory`: its object store's bytes (see LOCAL_STORE_BYTES)."""
    address = parse_target(target)
    if strategy not in ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"):
        raise ValueError(f"placement strategy {strategy!r}: expected PACK or SPREAD")
    tasks = task_names(cluster_spec)
    unknown = sorted(set(gpu_tasks) - set(tasks))
    if unknown:
        raise ValueError(f"gpu_tasks {unknown} are not tasks of the cluster ({tasks})")
    ray = import_ray()
    if ray.is_initialized() and address not in (None, "auto"):
        _check_joined(ray, target, address)
    if not ray.is_initialized():
        if address is None:  # "local": a new runtime, even where `ray start` runs here or
            # $RAY_ADDRESS is set (a plain ray.init() joins those, and refuses num_cpus)
            cpus = num_cpus or max(os.cpu_count() or 1, len(tasks) * cpus_per_task)
            ray.init(address="local", num_cpus=cpus, object_store_memory=object_store_memory,
                     include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    ms = getattr(config, "operation_timeout_in_ms", 0) or 0
    timeout_s = ms / 1000 if ms > 0 else DEFAULT_TIMEOUT_S
    return Cluster(ray, tasks, set(gpu_tasks), cpus_per_task, strategy,
                   name or f"flowc-{os.getpid()}-{next(_names)}", timeout_s, compiled_graphs)


def _same_host_port(a: str, b: str) -> bool:
    (ha, _, pa), (hb, _, pb) = a.rpartition(":"), b.rpartition(":")
    try:
        return pa == pb and socket.gethostbyname(ha.strip("[]")) == \
            socket.gethostbyname(hb.strip("[]"))
    except OSError:
        return a == b


def _check_joined(ray, target, address):
    """This process is connected to Ray already: it must be the cluster `target` names."""
    current = ray.get_runtime_context().gcs_address
    if not _same_host_port(current, address):
        raise ValueError(f"Session target {target!r}: this process is connected to the Ray "
                         f"cluster at {current} already (one per process); use "
                         f"'ray://{current}' or 'ray://local', or call ray.shutdown() first")


class Cluster:
    def __init__(self, ray, tasks, gpu_tasks, cpus_per_task, strategy, name, timeout_s,
                 compiled_graphs=True):
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
        self.ray, self.tasks, self.name, self.timeout_s = ray, list(tasks), name, timeout_s
        self.compiled_graphs = compiled_graphs
        self.lock = threading.RLock()  # held by a step (step.py) and by close()
        self.broken = None            # the error every call raises once a worker is lost
        self._active = None           # the StepPlan holding the compiled graph
        self._closed = False
        self._replace_existing()
        bundles = [{"CPU": cpus_per_task, **({"GPU": 1} if t in gpu_tasks else {})}
                   for t in self.tasks]
        self.placement_group = placement_group(bundles, strategy=strategy, name=name)
        try:
            ray.get(self.placement_group.ready(), timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError:
            self._remove_group()
            free = ray.available_resources()
            raise UnavailableError(
                f"Ray could not place the {len(bundles)} task bundles {bundles} "
                f"({strategy}) within {self.timeout_s:g} s; the cluster has "
                f"{free.get('CPU', 0):g} CPUs and {free.get('GPU', 0):g} GPUs free") from None
        # pings run in their own thread ("probe"), so a worker busy in a stage answers
        remote = ray.remote(concurrency_groups={"probe": 1})(_RayWorker)
        self.workers = {}
        for i, task in enumerate(self.tasks):
            self.workers[task] = remote.options(
                name=f"{name}:{task}", namespace=NAMESPACE, num_cpus=cpus_per_task,
                num_gpus=1 if task in gpu_tasks else 0, max_restarts=0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    self.placement_group, placement_group_bundle_index=i)).remote(task)
        self.where = dict(zip(self.tasks, self._gather(
            {t: w.ping.remote() for t, w in self.workers.items()}, "start")))
        self.node_of = self.nodes()

    def _replace_existing(self):
        """Kill the actors and remove the group of a live cluster with this name."""
        from ray.util import get_placement_group
        for task in self.tasks:
            try:
                self.ray.kill(self.ray.get_actor(f"{self.name}:{task}", namespace=NAMESPACE))
            except ValueError:
                pass
        try:
            self.ray.util.remove_placement_group(get_placement_group(self.name))
        except ValueError:
            pass

    def nodes(self) -> dict:
        """{task: the Ray node id its bundle (and so its worker) was placed on}."""
        from ray.util import placement_group_table
        placed = placement_group_table(self.placement_group)["bundles_to_node_id"]
        return {task: placed[i] for i, task in enumerate(self.tasks)}

    # ---- calls to workers ------------------------------------------------------------
    def check(self):
        if self._closed:
            raise RuntimeError(f"the cluster {self.name!r} is closed")
        if self.broken is not None:
            raise self.broken

    def _gather(self, refs: dict, what: str) -> list:
        """ray.get of {task: ref}, bounded; a lost worker is a fault (`failed`)."""
        try:
            return self.ray.get(list(refs.values()), timeout=self.timeout_s)
        except Exception as e:  # noqa: BLE001  (classified below)
            raise self.failed(e, None, what, list(refs)) from None

    def _call(self, task: str, method: str, *args):
        self.check()
        if task not in self.workers:
            raise ValueError(f"no task {task!r} in the cluster (tasks: {self.tasks})")
        ref = getattr(self.workers[task], method).remote(*args)
        return self._gather({task: ref}, method)[0]

    def register(self, task: str, key: str, exe, options=None) -> None:
        """Ship a partition compiled with `options` (a CompileOptions; its target CPU and
        opt level travel with the code) to `task` once, under `key` (wire.py)."""
        target_cpu = getattr(options, "target_cpu", "")
        opt_level = getattr(options, "opt_level", 3)
        meta, blobs = wire.describe(exe, target_cpu, opt_level,
                                    f"task {task}, partition {key!r}", linked=True)
        self._call(task, "register", key, *wire.encode(meta, blobs))

    def plan(self, stages, feed_keys, fetch_keys) -> StepPlan:
        self.check()
        return StepPlan(self, stages, feed_keys, fetch_keys)

    def variable_names(self, task: str) -> list:
        return self._call(task, "variable_names")

    def get_variables(self, task: str, names) -> dict:
        return self._call(task, "get_variables", list(names))

    def set_variables(self, task: str, values: dict) -> None:
        self._call(task, "set_variables", dict(values))

    # ---- the compiled graph: one plan at a time --------------------------------------
    def wants_compiled(self, plan) -> bool:
        """Whether `plan` should take the compiled graph now (step.py's policy)."""
        if not self.compiled_graphs or plan._compile_failed or plan.runs < COMPILE_AFTER:
            return False
        if len({self.node_of[s.task] for s in plan.stages}) > 1:
            return False  # across nodes Ray 2.60's channels crashed the raylet (step.py)
        return self._active is None or plan.runs > self._active.runs

    def activate(self, plan):
        if self._active is not None and self._active is not plan:
            self._active.release()
        self._active = plan

    def deactivate(self, plan):
        if self._active is plan:
            self._active = None

    # ---- faults ----------------------------------------------------------------------
    def failed(self, error, plan, what="step", tasks=None) -> Exception:
        """The exception to raise for `error` (module docstring)."""
        ray = self.ray
        cause = getattr(error, "cause", None)
        if isinstance(error, ray.exceptions.RayTaskError) and isinstance(cause, Exception) \
                and not isinstance(cause, ray.exceptions.RayError):
            return cause  # the worker's own error; it names its task and partition
        if not isinstance(error, (ray.exceptions.RayError, TimeoutError)):
            return error
        partitions = plan.tasks_of() if plan is not None else {}
        lost = self._diagnose(tasks or list(partitions) or self.tasks)
        if lost:
            detail = "; ".join(
                f"task {t}{_parts(partitions.get(t))} {why}" for t, why in lost.items())
            self.broken = UnavailableError(
                f"{what} failed: {detail} ({type(error).__name__}). The cluster "
                f"{self.name!r} is unusable: close the Session and start a new one, then "
                "restore the latest checkpoint (docs/execution.md, 'Faults')")
        else:
            busy = ", ".join(f"{t}{_parts(p)}" for t, p in partitions.items())
            self.broken = DeadlineExceededError(
                f"{what} did not finish within {self.timeout_s:g} s "
                f"(operation_timeout_in_ms); every worker answers, so a stage is still "
                f"running on one of: {busy or ', '.join(self.tasks)} ({error})")
        return self.broken

    def _diagnose(self, tasks) -> dict:
        """{task: why} of the workers that are dead or do not answer a ping in PING_S."""
        ray = self.ray
        refs = {t: self.workers[t].ping.options(concurrency_group="probe").remote()
                for t in tasks}
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=PING_S)
        lost = {}
        for t, ref in refs.items():
            if ref not in ready:
                lost[t] = f"did not answer a ping within {PING_S:g} s"
                continue
            try:
                ray.get(ref, timeout=1)
            except ray.exceptions.RayError as e:
                lost[t] = f"is lost: its worker died ({type(e).__name__})"
        return lost

    def release_all(self, kill=False):
        if self._active is not None:
            self._active.release(kill)
            self._active = None

    def close(self):
        """Tear down the compiled graph, kill every worker, remove the placement group.
        Idempotent; the variables on the workers are gone."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self.release_all(kill=True)  # a teardown that waits on no dead worker
        for w in self.workers.values():
            try:
                self.ray.kill(w)
            except Exception as e:  # noqa: BLE001  (already dead)
                log.debug("flowc: killing a worker: %s", e)
        self._remove_group()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _remove_group(self):
        try:
            self.ray.util.remove_placement_group(self.placement_group)
        except Exception as e:  # noqa: BLE001  (Ray already shut down)
            log.debug("flowc: removing the placement group: %s", e)


class _RayWorker(Worker):
    """The actor: a Worker whose process tells Ray's compiled-graph channels that torch
    is not there. Steps carry numpy arrays only, and where torch is importable Ray
    imports it in every worker when its first compiled graph starts (about 4 s of a
    step on this 2-core machine, once per worker)."""

    def __init__(self, task: str):
        super().__init__(task)
        try:
            from ray.experimental.channel import ChannelContext
            ChannelContext.get_current()._torch_available = False
        except (ImportError, AttributeError) as e:  # another Ray: it may import torch
            log.debug("flowc: Ray's channel context: %s", e)


def _parts(keys) -> str:
    return f" (partition {', '.join(repr(k) for k in keys)})" if keys else ""
