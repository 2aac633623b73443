"""TF1's input producers and batching on host queues (queues.py):
`input_producer`, `range_input_producer`, `slice_input_producer`, `string_input_producer`,
`tf.train.batch` and `shuffle_batch`.

Input producers enumerate their input on the host (`num_epochs` passes, each shuffled
with a permutation keyed by `tf.set_random_seed` and the op seed) instead of TF1's
`limit_epochs` local variable, so they need no `local_variables_initializer` (running it
is harmless). `string_input_producer` holds Python strings: its `dequeue()` can be fetched
(bytes, as in TF1) but not used by compiled ops (flowc compiles no string ops).
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from runtime.errors import OutOfRangeError

from ..frontend.array_ops import shape
from ..frontend.control_flow import no_op
from ..frontend.core import convert_to_tensor
from ..frontend.graph import Tensor
from ..frontend.manip_ops import gather
from ..frontend.random_ops import get_seed
from ..frontend.static import static_dims
from ..ir import dtypes as T
from ..summary.ops import string
from .blocks import seeded_rng
from .hostio import HostOp, host_io
from .queues import FIFOQueue, QueueRunner, RandomShuffleQueue, add_queue_runner


def _producer(values, dtype, element_shape, num_epochs, shuffle, seed, capacity, name,
              rows_of=np.asarray):
    """A FIFOQueue fed by a QueueRunner with `num_epochs` passes over the rows of `values`
    (a numpy array, or a graph tensor computed by each enqueue run and turned into the
    array of rows by `rows_of`), each pass shuffled when asked."""
    queue = FIFOQueue(capacity, [dtype], [element_shape], name=name)
    seeds = get_seed(seed) if shuffle else None
    passes = weakref.WeakKeyDictionary()
    lock = threading.Lock()
    inputs = [values] if isinstance(values, Tensor) else []

    def rows(session, given):
        with lock:
            k = passes.get(session, 0)
            if num_epochs is not None and k >= num_epochs:
                raise OutOfRangeError(None, None, f"{queue.name}: {num_epochs} epoch(s) done")
            passes[session] = k + 1
        arr = rows_of(given[0]) if inputs else values
        order = seeded_rng(seeds, k).permutation(len(arr)) if shuffle else range(len(arr))
        return [[arr[i, ...]] for i in order]

    with queue._graph.as_default():
        op = no_op(name=f"{queue.name}_enqueue_many")

    def run(session, feeds, given):
        queue._put(session, rows(session, given))
    host_io(queue._graph).add_op(op, HostOp(run, inputs))
    add_queue_runner(QueueRunner(queue, [op]))
    return queue


def input_producer(input_tensor, element_shape=None, num_epochs=None, shuffle=True,
                   seed=None, capacity=32, shared_name=None, summary_name=None, name=None,
                   cancel_op=None):
    """A queue of the rows of `input_tensor` (num_epochs passes), fed by a QueueRunner."""
    if isinstance(input_tensor, Tensor):
        t = input_tensor
        shape_ = element_shape or t.shape.as_list()[1:]
        return _producer(t, t.dtype, shape_, num_epochs, shuffle, seed, capacity,
                         name or "input_producer")
    arr = np.asarray(input_tensor)
    if arr.dtype.kind in "USO":
        return string_input_producer(list(arr), num_epochs, shuffle, seed, capacity,
                                     name=name or "input_producer")
    t = convert_to_tensor(arr)  # TF1's dtype rules
    values = t.op.attrs["value"].array
    return _producer(values, t.dtype, element_shape or list(values.shape[1:]), num_epochs,
                     shuffle, seed, capacity, name or "input_producer")


def range_input_producer(limit, num_epochs=None, shuffle=True, seed=None, capacity=32,
                         shared_name=None, name=None):
    """A queue of the int32 indices 0 .. limit-1 (num_epochs passes). `limit` is a number
    or a scalar int tensor (known at build time, or computed by each pass's enqueue run,
    as the PTB tutorial's `epoch_size`)."""
    name = name or "range_input_producer"
    if isinstance(limit, Tensor) or hasattr(limit, "_as_graph_element"):
        t = convert_to_tensor(limit)
        known = static_dims(t) if t.shape.ndims == 0 else None
        if known is None or not isinstance(known[0], int):
            if t.dtype.kind != "int" or t.shape.ndims != 0:
                raise TypeError(f"range_input_producer: limit must be a scalar int, got {t!r}")
            return _producer(t, T.int32, [], num_epochs, shuffle, seed, capacity, name,
                             rows_of=_indices)
        limit = known[0]
    return _producer(_indices(limit), T.int32, [], num_epochs, shuffle, seed, capacity, name)


def _indices(limit):
    return np.arange(int(limit), dtype=np.int32)


def slice_input_producer(tensor_list, num_epochs=None, shuffle=True, seed=None,
                         capacity=32, shared_name=None, name=None):
    """One slice of each tensor of `tensor_list` per dequeue (a shared index queue and
    compiled gathers)."""
    tensors = [convert_to_tensor(t) for t in tensor_list]
    if not tensors:
        raise ValueError("slice_input_producer: tensor_list is empty")
    firsts = {t.shape[0] if t.shape.known_rank and t.shape.ndims else "?" for t in tensors}
    if len(firsts) != 1 or "?" in firsts:
        raise ValueError("slice_input_producer: the tensors need one common first dimension, "
                         f"got shapes {[t.shape for t in tensors]}")
    n = firsts.pop()
    if not isinstance(n, int):  # a symbolic first dim: counted when each pass starts
        n = shape(tensors[0])[0]
    queue = range_input_producer(n, num_epochs, shuffle, seed, capacity, name=name)
    index = queue.dequeue()
    return [gather(t, index) for t in tensors]


def string_input_producer(string_tensor, num_epochs=None, shuffle=True, seed=None,
                          capacity=32, shared_name=None, name=None, cancel_op=None):
    """A queue of strings (file names): its dequeue() is fetched as bytes."""
    if isinstance(string_tensor, Tensor):
        raise TypeError("string_input_producer: give the file names as a Python list "
                        "(flowc has no string tensors in compiled code)")
    names = [s.encode() if isinstance(s, str) else bytes(s) for s in string_tensor]
    if not names:
        raise ValueError("string_input_producer: string_tensor is empty")
    values = np.empty(len(names), dtype=object)
    values[:] = names
    return _producer(values, string, [], num_epochs, shuffle, seed, capacity,
                     name or "input_producer")


def _as_list(tensors):
    if isinstance(tensors, dict):
        keys = sorted(tensors)
        return [convert_to_tensor(tensors[k]) for k in keys], keys
    if isinstance(tensors, (list, tuple)):
        return [convert_to_tensor(t) for t in tensors], None
    return [convert_to_tensor(tensors)], "single"


def _batch(queue_cls, tensors, batch_size, num_threads, enqueue_many, shapes,
           allow_smaller_final_batch, name, **queue_kw):
    flat, keys = _as_list(tensors)
    if shapes is None:
        shapes = []
        for t in flat:
            s = t.shape
            if not s.is_fully_defined() and not (enqueue_many and s.known_rank
                                                 and all(isinstance(d, int) for d in s[1:])):
                raise ValueError(f"{name}: all shapes must be fully defined, got "
                                 f"{t.name!r} of shape {s}; pass shapes=")
            shapes.append(s.as_list()[1:] if enqueue_many else s.as_list())
    queue = queue_cls(dtypes=[t.dtype for t in flat], shapes=shapes, name=name, **queue_kw)
    enqueue = queue.enqueue_many if enqueue_many else queue.enqueue
    ops = [enqueue(flat) for _ in range(int(num_threads))]
    add_queue_runner(QueueRunner(queue, ops))
    out = (queue.dequeue_up_to if allow_smaller_final_batch else queue.dequeue_many)(
        batch_size)
    out = out if isinstance(out, list) else [out]
    if keys == "single":
        return out[0]
    return dict(zip(keys, out)) if keys is not None else out


def batch(tensors, batch_size, num_threads=1, capacity=32, enqueue_many=False, shapes=None,
          dynamic_pad=False, allow_smaller_final_batch=False, shared_name=None, name=None):
    """TF1's `tf.train.batch`: a FIFOQueue filled by `num_threads` runner threads, read
    `batch_size` elements at a time (fewer at the end with allow_smaller_final_batch)."""
    if dynamic_pad:
        raise ValueError("tf.train.batch: dynamic_pad is not supported (shapes are fixed)")
    return _batch(FIFOQueue, tensors, batch_size, num_threads, enqueue_many, shapes,
                  allow_smaller_final_batch, name or "batch", capacity=capacity)


def shuffle_batch(tensors, batch_size, capacity, min_after_dequeue, num_threads=1, seed=None,
                  enqueue_many=False, shapes=None, allow_smaller_final_batch=False,
                  shared_name=None, name=None):
    """TF1's `tf.train.shuffle_batch`: the same over a RandomShuffleQueue."""
    return _batch(RandomShuffleQueue, tensors, batch_size, num_threads, enqueue_many, shapes,
                  allow_smaller_final_batch, name or "shuffle_batch", capacity=capacity,
                  min_after_dequeue=min_after_dequeue, seed=seed)
