"""TF's window arguments, resolved once for every windowed op (pooling, depthwise and
patch extraction; convolutions may share it).

- `window_padding(padding, spatial, window, strides, dilations, op)`: "SAME" / "VALID"
  (any case, as tf.layers spells them) -> ((lo, hi), ...) per spatial axis. SAME is TF's
  asymmetric padding: total = max((ceil(S / s) - 1) * s + (K - 1) * d + 1 - S, 0),
  lo = total // 2, hi = total - lo, so the output has ceil(S / s) positions.
- `spatial_list(value, nsp, data_format, what, op)`: ksize / strides / dilations given
  as an int, `nsp` ints, or one per axis of the data format (batch and channel entries
  must be 1) -> `nsp` ints.
- `channels_last(data_format, nsp, op)`: whether the format is NHWC-like (the default)
  or NCHW-like, checking it names `nsp` spatial axes; `to_channels_last` /
  `from_channels_last` transpose between the two.

Errors are ValueErrors naming the op and the argument. Nothing here builds a graph but
the transposes.
"""

from __future__ import annotations

from .core import make

_FORMATS = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}


def window_padding(padding, spatial, window, strides, dilations, op):
    """((lo, hi), ...) for TF's "SAME" / "VALID" over static spatial extents."""
    mode = padding.upper() if isinstance(padding, str) else padding
    if mode not in ("SAME", "VALID"):
        raise ValueError(f"{op}: padding must be \"SAME\" or \"VALID\", got {padding!r}")
    if mode == "VALID":
        return tuple((0, 0) for _ in spatial)
    pads = []
    for s, k, st, d in zip(spatial, window, strides, dilations):
        total = max((-(-s // st) - 1) * st + (k - 1) * d + 1 - s, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def channels_last(data_format, nsp, op) -> bool:
    """True for NHWC-like formats (or None), False for NCHW-like ones."""
    if data_format is None:
        return True
    last, first = _FORMATS[nsp]
    if data_format in (last, "channels_last"):
        return True
    if data_format in (first, "channels_first"):
        return False
    raise ValueError(f"{op}: data_format must be {last!r} or {first!r}, got {data_format!r}")


def spatial_list(value, nsp, data_format, what, op):
    """`nsp` positive ints from an int, a list of `nsp` or of `nsp + 2` (with 1 for the
    batch and channel entries, placed by `data_format`)."""
    vals = [value] if isinstance(value, int) else list(value)
    if not all(isinstance(v, int) for v in vals):
        raise ValueError(f"{op}: {what} must be ints, got {value!r}")
    if len(vals) == 1:
        vals = vals * nsp
    elif len(vals) == nsp + 2:
        if channels_last(data_format, nsp, op):
            outer, vals = (vals[0], vals[-1]), vals[1:-1]
        else:
            outer, vals = (vals[0], vals[1]), vals[2:]
        if outer != (1, 1):
            raise ValueError(f"{op}: {what} {list(value)} must be 1 on the batch and "
                             f"channel axes (pooling over them is not supported)")
    elif len(vals) != nsp:
        raise ValueError(f"{op}: {what} must be an int or a list of 1, {nsp} or {nsp + 2} "
                         f"ints, got {list(value)}")
    if any(v < 1 for v in vals):
        raise ValueError(f"{op}: {what} must be positive, got {list(value)}")
    return tuple(vals)


def to_channels_last(x, last, nsp):
    """x itself in NHWC-like layout; an NCHW-like x transposed to it."""
    if last:
        return x
    return make("transpose", [x], perm=(0, *range(2, nsp + 2), 1))


def from_channels_last(y, last, nsp, name=None):
    """The inverse of `to_channels_last` (a transpose back, named `name`, for NCHW-like
    formats; y itself otherwise)."""
    if last:
        return y
    return make("transpose", [y], perm=(0, nsp + 1, *range(1, nsp + 1)), name=name)
