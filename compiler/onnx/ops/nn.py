"""Neural-network ONNX ops: matrix products (MatMul, Gemm), convolutions (Conv,
ConvTranspose, DeformConv) and the normalizations of CNNs (BatchNormalization,
InstanceNormalization, LRN). Pools are in nn_pool.py, the window arithmetic both share
in nn_window.py.

Convolutions are flowc's channels-last `conv` primitive (compiler/ops/conv.py) between two
transposes (NC... -> N...C and back); the transposes are movement ops that fuse into the
conv's loads and stores, and a transpose pair between two convs (through elementwise ops)
cancels in the simplification passes, so an NCHW model spends no kernel per transpose.
Grouped convolutions are one `conv` per group (concatenated), or flowc's depthwise
convolution when every group has one input channel (2-D).
"""

from __future__ import annotations

import numpy as np

from ...frontend import manip_ops as A
from ...frontend import math_ops as M
from ...frontend import reduce_ops as R
from ...frontend.core import constant, make
from ...frontend.depthwise import _depthwise
from ..table import converter
from .nn_window import (
    channels_first,
    channels_last,
    ints_attr,
    kernel_attr,
    spatial_dims,
    window_pads,
)


def _rank(cx, t, what):
    if t.shape.ndims is None:
        raise cx.unsupported(f"{what} has unknown rank")
    return t.shape.ndims


@converter("MatMul", note="numpy matmul rules (1-D operands, broadcast batch dims)")
def matmul(cx):
    a, b = cx.input(0), cx.input(1)
    ra, rb = _rank(cx, a, "input A"), _rank(cx, b, "input B")
    if ra == 0 or rb == 0:
        raise cx.unsupported("MatMul of a scalar operand")
    if ra == 1:
        a = A.reshape(a, [1, -1])
    if rb == 1:
        b = A.reshape(b, [-1, 1])
    y = M.matmul(a, b)
    if ra == 1 and rb == 1:
        return [A.reshape(y, [])]
    if ra == 1:
        return [A.squeeze(y, [-2])]
    if rb == 1:
        return [A.squeeze(y, [-1])]
    return [y]


@converter("Gemm", attrs=("alpha", "beta", "transA", "transB"),
           note="C broadcast to [M, N]")
def gemm(cx):
    a, b, c = cx.input(0), cx.input(1), cx.input(2)
    if _rank(cx, a, "input A") != 2 or _rank(cx, b, "input B") != 2:
        raise cx.unsupported("Gemm needs 2-D A and B")
    alpha, beta = float(cx.attr("alpha", 1.0)), float(cx.attr("beta", 1.0))
    y = M.matmul(a, b, transpose_a=bool(cx.attr("transA", 0)),
                 transpose_b=bool(cx.attr("transB", 0)))
    if alpha != 1.0:
        y = M.multiply(y, constant(np.asarray(alpha, y.dtype.np)))
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = M.multiply(c, constant(np.asarray(beta, c.dtype.np)))
        y = M.add(y, c)
    return [y]


# -- convolutions -----------------------------------------------------------------------

def _conv_attrs(cx, x, w):
    spatial = spatial_dims(cx, x)
    nsp = len(spatial)
    if _rank(cx, w, "the filter W") != nsp + 2:
        raise cx.unsupported(f"the filter W {w.shape.as_list()} must have rank {nsp + 2}")
    if not 1 <= nsp <= 3:
        raise cx.unsupported(f"{nsp} spatial axes (flowc convolves 1 to 3)")
    kernel = kernel_attr(cx, nsp, w)
    if tuple(w.shape.as_list()[2:]) != kernel:
        raise cx.unsupported(f"kernel_shape {list(kernel)} differs from the filter W's "
                             f"{w.shape.as_list()}")
    strides = ints_attr(cx, "strides", nsp, 1)
    dilations = ints_attr(cx, "dilations", nsp, 1)
    group = int(cx.attr("group", 1))
    if group < 1:
        raise cx.unsupported(f"group={group}")
    return spatial, nsp, kernel, strides, dilations, group


def _bias(cx, y, b, channels):
    """y [N, *S, Co] + b [Co] (on the channels-last value, before the transpose back)."""
    if b is None:
        return y
    if b.shape.as_list() != [channels]:
        raise cx.unsupported(f"the bias B {b.shape.as_list()} must have shape [{channels}]")
    return M.add(y, b)


@converter("Conv", attrs=("auto_pad", "dilations", "group", "kernel_shape", "pads",
                          "strides"),
           note="1-D to 3-D; grouped and depthwise")
def conv(cx):
    x, w, b = cx.input(0), cx.input(1), cx.input(2)
    spatial, nsp, kernel, strides, dilations, group = _conv_attrs(cx, x, w)
    pads = window_pads(cx, spatial, kernel, strides, dilations)
    m, cg = w.shape.as_list()[:2]
    c = x.shape.as_list()[1]
    if not isinstance(c, int) or c != cg * group or m % group:
        raise cx.unsupported(f"input X {x.shape.as_list()} has {c} channels; the filter W "
                             f"{w.shape.as_list()} with group={group} expects "
                             f"{cg * group} and a multiple of {group} output channels")
    xl = channels_last(x)
    wl = A.transpose(w, list(range(2, nsp + 2)) + [1, 0])          # [*K, C/g, M]
    attrs = dict(strides=strides, padding=tuple(pads), lhs_dilation=(1,) * nsp,
                 rhs_dilation=dilations)
    if group == 1:
        y = make("conv", [xl, wl], **attrs)
    elif cg == 1 and nsp == 2:
        # depthwise: W [C * mult, 1, KH, KW] -> TF's [KH, KW, C, mult]
        wd = A.transpose(A.reshape(w, [c, m // c] + list(kernel)), [2, 3, 0, 1])
        y = _depthwise(xl, wd, strides, dilations, [[0, 0], *pads, [0, 0]], False,
                       "Conv")
    else:
        mg = m // group
        parts = []
        for g, xg in enumerate(A.split(xl, group, axis=-1)):
            wg = make("slice", [wl], begin=(0,) * (nsp + 1) + (g * mg,),
                      size=tuple(kernel) + (cg, mg), stride=(1,) * (nsp + 2))
            parts.append(make("conv", [xg, wg], **attrs))
        y = A.concat(parts, -1)
    return [channels_first(_bias(cx, y, b, m))]


@converter("ConvTranspose", attrs=("auto_pad", "dilations", "group", "kernel_shape",
                                   "output_padding", "output_shape", "pads", "strides"),
           note="1-D to 3-D; grouped")
def conv_transpose(cx):
    x, w, b = cx.input(0), cx.input(1), cx.input(2)
    spatial, nsp, kernel, strides, dilations, group = _conv_attrs(cx, x, w)
    c, mg = w.shape.as_list()[:2]
    if x.shape.as_list()[1] != c or c % group:
        raise cx.unsupported(f"input X {x.shape.as_list()} must have the filter W's "
                             f"{c} input channels, a multiple of group={group}")
    ke = [(kernel[i] - 1) * dilations[i] + 1 for i in range(nsp)]
    opad = ints_attr(cx, "output_padding", nsp, 0)
    full = [strides[i] * (spatial[i] - 1) + opad[i] + ke[i] for i in range(nsp)]
    auto = cx.attr("auto_pad", "NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    out_shape = cx.attr("output_shape")
    if out_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        if out_shape is not None:
            out_shape = [int(v) for v in out_shape][-nsp:]
        else:
            out_shape = [spatial[i] * strides[i] for i in range(nsp)]
        pads = []
        for i in range(nsp):
            total = full[i] - out_shape[i]
            small, big = total // 2, total - total // 2
            pads.append((big, small) if auto != "SAME_UPPER" else (small, big))
    elif auto in ("NOTSET", "VALID"):
        flat = (0,) * (2 * nsp) if auto == "VALID" else ints_attr(cx, "pads", 2 * nsp, 0)
        pads = [(flat[i], flat[nsp + i]) for i in range(nsp)]
    else:
        raise cx.unsupported(f"auto_pad={auto!r}")
    # the adjoint of a strided conv: x dilated by the strides, convolved with the
    # spatially reversed filter, padded by ke - 1 - pad (output_padding at the end)
    conv_pads = tuple((ke[i] - 1 - pads[i][0], ke[i] - 1 - pads[i][1] + opad[i])
                      for i in range(nsp))
    xl = channels_last(x)
    rev = make("slice", [w], begin=(0, 0) + tuple(k - 1 for k in kernel),
               size=tuple(w.shape.as_list()), stride=(1, 1) + (-1,) * nsp)
    wl = A.transpose(rev, list(range(2, nsp + 2)) + [0, 1])        # [*K, C, M/g]
    attrs = dict(strides=(1,) * nsp, padding=conv_pads, lhs_dilation=strides,
                 rhs_dilation=dilations)
    if group == 1:
        y = make("conv", [xl, wl], **attrs)
    else:
        cg = c // group
        parts = []
        for g, xg in enumerate(A.split(xl, group, axis=-1)):
            wg = make("slice", [wl], begin=(0,) * nsp + (g * cg, 0),
                      size=tuple(kernel) + (cg, mg), stride=(1,) * (nsp + 2))
            parts.append(make("conv", [xg, wg], **attrs))
        y = A.concat(parts, -1)
    return [channels_first(_bias(cx, y, b, mg * group))]


# -- normalizations ---------------------------------------------------------------------

def _per_channel(v, rank):
    """[C] -> [C, 1, ...] to broadcast over [N, C, *S]."""
    return A.reshape(v, [-1] + [1] * (rank - 2))


@converter("BatchNormalization", attrs=("epsilon", "momentum", "spatial", "training_mode",
                                        "is_test"),
           note="inference; training_mode=1 computes the batch statistics and the running "
                "mean and variance outputs")
def batch_norm(cx):
    x, scale, bias, mean, var = (cx.input(i) for i in range(5))
    r = _rank(cx, x, "input X")
    if r < 2:
        raise cx.unsupported("input X must have rank >= 2")
    if int(cx.attr("spatial", 1)) != 1:
        raise cx.unsupported("spatial=0 (per-activation statistics)")
    eps = constant(np.asarray(cx.attr("epsilon", 1e-5), x.dtype.np))
    training = int(cx.attr("training_mode", 0)) == 1
    if cx.opset < 14 and len(cx.node.output) > 1 and any(cx.node.output[1:]):
        if cx.opset < 9 or int(cx.attr("is_test", 0)) == 0:
            training = True
    if training:
        axes = [0] + list(range(2, r))
        bmean = R.reduce_mean(x, axes)
        d = M.subtract(x, _per_channel(bmean, r))
        bvar = R.reduce_mean(M.multiply(d, d), axes)
        y = M.add(M.multiply(M.multiply(d, _per_channel(M.rsqrt(M.add(bvar, eps)), r)),
                             _per_channel(scale, r)), _per_channel(bias, r))
        mom = constant(np.asarray(cx.attr("momentum", 0.9), x.dtype.np))
        rest = constant(np.asarray(1 - cx.attr("momentum", 0.9), x.dtype.np))
        running_mean = M.add(M.multiply(mean, mom), M.multiply(bmean, rest))
        running_var = M.add(M.multiply(var, mom), M.multiply(bvar, rest))
        outs = [y, running_mean, running_var]
        if cx.opset < 14:    # opsets 9-13: saved mean and saved variance
            outs += [bmean, bvar]
        return outs[:max(1, len(cx.node.output))]
    # y = x * a + b with a = scale / sqrt(var + eps), b = bias - mean * a (constants of an
    # imported model: folded when the graph is compiled)
    a = M.multiply(scale, M.rsqrt(M.add(var, eps)))
    shift = M.subtract(bias, M.multiply(mean, a))
    return [M.add(M.multiply(x, _per_channel(a, r)), _per_channel(shift, r))]


@converter("InstanceNormalization", attrs=("epsilon",))
def instance_norm(cx):
    x, scale, bias = cx.input(0), cx.input(1), cx.input(2)
    r = _rank(cx, x, "input X")
    if r < 3:
        raise cx.unsupported("input X must have rank >= 3")
    eps = constant(np.asarray(cx.attr("epsilon", 1e-5), x.dtype.np))
    axes = list(range(2, r))
    mean = R.reduce_mean(x, axes, keepdims=True)
    d = M.subtract(x, mean)
    var = R.reduce_mean(M.multiply(d, d), axes, keepdims=True)
    y = M.multiply(d, M.rsqrt(M.add(var, eps)))
    return [M.add(M.multiply(y, _per_channel(scale, r)), _per_channel(bias, r))]


@converter("LRN", attrs=("alpha", "beta", "bias", "size"))
def lrn(cx):
    x = cx.input(0)
    r = _rank(cx, x, "input X")
    size = int(cx.attr("size", 0))
    if size < 1:
        raise cx.unsupported(f"size={size} (a positive odd int is required)")
    shape = x.shape.as_list()
    if r < 3 or not isinstance(shape[1], int):
        raise cx.unsupported(f"input X {shape} must be [N, C, ...] with C known")
    alpha, beta = float(cx.attr("alpha", 1e-4)), float(cx.attr("beta", 0.75))
    bias = float(cx.attr("bias", 1.0))
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = M.multiply(x, x)
    padded = A.pad(sq, [[0, 0], [lo, hi]] + [[0, 0]] * (r - 2))
    total = None
    for k in range(size):
        s = padded[:, k:k + shape[1]]
        total = s if total is None else M.add(total, s)
    dt = x.dtype.np
    base = M.add(M.multiply(total, constant(np.asarray(alpha / size, dt))),
                 constant(np.asarray(bias, dt)))
    return [M.multiply(x, M.pow(base, constant(np.asarray(-beta, dt))))]


@converter("DeformConv", since=19, attrs=("dilations", "group", "kernel_shape",
                                          "offset_group", "pads", "strides"),
           note="2-D; static input shapes")
def deform_conv(cx):
    """Each output position samples x at its window taps moved by `offset` (bilinear, zero
    outside x, as GridSample with align_corners=1), times `mask`; the samples of all taps
    and channels of a group are then contracted with the filter (one batched matmul)."""
    x, w, off, b, mask = (cx.input(i) for i in range(5))
    shape = x.shape.as_list() if x.shape.ndims is not None else None
    if shape is None or len(shape) != 4 or not all(isinstance(d, int) for d in shape):
        raise cx.unsupported(f"input X must be 4-D with a static shape, got {shape}")
    n, c, h, wd = shape
    kernel = kernel_attr(cx, 2, w)
    strides = ints_attr(cx, "strides", 2, 1)
    dil = ints_attr(cx, "dilations", 2, 1)
    flat = ints_attr(cx, "pads", 4, 0)
    group, og = int(cx.attr("group", 1)), int(cx.attr("offset_group", 1))
    oc, cg = w.shape.as_list()[:2]
    taps = kernel[0] * kernel[1]
    if c != cg * group or oc % group or c % og:
        raise cx.unsupported(f"X {shape}, W {w.shape.as_list()}: channels must match "
                             f"group={group} and be divisible by offset_group={og}")
    oh, ow = [(s + flat[i] + flat[2 + i] - (kernel[i] - 1) * dil[i] - 1) // strides[i] + 1
              for i, s in enumerate((h, wd))]
    if off.shape.as_list() != [n, og * taps * 2, oh, ow]:
        raise cx.unsupported(f"offset {off.shape.as_list()} must be "
                             f"{[n, og * taps * 2, oh, ow]}")
    dt = x.dtype.np
    ki, kj = np.meshgrid(np.arange(kernel[0]), np.arange(kernel[1]), indexing="ij")
    oi, oj = np.arange(oh), np.arange(ow)
    base_y = (-flat[0] + strides[0] * oi[None, :, None] + dil[0] * ki.reshape(-1, 1, 1))
    base_x = (-flat[1] + strides[1] * oj[None, None, :] + dil[1] * kj.reshape(-1, 1, 1))
    o = A.reshape(off, [n, og, taps, 2, oh, ow])
    py = M.add(o[:, :, :, 0], constant(base_y.astype(dt)))          # [N, og, T, oh, ow]
    px = M.add(o[:, :, :, 1], constant(base_x.astype(dt)))
    y0, x0 = M.floor(py), M.floor(px)
    fy, fx = M.subtract(py, y0), M.subtract(px, x0)
    one = constant(np.asarray(1, dt))
    icg = c // og
    base = (np.arange(n * og * icg).reshape(n, og, icg, 1, 1, 1) * (h * wd)).astype(np.int64)
    xs = A.reshape(x, [-1])
    total = None
    for dy in (0, 1):
        for dx in (0, 1):
            yc = M.add(y0, constant(np.asarray(dy, dt)))
            xc = M.add(x0, constant(np.asarray(dx, dt)))
            inside = M.logical_and(
                M.logical_and(M.greater_equal(yc, constant(np.asarray(0, dt))),
                              M.less_equal(yc, constant(np.asarray(h - 1, dt)))),
                M.logical_and(M.greater_equal(xc, constant(np.asarray(0, dt))),
                              M.less_equal(xc, constant(np.asarray(wd - 1, dt)))))
            wgt = M.multiply(fy if dy else M.subtract(one, fy),
                             fx if dx else M.subtract(one, fx))
            wgt = M.multiply(wgt, M.cast(inside, x.dtype))
            pos = M.add(M.multiply(M.clip_by_value(yc, 0, h - 1), constant(
                np.asarray(wd, dt))), M.clip_by_value(xc, 0, wd - 1))
            idx = M.add(constant(base), A.reshape(M.cast(pos, "int64"),
                                                  [n, og, 1, taps, oh, ow]))
            term = M.multiply(A.gather(xs, idx), A.reshape(wgt, [n, og, 1, taps, oh, ow]))
            total = term if total is None else M.add(total, term)
    if mask is not None:
        total = M.multiply(total, A.reshape(mask, [n, og, 1, taps, oh, ow]))
    cols = A.reshape(total, [n, group, cg * taps, oh * ow])
    wg = A.reshape(w, [1, group, oc // group, cg * taps])
    y = A.reshape(M.matmul(wg, cols), [n, oc, oh, ow])
    if b is not None:
        y = M.add(y, A.reshape(b, [oc, 1, 1]))
    return [y]
