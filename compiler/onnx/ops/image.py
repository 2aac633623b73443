"""Image-sampling ONNX ops: Resize, Upsample, GridSample, AffineGrid.

Resize and Upsample are separable: each resized axis becomes, at import time, a table
of source indices and weights per output index (the coordinate mode, nearest mode,
cubic coefficient, antialias footprint, exclude_outside and tf_crop_and_resize's
extrapolation all fold into it, computed in float64 as ONNX specifies), and in the graph
a gather along that axis per tap, weighted and summed. Nearest keeps the input's type
(gathers only); linear and cubic compute in float32 (float64 for float64 input).
GridSample samples at coordinates known at run time: one gather per tap from the input
flattened to [N * spatial, C], with weights and validity computed elementwise.
AffineGrid is a matmul of theta with a constant base grid.
"""

from __future__ import annotations

import itertools

import numpy as np

from ...frontend import manip_ops as P
from ...frontend import math_ops as M
from ...frontend.core import constant, known_shape, make
from ...frontend.static import static_dims
from ...ir import dtypes as T
from ..table import converter
from .misc import _QTYPES, saturate_cast

_CTMS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
         "asymmetric", "tf_crop_and_resize")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")

# -- per-axis tables ---------------------------------------------------------------------


def _source(ctm, out_w, in_w, scale, roi):
    """Source coordinate per output index and, for tf_crop_and_resize, which output
    indices fall outside the input (they take the extrapolation value)."""
    y = np.arange(out_w, dtype=np.float64)
    width = scale * in_w
    outside = None
    if ctm == "align_corners":
        x = np.zeros(out_w) if width == 1 else y * (in_w - 1) / (width - 1)
    elif ctm == "asymmetric":
        x = y / scale
    elif ctm == "tf_crop_and_resize":
        if width == 1:
            x = np.full(out_w, (roi[1] - roi[0]) * (in_w - 1) / 2)
        else:
            x = y * (roi[1] - roi[0]) * (in_w - 1) / (width - 1)
        x = x + roi[0] * (in_w - 1)
        outside = (x < 0) | (x > in_w - 1)
    elif ctm == "pytorch_half_pixel":
        x = np.full(out_w, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    else:  # half_pixel_symmetric
        offset = in_w / 2 * (1 - out_w / width)
        x = offset + (y + 0.5) / scale - 0.5
    return x, outside


def _nearest_coeffs(mode, scale):
    def coeffs(ratio):
        if float(ratio).is_integer():
            return [0.0, 1.0]
        up = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
              "floor": False, "ceil": True, "simple": scale < 1}[mode]
        return [0.0, 1.0] if up else [1.0, 0.0]
    return coeffs


def _linear_coeffs(antialias, scale):
    if not antialias:
        return lambda r: [1 - r, r]
    s = min(scale, 1.0)
    start = int(np.floor(-1 / s) + 1)
    taps = np.arange(start, start + 2 - 2 * start)

    def coeffs(r):
        c = np.clip(1 - np.abs((taps - r) * s), 0, 1)
        return c / c.sum()
    return coeffs


def _cubic_coeffs(antialias, scale, a):
    if not antialias:
        def coeffs(r):
            return [((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                    ((a + 2) * r - (a + 3)) * r * r + 1,
                    ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                    ((a * (2 - r) - 5 * a) * (2 - r) + 8 * a) * (2 - r) - 4 * a]
        return coeffs
    s = min(scale, 1.0)
    start = int(np.floor(-2 / s) + 1)
    taps = np.arange(start, 2 - start)

    def coeffs(r):
        x = np.abs(s * (taps - r))
        c = np.where(x <= 1, (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1,
                     np.where(x < 2, a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a, 0.0))
        return c / c.sum()
    return coeffs


def axis_table(in_w, out_w, scale, ctm, roi, coeffs_of, exclude_outside):
    """(indices [out, taps] clamped into [0, in_w), weights [out, taps], outside mask or
    None) of one resized axis."""
    x, outside = _source(ctm, out_w, in_w, scale, roi)
    xi = np.floor(x)
    ratios = np.where(x == xi, 1.0, x - xi)
    coeffs = np.array([coeffs_of(float(r)) for r in ratios], dtype=np.float64)
    n = coeffs.shape[1]
    pad = int(np.ceil(n / 2))
    xp = x + pad
    p = np.floor(xp).astype(np.int64)
    frac = xp - p
    if n % 2 == 0:
        offset = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        base = -((n - 1) // 2)
        offset = np.where(frac <= 0.5, base, base + 1)
    idx = (p + offset)[:, None] + np.arange(n)[None, :] - pad
    if exclude_outside:
        coeffs = np.where((idx < 0) | (idx >= in_w), 0.0, coeffs)
        total = coeffs.sum(axis=-1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    return np.clip(idx, 0, in_w - 1), coeffs, outside


def _broadcast_shape(rank, axis, n):
    shape = [1] * rank
    shape[axis] = n
    return shape


def resize_axis(x, axis, table, nearest, extrapolation):
    """`x` resized along `axis` by a table of `axis_table`."""
    idx, coeffs, outside = table
    rank = x.shape.ndims
    if nearest:
        pick = idx[np.arange(idx.shape[0]), coeffs.argmax(axis=1)]
        y = P.gather(x, constant(pick.astype(np.int32)), axis=axis)
    else:
        y = None
        for k in range(idx.shape[1]):
            w = coeffs[:, k]
            if not w.any():
                continue
            g = P.gather(x, constant(idx[:, k].astype(np.int32)), axis=axis)
            if not np.all(w == 1):
                g = M.multiply(g, constant(w.reshape(_broadcast_shape(rank, axis, w.size)),
                                           x.dtype))
            y = g if y is None else M.add(y, g)
        if y is None:  # every weight is zero (all outside): only the extrapolation
            y = M.multiply(P.gather(x, constant(idx[:, 0].astype(np.int32)), axis=axis),
                           constant(0, x.dtype))
    if outside is not None and outside.any():
        mask = constant(outside.reshape(_broadcast_shape(rank, axis, outside.size)))
        y = P.where_v2(mask, constant(extrapolation, y.dtype), y)
    return y


def resize(cx, x, scales, sizes, mode, ctm, nearest_mode, roi=None, cubic_a=-0.75,
           exclude_outside=False, extrapolation=0.0, antialias=False, axes=None,
           policy="stretch"):
    """The ONNX Resize of `x` with numpy `scales` or `sizes` (per axis of `axes`, default
    all) and `roi` (per axis pair, tf_crop_and_resize); the resized dims must be static,
    the others (a batch of `dim_param`) may be symbolic."""
    dims = known_shape(x, cx.op_type)
    r = len(dims)
    axes = list(range(r)) if axes is None else [a + r if a < 0 else a for a in axes]
    if sorted(set(axes)) != sorted(axes) or not all(0 <= a < r for a in axes):
        raise cx.unsupported(f"axes {axes} for an input of rank {r}")
    full_roi = [0.0] * r + [1.0] * r
    if roi is not None and roi.size:
        if roi.size != 2 * len(axes):
            raise cx.unsupported(f"roi of {roi.size} values for {len(axes)} axes")
        for i, a in enumerate(axes):
            full_roi[a], full_roi[a + r] = float(roi[i]), float(roi[len(axes) + i])

    def static(a):
        if not isinstance(dims[a], int):
            raise cx.unsupported(f"input of shape {list(dims)}: dim {a} is resized, so it "
                                 f"must be static")
        return dims[a]

    scale = [1.0] * r
    out = list(dims)
    if sizes is not None:
        if len(sizes) != len(axes):
            raise cx.unsupported(f"sizes of {len(sizes)} values for {len(axes)} axes")
        for i, a in enumerate(axes):
            if not isinstance(sizes[i], (int, np.integer)):  # a symbolic dim of the input
                if not _same_dim(sizes[i], dims[a]):
                    raise cx.unsupported(f"sizes {list(sizes)}: entry {i} is known only "
                                         f"at run time")
                continue
            out[a] = int(sizes[i])
            scale[a] = out[a] / static(a)
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            s = pick(scale[a] for a in axes)
            for a in axes:
                scale[a], out[a] = s, int(s * static(a) + 0.5)
    else:
        if scales is None or scales.size != len(axes):
            raise cx.unsupported(f"scales of {0 if scales is None else scales.size} "
                                 f"values for {len(axes)} axes (or sizes)")
        for i, a in enumerate(axes):
            scale[a] = float(scales[i])
            if scale[a] <= 0:
                raise cx.unsupported(f"scale {scale[a]} of axis {a} (must be > 0)")
            if scale[a] != 1.0 or isinstance(dims[a], int):
                out[a] = int(scale[a] * static(a))
    if any(isinstance(o, int) and o <= 0 for o in out):
        raise cx.unsupported(f"output shape {out}: every dim must be positive")
    nearest = mode == "nearest"
    if not nearest and x.dtype not in (T.float16, T.float32, T.float64) \
            and x.dtype not in _QTYPES:
        raise cx.unsupported(f"{mode} resize of {x.dtype.name} input")
    y = x if nearest or x.dtype in (T.float32, T.float64) else M.cast(x, T.float32)
    for a in axes:
        if (np.isclose(scale[a], 1.0) and (out[a] is dims[a] or out[a] == dims[a])
                and np.isclose(full_roi[a], 0.0) and np.isclose(full_roi[a + r], 1.0)):
            continue
        static(a)
        if nearest:
            coeffs = _nearest_coeffs(nearest_mode, scale[a])
        elif mode == "linear":
            coeffs = _linear_coeffs(antialias, scale[a])
        else:
            coeffs = _cubic_coeffs(antialias, scale[a], cubic_a)
        table = axis_table(dims[a], out[a], scale[a], ctm, (full_roi[a], full_roi[a + r]),
                           coeffs, exclude_outside)
        y = resize_axis(y, a, table, nearest, extrapolation)
    if y.dtype is not x.dtype:
        y = saturate_cast(M.round(y), x.dtype) if x.dtype in _QTYPES \
            else M.cast(y, x.dtype)
    return y


def _static_or_none(cx, i):
    v = cx.static(i)
    return None if v is None or np.asarray(v).size == 0 else np.asarray(v)


def _same_dim(u, v):
    try:
        return u is v or bool(u == v)
    except Exception:  # a symbolic comparison that cannot decide
        return False


def _sizes(cx):
    """Resize's sizes: known values, or (a torch export's Concat of Shape slices) dims
    whose symbolic entries repeat the input's own dims, so those axes keep their size."""
    if not cx.has(3):
        return None
    value = cx.importer.static_value(cx.input(3))
    if value is not None:
        return None if value.size == 0 else [int(v) for v in value.reshape(-1)]
    dims = static_dims(cx.input(3))
    if dims is None:
        return _static_or_none(cx, 3)  # raises the import-time error naming the input
    return dims


@converter("Resize", since=10, static=(1, 2, 3),
           attrs=("mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
                  "exclude_outside", "extrapolation_value", "antialias", "axes",
                  "keep_aspect_ratio_policy"),
           note="scales, sizes and roi known at import; the resized dims static")
def resize_(cx):
    mode = cx.attr("mode", "nearest")
    if mode not in ("nearest", "linear", "cubic") or (cx.opset < 11 and mode == "cubic"):
        raise cx.unsupported(f"mode {mode!r}")
    if cx.opset < 11:  # Resize-10: Upsample's coordinates
        return [resize(cx, cx.input(0), _static_or_none(cx, 1), None, mode, "asymmetric",
                       "simple")]
    ctm = cx.attr("coordinate_transformation_mode", "half_pixel")
    if ctm not in _CTMS or (ctm == "half_pixel_symmetric" and cx.opset < 19):
        raise cx.unsupported(f"coordinate_transformation_mode {ctm!r}")
    nearest_mode = cx.attr("nearest_mode", "round_prefer_floor")
    if nearest_mode not in _NEAREST:
        raise cx.unsupported(f"nearest_mode {nearest_mode!r}")
    policy = cx.attr("keep_aspect_ratio_policy", "stretch")
    if policy not in ("stretch", "not_larger", "not_smaller"):
        raise cx.unsupported(f"keep_aspect_ratio_policy {policy!r}")
    antialias = bool(cx.attr("antialias", 0))
    if antialias and mode == "nearest":
        raise cx.unsupported("antialias with mode 'nearest'")
    scales, sizes = _static_or_none(cx, 2), _sizes(cx)
    if (scales is None) == (sizes is None):
        raise cx.unsupported("exactly one of scales and sizes must be given")
    roi = _static_or_none(cx, 1) if ctm == "tf_crop_and_resize" else None
    if ctm == "tf_crop_and_resize" and roi is None:
        raise cx.unsupported("tf_crop_and_resize without roi")
    return [resize(cx, cx.input(0), scales, sizes, mode, ctm, nearest_mode, roi=roi,
                   cubic_a=float(cx.attr("cubic_coeff_a", -0.75)),
                   exclude_outside=bool(cx.attr("exclude_outside", 0)),
                   extrapolation=float(cx.attr("extrapolation_value", 0.0)),
                   antialias=antialias, axes=cx.attr("axes"), policy=policy)]


@converter("Upsample", since=7, static=(1,), attrs=("mode", "scales"),
           note="scales known at import; the resized dims static")
def upsample(cx):
    mode = cx.attr("mode", "nearest")
    mode = {"bilinear": "linear"}.get(mode, mode)
    if mode not in ("nearest", "linear"):
        raise cx.unsupported(f"mode {mode!r}")
    if cx.opset >= 9:
        scales = _static_or_none(cx, 1)
    else:
        scales = cx.attr("scales")
        scales = None if scales is None else np.asarray(scales, dtype=np.float32)
    if scales is None:
        raise cx.unsupported("no scales")
    if np.any(scales < 1):
        raise cx.unsupported(f"scales {scales.tolist()}: Upsample needs every scale >= 1")
    return [resize(cx, cx.input(0), scales, None, mode, "asymmetric", "simple")]


# -- GridSample ------------------------------------------------------------------------


def _const(v, like):
    return constant(v, like.dtype)


def _reflect(v, lo, hi):
    """ONNX GridSample's reflection of coordinate v into [lo, hi] (elementwise)."""
    rng = hi - lo
    below = M.less(v, _const(lo, v))
    dx = P.where_v2(below, M.subtract(_const(lo, v), v), M.subtract(v, _const(hi, v)))
    n = M.floor(M.truediv(dx, _const(rng, v)))
    rem = M.subtract(dx, M.multiply(n, _const(rng, v)))
    even = M.equal(M.subtract(n, M.multiply(M.floor(M.multiply(n, _const(0.5, v))),
                                            _const(2, v))), _const(0, v))
    lo_r, hi_r = M.add(_const(lo, v), rem), M.subtract(_const(hi, v), rem)
    reflected = P.where_v2(below, P.where_v2(even, lo_r, hi_r),
                           P.where_v2(even, hi_r, lo_r))
    inside = M.logical_and(M.greater_equal(v, _const(lo, v)), M.less_equal(v, _const(hi, v)))
    return P.where_v2(inside, v, reflected)


def _trunc(v):
    """Round toward zero (as C's cast to int), as floats."""
    return P.where_v2(M.less(v, _const(0, v)), M.ceil(v), M.floor(v))


def _fetch(i, d, lo, hi, padding):
    """A tap at integer-valued float index i of an axis of extent d: (int32 index into
    [0, d), validity as float or None)."""
    valid = None
    if padding == "zeros":
        valid = M.cast(M.logical_and(M.greater_equal(i, _const(0, i)),
                                     M.less_equal(i, _const(d - 1, i))), i.dtype)
    elif padding == "reflection":
        i = _trunc(_reflect(i, lo, hi))
    i = M.clip_by_value(i, _const(0, i), _const(d - 1, i))
    return M.cast(i, T.int32), valid


def _cubic_w(t):
    a = -0.75
    one, two = _const(1, t), _const(2, t)

    def far(x):  # a x^3 - 5a x^2 + 8a x - 4a, for 1 <= x < 2
        return M.add(M.multiply(M.add(M.multiply(M.add(M.multiply(x, _const(a, x)),
                                                       _const(-5 * a, x)), x),
                                      _const(8 * a, x)), x), _const(-4 * a, x))

    def near(x):  # (a + 2) x^3 - (a + 3) x^2 + 1, for x <= 1
        return M.add(M.multiply(M.multiply(M.add(M.multiply(x, _const(a + 2, x)),
                                                 _const(-(a + 3), x)), x), x), one)

    return [far(M.add(t, one)), near(t), near(M.subtract(one, t)),
            far(M.subtract(two, t))]


@converter("GridSample", since=16, attrs=("mode", "padding_mode", "align_corners"),
           note="C and the spatial dims of X static")
def grid_sample(cx):
    x, grid = cx.input(0), cx.input(1)
    mode = cx.attr("mode", "bilinear" if cx.opset < 20 else "linear")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    padding = cx.attr("padding_mode", "zeros")
    align = bool(cx.attr("align_corners", 0))
    if mode not in ("nearest", "linear", "cubic"):
        raise cx.unsupported(f"mode {cx.attr('mode')!r}")
    if padding not in ("zeros", "border", "reflection"):
        raise cx.unsupported(f"padding_mode {padding!r}")
    dims = known_shape(x, cx.op_type)
    spatial = list(dims[2:])
    r = len(spatial)
    if r < 1 or not all(isinstance(d, int) for d in spatial + [dims[1]]):
        raise cx.unsupported(f"X of shape {list(dims)}: C and the spatial dims must be "
                             f"static")
    if grid.shape.ndims != r + 2:
        raise cx.unsupported(f"grid of rank {grid.shape.ndims} for X of rank {r + 2}")
    if x.dtype not in (T.float16, T.float32, T.float64):
        raise cx.unsupported(f"X of element type {x.dtype.name}")
    ft = T.float64 if x.dtype is T.float64 else T.float32
    g = M.cast(grid, ft) if grid.dtype is not ft else grid
    xf = M.cast(x, ft) if x.dtype is not ft else x
    c = dims[1]
    flat = P.reshape(P.transpose(xf, [0] + list(range(2, r + 2)) + [1]), [-1, c])
    taps = []  # per spatial dim: [(index, weight or None), ...]
    for i, d in enumerate(spatial):
        n = P.gather(g, constant(np.int32(r - 1 - i)), axis=-1)
        if align:
            v = M.multiply(M.add(n, _const(1, n)), _const((d - 1) / 2.0, n))
            lo, hi = 0.0, d - 1.0
        else:
            v = M.truediv(M.subtract(M.multiply(M.add(n, _const(1, n)), _const(d, n)),
                                     _const(1, n)), _const(2, n))
            lo, hi = -0.5, d - 0.5
        if mode == "nearest":
            v = M.round(v)
        if padding == "border":
            out = M.logical_or(M.less(v, _const(lo, v)), M.greater(v, _const(hi, v)))
            v = P.where_v2(out, M.clip_by_value(v, _const(0, v), _const(d - 1, v)), v)
        elif padding == "reflection":
            v = _reflect(v, lo, hi)
        if mode == "nearest":
            taps.append([(_trunc(v), None)])
            continue
        x0 = M.floor(v)
        t = M.subtract(v, x0)
        if mode == "linear":
            taps.append([(x0, M.subtract(_const(1, t), t)), (M.add(x0, _const(1, t)), t)])
        else:
            taps.append([(M.add(x0, _const(k, t)), w)
                         for k, w in zip((-1, 0, 1, 2), _cubic_w(t), strict=True)])
    fetched = [[(*_fetch(i, d, lo_hi[0], lo_hi[1], padding), w) for i, w in axis_taps]
               for axis_taps, d, lo_hi in zip(
                   taps, spatial,
                   [(0.0, d - 1.0) if align else (-0.5, d - 0.5) for d in spatial],
                   strict=True)]
    strides = [int(np.prod(spatial[i + 1:])) for i in range(r)]
    total = int(np.prod(spatial))
    batch = known_shape(grid, cx.op_type)[0]
    base = M.multiply(make("iota", [], shape=(batch,) + (1,) * r, axis=0, dtype=T.int32),
                      constant(np.int32(total)))
    y = None
    for combo in itertools.product(*fetched):
        index = base
        weight = None
        for (idx, valid, w), stride in zip(combo, strides, strict=True):
            index = M.add(index, M.multiply(idx, constant(np.int32(stride))) if stride != 1
                          else idx)
            for f in (valid, w):
                if f is not None:
                    weight = f if weight is None else M.multiply(weight, f)
        v = P.gather(flat, index, axis=0)  # [N, out..., C]
        if weight is not None:
            v = M.multiply(v, P.reshape(weight, known_shape(weight, "w") + (1,)))
        y = v if y is None else M.add(y, v)
    y = P.transpose(y, [0, r + 1] + list(range(1, r + 1)))
    return [y if y.dtype is x.dtype else M.cast(y, x.dtype)]


# -- AffineGrid ------------------------------------------------------------------------


@converter("AffineGrid", since=20, static=(1,), attrs=("align_corners",),
           note="size must be known at import")
def affine_grid(cx):
    theta = cx.input(0)
    size = cx.static_ints(1)
    spatial = size[2:]
    r = len(spatial)
    if r not in (2, 3):
        raise cx.unsupported(f"size {size}: 2-D or 3-D grids only")
    align = bool(cx.attr("align_corners", 0))
    axes = []
    for d in spatial:
        i = np.arange(d, dtype=np.float64)
        axes.append(-1 + 2 * i / (d - 1) if align and d > 1 else
                    (np.zeros(d) if align else -1 + (2 * i + 1) / d))
    mesh = np.meshgrid(*axes, indexing="ij")
    base = np.stack([m.reshape(-1) for m in mesh[::-1]] + [np.ones(mesh[0].size)])
    ft = theta.dtype
    t = P.reshape(theta, [-1, r + 1])  # [N * r, r + 1]
    g = M.matmul(t, constant(base, ft))  # [N * r, P]
    g = P.transpose(P.reshape(g, [-1, r, base.shape[1]]), [0, 2, 1])
    return [P.reshape(g, [-1] + list(spatial) + [r])]
