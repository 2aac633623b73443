"""The convolution primitive: `conv`, channels-last, with strides, padding and dilations.

`conv(x, w)`: x is [N, *S, Ci] (1 to 3 spatial dims S), w is [*K, Ci, Co] (TF's HWIO),
the result [N, *O, Co] with, per spatial axis,

    out[n, o, co] = sum over k, ci of  xe[n, o * stride + k * rhs_dilation, ci] * w[k, ci, co]

where xe is x dilated by `lhs_dilation` (lhs_dilation - 1 zeros between neighbours) and
then padded by `padding` = ((lo, hi), ...) zeros per spatial axis (a negative pad crops),
so O = (Se - Ke) // stride + 1 with Se = (S - 1) * lhs_dilation + 1 + lo + hi and
Ke = (K - 1) * rhs_dilation + 1 (XLA's conv_general_dilated with one fixed layout and no
feature groups). lhs_dilation is what a transposed convolution and the input gradient of a
strided one need; the filter gradient is a conv of transposed operands, so the gradients
of a conv are convs (compiler/autodiff). TF's SAME/VALID padding, NCHW and depthwise
convolutions are the frontend's (transposes and composites around this row).

Spatial extents, the window and the output channels must be known when the graph is
built; the batch and the contracted channel extent (x's C, unified with w's Ci) may be
symbolic dims: the filter gradient is a conv whose contracted extent is the batch.
Inside the sum, FMA and reassociation are allowed (DESIGN.md's numerics, as for
matmul); the numpy reference sums in the order of the offsets k.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from ..ir.types import TensorType
from . import numerics
from .table import OpDef, register

CONV_ATTRS = {"strides": "ints", "padding": "pairs", "lhs_dilation": "ints",
              "rhs_dilation": "ints"}


def conv_out_size(size, k, stride, pad, lhs_dilation, rhs_dilation):
    """The output extent of one spatial axis (see the module docstring); may be < 1."""
    se = (size - 1) * lhs_dilation + 1 + pad[0] + pad[1]
    ke = (k - 1) * rhs_dilation + 1
    return (se - ke) // stride + 1 if se >= ke else 0


def _static(dims, what, shape):
    if not all(isinstance(d, int) for d in dims):
        raise D.ShapeError(f"conv: the {what} extents of {list(shape)} must be known when "
                           f"the graph is built")
    return list(dims)


def _check_attrs(nsp, attrs):
    for key in ("strides", "lhs_dilation", "rhs_dilation"):
        vals = attrs[key]
        if len(vals) != nsp or any(v < 1 for v in vals):
            raise ValueError(f"conv: {key} must be {nsp} positive ints (one per spatial "
                             f"axis), got {list(vals)}")
    if len(attrs["padding"]) != nsp:
        raise ValueError(f"conv: padding must have {nsp} (lo, hi) pairs, got "
                         f"{list(attrs['padding'])}")


def _conv_infer(in_types, attrs, ctx):
    x, w = in_types
    if x.dtype is not w.dtype:
        raise TypeError(f"conv: input and filter have different dtypes {x.dtype.name} and "
                        f"{w.dtype.name}")
    if not x.dtype.is_float:
        raise TypeError(f"conv: needs a float input, got {x.dtype.name}")
    if x.shape is None or w.shape is None:
        return TensorType(x.dtype, None)
    nsp = len(x.shape) - 2
    if not 1 <= nsp <= 3 or len(w.shape) != nsp + 2:
        raise D.ShapeError(f"conv: needs an input [N, *spatial, C] with 1 to 3 spatial axes "
                           f"and a filter [*window, C, C_out] of the same rank, got "
                           f"{list(x.shape)} and {list(w.shape)}")
    _check_attrs(nsp, attrs)
    spatial = _static(x.shape[1:-1], "spatial", x.shape)
    window = _static(list(w.shape[:-2]) + [w.shape[-1]], "window and output channel",
                     w.shape)
    ci, wi = x.shape[-1], w.shape[-2]
    if isinstance(ci, int) and isinstance(wi, int) and ci != wi:
        raise D.ShapeError(f"conv: the input has {ci} channels but the filter "
                           f"{list(w.shape)} expects {wi}")
    ctx.unify(ci, wi)
    out = []
    for i in range(nsp):
        o = conv_out_size(spatial[i], window[i], attrs["strides"][i], attrs["padding"][i],
                          attrs["lhs_dilation"][i], attrs["rhs_dilation"][i])
        if o < 1:
            raise D.ShapeError(
                f"conv: spatial axis {i} of input {list(x.shape)} (padding "
                f"{tuple(attrs['padding'][i])}) is smaller than the window "
                f"{window[i]} (dilation {attrs['rhs_dilation'][i]})")
        out.append(o)
    return TensorType(x.dtype, (x.shape[0], *out, window[-1]))


def _dilate_pad(x, lhs_dilation, padding):
    """x [N, *S, C] dilated by lhs_dilation and padded/cropped by padding (spatial axes)."""
    shape = [x.shape[0]] + [(s - 1) * d + 1 for s, d in zip(x.shape[1:-1], lhs_dilation)]
    xd = np.zeros(shape + [x.shape[-1]], x.dtype)
    xd[(slice(None),) + tuple(slice(None, None, d) for d in lhs_dilation)] = x
    pads = [(0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in padding] + [(0, 0)]
    xd = np.pad(xd, pads)
    crop = tuple(slice(max(-lo, 0), xd.shape[i + 1] - max(-hi, 0))
                 for i, (lo, hi) in enumerate(padding))
    return xd[(slice(None),) + crop + (slice(None),)]


def _conv_ref(x, w, strides, padding, lhs_dilation, rhs_dilation):
    xe = _dilate_pad(x, lhs_dilation, padding)
    window = w.shape[:-2]
    out_sp = [conv_out_size(x.shape[1 + i], window[i], strides[i], padding[i],
                            lhs_dilation[i], rhs_dilation[i]) for i in range(len(window))]
    out = np.zeros([x.shape[0], *out_sp, w.shape[-1]], x.dtype)
    with np.errstate(all="ignore"):
        for k in np.ndindex(*window):
            sl = tuple(slice(k[i] * rhs_dilation[i],
                             k[i] * rhs_dilation[i] + (out_sp[i] - 1) * strides[i] + 1,
                             strides[i]) for i in range(len(window)))
            out += np.tensordot(xe[(slice(None),) + sl], w[k], axes=([-1], [0]))
    return out


register(OpDef("conv", 2, CONV_ATTRS, _conv_infer, numerics.in_compute_dtype(_conv_ref),
               "contraction"))
