"""TF's window arguments, one set of rules for every windowed op (the convolutions of
compiler/frontend/conv_ops.py and conv_layers.py, pooling, depthwise convolutions, patch
extraction), so that each reads "SAME", strides and data formats the same way. `first`
below is True for a channels-first (NCHW-like) user format:

- `channels_first(data_format, nsp, op)`: False for None and the channels-last name
  (NWC / NHWC / NDHWC), True for NCW / NCHW / NCDHW (`FORMATS[nsp]`), else an error.
- `sequence(value, nsp, first, what, op)`: TF's `_get_sequence`: ksize / strides /
  dilations as an int or a list of 1, nsp or nsp + 2 ints (batch and channel entries 1)
  -> nsp positive ints.
- `padding_pairs(padding, spatial, window, strides, dilations, first, op)`: "SAME",
  "VALID" (any case too with `any_case=True`, as tf.layers and the window ops spell them)
  or TF 1.15's explicit [[0, 0], [lo, hi], ..., [0, 0]] -> one (lo, hi) per spatial axis.
  SAME is TF's asymmetric rule (`same_padding`): total = max((ceil(S / s) - 1) * s +
  (K - 1) * d + 1 - S, 0), lo = total // 2, hi = total - lo (the extra row goes after).
- `to_channels_last` / `from_channels_last`: the transposes around a channels-first
  input (the identity for a channels-last one).
- `error(cls, op, msg)`: `cls("OP at FILE:LINE: msg")`, the windowed ops' errors.

Nothing here builds a graph but the transposes.
"""

from __future__ import annotations

import math

import numpy as np

from .core import make
from .graph import user_location
from .static import is_int_like

# spatial dims -> (the channels-last name, the channels-first name)
FORMATS = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}


def error(cls, op, msg):
    """`cls("OP at FILE:LINE: msg")`: an error naming the op and the user's line."""
    return cls(f"{op} at {user_location()}: {msg}")


def channels_first(data_format, nsp, op) -> bool:
    """True for "NCW"/"NCHW"/"NCDHW"; None or the channels-last name is False."""
    last, first = FORMATS[nsp]
    if data_format is None or data_format == last:
        return False
    if data_format == first:
        return True
    raise error(ValueError, op, f"data_format must be {last!r} or {first!r}, got "
                                f"{data_format!r}")


def sequence(value, nsp, first, what, op):
    """TF's `_get_sequence`: an int or 1, nsp or nsp + 2 ints -> nsp positive ints."""
    if value is None:
        raise error(TypeError, op, f"{what} is required")
    if is_int_like(value):
        vals = [int(value)]
    elif isinstance(value, (list, tuple, np.ndarray)):
        vals = [int(v) for v in value]
    else:
        vals = []
    if len(vals) == nsp + 2:
        outer = (vals[0], vals[1]) if first else (vals[0], vals[-1])
        if outer != (1, 1):
            raise error(ValueError, op, f"{what} {list(value)} must be 1 in the batch "
                                        f"and channel dimensions")
        vals = vals[2:] if first else vals[1:-1]
    elif len(vals) == 1:
        vals = vals * nsp
    elif len(vals) != nsp:
        raise error(ValueError, op, f"{what} must be an int or a list of 1, {nsp} or "
                                    f"{nsp + 2} ints, got {value!r}")
    if any(v < 1 for v in vals):
        raise error(ValueError, op, f"{what} must be positive, got {value!r}")
    return tuple(vals)


def same_padding(size, k, stride, dilation):
    """TF's SAME padding of one spatial axis as (lo, hi): the extra element goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return (total // 2, total - total // 2)


def padding_pairs(padding, spatial, window, strides, dilations, first, op, any_case=False):
    """"SAME", "VALID" or TF 1.15's explicit [[0, 0], [lo, hi], ..., [0, 0]] -> one
    (lo, hi) per spatial axis. With `any_case`, "same" / "valid" in any case too."""
    if any_case and isinstance(padding, str):
        padding = padding.upper()
    spatial = list(spatial)
    nsp = len(spatial)
    if padding == "VALID":
        return ((0, 0),) * nsp
    if padding == "SAME":
        return tuple(same_padding(spatial[i], window[i], strides[i], dilations[i])
                     for i in range(nsp))
    if isinstance(padding, (list, tuple)) and len(padding) == nsp + 2 and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in padding):
        pairs = [(int(lo), int(hi)) for lo, hi in padding]
        outer = (pairs[0], pairs[1]) if first else (pairs[0], pairs[-1])
        inner = pairs[2:] if first else pairs[1:-1]
        if outer != ((0, 0), (0, 0)) or any(v < 0 for p in inner for v in p):
            raise error(ValueError, op, f"explicit padding {padding!r} must be "
                                        f"non-negative and (0, 0) on the batch and "
                                        f"channel dimensions")
        return tuple(inner)
    raise error(ValueError, op, f"padding must be 'SAME', 'VALID' or a list of "
                                f"{nsp + 2} (lo, hi) pairs, got {padding!r}")


def to_channels_last(x, first):
    """x itself when not `first`, else x [N, C, *S] transposed to [N, *S, C]."""
    if not first:
        return x
    r = x.shape.ndims
    return make("transpose", [x], perm=(0,) + tuple(range(2, r)) + (1,))


def from_channels_last(y, first, name=None):
    """y itself when not `first`, else y [N, *S, C] transposed back to [N, C, *S] (named
    `name`)."""
    if not first:
        return y
    r = y.shape.ndims
    return make("transpose", [y], name=name, perm=(0, r - 1) + tuple(range(1, r - 1)))
