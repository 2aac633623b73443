"""The window arithmetic the ONNX convolutions and pools share: ONNX's `auto_pad` /
`pads` / `kernel_shape` / `strides` / `dilations` / `ceil_mode` attributes -> the (lo, hi)
padding per spatial axis of flowc's channels-last `conv` and `patches` primitives, and the
layout moves between ONNX's NC... tensors and those primitives.

- `pads` lists the begins of every spatial axis, then the ends (ONNX order).
- `auto_pad` SAME_UPPER / SAME_LOWER: total = max((ceil(S / s) - 1) * s + (K - 1) * d + 1
  - S, 0), the odd element at the end (UPPER) or at the beginning (LOWER); VALID: none.
- `ceil_mode`: the output extent is rounded up, with the rule that the last window starts
  inside the input or its begin padding; the extra elements become end padding.
"""

from __future__ import annotations

import math

from ...frontend.core import make


def channels_last(x):
    """[N, C, *S] -> [N, *S, C] (a movement op that fuses into its consumer's loads)."""
    r = x.shape.ndims
    return make("transpose", [x], perm=(0,) + tuple(range(2, r)) + (1,))


def channels_first(y):
    """[N, *S, C] -> [N, C, *S]."""
    r = y.shape.ndims
    return make("transpose", [y], perm=(0, r - 1) + tuple(range(1, r - 1)))


def spatial_dims(cx, x, what="input X"):
    """The spatial extents of an NC... input, which must be known at import."""
    shape = x.shape.as_list() if x.shape.ndims is not None else None
    if shape is None or len(shape) < 3:
        raise cx.unsupported(f"{what} must have a known rank >= 3 ([N, C, spatial...]), got "
                             f"shape {shape}")
    if not all(isinstance(d, int) for d in shape[2:]):
        raise cx.unsupported(f"the spatial extents of {what} {shape} must be known when "
                             f"the model is imported")
    return shape[2:]


def ints_attr(cx, name, nsp, default):
    vals = cx.attr(name)
    if vals is None:
        return (default,) * nsp
    vals = tuple(int(v) for v in vals)
    if len(vals) != nsp:
        raise cx.unsupported(f"attribute {name}={list(vals)} must have {nsp} entries (one "
                             f"per spatial axis)")
    return vals


def kernel_attr(cx, nsp, w=None):
    k = cx.attr("kernel_shape")
    if k is None:
        if w is None:
            raise cx.unsupported("attribute kernel_shape is required")
        ws = w.shape.as_list()
        if not all(isinstance(d, int) for d in ws[2:]):
            raise cx.unsupported(f"the filter's spatial extents {ws} must be known")
        return tuple(ws[2:])
    return ints_attr(cx, "kernel_shape", nsp, 1)


def same_pads(size, k, s, d, lower):
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


def window_pads(cx, spatial, kernel, strides, dilations, ceil=False):
    """((lo, hi) per spatial axis) from auto_pad / pads (and ceil_mode)."""
    nsp = len(spatial)
    auto = cx.attr("auto_pad", "NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [same_pads(spatial[i], kernel[i], strides[i], dilations[i],
                          auto == "SAME_LOWER") for i in range(nsp)]
    elif auto == "VALID":
        pads = [(0, 0)] * nsp
    elif auto == "NOTSET":
        flat = ints_attr(cx, "pads", 2 * nsp, 0)
        pads = [(flat[i], flat[nsp + i]) for i in range(nsp)]
        if any(p < 0 for p in flat):
            raise cx.unsupported(f"negative pads {list(flat)}")
    else:
        raise cx.unsupported(f"auto_pad={auto!r} (SAME_UPPER, SAME_LOWER, VALID or NOTSET)")
    if ceil:
        out = []
        for i in range(nsp):
            lo, hi = pads[i]
            ke = (kernel[i] - 1) * dilations[i] + 1
            n = -(-(spatial[i] + lo + hi - ke) // strides[i]) + 1
            if (n - 1) * strides[i] >= spatial[i] + lo:
                n -= 1
            extra = max((n - 1) * strides[i] + ke - (spatial[i] + lo + hi), 0)
            out.append((lo, hi + extra))
        pads = out
    for i in range(nsp):
        ke = (kernel[i] - 1) * dilations[i] + 1
        if spatial[i] + sum(pads[i]) < ke:
            raise cx.unsupported(f"the window {list(kernel)} (dilations {list(dilations)}) "
                                 f"does not fit the input's spatial extents {list(spatial)} "
                                 f"with pads {pads}")
    return [tuple(p) for p in pads]
