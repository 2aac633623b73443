"""Reductions: reduce_sum/max/min/prod over any axes (keepdims), argmax/argmin.

`axes` is a sorted tuple of non-negative axes, or None for all axes. Reducing an empty
axis gives the identity: 0 (sum), 1 (prod), -inf/lowest (max), +inf/highest (min);
argmax/argmin of an empty axis give 0. Sums of integers wrap.
"""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as T
from ..ir.types import TensorType
from . import numerics
from .table import OpDef, get, register


def normalize_axes(axes, rank, opname="reduce"):
    if axes is None:
        return tuple(range(rank))
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"{opname}: axis {a} is out of range for a tensor of rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"{opname}: repeated axis in {tuple(axes)}")
    return tuple(sorted(out))


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_infer(name):
    def infer(in_types, attrs, ctx):
        (t,) = in_types
        if t.dtype.is_bool:
            raise TypeError(f"{name} does not accept bool; cast to a number first")
        if t.shape is None:
            # reducing every axis without keepdims is a scalar whatever the rank
            full = attrs["axes"] is None and not attrs["keepdims"]
            return TensorType(t.dtype, () if full else None)
        axes = normalize_axes(attrs["axes"], len(t.shape), name)
        return TensorType(t.dtype, reduced_shape(t.shape, axes, attrs["keepdims"]))
    return infer


def identity_of(name, dtype):
    """The value an empty reduction gives (its row's `identity`), as a numpy scalar of
    `dtype`."""
    npd = np.dtype(dtype)
    identity = get(name).identity
    if identity == "zero":
        return npd.type(0)
    if identity == "one":
        return npd.type(1)
    big = np.inf if npd.kind == "f" else np.iinfo(npd).max
    small = -np.inf if npd.kind == "f" else np.iinfo(npd).min
    return npd.type(small if identity == "lowest" else big)


def _ieee_zero_sign(name, x, out, axes, keepdims):
    """The sign of a zero max/min as IEEE 754-2019 (and the generated code's combine)
    gives it whatever the order: max is +0.0 when any +0.0 is in the slice, min is -0.0
    when any -0.0 is; numpy's reductions keep whichever zero they met first."""
    wanted = np.signbit(x) if name == "reduce_min" else ~np.signbit(x)
    found = np.any((x == 0) & wanted, axis=axes, keepdims=keepdims)
    if name == "reduce_min":
        return np.where(out == 0, np.where(found, -0.0, 0.0), out).astype(x.dtype)
    return np.where(out == 0, np.where(found, 0.0, -0.0), out).astype(x.dtype)


def _reduce_ref(name, fn):
    def ref(x, axes, keepdims):
        axes = None if axes is None else tuple(axes)
        with np.errstate(all="ignore"):
            if name in ("reduce_max", "reduce_min"):
                out = fn(x, axis=axes, keepdims=keepdims, initial=identity_of(name, x.dtype))
                if x.dtype.kind == "f":
                    out = _ieee_zero_sign(name, x, out, axes, keepdims)
            else:
                out = fn(x, axis=axes, keepdims=keepdims, dtype=x.dtype)
        return np.asarray(out, dtype=x.dtype)
    return ref


_REDUCTIONS = [
    # name, numpy reference, combine op, identity
    ("reduce_sum", np.sum, "add", "zero"),
    ("reduce_prod", np.prod, "mul", "one"),
    ("reduce_max", np.max, "maximum", "lowest"),
    ("reduce_min", np.min, "minimum", "highest"),
]

for _name, _fn, _combine, _identity in _REDUCTIONS:
    register(OpDef(_name, 1, {"axes": "axes", "keepdims": "bool"}, _reduce_infer(_name),
                   numerics.in_compute_dtype(_reduce_ref(_name, _fn)), "reduce",
                   differentiable=True, combine=_combine, identity=_identity))


def _arg_infer(name):
    def infer(in_types, attrs, ctx):
        (t,) = in_types
        if t.dtype.is_bool:
            raise TypeError(f"{name} does not accept bool")
        if attrs["dtype"] not in T.INDEX_INTS:
            raise TypeError(f"{name}: output_type must be int32 or int64")
        if t.shape is None:
            return TensorType(attrs["dtype"], None)
        (axis,) = normalize_axes((attrs["axis"],), len(t.shape), name)
        return TensorType(attrs["dtype"], tuple(d for i, d in enumerate(t.shape) if i != axis))
    return infer


def _arg_ref(fn):
    def ref(x, axis, dtype):
        axis = axis % x.ndim
        if x.shape[axis] == 0:
            return np.zeros(x.shape[:axis] + x.shape[axis + 1:], dtype.np)
        return fn(x, axis=axis).astype(dtype.np)
    return ref


register(OpDef("argmax", 1, {"axis": "int", "dtype": "dtype"}, _arg_infer("argmax"),
               _arg_ref(np.argmax), "reduce", differentiable=False))
register(OpDef("argmin", 1, {"axis": "int", "dtype": "dtype"}, _arg_infer("argmin"),
               _arg_ref(np.argmin), "reduce", differentiable=False))
