"""Depthwise and separable convolutions with TF1 semantics, composites of `patches`
(compiler/ops/window.py) and, for the pointwise step, the `conv` primitive:

- `depthwise_conv2d(input, filter [KH, KW, C, M], strides, padding, rate)`:
  out[n, o, c * M + m] = sum over k of patches(x)[n, o, k, c] * filter[k, c, m], summed
  offset by offset (row-major): one loop kernel reading x directly (patches is index
  arithmetic), vectorized over the channels. It is a composite with a gradient of its
  own (frontend/deferred.py `grad=`): the input gradient one `fold` (patches' transpose)
  of dy times the filter, the filter gradient one reduction of patches(x) times dy.
  `depthwise_conv2d_native` is the same op with TF's raw-op argument names.
- `separable_conv2d(input, depthwise_filter, pointwise_filter [1, 1, C * M, Co], ...)`:
  the depthwise step (strides and rate apply there), then a 1 x 1 `conv`.

TF1 rules kept: strides as 4-lists ([1, s, s, 1], or NCHW's [1, 1, s, s]) or 2-lists,
rate > 1 only with unit strides, data_format NHWC/NCHW, SAME/VALID padding (TF's
asymmetric SAME). Errors name the op and the argument.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..ops.window import window_out_sizes
from .core import convert_to_tensor, known_shape, make, op_scope
from .deferred import deferred
from .padding import (
    channels_first,
    error,
    from_channels_last,
    padding_pairs,
    sequence,
    to_channels_last,
)


def _rates(rate, dilations, first, op):
    if rate is not None and dilations is not None:
        raise error(ValueError, op, "give rate or dilations, not both")
    if dilations is not None:
        return sequence(dilations, 2, first, "dilations", op)
    return sequence(1 if rate is None else rate, 2, first, "rate", op)


def _depthwise(x, filt, steps, rates, padding, first, op, name=None):
    """x [N, H, W, C] (channels last; `first`: the user's format was channels-first) ->
    [N, OH, OW, C * M]."""
    shape, fshape = known_shape(x, op), known_shape(filt, op)
    if len(shape) != 4 or len(fshape) != 4:
        raise error(ValueError, op, f"needs a 4-D input and a 4-D filter [KH, KW, C, M], "
                                    f"got {list(shape)} and {list(fshape)}")
    if not all(isinstance(d, int) for d in list(shape[1:]) + list(fshape)):
        raise error(ValueError, op, f"the spatial and channel extents of the input "
                                    f"{list(shape)} and the filter {list(fshape)} must be "
                                    f"static")
    kh, kw, c, m = fshape
    if c != shape[-1]:
        raise error(ValueError, op, f"the filter {list(fshape)} expects {c} input channels, "
                                    f"the input {list(shape)} has {shape[-1]}")
    if x.dtype is not filt.dtype:
        raise error(TypeError, op, f"input and filter dtypes differ ({x.dtype.name}, "
                                   f"{filt.dtype.name})")
    if any(r != 1 for r in rates) and any(s != 1 for s in steps):
        raise error(ValueError, op, f"strides {list(steps)} must be 1 when the rate "
                                    f"{list(rates)} is not (TF1)")
    pads = padding_pairs(padding, shape[1:3], (kh, kw), steps, rates, first, op,
                         any_case=True)
    attrs = {"window": (kh, kw), "strides": steps, "padding": pads, "rhs_dilation": rates}
    oh, ow = window_out_sizes(shape[1:3], attrs)
    if oh < 1 or ow < 1:
        raise error(ValueError, op, f"the filter window {[kh, kw]} (rate {list(rates)}) "
                                    f"does not fit the input {list(shape)} under padding "
                                    f"{padding!r}")
    return deferred(partial(_depthwise_build, attrs), [x, filt], x.dtype,
                    (shape[0], oh, ow, c * m), name=name or "depthwise",
                    grad=partial(_depthwise_grad, attrs))


def _depthwise_build(attrs, x, w):
    """sum over the window offsets k of x's window element k times w[k] (a left fold of
    `add` in row-major offset order): one loop kernel over the output, vectorized over
    the channels, reading x by index arithmetic."""
    kh, kw, c, m = known_shape(w, "depthwise_conv2d")
    p = make("patches", [x], value=0.0, **attrs)                     # [N, OH, OW, KH, KW, C]
    n, oh, ow = known_shape(p, "depthwise_conv2d")[:3]
    total = None
    for k in np.ndindex(kh, kw):
        s = make("slice", [p], begin=(0, 0, 0, *k, 0), size=(n, oh, ow, 1, 1, c),
                 stride=(1,) * 6)
        wk = make("slice", [w], begin=(*k, 0, 0), size=(1, 1, c, m), stride=(1,) * 4)
        term = make("mul", [make("reshape", [s], shape=(n, oh, ow, c, 1)),
                            make("reshape", [wk], shape=(c, m))])
        total = term if total is None else make("add", [total, term])
    return make("reshape", [total], shape=(n, oh, ow, c * m))


def _depthwise_grad(attrs, x, w, y, g):
    """The input gradient: one fold of dy times the filter over each window; the filter
    gradient: one reduction over the batch and output positions of x's windows times dy
    (the gradients of the equivalent reduce_sum(patches(x) * w) over the window)."""
    kh, kw, c, m = known_shape(w, "depthwise_conv2d")
    n, oh, ow = known_shape(g, "depthwise_conv2d")[:3]
    g6 = make("reshape", [g], shape=(n, oh, ow, 1, 1, c, m))
    windows = None
    for j in range(m):   # [N, OH, OW, KH, KW, C]: sum over m of dy[.., c, m] * w[k, c, m]
        gj = make("slice", [g6], begin=(0,) * 6 + (j,), size=(n, oh, ow, 1, 1, c, 1),
                  stride=(1,) * 7)
        wj = make("slice", [w], begin=(0, 0, 0, j), size=(kh, kw, c, 1), stride=(1,) * 4)
        term = make("mul", [make("reshape", [gj], shape=(n, oh, ow, 1, 1, c)),
                            make("reshape", [wj], shape=(kh, kw, c))])
        windows = term if windows is None else make("add", [windows, term])
    spatial = tuple(known_shape(x, "depthwise_conv2d")[1:3])
    dx = make("fold", [windows], shape=spatial, **attrs)
    p = make("patches", [x], value=0.0, **attrs)
    prod = make("mul", [make("reshape", [p], shape=(n, oh, ow, kh, kw, c, 1)), g6])
    dw = make("reduce_sum", [prod], axes=(0, 1, 2), keepdims=False)
    return [dx, dw]


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    """TF1's `tf.nn.depthwise_conv2d`: each input channel convolved with its own M
    filters, output channel c * M + m."""
    with op_scope(name, "depthwise", [input, filter]) as scope:
        x, f = convert_to_tensor(input), convert_to_tensor(filter)
        first = channels_first(data_format, 2, "depthwise_conv2d")
        steps = sequence(strides, 2, first, "strides", "depthwise_conv2d")
        rates = _rates(rate, dilations, first, "depthwise_conv2d")
        y = _depthwise(to_channels_last(x, first), f, steps, rates, padding, first,
                       "depthwise_conv2d", name=None if first else scope)
        return from_channels_last(y, first, name=scope)


def depthwise_conv2d_native(input, filter, strides, padding, data_format="NHWC",  # noqa: A002
                            dilations=None, name=None):
    """TF1's `tf.nn.depthwise_conv2d_native` (the raw op's argument names)."""
    return depthwise_conv2d(input, filter, strides, padding, name=name or
                            "DepthwiseConv2dNative", data_format=data_format,
                            dilations=dilations)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,  # noqa: A002
                     rate=None, name=None, data_format=None, dilations=None):
    """TF1's `tf.nn.separable_conv2d`: depthwise (with the strides and rate), then a
    1 x 1 convolution with `pointwise_filter` [1, 1, C * M, Co]."""
    with op_scope(name, "separable_conv2d", [input, depthwise_filter,
                                              pointwise_filter]) as scope:
        x = convert_to_tensor(input)
        dw, pw = convert_to_tensor(depthwise_filter), convert_to_tensor(pointwise_filter)
        op = "separable_conv2d"
        first = channels_first(data_format, 2, op)
        steps = sequence(strides, 2, first, "strides", op)
        rates = _rates(rate, dilations, first, op)
        d = _depthwise(to_channels_last(x, first), dw, steps, rates, padding, first, op)
        pshape, dshape = known_shape(pw, op), known_shape(d, op)
        if len(pshape) != 4 or tuple(pshape[:2]) != (1, 1) or pshape[2] != dshape[-1]:
            raise error(ValueError, op, f"pointwise_filter must be [1, 1, {dshape[-1]}, out], got "
                             f"{list(pshape)}")
        y = make("conv", [d, pw], strides=(1, 1), padding=((0, 0), (0, 0)),
                 lhs_dilation=(1, 1), rhs_dilation=(1, 1), name=None if first else scope)
        return from_channels_last(y, first, name=scope)
