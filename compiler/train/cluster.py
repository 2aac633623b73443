"""TF1's cluster description and the parameter-server device function:
`tf.train.ClusterSpec` (job name -> a list of task addresses, a {task index: address}
dict, or, a flowc extension for clusters whose addresses come later (Ray), a task count)
and `tf.train.replica_device_setter` (variables round-robin over the `ps` tasks,
every other op on the worker device), as TF1's server_lib.py and device_setter.py."""

from __future__ import annotations

from dataclasses import dataclass

from ..frontend.device_spec import DeviceSpec

#: op types that replica_device_setter puts on a ps task by default (TF1's STANDARD_PS_OPS
#: in flowc's op names: "variable" is flowc's variable op)
STANDARD_PS_OPS = ("variable", "Variable", "VariableV2", "AutoReloadVariable",
                   "VarHandleOp", "MutableHashTable", "MutableHashTableV2",
                   "MutableHashTableOfTensors", "MutableHashTableOfTensorsV2",
                   "MutableDenseHashTable", "MutableDenseHashTableV2")


@dataclass(frozen=True)
class JobDef:
    """One job of a ClusterDef: its name and (task index, address or None) pairs."""
    name: str
    tasks: tuple


@dataclass(frozen=True)
class ClusterDef:
    """The plain-data form of a ClusterSpec (TF1's ClusterDef proto): its jobs, sorted
    by name."""
    job: tuple


class ClusterSpec:
    """A cluster: job names mapped to their tasks. `ClusterSpec({"ps": ["h0:2222",
    "h1:2222"], "worker": {0: "w0:2222", 3: "w3:2222"}})`, `ClusterSpec({"ps": 2,
    "worker": 2})` (task counts, no addresses), or a ClusterSpec / ClusterDef."""

    def __init__(self, cluster):
        self._jobs: dict[str, dict[int, str | None]] = {}
        if isinstance(cluster, ClusterSpec):
            cluster = cluster.as_cluster_def()
        if isinstance(cluster, ClusterDef):
            for job in cluster.job:
                self._jobs[job.name] = dict(job.tasks)
            self._counted = {j.name for j in cluster.job
                             if all(a is None for _, a in j.tasks)}
            return
        if not isinstance(cluster, dict):
            raise TypeError(f"ClusterSpec expects a dict, a ClusterSpec or a ClusterDef, "
                            f"got {cluster!r}")
        self._counted = set()
        for name, tasks in cluster.items():
            if not isinstance(name, str) or not name or "/" in name or ":" in name:
                raise ValueError(f"ClusterSpec: job name {name!r} must be a non-empty "
                                 "string without '/' or ':'")
            if isinstance(tasks, bool) or not isinstance(tasks, (int, list, tuple, dict)):
                raise TypeError(f"ClusterSpec: job {name!r}: expected a list of "
                                f"addresses, a {{task index: address}} dict or a task "
                                f"count, got {tasks!r}")
            if isinstance(tasks, int):
                if tasks < 1:
                    raise ValueError(f"ClusterSpec: job {name!r}: a task count must be "
                                     f"positive, got {tasks}")
                self._jobs[name] = {i: None for i in range(tasks)}
                self._counted.add(name)
                continue
            items = tasks.items() if isinstance(tasks, dict) else enumerate(tasks)
            job = {}
            for index, address in items:
                if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                    raise ValueError(f"ClusterSpec: job {name!r}: task index {index!r} "
                                     "is not a non-negative integer")
                if not isinstance(address, str) or not address:
                    raise ValueError(f"ClusterSpec: job {name!r} task {index}: address "
                                     f"{address!r} is not a non-empty 'host:port' string")
                job[index] = address
            self._jobs[name] = job

    @property
    def jobs(self) -> list:
        return sorted(self._jobs)

    def _job(self, job_name):
        try:
            return self._jobs[job_name]
        except KeyError:
            raise ValueError(f"no such job in the cluster spec: {job_name!r} (jobs: "
                             f"{self.jobs})") from None

    def num_tasks(self, job_name) -> int:
        return len(self._job(job_name))

    def task_indices(self, job_name) -> list:
        return sorted(self._job(job_name))

    def task_address(self, job_name, task_index) -> str:
        job = self._job(job_name)
        if task_index not in job:
            raise ValueError(f"no task {task_index!r} in job {job_name!r} (tasks: "
                             f"{sorted(job)})")
        if job[task_index] is None:
            raise ValueError(f"job {job_name!r} was given as a task count: its tasks have "
                             "no addresses")
        return job[task_index]

    def job_tasks(self, job_name) -> list:
        """The addresses of the job's tasks, None where a task index is missing."""
        job = self._job(job_name)
        return [job.get(i) for i in range(max(job) + 1)] if job else []

    def as_dict(self) -> dict:
        """job -> a list of addresses (dense task indices), a {index: address} dict
        (sparse ones) or the task count (a job given as a count)."""
        out = {}
        for name in self.jobs:
            job = self._jobs[name]
            if name in self._counted:
                out[name] = len(job)
            elif sorted(job) == list(range(len(job))):
                out[name] = [job[i] for i in range(len(job))]
            else:
                out[name] = dict(sorted(job.items()))
        return out

    def as_cluster_def(self) -> ClusterDef:
        return ClusterDef(tuple(JobDef(n, tuple(sorted(self._jobs[n].items())))
                                for n in self.jobs))

    def __eq__(self, other):
        return isinstance(other, ClusterSpec) and self.as_dict() == other.as_dict()

    def __bool__(self):
        return bool(self._jobs)

    def __repr__(self):
        return f"ClusterSpec({self.as_dict()!r})"


class _RoundRobin:
    def __init__(self, num_tasks):
        self._num_tasks, self._next = num_tasks, 0

    def __call__(self, op):
        task, self._next = self._next, (self._next + 1) % self._num_tasks
        return task


def replica_device_setter(ps_tasks=0, ps_device="/job:ps", worker_device="/job:worker",
                          merge_devices=True, cluster=None, ps_ops=None, ps_strategy=None):
    """TF1's `tf.train.replica_device_setter`: a device function for `tf.device` that
    puts the ops of `ps_ops` (variables, by default) on the ps tasks (round-robin, or
    `ps_strategy(op) -> task index`) and every other op on `worker_device`; the op's own
    device fields (from inner scopes) are merged over the chosen device. With `cluster`
    the number of ps tasks is the cluster's `ps` job's; None when there are no ps tasks
    (so `with tf.device(None)` places nothing), as TF1."""
    if cluster is not None:
        spec = cluster if isinstance(cluster, ClusterSpec) else ClusterSpec(cluster)
        ps_job = DeviceSpec.from_string(ps_device).job
        if ps_job not in spec.jobs:
            return None
        ps_tasks = spec.num_tasks(ps_job)
    if ps_tasks == 0:
        return None
    if not merge_devices:
        raise ValueError("replica_device_setter: merge_devices=False is deprecated in TF1 "
                         "and not supported")
    ps_ops = tuple(STANDARD_PS_OPS if ps_ops is None else ps_ops)
    strategy = ps_strategy or _RoundRobin(ps_tasks)
    ps_spec = DeviceSpec.from_string(ps_device)
    worker_spec = DeviceSpec.from_string(worker_device or "")

    def device_function(op):
        current = DeviceSpec.from_string(op.device or "")
        if ps_device and op.type in ps_ops:
            spec = ps_spec
            if spec.job and (not current.job or current.job == spec.job):
                spec = spec.replace(task=strategy(op))
            return spec.merge_from(current).to_string()
        return worker_spec.merge_from(current).to_string()

    return device_function
