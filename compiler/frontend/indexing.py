"""`tensor[key]`: numpy-style basic indexing built from the `slice`, `gather` and
`reshape` primitives (TF1's strided_slice).

`getitem(x, key)` accepts, per axis: a Python int (negative counts from the end), a slice
with int/None start, stop and step (any non-zero step, negative included), `Ellipsis`,
and `None`/`fc.newaxis`; a scalar int tensor is also accepted as an index (it becomes a
`gather`, so it must be in range and non-negative). The input needs a known rank.

Bounds are clamped as in Python and numpy (and TF1's strided_slice), on static and
symbolic dims alike: on a symbolic dim `N` the clamp is a `max`/`min` dim expression
evaluated at run time, so `x[2:]` has extent `max(N-2, 0)` (empty when one element is
fed), `x[-3:]` has `min(3, N)`, `x[::2]` has `(N+1)//2`, on every path. An int index out of range of
a static dim raises `SliceIndexError` (both an IndexError and a ValueError, as TF1
raises ValueError) at build time. Masks and fancy (list) indexing are not supported and
raise TypeError.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from .core import _as_tensor, convert_to_tensor, identity, known_shape, make, op_scope
from .deferred import deferred, rank_unknown
from .graph import Tensor
from .static import is_int_like, static_dims


class SliceIndexError(IndexError, ValueError):
    """An index is out of range of a static dimension."""


def getitem(x, key, name=None) -> Tensor:
    """`x[key]` (see the module docstring)."""
    x = convert_to_tensor(x)
    if rank_unknown(x):
        return deferred(lambda t: getitem(t, key), [x], x.dtype, name=name or "strided_slice")
    shape = known_shape(x, "strided_slice")
    items = _expand(key if isinstance(key, tuple) else (key,), len(shape))
    with op_scope(name, "strided_slice", [x]) as scope:
        begin, size, stride, out_shape, gathers = [], [], [], [], []
        axis = 0
        for item in items:
            if item is None:
                out_shape.append(1)
                continue
            b, n, st, keep = _axis_spec(item, shape[axis], axis)
            if keep is None:
                gathers.append((axis, item))
                b, n, st = 0, shape[axis], 1
            elif keep:
                out_shape.append(n)
            begin.append(b)
            size.append(n)
            stride.append(st)
            axis += 1
        return _build(x, shape, begin, size, stride, gathers, out_shape, scope)


def _build(x, shape, begin, size, stride, gathers, out_shape, scope):
    out = x
    if any(b != 0 for b in begin) or tuple(size) != tuple(shape) or any(s != 1 for s in stride):
        out = make("slice", [out], begin=tuple(begin), size=tuple(size), stride=tuple(stride))
    for axis, index in reversed(gathers):
        out = make("gather", [out, index], axis=axis)
    if tuple(out.shape) != tuple(out_shape):
        return make("reshape", [out], name=scope, shape=tuple(out_shape))
    return identity(out, name=scope)


def _expand(items, rank):
    """Replace Ellipsis (or the implicit trailing one) by full slices."""
    for item in items:
        _check_item(item)
    n_ellipsis = sum(1 for i in items if i is Ellipsis)
    if n_ellipsis > 1:
        raise SliceIndexError("strided_slice: an index can only have a single ellipsis")
    consuming = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consuming > rank:
        raise SliceIndexError(f"strided_slice: too many indices ({consuming}) for a tensor "
                              f"of rank {rank}")
    fill = [slice(None)] * (rank - consuming)
    if not n_ellipsis:
        return list(items) + fill
    k = items.index(Ellipsis)
    return list(items[:k]) + fill + list(items[k + 1:])


def _check_item(item):
    if item is None or item is Ellipsis or isinstance(item, slice) or is_int_like(item):
        return
    if isinstance(item, Tensor) or hasattr(item, "_as_graph_element"):
        return
    raise TypeError(f"strided_slice: unsupported index {item!r}; use ints, slices, ..., "
                    "fc.newaxis or a scalar int tensor (masks and lists are not supported)")


def _axis_spec(item, d, axis):
    """(begin, size, stride, keep) of one axis; keep is None for a tensor index."""
    if isinstance(item, slice):
        b, n, st = slice_extent(d, item, axis)
        return b, n, st, True
    if not is_int_like(item):
        value = _static_scalar(item)
        if value is None:
            _check_tensor_index(item)
            return None, None, None, None
        item = value
    return _int_index(d, int(item), axis), 1, 1, False


def _check_tensor_index(item):
    t = _as_tensor(item)
    if t.dtype.kind != "int" or t.shape.ndims != 0:
        raise TypeError(f"strided_slice: a tensor index must be a scalar int tensor, got "
                        f"{t!r}")


def _static_scalar(item):
    t = _as_tensor(item)
    vals = static_dims(t) if t.shape.ndims == 0 else None
    return vals[0] if vals and isinstance(vals[0], int) else None


def _int_index(d, i, axis):
    if isinstance(d, int):
        if not -d <= i < d:
            raise SliceIndexError(f"strided_slice: index {i} is out of range for axis {axis} "
                                  f"of extent {d}")
        return i % d
    return i if i >= 0 else D.add(d, i)


def _bound(v, axis, what):
    if v is None or is_int_like(v):
        return None if v is None else int(v)
    value = _static_scalar(v) if isinstance(v, Tensor) else None
    if value is None:
        raise TypeError(f"strided_slice: the {what} of the slice on axis {axis} must be an "
                        f"int or None, got {v!r}")
    return value


def slice_extent(d, s: slice, axis=0):
    """(begin, size, stride) of the Python slice `s` on an axis of extent `d` (an int or
    a symbolic dim)."""
    start, stop = _bound(s.start, axis, "start"), _bound(s.stop, axis, "stop")
    step = 1 if s.step is None else _bound(s.step, axis, "step")
    if step == 0:
        raise ValueError(f"strided_slice: slice step on axis {axis} cannot be zero")
    if isinstance(d, int):
        r = range(*slice(start, stop, step).indices(d))
        return (r.start if len(r) else 0), len(r), step
    # a symbolic extent: the bounds are clamped at run time as Python clamps them
    if step > 0:
        b = 0 if start is None else _clamp(d, start, 0, d)
        e = d if stop is None else _clamp(d, stop, 0, d)
        return b, _count(D.sub(e, b), step), step
    last = D.sub(d, 1)
    b = last if start is None else _clamp(d, start, -1, last)
    e = -1 if stop is None else _clamp(d, stop, -1, last)
    return b, _count(D.sub(b, e), -step), step


def _clamp(d, v, lo, hi):
    """Python's bound `v` on an axis of extent `d`: counted from the end when negative,
    then clamped to [lo, hi]."""
    return D.minimum(v, hi) if v >= 0 else D.maximum(D.add(d, v), lo)


def _count(span, step):
    """ceil(max(span, 0) / step): the number of elements of a clamped slice."""
    span = D.maximum(D.distribute(span), 0)
    return D.floordiv(D.add(span, step - 1), step)


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0,
                  ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0, var=None,
                  name=None) -> Tensor:
    """TF1's `tf.strided_slice`: the spec (`begin`, `end`, `strides`, 1-D and of equal
    length) and the masks are turned into the Python key `input_[key]` takes, entry `i`
    being, by the bits `1 << i` of the masks: `...` (ellipsis_mask), `fc.newaxis`
    (new_axis_mask), the int `begin[i]` (shrink_axis_mask: the axis is removed), else
    `slice(begin[i] or None if begin_mask, end[i] or None if end_mask, strides[i])`.
    The spec must be known when the graph is built (Python ints or constant int tensors);
    `var` is accepted for TF1's signature and unused."""
    del var
    b, e = _spec(begin, "begin"), _spec(end, "end")
    st = [1] * len(b) if strides is None else _spec(strides, "strides")
    if not len(b) == len(e) == len(st):
        raise ValueError(f"strided_slice: begin, end and strides must have the same length, "
                         f"got {len(b)}, {len(e)} and {len(st)}")
    key = []
    for i in range(len(b)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(b[i])
        else:
            if st[i] == 0:
                raise ValueError(f"strided_slice: strides[{i}] must be non-zero")
            key.append(slice(None if begin_mask & bit else b[i],
                             None if end_mask & bit else e[i], st[i]))
    return getitem(input_, tuple(key), name=name or "StridedSlice")


def _spec(value, what):
    """A strided_slice spec argument as a list of Python ints."""
    if isinstance(value, (Tensor,)) or hasattr(value, "_as_graph_element"):
        t = _as_tensor(value)
        dims = static_dims(t) if t.shape.ndims == 1 else None
        if dims is None or not all(isinstance(d, int) for d in dims):
            raise TypeError(f"strided_slice: `{what}` must be known when the graph is "
                            f"built (ints or a constant 1-D int tensor), got {t!r}")
        return dims
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TypeError(f"strided_slice: `{what}` must be a 1-D list of ints, got {value!r}")
    return [int(v) for v in arr]


def reverse(tensor, axis, name=None) -> Tensor:
    """`tensor` with the order of elements reversed along each axis in `axis`."""
    x = convert_to_tensor(tensor)
    if rank_unknown(x):
        return deferred(lambda t: reverse(t, axis), [x], x.dtype, name=name or "ReverseV2")
    rank = len(known_shape(x, "ReverseV2"))
    axes = [int(a) for a in np.atleast_1d(axis)]
    key = [slice(None)] * rank
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"ReverseV2: axis {a} is out of range for rank {rank}")
        key[a % rank] = slice(None, None, -1)
    return getitem(x, tuple(key), name=name or "ReverseV2")
