"""ONNX pooling ops: MaxPool (with its Indices output), AveragePool, LpPool, the global
pools (GlobalAveragePool, GlobalMaxPool, GlobalLpPool) and MaxUnpool.

Windowed pools are flowc's `patches` primitive (compiler/ops/window.py: every window of a
channels-last input, as index arithmetic) folded over the window offsets with `maximum`
or `add`, as the TF pools of compiler/frontend/pooling.py: one loop kernel reading the
input directly. The NC... input is transposed to channels-last and the result back (the
transposes fuse into the loads and stores). ONNX's pads, auto_pad, ceil_mode and
dilations become the window's (lo, hi) padding (nn_window.py).
"""

from __future__ import annotations

import numpy as np

from ...frontend import manip_ops as A
from ...frontend import math_ops as M
from ...frontend import reduce_ops as R
from ...frontend.core import constant, make
from ...ops.window import _patches_ref, window_out_sizes
from ..table import converter
from .nn_window import (
    channels_first,
    channels_last,
    ints_attr,
    kernel_attr,
    spatial_dims,
    window_pads,
)

_POOL_ATTRS = ("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides")


def _window(cx, x):
    """(spatial extents, window attrs of `patches`) of a pool node."""
    spatial = spatial_dims(cx, x)
    nsp = len(spatial)
    kernel = kernel_attr(cx, nsp)
    strides = ints_attr(cx, "strides", nsp, 1)
    dilations = ints_attr(cx, "dilations", nsp, 1)
    pads = window_pads(cx, spatial, kernel, strides, dilations,
                       ceil=bool(cx.attr("ceil_mode", 0)))
    return spatial, {"window": kernel, "strides": strides, "padding": tuple(pads),
                     "rhs_dilation": dilations}


def _offsets(p, attrs):
    """The window elements of patches p [N, *O, *K, C], one [N, *O, C] tensor per window
    offset in row-major order."""
    nsp = len(attrs["window"])
    shape = p.shape
    size = tuple(shape[:1 + nsp]) + (1,) * nsp + (shape[-1],)
    out = []
    for k in np.ndindex(*attrs["window"]):
        s = make("slice", [p], begin=(0,) * (1 + nsp) + k + (0,), size=size,
                 stride=(1,) * len(shape))
        out.append(make("reshape", [s], shape=tuple(shape[:1 + nsp]) + (shape[-1],)))
    return out


def _fill(dtype):
    if dtype.is_float:
        return float("-inf")
    return float(np.iinfo(dtype.np).min)


def _max_pool(x, attrs):
    p = make("patches", [x], value=_fill(x.dtype), **attrs)
    m = None
    for s in _offsets(p, attrs):
        m = s if m is None else make("maximum", [m, s])
    return m


def _window_sum(x, attrs):
    p = make("patches", [x], value=0.0, **attrs)
    total = None
    for s in _offsets(p, attrs):
        total = s if total is None else make("add", [total, s])
    return total


def _max_indices(cx, x, y, spatial, attrs):
    """int64 [N, *O, C]: the flat NC... index of each window's first maximum (ONNX's
    Indices output; storage_order=1 counts the spatial positions column-major)."""
    shape = x.shape.as_list()
    if not all(isinstance(d, int) for d in shape):
        raise cx.unsupported(f"the Indices output needs the input's shape {shape} known")
    n, c = shape[0], shape[-1]
    order = "F" if int(cx.attr("storage_order", 0)) else "C"
    where = np.arange(int(np.prod(spatial)), dtype=np.int64).reshape(spatial, order=order)
    pos = constant(where.reshape((1, *spatial, 1)).astype(np.float64))
    slices = _offsets(make("patches", [pos], value=-1.0, **attrs), attrs)
    xs = _offsets(make("patches", [x], value=_fill(x.dtype), **attrs), attrs)
    found = constant(np.asarray(0.0))
    for k in reversed(range(len(xs))):
        found = make("select", [make("equal", [xs[k], y]), slices[k], found])
    nsp = len(spatial)
    base = (np.arange(n)[:, None] * c + np.arange(c)[None, :]) * int(np.prod(spatial))
    base = constant(base.reshape((n,) + (1,) * nsp + (c,)).astype(np.float64))
    return M.cast(M.add(found, base), "int64")


@converter("MaxPool", attrs=_POOL_ATTRS + ("storage_order",),
           note="the Indices output needs a static input shape")
def max_pool(cx):
    x = cx.input(0)
    spatial, attrs = _window(cx, x)
    xl = channels_last(x)
    y = _max_pool(xl, attrs)
    outs = [channels_first(y)]
    if len(cx.node.output) > 1 and cx.node.output[1]:
        outs.append(channels_first(_max_indices(cx, xl, y, spatial, attrs)))
    return outs


@converter("AveragePool", attrs=_POOL_ATTRS + ("count_include_pad",))
def average_pool(cx):
    x = cx.input(0)
    if not x.dtype.is_float:
        raise cx.unsupported(f"AveragePool of {x.dtype.name} (floats only)")
    spatial, attrs = _window(cx, x)
    if int(cx.attr("count_include_pad", 0)):
        # the divisor counts the explicit padding, not the extra end elements of ceil_mode
        explicit = window_pads(cx, spatial, attrs["window"], attrs["strides"],
                               attrs["rhs_dilation"])
        grown = [s + lo + hi for s, (lo, hi) in zip(spatial, explicit)]
        extra = [(0, h - e[1]) for h, e in zip((p[1] for p in attrs["padding"]), explicit)]
        counts = _patches_ref(np.ones((1, *grown, 1)), value=0.0,
                              **{**attrs, "padding": tuple(extra)})
    else:
        counts = _patches_ref(np.ones((1, *spatial, 1)), value=0.0, **attrs)
    nsp = len(spatial)
    counts = counts.sum(axis=tuple(range(1 + nsp, 1 + 2 * nsp)))
    assert list(counts.shape[1:-1]) == window_out_sizes(spatial, attrs)
    div = (np.asarray(counts.flat[0]) if np.all(counts == counts.flat[0]) else counts)
    y = M.divide(_window_sum(channels_last(x), attrs), constant(div.astype(x.dtype.np)))
    return [channels_first(y)]


@converter("LpPool", attrs=_POOL_ATTRS + ("p",))
def lp_pool(cx):
    x = cx.input(0)
    if not x.dtype.is_float:
        raise cx.unsupported(f"LpPool of {x.dtype.name} (floats only)")
    _, attrs = _window(cx, x)
    p = float(cx.attr("p", 2))
    dt = x.dtype.np
    xl = channels_last(x)
    powered = M.multiply(xl, xl) if p == 2 else M.pow(M.abs(xl), constant(np.asarray(p, dt)))
    total = _window_sum(powered, attrs)
    y = M.sqrt(total) if p == 2 else M.pow(total, constant(np.asarray(1 / p, dt)))
    return [channels_first(y)]


def _global(cx, reduce, x=None):
    x = cx.input(0) if x is None else x
    r = x.shape.ndims
    if r is None or r < 3:
        raise cx.unsupported(f"input X must have a known rank >= 3, got "
                             f"{None if r is None else x.shape.as_list()}")
    return [reduce(x, list(range(2, r)), keepdims=True)]


@converter("GlobalAveragePool")
def global_average_pool(cx):
    return _global(cx, R.reduce_mean)


@converter("GlobalMaxPool")
def global_max_pool(cx):
    return _global(cx, R.reduce_max)


@converter("GlobalLpPool", attrs=("p",))
def global_lp_pool(cx):
    x = cx.input(0)
    if not x.dtype.is_float:
        raise cx.unsupported(f"GlobalLpPool of {x.dtype.name} (floats only)")
    p = float(cx.attr("p", 2))
    dt = x.dtype.np
    powered = M.multiply(x, x) if p == 2 else M.pow(M.abs(x), constant(np.asarray(p, dt)))
    (total,) = _global(cx, R.reduce_sum, powered)
    return [M.sqrt(total) if p == 2 else M.pow(total, constant(np.asarray(1 / p, dt)))]


@converter("MaxUnpool", attrs=("kernel_shape", "pads", "strides"), static=(2,),
           note="output_shape must be known at import; X's shape static")
def max_unpool(cx):
    x, idx = cx.input(0), cx.input(1)
    shape = x.shape.as_list() if x.shape.ndims is not None else None
    if shape is None or len(shape) < 3 or not all(isinstance(d, int) for d in shape):
        raise cx.unsupported(f"input X must have a known static shape [N, C, ...], got "
                             f"{shape}")
    nsp = len(shape) - 2
    kernel = kernel_attr(cx, nsp)
    strides = ints_attr(cx, "strides", nsp, 1)
    flat = ints_attr(cx, "pads", 2 * nsp, 0)
    default = shape[:2] + [(shape[2 + i] - 1) * strides[i] - flat[i] - flat[nsp + i]
                           + kernel[i] for i in range(nsp)]
    out = cx.static_ints(2, default)
    if len(out) != nsp + 2 or list(out[:2]) != shape[:2] or any(
            o < d for o, d in zip(out[2:], default[2:])):
        raise cx.unsupported(f"output_shape {out} must be [N, C, spatial...] with X's "
                             f"N and C {shape[:2]} and spatial extents >= {default[2:]}")
    idx = A.reshape(idx, [-1])
    if list(out) != default:
        # the indices count positions of the pooled input (the default shape): the same
        # coordinates in the larger output
        dt = idx.dtype.np
        rest, new, step = idx, None, 1
        for d, o in zip(reversed(default[2:]), reversed(out[2:])):
            coord = M.mod(rest, constant(np.asarray(d, dt)))
            rest = M.floordiv(rest, constant(np.asarray(d, dt)))
            term = M.multiply(coord, constant(np.asarray(step, dt)))
            new = term if new is None else M.add(new, term)
            step *= o
        idx = M.add(new, M.multiply(rest, constant(np.asarray(step, dt))))
    y = make("scatter_add", [A.reshape(x, [-1]), idx], shape=(int(np.prod(out)),), axis=0)
    return [A.reshape(y, list(out))]
