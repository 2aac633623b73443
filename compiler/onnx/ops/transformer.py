"""Softmax, normalization and attention ONNX ops: Softmax, LogSoftmax, Hardmax,
LayerNormalization, RMSNormalization, GroupNormalization, MeanVarianceNormalization,
LpNormalization, SwiGLU, CausalConvWithState (attention ops: compiler/onnx/ops/attention.py).

All are compositions of flowc frontend functions (reductions, elementwise math, one_hot,
reshape); no op here needs a primitive of its own. Normalizations compute in the
`stash_type` precision (float32 by default: float16 inputs are widened, as ONNX says)
and cast the result back to the input's type.
"""

from __future__ import annotations

import numpy as np

from ...frontend import array_ops as A
from ...frontend import core
from ...frontend import manip_ops as MO
from ...frontend import math_ops as M
from ...frontend import nn as N
from ...frontend import reduce_ops as R
from ...ir import dtypes as T
from .. import proto
from ..table import converter


def rank_of(cx, x, what="input 0"):
    """The rank of `x`, or `cx.unsupported` naming the input when it is unknown."""
    if x.shape.ndims is None:
        raise cx.unsupported(f"{what} has unknown rank (give the graph input a shape)")
    return x.shape.ndims


def axis_of(cx, axis, rank, what="axis"):
    if not -rank <= axis < rank:
        raise cx.unsupported(f"{what}={axis} is out of range for an input of rank {rank}")
    return axis % rank


def const(value, like):
    """A scalar constant of `like`'s dtype."""
    return core.constant(np.asarray(value, dtype=like.dtype.np))


def static_dim(cx, x, axis, what):
    d = list(x.shape)[axis]
    if not isinstance(d, int):
        raise cx.unsupported(f"{what}: dim {axis} of the input must be known at import "
                             f"(it is {d})")
    return d


# -- softmax family -------------------------------------------------------------------

def _softmax_axes(cx, x):
    """The axes the op normalizes over: the one `axis` (default -1) from opset 13 on;
    before, the input is coerced to 2-D at `axis` (default 1), so all axes from it on."""
    rank = rank_of(cx, x)
    if rank == 0:
        raise cx.unsupported("input 0 is a scalar (rank 0)")
    if cx.opset >= 13:
        return [axis_of(cx, int(cx.attr("axis", -1)), rank)]
    return list(range(axis_of(cx, int(cx.attr("axis", 1)), rank), rank))


def _float_input(cx, x):
    if x.dtype.kind != "float":
        raise cx.unsupported(f"input 0 has element type {x.dtype.name}; {cx.op_type} "
                             f"takes float16, float32 or float64")
    return x


def _normalized(cx, one_axis, log):
    """Softmax (`log=False`) or LogSoftmax over the op's axes: `one_axis(x, axis)` when
    there is one, else the max-shifted form over all of them (opsets < 13)."""
    x = _float_input(cx, cx.input(0))
    axes = _softmax_axes(cx, x)
    if len(axes) == 1:
        return [one_axis(x, axis=axes[0])]
    z = M.subtract(x, R.reduce_max(x, axis=axes, keepdims=True))
    e = M.exp(z)
    total = R.reduce_sum(e, axis=axes, keepdims=True)
    return [M.subtract(z, M.log(total)) if log else M.divide(e, total)]


@converter("Softmax", attrs=("axis",),
           note="opsets < 13: the input is coerced to 2-D at `axis` (default 1)")
def softmax(cx):
    return _normalized(cx, N.softmax, log=False)


@converter("LogSoftmax", attrs=("axis",),
           note="opsets < 13: the input is coerced to 2-D at `axis` (default 1)")
def log_softmax(cx):
    return _normalized(cx, N.log_softmax, log=True)


@converter("Hardmax", attrs=("axis",),
           note="1 at the first maximum along the axis; the normalized axes' extents "
                "must be known at import")
def hardmax(cx):
    x = cx.input(0)
    axes = _softmax_axes(cx, x)
    if x.dtype.kind == "bool":
        raise cx.unsupported("input 0 has element type bool")
    shape = list(x.shape)
    depth = 1
    for a in axes:
        depth *= static_dim(cx, x, a, "Hardmax")
    if len(axes) == 1:
        return [A.one_hot(R.argmax(x, axis=axes[0]), depth, axis=axes[0], dtype=x.dtype)]
    flat = MO.reshape(x, shape[:axes[0]] + [depth])
    hot = A.one_hot(R.argmax(flat, axis=axes[0]), depth, axis=axes[0], dtype=x.dtype)
    return [MO.reshape(hot, shape)]


# -- normalizations -------------------------------------------------------------------

def stash_dtype(cx, x):
    """The dtype the normalization computes in: `stash_type` (1 = float32, the default;
    11 = float64), never narrower than the input."""
    code = int(cx.attr("stash_type", 1))
    try:
        dt = T.as_dtype(proto.onnx().helper.tensor_dtype_to_np_dtype(code))
    except Exception:
        dt = None
    if dt not in (T.float32, T.float64):
        raise cx.unsupported(f"stash_type={code}: flowc computes normalizations in float32 "
                             f"(1) or float64 (11)")
    return T.float64 if T.float64 in (dt, x.dtype) else dt


def _cast(x, dtype):
    return x if x.dtype is dtype else M.cast(x, dtype)


@converter("LayerNormalization", since=17, attrs=("axis", "epsilon", "stash_type"),
           note="the Mean and InvStdDev outputs are in the stash_type precision")
def layer_normalization(cx):
    x = _float_input(cx, cx.input(0))
    rank = rank_of(cx, x)
    axis = axis_of(cx, int(cx.attr("axis", -1)), rank)
    axes = list(range(axis, rank))
    dt = stash_dtype(cx, x)
    xs = _cast(x, dt)
    mean = R.reduce_mean(xs, axis=axes, keepdims=True)
    d = M.subtract(xs, mean)
    var = R.reduce_mean(M.multiply(d, d), axis=axes, keepdims=True)
    inv = M.rsqrt(M.add(var, const(cx.attr("epsilon", 1e-5), var)))
    y = M.multiply(_cast(M.multiply(d, inv), x.dtype), cx.input(1))
    if cx.has(2):
        y = M.add(y, cx.input(2))
    return [y, mean, inv]


@converter("RMSNormalization", since=23, attrs=("axis", "epsilon", "stash_type"))
def rms_normalization(cx):
    x = _float_input(cx, cx.input(0))
    rank = rank_of(cx, x)
    axes = list(range(axis_of(cx, int(cx.attr("axis", -1)), rank), rank))
    xs = _cast(x, stash_dtype(cx, x))
    ms = R.reduce_mean(M.multiply(xs, xs), axis=axes, keepdims=True)
    inv = M.rsqrt(M.add(ms, const(cx.attr("epsilon", 1e-5), ms)))
    return [M.multiply(_cast(M.multiply(xs, inv), x.dtype), cx.input(1))]


@converter("GroupNormalization", since=21, attrs=("num_groups", "epsilon", "stash_type"),
           note="scale and bias per channel (opset 21); GroupNormalization-18's per-group "
                "form is deprecated by ONNX (onnx.checker refuses it). The channel count "
                "must be known at import")
def group_normalization(cx):
    x = _float_input(cx, cx.input(0))
    rank = rank_of(cx, x)
    if rank < 2:
        raise cx.unsupported(f"input 0 has rank {rank}; GroupNormalization needs (N, C, ...)")
    if "num_groups" not in cx.attrs:
        raise cx.unsupported("the num_groups attribute is required")
    g = int(cx.attr("num_groups"))
    c = static_dim(cx, x, 1, "GroupNormalization")
    if g <= 0 or c % g:
        raise cx.unsupported(f"num_groups={g} does not divide the {c} channels")
    shape = list(x.shape)
    # [N, G, C/G, *spatial]: normalize over all axes from 2 on.
    grouped = MO.reshape(_cast(x, stash_dtype(cx, x)), [shape[0], g, c // g] + shape[2:])
    axes = list(range(2, rank + 1))
    mean = R.reduce_mean(grouped, axis=axes, keepdims=True)
    d = M.subtract(grouped, mean)
    var = R.reduce_mean(M.multiply(d, d), axis=axes, keepdims=True)
    normed = M.multiply(d, M.rsqrt(M.add(var, const(cx.attr("epsilon", 1e-5), var))))
    per = [c] + [1] * (rank - 2)
    y = MO.reshape(_cast(normed, x.dtype), shape)
    return [M.add(M.multiply(y, MO.reshape(cx.input(1), per)), MO.reshape(cx.input(2), per))]


@converter("MeanVarianceNormalization", since=9, attrs=("axes",),
           note="(X - mean) / (sqrt(E[X^2] - mean^2) + 1e-9) over `axes` (default 0, 2, 3)")
def mean_variance_normalization(cx):
    x = _float_input(cx, cx.input(0))
    rank = rank_of(cx, x)
    axes = sorted({axis_of(cx, int(a), rank, "axes") for a in cx.attr("axes", [0, 2, 3])})
    mean = R.reduce_mean(x, axis=axes, keepdims=True)
    var = M.subtract(R.reduce_mean(M.multiply(x, x), axis=axes, keepdims=True),
                     M.multiply(mean, mean))
    std = M.add(M.sqrt(var), const(1e-9, var))
    return [M.divide(M.subtract(x, mean), std)]


@converter("LpNormalization", attrs=("axis", "p"),
           note="p = 1 or 2; a zero norm gives 0")
def lp_normalization(cx):
    x = _float_input(cx, cx.input(0))
    rank = rank_of(cx, x)
    axis = axis_of(cx, int(cx.attr("axis", -1)), rank)
    p = int(cx.attr("p", 2))
    if p == 1:
        norm = R.reduce_sum(M.abs(x), axis=[axis], keepdims=True)
    elif p == 2:
        norm = M.sqrt(R.reduce_sum(M.multiply(x, x), axis=[axis], keepdims=True))
    else:
        raise cx.unsupported(f"p={p}: LpNormalization is defined for p = 1 and 2")
    zero = M.equal(norm, const(0, norm))
    safe = MO.where_v2(zero, const(1, norm), norm)
    return [MO.where_v2(zero, const(0, x), M.divide(x, safe))]


# -- gated activations and the causal depthwise convolution ---------------------------

@converter("SwiGLU", since=28, attrs=("alpha",),
           note="A * sigmoid(alpha * A) * B; A and B of one shape and type")
def swiglu(cx):
    a, b = _float_input(cx, cx.input(0)), cx.input(1)
    if b.dtype is not a.dtype:
        raise cx.unsupported(f"inputs 0 and 1 have types {a.dtype.name} and {b.dtype.name}")
    if list(a.shape) != list(b.shape):
        raise cx.unsupported(f"inputs 0 and 1 have shapes {list(a.shape)} and "
                             f"{list(b.shape)}; SwiGLU does not broadcast")
    gate = M.sigmoid(M.multiply(a, const(cx.attr("alpha", 1.0), a)))
    return [M.multiply(M.multiply(a, gate), b)]


@converter("CausalConvWithState", since=27, attrs=("activation",),
           note="depthwise causal conv1d over (B, C, L) with a (C, 1, k) weight, the "
                "left context from past_state (else zeros); activation none/silu/swish; "
                "k must be known at import")
def causal_conv_with_state(cx):
    x, w = _float_input(cx, cx.input(0)), cx.input(1)
    act = cx.attr("activation", "none")
    act = act.decode() if isinstance(act, bytes) else str(act)
    if act not in ("none", "silu", "swish"):
        raise cx.unsupported(f"activation={act!r} (none, silu or swish)")
    if rank_of(cx, x) != 3 or rank_of(cx, w, "input 1 (weight)") != 3:
        raise cx.unsupported("input (B, C, L) and weight (C, 1, k) must be rank 3")
    k = static_dim(cx, w, 2, "input 1 (weight)")
    b, c, _ = list(x.shape)
    if k > 1:
        past = cx.input(3) if cx.has(3) else A.zeros([b, c, k - 1], dtype=x.dtype)
        padded = MO.concat([past, x], axis=2)
    else:
        padded = x
    # float16 convolves in float32 and rounds once (as the reference), not per tap
    wide = T.float32 if x.dtype is T.float16 else x.dtype
    xs, ws = _cast(padded, wide), _cast(w, wide)
    y = None
    for i in range(k):   # out[t] = sum_i w[:, 0, i] * padded[t + i]
        stop = i - (k - 1)
        tap = xs[:, :, i:(stop if stop else None)]
        term = M.multiply(tap, MO.reshape(ws[:, 0, i], [c, 1]))
        y = term if y is None else M.add(y, term)
    if cx.has(2):
        y = M.add(y, MO.reshape(_cast(cx.input(2), wide), [c, 1]))
    y = _cast(y, x.dtype)
    if act != "none":
        y32 = _cast(y, wide)
        y = _cast(M.multiply(y32, M.sigmoid(y32)), x.dtype)
    state = padded[:, :, -(k - 1):] if k > 1 else padded[:, :, 0:0]
    return [y, state]
