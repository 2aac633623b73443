"""TensorType: (dtype, shape) where the shape is a tuple of dims or None (unknown rank).

Dims are ints or `DimExpr`s (see `dims.py`). `broadcast_shapes` implements numpy
broadcasting with the flowc rule for symbols: a static 1 broadcasts, two different
symbols are unified (a run-time extent of 1 does not broadcast against a symbol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import dims as D
from .dtypes import DType


@dataclass(frozen=True)
class TensorType:
    dtype: DType
    shape: Optional[tuple]  # tuple of Dim, or None for unknown rank

    @property
    def rank(self):
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    def num_elements(self):
        return None if self.shape is None else D.product(self.shape)

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape)

    def __str__(self) -> str:
        return format_type(self)


def format_shape(shape) -> str:
    if shape is None:
        return "[*]"
    return "[" + ",".join(D.format_dim(d) for d in shape) + "]"


def format_type(t) -> str:
    if isinstance(t, TupleType):
        return format_tuple_type(t)
    return f"{t.dtype.name}{format_shape(t.shape)}"


def broadcast_dim(a, b, table: D.SymbolTable, why: str):
    if a == b:
        return a
    if a == 1:
        return b
    if b == 1:
        return a
    if isinstance(a, int) and isinstance(b, int):
        raise D.ShapeError(f"dimensions {a} and {b} are not broadcast-compatible")
    return table.unify(a, b, why)


def broadcast_shapes(shapes, table: D.SymbolTable, why: str):
    """numpy-style broadcast of several shapes; None (unknown rank) if any is unknown."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        padded = (1,) * (rank - len(s)) + tuple(s)
        for i, d in enumerate(padded):
            try:
                out[i] = broadcast_dim(out[i], d, table, why)
            except D.ShapeError as e:
                raise D.ShapeError(
                    f"shapes {', '.join(format_shape(x) for x in shapes)} cannot be "
                    f"broadcast together (axis {i - rank}: {e})") from None
    return tuple(out)


@dataclass(frozen=True)
class TupleType:
    """The type of a region op's result (`while`, `cond`): one TensorType per value, read
    out by `get` nodes (XLA's tuple and get-tuple-element). Only region ops have it."""
    types: tuple

    @property
    def is_static(self) -> bool:
        return False

    def __str__(self) -> str:
        return format_type(self)


def format_tuple_type(t: TupleType, format_one=format_type) -> str:
    return "tuple<" + ", ".join(format_one(x) for x in t.types) + ">"
