"""Elementwise primitives: unary, binary, select and cast.

Binary ops broadcast numpy-style (with the symbol rule of `types.broadcast_shapes`) and
require equal dtypes; the frontend converts Python scalars first. Comparisons return
bool. Float-only ops reject ints with a TypeError naming the dtype.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import dtypes as T
from ..ir.types import TensorType
from . import numerics
from .table import OpDef, register


def _check_kinds(name, dtype, kinds):
    if dtype.kind not in kinds:
        raise TypeError(f"{name} does not accept {dtype.name} (accepts: "
                        f"{', '.join(sorted(kinds))} dtypes)")


def _unary_infer(name, kinds, result_bool=False):
    def infer(in_types, attrs, ctx):
        (t,) = in_types
        _check_kinds(name, t.dtype, kinds)
        return TensorType(T.bool_ if result_bool else t.dtype, t.shape)
    return infer


def _binary_infer(name, kinds, result_bool=False):
    def infer(in_types, attrs, ctx):
        a, b = in_types
        if a.dtype is not b.dtype:
            raise TypeError(f"{name}: operands have different dtypes {a.dtype.name} and "
                            f"{b.dtype.name}; cast one of them")
        _check_kinds(name, a.dtype, kinds)
        shape = ctx.broadcast([a.shape, b.shape])
        return TensorType(T.bool_ if result_bool else a.dtype, shape)
    return infer


NUM = {"float", "int"}
FLOAT = {"float"}
INT = {"int"}
ANY = {"float", "int", "bool"}
BOOL = {"bool"}


def _sigmoid(x):
    """1 / (1 + exp(-x)), as exp(x) / (1 + exp(x)) for x < 0 so that exp never overflows
    into a zero where the result is a (subnormal) positive number."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _rsqrt(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1 / np.sqrt(x)).astype(x.dtype)


_erf64 = np.vectorize(math.erf, otypes=[np.float64])


def _erf(x):
    """The error function (numpy has none): math.erf per element, in float64."""
    return _erf64(x).astype(x.dtype)


def _quiet(fn):
    def wrapped(*a):
        with np.errstate(all="ignore"):
            return fn(*a)
    wrapped.__name__ = fn.__name__
    return wrapped


_UNARY = [
    # name, accepted kinds, numpy reference, differentiable
    ("neg", NUM, np.negative, True),
    ("abs", NUM, np.abs, True),
    ("sign", NUM, numerics.float_sign, True),
    ("exp", FLOAT, np.exp, True),
    ("expm1", FLOAT, np.expm1, True),
    ("log", FLOAT, np.log, True),
    ("log1p", FLOAT, np.log1p, True),
    ("sqrt", FLOAT, np.sqrt, True),
    ("rsqrt", FLOAT, _rsqrt, True),
    ("tanh", FLOAT, np.tanh, True),
    ("sigmoid", FLOAT, _sigmoid, True),
    ("sin", FLOAT, np.sin, True),
    ("cos", FLOAT, np.cos, True),
    ("floor", FLOAT, np.floor, True),
    ("ceil", FLOAT, np.ceil, True),
    ("erf", FLOAT, _erf, True),
    ("atan", FLOAT, np.arctan, True),
    ("stop_gradient", ANY, np.array, False),
    ("invert", INT, np.invert, False),
]

for _name, _kinds, _fn, _diff in _UNARY:
    _ref = _fn if _name == "stop_gradient" else _quiet(_fn)
    register(OpDef(_name, 1, {}, _unary_infer(_name, _kinds),
                   numerics.in_compute_dtype(_ref), "elementwise", kir="unary",
                   differentiable=_diff))

register(OpDef("logical_not", 1, {}, _unary_infer("logical_not", BOOL), np.logical_not,
               "elementwise", kir="unary", differentiable=False))


def _div(a, b):
    if a.dtype.kind in "iu":
        return numerics.int_floordiv(a, b)
    with np.errstate(all="ignore"):
        return np.true_divide(a, b).astype(a.dtype)


def _mod(a, b):
    if a.dtype.kind in "iu":
        return numerics.int_mod(a, b)
    with np.errstate(all="ignore"):
        return np.remainder(a, b).astype(a.dtype)


def _pow(a, b):
    """C's pow (IEEE: pow(-0.0, 0.5) is +0.0, pow(-inf, 0.5) is +inf). The exponent is
    made a full contiguous array: numpy turns a scalar (or stride-0) exponent of 0.5
    into sqrt, which gives -0.0 and NaN there."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    with np.errstate(all="ignore"):
        return np.power(a, np.array(np.broadcast_to(b, shape))).astype(a.dtype)


def _maximum(a, b):
    return numerics.float_maximum(a, b) if a.dtype.kind == "f" else np.maximum(a, b)


def _minimum(a, b):
    return numerics.float_minimum(a, b) if a.dtype.kind == "f" else np.minimum(a, b)


def _wrap_int(fn):
    def wrapped(a, b):
        with np.errstate(all="ignore"):
            return fn(a, b).astype(a.dtype)
    wrapped.__name__ = fn.__name__
    return wrapped


_BINARY = [
    # name, kinds, reference, result is bool, differentiable
    ("add", NUM, _wrap_int(np.add), False, True),
    ("sub", NUM, _wrap_int(np.subtract), False, True),
    ("mul", NUM, _wrap_int(np.multiply), False, True),
    ("div", NUM, _div, False, True),
    ("mod", NUM, _mod, False, True),
    ("pow", FLOAT, _pow, False, True),
    ("maximum", NUM, _maximum, False, True),
    ("minimum", NUM, _minimum, False, True),
    ("less", NUM, np.less, True, False),
    ("less_equal", NUM, np.less_equal, True, False),
    ("greater", NUM, np.greater, True, False),
    ("greater_equal", NUM, np.greater_equal, True, False),
    ("equal", ANY, np.equal, True, False),
    ("not_equal", ANY, np.not_equal, True, False),
    ("logical_and", BOOL, np.logical_and, False, False),
    ("logical_or", BOOL, np.logical_or, False, False),
    ("bitwise_and", INT, np.bitwise_and, False, False),
    ("bitwise_or", INT, np.bitwise_or, False, False),
    ("bitwise_xor", INT, np.bitwise_xor, False, False),
]

for _name, _kinds, _fn, _is_bool, _diff in _BINARY:
    register(OpDef(_name, 2, {}, _binary_infer(_name, _kinds, _is_bool),
                   numerics.in_compute_dtype(_fn), "elementwise", kir="binary",
                   differentiable=_diff))


def _select_infer(in_types, attrs, ctx):
    c, a, b = in_types
    if not c.dtype.is_bool:
        raise TypeError(f"select: condition must be bool, got {c.dtype.name}")
    if a.dtype is not b.dtype:
        raise TypeError(f"select: branches have different dtypes {a.dtype.name} and "
                        f"{b.dtype.name}")
    return TensorType(a.dtype, ctx.broadcast([c.shape, a.shape, b.shape]))


register(OpDef("select", 3, {}, _select_infer, np.where, "elementwise", kir="select"))


def _cast_infer(in_types, attrs, ctx):
    return TensorType(attrs["dtype"], in_types[0].shape)


def _cast_ref(x, dtype):
    return numerics.cast(x, dtype.np)


register(OpDef("cast", 1, {"dtype": "dtype"}, _cast_infer, _cast_ref, "elementwise",
               kir="cast"))


def _bitcast_infer(in_types, attrs, ctx):
    src, dst = in_types[0].dtype, attrs["dtype"]
    for dt in (src, dst):
        if dt.is_bool or dt is T.float16:
            raise TypeError(f"bitcast does not accept {dt.name} (accepts float32, float64 "
                            f"and the ints; float16 is computed in float32 in kernels)")
    if src.itemsize != dst.itemsize:
        raise TypeError(f"bitcast: {src.name} and {dst.name} differ in width "
                        f"({src.itemsize} and {dst.itemsize} bytes)")
    return TensorType(dst, in_types[0].shape)


def _bitcast_ref(x, dtype):
    """The same bits read as `dtype` (numpy's `view`; same width)."""
    return np.ascontiguousarray(x).view(dtype.np)


# kir "unary": the rules see the operand's dtype and give the other kind of the same width
# (a float's bits as the signed int, an int's as the float); lowering adds the same-width
# int casts around it for the unsigned ints and writes int <-> int bitcasts as casts
register(OpDef("bitcast", 1, {"dtype": "dtype"}, _bitcast_infer, _bitcast_ref, "elementwise",
               kir="unary", differentiable=False))
