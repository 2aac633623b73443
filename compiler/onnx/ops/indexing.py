"""Indexing ONNX ops: gathers, scatters, one-hot, masks (EyeLike, Trilu), block moves
(DepthToSpace, SpaceToDepth), ReverseSequence, Compress and Col2Im.

ONNX indices may be negative (counted from the end); they are normalized with a select
before flowc's `gather` / `scatter_add` primitives, which reject negative indices at run
time. GatherND, ScatterND and ReverseSequence are TF1's gather_nd, tensor_scatter_nd_* and
reverse_sequence (compiler/frontend/index_ops.py); GatherElements, ScatterElements and
TensorScatter index the flattened data with a linear index built from iotas and share
index_ops' `scatter_rows`, so one `gather` or `scatter_add` does the work. Scatters with
reduction `mul`, `max` or `min` have no primitive: they compare every update's position
with every output row (a [updates, rows] mask reduced over the updates), which costs
updates x rows and is refused beyond `index_ops.DENSE_LIMIT` elements.
"""

from __future__ import annotations

import numpy as np

from ...frontend import array_ops as A
from ...frontend import core
from ...frontend import index_ops as IO
from ...ir import dims as D
from ...ir import dtypes as T
from ..table import converter
from .movement import axis_of, onnx_dtype, shape_of, slice_axis


def _i64(t):
    return t if t.dtype is T.int64 else core.make("cast", [t], dtype=T.int64)


def _extent(x, axis):
    """Extent `axis` of `x` as an int64 scalar tensor (a constant when static)."""
    d = x.shape[axis]
    if isinstance(d, int):
        return core.constant(np.int64(d))
    dims = core.make("shape", [x], dtype=T.int64)
    return core.make("reshape", [core.make("slice", [dims], begin=(axis,), size=(1,),
                                           stride=(1,))], shape=())


def _normalized(idx, extent):
    """int64 indices with negatives counted from the end (`extent`: a scalar tensor)."""
    idx = _i64(idx)
    neg = core.make("less", [idx, core.constant(np.int64(0))])
    shifted = core.make("add", [idx, extent])
    return core.make("select", [neg, shifted, idx])


def _iota(shape, axis):
    return core.make("iota", [], shape=tuple(shape), axis=axis, dtype=T.int64)


def _elements_index(cx, data, idx, axis):
    """The linear index into `data` (flattened) of GatherElements/ScatterElements with
    `idx` along `axis`; its shape is `idx`'s."""
    s = shape_of(cx, data)
    ishape = shape_of(cx, idx, "indices")
    if len(ishape) != len(s):
        raise cx.unsupported(f"indices have rank {len(ishape)}, data rank {len(s)}")
    comps = [_normalized(idx, _extent(data, axis)) if k == axis else _iota(ishape, k)
             for k in range(len(s))]
    # the other coordinates run over the indices' extents: checked unless surely inside
    checked = [k for k in range(len(s)) if k == axis or not (
        isinstance(ishape[k], int) and isinstance(s[k], int) and ishape[k] <= s[k])]
    return IO.linear_index(comps, data, checked=checked)


def _tuple_indices(cx, data, idx, batch_dims):
    """GatherND/ScatterND indices (int64) with negative entries counted from the end of
    the axis each tuple position indexes."""
    s = shape_of(cx, data)
    ishape = shape_of(cx, idx, "indices")
    k = ishape[-1] if ishape else None
    if not isinstance(k, int) or not 1 <= batch_dims + k <= len(s):
        raise cx.unsupported(f"indices' last extent {k} does not fit data of rank {len(s)} "
                             f"with batch_dims {batch_dims}")
    axes = range(batch_dims, batch_dims + k)
    ext = core.make("concat", [core.make("reshape", [_extent(data, a)], shape=(1,))
                               for a in axes], axis=0) if k > 1 else \
        core.make("reshape", [_extent(data, batch_dims)], shape=(1,))
    return _normalized(idx, core.make("broadcast", [ext], shape=ishape))


# -- gathers ------------------------------------------------------------------------------

@converter("Gather", attrs=("axis",))
def gather(cx):
    data, idx = cx.input(0), cx.input(1)
    axis = axis_of(cx, cx.attr("axis", 0), len(shape_of(cx, data)))
    d = data.shape[axis]
    known = cx.importer.static_value(idx) if isinstance(d, int) else None
    if known is not None:
        # indices known at import: normalized here, so a Gather of a Shape stays a
        # build-time value (static_dims) and symbolic dims survive torch's shape idioms
        known = np.asarray(known).astype(np.int64)
        bad = (known < -d) | (known >= d)
        if np.any(bad):
            raise cx.unsupported(f"index {int(known[bad].flat[0])} is out of range for axis "
                                 f"{axis} of extent {d}")
        return [core.make("gather", [data, core.constant(np.where(known < 0, known + d,
                                                                   known))], axis=axis)]
    return [core.make("gather", [data, _normalized(idx, _extent(data, axis))], axis=axis)]


@converter("GatherElements", since=11, attrs=("axis",))
def gather_elements(cx):
    data, idx = cx.input(0), cx.input(1)
    axis = axis_of(cx, cx.attr("axis", 0), len(shape_of(cx, data)))
    flat = _elements_index(cx, data, idx, axis)
    whole = core.make("reshape", [data], shape=(D.product(data.shape),))
    return [core.make("gather", [whole, flat], axis=0)]


@converter("GatherND", since=11, attrs=("batch_dims",))
def gather_nd(cx):
    data, batch_dims = cx.input(0), cx.attr("batch_dims", 0)
    return [IO.gather_nd(data, _tuple_indices(cx, data, cx.input(1), batch_dims),
                         batch_dims=batch_dims)]


# -- scatters -------------------------------------------------------------------------------

_REDUCTIONS = {"none": "update", "add": "add", "mul": "mul", "max": "max", "min": "min"}


def _scatter_rows(cx, data, rows, updates, reduction):
    if reduction not in _REDUCTIONS:
        raise cx.unsupported(f"reduction {reduction!r} is not supported")
    return IO.scatter_rows(data, rows, updates, _REDUCTIONS[reduction])


def _scatter_elements(cx, reduction):
    data, idx, updates = cx.input(0), cx.input(1), cx.input(2)
    s = shape_of(cx, data)
    axis = axis_of(cx, cx.attr("axis", 0), len(s))
    if tuple(shape_of(cx, updates, "updates")) != tuple(shape_of(cx, idx, "indices")):
        raise cx.unsupported("updates and indices must have one shape")
    flat = _elements_index(cx, data, idx, axis)
    m = D.product(idx.shape)
    rows = core.make("reshape", [flat], shape=(m,))
    upd = core.make("reshape", [updates], shape=(m,))
    whole = core.make("reshape", [data], shape=(D.product(s),))
    return [core.make("reshape", [_scatter_rows(cx, whole, rows, upd, reduction)], shape=s)]


@converter("ScatterElements", since=11, attrs=("axis", "reduction"),
           note="reduction none, add, mul, max, min (mul/max/min cost updates x elements); "
                "duplicate indices with reduction none add up")
def scatter_elements(cx):
    return _scatter_elements(cx, cx.attr("reduction", "none"))


@converter("Scatter", since=9, attrs=("axis",), note="the old name of ScatterElements")
def scatter(cx):
    return _scatter_elements(cx, "none")


@converter("ScatterND", since=11, attrs=("reduction",),
           note="reduction none, add, mul, max, min (mul/max/min cost updates x rows)")
def scatter_nd(cx):
    data, reduction = cx.input(0), cx.attr("reduction", "none")
    if reduction not in _REDUCTIONS:
        raise cx.unsupported(f"reduction {reduction!r} is not supported")
    idx = _tuple_indices(cx, data, cx.input(1), 0)
    return [IO.scatter_nd_reduce(data, idx, cx.input(2), _REDUCTIONS[reduction])]


@converter("TensorScatter", since=24, attrs=("axis", "mode"),
           note="modes linear and circular; a linear write past the end is an error at "
                "run time")
def tensor_scatter(cx):
    cache, update = cx.input(0), cx.input(1)
    s = shape_of(cx, cache)
    us = shape_of(cx, update, "update")
    axis = axis_of(cx, cx.attr("axis", -2), len(s))
    if axis == 0:
        raise cx.unsupported("axis 0 is the batch axis")
    mode = cx.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        raise cx.unsupported(f"mode {mode!r} is not supported")
    pos = _iota(us, axis)
    if cx.has(2):
        start = core.make("reshape", [_i64(cx.input(2))], shape=(s[0],) + (1,) * (len(s) - 1))
        pos = core.make("add", [pos, core.make("broadcast", [start], shape=us)])
    if mode == "circular":
        pos = core.make("mod", [pos, _extent(cache, axis)])
    flat = IO.linear_index([pos if k == axis else _iota(us, k) for k in range(len(s))],
                           cache, checked=(axis,))  # a linear write past the end raises
    m = D.product(us)
    rows = core.make("reshape", [flat], shape=(m,))
    upd = core.make("reshape", [update], shape=(m,))
    whole = core.make("reshape", [cache], shape=(D.product(s),))
    return [core.make("reshape", [_scatter_rows(cx, whole, rows, upd, "none")], shape=s)]


# -- one-hot and masks ---------------------------------------------------------------------

@converter("OneHot", since=9, attrs=("axis",), static=(1,), note="depth known at import")
def one_hot(cx):
    idx, values = cx.input(0), cx.input(2)
    depth = cx.static(1).reshape(-1)
    if depth.size != 1:
        raise cx.unsupported("depth must hold one value")
    depth = int(depth[0])
    rank = len(shape_of(cx, idx, "indices"))
    axis = cx.attr("axis", -1)
    if not -rank - 1 <= axis <= rank:
        raise cx.unsupported(f"axis {axis} is out of range for rank {rank + 1}")
    axis = axis % (rank + 1)
    if idx.dtype.kind == "float":
        idx = core.make("cast", [idx], dtype=T.int64)
    idx = _normalized(idx, core.constant(np.int64(depth)))
    off = core.make("reshape", [slice_axis(values, 0, 0, 1)], shape=())
    on = core.make("reshape", [slice_axis(values, 0, 1, 1)], shape=())
    return [A.one_hot(idx, depth, on_value=on, off_value=off, axis=axis,
                      dtype=values.dtype)]


@converter("EyeLike", since=9, attrs=("dtype", "k"))
def eye_like(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    if len(s) != 2:
        raise cx.unsupported(f"the input must be 2-D, got rank {len(s)}")
    dt = onnx_dtype(cx, cx.attr("dtype"), "attribute dtype") if "dtype" in cx.attrs \
        else x.dtype
    k = int(cx.attr("k", 0))
    on = core.make("equal", [core.make("add", [_iota(s, 0), core.constant(np.int64(k))]),
                             _iota(s, 1)])
    return [core.make("cast", [on], dtype=dt)]


@converter("Trilu", since=14, attrs=("upper",), static=(1,), note="k known at import")
def trilu(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    if len(s) < 2:
        raise cx.unsupported(f"the input must have rank >= 2, got {len(s)}")
    k = cx.static(1)
    k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    sq = tuple(s[-2:])
    diag = core.make("sub", [_iota(sq, 1), _iota(sq, 0)])  # j - i
    kk = core.constant(np.int64(k))
    keep = core.make("greater_equal" if cx.attr("upper", 1) else "less_equal", [diag, kk])
    keep = core.make("broadcast", [keep], shape=s)
    zero = core.make("broadcast", [core.constant(np.zeros((), x.dtype.np))], shape=s)
    return [core.make("select", [keep, x, zero])]


# -- block rearrangements ----------------------------------------------------------------

def _nchw(cx, x, op):
    s = shape_of(cx, x)
    if len(s) != 4:
        raise cx.unsupported(f"{op} needs a 4-D NCHW input, got rank {len(s)}")
    return s


@converter("DepthToSpace", attrs=("blocksize", "mode"))
def depth_to_space(cx):
    x = cx.input(0)
    n, c, h, w = _nchw(cx, x, "DepthToSpace")
    b = int(cx.attr("blocksize"))
    mode = cx.attr("mode", "DCR")
    if mode == "DCR":  # TF1's order
        return [IO.depth_to_space(x, b, data_format="NCHW")]
    if mode != "CRD":
        raise cx.unsupported(f"mode {mode!r} is not supported")
    if not isinstance(c, int) or c % (b * b):
        raise cx.unsupported(f"channels {c} are not a multiple of blocksize^2 = {b * b}")
    oc = c // (b * b)
    t = core.make("reshape", [x], shape=(n, oc, b, b, h, w))
    t = core.make("transpose", [t], perm=(0, 1, 4, 2, 5, 3))
    return [core.make("reshape", [t], shape=(n, oc, D.mul(h, b), D.mul(w, b)))]


@converter("SpaceToDepth", attrs=("blocksize", "mode"))
def space_to_depth(cx):
    x = cx.input(0)
    n, c, h, w = _nchw(cx, x, "SpaceToDepth")
    b = int(cx.attr("blocksize"))
    mode = cx.attr("mode", "DCR")  # an attribute from opset 28 on
    if mode == "DCR":  # TF1's order
        return [IO.space_to_depth(x, b, data_format="NCHW")]
    if mode != "CRD":
        raise cx.unsupported(f"mode {mode!r} is not supported")
    oh, ow = D.divide_exact(h, b), D.divide_exact(w, b)
    if oh is None or ow is None:
        raise cx.unsupported(f"spatial extents {h}x{w} are not multiples of blocksize {b}")
    t = core.make("reshape", [x], shape=(n, c, oh, b, ow, b))
    t = core.make("transpose", [t], perm=(0, 1, 3, 5, 2, 4))
    return [core.make("reshape", [t], shape=(n, D.mul(c, b * b), oh, ow))]


# -- sequences along an axis ------------------------------------------------------------------

@converter("ReverseSequence", since=10, attrs=("batch_axis", "time_axis"))
def reverse_sequence(cx):
    return [IO.reverse_sequence(cx.input(0), _i64(cx.input(1)),
                                seq_axis=cx.attr("time_axis", 0),
                                batch_axis=cx.attr("batch_axis", 1))]


@converter("Compress", since=9, attrs=("axis",), static=(1,),
           note="the condition must be known at import (the output's shape depends on it)")
def compress(cx):
    x = cx.input(0)
    cond = np.asarray(cx.static(1)).reshape(-1).astype(bool)
    s = shape_of(cx, x)
    if "axis" in cx.attrs:
        axis = axis_of(cx, cx.attr("axis"), len(s))
    else:
        x, axis = core.make("reshape", [x], shape=(D.product(s),)), 0
    d = x.shape[axis]
    if isinstance(d, int) and cond.size > d:
        raise cx.unsupported(f"condition has {cond.size} entries for an axis of extent {d}")
    keep = np.nonzero(cond)[0].astype(np.int64)
    return [core.make("gather", [x, core.constant(keep)], axis=axis)]


@converter("Col2Im", since=18, attrs=("dilations", "pads", "strides"), static=(1, 2),
           note="1 to 3 spatial axes; image_shape and block_shape known at import")
def col2im(cx):
    x = cx.input(0)
    image = cx.static_ints(1)
    block = cx.static_ints(2)
    nsp = len(image)
    if len(block) != nsp or not 1 <= nsp <= 3:
        raise cx.unsupported(f"image_shape {image} and block_shape {block} must name 1 to 3 "
                             f"spatial axes")
    dil = cx.attr("dilations", [1] * nsp)
    strides = cx.attr("strides", [1] * nsp)
    pads = cx.attr("pads", [0] * 2 * nsp)
    n, ck, length = shape_of(cx, x)
    kprod = int(np.prod(block))
    if not isinstance(ck, int) or ck % kprod:
        raise cx.unsupported(f"the input's second extent {ck} is not a multiple of "
                             f"prod(block_shape) = {kprod}")
    c = ck // kprod
    outs = [(image[i] + pads[i] + pads[i + nsp] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1
            for i in range(nsp)]
    if length != int(np.prod(outs)):
        raise cx.unsupported(f"the input has {length} blocks, the image holds "
                             f"{int(np.prod(outs))}")
    t = core.make("reshape", [x], shape=(n, c, *block, *outs))
    perm = (0, *range(2 + nsp, 2 + 2 * nsp), *range(2, 2 + nsp), 1)
    t = core.make("transpose", [t], perm=perm)
    folded = core.make("fold", [t], shape=tuple(image), window=tuple(block),
                       strides=tuple(strides), rhs_dilation=tuple(dil),
                       padding=tuple((pads[i], pads[i + nsp]) for i in range(nsp)))
    return [core.make("transpose", [folded], perm=(0, nsp + 1, *range(1, nsp + 1)))]
