"""Depthwise and separable convolutions with TF1 semantics, composites of `patches`
(compiler/ops/window.py) and, for the pointwise step, the `conv` primitive:

- `depthwise_conv2d(input, filter [KH, KW, C, M], strides, padding, rate)`:
  out[n, o, c * M + m] = sum over k of patches(x)[n, o, k, c] * filter[k, c, m] — one
  reduce kernel reading x directly (patches is index arithmetic); its gradients are
  those of the product and the sum, with `fold` (patches' transpose) for the input.
  `depthwise_conv2d_native` is the same op with TF's raw-op argument names.
- `separable_conv2d(input, depthwise_filter, pointwise_filter [1, 1, C * M, Co], ...)`:
  the depthwise step (strides and rate apply there), then a 1 x 1 `conv`.

TF1 rules kept: strides as 4-lists ([1, s, s, 1], or NCHW's [1, 1, s, s]) or 2-lists,
rate > 1 only with unit strides, data_format NHWC/NCHW, SAME/VALID padding (TF's
asymmetric SAME). Errors name the op and the argument.
"""

from __future__ import annotations

from .core import convert_to_tensor, known_shape, make, op_scope
from .padding import (
    channels_last,
    error,
    from_channels_last,
    spatial_list,
    to_channels_last,
    window_padding,
)


def _rates(rate, dilations, last, op):
    if rate is not None and dilations is not None:
        raise error(ValueError, op, "give rate or dilations, not both")
    if dilations is not None:
        return spatial_list(dilations, 2, last, "dilations", op)
    return spatial_list(1 if rate is None else rate, 2, last, "rate", op)


def _depthwise(x, filt, steps, rates, padding, last, op, name=None):
    """x [N, H, W, C] (channels last; `last`: the user's format was) -> [N, OH, OW, C * M]."""
    shape = known_shape(x, op)
    fshape = known_shape(filt, op)
    if len(shape) != 4 or len(fshape) != 4:
        raise error(ValueError, op, f"needs a 4-D input and a 4-D filter [KH, KW, C, M], got "
                         f"{list(shape)} and {list(fshape)}")
    if not all(isinstance(d, int) for d in list(shape[1:]) + list(fshape)):
        raise error(ValueError, op, f"the spatial and channel extents of the input "
                         f"{list(shape)} and the filter {list(fshape)} must be static")
    kh, kw, c, m = fshape
    if c != shape[-1]:
        raise error(ValueError, op, f"the filter {list(fshape)} expects {c} input channels, the "
                         f"input {list(shape)} has {shape[-1]}")
    if x.dtype is not filt.dtype:
        raise error(TypeError, op, f"input and filter dtypes differ ({x.dtype.name}, "
                        f"{filt.dtype.name})")
    if any(r != 1 for r in rates) and any(s != 1 for s in steps):
        raise error(ValueError, op, f"strides {list(steps)} must be 1 when the rate "
                         f"{list(rates)} is not (TF1)")
    pads = window_padding(padding, shape[1:3], (kh, kw), steps, rates, last, op)
    attrs = {"window": (kh, kw), "strides": steps, "padding": pads, "rhs_dilation": rates}
    from ..ops.window import window_out_sizes
    oh, ow = window_out_sizes(shape[1:3], attrs)
    if oh < 1 or ow < 1:
        raise error(ValueError, op, f"the filter window {[kh, kw]} (rate {list(rates)}) does "
                         f"not fit the input {list(shape)} under padding {padding!r}")
    p = make("patches", [x], value=0.0, **attrs)                     # [N, OH, OW, KH, KW, C]
    n = shape[0]
    if m == 1:
        w = make("reshape", [filt], shape=(kh, kw, c))
        return make("reduce_sum", [make("mul", [p, w])], axes=(3, 4), keepdims=False,
                    name=name)
    p = make("reshape", [p], shape=(n, oh, ow, kh, kw, c, 1))
    prod = make("mul", [p, filt])                                     # [.., KH, KW, C, M]
    s = make("reduce_sum", [prod], axes=(3, 4), keepdims=False)
    return make("reshape", [s], shape=(n, oh, ow, c * m), name=name)


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    """TF1's `tf.nn.depthwise_conv2d`: each input channel convolved with its own M
    filters, output channel c * M + m."""
    with op_scope(name, "depthwise", [input, filter]) as scope:
        x, f = convert_to_tensor(input), convert_to_tensor(filter)
        last = channels_last(data_format, 2, "depthwise_conv2d")
        steps = spatial_list(strides, 2, last, "strides", "depthwise_conv2d")
        rates = _rates(rate, dilations, last, "depthwise_conv2d")
        y = _depthwise(to_channels_last(x, last, 2), f, steps, rates, padding, last,
                       "depthwise_conv2d", name=scope if last else None)
        return from_channels_last(y, last, 2, name=scope)


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
        last = channels_last(data_format, 2, op)
        steps = spatial_list(strides, 2, last, "strides", op)
        rates = _rates(rate, dilations, last, op)
        d = _depthwise(to_channels_last(x, last, 2), dw, steps, rates, padding, last, op)
        pshape, dshape = known_shape(pw, op), known_shape(d, op)
        if len(pshape) != 4 or tuple(pshape[:2]) != (1, 1) or pshape[2] != dshape[-1]:
            raise error(ValueError, op, f"pointwise_filter must be [1, 1, {dshape[-1]}, out], got "
                             f"{list(pshape)}")
        y = make("conv", [d, pw], strides=(1, 1), padding=((0, 0), (0, 0)),
                 lhs_dilation=(1, 1), rhs_dilation=(1, 1), name=scope if last else None)
        return from_channels_last(y, last, 2, name=scope)
