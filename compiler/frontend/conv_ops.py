"""TF1's convolutions (`fc.nn.conv2d`, `conv1d`, `conv3d`, `convolution`, `atrous_conv2d`,
`atrous_conv2d_transpose`, `conv2d_transpose`, `conv3d_transpose`, `conv2d_backprop_input`,
`conv2d_backprop_filter`) as the one `conv` primitive (compiler/ops/conv.py) plus
movement ops.

The primitive is channels-last: x [N, *S, C], filter [*K, C, C_out], with explicit
(lo, hi) padding per spatial axis. Here TF's spellings become its attrs, by the rules
of compiler/frontend/padding.py that every windowed op shares:

- `padding="VALID"` is no padding; `"SAME"` is TF's asymmetric rule per spatial axis,
  total = max((ceil(S/s) - 1) * s + (K-1)*d + 1 - S, 0), lo = total // 2, hi = total - lo
  (the extra row goes after); an explicit list of (lo, hi) pairs, one per input dim with
  (0, 0) on the batch and channel dims (TF 1.15's explicit padding), is used as given.
- `strides` / `dilations`: an int, or a list of 1, n or n + 2 ints (n spatial dims) whose
  batch and channel entries are 1 (TF's `_get_sequence`).
- `data_format` "NC..." (NCHW, NCW, NCDHW) transposes the input to channels-last and the
  result back; the transposes are movement ops that fuse into the conv's loads/stores.
- The transposed convolutions and the backprops are the gradient convs of
  `conv_input_gradient` / `conv_filter_gradient` below (also the gradient rule's, in
  compiler/autodiff/conv_rules.py): a conv of the output gradient with the reversed,
  channel-swapped filter with lhs_dilation = strides; a conv of transposed operands.

Spatial extents, windows and channel counts must be known when the graph is built (the
batch may be None). Errors name the op, the user's file:line and the culprit tensors
with their shapes. Nothing here runs a graph.
"""

from __future__ import annotations

from ..ops.conv import conv_out_size
from .core import _is_tensor_like, convert_to_tensor, known_shape, make, op_scope
from .padding import (
    FORMATS,
    channels_first,
    error,
    from_channels_last,
    padding_pairs,
    sequence,
    to_channels_last,
)
from .static import is_int_like, static_dims


def _shape(t):
    """The shape as the user wrote it: None for an unknown (symbolic) extent."""
    return t.shape.as_list()


def _dims(dims):
    return [d if is_int_like(d) else None for d in dims]


# the transposes of conv (its gradients) --------------------------------------------------
def _dilated(n, d):
    return (n - 1) * d + 1


def conv_input_gradient(g, w, x_shape, attrs, name=None):
    """The gradient of `conv(x, w, **attrs)` with respect to x of shape `x_shape`
    [N, *S, Ci] given the output gradient g [N, *O, Co]: g convolved with the spatially
    reversed, channel-swapped filter, lhs_dilation = the forward strides, strides = the
    forward lhs_dilation, padding chosen so the result is exactly [N, *S, Ci]."""
    wshape = tuple(w.shape)
    nsp = len(wshape) - 2
    window = wshape[:nsp]
    rev = make("slice", [w], begin=tuple(k - 1 for k in window) + (0, 0), size=wshape,
               stride=(-1,) * nsp + (1, 1))
    swapped = make("transpose", [rev], perm=tuple(range(nsp)) + (nsp + 1, nsp))
    pads = []
    for i in range(nsp):
        sd = _dilated(x_shape[1 + i], attrs["lhs_dilation"][i])
        kd = _dilated(window[i], attrs["rhs_dilation"][i])
        od = _dilated(g.shape[1 + i], attrs["strides"][i])
        before = kd - 1 - attrs["padding"][i][0]
        pads.append((before, sd + kd - 1 - od - before))
    return make("conv", [g, swapped], name=name, strides=tuple(attrs["lhs_dilation"]),
                padding=tuple(pads), lhs_dilation=tuple(attrs["strides"]),
                rhs_dilation=tuple(attrs["rhs_dilation"]))


def conv_filter_gradient(x, g, w_shape, attrs, name=None):
    """The gradient of `conv(x, w, **attrs)` with respect to w of shape `w_shape`
    [*K, Ci, Co] given the output gradient g: x^T [Ci, *S, N] convolved with g^T
    [*O, N, Co] (the batch is the contracted channel), rhs_dilation = the forward
    strides, strides = the forward rhs_dilation, padding chosen so the result is exactly
    [Ci, *K, Co]; transposed back to [*K, Ci, Co]."""
    nsp = len(w_shape) - 2
    spatial = tuple(range(1, nsp + 1))
    xt = make("transpose", [x], perm=(nsp + 1,) + spatial + (0,))
    gt = make("transpose", [g], perm=spatial + (0, nsp + 1))
    pads = []
    for i in range(nsp):
        sd = _dilated(x.shape[1 + i], attrs["lhs_dilation"][i])
        kd = _dilated(w_shape[i], attrs["rhs_dilation"][i])
        od = _dilated(g.shape[1 + i], attrs["strides"][i])
        lo = attrs["padding"][i][0]
        pads.append((lo, od - sd + kd - 1 - lo))
    out = make("conv", [xt, gt], strides=tuple(attrs["rhs_dilation"]), padding=tuple(pads),
               lhs_dilation=tuple(attrs["lhs_dilation"]), rhs_dilation=tuple(attrs["strides"]))
    return make("transpose", [out], name=name, perm=spatial + (0, nsp + 1))


def _operands(x, w, nsp, opname, what=("input", "filter")):
    """Tensors of rank nsp + 2 with the same float dtype (a non-tensor filter takes the
    input's dtype)."""
    x = convert_to_tensor(x)
    w = convert_to_tensor(w) if _is_tensor_like(w) else convert_to_tensor(w, x.dtype)
    for t, role in zip((x, w), what):
        shape = known_shape(t, opname)
        if len(shape) != nsp + 2:
            raise error(ValueError, opname, f"the {role} {t.name!r} must be {nsp + 2}-D, got "
                                            f"shape {_shape(t)}")
    if x.dtype is not w.dtype or not x.dtype.is_float:
        raise error(TypeError, opname, f"the {what[0]} {x.name!r} ({x.dtype.name}) and the "
                                       f"{what[1]} {w.name!r} ({w.dtype.name}) must have "
                                       f"the same float dtype")
    return x, w


def _static_dims(dims, t, role, opname):
    if not all(isinstance(d, int) for d in dims):
        raise error(ValueError, opname, f"the {role} {t.name!r} {_shape(t)} must have "
                                        f"spatial and channel extents known when the graph "
                                        f"is built")
    return tuple(dims)


def _format_args(data_format, strides, dilations, nsp, opname):
    """(first, strides, dilations) of a tf.nn conv: whether the user's format is
    channels-first, and its strides and dilations (None: 1) as nsp ints."""
    first = channels_first(data_format, nsp, opname)
    strides = sequence(strides, nsp, first, "strides", opname)
    dilations = sequence(1 if dilations is None else dilations, nsp, first, "dilations",
                         opname)
    return first, strides, dilations


def _conv(x, w, nsp, strides, padding, dilations, data_format, name, opname):
    """The forward convolution every tf.nn conv shares: NC... transposed around it."""
    x, w = _operands(x, w, nsp, opname)
    first, strides, dilations = _format_args(data_format, strides, dilations, nsp, opname)
    with op_scope(name, opname, [x]) as scope:
        xl = to_channels_last(x, first)
        spatial = _static_dims(xl.shape[1:], x, "input", opname)
        window = _static_dims(w.shape, w, "filter", opname)
        if spatial[-1] != window[-2]:
            raise error(ValueError, opname, f"the input {x.name!r} {_shape(x)} has "
                                            f"{spatial[-1]} channels but the filter "
                                            f"{w.name!r} {_shape(w)} expects "
                                            f"{window[-2]}")
        for i in range(nsp):
            if _dilated(window[i], dilations[i]) > spatial[i] and padding == "VALID":
                raise error(ValueError, opname, f"the input {x.name!r} {_shape(x)} is "
                                                f"smaller than the filter {w.name!r} "
                                                f"{_shape(w)} (dilations "
                                                f"{list(dilations)}) with VALID padding")
        pads = padding_pairs(padding, spatial[:-1], window[:-2], strides, dilations, first,
                             opname)
        y = make("conv", [xl, w], name=None if first else scope, strides=strides,
                 padding=pads, lhs_dilation=(1,) * nsp, rhs_dilation=dilations)
        return from_channels_last(y, first, scope)


# tf.nn -----------------------------------------------------------------------------------
def conv2d(input=None, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,
           data_format="NHWC", dilations=(1, 1, 1, 1), name=None, filters=None):
    """TF1's `tf.nn.conv2d`: input [N, H, W, C] (or NCHW), filter [KH, KW, C, C_out]."""
    return _conv(input, _either(filter, filters, "conv2d"), 2, strides, padding, dilations,
                 data_format, name, "Conv2D")


def conv3d(input=None, filter=None, strides=None, padding=None, data_format="NDHWC",
           dilations=(1, 1, 1, 1, 1), name=None, filters=None):
    """TF1's `tf.nn.conv3d`: input [N, D, H, W, C] (or NCDHW), filter [KD, KH, KW, C,
    C_out]."""
    return _conv(input, _either(filter, filters, "conv3d"), 3, strides, padding, dilations,
                 data_format, name, "Conv3D")


def conv1d(value=None, filters=None, stride=None, padding=None, use_cudnn_on_gpu=None,
           data_format=None, name=None, input=None, dilations=None):
    """TF1's `tf.nn.conv1d`: value [N, W, C] ("NWC") or [N, C, W] ("NCW"; TF also spells
    them "NHWC"/"NCHW" here), filters [K, C, C_out], an int `stride`."""
    value = _either(value, input, "conv1d", ("value", "input"))
    fmt = {"NHWC": "NWC", "NCHW": "NCW"}.get(data_format, data_format)
    return _conv(value, filters, 1, stride, padding, dilations, fmt, name, "conv1d")


def convolution(input, filter=None, padding=None, strides=None, dilation_rate=None,
                name=None, data_format=None, filters=None, dilations=None):
    """TF1's `tf.nn.convolution`: N-D (N = rank - 2, 1 to 3) with spatial `strides` and
    `dilation_rate` (n ints or one int), padding "SAME"/"VALID"."""
    x = convert_to_tensor(input)
    nsp = len(known_shape(x, "convolution")) - 2
    if nsp not in FORMATS:
        raise error(ValueError, "convolution", f"the input {x.name!r} must have 1 to 3 "
                                               f"spatial dims, got shape {_shape(x)}")
    rate = dilation_rate if dilations is None else dilations
    return _conv(x, _either(filter, filters, "convolution"), nsp,
                 1 if strides is None else strides, padding, rate, data_format, name,
                 "convolution")


def atrous_conv2d(value, filters, rate, padding, name=None):
    """TF1's `tf.nn.atrous_conv2d`: a stride-1 NHWC conv2d with dilation `rate`."""
    if not is_int_like(rate) or rate < 1:
        raise error(ValueError, "atrous_conv2d", f"rate must be a positive int, got {rate!r}")
    return _conv(value, filters, 2, 1, padding, int(rate), "NHWC", name, "atrous_conv2d")


def _either(a, b, opname, names=("filter", "filters")):
    if a is not None and b is not None:
        raise error(ValueError, opname, f"give only one of {names[0]}= and {names[1]}=")
    if a is None and b is None:
        raise error(TypeError, opname, f"{names[0]} is required")
    return a if a is not None else b


# transposed convolutions and the backprops -----------------------------------------------
def _partial_dims(t):
    """The value of a 1-D int tensor known at build time, entry by entry: a `tf.stack`
    of a run-time batch and ints gives [None, ints...]; None if not even its parts are."""
    vals = static_dims(t)
    if vals is not None or t.op.type != "concat":
        return vals
    out = []
    for part in t.op.inputs:
        part_vals = static_dims(part)
        if part_vals is None:
            n = part.shape[0] if part.shape.ndims == 1 else 1 if part.shape.ndims == 0 else None
            if not isinstance(n, int):
                return None
            part_vals = [None] * n
        out.extend(part_vals)
    return out


def _sizes(sizes, nsp, first, role, opname):
    """A shape given as ints or as an int tensor known at build time (the batch may be
    symbolic or run-time) -> channels-last order (batch, *spatial, channels)."""
    vals = _partial_dims(convert_to_tensor(sizes)) if _is_tensor_like(sizes) else list(sizes)
    if vals is None or len(vals) != nsp + 2:
        raise error(ValueError, opname, f"{role} must be {nsp + 2} dims known when the "
                                        f"graph is built (the batch may come from "
                                        f"tf.shape), got {sizes!r}")
    if first:
        vals = [vals[0]] + list(vals[2:]) + [vals[1]]
    if not all(is_int_like(v) for v in vals[1:]):
        raise error(ValueError, opname, f"the spatial and channel entries of {role} must be "
                                        f"known when the graph is built, got {vals}")
    return (vals[0],) + tuple(int(v) for v in vals[1:])


def _gradient_attrs(x_shape, window, strides, padding, dilations, first, dy, dims, opname):
    """The attrs of the forward conv of an input `x_shape` with a filter `window` (both
    channels last; the batch may be None), which must give the spatial extents `dims` of
    the gradient `dy`."""
    pads = padding_pairs(padding, x_shape[1:-1], window[:-2], strides, dilations, first,
                         opname)
    attrs = dict(strides=strides, padding=pads, lhs_dilation=(1,) * len(strides),
                 rhs_dilation=dilations)
    want = [conv_out_size(x_shape[1 + i], window[i], attrs["strides"][i], attrs["padding"][i],
                          1, attrs["rhs_dilation"][i]) for i in range(len(dims))]
    if list(dims) != want:
        raise error(ValueError, opname, f"a conv of an input {_dims(x_shape)} (channels last) "
                                        f"with this filter, strides and padding has spatial "
                                        f"extents {want}, but {dy.name!r} has "
                                        f"{_shape(dy)}")
    return attrs


def _backprop_input(sizes, w, dy, nsp, strides, padding, dilations, data_format, name, opname,
                    role="input_sizes"):
    dy, w = _operands(dy, w, nsp, opname, ("value", "filter"))
    first, strides, dilations = _format_args(data_format, strides, dilations, nsp, opname)
    x_shape = _sizes(sizes, nsp, first, role, opname)
    with op_scope(name, opname, [dy]) as scope:
        gl = to_channels_last(dy, first)
        window = _static_dims(w.shape, w, "filter", opname)
        g_dims = _static_dims(gl.shape[1:], dy, "value", opname)
        if window[-2] != x_shape[-1] or window[-1] != g_dims[-1]:
            raise error(ValueError, opname, f"the filter {w.name!r} {_shape(w)} maps "
                                            f"{window[-2]} channels to {window[-1]}, but "
                                            f"{role} has {x_shape[-1]} channels and the "
                                            f"value {dy.name!r} {_shape(dy)} has "
                                            f"{g_dims[-1]}")
        batch = gl.shape[0]
        if is_int_like(x_shape[0]) and isinstance(batch, int) and x_shape[0] != batch:
            raise error(ValueError, opname, f"{role} has batch {x_shape[0]} but the value "
                                            f"{dy.name!r} has {_shape(dy)}")
        attrs = _gradient_attrs(x_shape, window, strides, padding, dilations, first, dy,
                                g_dims[:-1], opname)
        y = conv_input_gradient(gl, w, x_shape, attrs, name=None if first else scope)
        return from_channels_last(y, first, scope)


def _backprop_filter(x, sizes, dy, nsp, strides, padding, dilations, data_format, name,
                     opname):
    x, dy = _operands(x, dy, nsp, opname, ("input", "out_backprop"))
    first, strides, dilations = _format_args(data_format, strides, dilations, nsp, opname)
    w_shape = _sizes(sizes, nsp, False, "filter_sizes", opname)
    with op_scope(name, opname, [x]) as scope:
        xl, gl = to_channels_last(x, first), to_channels_last(dy, first)
        spatial = _static_dims(xl.shape[1:], x, "input", opname)
        g_dims = _static_dims(gl.shape[1:], dy, "out_backprop", opname)
        if spatial[-1] != w_shape[-2] or g_dims[-1] != w_shape[-1]:
            raise error(ValueError, opname, f"filter_sizes {list(w_shape)} must map the "
                                            f"{spatial[-1]} channels of {x.name!r} "
                                            f"{_shape(x)} to the {g_dims[-1]} of "
                                            f"{dy.name!r} {_shape(dy)}")
        attrs = _gradient_attrs((None,) + spatial, w_shape, strides, padding, dilations,
                                first, dy, g_dims[:-1], opname)
        return conv_filter_gradient(xl, gl, w_shape, attrs, name=scope)


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):
    """TF1's `tf.nn.conv2d_transpose`: the input gradient of a conv2d whose input has
    `output_shape` (a list, or a tensor such as `tf.stack([tf.shape(x)[0], 14, 14, 32])`);
    filter [KH, KW, C_out, C_in] maps the result's channels to the value's."""
    value = _either(value, input, "conv2d_transpose", ("value", "input"))
    return _backprop_input(output_shape, _either(filter, filters, "conv2d_transpose"), value,
                           2, strides, padding, dilations, data_format, name,
                           "conv2d_transpose", "output_shape")


def atrous_conv2d_transpose(value, filters, output_shape, rate, padding, name=None):
    """TF1's `tf.nn.atrous_conv2d_transpose`: conv2d_transpose with stride 1 and dilation
    `rate` (NHWC)."""
    if not is_int_like(rate) or rate < 1:
        raise error(ValueError, "atrous_conv2d_transpose", f"rate must be a positive int, "
                                                           f"got {rate!r}")
    return _backprop_input(output_shape, filters, value, 2, 1, padding, int(rate), "NHWC",
                           name, "atrous_conv2d_transpose", "output_shape")


def conv3d_transpose(value, filter=None, output_shape=None, strides=None, padding="SAME",
                     data_format="NDHWC", name=None, filters=None, dilations=None):
    """TF1's `tf.nn.conv3d_transpose` (see conv2d_transpose)."""
    return _backprop_input(output_shape, _either(filter, filters, "conv3d_transpose"), value,
                           3, strides, padding, dilations, data_format, name,
                           "conv3d_transpose", "output_shape")


def conv2d_backprop_input(input_sizes, filter=None, out_backprop=None, strides=None,
                          padding=None, use_cudnn_on_gpu=True, data_format="NHWC",
                          dilations=(1, 1, 1, 1), name=None, filters=None):
    """TF1's `tf.nn.conv2d_backprop_input`: the gradient of conv2d with respect to its
    input of shape `input_sizes`, given `out_backprop`."""
    return _backprop_input(input_sizes, _either(filter, filters, "conv2d_backprop_input"),
                           out_backprop, 2, strides, padding, dilations, data_format, name,
                           "Conv2DBackpropInput")


def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding,
                           use_cudnn_on_gpu=True, data_format="NHWC", dilations=(1, 1, 1, 1),
                           name=None):
    """TF1's `tf.nn.conv2d_backprop_filter`: the gradient of conv2d with respect to its
    filter of shape `filter_sizes`, given `out_backprop`."""
    return _backprop_filter(input, filter_sizes, out_backprop, 2, strides, padding, dilations,
                            data_format, name, "Conv2DBackpropFilter")


__all__ = ["conv1d", "conv2d", "conv3d", "convolution", "atrous_conv2d",
           "atrous_conv2d_transpose", "conv2d_transpose",
           "conv3d_transpose", "conv2d_backprop_input", "conv2d_backprop_filter"]
