"""`Session`: TF1's client façade. `run(fetches, feed_dict)` flattens the fetch structure,
converts feeds as TF1 does, compiles the (fetches, feeds) signature once (cached per
Session; `compile_count` counts compiles) and runs it against the Session's variable
store. `config=ConfigProto(...)` carries the thread count and the backend
(`"llvm"`, the default, or `"interpret"`, the numpy reference), and the device.

Placement (compiler/placement.py) picks the device of each compile: ops' device strings
(`with fc.device('/gpu:0')`) first, then `ConfigProto(device=...)` /
`CompileOptions(device=...)`. On the GPU the program is compiled by the CUDA backend and
its variables stay on the device between runs; feeds may be numpy values (copied in) or
GPU arrays (`__cuda_array_interface__`/DLPack, used in place); fetches are numpy arrays.

A distributed target (`"ray://local"`, `"ray://auto"`, `"ray://HOST:PORT"`, with
`ConfigProto(cluster_def=...)`) makes this process the master of Ray workers, one per
task: every signature is placed over the cluster's tasks, partitioned, compiled here and
run on the workers, which hold the variables (compiler/distributed/master.py;
docs/execution.md, "The distributed Session"). Session("") never imports Ray.

Threads may share a Session. A run that assigns variables is a writer: writers take
turns for the whole read-compute-commit, so concurrent training steps never lose an
update; runs that only read variables run concurrently and see each variable as it was
before a concurrent writer's commit or after it, never a mix (runtime/variables.py).
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass

import numpy as np

from runtime import forksafe
from runtime.errors import ExecutionError, FeedError
from runtime.variables import VariableStore

from . import timings
from .frontend.asserts import CHECK_OP, data_tensors, failure_message, ops_needed
from .frontend.core import STRING_CONST, string_value
from .frontend.graph import (
    Graph,
    GraphError,
    Operation,
    Tensor,
    default_sessions,
    get_default_graph,
    get_default_session,  # noqa: F401  (fc.get_default_session)
)
from .frontend.printing import PRINT, PRINT_V2
from .frontend.printing import data_of as print_data
from .frontend.printing import emit as emit_prints
from .options import CompileOptions, default_threads
from .partition import (
    compile_partitions,
    partition,
    partitioned_executable,
    partitions_text,
)
from .pipeline import compile_graph, is_partitioned, placed
from .placement import PlacementConfig
from .run_metadata import record_step
from .summary.ops import SUMMARY_OP_TYPES, run_with_summaries

_UNFEEDABLE = ("assign", "assign_add", "NoOp")


@dataclass
class ConfigProto:
    """Session configuration: `intra_op_parallelism_threads` (0 = all cores), `backend`
    ("llvm" or "interpret"), optional `compile_options` and `device` ("" keeps the
    compile options' device; "/gpu:0" or "gpu" compiles for the GPU); `progress=False`
    (a flowc extension) hides the progress line of compiles over a second. Placement
    (compiler/placement.py): `allow_soft_placement` (True in flowc; TF1's default is
    False) puts an op whose device this process lacks on one it has,
    `log_device_placement` prints each op's device to stderr once per compile,
    `device_count={"GPU": 0}` leaves the placer no GPU. `cluster_def` (TF1's: a
    ClusterDef, a train.ClusterSpec or a dict) describes the cluster of a distributed
    target (`Session("ray://…")`: one Ray worker per task); an in-process Session
    ignores it (soft placement keeps every op on this process's devices).
    `operation_timeout_in_ms` (TF1's; 0 = 60 s) bounds every wait of a distributed
    Session on its workers."""
    intra_op_parallelism_threads: int = 0
    inter_op_parallelism_threads: int = 0
    backend: str = "llvm"
    compile_options: CompileOptions = None
    allow_soft_placement: bool = True
    log_device_placement: bool = False
    device: str = ""
    device_count: dict = None   # TF1's: {"GPU": 0} gives the placer no GPU
    progress: bool = True
    cluster_def: object = None  # TF1's: the cluster of a distributed target
    operation_timeout_in_ms: int = 0

    def options(self) -> CompileOptions:
        from dataclasses import replace
        base = self.compile_options or CompileOptions()
        threads = self.intra_op_parallelism_threads or base.threads or default_threads()
        if threads != base.threads:
            base = replace(base, threads=threads)
        if self.device:
            base = replace(base, device=self.device)
        return base


class Session:
    def __init__(self, target="", graph: Graph = None, config: ConfigProto = None):
        self.graph = graph or get_default_graph()
        self.config = config or ConfigProto()
        if self.config.backend not in ("llvm", "interpret"):
            raise ValueError(f"unknown backend {self.config.backend!r}")
        self.options = self.config.options()
        self._master = None  # a distributed target's master (compiler/distributed/master.py)
        if target:  # "ray://…"; anything else is a ValueError naming the accepted forms
            from .distributed.master import Master
            self._master = Master(target, self.graph, self.config)
            # a Session collected unclosed frees its workers; at exit Ray does (the
            # actors belong to this driver)
            weakref.finalize(self, self._master.close).atexit = False
        self._store = VariableStore() if self._master is None else self._master.store
        self._cache: dict = {}
        self._last_device = "cpu"  # of the last run (its RunMetadata's device)
        self._asserts: dict = {}  # signature key -> (assertions, extra fetches, prints)
        self._compiling: dict = {}  # signature key -> lock held while it compiles
        self._compile_guard = forksafe.lock()
        self._run_counter = 0
        self._counter_lock = forksafe.lock()
        self.compile_count = 0
        self._closed = False

    # context management -------------------------------------------------------------
    def __enter__(self):
        default_sessions.stack.append(self)
        self._graph_ctx = self.graph.as_default()
        self._graph_ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._graph_ctx.__exit__(*exc)
        default_sessions.stack.remove(self)
        self.close()

    def as_default(self):
        sess = self

        class _Ctx:
            def __enter__(self):
                default_sessions.stack.append(sess)
                return sess

            def __exit__(self, *exc):
                default_sessions.stack.remove(sess)
        return _Ctx()

    def close(self):
        self._closed = True
        self._cache.clear()
        if self._master is not None:  # the workers and their variables go
            self._master.close()
        if self.graph.host_io is not None:  # close this Session's queues: wakes blocked runners
            self.graph.host_io.session_closed(self)

    # run ----------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        if self._closed:
            raise RuntimeError("attempted to use a closed Session")
        flat, rebuild = _flatten(fetches, self.graph)
        feeds = self._feeds(feed_dict or {})
        trace = _Trace() if options is not None and options.traced else None
        values = self._run_host(flat, feeds, trace=trace)
        if trace is not None:  # RunOptions(trace_level=FULL_TRACE): per-kernel timings
            record_step(run_metadata, trace, self._last_device, trace.compile)
        return rebuild(values)

    def _run_host(self, flat, feeds, out=None, trace=None):
        """`_run_flat` with the graph's host input (compiler/data/hostio.py): when the
        graph has tf.data iterators or queues, `prepare` runs the host ops among the fetches
        (iterator initializers, ...), pulls one element per reachable `get_next`/dequeue into
        the feeds and may add tensors to fetch; `finish` gets the values, runs what waits
        for them (enqueues) and returns the values of `flat`."""
        host = self.graph.host_io
        if host is None:
            return self._run_flat(flat, feeds, out, trace)
        flat_run, feeds, finish = host.prepare(self, flat, feeds)
        return finish(self._run_flat(flat_run, feeds, out, trace) if flat_run else [])

    def _run_flat(self, flat, feeds, out=None, trace=None):
        def again(f, fd, o):
            return self._run_flat(f, fd, o, trace)
        if any(f.op.type == STRING_CONST for f in flat if isinstance(f, Tensor)):
            return _run_with_strings(again, flat, feeds, out)  # host values
        if any(f.op.type in SUMMARY_OP_TYPES for f in flat if isinstance(f, Tensor)):
            return run_with_summaries(again, flat, feeds, out)  # host-built bytes
        tensors = tuple(dict.fromkeys(f for f in flat if isinstance(f, Tensor)))
        targets = tuple(dict.fromkeys(f for f in flat if isinstance(f, Operation)))
        fed = tuple(sorted(feeds, key=lambda t: t.op._id))
        ranks = tuple(np.ndim(feeds[t]) if t._type.shape is None else None for t in fed)
        key = (tensors, targets, fed, ranks)
        units = None
        if any(r is not None for r in ranks):
            units = (tensors, targets, fed, tuple(
                None if r is None else _fed_dims(feeds[t]) for t, r in zip(fed, ranks)))
            key = units if units in self._cache else key
        with self._counter_lock:
            self._run_counter += 1
            counter = self._run_counter
        values = [feeds[t] for t in fed]
        try:
            outs = self._execute(key, values, fed, counter, out, tensors, trace)
        except FeedError:
            # an unknown-rank feed whose extent-1 axes must broadcast (TF1): compile for
            # them (see _fed_dims); a bad feed raises from there too
            if units is None or key is units or all(1 not in k for k in units[3] if k):
                raise
            outs = self._execute(units, values, fed, counter, out, tensors, trace)
        by_tensor = dict(zip(tensors, outs))
        return [by_tensor.get(f) if isinstance(f, Tensor) else None for f in flat]

    def _execute(self, key, values, fed, counter, out, tensors, trace=None):
        """The compiled step of signature `key` run once: the values of `tensors`. The
        signature's assertions (`check` ops) and prints ride along as extra outputs: a
        failed check raises TF1's message, prints are written after the step succeeded."""
        exe = self._cache.get(key)
        if exe is None:
            exe = self._compile_once(key, trace)
        if exe.device != "gpu":  # a CPU program: GPU arrays are copied to the host
            values = [_host_value(v, t) for v, t in zip(values, fed)]
        asserts, extra, prints = self._asserts.get(key, ((), (), ()))
        outs_in = None if out is None else [out.get(t) for t in tensors] + [None] * len(extra)
        try:
            with self._store.access(exe):  # writers take turns; readers share (__init__)
                outs = exe.run(values, self._store, counter, out=outs_in) if trace is None \
                    else exe.run(values, self._store, counter, out=outs_in, trace=trace)
            self._last_device = exe.device
        except ExecutionError as e:
            if not asserts:
                raise
            raise self._assertion_error(e, asserts, key, values, counter) from None
        if prints:  # tf.Print / tf.print: after the step succeeded, in op order
            by_tensor = dict(zip(tensors + extra, outs))
            emit_prints(prints, {**by_tensor, **{t: string_value(t) for p in prints
                                                 for t in print_data(p)
                                                 if t.op.type == STRING_CONST}})
        return outs[:len(tensors)]

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        """TF1's `Session.make_callable`: a function taking the values of `feed_list` by
        position and returning `fetches`' values. It compiles once and skips the
        per-call fetch and feed parsing. flowc extension: `out=` (an array, or a list in
        the order of the tensors in `fetches`) receives the results in place."""
        flat, rebuild = _flatten(fetches, self.graph)
        feed_tensors = [_feed_key(f, self.graph) for f in feed_list or []]
        fetched = list(dict.fromkeys(f for f in flat if isinstance(f, Tensor)))

        def call(*values, out=None):
            if len(values) != len(feed_tensors):
                raise TypeError(f"this callable takes {len(feed_tensors)} feed value(s) "
                                f"({', '.join(t.name for t in feed_tensors)}), got "
                                f"{len(values)}")
            feeds = self._feeds(dict(zip(feed_tensors, values)))
            if out is not None:
                outs = [out] if isinstance(out, np.ndarray) else list(out)
                if len(outs) != len(fetched):
                    raise ValueError(f"out= needs {len(fetched)} array(s), got {len(outs)}")
                out = dict(zip(fetched, outs))
            return rebuild(self._run_host(flat, feeds, out))
        return call

    def _compile_once(self, key, trace=None):
        """The executable of signature `key`, compiled by one thread: threads that make
        the same first run at once wait for it (a lock per signature; other signatures
        compile in parallel). A traced run's compile is recorded in `trace.compile`
        (compiler/timings.py)."""
        with self._compile_guard:
            lock = self._compiling.setdefault(key, forksafe.lock())
        with lock:
            exe = self._cache.get(key)
            if exe is None and trace is not None:
                with timings.record() as trace.compile:
                    exe = self._cache[key] = self._compile(*key)
            elif exe is None:
                exe = self._cache[key] = self._compile(*key)
        with self._compile_guard:
            self._compiling.pop(key, None)
        return exe

    def _compile(self, tensors, targets, fed, ranks):
        """The executable of one signature, its compile shown by a progress line on a
        terminal when it takes over a second (compiler/timings.py)."""
        name = (tensors or targets)[0].name if tensors or targets else "step"
        line = timings.Progress(f"flowc: compiling {name}",
                                enabled=timings.progress_enabled(self.config.progress))
        with timings.progress(line), timings.phase("session"):
            return self._compile_signature(tensors, targets, fed, ranks)

    def _compile_signature(self, tensors, targets, fed, ranks):
        feed_ranks = {t.name: r for t, r in zip(fed, ranks) if r is not None}
        dump_dir = self.options.dump_dir and \
            os.path.join(self.options.dump_dir, f"program_{self.compile_count + 1:03d}")
        # every assertion the run depends on is checked: its output is an extra fetch
        fetch_ops = [t.op for t in tensors if t not in fed] + list(targets)
        # the assertions and prints the run depends on, in creation order (one walk of
        # the graph finds both)
        found = ops_needed(fetch_ops, set(fed), (CHECK_OP, PRINT, PRINT_V2))
        asserts = [op for op in found if op.type == CHECK_OP]
        prints = [op for op in found if op.type != CHECK_OP]
        extra = [a.outputs[0] for a in asserts] + [t for p in prints for t in print_data(p)
                                                   if t.op.type != STRING_CONST]
        extra = tuple(t for t in dict.fromkeys(extra) if t not in tensors)
        self._asserts[(tensors, targets, fed, ranks)] = (asserts, extra, prints)
        placement = PlacementConfig.of(self.config) if self._master is None \
            else self._master.placement()
        options, decisions = placed(self.options, tensors + extra, targets, fed, placement)
        if self._master is not None or is_partitioned(decisions):
            # ops on more than one device: one program each; distributed: every
            # partition runs on its task's worker
            return self._compile_partitioned(tensors + extra, targets, fed, decisions,
                                             options, feed_ranks, dump_dir)
        compiled = compile_graph(self.graph, tensors + extra, fed, options, targets=targets,
                                 feed_ranks=feed_ranks, dump_dir=dump_dir,
                                 prepare=self._declare,
                                 interpret=self.config.backend == "interpret")
        self.last_pass_report = compiled.report
        return compiled.executable

    def _compile_partitioned(self, tensors, targets, fed, decisions, options, feed_ranks,
                             dump_dir):
        """A PartitionedExecutable (runtime/partitioned.py) of a step placed on several
        devices: compiler/partition.py splits it, each partition compiles for its
        device (dumps: `partitions.txt` and one folder per partition under the
        signature's)."""
        parting = partition(tensors, targets, fed, decisions)
        if dump_dir:
            os.makedirs(dump_dir, exist_ok=True)
            with open(os.path.join(dump_dir, "partitions.txt"), "w") as f:
                f.write(partitions_text(parting))
        declared = []
        compiled = compile_partitions(
            self.graph, parting, options, feed_ranks=feed_ranks, dump_dir=dump_dir,
            prepare=lambda program: declared.append(self._declare(program, count=False)),
            interpret=self.config.backend == "interpret")
        self.compile_count += 1
        self.last_pass_report = compiled[-1].report if compiled else None
        self.last_partitioning = parting
        if self._master is not None:  # registered with the workers, run by a StepPlan
            return self._master.executable(parting, compiled, options)
        return partitioned_executable(parting, [c.executable for c in compiled])

    def _assertion_error(self, error, asserts, key, values, counter) -> ExecutionError:
        """The error of a run whose assertion failed, with TF1's message: the data
        tensors' values, computed by the interpreter from the same feeds, run counter and
        variables (the failed run changed none)."""
        text = str(error)
        failed = next((a for a in asserts if a.attrs["message"] in text), None)
        if failed is None:
            return error
        data, fed, found = data_tensors(failed), key[2], {}
        if data:
            try:
                exe = compile_graph(self.graph, tuple(data), fed, self.options,
                                    feed_ranks={t.name: r for t, r in zip(fed, key[3])
                                                if r is not None}, interpret=True).executable
                host = [_host_value(v, t) for v, t in zip(values, fed)]
                with self._store.access(exe):
                    found = dict(zip(data, exe.run(host, self._store, counter)))
            except (ExecutionError, FeedError, ValueError):
                found = {}  # the data cannot be computed: the message keeps their names
        return ExecutionError(text.replace(failed.attrs["message"],
                                           failure_message(failed, found)))

    def _declare(self, program, count=True):
        """The optimized program's variables join the store; one more compile (unless
        `count=False`: a partition of one)."""
        for name, ty in program.variables().items():
            self._store.declare(name, ty.dtype.np, ty.shape)
        if count:
            self.compile_count += 1

    def _feeds(self, feed_dict) -> dict:
        from runtime.cuda_driver import is_device_array
        out = {}
        for key, value in feed_dict.items():
            t = _feed_key(key, self.graph)
            if is_device_array(value):  # a GPU array: used in place by a GPU program
                out[t] = value
                continue
            try:
                arr = np.asarray(value, dtype=t.dtype.np)
            except (TypeError, ValueError, OverflowError) as e:
                raise FeedError(f"cannot convert the feed value for {t.op.describe()} to "
                                f"{t.dtype.name}: {e}") from None
            out[t] = arr
        return out


class InteractiveSession(Session):
    """TF1's `tf.InteractiveSession`: a Session that, while open, is the default session
    and its graph the default graph, so `Tensor.eval()` and `Operation.run()` work without
    `with`. `close()` uninstalls both."""

    def __init__(self, target="", graph: Graph = None, config: ConfigProto = None):
        super().__init__(target, graph, config)
        default_sessions.stack.append(self)
        self._interactive_ctx = self.graph.as_default()
        self._interactive_ctx.__enter__()

    def close(self):
        ctx, self._interactive_ctx = getattr(self, "_interactive_ctx", None), None
        if ctx is not None:
            if self in default_sessions.stack:
                default_sessions.stack.remove(self)
            ctx.__exit__(None, None, None)
        super().close()


class _Trace(list):
    """A traced run's kernel records, and the record of the compile it made (if any)."""
    compile = None


def _run_with_strings(run_flat, flat, feeds, out) -> list:
    """Fetch string constants on the host; the rest runs as usual."""
    rest = [f for f in flat if not (isinstance(f, Tensor) and f.op.type == STRING_CONST)]
    values = dict(zip(rest, run_flat(rest, feeds, out))) if rest else {}
    return [values[f] if f in values else string_value(f) for f in flat]


def _host_value(value, tensor):
    if isinstance(value, np.ndarray):
        return value
    from runtime.cuda_driver import device_array_view
    try:
        arr = device_array_view(value).numpy()
    except ValueError as e:
        raise FeedError(f"cannot use the GPU feed for {tensor.op.describe()}: {e}") from None
    return np.asarray(arr, dtype=tensor.dtype.np)


def _feed_key(key, graph) -> Tensor:
    if hasattr(key, "_as_graph_element") and not isinstance(key, Tensor):
        key = key._as_graph_element()
    if isinstance(key, str):
        try:
            key = graph.as_graph_element(key)
        except (KeyError, ValueError) as e:
            raise FeedError(f"cannot feed {key!r}: {e}") from None
    if isinstance(key, Operation):
        raise FeedError(f"cannot feed the operation {key.name!r}; feed one of its tensors "
                        f"({key.name}:0)")
    if not isinstance(key, Tensor):
        raise FeedError(f"feed_dict keys must be tensors or tensor names, got {key!r}")
    if key.graph is not graph:
        raise GraphError(f"cannot feed {key.name!r}: it is from another graph than the "
                         "session's")
    if key.op.type in _UNFEEDABLE:
        raise FeedError(f"{key.name!r} ({key.op.describe()}) may not be fed: only "
                        "placeholders and values computed from them are feedable")
    return key


def _flatten(fetches, graph):
    """Flatten a nest of fetches; returns (elements, rebuild(values) -> nest)."""
    flat = []

    def walk(f):
        if isinstance(f, (list, tuple)) and not hasattr(f, "_as_graph_element"):
            parts = [walk(x) for x in f]
            if hasattr(f, "_fields"):
                return lambda vals: type(f)(*[p(vals) for p in parts])
            return lambda vals: type(f)(p(vals) for p in parts)
        if isinstance(f, dict):
            parts = {k: walk(v) for k, v in f.items()}
            return lambda vals: type(f)((k, p(vals)) for k, p in parts.items())
        if f is None:
            raise TypeError("fetch argument None is invalid")
        try:
            el = graph.as_graph_element(f)
        except (KeyError, ValueError, TypeError) as e:
            raise type(e)(f"fetch {f!r} is not an element of the session's graph: {e}") \
                from None
        i = len(flat)
        flat.append(el)
        return lambda vals: vals[i]

    rebuild = walk(fetches)
    return flat, rebuild


def _fed_dims(value):
    """The second compile of an unknown-rank placeholder: its fed rank and which extents
    are 1 (static there, so they broadcast as in TF1); other extents stay symbolic. The
    first compile, for the rank only, serves every feed that needs no such broadcast."""
    return tuple(1 if d == 1 else None for d in np.shape(value))
