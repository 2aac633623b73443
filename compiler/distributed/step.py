"""`StepPlan`: one step of a partitioned program on the cluster's workers, built once per
compiled signature and run every step.

    StepPlan(cluster, stages, feed_keys, fetch_keys)
    plan.run(feeds: {key: ndarray}, counter) -> {fetch key: ndarray}

`stages` is an ordered list of `Stage(task, partition, inputs, outputs)` (the partitions'
order, in which running them one after another is correct; each names the keys of its
inputs and outputs: client feeds and transferred tensors). The plan wires each input to
the feed or to the latest earlier stage that outputs it, and each stage after the
previous stage on the same task (a worker's stages keep their order) and after the
stages in its `after` (control edges across tasks), so the step is a DAG whose edges
are the transfers. It runs as a Ray compiled graph (`ray.dag`,
`experimental_compile`: each worker runs a loop reading its inputs from shared-memory
channels, no task submission per stage) or, until the plan earns one, as chained actor
calls with ObjectRefs (one call per stage, never per op). A Ray actor takes part in one
compiled graph at a time, so the cluster keeps one compiled plan: a plan is compiled
once it has run `COMPILE_AFTER` times and more often than the compiled one (a train
step takes it; an initializer run once never does). A plan whose tasks sit on more than
one node keeps chained calls: on a simulated three-node cluster, Ray 2.60's cross-node
channels hung the step and crashed a raylet ("experimental_mutable_object_provider.cc:154
Check failed ... Channel closed") in about half the runs.

Fetched arrays are copied on the master: Ray deserializes a stage's numpy outputs
zero-copy (read-only views of the object store or of a compiled graph's shared-memory
channel, whose buffers a held view pins: a caller keeping its fetches stalled the graph
a few steps later), and a Session's caller owns what it fetches.

Steps of one cluster take turns (`Cluster.lock`: threads sharing a Session run their
steps one after another). Every wait is bounded by the cluster's `timeout_s`; a failure
is turned into the errors of docs/execution.md ("Faults") by `Cluster.failed`
(compiler/distributed/cluster.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("flowc.distributed")

#: runs of a plan before it gets a compiled graph
COMPILE_AFTER = 2


@dataclass(frozen=True)
class Stage:
    task: str           # "/job:worker/replica:0/task:1"
    partition: str      # the key it was registered under (Cluster.register)
    inputs: tuple       # tensor keys, in the partition's feed order
    outputs: tuple      # tensor keys, in the partition's fetch order
    after: tuple = ()   # indices of earlier stages it waits for (control edges)


class StepPlan:
    def __init__(self, cluster, stages, feed_keys, fetch_keys):
        self.cluster = cluster
        self.stages = [Stage(s.task, s.partition, tuple(s.inputs), tuple(s.outputs),
                             tuple(s.after)) for s in stages]
        self.feed_keys = list(feed_keys)
        self.fetch_keys = list(fetch_keys)
        self.runs = 0
        self._compiled = None
        self._compile_failed = False
        self._wire()

    def _wire(self):
        """Per stage: its layout, the feeds it reads and the earlier stages it waits for;
        and the stages whose results come back to the master."""
        feeds = set(self.feed_keys)
        producer, last_on_task, needed = {}, {}, set(self.fetch_keys)
        for s in self.stages:
            needed.update(s.inputs)
            if s.task not in self.cluster.workers:
                raise ValueError(f"stage {s.partition!r}: no task {s.task!r} in the cluster "
                                 f"(tasks: {self.cluster.tasks})")
        self.wiring = []
        consumed = set()
        for i, s in enumerate(self.stages):
            feed_in = [k for k in s.inputs if k in feeds and k not in producer]
            ups = []
            for k in s.inputs:
                if k in producer:
                    ups.append(producer[k])
                elif k not in feeds:
                    raise ValueError(f"stage {i} ({s.partition!r} on {s.task}): input {k!r} "
                                     "is neither fed nor an output of an earlier stage")
            for j in s.after:
                if not 0 <= j < i:
                    raise ValueError(f"stage {i} ({s.partition!r}) waits for stage {j}, "
                                     "which is not an earlier stage")
                ups.append(j)
            if s.task in last_on_task:
                ups.append(last_on_task[s.task])
            ups = sorted(set(ups))
            consumed.update(ups)
            keep = tuple(k for k in s.outputs if k in needed)
            self.wiring.append(((s.partition, tuple(feed_in), s.inputs, s.outputs, keep),
                                feed_in, ups))
            for k in s.outputs:
                producer[k] = i
            last_on_task[s.task] = i
        for k in self.fetch_keys:
            if k not in producer and k not in feeds:
                raise ValueError(f"fetch {k!r} is neither fed nor an output of a stage")
        fetched = {producer[k] for k in self.fetch_keys if k in producer}
        self.returned = sorted(fetched | (set(range(len(self.stages))) - consumed))
        self.producer = producer

    # ---- running -----------------------------------------------------------------------
    def run(self, feeds: dict, counter: int) -> dict:
        """One step: {fetch key: ndarray}. Raises the worker's own error (task named) or,
        when a worker is lost or the step overruns, UnavailableError/DeadlineExceededError
        (and the cluster is broken from then on)."""
        missing = [k for k in self.feed_keys if k not in feeds]
        if missing:
            raise ValueError(f"feeds {missing} are missing for this step")
        values = [feeds[k] for k in self.feed_keys]
        with self.cluster.lock:  # steps take turns: one compiled graph, one step in flight
            self.cluster.check()
            self.runs += 1
            if self._compiled is None and self.cluster.wants_compiled(self):
                self._compile()
            try:
                if self._compiled is not None:
                    results = self._run_compiled(counter, values)
                else:
                    results = self._run_chained(counter, values)
            except Exception as e:  # noqa: BLE001  (classified: the worker's error or a fault)
                raise self.cluster.failed(e, self) from None
        merged = dict(zip(self.feed_keys, values))
        for r in results:
            merged.update(r)
        # a stage's arrays come back zero-copy: read-only views of Ray's buffers (of a
        # compiled graph's channel, which they pin while held: a caller keeping fetches
        # stalled a later step); the caller gets its own copies, as in one process
        return {k: _owned(merged[k]) if k in self.producer else merged[k]
                for k in self.fetch_keys}

    def _run_chained(self, counter, values):
        import ray
        index = {k: j for j, k in enumerate(self.feed_keys)}
        refs = []
        for s, (layout, feed_in, ups) in zip(self.stages, self.wiring):
            args = [values[index[k]] for k in feed_in] + [refs[j] for j in ups]
            refs.append(self.cluster.workers[s.task].run_stage.remote(layout, counter, *args))
        return ray.get([refs[j] for j in self.returned], timeout=self.cluster.timeout_s)

    def _run_compiled(self, counter, values):
        import ray
        ref = self._compiled.execute((counter, *values))  # one input: see _compile
        return ray.get(ref, timeout=self.cluster.timeout_s)

    def _compile(self):
        """Build and compile this plan's Ray graph (the cluster tears down the one
        compiled before); on failure the plan keeps chained calls, with one warning."""
        from ray.dag import InputNode, MultiOutputNode
        index = {k: j for j, k in enumerate(self.feed_keys)}
        try:
            # the step's input (counter, *feeds) is bound whole: the client writes one
            # channel a step that every stage reads (each picks its feeds), not one
            # channel per InputNode attribute (D2: 5 writes, 13 % of a bare step)
            with InputNode() as inp:
                nodes = []
                for s, (layout, feed_in, ups) in zip(self.stages, self.wiring):
                    picks = tuple(index[k] for k in feed_in)
                    nodes.append(self.cluster.workers[s.task].run_bundled.bind(
                        layout, picks, inp, *[nodes[j] for j in ups]))
                dag = MultiOutputNode([nodes[j] for j in self.returned])
            self.cluster.activate(self)
            self._compiled = dag.experimental_compile(
                _submit_timeout=self.cluster.timeout_s)
        except Exception as e:  # noqa: BLE001  (chained calls still work)
            self._compile_failed = True
            self.cluster.deactivate(self)
            log.warning("flowc: Ray compiled graph unavailable for this step (%s); using "
                        "chained actor calls", e)

    def release(self, kill=False):
        """Tear down this plan's compiled graph (it goes back to chained calls)."""
        compiled, self._compiled = self._compiled, None
        if compiled is not None:
            try:
                compiled.teardown(kill_actors=kill)
            except Exception as e:  # noqa: BLE001  (a dead worker's channel: nothing to free)
                log.debug("flowc: compiled graph teardown: %s", e)

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def tasks_of(self) -> dict:
        """{task: [partition keys]} of this plan."""
        out: dict = {}
        for s in self.stages:
            out.setdefault(s.task, []).append(s.partition)
        return out


def _owned(value):
    """A fetched value the caller owns: a writable copy of an array Ray handed back."""
    return np.array(value) if isinstance(value, np.ndarray) else value
