"""`fc.summary.FileWriter`: TF1's event file writer.

`FileWriter(logdir, graph=None, flush_secs=120, filename_suffix="")` creates
`logdir/events.out.tfevents.<time>.<host>.<pid>` (TFRecords of `Event` protobufs, the
format TensorBoard reads; compiler/summary/records.py and proto.py) starting with the
`brain.Event:2` version event, and writes the graph when given. `add_graph(graph)`,
`add_summary(summary_bytes, global_step)`, `flush()`, `close()` as in TF1. flowc's
extension `add_compiled_graph(fetches, feeds=None, options=None)` writes the graph after
the passes and fusion, each kernel a `kernel_<n>_<kind>` group, to the run
`logdir/compiled` (TensorBoard lists it next to the user graph's run). Events are
written as they come and flushed every `flush_secs` and at `flush()` / `close()`.
"""

from __future__ import annotations

import itertools
import os
import socket
import time

from . import proto
from .records import record

_counter = itertools.count()
COMPILED_RUN = "compiled"


class FileWriter:
    def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120,
                 filename_suffix="", session=None, graph_def=None):
        self._logdir = str(logdir)
        os.makedirs(self._logdir, exist_ok=True)
        self.flush_secs = flush_secs
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_counter)}{filename_suffix or ''}")
        self.path = os.path.join(self._logdir, name)
        self._file = open(self.path, "wb")
        self._last_flush = time.monotonic()
        self._closed = False
        self.add_event(proto.event(time.time(), file_version="brain.Event:2"))
        if graph is not None or graph_def is not None:
            self.add_graph(graph, graph_def=graph_def)

    def get_logdir(self) -> str:
        return self._logdir

    def add_event(self, event: bytes):
        """Write one serialized `Event`."""
        if self._closed:
            raise RuntimeError(f"the FileWriter of {self._logdir!r} is closed")
        self._file.write(record(event))
        if time.monotonic() - self._last_flush >= self.flush_secs:
            self.flush()

    def add_graph(self, graph, global_step=None, graph_def=None):
        """Write `graph` (a flowc Graph, e.g. `sess.graph`) as a GraphDef; `graph_def`
        may give serialized GraphDef bytes instead."""
        if graph_def is None:
            from .graphdef import user_graph_def
            graph_def = user_graph_def(graph)
        self.add_event(proto.event(time.time(), global_step or 0, graph=graph_def))
        self.flush()

    def add_summary(self, summary, global_step=None):
        """Write a summary: the bytes `Session.run` returned for a summary op (or any
        object with `SerializeToString()`), at step `global_step`."""
        if hasattr(summary, "SerializeToString"):
            summary = summary.SerializeToString()
        if not isinstance(summary, (bytes, bytearray)):
            raise TypeError(f"add_summary takes the bytes of a fetched summary, got "
                            f"{type(summary).__name__}")
        step = 0 if global_step is None else int(global_step)
        self.add_event(proto.event(time.time(), step, summary=bytes(summary)))

    def add_run_metadata(self, run_metadata, tag, global_step=None):
        """Write TF1's tagged RunMetadata event (TensorBoard's per-step compute time view):
        `run_metadata` is what a `Session.run(..., options=RunOptions(trace_level=
        FULL_TRACE), run_metadata=...)` filled (anything with `SerializeToString()`)."""
        if not hasattr(run_metadata, "SerializeToString"):
            raise TypeError(f"add_run_metadata takes a RunMetadata, got "
                            f"{type(run_metadata).__name__}")
        step = 0 if global_step is None else int(global_step)
        self.add_event(proto.event(time.time(), step, tagged_run_metadata=(
            str(tag), run_metadata.SerializeToString())))

    def add_compiled_graph(self, fetches, feeds=None, options=None):
        """Write the graph after passes and fusion, one group per kernel, to the run
        `logdir/compiled`; returns the GraphModel it drew (compiler/viz/model.py)."""
        from ..viz.model import analyze
        from .graphdef import graph_def
        model = analyze(fetches, feeds, options)
        writer = FileWriter(os.path.join(self._logdir, COMPILED_RUN),
                            flush_secs=self.flush_secs)
        try:
            writer.add_graph(None, graph_def=graph_def(model.stages[-1]))
        finally:
            writer.close()
        return model

    def flush(self):
        if not self._closed:
            self._file.flush()
            self._last_flush = time.monotonic()

    def close(self):
        if not self._closed:
            self.flush()
            self._file.close()
            self._closed = True

    def reopen(self):
        if self._closed:
            self._file = open(self.path, "ab")
            self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
