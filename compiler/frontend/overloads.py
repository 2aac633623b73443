"""Python operators on tensors and variables: `+ - * / // % ** @`, unary `-`, `abs()`,
`< <= > >=`, `& | ^ ~` (bool tensors), their reflected forms (`2.0 * x`) and
`t[...]` indexing.

`install_operators(cls)` sets the methods on a class (called explicitly for `Tensor` and
`Variable` by `compiler/__init__.py`); each method forwards to the TF1 function of the
same meaning (`/` is `truediv`, `//` is `floordiv`, `%` is the floor modulo). `==` and
`!=` are deliberately left alone: as in TF1 they keep identity equality, so tensors stay
usable as dict keys; use `fc.equal` for elementwise equality.
"""

from __future__ import annotations

from . import math_ops as M
from .indexing import getitem

# operator name -> function of (a, b); the reflected form calls it as (b, a)
_BINARY = {
    "add": M.add, "sub": M.subtract, "mul": M.multiply, "truediv": M.truediv,
    "floordiv": M.floordiv, "mod": M.mod, "pow": M.pow, "matmul": M.matmul,
    "and": M.logical_and, "or": M.logical_or, "xor": M.logical_xor,
}
_COMPARE = {"lt": M.less, "le": M.less_equal, "gt": M.greater, "ge": M.greater_equal}
_UNARY = {"neg": M.negative, "abs": M.abs, "invert": M.logical_not}


def _forward(fn):
    def op(self, other):
        return fn(self, other)
    return op


def _reflected(fn):
    def op(self, other):
        return fn(other, self)
    return op


def _unary(fn):
    def op(self):
        return fn(self)
    return op


def _getitem(self, key):
    return getitem(self, key)


def install_operators(cls):
    """Give `cls` (Tensor, Variable) the TF1 operator overloads; idempotent."""
    for name, fn in _BINARY.items():
        setattr(cls, f"__{name}__", _forward(fn))
        setattr(cls, f"__r{name}__", _reflected(fn))
    for name, fn in _COMPARE.items():
        setattr(cls, f"__{name}__", _forward(fn))
    for name, fn in _UNARY.items():
        setattr(cls, f"__{name}__", _unary(fn))
    cls.__getitem__ = _getitem
    cls.__array_priority__ = 100  # numpy defers to these operators
