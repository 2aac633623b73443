"""TF's window arguments for the window ops (pooling, depthwise convolutions, patch
extraction), resolved by the convolutions' own rules in compiler/frontend/conv_ops.py so
that every windowed op reads "SAME", strides and data formats the same way:

- `window_padding(padding, spatial, window, strides, dilations, last, op)`: "SAME" /
  "VALID" (any case, as tf.layers spells them) -> ((lo, hi), ...) per spatial axis;
  SAME is TF's asymmetric padding, total = max((ceil(S / s) - 1) * s + (K - 1) * d + 1
  - S, 0), lo = total // 2, hi = total - lo.
- `channels_last(data_format, nsp, op)`: True for NHWC-like formats (and None), False
  for NCHW-like ones, else an error naming the op.
- `spatial_list(value, nsp, last, what, op)`: ksize / strides / dilations as an int or a
  list of 1, nsp or nsp + 2 ints (batch and channel entries 1) -> nsp ints.
- `to_channels_last` / `from_channels_last`: the transposes around an NCHW-like input.

Errors are conv_ops' (the op, the user's file:line, the argument). Nothing here builds
a graph but the transposes.
"""

from __future__ import annotations

from . import conv_ops


def window_padding(padding, spatial, window, strides, dilations, last, op):
    mode = padding.upper() if isinstance(padding, str) else padding
    return conv_ops.padding_pairs(mode, list(spatial), window, strides, dilations,
                                  not last, op)


def channels_last(data_format, nsp, op) -> bool:
    return not conv_ops.channels_first(data_format, nsp, op)


def spatial_list(value, nsp, last, what, op):
    return conv_ops._sequence(value, nsp, not last, what, op)


def to_channels_last(x, last, nsp):
    return conv_ops._to_last(x, not last)


def from_channels_last(y, last, nsp, name=None):
    """y itself when `last`, else y transposed back to NCHW-like (named `name`)."""
    return conv_ops._to_first(y, not last, name)


def error(cls, op, msg):
    """`cls("OP at FILE:LINE: msg")`: the windowed ops' errors, worded as conv_ops' are."""
    return conv_ops._error(cls, op, msg)
