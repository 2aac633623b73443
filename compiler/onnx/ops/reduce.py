"""Reductions and index-returning ONNX ops: Reduce*, ArgMax/ArgMin, TopK, CumSum, CumProd,
Det, and RoiAlign (pooling over regions). The signal ops are in spectral.py."""

from __future__ import annotations

import numpy as np

from ...frontend import array_ops as A
from ...frontend import core
from ...frontend import indexing as IX
from ...frontend import manip_ops as MP
from ...frontend import math_ops as M
from ...frontend import reduce_ops as R
from ...frontend import scan_ops as S
from ...frontend.control_flow import identity
from ...frontend.indexing import getitem
from ...ir import dtypes as T
from ..table import converter

# The opset from which each reduction takes `axes` as its second input (an attribute
# before).
_AXES_INPUT_FROM = {"ReduceSum": 13}
_REDUCE_ATTRS = ("axes", "keepdims", "noop_with_empty_axes")


def _axes(cx):
    """The reduced axes as a list, None for all, or "noop" (identity) for an empty axes
    input with noop_with_empty_axes=1."""
    if cx.opset >= _AXES_INPUT_FROM.get(cx.op_type, 18):
        if "axes" in cx.attrs:
            raise cx.unsupported(f"attribute axes (opset {cx.opset} takes axes as input 1)")
        axes = cx.static_ints(1)
        if not axes:
            return "noop" if cx.attr("noop_with_empty_axes", 0) else None
        return axes
    if cx.has(1):
        raise cx.unsupported(f"input 1 (axes is an attribute before opset "
                             f"{_AXES_INPUT_FROM.get(cx.op_type, 18)})")
    if cx.attr("noop_with_empty_axes", 0):
        raise cx.unsupported("attribute noop_with_empty_axes (from the opset where axes "
                             "is an input)")
    axes = cx.attr("axes")
    return list(axes) if axes else None


def _reduction(op_type, build):
    """Register `op_type`: `build(x, axes, keepdims)` with axes a list or None (all)."""
    @converter(op_type, attrs=_REDUCE_ATTRS, static=(1,))
    def convert(cx):
        x = cx.input(0)
        axes = _axes(cx)
        if axes == "noop":
            return [identity(x)]
        if x.shape.ndims is None:
            raise cx.unsupported("input 0 of unknown rank")
        keep = bool(cx.attr("keepdims", 1))
        return [build(x, axes, keep)]
    convert.__name__ = op_type
    return convert


def _bool_as(fn, bool_fn):
    """A max/min reduction that takes bools too (as any/all)."""
    def build(x, axes, keep):
        return (bool_fn if x.dtype.is_bool else fn)(x, axes, keepdims=keep)
    return build


_reduction("ReduceSum", lambda x, a, k: R.reduce_sum(x, a, keepdims=k))
_reduction("ReduceMean", lambda x, a, k: R.reduce_mean(x, a, keepdims=k))
_reduction("ReduceProd", lambda x, a, k: R.reduce_prod(x, a, keepdims=k))
_reduction("ReduceMax", _bool_as(R.reduce_max, R.reduce_any))
_reduction("ReduceMin", _bool_as(R.reduce_min, R.reduce_all))
_reduction("ReduceSumSquare", lambda x, a, k: R.reduce_sum(M.multiply(x, x), a, keepdims=k))
_reduction("ReduceL1", lambda x, a, k: R.reduce_sum(M.abs(x), a, keepdims=k))
_reduction("ReduceLogSum", lambda x, a, k: M.log(R.reduce_sum(x, a, keepdims=k)))
_reduction("ReduceLogSumExp", lambda x, a, k: R.reduce_logsumexp(x, a, keepdims=k))


def _l2(x, axes, keep):
    s = R.reduce_sum(M.multiply(x, x), axes, keepdims=keep)
    if x.dtype.is_int:   # ONNX: the square root of the int sum, cast back
        return M.cast(M.sqrt(M.cast(s, T.float64)), x.dtype)
    return M.sqrt(s)


_reduction("ReduceL2", _l2)


def _arg(op_type, fn):
    @converter(op_type, attrs=("axis", "keepdims", "select_last_index"))
    def convert(cx):
        x = cx.input(0)
        if x.shape.ndims is None:
            raise cx.unsupported("input 0 of unknown rank")
        rank = x.shape.ndims
        axis = int(cx.attr("axis", 0))
        if not -rank <= axis < max(rank, 1):
            raise cx.unsupported(f"axis {axis} out of range for rank {rank}")
        axis %= max(rank, 1)
        if cx.attr("select_last_index", 0):
            # The last extremum: the first one of the reversed axis, counted from the end.
            n = MP.gather(A.shape(x, out_type=T.int64), axis)
            first = fn(IX.reverse(x, [axis]), axis, output_type=T.int64)
            out = M.subtract(M.subtract(n, core.constant(1, T.int64)), first)
        else:
            out = fn(x, axis, output_type=T.int64)
        if cx.attr("keepdims", 1):
            out = core.expand_dims(out, axis)
        return [out]
    convert.__name__ = op_type
    return convert


_arg("ArgMax", R.argmax)
_arg("ArgMin", R.argmin)


def _scan_op(op_type, fn):
    @converter(op_type, since=11, attrs=("exclusive", "reverse"), static=(1,))
    def convert(cx):
        axis = cx.static_ints(1)
        if axis is None or len(axis) != 1:
            raise cx.unsupported(f"input 1 (axis) must be one int, got {axis}")
        return [fn(cx.input(0), axis[0], exclusive=bool(cx.attr("exclusive", 0)),
                   reverse=bool(cx.attr("reverse", 0)))]
    convert.__name__ = op_type
    return convert


_scan_op("CumSum", S.cumsum)
_scan_op("CumProd", S.cumprod)


@converter("TopK", attrs=("axis", "k", "largest", "sorted"), static=(1,),
           note="k known at import; fc.nn.top_k's composite (a ranking, O(n^2), for short "
                "axes or large k, else k rounds of a masked max); sorted=0 gives sorted "
                "results too")
def top_k(cx):
    x = cx.input(0)
    if x.shape.ndims is None or x.shape.ndims == 0:
        raise cx.unsupported("input 0 of unknown rank or a scalar")
    if cx.opset >= 10:
        if "k" in cx.attrs:
            raise cx.unsupported(f"attribute k (opset {cx.opset} takes k as input 1)")
        k = cx.static_ints(1)
        if k is None or len(k) != 1:
            raise cx.unsupported(f"input 1 (k) must be one int, got {k}")
        k = k[0]
    else:
        if "k" not in cx.attrs:
            raise cx.unsupported("attribute k is missing")
        k = int(cx.attr("k"))
    rank = x.shape.ndims
    axis = int(cx.attr("axis", -1))
    if not -rank <= axis < rank:
        raise cx.unsupported(f"axis {axis} out of range for rank {rank}")
    axis %= rank
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    if axis != rank - 1:
        x = MP.transpose(x, perm)
    values, indices = S.top_k_along(x, k, largest=bool(cx.attr("largest", 1)))
    if axis != rank - 1:
        values, indices = MP.transpose(values, perm), MP.transpose(indices, perm)
    return [values, indices]


@converter("Det", since=11)
def det(cx):
    return [S.matrix_determinant(cx.input(0))]


def _roi_axis(start, length, out, s, extent, dt):
    """Interpolation matrices of one axis for RoiAlign: (low, high), each [R, out * s,
    extent], with row t of roi r holding the bilinear weights of sample t (bin t // s,
    sample t % s) on the pixels below and above it (0 outside [-1, extent]), as ONNX's
    reference computes them."""
    grid = (np.arange(out)[:, None] + (np.arange(s)[None, :] + 0.5) / s).reshape(-1)
    pos = M.add(core.expand_dims(start, -1), M.multiply(
        core.expand_dims(M.divide(length, core.constant(float(out), dt)), -1),
        core.constant(grid.astype(dt.np), dt)))                           # [R, out * s]
    valid = M.logical_and(M.greater_equal(pos, core.constant(-1.0, dt)),
                          M.less_equal(pos, core.constant(float(extent), dt)))
    pos = M.maximum(pos, core.constant(0.0, dt))
    low = M.floor(pos)
    last = core.constant(float(extent - 1), dt)
    clamped = M.greater_equal(low, last)
    low = M.minimum(low, last)
    high = M.minimum(M.add(low, core.constant(1.0, dt)), last)
    frac = MP.where(clamped, A.zeros_like(pos), M.subtract(pos, low))
    keep = M.cast(valid, dt)
    pixels = core.constant(np.arange(extent, dtype=dt.np), dt)

    def spread(at, weight):   # [R, T] -> [R, T, extent]
        hit = M.cast(M.equal(core.expand_dims(at, -1), pixels), dt)
        return M.multiply(hit, core.expand_dims(M.multiply(weight, keep), -1))

    return spread(low, M.subtract(core.constant(1.0, dt), frac)), spread(high, frac)


@converter("RoiAlign", since=10, attrs=("coordinate_transformation_mode", "mode",
                                        "output_height", "output_width", "sampling_ratio",
                                        "spatial_scale"),
           note="sampling_ratio > 0 only (0 samples a data-dependent grid); bilinear "
                "sampling as interpolation-matrix products")
def roi_align(cx):
    x, rois, batch = cx.input(0), cx.input(1), cx.input(2)
    if x.shape.ndims != 4 or not all(isinstance(d, int) for d in x.shape[2:]):
        raise cx.unsupported(f"input 0 must be [N, C, H, W] with static H and W, got "
                             f"{x.shape}")
    if not x.dtype.is_float:
        raise cx.unsupported(f"input 0 of type {x.dtype.name} (floats only)")
    s = int(cx.attr("sampling_ratio", 0))
    if s <= 0:
        raise cx.unsupported(f"sampling_ratio={s}: the adaptive sampling grid "
                             f"(ceil(roi size / output size) per roi) has a data-dependent "
                             f"number of samples")
    mode = cx.attr("mode", "avg")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    ctm = cx.attr("coordinate_transformation_mode",
                  "half_pixel" if cx.opset >= 16 else "output_half_pixel")
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    if mode not in ("avg", "max") or ctm not in ("half_pixel", "output_half_pixel"):
        raise cx.unsupported(f"mode {mode!r} / coordinate_transformation_mode {ctm!r}")
    oh, ow = int(cx.attr("output_height", 1)), int(cx.attr("output_width", 1))
    dt = x.dtype
    h, w = x.shape[2], x.shape[3]
    rois = M.cast(rois, dt) if rois.dtype is not dt else rois
    scaled = M.multiply(rois, core.constant(float(cx.attr("spatial_scale", 1.0)), dt))
    if ctm == "half_pixel":
        scaled = M.subtract(scaled, core.constant(0.5, dt))
    start_w, start_h, end_w, end_h = (getitem(scaled, (slice(None), i)) for i in range(4))
    len_w, len_h = M.subtract(end_w, start_w), M.subtract(end_h, start_h)
    if ctm == "output_half_pixel":
        one = core.constant(1.0, dt)
        len_w, len_h = M.maximum(len_w, one), M.maximum(len_h, one)
    y_low, y_high = _roi_axis(start_h, len_h, oh, s, h, dt)                  # [R, T, H]
    x_low, x_high = _roi_axis(start_w, len_w, ow, s, w, dt)                  # [R, U, W]
    images = MP.gather(x, M.cast(batch, T.int32) if batch.dtype is not T.int32 else batch,
                       axis=0)                                               # [R, C, H, W]

    def sample(ay, ax):   # [R, C, T, U]
        rows = M.matmul(core.expand_dims(ay, 1), images)
        return M.matmul(rows, MP.transpose(core.expand_dims(ax, 1), [0, 1, 3, 2]))

    if mode == "avg":
        samples = sample(M.add(y_low, y_high), M.add(x_low, x_high))
        combine, scale = R.reduce_sum, 1.0 / (s * s)
    else:   # ONNX's max: the largest of the four weighted corner terms, per sample
        terms = [sample(ay, ax) for ay in (y_low, y_high) for ax in (x_low, x_high)]
        samples = M.maximum(M.maximum(terms[0], terms[1]), M.maximum(terms[2], terms[3]))
        combine, scale = R.reduce_max, None
    r_c = [-1, x.shape[1], oh, s, ow, s]
    out = combine(MP.reshape(samples, r_c), [3, 5])
    return [out if scale is None else M.multiply(out, core.constant(scale, dt))]
