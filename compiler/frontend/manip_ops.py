"""Shape manipulation of the TF1 API: reshape, transpose, concat, stack/unstack,
squeeze/expand_dims, split, tile, pad, gather, where and broadcast_to.

Each is one movement primitive or a small graph of them (no copies of their own: the
compiler turns them into index arithmetic). Shape arguments are static (see
`core.dims_of`), and dims may be symbolic, so `reshape(x, [-1, x.shape[1]])`,
`concat` along a `None` axis or `split` of a symbolic extent all work. Bad shapes or
axes raise ValueError/TypeError subclasses naming the op when it is built.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from .core import (
    _as_tensor,
    _convert_list,
    binary_operands,
    convert_to_tensor,
    dims_of,
    identity,
    known_shape,
    make,
    normalize_axis,
    op_scope,
)
from .core import expand_dims as expand_dims  # re-exported: fc.expand_dims
from .core import stack as stack  # re-exported: fc.stack (convert_to_tensor uses it)
from .deferred import deferred, rank_unknown
from .graph import Tensor
from .indexing import getitem


def reshape(tensor, shape, name=None) -> Tensor:
    """`tensor` with its elements in row-major order laid out as `shape`; one entry may
    be -1 (inferred, symbolically when needed)."""
    x = convert_to_tensor(tensor)
    return make("reshape", [x], name=name or "Reshape", shape=dims_of(shape, "Reshape"))


def transpose(a, perm=None, name="transpose", conjugate=False) -> Tensor:
    """Permute the axes: output axis i is input axis `perm[i]` (default: reversed)."""
    x = convert_to_tensor(a)
    if rank_unknown(x):
        return deferred(lambda t: transpose(t, perm), [x], x.dtype, name=name)
    rank = len(known_shape(x, "transpose"))
    if perm is None:
        perm = tuple(reversed(range(rank)))
    perm = tuple(int(p) for p in dims_of(perm, "transpose"))
    return make("transpose", [x], name=name, perm=perm)


def concat(values, axis, name="concat") -> Tensor:
    """Join tensors of one dtype and rank along `axis` (other dims must agree)."""
    tensors = _convert_list(values, "concat")
    ranks = [t.shape.ndims for t in tensors if t.shape.known_rank]
    if not ranks:
        return deferred(lambda *ts: concat(list(ts), axis), tensors, tensors[0].dtype,
                        name=name)
    axis = normalize_axis(axis, ranks[0], "concat")
    if len(tensors) == 1:
        return identity(tensors[0], name=name)
    return make("concat", tensors, name=name, axis=axis)


def unstack(value, num=None, axis=0, name="unstack") -> list:
    """Split `value` along `axis` into a list of tensors of rank R-1; the extent must be
    static or given as `num`."""
    x = convert_to_tensor(value)
    if rank_unknown(x) and num is not None:
        # one deferred part per output: the number of outputs is known, the rank is not
        return [deferred(lambda t, k=k: unstack(t, num, axis)[k], [x], x.dtype,
                         name=f"{name}_{k}") for k in range(int(num))]
    shape = known_shape(x, "unstack")
    axis = normalize_axis(axis, len(shape), "unstack")
    n = shape[axis] if isinstance(shape[axis], int) else num
    if n is None:
        raise ValueError(f"unstack: cannot infer num from shape {list(shape)}; pass num=")
    if num is not None and isinstance(shape[axis], int) and num != shape[axis]:
        raise ValueError(f"unstack: num={num} but axis {axis} has extent {shape[axis]}")
    lead = (slice(None),) * axis
    with op_scope(name, "unstack", [x]):
        return [getitem(x, lead + (k,)) for k in range(int(n))]


def squeeze(input, axis=None, name=None, squeeze_dims=None) -> Tensor:  # noqa: A002
    """Remove axes of extent 1: those in `axis`, else every static 1 (a symbolic dim is
    kept unless named in `axis`, which then requires it to be 1 at run time)."""
    x = convert_to_tensor(input)
    axis = squeeze_dims if axis is None else axis
    if rank_unknown(x):
        return deferred(lambda t: squeeze(t, axis), [x], x.dtype, name=name or "Squeeze")
    shape = known_shape(x, "Squeeze")
    if axis is None:
        drop = {i for i, d in enumerate(shape) if d == 1}
    else:
        axes = [axis] if isinstance(axis, int) else list(axis)
        drop = {normalize_axis(a, len(shape), "Squeeze") for a in axes}
        for i in sorted(drop):
            if isinstance(shape[i], int) and shape[i] != 1:
                raise ValueError(f"Squeeze: cannot squeeze axis {i} of extent {shape[i]} "
                                 f"(shape {list(shape)})")
    new = tuple(d for i, d in enumerate(shape) if i not in drop)
    return make("reshape", [x], name=name or "Squeeze", shape=new)


def split(value, num_or_size_splits, axis=0, num=None, name="split") -> list:
    """Split along `axis` into `num_or_size_splits` equal parts (an int) or parts of the
    given sizes (a list; one entry may be -1)."""
    x = convert_to_tensor(value)
    parts = _static_count(num_or_size_splits, num)
    if rank_unknown(x) and parts is not None:
        return [deferred(lambda t, k=k: split(t, num_or_size_splits, axis, num)[k], [x],
                         x.dtype, name=f"{name}_{k}") for k in range(parts)]
    shape = known_shape(x, "split")
    axis = normalize_axis(axis, len(shape), "split")
    d = shape[axis]
    with op_scope(name, "split", [x]):
        if isinstance(num_or_size_splits, (int, np.integer)):
            return _split_even(x, shape, axis, int(num_or_size_splits))
        sizes = _split_sizes(d, list(dims_of(num_or_size_splits, "split")))
        return _slices(x, shape, axis, sizes)


def _slices(x, shape, axis, sizes):
    begins, out = 0, []
    for s in sizes:
        begin = [0] * len(shape)
        begin[axis] = begins
        size = list(shape)
        size[axis] = s
        out.append(make("slice", [x], begin=tuple(begin), size=tuple(size),
                        stride=(1,) * len(shape)))
        begins = D.add(begins, s)
    return out


def _split_sizes(d, sizes):
    holes = [i for i, s in enumerate(sizes) if isinstance(s, int) and s == -1]
    if len(holes) > 1:
        raise ValueError(f"split: at most one -1 in size_splits {sizes}")
    known = D.add(0, 0)
    for s in sizes:
        if not (isinstance(s, int) and s == -1):
            known = D.add(known, s)
    if holes:
        sizes[holes[0]] = D.sub(d, known)
        known = d
    if isinstance(d, int) and isinstance(known, int) and known != d:
        raise ValueError(f"split: size_splits {sizes} do not sum to the extent {d}")
    if any(isinstance(s, int) and s < 0 for s in sizes):
        raise ValueError(f"split: negative size in {sizes} (extent {d})")
    return sizes


def _split_even(x, shape, axis, n):
    d = shape[axis]
    if n <= 0:
        raise ValueError(f"split: number of splits must be positive, got {n}")
    if isinstance(d, int):
        if d % n:
            raise ValueError(f"split: extent {d} of axis {axis} is not divisible by {n}")
        return _slices(x, shape, axis, [d // n] * n)
    # Symbolic extent: a reshape to [..., n, d/n, ...] makes the compiler check at run
    # time that n divides the fed extent; then take each part.
    parts = make("reshape", [x], shape=shape[:axis] + (n, -1) + shape[axis + 1:])
    lead = (slice(None),) * axis
    return [getitem(parts, lead + (k,)) for k in range(n)]


def _static_count(num_or_size_splits, num):
    """The number of parts `split` makes, when known without the input's shape."""
    if isinstance(num_or_size_splits, (int, np.integer)):
        return int(num_or_size_splits)
    if isinstance(num_or_size_splits, (list, tuple)):
        return len(num_or_size_splits)
    return num


def tile(input, multiples, name=None) -> Tensor:  # noqa: A002  (TF1 argument name)
    """Repeat `input` `multiples[i]` times along axis i (static multiples)."""
    x = convert_to_tensor(input)
    if rank_unknown(x):
        return deferred(lambda t: tile(t, multiples), [x], x.dtype, name=name or "Tile")
    shape = known_shape(x, "Tile")
    reps = tuple(int(m) for m in dims_of(multiples, "Tile"))
    if len(reps) != len(shape) or any(m < 0 for m in reps):
        raise ValueError(f"Tile: multiples {list(reps)} do not fit a tensor of rank "
                         f"{len(shape)}")
    with op_scope(name, "Tile", [x]) as scope:
        split_shape = tuple(v for d in shape for v in (1, d))
        wide = tuple(v for m, d in zip(reps, shape, strict=True) for v in (m, d))
        spread = make("broadcast", [make("reshape", [x], shape=split_shape)], shape=wide)
        final = tuple(D.mul(m, d) for m, d in zip(reps, shape, strict=True))
        return make("reshape", [spread], name=scope, shape=final)


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0) -> Tensor:
    """Pad each axis i with `paddings[i] = (before, after)` elements (static). Modes:
    CONSTANT (with `constant_values`), REFLECT (mirror without the edge) and SYMMETRIC
    (mirror with the edge)."""
    x = convert_to_tensor(tensor)
    if rank_unknown(x):
        return deferred(lambda t: pad(t, paddings, mode, None, constant_values), [x], x.dtype,
                        name=name or "Pad")
    shape = known_shape(x, "Pad")
    pads = _static_pairs(paddings, len(shape))
    mode = mode.upper()
    if mode == "CONSTANT":
        return make("pad", [x], name=name or "Pad", pads=pads, value=float(constant_values))
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ValueError(f"Pad: unknown mode {mode!r}")
    with op_scope(name, "MirrorPad", [x]) as scope:
        out = x
        for axis, (lo, hi) in enumerate(pads):
            out = _mirror_axis(out, axis, lo, hi, mode, shape[axis])
        return identity(out, name=scope)


def _static_pairs(paddings, rank):
    if isinstance(paddings, Tensor) or hasattr(paddings, "_as_graph_element"):
        t = _as_tensor(paddings)
        if t.op.type != "constant":
            raise TypeError("Pad: paddings must be known at build time")
        paddings = t.op.attrs["value"].array
    arr = np.asarray(paddings)
    if arr.shape != (rank, 2):
        raise ValueError(f"Pad: paddings must have shape [{rank}, 2], got {list(arr.shape)}")
    return tuple((int(lo), int(hi)) for lo, hi in arr)


def _mirror_axis(x, axis, lo, hi, mode, d):
    edge = 0 if mode == "SYMMETRIC" else 1
    if isinstance(d, int) and (lo > d - edge or hi > d - edge):
        raise ValueError(f"MirrorPad: paddings ({lo}, {hi}) are too large for axis {axis} "
                         f"of extent {d} in {mode} mode")
    lead = (slice(None),) * axis
    parts = []
    if lo:
        parts.append(getitem(x, lead + (slice(lo - 1 + edge, 0 if edge else None, -1),)))
    parts.append(x)
    if hi:
        parts.append(getitem(x, lead + (slice(-1 - edge, -1 - edge - hi, -1),)))
    return x if len(parts) == 1 else make("concat", parts, axis=axis)


def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """`params` indexed along `axis` (default 0) by the int tensor `indices` (the result
    has the dims of `indices` in place of that axis); an index outside [0, extent) is an
    error when the graph runs."""
    if batch_dims:
        raise ValueError("gather: batch_dims is not supported")
    p = convert_to_tensor(params)
    idx = convert_to_tensor(indices)
    if rank_unknown(p, idx):
        return deferred(lambda a, i: gather(a, i, axis=axis), [p, idx], p.dtype,
                        name=name or "GatherV2")
    axis = normalize_axis(0 if axis is None else axis, len(known_shape(p, "GatherV2")),
                          "GatherV2")
    return make("gather", [p, idx], name=name or "GatherV2", axis=axis)


def where(condition, x=None, y=None, name=None) -> Tensor:
    """Elementwise `x if condition else y` (TF1 `where` with x and y). As in TF1, a
    rank-1 condition may select whole rows of higher-rank x and y; otherwise the three
    broadcast numpy-style. The one-argument form (indices of true elements) has a
    data-dependent shape and is not supported."""
    if x is None or y is None:
        raise NotImplementedError("where(condition) without x and y has a data-dependent "
                                  "shape, which flowc does not support")
    cond = convert_to_tensor(condition)
    a, b = binary_operands(x, y, "Select")
    rank = a.shape.ndims
    if cond.shape.ndims == 1 and rank is not None and rank > 1:
        cond = make("reshape", [cond], shape=tuple(cond.shape) + (1,) * (rank - 1))
    return make("select", [cond, a, b], name=name or "Select")


def where_v2(condition, x=None, y=None, name=None) -> Tensor:
    """Elementwise `x if condition else y` with numpy broadcasting of all three."""
    if x is None or y is None:
        raise NotImplementedError("where_v2(condition) without x and y is not supported")
    cond = convert_to_tensor(condition)
    a, b = binary_operands(x, y, "SelectV2")
    return make("select", [cond, a, b], name=name or "SelectV2")


def broadcast_to(input, shape, name=None) -> Tensor:  # noqa: A002  (TF1 argument name)
    """`input` broadcast numpy-style to `shape`."""
    x = convert_to_tensor(input)
    return make("broadcast", [x], name=name or "BroadcastTo",
                shape=dims_of(shape, "BroadcastTo"))
