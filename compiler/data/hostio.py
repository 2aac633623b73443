"""The Session's host-input hook: what a run does on the host around its compiled step.

A graph with tf.data iterators or queues has a `HostIO` (`graph.host_io`). It knows:

- *sources*: placeholders that the host fills (an iterator's `get_next()` components, a
  queue's `dequeue()`, `size()`), grouped by the object that produces one value for all of
  a group's placeholders at once (`pull(session, feeds) -> list of arrays`);
- *host ops*: NoOps of the graph that act on the host (an iterator's initializer, a queue's
  enqueue or close), with the graph tensors each needs (`inputs`) and its action
  `run(session, feeds, values)`.

`Session._run_host` calls `prepare(session, fetches, feeds)`: it walks back from the
fetches through data and control inputs (stopping at fed tensors; memoized per fetch and
feed signature), runs host ops without inputs at once (an initializer, reading its feeds),
pulls ONE value per reachable source group into the feeds (a group's tensors all see the
same element; a source at its end raises `tf.errors.OutOfRangeError` before anything ran),
and returns the fetches left for the compiled step (without host ops and without source
tensors fetched directly, whose pulled values are returned as they are) plus the inputs of
host ops with inputs (string feeds, such as an iterator handle, stay on the host);
`finish(values)` runs those ops (enqueues) with their values and
rebuilds the fetch list.
"""

from __future__ import annotations

import threading

import numpy as np

from ..frontend.graph import Operation, Tensor


class HostOp:
    """A host action behind a NoOp: `run(session, feeds, values)` with the values of
    `inputs` (graph tensors computed by the same Session.run)."""

    def __init__(self, run, inputs=()):
        self.run = run
        self.inputs = list(inputs)


class HostIO:
    def __init__(self):
        self.sources: dict[Tensor, tuple] = {}   # placeholder -> (group, index in group)
        self.ops: dict[Operation, HostOp] = {}
        self.handles: dict = {}   # iterator -> its string handle (bytes)
        self.on_close: list = []  # callables(session) run when a Session closes (queues)
        self._plans: dict = {}
        self._lock = threading.Lock()

    def add_source(self, group, tensors):
        for i, t in enumerate(tensors):
            self.sources[t] = (group, i)

    def add_op(self, op: Operation, host_op: HostOp):
        self.ops[op] = host_op

    def session_closed(self, session):
        """`Session.close`: queues of that Session close, so threads blocked on them wake
        (a dequeue raises OutOfRangeError, an enqueue CancelledError)."""
        for fn in list(self.on_close):
            fn(session)

    # -- per run ------------------------------------------------------------------------
    def prepare(self, session, flat, feeds):
        groups, host_ops = self._plan(flat, feeds)
        early = [h for h in host_ops if not h.inputs]
        late = [h for h in host_ops if h.inputs]
        for h in early:
            h.run(session, feeds, [])
        pulled = {}
        for group in groups:
            for t, v in zip(group.tensors, group.pull(session, feeds)):
                pulled[t] = _host_value(v) if _host_only(t) else v
        # a component the user fed keeps the fed value (its group was pulled for the others)
        pulled = {t: v for t, v in pulled.items() if t not in feeds}
        feeds = {t: v for t, v in {**feeds, **pulled}.items() if not _host_only(t)}
        run_list = [f for f in flat if not (f in self.ops or f in pulled)]
        extra = [t for h in late for t in h.inputs]
        n = len(run_list)

        def finish(values):
            for h, k in zip(late, _offsets(late, n)):
                h.run(session, feeds, values[k:k + len(h.inputs)])
            by = dict(zip(run_list, values[:n]))
            return [pulled[f] if f in pulled else None if f in self.ops else by[f]
                    for f in flat]
        return run_list + extra, feeds, finish

    def _plan(self, flat, feeds):
        key = (tuple(flat), frozenset(feeds))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._walk(flat, feeds)
            with self._lock:
                self._plans[key] = plan
        return plan

    def _walk(self, flat, feeds):
        groups, host_ops, seen = {}, {}, set()
        stack = list(reversed(flat))
        while stack:
            x = stack.pop()
            if x in seen or (isinstance(x, Tensor) and x in feeds):
                continue
            seen.add(x)
            if isinstance(x, Tensor):
                if x in self.sources:
                    groups.setdefault(self.sources[x][0], None)
                    continue
                stack.append(x.op)
                continue
            if x in self.ops:
                host_ops.setdefault(self.ops[x], None)
                stack.extend(reversed(self.ops[x].inputs))
            stack.extend(reversed(x.inputs))
            stack.extend(reversed(x.control_inputs))
        return list(groups), list(host_ops)


def _offsets(late, start):
    out = []
    for h in late:
        out.append(start)
        start += len(h.inputs)
    return out


def _host_only(t: Tensor) -> bool:
    """A string tensor (file names, iterator handles): fetched or fed on the host, never
    compiled."""
    return t.dtype.name == "string"


def _host_value(v):
    """A string element as TF1 fetches it: `bytes` for a scalar."""
    return v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v


def host_io(graph) -> HostIO:
    """The graph's HostIO, created on first use."""
    if graph.host_io is None:
        graph.host_io = HostIO()
    return graph.host_io
