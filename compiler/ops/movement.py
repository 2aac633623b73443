"""Movement primitives: reshape, transpose, broadcast, slice, concat, pad, gather,
scatter_add, dynamic_update_slice.

Lowering turns these into index arithmetic on loads (never copies of their own unless
they are materialized as an output). Shapes may be symbolic: reshape's size equality,
broadcast's extents and concat's other axes unify symbols or add run-time checks.
`gather`, `scatter_add` and `dynamic_update_slice` raise `IndexError` on an out-of-range
index (negative indices are out of range), which generated code reports through its
error flag.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from ..ir.types import TensorType
from .table import OpDef, register


def _known(t, name):
    if t.shape is None:
        raise TypeError(f"{name} needs an input of known rank")
    return t.shape


def _unknown(*types) -> bool:
    """An input of unknown rank (a user graph with shape-less placeholders): the result
    is what the attrs say, else of unknown rank; convert infers again once the rank is
    fed and runs every check below."""
    return any(t.shape is None for t in types)


# reshape --------------------------------------------------------------------------------
def resolve_reshape(in_shape, shape, ctx):
    """Dims of reshape(in_shape -> shape) with at most one -1; unifies the sizes."""
    total = D.product(in_shape)
    holes = [i for i, d in enumerate(shape) if isinstance(d, int) and d == -1]
    if len(holes) > 1:
        raise ValueError(f"reshape: at most one -1 allowed in shape {list(shape)}")
    if any(isinstance(d, int) and d < -1 for d in shape):
        raise ValueError(f"reshape: negative dimension in shape {list(shape)}")
    if not holes:
        want = D.product(shape)
        if isinstance(total, int) and isinstance(want, int) and total != want:
            raise D.ShapeError(f"reshape: cannot reshape a tensor of {total} elements "
                               f"into shape {list(shape)} ({want} elements)")
        ctx.unify(total, want)
        return tuple(shape)
    known = D.product(d for d in shape if not (isinstance(d, int) and d == -1))
    if known == 0:
        raise ValueError(f"reshape: cannot infer -1 in shape {list(shape)} with a 0 extent")
    fill = D.divide_exact(total, known)
    if fill is None:
        if isinstance(total, int) and isinstance(known, int):
            raise D.ShapeError(f"reshape: cannot reshape a tensor of {total} elements into "
                               f"shape {list(shape)}")
        fill = D.floordiv(total, known) if isinstance(known, int) else None
        if fill is None:
            raise D.ShapeError(f"reshape: cannot infer -1 in {list(shape)} from {total} "
                               f"elements symbolically")
        ctx.unify(D.mul(fill, known), total)
    return tuple(fill if i == holes[0] else d for i, d in enumerate(shape))


def _reshape_infer(in_types, attrs, ctx):
    (t,) = in_types
    if t.shape is None:
        # the -1 of an input of unknown rank is a fresh symbol until convert knows the rank
        shape = tuple(D.DimExpr.atom(ctx.table.new_symbol("reshape -1")) if _is_hole(d) else d
                      for d in attrs["shape"])
        return TensorType(t.dtype, shape)
    return TensorType(t.dtype, resolve_reshape(t.shape, attrs["shape"], ctx))


def _is_hole(d) -> bool:
    return isinstance(d, int) and d == -1


def _reshape_ref(x, shape):
    return np.reshape(x, tuple(shape))


register(OpDef("reshape", 1, {"shape": "dims"}, _reshape_infer, _reshape_ref, "movement"))


# transpose ------------------------------------------------------------------------------
def _transpose_infer(in_types, attrs, ctx):
    (t,) = in_types
    perm = attrs["perm"]
    if _unknown(t):
        return TensorType(t.dtype, None)
    shape = _known(t, "transpose")
    if sorted(perm) != list(range(len(shape))):
        raise ValueError(f"transpose: perm {list(perm)} is not a permutation of "
                         f"{len(shape)} axes")
    return TensorType(t.dtype, tuple(shape[p] for p in perm))


register(OpDef("transpose", 1, {"perm": "ints"}, _transpose_infer,
               lambda x, perm: np.transpose(x, perm), "movement"))


# broadcast ------------------------------------------------------------------------------
def _broadcast_infer(in_types, attrs, ctx):
    (t,) = in_types
    shape = tuple(attrs["shape"])
    if _unknown(t):
        return TensorType(t.dtype, shape)
    src = _known(t, "broadcast")
    if len(src) > len(shape):
        raise D.ShapeError(f"broadcast: cannot broadcast rank {len(src)} to rank {len(shape)}")
    out = list(shape)
    for i, d in enumerate(src):
        j = len(shape) - len(src) + i
        if d == 1:
            continue
        try:
            out[j] = ctx.unify(d, shape[j])
        except D.ShapeError as e:
            raise D.ShapeError(f"broadcast: cannot broadcast {list(src)} to {list(shape)} "
                               f"({e})") from None
    return TensorType(t.dtype, tuple(out))


register(OpDef("broadcast", 1, {"shape": "dims"}, _broadcast_infer,
               lambda x, shape: np.array(np.broadcast_to(x, tuple(shape))), "movement"))


# slice ----------------------------------------------------------------------------------
def _slice_infer(in_types, attrs, ctx):
    (t,) = in_types
    if _unknown(t):
        return TensorType(t.dtype, tuple(attrs["size"]))
    shape = _known(t, "slice")
    begin, size, stride = attrs["begin"], attrs["size"], attrs["stride"]
    if not len(begin) == len(size) == len(stride) == len(shape):
        raise ValueError(f"slice: begin/size/stride must have {len(shape)} entries")
    for ax, (b, s, st, d) in enumerate(zip(begin, size, stride, shape)):
        if st == 0:
            raise ValueError("slice: stride 0")
        if all(isinstance(v, int) for v in (b, s, d)):
            last = b + (s - 1) * st
            if s > 0 and not (0 <= b < d and 0 <= last < d):
                raise IndexError(f"slice: axis {ax} of extent {d}: elements "
                                 f"{b}..{last} are out of range")
            continue
        # symbolic: the elements read, b .. b+(s-1)*st, must lie in [0, d) when s > 0
        last = D.add(b, D.mul(D.sub(s, 1), st))
        lo, hi = (b, last) if st > 0 else (last, b)
        try:
            ctx.table.require_le(0, lo, ctx.why)
            ctx.table.require_le(hi, D.sub(d, 1), ctx.why)
        except D.ShapeError as e:
            raise IndexError(f"slice: axis {ax}: {e}") from None
    return TensorType(t.dtype, tuple(size))


def _slice_ref(x, begin, size, stride):
    idx = []
    for b, s, st in zip(begin, size, stride):
        idx.append(b + st * np.arange(s))
    return x[np.ix_(*idx)] if x.ndim else x.copy()


register(OpDef("slice", 1, {"begin": "dims", "size": "dims", "stride": "ints"},
               _slice_infer, _slice_ref, "movement"))


# concat ---------------------------------------------------------------------------------
def _concat_infer(in_types, attrs, ctx):
    if not in_types:
        raise ValueError("concat needs at least one input")
    dtype = in_types[0].dtype
    if _unknown(*in_types):
        return TensorType(dtype, None)
    shapes = [_known(t, "concat") for t in in_types]
    rank = len(shapes[0])
    axis = attrs["axis"]
    if not 0 <= axis < rank:
        raise ValueError(f"concat: axis {axis} out of range for rank {rank}")
    out = list(shapes[0])
    for k, (t, s) in enumerate(zip(in_types, shapes)):
        if t.dtype is not dtype:
            raise TypeError(f"concat: input {k} has dtype {t.dtype.name}, expected {dtype.name}")
        if len(s) != rank:
            raise D.ShapeError(f"concat: input {k} has rank {len(s)}, expected {rank}")
        if k == 0:
            continue
        for i in range(rank):
            if i == axis:
                out[i] = D.add(out[i], s[i])
            else:
                try:
                    out[i] = ctx.unify(out[i], s[i])
                except D.ShapeError as e:
                    raise D.ShapeError(f"concat: input {k} axis {i}: {e}") from None
    return TensorType(dtype, tuple(out))


register(OpDef("concat", None, {"axis": "int"}, _concat_infer,
               lambda *xs, axis: np.concatenate(xs, axis=axis), "movement",
               branching_index=True))


# pad ------------------------------------------------------------------------------------
def _pad_infer(in_types, attrs, ctx):
    (t,) = in_types
    if _unknown(t):
        return TensorType(t.dtype, None)
    shape = _known(t, "pad")
    pads = attrs["pads"]
    if len(pads) != len(shape):
        raise ValueError(f"pad: paddings have {len(pads)} rows, tensor has rank {len(shape)}")
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        raise ValueError(f"pad: negative padding in {list(pads)}")
    return TensorType(t.dtype, tuple(D.add(d, lo + hi) for d, (lo, hi) in zip(shape, pads)))


def pad_value(value, dtype):
    """The pad value in the tensor's dtype, by the cast rule (NaN -> 0 for ints, ...)."""
    from .numerics import cast
    return cast(np.array(value, np.float64), np.dtype(dtype))


def _pad_ref(x, pads, value):
    if x.ndim == 0:
        return x.copy()
    return np.pad(x, [tuple(p) for p in pads], constant_values=pad_value(value, x.dtype))


register(OpDef("pad", 1, {"pads": "pairs", "value": "float"}, _pad_infer, _pad_ref,
               "movement", branching_index=True))


# gather / scatter_add ---------------------------------------------------------------------
def _gather_infer(in_types, attrs, ctx):
    params, indices = in_types
    if not indices.dtype.is_int:
        raise TypeError(f"gather: indices must be int32 or int64, got {indices.dtype.name}")
    if _unknown(params, indices):
        return TensorType(params.dtype, None)
    ps = _known(params, "gather")
    axis = attrs["axis"]
    if not 0 <= axis < len(ps):
        raise ValueError(f"gather: axis {axis} out of range for rank {len(ps)}")
    ish = _known(indices, "gather")
    return TensorType(params.dtype, tuple(ps[:axis]) + tuple(ish) + tuple(ps[axis + 1:]))


def check_indices(indices, extent, what):
    bad = (indices < 0) | (indices >= extent)
    if np.any(bad):
        first = indices[bad].flat[0]
        raise IndexError(f"{what}: index {int(first)} is out of range [0, {extent})")


def _gather_ref(params, indices, axis):
    check_indices(indices, params.shape[axis], "gather")
    return np.take(params, indices, axis=axis)


register(OpDef("gather", 2, {"axis": "int"}, _gather_infer, _gather_ref, "movement"))


def _scatter_infer(in_types, attrs, ctx):
    updates, indices = in_types
    if not indices.dtype.is_int:
        raise TypeError(f"scatter_add: indices must be int, got {indices.dtype.name}")
    shape, axis = tuple(attrs["shape"]), attrs["axis"]
    if _unknown(updates, indices):
        return TensorType(updates.dtype, shape)
    us, ish = _known(updates, "scatter_add"), _known(indices, "scatter_add")
    expect = shape[:axis] + tuple(ish) + shape[axis + 1:]
    if len(us) != len(expect):
        raise D.ShapeError(f"scatter_add: updates have rank {len(us)}, expected {len(expect)}")
    for a, b in zip(us, expect):
        ctx.unify(a, b)
    return TensorType(updates.dtype, shape)


def _scatter_ref(updates, indices, shape, axis):
    check_indices(indices, shape[axis], "scatter_add")
    out = np.zeros(tuple(shape), updates.dtype)
    moved = np.moveaxis(out, axis, 0)
    upd = np.moveaxis(updates.reshape(shape[:axis] + (indices.size,) + tuple(shape[axis + 1:])),
                      axis, 0)
    np.add.at(moved, indices.reshape(-1), upd)
    return out


register(OpDef("scatter_add", 2, {"shape": "dims", "axis": "int"}, _scatter_infer,
               _scatter_ref, "opaque"))


# dynamic_update_slice ---------------------------------------------------------------------
def _dus_infer(in_types, attrs, ctx):
    """buf [n, *rest], update [*rest], index an int scalar -> buf's type (out = buf with
    row `index` replaced by `update`: XLA's DynamicUpdateSlice along axis 0, the write of
    TF1's TensorArray)."""
    buf, update, index = in_types
    if not index.dtype.is_int or (index.shape is not None and len(index.shape) != 0):
        raise TypeError(f"dynamic_update_slice: the index must be an int32/int64 scalar, "
                        f"got {index.dtype.name}{list(index.shape or ())}")
    if update.dtype is not buf.dtype:
        raise TypeError(f"dynamic_update_slice: the update has dtype {update.dtype.name}, "
                        f"the buffer {buf.dtype.name}")
    if _unknown(buf, update):  # convert infers again once the fed ranks are known
        return TensorType(buf.dtype, buf.shape if buf.shape is not None else None)
    bs = _known(buf, "dynamic_update_slice")
    us = _known(update, "dynamic_update_slice")
    if len(bs) != len(us) + 1:
        raise D.ShapeError(f"dynamic_update_slice: a buffer of shape {list(bs)} takes rows "
                           f"of rank {len(bs) - 1}, got an update of shape {list(us)}")
    rest = []
    for k, (a, b) in enumerate(zip(bs[1:], us)):
        try:
            rest.append(ctx.unify(a, b))
        except D.ShapeError as e:
            raise D.ShapeError(f"dynamic_update_slice: update axis {k}: {e}") from None
    return TensorType(buf.dtype, (bs[0],) + tuple(rest))


def _dus_ref(buf, update, index):
    check_indices(np.asarray(index).reshape(1), buf.shape[0], "dynamic_update_slice")
    out = buf.copy()
    out[int(index)] = update
    return out


register(OpDef("dynamic_update_slice", 3, {}, _dus_infer, _dus_ref, "opaque"))
