"""The gradient rule of the `conv` primitive: both gradients are convs (plus movement).

For `y = conv(x, w)` with x [N, *S, Ci], w [*K, Ci, Co], y [N, *O, Co] and the attrs of
compiler/ops/conv.py, write per spatial axis Sd = (S-1)*lhs_dilation + 1 (the dilated
input), Kd = (K-1)*rhs_dilation + 1 (the dilated window), Od = (O-1)*stride + 1 and
(lo, hi) the forward padding.

- Input gradient: the output gradient g, dilated by the forward strides, convolved with
  the spatially reversed filter with its channels swapped ([*K, Co, Ci]):
  `conv(g, rev(w)^T, strides=lhs_dilation, lhs_dilation=strides, rhs_dilation=
  rhs_dilation, padding=(Kd-1-lo, Sd+Kd-1-Od-(Kd-1-lo)))`. The padding makes the result
  exactly [N, *S, Ci]: it may be negative (the forward padding exceeded the window) and
  its high side absorbs the positions a stride that does not divide evenly never read
  (their gradient is zero). The forward lhs_dilation becomes the stride, so the gradient
  of a transposed convolution is a strided conv.
- Filter gradient: the batch becomes the contracted channel: x as [Ci, *S, N] convolved
  with g as a filter [*O, N, Co] dilated by the forward strides,
  `conv(x^T, g^T, strides=rhs_dilation, lhs_dilation=lhs_dilation, rhs_dilation=strides,
  padding=(lo, Od-Sd+Kd-1-lo))`, which is exactly [Ci, *K, Co], transposed back to
  [*K, Ci, Co]. A symbolic batch is the contracted extent of that conv (the row allows it).

These are the transposes JAX's `conv_general_dilated` uses (`_conv_general_vjp_lhs_padding`
and `_conv_general_vjp_rhs_padding`), written for the one channels-last layout of the row.
The two builders live a floor down, in compiler/frontend/conv_ops.py, because
`tf.nn.conv2d_transpose` and `tf.nn.conv2d_backprop_*` are the same convs.
"""

from __future__ import annotations

from ..frontend.conv_ops import conv_filter_gradient, conv_input_gradient
from .helpers import shape_of


def conv(op, g):
    x, w = op.inputs
    return [conv_input_gradient(g, w, shape_of(x), op.attrs),
            conv_filter_gradient(x, g, shape_of(w), op.attrs)]
