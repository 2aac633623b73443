"""TF1's queues on the host: `FIFOQueue`, `RandomShuffleQueue`, `QueueRunner`,
`Coordinator`, `start_queue_runners` (`tf.train.queue_runner`).

A queue is a host object of the graph; its state (the elements, closed or not) lives per
Session, as TF1's queue resources do. `enqueue(vals)` / `enqueue_many(vals)` / `close()` are
NoOps of the graph whose host actions (hostio.py) run when a `Session.run` reaches them; an
enqueue's values are computed by that run's compiled step, so a pipeline stage such as
`gather(images, index_queue.dequeue())` is compiled. `dequeue()` / `dequeue_many(n)` /
`dequeue_up_to(n)` / `size()` are placeholders the run fills from the queue (one pull per
op and run). Dequeuing blocks until enough elements are there; on a closed queue with too
few it raises `tf.errors.OutOfRangeError`; enqueuing into a closed queue raises
`tf.errors.CancelledError`.

`QueueRunner` threads run their enqueue ops until the input ends (OutOfRangeError: the
last thread closes the queue) or the `Coordinator` asks them to stop (the queue is then
closed with its pending enqueues cancelled, which wakes every blocked thread). The input
producers and `tf.train.batch` built on these live in producers.py.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import weakref

import numpy as np

from runtime.errors import CancelledError, InvalidArgumentError, OutOfRangeError

from ..frontend.array_ops import placeholder
from ..frontend.control_flow import no_op
from ..frontend.core import convert_to_tensor, make
from ..frontend.graph import get_default_graph
from ..frontend.random_ops import get_seed
from ..frontend.variables import GraphKeys
from ..ir import dtypes as T
from ..summary.ops import string  # the host-only string dtype (never compiled)
from .blocks import seeded_rng
from .hostio import HostOp, host_io

QUEUE_RUNNERS = GraphKeys.QUEUE_RUNNERS


class _QueueState:
    def __init__(self):
        self.items = collections.deque()
        self.closed = False
        self.cond = threading.Condition()


class QueueBase:
    """A host queue of elements (tuples of arrays with the queue's dtypes and shapes)."""

    def __init__(self, capacity, dtypes, shapes=None, names=None, name="queue"):
        dtypes = list(dtypes) if isinstance(dtypes, (list, tuple)) else [dtypes]
        self.dtypes = [d if d is string else T.as_dtype(d) for d in dtypes]
        if shapes is not None:
            shapes = [_shape(s) for s in (shapes if _is_shape_list(shapes) else [shapes])]
            if len(shapes) != len(self.dtypes):
                raise ValueError(f"{name}: {len(shapes)} shapes for {len(self.dtypes)} dtypes")
        self.shapes = shapes or [None] * len(self.dtypes)
        self.names = list(names) if names is not None else None
        self.capacity = int(capacity)
        self._graph = get_default_graph()
        self.name = self._graph.unique_name(name)
        self._states = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        host_io(self._graph).on_close.append(self._session_closed)

    def _session_closed(self, session):
        with self._lock:
            st = self._states.get(session)
        if st is not None:
            with st.cond:
                st.closed = True
                st.cond.notify_all()

    def _state(self, session) -> _QueueState:
        with self._lock:
            st = self._states.get(session)
            if st is None:
                st = self._states[session] = _QueueState()
            return st

    # -- graph ops ----------------------------------------------------------------------------
    def enqueue(self, vals, name=None):
        tensors = self._tensors(vals, "enqueue")
        return self._host_op(name or "enqueue", tensors,
                             lambda values: [[np.asarray(v) for v in values]])

    def enqueue_many(self, vals, name=None):
        tensors = self._tensors(vals, "enqueue_many")
        return self._host_op(name or "enqueue_many", tensors, _rows)

    def dequeue(self, name=None):
        return self._dequeue_op(1, name or "dequeue", single=True)

    def dequeue_many(self, n, name=None):
        return self._dequeue_op(int(n), name or "dequeue_many", single=False)

    def dequeue_up_to(self, n, name=None):
        return self._dequeue_op(int(n), name or "dequeue_up_to", single=False, up_to=True)

    def close(self, cancel_pending_enqueues=False, name=None):
        with self._graph.as_default():
            op = no_op(name=f"{self.name}_{name or 'close'}")

        def run(session, feeds, values):
            self._close(session, cancel_pending_enqueues)
        host_io(self._graph).add_op(op, HostOp(run))
        return op

    def size(self, name=None):
        with self._graph.as_default():
            t = placeholder(T.int32, (), name=f"{self.name}_{name or 'size'}")
        host_io(self._graph).add_source(
            _Source([t], lambda s, f: [np.asarray(len(self._state(s).items), np.int32)]), [t])
        return t

    def is_closed(self, name=None):
        with self._graph.as_default():
            t = placeholder(T.bool_, (), name=f"{self.name}_{name or 'is_closed'}")
        host_io(self._graph).add_source(
            _Source([t], lambda s, f: [np.asarray(self._state(s).closed)]), [t])
        return t

    # -- helpers --------------------------------------------------------------------------------
    def _tensors(self, vals, what):
        if isinstance(vals, dict):
            if self.names is None:
                raise ValueError(f"{self.name}.{what}: a dict needs a queue with names")
            vals = [vals[k] for k in self.names]
        elif not isinstance(vals, (list, tuple)):
            vals = [vals]
        if len(vals) != len(self.dtypes):
            raise ValueError(f"{self.name}.{what}: {len(vals)} values for a queue of "
                             f"{len(self.dtypes)} components")
        return [convert_to_tensor(v, dtype=d) for v, d in zip(vals, self.dtypes)]

    def _host_op(self, name, tensors, to_rows):
        with self._graph.as_default():
            op = no_op(name=f"{self.name}_{name}")

        def run(session, feeds, values):
            self._put(session, to_rows(values))
        host_io(self._graph).add_op(op, HostOp(run, tensors))
        return op

    def _dequeue_op(self, n, name, single, up_to=False):
        with self._graph.as_default():
            phs = []
            for d, s in zip(self.dtypes, self.shapes):
                dims = s if single else (None if s is None else
                                         ((None if up_to else n),) + s)
                if not single and s is None:
                    raise ValueError(f"{self.name}.{name}: the queue needs shapes to dequeue "
                                     "several elements at once")
                phs.append(_host_placeholder(d, dims, f"{self.name}_{name}"))
        pull = (lambda s, f: self._take(s, 1)[0]) if single else (
            lambda s, f: _stack(self._take(s, n, up_to), self.dtypes))
        host_io(self._graph).add_source(_Source(phs, pull), phs)
        if self.names is not None:
            return dict(zip(self.names, phs))
        return phs[0] if len(phs) == 1 else phs

    # -- the host side ---------------------------------------------------------------------------
    def _check(self, row):
        for k, (v, s) in enumerate(zip(row, self.shapes)):
            if s is not None and tuple(v.shape) != s:
                raise InvalidArgumentError(
                    None, None, f"{self.name}: component {k} of an enqueued element has "
                    f"shape {list(v.shape)}, the queue holds shape {list(s)}")

    def _put(self, session, rows):
        st = self._state(session)
        for row in rows:
            self._check(row)
            with st.cond:
                while not st.closed and len(st.items) >= self.capacity:
                    st.cond.wait()
                if st.closed:
                    raise CancelledError(None, None, f"Enqueue to {self.name!r}: the queue is "
                                         "closed")
                st.items.append(row)
                st.cond.notify_all()

    def _close(self, session, cancel):
        """Close the queue; blocked and later enqueues raise CancelledError either way
        (`cancel` is TF1's cancel_pending_enqueues)."""
        st = self._state(session)
        with st.cond:
            st.closed = True
            st.cond.notify_all()

    def _ready(self, st, need) -> bool:
        return len(st.items) >= need

    def _take(self, session, n, up_to=False):
        """n elements, waiting until the queue has them; a closed queue with fewer gives
        what it has (`up_to`) or raises OutOfRangeError."""
        st = self._state(session)
        with st.cond:
            while not self._ready(st, n):
                if st.closed:
                    if up_to and st.items:
                        n = len(st.items)
                        break
                    raise OutOfRangeError(
                        None, None, f"{self.name!r} is closed and has insufficient "
                        f"elements (requested {n}, current size {len(st.items)})")
                st.cond.wait()
            out = [self._pop(st) for _ in range(n)]
            st.cond.notify_all()
        return out

    def _pop(self, st):
        return st.items.popleft()


class FIFOQueue(QueueBase):
    """TF1's `tf.FIFOQueue(capacity, dtypes, shapes=None, names=None)`."""

    def __init__(self, capacity, dtypes, shapes=None, names=None, shared_name=None,
                 name="fifo_queue"):
        super().__init__(capacity, dtypes, shapes, names, name)


class RandomShuffleQueue(QueueBase):
    """TF1's `tf.RandomShuffleQueue`: a dequeue takes a uniformly chosen element, and
    waits while the queue holds `min_after_dequeue` elements or fewer (unless closed).
    Seeds follow `tf.set_random_seed` and `seed=` (a numpy Philox generator per Session)."""

    def __init__(self, capacity, min_after_dequeue, dtypes, shapes=None, names=None,
                 seed=None, shared_name=None, name="random_shuffle_queue"):
        super().__init__(capacity, dtypes, shapes, names, name)
        self.min_after_dequeue = int(min_after_dequeue)
        self._seeds = get_seed(seed)
        self._rngs = weakref.WeakKeyDictionary()

    def _state(self, session):
        st = super()._state(session)
        with self._lock:
            if session not in self._rngs:
                self._rngs[session] = seeded_rng(self._seeds, 0)
            st.rng = self._rngs[session]
        return st

    def _ready(self, st, need):
        return len(st.items) >= need + (0 if st.closed else self.min_after_dequeue)

    def _pop(self, st):
        j = int(st.rng.integers(len(st.items)))
        st.items[j], st.items[-1] = st.items[-1], st.items[j]
        return st.items.pop()


class _Source:
    """A source group of the HostIO: placeholders filled by `pull(session, feeds)`."""

    def __init__(self, tensors, pull):
        self.tensors = tensors
        self.pull = pull


def _host_placeholder(dtype, dims, name):
    if dtype is string:
        return make("placeholder", [], name=name, dtype=string, shape=dims)
    return placeholder(dtype, dims, name=name)


def _rows(values):
    arrays = [np.asarray(v) for v in values]
    n = {len(a) if a.ndim else None for a in arrays}
    if None in n or len(n) != 1:
        raise InvalidArgumentError(None, None, "enqueue_many: the components need one common "
                                   f"first dimension, got shapes {[a.shape for a in arrays]}")
    return [[a[i, ...] for a in arrays] for i in range(n.pop())]


def _stack(rows, dtypes):
    return [np.stack([r[k] for r in rows]).astype(d.np, copy=False)
            for k, d in enumerate(dtypes)]


def _shape(s):
    if s is None:
        return None
    if hasattr(s, "as_list"):
        s = s.as_list()
    dims = tuple(s)
    if any(d is None for d in dims):
        raise ValueError(f"queue shapes must be fully defined, got {list(dims)}")
    return tuple(int(d) for d in dims)


def _is_shape_list(shapes) -> bool:
    return isinstance(shapes, (list, tuple)) and (
        not shapes or isinstance(shapes[0], (list, tuple)) or hasattr(shapes[0], "as_list")
        or shapes[0] is None)



# ---- coordination ----------------------------------------------------------------------------
class Coordinator:
    """TF1's `tf.train.Coordinator`: threads poll `should_stop()`; any thread may
    `request_stop(ex)`; `join(threads)` waits for them and re-raises the first exception
    reported (OutOfRangeError counts as a clean stop, as in TF1)."""

    def __init__(self, clean_stop_exception_types=None):
        self._clean = tuple(clean_stop_exception_types or (OutOfRangeError,))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._exc_info = None
        self._threads = set()
        self._joined = False

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def request_stop(self, ex=None):
        with self._lock:
            if ex is not None and self._exc_info is None and not isinstance(ex, self._clean):
                if isinstance(ex, tuple):
                    self._exc_info = ex
                else:
                    self._exc_info = (type(ex), ex, ex.__traceback__)
            self._stop.set()

    def clear_stop(self):
        with self._lock:
            self._joined = False
            self._exc_info = None
            self._stop.clear()

    @contextlib.contextmanager
    def stop_on_exception(self):
        try:
            yield
        except Exception as e:  # noqa: BLE001  (TF1: any exception stops the threads)
            self.request_stop(e)

    def wait_for_stop(self, timeout=None) -> bool:
        return self._stop.wait(timeout)

    def register_thread(self, thread):
        with self._lock:
            self._threads.add(thread)

    def join(self, threads=None, stop_grace_period_secs=120, ignore_live_threads=False):
        with self._lock:
            threads = set(self._threads) | set(threads or ())
        while any(t.is_alive() for t in threads) and not self.wait_for_stop(0.01):
            pass
        deadline = time.monotonic() + stop_grace_period_secs
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._joined = True
        self.raise_requested_exception()
        alive = [t.name for t in threads if t.is_alive()]
        if alive and not ignore_live_threads:
            raise RuntimeError(f"Coordinator stopped with threads still running: {alive}")

    @property
    def joined(self) -> bool:
        return self._joined

    def raise_requested_exception(self):
        with self._lock:
            info = self._exc_info
        if info is not None:
            raise info[1].with_traceback(info[2])


class QueueRunner:
    """TF1's `tf.train.QueueRunner(queue, enqueue_ops)`: one thread per enqueue op runs it
    until the input ends, then the last one closes the queue."""

    def __init__(self, queue=None, enqueue_ops=None, close_op=None, cancel_op=None,
                 queue_closed_exception_types=None):
        self.queue = queue
        self.enqueue_ops = list(enqueue_ops or [])
        self.close_op = close_op if close_op is not None else queue.close()
        self.cancel_op = cancel_op if cancel_op is not None else queue.close(
            cancel_pending_enqueues=True)
        self._closed_types = tuple(queue_closed_exception_types or (OutOfRangeError,
                                                                    CancelledError))
        self._lock = threading.Lock()
        self.exceptions_raised = []

    def create_threads(self, sess, coord=None, daemon=False, start=False):
        live = [len(self.enqueue_ops)]
        threads = [threading.Thread(target=self._run, args=(sess, op, coord, live),
                                    daemon=daemon, name=f"QueueRunner:{self.queue.name}")
                   for op in self.enqueue_ops]
        if coord is not None:
            threads.append(threading.Thread(target=self._close_on_stop, args=(sess, coord),
                                            daemon=daemon))
        for t in threads:
            if coord is not None:
                coord.register_thread(t)
            if start:
                t.start()
        return threads

    def _run(self, sess, op, coord, live):
        try:
            while not (coord is not None and coord.should_stop()):
                try:
                    sess.run(op)
                except self._closed_types:
                    with self._lock:
                        live[0] -= 1
                        last = live[0] == 0
                    if last and not getattr(sess, "_closed", False):
                        sess.run(self.close_op)
                    return
        except Exception as e:  # noqa: BLE001  (reported to the coordinator, as TF1)
            self.exceptions_raised.append(e)
            if coord is None:
                raise
            coord.request_stop(e)

    def _close_on_stop(self, sess, coord):
        coord.wait_for_stop()
        with contextlib.suppress(Exception):
            sess.run(self.cancel_op)


def add_queue_runner(qr, collection=QUEUE_RUNNERS):
    get_default_graph().add_to_collection(collection, qr)


def start_queue_runners(sess=None, coord=None, daemon=True, start=True,
                        collection=QUEUE_RUNNERS):
    """Start the threads of every QueueRunner in the graph's collection; returns them."""
    if sess is None:
        from ..frontend.graph import get_default_session
        sess = get_default_session()
    threads = []
    for qr in sess.graph.get_collection(collection):
        threads.extend(qr.create_threads(sess, coord=coord, daemon=daemon, start=start))
    return threads
