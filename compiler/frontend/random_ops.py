"""Random tensors of the TF1 API: random_normal, random_uniform, truncated_normal and
`set_random_seed`, on the Philox primitives `random_normal` / `random_uniform`.

Seeds follow TF1 (`get_seed`): with a graph seed (`set_random_seed`) and no op seed, the
op seed is the graph's next op seed, so a program builds the same numbers every time it
is built the same way; an op seed without a graph seed uses the graph seed 87654321;
with neither, both are drawn from `os.urandom` when the op is built. Every random op
draws fresh numbers on each `Session.run` (the run counter is part of the generator's
key); two ops with the same seeds draw the same numbers.

`truncated_normal` is a composite: the first normal draw is kept where it lies within 2
standard deviations and otherwise replaced by the next of `TRUNCATION_ROUNDS`
independent draws (distinct op seeds); the rare element still outside after the last
round (probability 0.0455**4, about 4.3e-6 per element) is clamped to the bound, so the
result always lies in [mean - 2*stddev, mean + 2*stddev].
"""

from __future__ import annotations

import os
from functools import partial

from ..ir import dtypes as T
from .core import (
    _is_tensor_like,
    constant,
    convert_to_tensor,
    dims_of,
    identity,
    known_shape,
    make,
    op_scope,
)
from .deferred import deferred, rank_unknown
from .graph import get_default_graph

DEFAULT_GRAPH_SEED = 87654321
TRUNCATION_ROUNDS = 4


def set_random_seed(seed):
    """Set the graph-level seed of the default graph (None clears it)."""
    get_default_graph().seed = None if seed is None else int(seed)


def get_seed(op_seed):
    """`(graph_seed, op_seed)` for a new random op, following TF1's rules."""
    graph = get_default_graph()
    if graph.seed is not None:
        return graph.seed, int(op_seed) if op_seed is not None else graph.next_op_seed()
    if op_seed is not None:
        return DEFAULT_GRAPH_SEED, int(op_seed)
    return _fresh_seed(), _fresh_seed()


def _fresh_seed() -> int:
    return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF


def _round_seed(op_seed: int, k: int) -> int:
    """A derived op seed for round k >= 1, in [2**31, 2**32): disjoint from the small
    counters `next_op_seed` hands out and from typical user seeds."""
    mixed = (op_seed * 0x9E3779B1 + k * 0x7FEB352D + 0x165667B1) & 0x7FFFFFFF
    return 0x80000000 | mixed


def _draw(kind, dims, dtype, graph_seed, op_seed, name=None):
    return make(kind, [], name=name, shape=dims, dtype=dtype, seed=graph_seed,
                op_seed=op_seed)


def _float_dtype(dtype, opname):
    dtype = T.as_dtype(dtype)
    if not dtype.is_float:
        raise TypeError(f"{opname}: dtype must be a float type, got {dtype.name}")
    return dtype


def _is_default(value, default):
    return not _is_tensor_like(value) and value == default


def _scale_shift(r, scale, shift, scope):
    """`r * scale + shift`, skipping the identity steps; the last op is named `scope`."""
    if not _is_default(scale, 1):
        r = make("mul", [r, _operand(scale, r.dtype)])
    if not _is_default(shift, 0):
        return make("add", [r, _operand(shift, r.dtype)], name=scope)
    return identity(r, name=scope)


def _operand(v, dtype):
    return convert_to_tensor(v) if _is_tensor_like(v) else constant(v, dtype=dtype)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=T.float32, seed=None, name=None):
    """Normally distributed values of `shape` (static, symbolic dims allowed)."""
    dtype = _float_dtype(dtype, "random_normal")
    dims = dims_of(shape, "random_normal")
    graph_seed, op_seed = get_seed(seed)
    with op_scope(name, "random_normal") as scope:
        r = _draw("random_normal", dims, dtype, graph_seed, op_seed)
        return _scale_shift(r, stddev, mean, scope)


def random_uniform(shape, minval=0, maxval=None, dtype=T.float32, seed=None, name=None):
    """Uniform values in [minval, maxval) of `shape`. Floats default to [0, 1); ints need
    static `maxval` and are `minval + floor(u * (maxval - minval))` for a float64 u."""
    dtype = T.as_dtype(dtype)
    dims = dims_of(shape, "random_uniform")
    graph_seed, op_seed = get_seed(seed)
    with op_scope(name, "random_uniform") as scope:
        if dtype.is_float:
            maxval = 1 if maxval is None else maxval
            r = _draw("random_uniform", dims, dtype, graph_seed, op_seed)
            if _is_default(minval, 0):
                return _scale_shift(r, maxval, 0, scope)
            span = make("sub", [_operand(maxval, dtype), _operand(minval, dtype)])
            return _scale_shift(r, span, minval, scope)
        return _int_uniform(dims, minval, maxval, dtype, graph_seed, op_seed, scope)


def _int_uniform(dims, minval, maxval, dtype, graph_seed, op_seed, scope):
    if not dtype.is_int:
        raise TypeError(f"random_uniform: unsupported dtype {dtype.name}")
    if maxval is None or _is_tensor_like(minval) or _is_tensor_like(maxval):
        raise ValueError("random_uniform: integer dtypes need static minval and maxval")
    if not int(minval) < int(maxval):
        raise ValueError(f"random_uniform: need minval < maxval, got {minval} >= {maxval}")
    u = _draw("random_uniform", dims, T.float64, graph_seed, op_seed)
    span = constant(float(int(maxval) - int(minval)), dtype=T.float64)
    offsets = make("cast", [make("floor", [make("mul", [u, span])])], dtype=dtype)
    return make("add", [offsets, constant(int(minval), dtype=dtype)], name=scope)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=T.float32, seed=None, name=None):
    """Normal values of `shape` restricted to within 2 standard deviations of the mean
    (see the module docstring for how, and the residual probability)."""
    dtype = _float_dtype(dtype, "truncated_normal")
    dims = dims_of(shape, "truncated_normal")
    graph_seed, op_seed = get_seed(seed)
    with op_scope(name, "truncated_normal") as scope:
        two = constant(2.0, dtype=dtype)
        r = _draw("random_normal", dims, dtype, graph_seed, op_seed)
        for k in range(1, TRUNCATION_ROUNDS):
            redraw = _draw("random_normal", dims, dtype, graph_seed, _round_seed(op_seed, k))
            outside = make("greater", [make("abs", [r]), two])
            r = make("select", [outside, redraw, r])
        r = make("minimum", [make("maximum", [r, make("neg", [two])]), two])
        return _scale_shift(r, stddev, mean, scope)


def _uniform_like(seeds, x):
    return _draw("random_uniform", tuple(x.shape), x.dtype, *seeds)


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """Zero each element with probability `rate` (= 1 - keep_prob) and scale the rest by
    `1 / keep_prob`; `noise_shape` (broadcastable to x) shares the decision across
    axes. A fresh mask is drawn on every run."""
    x = convert_to_tensor(x)
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout: pass exactly one of keep_prob and rate")
    keep = 1 - rate if keep_prob is None else keep_prob
    keep = convert_to_tensor(keep) if _is_tensor_like(keep) else convert_to_tensor(keep, x.dtype)
    if rank_unknown(keep):
        # TF1's keep_prob is a scalar (`tf.placeholder(tf.float32)` in most programs)
        keep = make("reshape", [keep], shape=())
    with op_scope(name, "dropout", [x]) as scope:
        if noise_shape is None and rank_unknown(x):
            # the mask is drawn once the rank is fed, with seeds fixed now (same numbers
            # in every compile); the draw has no gradient
            seeds = get_seed(seed)
            u = deferred(partial(_uniform_like, seeds), [x], x.dtype, name="random_uniform",
                         differentiable=False)
        else:
            shape = noise_shape if noise_shape is not None else tuple(known_shape(x, "dropout"))
            u = random_uniform(shape, dtype=x.dtype, seed=seed)
        mask = make("floor", [make("add", [u, keep])])
        return make("mul", [make("div", [x, keep]), mask], name=scope)
