"""`Worker`: one task of the cluster (`/job:worker/replica:0/task:1`), run as a Ray actor
(compiler/distributed/cluster.py makes it one with `ray.remote`; this class never imports
Ray, so it is tested and read as a plain class).

A worker holds its variables (a `runtime.variables.VariableStore`, persisting across
steps and across plans) and the partitions registered with it ({partition key:
CpuExecutable}, loaded from their wire format, compiler/distributed/wire.py). It runs
one stage of a step at a time:

    run_stage(layout, counter, *args) -> {tensor key: ndarray}
    run_bundled(layout, picks, (counter, *feeds), *upstream)   (in a compiled graph)

`layout` = (partition key, feed keys, input keys, output keys, kept keys): `args` are
the values of the feed keys (in order), then one {tensor key: ndarray} dict per upstream
stage; the partition's inputs are picked by key, and of its outputs those in `kept`
(read by a later stage or fetched) are returned by key. Any exception is
raised again as the same type with the task and partition named, so the master can
re-raise it unchanged (compiler/distributed/step.py).
"""

from __future__ import annotations

import os

import numpy as np

from runtime.variables import VariableStore

from . import wire


class Worker:
    def __init__(self, task: str):
        self.task = task
        self.store = VariableStore()
        self.partitions: dict = {}

    def ping(self) -> dict:
        """Who and where this worker is (also the liveness probe of a failed step)."""
        import socket
        return {"task": self.task, "pid": os.getpid(), "host": socket.gethostname(),
                "partitions": sorted(self.partitions)}

    def register(self, key: str, meta: bytes, blobs: dict) -> list:
        """Load and keep the partition `key` (`wire.encode`'s bytes) after every check of
        wire.decode and wire.load; returns its input names. A key registered again
        replaces the old one."""
        where = f"task {self.task}, partition {key!r}"
        declared = {name: (dtype.name, shape) for name, (dtype, shape)
                    in self.store._specs.items()}
        meta, blobs = wire.decode(meta, blobs, where)
        exe = wire.load(meta, blobs, where, declared)
        for name, (dtype, shape) in meta["variables"].items():
            self.store.declare(name, dtype, shape)
        self.partitions[key] = exe
        return [a.name for a in exe.signature.inputs]

    def run_stage(self, layout, counter, *args) -> dict:
        key, feed_keys, input_keys, output_keys, kept = layout
        try:
            outs = self._run(key, feed_keys, input_keys, output_keys, counter, args)
            return {k: outs[k] for k in kept}
        except Exception as e:  # noqa: BLE001  (named and raised again, same type)
            raise _named(e, f"task {self.task}, partition {key!r}") from e

    def run_bundled(self, layout, picks, step, *upstream) -> dict:
        """`run_stage` in a compiled graph: `step` is the client's whole input of the step,
        (counter, *feed values), which every stage reads from one channel; `picks` are
        the positions of this stage's feeds among the feed values."""
        return self.run_stage(layout, step[0], *[step[1 + i] for i in picks], *upstream)

    def _run(self, key, feed_keys, input_keys, output_keys, counter, args) -> dict:
        exe = self.partitions.get(key)
        if exe is None:
            raise KeyError(f"no partition {key!r} is registered (registered: "
                           f"{sorted(self.partitions)})")
        values = dict(zip(feed_keys, args))
        for upstream in args[len(feed_keys):]:
            values.update(upstream)
        missing = [k for k in input_keys if k not in values]
        if missing:
            raise KeyError(f"inputs {missing} reached no stage of this step")
        feeds = [values[k] for k in input_keys]
        with self.store.access(exe):
            outs = exe.run(feeds, self.store, counter)
        return dict(zip(output_keys, outs))

    # ---- variables (Saver, initializers, the master's reads) -------------------------
    def variable_names(self) -> list:
        return [n for n in self.store.names()]

    def get_variables(self, names) -> dict:
        with self.store.lock.reading:
            return {n: np.array(self.store.get(n, f"on task {self.task}")) for n in names}

    def set_variables(self, values: dict) -> None:
        for name, value in values.items():
            self.store.set(name, value)


def _named(e: Exception, where: str) -> Exception:
    """`e` again, as its own type, its message prefixed with `where`."""
    message = getattr(e, "message", None) or (e.args[0] if len(e.args) == 1 else str(e))
    try:
        return type(e)(f"{where}: {message}")
    except Exception:  # noqa: BLE001  (a type whose constructor takes other arguments)
        return RuntimeError(f"{where}: {type(e).__name__}: {message}")
