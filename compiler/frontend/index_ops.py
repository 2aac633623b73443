"""TF1's array_ops that move elements by index tuples or blocks: `gather_nd`,
`scatter_nd`, `tensor_scatter_nd_update/add/sub` (and TF 1.15's `tensor_scatter_update/
add/sub` spellings), `reverse_sequence`, `matrix_band_part`, `depth_to_space`,
`space_to_depth`, and linalg's `eye`.

All are compositions of primitives (iota, gather, scatter_add, select, reshape,
transpose), so they compile as the rest and get gradients from the primitives' rules. An
index tuple becomes one linear row index into the indexed leading axes (Horner's rule
with the extents, symbolic ones read from `shape` at run time), so an N-d gather is one
`gather` and an N-d scatter one `scatter_add`. Indices out of range raise at run time,
as `gather` does (TF1 on CPU raises too); negative indices are out of range, and a
coordinate past its own axis is caught before it could alias another element.

`scatter_rows(data, rows, updates, reduction)` is the shared core of the scatters
(reductions "update", "add", "mul", "max", "min"); the ONNX importer uses it as well.
`update` with repeated rows adds their updates (TF1 leaves the order unspecified).
`mul`/`max`/`min` have no primitive: they compare every update with every row, a mask of
updates x rows elements.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from ..ir import dtypes as T
from ..ops import reduce as R
from .core import constant, convert_to_tensor, dims_of, known_shape, make, op_scope
from .graph import Tensor


def _index_dtype(idx):
    if idx.dtype.kind != "int":
        raise TypeError(f"indices must be int32 or int64, got {idx.dtype.name}")
    return idx.dtype


def _extent(x, axis, dtype):
    """Extent `axis` of `x` as a scalar tensor of `dtype` (a constant when static)."""
    d = x.shape[axis]
    if isinstance(d, int):
        return constant(np.asarray(d, dtype.np))
    dims = make("shape", [x], dtype=dtype)
    return make("reshape", [make("slice", [dims], begin=(axis,), size=(1,), stride=(1,))],
                shape=())


def linear_index(components, x, first_axis=0, checked=None):
    """Row-major linear index of the coordinates `components` (int tensors of one shape)
    into axes first_axis, first_axis + 1, ... of `x` (Horner's rule). A coordinate outside
    its axis would alias another element, so where any of the components numbered in
    `checked` (default: all) is out of range the index is -1, which the gather or scatter
    reports as out of range when the graph runs."""
    out, bad = components[0], None
    checked = range(len(components)) if checked is None else checked
    for j, c in enumerate(components):
        if j:
            out = make("add", [make("mul", [out, _extent(x, first_axis + j, out.dtype)]), c])
        if j in checked:
            zero = constant(np.asarray(0, c.dtype.np))
            outside = make("logical_or", [make("less", [c, zero]), make(
                "greater_equal", [c, _extent(x, first_axis + j, c.dtype)])])
            bad = outside if bad is None else make("logical_or", [bad, outside])
    if bad is None:
        return out
    return make("select", [bad, constant(np.asarray(-1, out.dtype.np)), out])


def _iota(shape, axis, dtype):
    return make("iota", [], shape=tuple(shape), axis=axis, dtype=dtype)


def _nd_rows(x, idx, batch_dims, opname):
    """(rows [*idx.shape[:-1]], x as [P, *rest]): the linear index of the tuples in the
    last axis of `idx` into the first batch_dims + k axes of `x`."""
    xs, ish = known_shape(x, opname), known_shape(idx, opname)
    dt = _index_dtype(idx)
    if not ish:
        raise ValueError(f"{opname}: indices must have rank >= 1")
    k = ish[-1]
    if not isinstance(k, int) or not 1 <= batch_dims + k <= len(xs) or batch_dims < 0:
        raise ValueError(f"{opname}: index tuples of length {k} do not fit a tensor of "
                         f"rank {len(xs)} with batch_dims {batch_dims}")
    outer = tuple(ish[:-1])
    if len(outer) < batch_dims:
        raise ValueError(f"{opname}: batch_dims {batch_dims} exceeds the indices' batch axes")
    comps = [_iota(outer, b, dt) for b in range(batch_dims)]
    last = len(ish) - 1
    for j in range(k):
        part = make("slice", [idx], begin=(0,) * last + (j,), size=outer + (1,),
                    stride=(1,) * len(ish))
        comps.append(make("reshape", [part], shape=outer))
    lead = xs[:batch_dims + k]
    rows = linear_index(comps, x, checked=range(batch_dims, batch_dims + k))
    flat = make("reshape", [x], shape=(D.product(lead),) + tuple(xs[len(lead):]))
    return rows, flat


def gather_nd(params, indices, name=None, batch_dims=0) -> Tensor:
    """Slices of `params` at the index tuples in the last axis of `indices`: the result
    has shape indices.shape[:-1] + params.shape[batch_dims + k:] (k = the tuples' length);
    the first `batch_dims` axes of both are batch axes."""
    x, idx = convert_to_tensor(params), convert_to_tensor(indices)
    with op_scope(name, "GatherNd", [x, idx]) as scope:
        rows, flat = _nd_rows(x, idx, int(batch_dims), "GatherNd")
        return make("gather", [flat, rows], axis=0, name=scope)


_REDUCE = {"mul": "reduce_prod", "max": "reduce_max", "min": "reduce_min"}
_COMBINE = {"mul": "mul", "max": "maximum", "min": "minimum"}
DENSE_LIMIT = 1 << 24


def scatter_rows(data, rows, updates, reduction):
    """`data` [P, *rest] with `updates` [M, *rest] applied at rows `rows` [M]: reduction
    "update" (replace), "add", "mul", "max" or "min"."""
    shape = tuple(data.shape)
    p, m, rest = shape[0], tuple(updates.shape)[0], shape[1:]
    if reduction in ("update", "add"):
        summed = make("scatter_add", [updates, rows], shape=shape, axis=0)
        if reduction == "add":
            return make("add", [data, summed])
        ones = make("broadcast", [constant(np.int32(1))], shape=(m,))
        hits = make("scatter_add", [ones, rows], shape=(p,), axis=0)
        written = make("greater", [hits, constant(np.int32(0))])
        written = make("broadcast", [make("reshape", [written], shape=(p,) + (1,) * len(rest))],
                       shape=shape)
        return make("select", [written, summed, data])
    if reduction not in _REDUCE:
        raise ValueError(f"scatter: unknown reduction {reduction!r}")
    size = D.product((m,) + shape)
    if not isinstance(size, int) or size > DENSE_LIMIT:
        raise ValueError(f"scatter with reduction {reduction!r} compares every update with "
                         f"every row ({D.format_dim(size)} elements; the limit is "
                         f"{DENSE_LIMIT}, and the extents must be static)")
    wide = (m, p) + rest
    hit = make("equal", [make("reshape", [rows], shape=(m, 1)), _iota((1, p), 1, rows.dtype)])
    hit = make("broadcast", [make("reshape", [hit], shape=(m, p) + (1,) * len(rest))],
               shape=wide)
    upd = make("broadcast", [make("reshape", [updates], shape=(m, 1) + rest)], shape=wide)
    ident = R.identity_of(_REDUCE[reduction], data.dtype.np)
    fill = make("broadcast", [constant(np.asarray(ident, data.dtype.np))], shape=wide)
    folded = make(_REDUCE[reduction], [make("select", [hit, upd, fill])], axes=(0,),
                  keepdims=False)
    return make(_COMBINE[reduction], [data, folded])


def scatter_nd_reduce(tensor, indices, updates, reduction, name=None, opname="ScatterNd"):
    """`tensor` with `updates` applied at the index tuples of `indices` (reduction as
    `scatter_rows`); updates have shape indices.shape[:-1] + tensor.shape[k:]."""
    x, idx, upd = (convert_to_tensor(v) for v in (tensor, indices, updates))
    with op_scope(name, opname, [x, idx, upd]) as scope:
        if upd.dtype is not x.dtype:
            raise TypeError(f"{opname}: updates have dtype {upd.dtype.name}, the tensor "
                            f"{x.dtype.name}")
        rows, flat = _nd_rows(x, idx, 0, opname)
        m = D.product(tuple(rows.shape))
        rows = make("reshape", [rows], shape=(m,))
        upd = make("reshape", [upd], shape=(m,) + tuple(flat.shape)[1:])
        out = scatter_rows(flat, rows, upd, reduction)
        return make("reshape", [out], shape=tuple(x.shape), name=scope)


def scatter_nd(indices, updates, shape, name=None) -> Tensor:
    """Zeros of `shape` with `updates` added at the index tuples of `indices` (repeated
    tuples add up)."""
    upd = convert_to_tensor(updates)
    zeros = make("broadcast", [constant(np.zeros((), upd.dtype.np))],
                 shape=dims_of(shape, "ScatterNd"))
    return scatter_nd_reduce(zeros, indices, upd, "add", name, "ScatterNd")


def tensor_scatter_nd_update(tensor, indices, updates, name=None) -> Tensor:
    """`tensor` with the slices at the index tuples of `indices` replaced by `updates`."""
    return scatter_nd_reduce(tensor, indices, updates, "update", name,
                             "TensorScatterUpdate")


def tensor_scatter_nd_add(tensor, indices, updates, name=None) -> Tensor:
    """`tensor` with `updates` added at the index tuples of `indices`."""
    return scatter_nd_reduce(tensor, indices, updates, "add", name, "TensorScatterAdd")


def tensor_scatter_nd_sub(tensor, indices, updates, name=None) -> Tensor:
    """`tensor` with `updates` subtracted at the index tuples of `indices`."""
    upd = convert_to_tensor(updates)
    return scatter_nd_reduce(tensor, indices, make("neg", [upd]), "add", name,
                             "TensorScatterSub")


# TF 1.15's first spellings
tensor_scatter_update = tensor_scatter_nd_update
tensor_scatter_add = tensor_scatter_nd_add
tensor_scatter_sub = tensor_scatter_nd_sub


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None, name=None,  # noqa: A002
                     seq_dim=None, batch_dim=None) -> Tensor:
    """Along `seq_axis`, the first `seq_lengths[b]` elements of each batch row b (on
    `batch_axis`, default 0) reversed; the rest stay in place. One gather."""
    x, lens = convert_to_tensor(input), convert_to_tensor(seq_lengths)
    seq_axis = seq_dim if seq_axis is None else seq_axis
    batch_axis = (0 if batch_dim is None else batch_dim) if batch_axis is None else batch_axis
    with op_scope(name, "ReverseSequence", [x, lens]) as scope:
        s = known_shape(x, "ReverseSequence")
        if seq_axis is None:
            raise ValueError("ReverseSequence: seq_axis is required")
        t, b = int(seq_axis) % max(len(s), 1), int(batch_axis) % max(len(s), 1)
        if len(s) < 2 or t == b:
            raise ValueError(f"ReverseSequence: seq_axis {seq_axis} and batch_axis "
                             f"{batch_axis} must be two different axes of a tensor of rank "
                             f">= 2, got rank {len(s)}")
        dt = _index_dtype(lens)
        along = [1] * len(s)
        along[b] = s[b]
        length = make("broadcast", [make("reshape", [lens], shape=tuple(along))], shape=s)
        time = _iota(s, t, dt)
        mirrored = make("sub", [make("sub", [length, constant(np.asarray(1, dt.np))]), time])
        src = make("select", [make("less", [time, length]), mirrored, time])
        comps = [src if k == t else _iota(s, k, dt) for k in range(len(s))]
        flat = make("reshape", [x], shape=(D.product(s),))
        index = linear_index(comps, x, checked=(t,))    # a length past the axis
        return make("gather", [flat, index], axis=0, name=scope)


def _static_int(v, what):
    if isinstance(v, (int, np.integer)):
        return int(v)
    t = convert_to_tensor(v)
    if t.op.type == "constant" and t.op.attrs["value"].array.size == 1:
        return int(t.op.attrs["value"].array.reshape(()))
    raise TypeError(f"matrix_band_part: {what} must be known when the graph is built")


def matrix_band_part(input, num_lower, num_upper, name=None) -> Tensor:  # noqa: A002
    """The band of each innermost matrix: element (i, j) kept where (num_lower < 0 or
    i - j <= num_lower) and (num_upper < 0 or j - i <= num_upper), zero elsewhere."""
    x = convert_to_tensor(input)
    lower, upper = _static_int(num_lower, "num_lower"), _static_int(num_upper, "num_upper")
    with op_scope(name, "MatrixBandPart", [x]) as scope:
        s = known_shape(x, "MatrixBandPart")
        if len(s) < 2:
            raise ValueError(f"MatrixBandPart: needs rank >= 2, got {len(s)}")
        sq = tuple(s[-2:])
        diff = make("sub", [_iota(sq, 1, T.int64), _iota(sq, 0, T.int64)])   # j - i
        keep = None
        if lower >= 0:
            keep = make("greater_equal", [diff, constant(np.int64(-lower))])
        if upper >= 0:
            up = make("less_equal", [diff, constant(np.int64(upper))])
            keep = up if keep is None else make("logical_and", [keep, up])
        if keep is None:
            return make("reshape", [x], shape=s, name=scope)
        zero = make("broadcast", [constant(np.zeros((), x.dtype.np))], shape=s)
        return make("select", [make("broadcast", [keep], shape=s), x, zero], name=scope)


def _blocks(x, block_size, data_format, opname):
    s = known_shape(x, opname)
    if len(s) != 4:
        raise ValueError(f"{opname}: needs a 4-D input, got rank {len(s)}")
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"{opname}: data_format must be NHWC or NCHW, got {data_format!r}")
    b = int(block_size)
    if b < 2:
        raise ValueError(f"{opname}: block_size must be >= 2, got {b}")
    return s, b, data_format == "NCHW"


def depth_to_space(input, block_size, name=None, data_format="NHWC") -> Tensor:  # noqa: A002
    """Channels moved into b x b spatial blocks: out[n, h*b+i, w*b+j, c] =
    in[n, h, w, (i*b + j)*C' + c] with C' = C / b^2 (NHWC; NCHW likewise)."""
    x = convert_to_tensor(input)
    with op_scope(name, "DepthToSpace", [x]) as scope:
        s, b, first = _blocks(x, block_size, data_format, "DepthToSpace")
        c = s[1] if first else s[3]
        oc = D.divide_exact(c, b * b)
        if oc is None:
            raise ValueError(f"DepthToSpace: channels {D.format_dim(c)} are not a multiple of "
                             f"block_size^2 = {b * b}")
        if first:
            n, _, h, w = s
            t = make("reshape", [x], shape=(n, b, b, oc, h, w))
            t = make("transpose", [t], perm=(0, 3, 4, 1, 5, 2))
            out = (n, oc, D.mul(h, b), D.mul(w, b))
        else:
            n, h, w, _ = s
            t = make("reshape", [x], shape=(n, h, w, b, b, oc))
            t = make("transpose", [t], perm=(0, 1, 3, 2, 4, 5))
            out = (n, D.mul(h, b), D.mul(w, b), oc)
        return make("reshape", [t], shape=out, name=scope)


def space_to_depth(input, block_size, name=None, data_format="NHWC") -> Tensor:  # noqa: A002
    """b x b spatial blocks moved into channels, the inverse of `depth_to_space`."""
    x = convert_to_tensor(input)
    with op_scope(name, "SpaceToDepth", [x]) as scope:
        s, b, first = _blocks(x, block_size, data_format, "SpaceToDepth")
        h, w = (s[2], s[3]) if first else (s[1], s[2])
        oh, ow = D.divide_exact(h, b), D.divide_exact(w, b)
        if oh is None or ow is None:
            raise ValueError(f"SpaceToDepth: spatial extents {D.format_dim(h)}x"
                             f"{D.format_dim(w)} are not multiples of block_size {b}")
        if first:
            n, c = s[0], s[1]
            t = make("reshape", [x], shape=(n, c, oh, b, ow, b))
            t = make("transpose", [t], perm=(0, 3, 5, 1, 2, 4))
            out = (n, D.mul(c, b * b), oh, ow)
        else:
            n, c = s[0], s[3]
            t = make("reshape", [x], shape=(n, oh, b, ow, b, c))
            t = make("transpose", [t], perm=(0, 1, 3, 2, 4, 5))
            out = (n, oh, ow, D.mul(c, b * b))
        return make("reshape", [t], shape=out, name=scope)


def eye(num_rows, num_columns=None, batch_shape=None, dtype=T.float32, name=None) -> Tensor:
    """The identity matrix [num_rows, num_columns] (square by default), broadcast to
    `batch_shape` + [rows, columns]."""
    (rows,) = dims_of([num_rows], "eye")
    (cols,) = dims_of([rows if num_columns is None else num_columns], "eye")
    batch = () if batch_shape is None else dims_of(batch_shape, "eye")
    with op_scope(name, "eye") as scope:
        on = make("equal", [_iota((rows, cols), 0, T.int64), _iota((rows, cols), 1, T.int64)])
        out = make("cast", [on], dtype=T.as_dtype(dtype))
        if batch:
            out = make("broadcast", [out], shape=tuple(batch) + (rows, cols))
        return make("reshape", [out], shape=tuple(batch) + (rows, cols), name=scope)
