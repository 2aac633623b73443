"""The window primitives: `patches` (every window of an input, as index arithmetic) and
its adjoint `fold` (window elements summed back onto the input positions they came from).

`patches(x)`: x [N, *S, C] (1 to 3 spatial axes S) -> [N, *O, *K, C] with, per spatial
axis,

    out[n, o, k, c] = xp[n, o * stride + k * rhs_dilation, c]

where xp is x padded by `padding` ((lo, hi) >= 0 per spatial axis) with the constant
`value` (-inf for max pooling, 0 otherwise) and O = conv_out_size(S, K, stride, padding,
1, rhs_dilation) (compiler/ops/conv.py). Attrs: `window` (K), `strides`, `padding`,
`rhs_dilation`, `value`. A movement row: lowering computes an element by index arithmetic
on loads of x (a branch per element for the padding, as `pad`), so a pooling or depthwise
reduction over the window axes is one reduce kernel reading x directly.

`fold(y)`: y [N, *O, *K, C] -> [N, *S, C] with attr `shape` = S and the window attrs of
`patches` (no value): out[n, p, c] = sum of y[n, o, k, c] over the (o, k) with
o * stride + k * rhs_dilation - lo = p (window elements that fall on the padding are
dropped). It is the transpose of the linear map `patches` with value 0, so the gradient
of one is the other. A kernel of its own: output-stationary (each input position loops
over the window offsets k, finds the o that reaches it, and adds y there), with no
atomics and no scatter; the sum runs in the order of k (row-major), as the reference.

The spatial extents must be known when the graph is built; N and C may be symbolic.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from ..ir.types import TensorType
from . import numerics
from .conv import conv_out_size
from .movement import pad_value
from .table import OpDef, register

WINDOW_ATTRS = {"window": "ints", "strides": "ints", "padding": "pairs",
                "rhs_dilation": "ints"}


def window_out_sizes(spatial, attrs):
    """O per spatial axis for the window attrs (entries < 1 when the window does not fit)."""
    return [conv_out_size(s, k, st, pad, 1, d) for s, k, st, pad, d in
            zip(spatial, attrs["window"], attrs["strides"], attrs["padding"],
                attrs["rhs_dilation"])]


def _check_attrs(op, nsp, attrs):
    for key in ("window", "strides", "rhs_dilation"):
        vals = attrs[key]
        if len(vals) != nsp or any(v < 1 for v in vals):
            raise ValueError(f"{op}: {key} must be {nsp} positive ints (one per spatial "
                             f"axis), got {list(vals)}")
    pads = attrs["padding"]
    if len(pads) != nsp or any(lo < 0 or hi < 0 for lo, hi in pads):
        raise ValueError(f"{op}: padding must be {nsp} (lo, hi) pairs >= 0, got "
                         f"{[tuple(p) for p in pads]}")


def _spatial(op, shape, nsp, what):
    dims = list(shape[1:1 + nsp])
    if not all(isinstance(d, int) for d in dims):
        raise D.ShapeError(f"{op}: the spatial extents of the {what} {list(shape)} must be "
                           f"known when the graph is built")
    return dims


def _out_sizes(op, spatial, attrs, shape):
    out = window_out_sizes(spatial, attrs)
    for i, o in enumerate(out):
        if o < 1:
            raise D.ShapeError(
                f"{op}: spatial axis {i} of input {list(shape)} (padding "
                f"{tuple(attrs['padding'][i])}) is smaller than the window "
                f"{attrs['window'][i]} (dilation {attrs['rhs_dilation'][i]})")
    return out


def _patches_infer(in_types, attrs, ctx):
    (x,) = in_types
    nsp = len(attrs["window"])
    if x.shape is None:
        return TensorType(x.dtype, None)
    if not 1 <= len(x.shape) - 2 <= 3 or len(x.shape) - 2 != nsp:
        raise D.ShapeError(f"patches: needs an input [N, *spatial, C] with {nsp} spatial "
                           f"axes (the window {list(attrs['window'])}), got {list(x.shape)}")
    _check_attrs("patches", nsp, attrs)
    spatial = _spatial("patches", x.shape, nsp, "input")
    out = _out_sizes("patches", spatial, attrs, x.shape)
    return TensorType(x.dtype, (x.shape[0], *out, *attrs["window"], x.shape[-1]))


def _window_slices(spatial_out, attrs, k):
    """Per spatial axis, the slice of the padded input that window offset k reads."""
    return tuple(slice(k[i] * attrs["rhs_dilation"][i],
                       k[i] * attrs["rhs_dilation"][i] + (o - 1) * attrs["strides"][i] + 1,
                       attrs["strides"][i]) for i, o in enumerate(spatial_out))


def _patches_ref(x, window, strides, padding, rhs_dilation, value):
    attrs = {"window": window, "strides": strides, "padding": padding,
             "rhs_dilation": rhs_dilation}
    nsp = len(window)
    pads = [(0, 0)] + [tuple(p) for p in padding] + [(0, 0)]
    xp = np.pad(x, pads, constant_values=pad_value(value, x.dtype))
    out_sp = window_out_sizes(x.shape[1:1 + nsp], attrs)
    out = np.empty((x.shape[0], *out_sp, *window, x.shape[-1]), x.dtype)
    for k in np.ndindex(*window):
        out[(slice(None),) * (1 + nsp) + k] = xp[(slice(None),) +
                                                 _window_slices(out_sp, attrs, k)]
    return out


register(OpDef("patches", 1, {**WINDOW_ATTRS, "value": "float"}, _patches_infer,
               _patches_ref, "movement", branching_index=True))


def _fold_infer(in_types, attrs, ctx):
    (y,) = in_types
    nsp = len(attrs["window"])
    if y.dtype.name == "bool":
        raise TypeError("fold: sums window elements, got a bool input")
    if len(attrs["shape"]) != nsp:
        raise ValueError(f"fold: shape {list(attrs['shape'])} must have one extent per "
                         f"spatial axis of the window {list(attrs['window'])}")
    if y.shape is None:
        return TensorType(y.dtype, None)
    if not 1 <= nsp <= 3 or len(y.shape) != 2 * nsp + 2:
        raise D.ShapeError(f"fold: needs an input [N, *out, *window, C] with {nsp} spatial "
                           f"axes, got {list(y.shape)}")
    _check_attrs("fold", nsp, attrs)
    spatial = list(attrs["shape"])
    if any(s < 1 for s in spatial):
        raise ValueError(f"fold: shape must be positive extents, got {spatial}")
    out = _out_sizes("fold", spatial, attrs, ["N", *spatial, "C"])
    got = list(y.shape[1:1 + 2 * nsp])
    if got != out + list(attrs["window"]):
        raise D.ShapeError(f"fold: an input of shape {list(y.shape)} does not hold the "
                           f"windows {out + list(attrs['window'])} of spatial shape {spatial}")
    return TensorType(y.dtype, (y.shape[0], *spatial, y.shape[-1]))


def _fold_ref(y, shape, window, strides, padding, rhs_dilation):
    attrs = {"window": window, "strides": strides, "padding": padding,
             "rhs_dilation": rhs_dilation}
    nsp = len(window)
    padded = [s + lo + hi for s, (lo, hi) in zip(shape, padding)]
    out_sp = y.shape[1:1 + nsp]
    acc = np.zeros((y.shape[0], *padded, y.shape[-1]), y.dtype)
    with np.errstate(all="ignore"):
        for k in np.ndindex(*window):
            acc[(slice(None),) + _window_slices(out_sp, attrs, k)] += \
                y[(slice(None),) * (1 + nsp) + k]
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(shape, padding))
    return np.ascontiguousarray(acc[(slice(None),) + crop])


register(OpDef("fold", 1, {**WINDOW_ATTRS, "shape": "ints"}, _fold_infer,
               numerics.in_compute_dtype(_fold_ref), "opaque"))
