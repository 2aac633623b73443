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
"""

from __future__ import annotations

from ..frontend.core import make
from .helpers import shape_of


def _dilated(n, d):
    return (n - 1) * d + 1


def conv(op, g):
    x, w = op.inputs
    return [input_gradient(g, w, shape_of(x), op.attrs),
            filter_gradient(x, g, shape_of(w), op.attrs)]


def input_gradient(g, w, x_shape, attrs):
    """The gradient of conv(x, w, **attrs) with respect to x [N, *S, Ci], given the
    output gradient g: a conv of g with the reversed, channel-swapped filter."""
    wshape = shape_of(w)
    nsp = len(wshape) - 2
    window = wshape[:nsp]
    rev = make("slice", [w], begin=tuple(k - 1 for k in window) + (0, 0), size=wshape,
               stride=(-1,) * nsp + (1, 1))
    swapped = make("transpose", [rev], perm=tuple(range(nsp)) + (nsp + 1, nsp))
    pads = []
    for i in range(nsp):
        sd = _dilated(x_shape[1 + i], attrs["lhs_dilation"][i])
        kd = _dilated(window[i], attrs["rhs_dilation"][i])
        od = _dilated(shape_of(g)[1 + i], attrs["strides"][i])
        before = kd - 1 - attrs["padding"][i][0]
        pads.append((before, sd + kd - 1 - od - before))
    return make("conv", [g, swapped], strides=tuple(attrs["lhs_dilation"]),
                padding=tuple(pads), lhs_dilation=tuple(attrs["strides"]),
                rhs_dilation=tuple(attrs["rhs_dilation"]))


def filter_gradient(x, g, w_shape, attrs):
    """The gradient of conv(x, w, **attrs) with respect to w [*K, Ci, Co], given the
    output gradient g: a conv of x^T [Ci, *S, N] with g^T [*O, N, Co] as its filter."""
    nsp = len(w_shape) - 2
    spatial = tuple(range(1, nsp + 1))
    xt = make("transpose", [x], perm=(nsp + 1,) + spatial + (0,))
    gt = make("transpose", [g], perm=spatial + (0, nsp + 1))
    pads = []
    for i in range(nsp):
        sd = _dilated(shape_of(x)[1 + i], attrs["lhs_dilation"][i])
        kd = _dilated(w_shape[i], attrs["rhs_dilation"][i])
        od = _dilated(shape_of(g)[1 + i], attrs["strides"][i])
        lo = attrs["padding"][i][0]
        pads.append((lo, od - sd + kd - 1 - lo))
    out = make("conv", [xt, gt], strides=tuple(attrs["rhs_dilation"]), padding=tuple(pads),
               lhs_dilation=tuple(attrs["lhs_dilation"]), rhs_dilation=tuple(attrs["strides"]))
    return make("transpose", [out], perm=spatial + (0, nsp + 1))
