"""Loss, Einsum and quantization ONNX ops: SoftmaxCrossEntropyLoss,
NegativeLogLikelihoodLoss, Einsum, QuantizeLinear, DequantizeLinear,
DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv.

All are compositions of flowc frontend functions: the losses pick the target class with
a one-hot mask, Einsum is `fc.einsum` (compiler/frontend/special_math_ops.py), and the
quantized ops compute `round half to even` and saturation
elementwise. Integer products (MatMulInteger, ConvInteger) accumulate in float64, exact
for every sum below 2**53, and come out as int32 as ONNX says.
"""

from __future__ import annotations

import numpy as np

from ...frontend import conv_ops as C
from ...frontend import manip_ops as P
from ...frontend import math_ops as M
from ...frontend import nn as N
from ...frontend import reduce_ops as R
from ...frontend.array_ops import one_hot
from ...frontend.core import constant, known_shape
from ...frontend.special_math_ops import einsum
from ...ir import dtypes as T
from .. import proto
from ..table import converter
from . import narrow

# -- losses ------------------------------------------------------------------------------


def _nll(cx, x, target, weight, reduction, ignore_index):
    """NegativeLogLikelihoodLoss of x [N, C, d...] and target [N, d...] (ONNX semantics:
    mean divides by the sum of the weights of the targets not ignored)."""
    if x.shape.ndims is None or x.shape.ndims < 2:
        raise cx.unsupported(f"input of rank {x.shape.ndims}: must be [N, C, d...]")
    if reduction not in ("none", "sum", "mean"):
        raise cx.unsupported(f"reduction {reduction!r} (none, sum or mean)")
    depth = known_shape(x, cx.op_type)[1]
    if not isinstance(depth, int):
        raise cx.unsupported("the class dim C of the input must be static")
    if target.dtype.kind != "int":
        raise cx.unsupported(f"target of element type {target.dtype.name} (int32/int64)")
    keep = None
    if ignore_index is not None:
        keep = M.not_equal(target, constant(ignore_index, target.dtype))
        target = P.where_v2(keep, target, constant(0, target.dtype))
    picked = R.reduce_sum(
        P.where_v2(one_hot(target, depth, True, False, axis=1, dtype=T.bool_), x,
                   constant(0, x.dtype)), axis=1)
    loss = M.negative(picked)
    w = None
    if weight is not None:
        w = P.gather(weight, target)
    if keep is not None:
        mask = M.cast(keep, x.dtype)
        w = mask if w is None else M.multiply(w, mask)
    if w is not None:
        loss = M.multiply(loss, w)
    if reduction == "none":
        return loss
    total = R.reduce_sum(loss)
    if reduction == "sum":
        return total
    if w is None:
        return R.reduce_mean(loss)
    return M.truediv(total, R.reduce_sum(w))


@converter("NegativeLogLikelihoodLoss", since=12, attrs=("reduction", "ignore_index"),
           note="the class dim C must be static")
def negative_log_likelihood_loss(cx):
    return [_nll(cx, cx.input(0), cx.input(1), cx.input(2), cx.attr("reduction", "mean"),
                 cx.attr("ignore_index"))]


@converter("SoftmaxCrossEntropyLoss", since=12, attrs=("reduction", "ignore_index"),
           note="the class dim C must be static")
def softmax_cross_entropy_loss(cx):
    scores = cx.input(0)
    if scores.dtype not in (T.float16, T.float32, T.float64):
        raise cx.unsupported(f"scores of element type {scores.dtype.name}")
    log_prob = N.log_softmax(scores, axis=1)
    loss = _nll(cx, log_prob, cx.input(1), cx.input(2), cx.attr("reduction", "mean"),
                cx.attr("ignore_index"))
    return [loss, log_prob]


# -- Einsum ------------------------------------------------------------------------------


@converter("Einsum", since=12, attrs=("equation",),
           note="fc.einsum: the dims merged for a matmul (non-batch letters) must be static")
def einsum_(cx):
    return [einsum(cx.attr("equation", ""), *[cx.input(i) for i in range(len(cx.inputs))])]


# -- quantization ------------------------------------------------------------------------

_QTYPES = {T.uint8: (0, 255), T.int8: (-128, 127), T.uint16: (0, 65535),
           T.int16: (-32768, 32767), T.int32: (-2**31, 2**31 - 1)}
#: integer quantized types by ONNX code: (lo, hi); int4/int2 are stored in int8/uint8
_QRANGES = {2: (0, 255), 3: (-128, 127), 4: (0, 65535), 5: (-32768, 32767), 21: (0, 15),
            22: (-8, 7), 25: (0, 3), 26: (-2, 1)}
_QFLOATS = frozenset({17, 18, 19, 20, 23})   # float8 (not e8m0) and float4e2m1


def saturate_cast(x, dt):
    """x clipped to the range of integer type `dt` (a flowc dtype, or an ONNX code for
    int4/int2 and the others of `_QRANGES`), as that (storage) dtype."""
    if isinstance(dt, int):
        (lo, hi), dt = _QRANGES[dt], proto.storage_dtype(dt, "")
    else:
        lo, hi = _QTYPES[dt]
    return M.cast(M.clip_by_value(x, constant(lo, x.dtype), constant(hi, x.dtype)), dt)


def _along(cx, p, x, axis, block_size, what):
    """Scale or zero point `p` shaped to broadcast against `x`: a scalar, one per index
    of `axis` (per-axis), or one per block of `block_size` along `axis` (blocked)."""
    if p.shape.ndims == 0 or (p.shape.ndims == 1 and known_shape(p, "q")[0] == 1
                              and not block_size):
        return P.reshape(p, []) if p.shape.ndims else p
    rank = x.shape.ndims
    axis = axis + rank if axis < 0 else axis
    if block_size:
        dims = known_shape(x, cx.op_type)
        n = dims[axis]
        if not isinstance(n, int):
            raise cx.unsupported(f"blocked {what}: the blocked axis must be static")
        return P.gather(p, constant(np.arange(n, dtype=np.int32) // block_size), axis=axis)
    if p.shape.ndims != 1:
        raise cx.unsupported(f"{what} of rank {p.shape.ndims} without block_size")
    shape = [1] * rank
    shape[axis] = -1
    return P.reshape(p, shape)


def _float(x):
    return x if x.dtype in (T.float32, T.float64) else M.cast(x, T.float32)


def _no_stored_floats(cx, *inputs):
    """Refuse a scale (or QuantizeLinear's x) of a stored type (bfloat16): ONNX computes
    in its precision, flowc stores it as float32 and does not compute with it."""
    for i, what in inputs:
        code = narrow.elem_type(cx, i)
        if proto.is_storage(code):
            raise cx.unsupported(f"{what} of element type {proto.type_name(code)}: flowc "
                                 f"stores it as {proto.STORAGE[code][1].name} and computes "
                                 f"with float16/32/64 only")


def quantize(x, scale, zero_point, code, saturate=True):
    """saturate(round(x / scale) + zero_point) as ONNX type `code` (computed in
    float32/64): an integer type clips; float8/float4 round onto their grid
    (narrow.cast_to, `saturate` for float8)."""
    xf = _float(x)
    q = M.truediv(xf, M.cast(scale, xf.dtype))
    if code in _QFLOATS:
        if zero_point is not None:
            q = M.add(q, M.cast(zero_point, xf.dtype))
        return narrow.cast_to(q, code, saturate)
    q = M.round(q)
    if zero_point is not None:
        q = M.add(q, M.cast(zero_point, xf.dtype))
    return saturate_cast(q, code)


@converter("QuantizeLinear", since=10,
           note="uint8/int8/uint16/int16, int4/uint4/int2/uint2, float8 (e4m3fn, "
                "e4m3fnuz, e5m2, e5m2fnuz) and float4e2m1; per tensor, per axis or blocked "
                "(static blocked axis)",
           attrs=("axis", "saturate", "block_size", "output_dtype", "precision"))
def quantize_linear(cx):
    x, scale, zp = cx.input(0), cx.input(1), cx.input(2)
    block = cx.attr("block_size", 0)
    odt = cx.attr("output_dtype", 0)
    if cx.attr("precision", 0):
        raise cx.unsupported(f"precision {cx.attr('precision')}: only the default")
    _no_stored_floats(cx, (0, "x"), (1, "y_scale"))
    code = narrow.elem_type(cx, 2) if zp is not None else (odt or 2)
    if odt and odt != code:
        raise cx.unsupported(f"output_dtype {proto.type_name(odt)} differs from the zero "
                             f"point's type {proto.type_name(code)}")
    if code not in _QRANGES and code not in _QFLOATS:
        raise cx.unsupported(f"quantized type {proto.type_name(code)}")
    axis = cx.attr("axis", 1)
    scale = _along(cx, scale, x, axis, block, "y_scale")
    zp = None if zp is None else _along(cx, zp, x, axis, block, "y_zero_point")
    y = quantize(x, scale, zp, code, bool(cx.attr("saturate", 1)))
    return [cx.importer.set_elem_type(y, code)]


@converter("DequantizeLinear", since=10,
           note="uint8/int8/uint16/int16/int32 and the stored narrow types (int4, uint4, "
                "int2, uint2, float8, float4e2m1); per tensor, per axis or blocked",
           attrs=("axis", "block_size", "output_dtype"))
def dequantize_linear(cx):
    x, scale, zp = cx.input(0), cx.input(1), cx.input(2)
    _no_stored_floats(cx, (1, "x_scale"))
    if x.dtype not in _QTYPES and not proto.is_storage(narrow.elem_type(cx, 0)):
        raise cx.unsupported(f"x of element type {x.dtype.name}")
    odt = cx.attr("output_dtype", 0)
    if odt and odt != {T.float32: 1, T.float16: 10, T.float64: 11}.get(scale.dtype):
        raise cx.unsupported(f"output_dtype {odt} other than the scale's type")
    block, axis = cx.attr("block_size", 0), cx.attr("axis", 1)
    scale = _along(cx, scale, x, axis, block, "x_scale")
    xf = M.cast(x, T.float32)
    if zp is not None:
        xf = M.subtract(xf, M.cast(_along(cx, zp, x, axis, block, "x_zero_point"),
                                   T.float32))
    y = M.multiply(xf, M.cast(scale, T.float32))
    return [y if scale.dtype is T.float32 else M.cast(y, scale.dtype)]


@converter("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(cx):
    x = _float(cx.input(0))
    zero = constant(0, x.dtype)
    lo = M.minimum(R.reduce_min(x), zero)
    hi = M.maximum(R.reduce_max(x), zero)
    scale = M.truediv(M.subtract(hi, lo), constant(255, x.dtype))
    zp = saturate_cast(M.round(M.negative(M.truediv(lo, scale))), 2)
    y = quantize(x, scale, zp, 2)
    return [y, scale, zp]


def _int_operand(cx, x, zp, axis_of_zp):
    """x - zero_point as float64 (exact); a 1-D zero point runs along `axis_of_zp`."""
    if x.dtype not in _QTYPES:
        raise cx.unsupported(f"operand of element type {x.dtype.name}")
    xf = M.cast(x, T.float64)
    if zp is None:
        return xf
    z = M.cast(zp, T.float64)
    if zp.shape.ndims and known_shape(zp, cx.op_type)[0] != 1 and axis_of_zp is not None:
        shape = [1] * x.shape.ndims
        shape[axis_of_zp] = -1
        z = P.reshape(z, shape)
    elif zp.shape.ndims:
        z = P.reshape(z, [])
    return M.subtract(xf, z)


def _matmul_f64(cx, a, b):
    if min(a.shape.ndims or 0, b.shape.ndims or 0) < 2:
        raise cx.unsupported("operands of rank < 2")
    return M.matmul(a, b)


@converter("MatMulInteger", since=10,
           note="products summed in float64 (exact below 2**53); operands of rank >= 2")
def matmul_integer(cx):
    a = _int_operand(cx, cx.input(0), cx.input(2), -2 if cx.input(0).shape.ndims else None)
    b = _int_operand(cx, cx.input(1), cx.input(3), -1)
    return [M.cast(_matmul_f64(cx, a, b), T.int32)]


@converter("QLinearMatMul", since=10,
           note="products summed in float64 (exact below 2**53); operands of rank >= 2")
def qlinear_matmul(cx):
    a = _int_operand(cx, cx.input(0), cx.input(2), -2)
    b = _int_operand(cx, cx.input(3), cx.input(5), -1)
    return [_requantize(_matmul_f64(cx, a, b), cx.input(1), cx.input(4), cx.input(6),
                        cx.input(7), -1, -2)]


def _requantize(acc, a_scale, b_scale, y_scale, zp, axis, a_axis=None):
    """saturate(round(acc * (a_scale * b_scale / y_scale)) + zp) as zp's type; the
    multiplier is computed in the scales' type, as ONNX's reference does. A per-channel
    `b_scale` runs along `axis` of acc, a per-row `a_scale` along `a_axis`."""
    rank = acc.shape.ndims

    def along(s, ax):
        if not s.shape.ndims or known_shape(s, "scale")[0] == 1 or ax is None:
            return P.reshape(s, []) if s.shape.ndims else s
        shape = [1] * rank
        shape[ax] = -1
        return P.reshape(s, shape)

    m = M.truediv(M.multiply(along(a_scale, a_axis), along(b_scale, axis)),
                  along(y_scale, None))
    q = M.multiply(acc, M.cast(m, T.float64))
    if zp is not None:
        q = M.add(q, M.cast(zp, T.float64))
    return saturate_cast(M.round(q), zp.dtype if zp is not None else T.uint8)


def _same_pads(cx, spatial, kernel, strides, dilations):
    """ONNX auto_pad SAME_UPPER / SAME_LOWER as explicit (begin..., end...) pads."""
    begin, end = [], []
    for n, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        if not (isinstance(n, int) and isinstance(k, int)):
            raise cx.unsupported("auto_pad SAME_* needs static spatial dims")
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small = total // 2
        begin.append(small if cx.attr("auto_pad") == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return begin + end


def _conv_f64(cx, x, w, x_zp, w_zp):
    """ConvInteger's core: (x - x_zp) conv (w - w_zp) in float64 (exact), NC..., with
    the node's pads (or auto_pad), strides, dilations and groups."""
    auto_pad = cx.attr("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise cx.unsupported(f"auto_pad {auto_pad!r}")
    rank = x.shape.ndims
    if rank is None or not 3 <= rank <= 5 or w.shape.ndims != rank:
        raise cx.unsupported("input and weight must both be 3-D to 5-D")
    nsp = rank - 2
    strides = list(cx.attr("strides", [1] * nsp))
    dilations = list(cx.attr("dilations", [1] * nsp))
    xdims, wdims = known_shape(x, cx.op_type), known_shape(w, cx.op_type)
    if auto_pad.startswith("SAME"):
        pads = _same_pads(cx, xdims[2:], wdims[2:], strides, dilations)
    elif auto_pad == "VALID":
        pads = [0] * 2 * nsp
    else:
        pads = list(cx.attr("pads", [0] * 2 * nsp))
    xf = _int_operand(cx, x, x_zp, None)
    wf = _int_operand(cx, w, w_zp, 0)
    if any(pads):
        xf = P.pad(xf, [[0, 0], [0, 0]] + [[pads[i], pads[i + nsp]] for i in range(nsp)])
    group = int(cx.attr("group", 1))
    if group < 1 or not isinstance(xdims[1], int) or xdims[1] % group \
            or not isinstance(wdims[0], int) or wdims[0] % group:
        raise cx.unsupported(f"group {group} for {xdims[1]} input and {wdims[0]} output "
                             f"channels")
    fmt = {1: "NCW", 2: "NCHW", 3: "NCDHW"}[nsp]
    xs = P.split(xf, group, axis=1) if group > 1 else [xf]
    ws = P.split(wf, group, axis=0) if group > 1 else [wf]
    ys = [C.convolution(xg, P.transpose(wg, list(range(2, rank)) + [1, 0]), padding="VALID",
                        strides=strides, dilation_rate=dilations, data_format=fmt)
          for xg, wg in zip(xs, ws, strict=True)]
    return ys[0] if group == 1 else P.concat(ys, axis=1)


_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


@converter("ConvInteger", since=10, attrs=_CONV_ATTRS,
           note="1-D to 3-D; products summed in float64 (exact below 2**53)")
def conv_integer(cx):
    return [M.cast(_conv_f64(cx, cx.input(0), cx.input(1), cx.input(2), cx.input(3)),
                   T.int32)]


@converter("QLinearConv", since=10, attrs=_CONV_ATTRS,
           note="1-D to 3-D; products summed in float64 (exact below 2**53)")
def qlinear_conv(cx):
    acc = _conv_f64(cx, cx.input(0), cx.input(3), cx.input(2), cx.input(5))
    bias = cx.input(8)
    if bias is not None:
        acc = M.add(acc, P.reshape(M.cast(bias, T.float64),
                                   [-1] + [1] * (acc.shape.ndims - 2)))
    return [_requantize(acc, cx.input(1), cx.input(4), cx.input(6), cx.input(7), 1)]
