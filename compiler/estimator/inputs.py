"""`fc.estimator.inputs.numpy_input_fn`: batches of numpy arrays fed on the host.

`numpy_input_fn(x, y, batch_size, num_epochs, shuffle)` returns an `input_fn`. Called in a
graph, it makes one placeholder per array (`[None] + array.shape[1:]`, the array's dtype,
named by its feature key) and registers a *feeder* in the graph's `HOST_FEEDERS`
collection (compiler/train/hooks.py). Every `MonitoredSession` on that graph (the
Estimator's train/evaluate/predict loops, `MonitoredTrainingSession`) feeds each run the
next batch: the index stream runs through `num_epochs` passes over the rows (None:
forever), each pass in order or, with `shuffle=True`, in a fresh permutation, and batches
of `batch_size` consecutive indices are cut from it (a batch may span two epochs, as TF1's
FIFO queue does; the last one may be smaller). A batch is one numpy slice per array (a
view when its rows are contiguous, else one `take`): no Python work per row. After the
last batch the feeder raises `OutOfRangeError`, which ends the monitored session's `with`
block. The permutations come from a numpy generator seeded by the graph seed
(`fc.set_random_seed`, `RunConfig(tf_random_seed=)`), or from fresh entropy without one:
the order is reproducible for a seed, but not TF1's (its shuffle queue is not
reproducible either).
"""

from __future__ import annotations

import numpy as np

from ..frontend.array_ops import placeholder
from ..frontend.graph import get_default_graph
from ..frontend.tf_errors import OutOfRangeError
from ..ir.dtypes import as_dtype
from ..train.hooks import HOST_FEEDERS

__all__ = ["numpy_input_fn"]


def numpy_input_fn(x, y=None, batch_size=128, num_epochs=1, shuffle=None, queue_capacity=1000,
                   num_threads=1):
    """An input_fn returning `(features, labels)` (just `features` when `y` is None) fed
    from `x` (an array or a dict of arrays) and `y` (an array, a dict of arrays or None);
    see the module docstring."""
    if not isinstance(shuffle, bool):
        raise ValueError(f"shuffle must be provided and explicitly set as boolean (it is "
                         f"recommended to set it as True for training); got {shuffle!r}")
    if num_epochs is not None and (not isinstance(num_epochs, int) or num_epochs <= 0):
        raise ValueError(f"num_epochs must be None or a positive integer, got {num_epochs!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x_arrays = _arrays("x", x)
    y_arrays = None if y is None else _arrays("y", y)
    if y_arrays is not None and set(x_arrays) & set(y_arrays) and isinstance(x, dict) \
            and isinstance(y, dict):
        raise ValueError(f"numpy_input_fn: x and y share the keys "
                         f"{sorted(set(x_arrays) & set(y_arrays))}")
    _check_lengths({**x_arrays, **(y_arrays or {})})

    def input_fn():
        graph = get_default_graph()
        feeder = _Feeder(batch_size, num_epochs, shuffle, graph.seed)
        features = _placeholders(x, x_arrays, feeder, "x")
        if y_arrays is None:
            graph.add_to_collection(HOST_FEEDERS, feeder)
            return features
        labels = _placeholders(y, y_arrays, feeder, "y")
        graph.add_to_collection(HOST_FEEDERS, feeder)
        return features, labels

    return input_fn


def _arrays(what, value):
    items = value.items() if isinstance(value, dict) else [(None, value)]
    out = {}
    for key, arr in items:
        arr = np.asarray(arr)
        label = what if key is None else f"{what}[{key!r}]"
        if arr.ndim == 0:
            raise ValueError(f"numpy_input_fn: {label} must have a batch dimension, got a "
                             f"scalar")
        try:
            as_dtype(arr.dtype)
        except (KeyError, TypeError, ValueError) as e:
            raise TypeError(f"numpy_input_fn: {label} has dtype {arr.dtype}, which flowc "
                            f"cannot feed") from e
        out[(what, key)] = arr
    if not out:
        raise ValueError(f"numpy_input_fn: {what} has no arrays")
    return out


def _check_lengths(arrays):
    lengths = {k: len(a) for k, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{w}[{k!r}]: {n}" if k is not None else f"{w}: {n}"
                           for (w, k), n in lengths.items())
        raise ValueError(f"numpy_input_fn: the arrays have different lengths ({listed})")


def _placeholders(value, arrays, feeder, what):
    out = {}
    for (_, key), arr in arrays.items():
        name = key if key is not None else ("features" if what == "x" else "labels")
        ph = placeholder(as_dtype(arr.dtype), [None] + list(arr.shape[1:]),
                         name=_op_name(str(name)))
        feeder.add(ph, arr)
        out[key] = ph
    return out if isinstance(value, dict) else out[None]


def _op_name(name):
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return cleaned if cleaned and cleaned[0].isalnum() else "input_" + cleaned


class _Feeder:
    """`feeder()` -> {placeholder: next batch}; OutOfRangeError after the last batch."""

    def __init__(self, batch_size, num_epochs, shuffle, seed):
        self._pairs = []
        self._batch, self._epochs, self._shuffle = batch_size, num_epochs, shuffle
        self._rng = np.random.default_rng(seed)
        self._epoch = 0
        self._order = None
        self._pos = 0

    def add(self, ph, arr):
        self._pairs.append((ph, arr))

    def __call__(self):
        parts = []
        want = self._batch
        while want > 0:
            if self._order is None or self._pos == len(self._order):
                if self._epochs is not None and self._epoch >= self._epochs:
                    break
                n = len(self._pairs[0][1])
                self._order = self._rng.permutation(n) if self._shuffle else _Range(n)
                self._pos = 0
                self._epoch += 1
                if n == 0:
                    continue
            take = min(want, len(self._order) - self._pos)
            parts.append(self._order[self._pos:self._pos + take])
            self._pos += take
            want -= take
        if not parts:
            raise OutOfRangeError(None, None, "numpy_input_fn: the input is exhausted "
                                  "(End of sequence)")
        return {ph: _gather(arr, parts) for ph, arr in self._pairs}


class _Range:
    """The indices 0..n-1 in order; a slice of it is a Python slice (a view of the rows)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, s):
        return slice(s.start, s.stop)


def _gather(arr, parts):
    if len(parts) == 1:
        index = parts[0]
        return arr[index] if isinstance(index, slice) else np.take(arr, index, axis=0)
    idx = np.concatenate([np.arange(p.start, p.stop) if isinstance(p, slice) else p
                          for p in parts])
    return np.take(arr, idx, axis=0)
