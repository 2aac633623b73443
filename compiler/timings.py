"""Where a compile's time goes, and what a long compile shows while it runs: the phase
timer and the progress events, one home for both. Imports nothing of the project, so any
layer (passes, lower, backends, the pipeline, drivers) can report to it.

Reporting (the compiler's side; each call is one context-variable read when nobody
listens, so it costs nothing measurable outside a recorded or displayed compile):

    with timings.phase("llvm.optimize"):   # a timed phase; phases nest; entering one is
        ...                                # also a stage event (below)
    timings.stage("lower")                 # progress: the stage the compile is in
    timings.kernels(done, total)           # progress: kernels built so far, of total

Listening (the driver's side):

    with timings.record() as rec:          # collect the phases of compiles in this block
        ...                                # (and the garbage collections, as "gc")
        ...
    rec.table()    # [(phase, seconds, count)]: each phase's own wall time (its nested
                   # phases' time is theirs, not its), in the order first entered
    rec.cpu_seconds()  # {phase: own CPU seconds of the thread that ran it}
    rec.total      # wall seconds of the block; rec.other() = total - sum of the phases
    rec.format()   # the table as text: phase, seconds, share of the total, CPU seconds,
                   # count; "other" and the total rows make each column sum up

    with timings.progress(sink):           # sink.stage(name) / sink.kernels(done, total)
        ...                                # get the events of compiles in this block

`Progress` is the terminal sink: one status line on a stream ("flowc: compiling NAME:
lower 3/31 kernels, 3.2 s") that appears only after `delay` seconds (its thread starts
then, so a sub-second compile never sees it), only when the stream is a terminal, and
is erased when the block ends. `progress_enabled(config_flag)` says whether a Session
shows it: stderr a terminal and neither the environment variable FLOWC_PROGRESS=0 nor
the session's `ConfigProto(progress=False)`.

Scope: listeners live in context variables, so recording is per compile and per thread:
a compile running in another thread reports to that thread's listeners (none, unless it
opened its own `record()`), never to this one's. A worker pool that builds one compile's
pieces carries the listeners into its workers with `bind(fn)`; such phases run in
parallel, so their sum may then exceed the wall time. The recorder and the progress
sinks take a lock, so a bound pool may report from many threads at once.

Never: changes what a compile does, prints anything outside `Progress`, or times code
nobody asked about.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import os
import sys
import threading
import time

# The listeners of this context: (recorders, progress sinks), and the open phase stack.
_recorders: contextvars.ContextVar = contextvars.ContextVar("flowc_recorders", default=())
_sinks: contextvars.ContextVar = contextvars.ContextVar("flowc_progress", default=())
_stack: contextvars.ContextVar = contextvars.ContextVar("flowc_phases", default=())

_NULL = contextlib.nullcontext()


# ---- the compiler's side ----------------------------------------------------------------
class _Phase:
    """One open phase: its own time is its time less its nested phases', as wall time
    (`perf_counter`) and as this thread's CPU time (`thread_time`: what the compile itself
    spent, whatever else the machine runs)."""

    __slots__ = ("name", "recorders", "start", "cpu", "nested", "nested_cpu", "token")

    def __init__(self, name, recorders):
        self.name, self.recorders = name, recorders
        self.nested = self.nested_cpu = 0.0

    def __enter__(self):
        for rec in self.recorders:
            rec.enter(self.name)
        self.token = _stack.set(_stack.get() + (self,))
        self.cpu = time.thread_time()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        elapsed = time.perf_counter() - self.start
        cpu = time.thread_time() - self.cpu
        _stack.reset(self.token)
        stack = _stack.get()
        if stack:
            stack[-1].nested += elapsed
            stack[-1].nested_cpu += cpu
        for rec in self.recorders:
            rec.add(self.name, elapsed - self.nested, cpu - self.nested_cpu)
        return False


_gc_started = [0.0, 0.0]  # (wall, CPU) when the running collection began (under the GIL)


def _gc_phase(event, info):
    """A `gc.callbacks` hook: a collection while a recorder listens in this context is the
    phase "gc" (nested in the phase it interrupted), so a collection the compile's garbage
    set off is not counted in whichever phase happened to allocate then."""
    recorders = _recorders.get()
    if not recorders:
        return
    if event == "start":
        _gc_started[:] = time.perf_counter(), time.thread_time()
        return
    elapsed = time.perf_counter() - _gc_started[0]
    cpu = time.thread_time() - _gc_started[1]
    stack = _stack.get()
    if stack:
        stack[-1].nested += elapsed
        stack[-1].nested_cpu += cpu
    for rec in recorders:
        rec.add("gc", elapsed, cpu)


gc.callbacks.append(_gc_phase)


def phase(name: str):
    """A context manager timing `name` for every recorder listening here (a shared no-op
    when none is); entering it is also the stage `name` for the progress sinks."""
    recorders = _recorders.get()
    sinks = _sinks.get()
    for sink in sinks:
        sink.stage(name)
    if not recorders:
        return _NULL
    return _Phase(name, recorders)


def stage(name: str):
    """Tell the progress sinks listening here that the compile entered stage `name`."""
    for sink in _sinks.get():
        sink.stage(name)


def kernels(done: int, total: int):
    """Tell the progress sinks listening here that `done` of `total` kernels are built."""
    for sink in _sinks.get():
        sink.kernels(done, total)


def listening() -> bool:
    """Whether a recorder or a progress sink listens here (to skip costly bookkeeping)."""
    return bool(_recorders.get() or _sinks.get())


def bind(fn):
    """`fn` wrapped to run with this context's listeners (for a worker thread building
    part of this compile); its phases start a fresh stack (they run beside, not inside,
    the caller's open phase)."""
    recorders, sinks = _recorders.get(), _sinks.get()

    def bound(*args, **kwargs):
        ctx = contextvars.Context()
        return ctx.run(_run_with, recorders, sinks, fn, args, kwargs)
    return bound


def _run_with(recorders, sinks, fn, args, kwargs):
    _recorders.set(recorders)
    _sinks.set(sinks)
    return fn(*args, **kwargs)


# ---- the driver's side ------------------------------------------------------------------
class Recorder:
    """The phases reported while it listened: {name: [own seconds, own CPU seconds,
    count]} in the order first entered, and the wall and CPU time of its block (`total`,
    `total_cpu`: the CPU time of the thread that opened it)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._phases: dict = {}
        self._start, self._start_cpu = time.perf_counter(), time.thread_time()
        self._end = self._end_cpu = None

    def enter(self, name: str):
        """Give `name` its row (so rows follow the order phases were entered)."""
        with self._lock:
            self._phases.setdefault(name, [0.0, 0.0, 0])

    def add(self, name: str, seconds: float, cpu: float = 0.0):
        with self._lock:
            entry = self._phases.setdefault(name, [0.0, 0.0, 0])
            entry[0] += seconds
            entry[1] += cpu
            entry[2] += 1

    def close(self):
        self._end, self._end_cpu = time.perf_counter(), time.thread_time()

    @property
    def total(self) -> float:
        end = self._end if self._end is not None else time.perf_counter()
        return end - self._start

    @property
    def total_cpu(self) -> float:
        end = self._end_cpu if self._end_cpu is not None else time.thread_time()
        return end - self._start_cpu

    def table(self) -> list:
        """[(phase, own seconds, count)] in the order the phases were first entered."""
        with self._lock:
            return [(name, s, n) for name, (s, _, n) in self._phases.items()]

    def seconds(self) -> dict:
        """{phase: own wall seconds}."""
        with self._lock:
            return {name: s for name, (s, _, _) in self._phases.items()}

    def cpu_seconds(self) -> dict:
        """{phase: own CPU seconds} (of the threads that ran it)."""
        with self._lock:
            return {name: c for name, (_, c, _) in self._phases.items()}

    def other(self) -> float:
        """The block's wall time outside every phase (driver code, untimed work)."""
        return self.total - sum(self.seconds().values())

    def format(self, title="compile") -> str:
        """The table as text: phase, own wall seconds, share of the total, own CPU
        seconds, count; then "other" and the total, so each column sums to the total."""
        total, cpus = self.total, self.cpu_seconds()
        other_cpu = self.total_cpu - sum(cpus.values())
        rows = [(name, s, cpus[name], n) for name, s, n in self.table()]
        rows.append(("other", self.other(), other_cpu, None))
        last = f"total ({title})"
        rows.append((last, total, self.total_cpu, None))
        width = max(len(r[0]) for r in rows)
        lines = [f"{'phase':<{width}}  {'seconds':>9}  {'share':>6}  {'cpu s':>9}  "
                 f"{'count':>5}"]
        for name, sec, cpu, n in rows:
            share = 100.0 * sec / total if total > 0 else 0.0
            count = "" if n is None else str(n)
            lines.append(f"{name:<{width}}  {sec:9.4f}  {share:5.1f}%  {cpu:9.4f}  "
                         f"{count:>5}")
        return "\n".join(lines)


@contextlib.contextmanager
def record():
    """Collect the phases reported in this block (this thread, and workers it `bind`s)."""
    rec = Recorder()
    token = _recorders.set(_recorders.get() + (rec,))
    try:
        yield rec
    finally:
        _recorders.reset(token)
        rec.close()


@contextlib.contextmanager
def progress(sink):
    """Deliver the stage and kernel events of this block to `sink` (`stage(name)`,
    `kernels(done, total)`); a `Progress` sink is also entered and left with the block."""
    token = _sinks.set(_sinks.get() + (sink,))
    enter = getattr(sink, "__enter__", None)
    try:
        if enter is not None:
            with sink:
                yield sink
        else:
            yield sink
    finally:
        _sinks.reset(token)


# ---- the terminal sink ------------------------------------------------------------------
ENV_PROGRESS = "FLOWC_PROGRESS"   # "0" turns the progress line off everywhere
DELAY = 1.0                       # seconds before a compile shows its progress line


def isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_enabled(flag=True, stream=None) -> bool:
    """Whether progress is shown: `flag` (a driver's option) on, FLOWC_PROGRESS not "0",
    and `stream` (stderr by default) a terminal."""
    if not flag or os.environ.get(ENV_PROGRESS, "1").strip() in ("0", "false", "off", "no"):
        return False
    return isatty(stream if stream is not None else sys.stderr)


class Progress:
    """A status line on `stream` (stderr by default), "LABEL: STAGE D/T kernels, 3.2 s",
    redrawn every `interval` seconds from `delay` seconds after the block began, only when
    `stream` is a terminal (and `enabled`); erased at the end. Its thread starts only
    after `delay`, so a shorter block costs one timer. Also a sink for `progress`."""

    def __init__(self, label, stream=None, delay=None, interval=0.1, enabled=True):
        self.label, self.interval = label, interval
        self.delay = DELAY if delay is None else delay
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and isatty(self.stream)
        self.shown = False
        self.lines = 0          # how many times the line was drawn
        self._lock = threading.Lock()
        self._stage, self._done, self._total = "", 0, 0
        self._finished = threading.Event()
        self._timer = None

    # sink events (any thread)
    def stage(self, name):
        with self._lock:
            self._stage = name

    def kernels(self, done, total):
        with self._lock:
            self._done, self._total = done, total

    def text(self) -> str:
        """The status line as it would be drawn now."""
        with self._lock:
            stage, done, total = self._stage, self._done, self._total
        parts = [stage] if stage else []
        if total:
            parts.append(f"{done}/{total} kernels")
        elapsed = time.perf_counter() - self._start
        what = " ".join(parts)
        return f"{self.label}: {what}, {elapsed:.1f} s" if what else \
            f"{self.label}… {elapsed:.1f} s"

    def __enter__(self):
        self._start = time.perf_counter()
        if self.enabled:
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc):
        self._finished.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
        return False

    def _show(self):
        while not self._finished.is_set():
            self.stream.write("\r" + self.text() + "\033[K")  # K: erase a longer line's rest
            self.stream.flush()
            self.shown = True
            self.lines += 1
            if self._finished.wait(self.interval):
                return
