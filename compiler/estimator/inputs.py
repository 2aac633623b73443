"""`fc.estimator.inputs.numpy_input_fn`: batches of numpy arrays, as a `tf.data` pipeline.

`numpy_input_fn(x, y, batch_size, num_epochs, shuffle, queue_capacity, num_threads)`
checks its arrays and returns an `input_fn`. Called in a graph, it builds
`Dataset.from_tensor_slices(x)` (or `(x, y)`; compiler/data: the arrays stay on the host,
unconverted), `.shuffle(queue_capacity)` with `shuffle=True`, `.repeat(num_epochs)` (None:
forever) and `.batch(batch_size)`, and returns a one-shot iterator's `get_next()`: the
features (a tensor for an array `x`, a dict of tensors for a dict) and the labels likewise
(only the features when `y` is None). So the batches reach the compiled step through the
Session's host-input hook like any tf.data input, in a plain `Session` loop as under the
Estimator's monitored sessions: each run that needs them pulls the next batch, and after
the last one a run raises `tf.errors.OutOfRangeError` (which ends the Estimator's
train/evaluate/predict loops and a monitored session's `with` block).

TF1's observable behaviour is kept: the batches are cut from one row stream of
`num_epochs` passes, so a batch may span two epochs and the last one may be smaller (the
batch dim is None, as TF1's `dequeue_up_to` gives; with `num_epochs=None` every batch is
full and the batch dim is `batch_size`, as `dequeue_many` gives). With `shuffle=True` each
pass is reordered by a shuffle buffer of `queue_capacity` rows (TF1's RandomShuffleQueue
capacity bounds the mixing the same way; here a pass never mixes with the next, so every
pass is a permutation of the rows), seeded by the graph seed (`fc.set_random_seed`,
`RunConfig(tf_random_seed=)`) and a new order each pass: reproducible for a seed, but not
TF1's order (its queue threads are not reproducible either). `num_threads` is accepted and
checked; one host reader keeps the order repeatable, as TF1 advises `num_threads=1` for.
"""

from __future__ import annotations

import numpy as np

from ..data.dataset import Dataset
from ..ir.dtypes import as_dtype

__all__ = ["numpy_input_fn"]


def numpy_input_fn(x, y=None, batch_size=128, num_epochs=1, shuffle=None, queue_capacity=1000,
                   num_threads=1):
    """An input_fn returning `(features, labels)` (just `features` when `y` is None) read
    from `x` (an array or a dict of arrays) and `y` (an array, a dict of arrays or None);
    see the module docstring."""
    if not isinstance(shuffle, bool):
        raise ValueError(f"shuffle must be provided and explicitly set as boolean (it is "
                         f"recommended to set it as True for training); got {shuffle!r}")
    for name, value in (("batch_size", batch_size), ("queue_capacity", queue_capacity),
                        ("num_threads", num_threads)):
        if not _positive_int(value):
            raise ValueError(f"numpy_input_fn: {name} must be a positive integer, got "
                             f"{value!r}")
    if num_epochs is not None and not _positive_int(num_epochs):
        raise ValueError(f"num_epochs must be None or a positive integer, got {num_epochs!r}")
    x_arrays = _arrays("x", x)
    y_arrays = None if y is None else _arrays("y", y)
    if isinstance(x, dict) and isinstance(y, dict) and set(x) & set(y):
        raise ValueError(f"numpy_input_fn: x and y share the keys {sorted(set(x) & set(y))}")
    _check_lengths(x_arrays, y_arrays)
    element = _structure(x, x_arrays) if y is None else (
        _structure(x, x_arrays), _structure(y, y_arrays))

    def input_fn():
        dataset = Dataset.from_tensor_slices(element)
        if shuffle:
            dataset = dataset.shuffle(queue_capacity)
        dataset = dataset.repeat(num_epochs).batch(batch_size,
                                                   drop_remainder=num_epochs is None)
        return dataset.make_one_shot_iterator().get_next()

    return input_fn


def _positive_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def _arrays(what, value):
    """{key (None for a bare array): the array}, each checked: a batch dim, rows, a dtype
    flowc can feed."""
    if isinstance(value, dict):
        if not value:
            raise ValueError(f"numpy_input_fn: {what} cannot be an empty dict" +
                             (", use None instead" if what == "y" else ""))
        items = list(value.items())
    else:
        items = [(None, value)]
    out = {}
    for key, arr in items:
        arr = np.asarray(arr)
        label = what if key is None else f"{what}[{key!r}]"
        if arr.ndim == 0:
            raise ValueError(f"numpy_input_fn: {label} must have a batch dimension, got a "
                             f"scalar")
        if len(arr) == 0:
            raise ValueError(f"numpy_input_fn: {label} has no rows (shape {arr.shape})")
        try:
            as_dtype(arr.dtype)
        except (KeyError, TypeError, ValueError) as e:
            raise TypeError(f"numpy_input_fn: {label} has dtype {arr.dtype}, which flowc "
                            f"cannot feed") from e
        out[key] = arr
    return out


def _check_lengths(x_arrays, y_arrays):
    named = {("x", k): a for k, a in x_arrays.items()}
    named.update({("y", k): a for k, a in (y_arrays or {}).items()})
    if len({len(a) for a in named.values()}) > 1:
        listed = ", ".join(f"{w}[{k!r}]: {len(a)}" if k is not None else f"{w}: {len(a)}"
                           for (w, k), a in named.items())
        raise ValueError(f"numpy_input_fn: the arrays have different lengths ({listed}); "
                         f"all elements in x and y must have the same length")


def _structure(value, arrays):
    """The element structure: the array itself, or a plain dict of arrays."""
    return dict(arrays) if isinstance(value, dict) else arrays[None]
