"""Sources, contraction and state primitives.

Sources: placeholder (fed), constant, variable (the value of a variable at this point of
the run), iota, random_uniform / random_normal (Philox, see `philox.py`), shape (the
dims of its input as an int tensor). Contraction: matmul with broadcast batch dims.
State: assign(value) and assign_add(current, delta) write a variable; their output is
the new value. Placeholders and variables have no `ref`: the interpreter supplies their
values.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from ..ir import dtypes as T
from ..ir.types import TensorType
from . import numerics, philox
from .table import OpDef, register


def _no_ref(*args, **kwargs):
    raise RuntimeError("this op is evaluated by the interpreter, not by a reference function")


def _declared(in_types, attrs, ctx):
    return TensorType(attrs["dtype"], attrs["shape"])


register(OpDef("placeholder", 0, {"name": "str", "dtype": "dtype", "shape": "dims_opt"},
               _declared, _no_ref, "source", parameter=True, differentiable=False,
               foldable=False))
register(OpDef("variable", 0, {"var": "str", "dtype": "dtype", "shape": "dims"},
               _declared, _no_ref, "source", stateful=True, reads_variable=True,
               parameter=True, differentiable=False))


def _constant_infer(in_types, attrs, ctx):
    arr = attrs["value"].array
    return TensorType(T.as_dtype(arr.dtype), tuple(int(d) for d in arr.shape))


register(OpDef("constant", 0, {"value": "value"}, _constant_infer,
               lambda value: np.array(value.array), "source", differentiable=False,
               foldable=False))


def _iota_infer(in_types, attrs, ctx):
    shape = tuple(attrs["shape"])
    if not 0 <= attrs["axis"] < max(len(shape), 1):
        raise ValueError(f"iota: axis {attrs['axis']} out of range for rank {len(shape)}")
    return TensorType(attrs["dtype"], shape)


def _iota_ref(shape, axis, dtype):
    shape = tuple(shape)
    idx = np.arange(shape[axis]).reshape([-1 if i == axis else 1 for i in range(len(shape))])
    return numerics.cast(np.broadcast_to(idx, shape), dtype.np)


register(OpDef("iota", 0, {"shape": "dims", "axis": "int", "dtype": "dtype"}, _iota_infer,
               _iota_ref, "source", differentiable=False))


def _random_infer(in_types, attrs, ctx):
    if not attrs["dtype"].is_float:
        raise TypeError(f"random ops draw floats, not {attrs['dtype'].name}")
    return TensorType(attrs["dtype"], tuple(attrs["shape"]))


def _random_ref(kind):
    def ref(shape, dtype, seed, op_seed, counter=0):
        return philox.draw(kind, tuple(shape), dtype.np, op_seed, seed, counter)
    return ref


_RANDOM_ATTRS = {"shape": "dims", "dtype": "dtype", "seed": "int", "op_seed": "int"}
register(OpDef("random_uniform", 0, _RANDOM_ATTRS, _random_infer, _random_ref("uniform"),
               "source", stateful=True, needs_token=True, needs_counter=True,
               differentiable=False))
register(OpDef("random_normal", 0, _RANDOM_ATTRS, _random_infer, _random_ref("normal"),
               "source", stateful=True, needs_token=True, needs_counter=True,
               differentiable=False))


def _shape_infer(in_types, attrs, ctx):
    (t,) = in_types
    if attrs["dtype"] not in T.INDEX_INTS:
        raise TypeError("shape: out_type must be int32 or int64")
    if t.shape is None:
        return TensorType(attrs["dtype"], (D.DimExpr.atom(ctx.table.new_symbol("rank")),))
    return TensorType(attrs["dtype"], (len(t.shape),))


register(OpDef("shape", 1, {"dtype": "dtype"}, _shape_infer,
               lambda x, dtype: np.array(x.shape, dtype.np), "source", differentiable=False,
               own_kernel=True))


# contraction --------------------------------------------------------------------------
def matmul_dims(a, b, ta, tb):
    """(batch_a, m, k) and (batch_b, k, n) of matmul operands after optional transposes."""
    m, ka = (a[-1], a[-2]) if ta else (a[-2], a[-1])
    kb, n = (b[-1], b[-2]) if tb else (b[-2], b[-1])
    return a[:-2], b[:-2], m, ka, kb, n


def _matmul_infer(in_types, attrs, ctx):
    a, b = in_types
    if a.dtype is not b.dtype:
        raise TypeError(f"matmul: operands have different dtypes {a.dtype.name} and "
                        f"{b.dtype.name}")
    if a.dtype.is_bool:
        raise TypeError("matmul does not accept bool")
    if a.shape is None or b.shape is None:
        return TensorType(a.dtype, None)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise D.ShapeError(f"matmul: operands must have rank >= 2, got shapes "
                           f"{list(a.shape)} and {list(b.shape)}")
    ba, bb, m, ka, kb, n = matmul_dims(a.shape, b.shape, attrs["transpose_a"],
                                       attrs["transpose_b"])
    try:
        ctx.unify(ka, kb)
    except D.ShapeError:
        raise D.ShapeError(f"matmul: inner dimensions differ: {list(a.shape)} @ "
                           f"{list(b.shape)} ({ka} vs {kb})") from None
    batch = ctx.broadcast([ba, bb])
    return TensorType(a.dtype, tuple(batch) + (m, n))


def _matmul_ref(a, b, transpose_a, transpose_b):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    with np.errstate(all="ignore"):
        return np.matmul(a, b)


register(OpDef("matmul", 2, {"transpose_a": "bool", "transpose_b": "bool"}, _matmul_infer,
               numerics.in_compute_dtype(_matmul_ref), "contraction"))


# state ----------------------------------------------------------------------------------
_VAR_ATTRS = {"var": "str", "dtype": "dtype", "shape": "dims"}


def _assign_infer(name):
    def infer(in_types, attrs, ctx):
        t = TensorType(attrs["dtype"], tuple(attrs["shape"]))
        value = in_types[-1]
        if value.dtype is not t.dtype:
            raise TypeError(f"{name} to variable {attrs['var']!r}: value has dtype "
                            f"{value.dtype.name}, the variable is {t.dtype.name}")
        if value.shape is not None:
            if len(value.shape) != len(t.shape):
                raise D.ShapeError(f"{name} to variable {attrs['var']!r}: value has shape "
                                   f"{list(value.shape)}, the variable is {list(t.shape)}")
            for a, b in zip(value.shape, t.shape):
                try:
                    ctx.unify(a, b)
                except D.ShapeError:
                    raise D.ShapeError(f"{name} to variable {attrs['var']!r}: value has shape"
                                       f" {list(value.shape)}, the variable is "
                                       f"{list(t.shape)}") from None
        return t
    return infer


register(OpDef("assign", 1, _VAR_ATTRS, _assign_infer("assign"),
               lambda value, var, dtype, shape: np.array(value), "state",
               stateful=True, writes_variable=True, needs_token=True, differentiable=False))


def _assign_add_ref(current, delta, var, dtype, shape):
    with np.errstate(all="ignore"):
        return numerics.in_compute_dtype(np.add)(current, delta).astype(current.dtype)


register(OpDef("assign_add", 2, _VAR_ATTRS, _assign_infer("assign_add"), _assign_add_ref,
               "state", stateful=True, writes_variable=True, needs_token=True,
               differentiable=False))
