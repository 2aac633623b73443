"""Pooling and patch extraction with TF1 semantics, as composites of the window primitive
`patches` (compiler/ops/window.py):

- `max_pool` (and `max_pool1d/2d/3d`, `pool(pooling_type="MAX")`): the maximum over each
  window of `patches(x, value=-inf)`, written as a left fold of `maximum` over the window
  offsets in row-major order. `maximum`'s gradient goes to its first operand on a tie, so
  the fold sends each window's gradient wholly to its FIRST maximum, as TF's MaxPoolGrad
  does (not reduce_max's shared ties). Without gradients the fold is one loop kernel
  reading x directly (a max pool after a relu is one kernel).
- `avg_pool` (`avg_pool1d/3d`, `pool(pooling_type="AVG")`): the sum over each window of
  `patches(x, value=0)` times 1 / count, where count is the number of window elements
  inside x (TF's SAME divides by the valid elements only): one reduce kernel; its
  gradient distributes dy / count (the gradient of `patches` is `fold`).
- `max_pool_with_argmax`: the max pool and TF's flattened index of each window's first
  maximum, ((y * W + x) * C + c) (+ n * H * W * C with `include_batch_in_index`).
- `extract_image_patches`: `patches` reshaped to TF's [N, OH, OW, KH * KW * C] order.

Arguments follow TF1 (ksize/strides as ints or lists, "SAME"/"VALID", data_format
NHWC/NCHW and the 1-D/3-D formats); compiler/frontend/padding.py resolves them and names
the op and argument in its errors. Spatial and channel extents must be static; the batch
may be a symbolic dim.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..ir import dtypes as T
from ..ops.window import window_out_sizes
from .core import constant, convert_to_tensor, known_shape, make, op_scope
from .deferred import deferred
from .padding import (
    channels_first,
    error,
    from_channels_last,
    padding_pairs,
    sequence,
    to_channels_last,
)


def _prepare(value, nsp, ksize, strides, dilations, padding, data_format, op):
    """(x in channels-last layout, first (the user's format is channels-first), window
    attrs) of a pooling call."""
    x = convert_to_tensor(value)
    shape = known_shape(x, op)
    if len(shape) != nsp + 2:
        raise error(ValueError, op, f"input {x.name!r} must have rank {nsp + 2} ([batch, "
                         f"{nsp} spatial axes, channels]), got shape {list(shape)}")
    first = channels_first(data_format, nsp, op)
    window = sequence(ksize, nsp, first, "ksize", op)
    steps = sequence(strides, nsp, first, "strides", op)
    rates = sequence(dilations, nsp, first, "dilations", op)
    x = to_channels_last(x, first)
    spatial = list(known_shape(x, op)[1:-1])
    if not all(isinstance(s, int) for s in spatial):
        raise error(ValueError, op, f"the spatial extents of {list(shape)} must be known when "
                         f"the graph is built")
    pads = padding_pairs(padding, spatial, window, steps, rates, first, op, any_case=True)
    attrs = {"window": window, "strides": steps, "padding": pads, "rhs_dilation": rates}
    out = window_out_sizes(spatial, attrs)
    for i, o in enumerate(out):
        if o < 1:
            raise error(ValueError, op, f"the window {list(window)} (dilations {list(rates)}) "
                             f"does not fit spatial axis {i} of the input {list(shape)} "
                             f"under padding {padding!r}")
    return x, first, attrs


def _max_window(x, attrs, name=None):
    """max over each window of x [N, *S, C] -> [N, *O, C], with TF's first-maximum
    gradient (see the module docstring)."""
    nsp = len(attrs["window"])
    shape = known_shape(x, "max_pool")
    out = window_out_sizes(shape[1:1 + nsp], attrs)
    return deferred(partial(_max_build, attrs), [x], x.dtype, (shape[0], *out, shape[-1]),
                    name=name or "MaxPool", grad=partial(_max_grad, attrs))


def _offsets(attrs, p):
    """The window elements of patches p [N, *O, *K, C], one [N, *O, 1.., C] slice per
    window offset in row-major order."""
    nsp = len(attrs["window"])
    shape = known_shape(p, "pool")
    size = (*shape[:1 + nsp], *(1,) * nsp, shape[-1])
    return [make("slice", [p], begin=(0, *(0,) * nsp, *k, 0), size=size,
                 stride=(1,) * len(shape)) for k in np.ndindex(*attrs["window"])]


def _squeeze_window(t, nsp):
    shape = known_shape(t, "pool")
    return make("reshape", [t], shape=(*shape[:1 + nsp], shape[-1]))


def _max_build(attrs, x):
    """A left fold of `maximum` over the window offsets: one loop kernel over the output
    (vectorized over the channels), each element read from x by index arithmetic."""
    p = make("patches", [x], value=float("-inf"), **attrs)
    m = None
    for s in _offsets(attrs, p):
        m = s if m is None else make("maximum", [m, s])
    return _squeeze_window(m, len(attrs["window"]))


def _first_offset(attrs, x, y):
    """int32 [N, *O, C]: the row-major window offset of each window's first element
    equal to its maximum y (a select chain over the offsets, from the last to the
    first: one loop kernel)."""
    nsp = len(attrs["window"])
    p = make("patches", [x], value=float("-inf"), **attrs)
    slices = [_squeeze_window(s, nsp) for s in _offsets(attrs, p)]   # each [N, *O, C]
    first = constant(np.int32(len(slices)))
    for k in reversed(range(len(slices))):
        first = make("select", [make("equal", [slices[k], y]), constant(np.int32(k)), first])
    return first


def _max_grad(attrs, x, y, g):
    """TF's MaxPoolGrad: each window's gradient goes wholly to its first maximum in
    row-major window order; one fold kernel (the first maximum's offset is stored once,
    fusion/store_window_invariants)."""
    nsp = len(attrs["window"])
    shape = known_shape(g, "max_pool")
    unit = (*shape[:1 + nsp], *(1,) * nsp, shape[-1])
    first = make("reshape", [_first_offset(attrs, x, y)], shape=unit)
    grid = (1,) * (1 + nsp) + tuple(attrs["window"]) + (1,)
    flat = make("iota", [], shape=grid, axis=1 + nsp, dtype=T.int32)
    for a in range(2 + nsp, 1 + 2 * nsp):   # the flat window offset of each window element
        size = constant(np.int32(attrs["window"][a - 1 - nsp]))
        step = make("iota", [], shape=grid, axis=a, dtype=T.int32)
        flat = make("add", [make("mul", [flat, size]), step])
    hit = make("equal", [flat, first])
    windows = make("select", [hit, make("reshape", [g], shape=unit),
                              constant(np.zeros((), x.dtype.np))])
    spatial = tuple(known_shape(x, "max_pool")[1:1 + nsp])
    return [make("fold", [windows], shape=spatial, **attrs)]


def _window_counts(spatial, attrs):
    """Per output position, the number of window elements inside x: [1, *O, 1]."""
    from ..ops.window import _patches_ref
    ones = np.ones((1, *spatial, 1), np.float64)
    p = _patches_ref(ones, value=0.0, **attrs)
    nsp = len(spatial)
    return p.sum(axis=tuple(range(1 + nsp, 1 + 2 * nsp)))


def _count_tensor(x, attrs):
    """1 / count as a constant shaped to broadcast over [N, *O, C]."""
    spatial = list(known_shape(x, "avg_pool")[1:-1])
    counts = _window_counts(spatial, attrs)
    if np.all(counts == counts.flat[0]):
        return constant(np.asarray(counts.flat[0], x.dtype.np))
    return constant(counts.astype(x.dtype.np))


def _avg_window(x, attrs, name=None):
    """mean over the valid elements of each window of x [N, *S, C] -> [N, *O, C]."""
    nsp = len(attrs["window"])
    if not x.dtype.is_float:
        raise error(TypeError, "avg_pool", f"needs a float input, got {x.dtype.name} "
                                           f"({x.name!r})")
    shape = known_shape(x, "avg_pool")
    out = window_out_sizes(shape[1:1 + nsp], attrs)
    return deferred(partial(_avg_build, attrs), [x], x.dtype, (shape[0], *out, shape[-1]),
                    name=name or "AvgPool", grad=partial(_avg_grad, attrs))


def _avg_build(attrs, x):
    """The window sum (a left fold of `add` over the offsets, zeros on the padding: one
    loop kernel) divided by the number of valid elements, as TF computes it."""
    p = make("patches", [x], value=0.0, **attrs)
    total = None
    for s in _offsets(attrs, p):
        total = s if total is None else make("add", [total, s])
    return make("div", [_squeeze_window(total, len(attrs["window"])), _count_tensor(x, attrs)])


def _avg_grad(attrs, x, y, g):
    """dy / count to every element of the window (one fold kernel)."""
    nsp = len(attrs["window"])
    shape = known_shape(g, "avg_pool")
    unit = (*shape[:1 + nsp], *(1,) * nsp, shape[-1])
    count = _count_tensor(x, attrs)
    if count.shape.ndims:
        count = make("reshape", [count], shape=(1, *shape[1:1 + nsp], *(1,) * nsp, 1))
    windows = make("div", [make("broadcast", [make("reshape", [g], shape=unit)], shape=(
        *shape[:1 + nsp], *attrs["window"], shape[-1])), count])
    spatial = tuple(known_shape(x, "avg_pool")[1:1 + nsp])
    return [make("fold", [windows], shape=spatial, **attrs)]


def _pool(kind, value, nsp, ksize, strides, padding, data_format, name, default,
          dilations=1):
    with op_scope(name, default, [value]) as scope:
        x, first, attrs = _prepare(value, nsp, ksize, strides, dilations, padding,
                                  data_format, default)
        window = _max_window if kind == "MAX" else _avg_window
        y = window(x, attrs, name=None if first else scope)
        return from_channels_last(y, first, name=scope)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):  # noqa: A002
    """TF1's `tf.nn.max_pool` (2-D): the gradient goes to each window's first maximum."""
    return _pool("MAX", value if input is None else input, 2, ksize, strides, padding,
                 data_format, name, "MaxPool")


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):  # noqa: A002
    """TF1's `tf.nn.avg_pool` (2-D): SAME divides by the valid elements of each window."""
    return _pool("AVG", value if input is None else input, 2, ksize, strides, padding,
                 data_format, name, "AvgPool")


def max_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):  # noqa: A002
    return _pool("MAX", input, 1, ksize, strides, padding, data_format, name, "MaxPool1d")


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    return _pool("MAX", input, 2, ksize, strides, padding, data_format, name, "MaxPool2d")


def max_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):  # noqa: A002
    return _pool("MAX", input, 3, ksize, strides, padding, data_format, name, "MaxPool3D")


def avg_pool1d(input, ksize, strides, padding, data_format="NWC", name=None):  # noqa: A002
    return _pool("AVG", input, 1, ksize, strides, padding, data_format, name, "AvgPool1D")


def avg_pool3d(input, ksize, strides, padding, data_format="NDHWC", name=None):  # noqa: A002
    return _pool("AVG", input, 3, ksize, strides, padding, data_format, name, "AvgPool3D")


def pool(input, window_shape, pooling_type, padding, dilation_rate=None, strides=None,  # noqa: A002
         name=None, data_format=None):
    """TF1's `tf.nn.pool`: N-d (1 to 3 spatial axes) MAX or AVG pooling with dilations."""
    window = list(window_shape)
    nsp = len(window)
    if nsp not in (1, 2, 3):
        raise error(ValueError, "pool", f"window_shape must have 1 to 3 entries, got {window}")
    if pooling_type not in ("MAX", "AVG"):
        raise error(ValueError, "pool", f"pooling_type must be \"MAX\" or \"AVG\", got "
                         f"{pooling_type!r}")
    rates = list(dilation_rate or [1] * nsp)
    steps = list(strides or [1] * nsp)
    if any(r != 1 for r in rates) and any(s != 1 for s in steps):
        raise error(ValueError, "pool", f"strides {steps} must be 1 when dilation_rate {rates} is "
                         f"not (TF1)")
    return _pool(pooling_type, input, nsp, window, steps, padding, data_format, name,
                 "MaxPool" if pooling_type == "MAX" else "AvgPool", dilations=rates)


def max_pool_with_argmax(input, ksize, strides, padding, data_format="NHWC",  # noqa: A002
                         Targmax=None, name=None, output_dtype=None,  # noqa: N803
                         include_batch_in_index=False):
    """TF1's `tf.nn.max_pool_with_argmax` (NHWC): (the max pool, the flattened index
    ((y * W + x) * C + c) of each window's first maximum in the input, int64)."""
    if data_format != "NHWC":
        raise error(ValueError, "max_pool_with_argmax", f"data_format must be \"NHWC\", got "
                         f"{data_format!r}")
    index_dtype = T.as_dtype(Targmax or output_dtype or T.int64)
    if index_dtype not in (T.int32, T.int64):
        raise error(ValueError, "max_pool_with_argmax", f"the index dtype must be int32 or int64, "
                         f"got {index_dtype.name}")
    with op_scope(name, "MaxPoolWithArgmax", [input]) as scope:
        x, _, attrs = _prepare(input, 2, ksize, strides, 1, padding, data_format,
                               "max_pool_with_argmax")
        y = _max_window(x, attrs, name=scope)
        flat = _argmax_index(x, y, attrs, include_batch_in_index)
        if index_dtype is not T.int64:
            flat = make("cast", [flat], dtype=index_dtype)
        return y, flat


def _argmax_index(x, y, attrs, include_batch):
    n, h, w, c = known_shape(x, "max_pool_with_argmax")
    (kh, kw), (sh, sw) = attrs["window"], attrs["strides"]
    (lo_h, _), (lo_w, _) = attrs["padding"]
    k = _first_offset(attrs, x, y)                                   # [N, OH, OW, C]
    oh, ow = known_shape(y, "max_pool_with_argmax")[1:3]
    offsets = constant(np.array([a * w + b for a in range(kh) for b in range(kw)],
                                np.int64))
    base = np.add.outer((np.arange(oh) * sh - lo_h) * w, np.arange(ow) * sw - lo_w)
    pos = make("add", [make("gather", [offsets, k], axis=0),
                       constant(base.reshape(1, oh, ow, 1).astype(np.int64))])
    index = make("add", [make("mul", [pos, constant(np.int64(c))]),
                         constant(np.arange(c, dtype=np.int64))])
    if include_batch:
        batch = make("iota", [], shape=(n, 1, 1, 1), axis=0, dtype=T.int64)
        index = make("add", [index, make("mul", [batch, constant(np.int64(h * w * c))])])
    return index


def extract_image_patches(images, ksizes, strides, rates, padding, name=None, sizes=None):
    """TF1's `tf.extract_image_patches`: [N, H, W, C] -> [N, OH, OW, KH * KW * C], each
    patch in (row, column, channel) order, zeros where it covers the SAME padding."""
    with op_scope(name, "ExtractImagePatches", [images]) as scope:
        x, _, attrs = _prepare(images, 2, sizes if ksizes is None else ksizes, strides,
                               rates, padding, "NHWC", "extract_image_patches")
        p = make("patches", [x], value=0.0, **attrs)
        n, oh, ow, kh, kw, c = known_shape(p, "extract_image_patches")
        return make("reshape", [p], shape=(n, oh, ow, kh * kw * c), name=scope)
