"""Data types of flowc tensors.

A `DType` is an interned, immutable description of an element type: its name (the
TF1 spelling, `float32`), its numpy dtype, and its kind (float, int, bool). float16 is a
storage type: it is stored as float16 and computed in float32 (see `compute_dtype`).
`as_dtype` accepts a DType, a numpy dtype, a Python type or a name and never guesses:
anything else raises `TypeError` naming the value.
"""

from __future__ import annotations

import builtins

import numpy as np


class DType:
    """One element type; compare with `is` or `==` (instances are unique per name)."""

    _by_name: dict[str, DType] = {}

    def __init__(self, name: str, np_dtype, kind: str):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.kind = kind  # "float", "int", "bool"; "string" (host-only)
        DType._by_name[name] = self

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_int(self) -> bool:
        return self.kind == "int"

    @property
    def is_unsigned(self) -> bool:
        """An unsigned integer dtype (uint8 ... uint64): its comparisons, divisions,
        widenings and conversions are the unsigned ones."""
        return self.np.kind == "u"

    @property
    def min(self):
        """The smallest value (TF1's `DType.min`); -inf for floats, False for bool."""
        if self.is_float:
            return float(np.finfo(self.np).min)
        return False if self.is_bool else int(np.iinfo(self.np).min)

    @property
    def max(self):
        """The largest value (TF1's `DType.max`)."""
        if self.is_float:
            return float(np.finfo(self.np).max)
        return True if self.is_bool else int(np.iinfo(self.np).max)

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    @property
    def itemsize(self) -> int:
        return self.np.itemsize

    @property
    def as_numpy_dtype(self):
        """TF1 spelling of `self.np.type`."""
        return self.np.type

    @property
    def base_dtype(self) -> DType:
        return self

    # TF1's spellings
    is_floating = is_float
    is_integer = is_int
    is_complex = property(lambda self: False)
    is_quantized = property(lambda self: False)
    size = itemsize

    @property
    def limits(self):
        """TF1's `(min, max)`."""
        return self.min, self.max

    def __repr__(self) -> str:
        return f"fc.{self.name}"

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):
        return (as_dtype, (self.name,))


float16 = DType("float16", np.float16, "float")
float32 = DType("float32", np.float32, "float")
float64 = DType("float64", np.float64, "float")
int8 = DType("int8", np.int8, "int")
int16 = DType("int16", np.int16, "int")
int32 = DType("int32", np.int32, "int")
int64 = DType("int64", np.int64, "int")
uint8 = DType("uint8", np.uint8, "int")
uint16 = DType("uint16", np.uint16, "int")
uint32 = DType("uint32", np.uint32, "int")
uint64 = DType("uint64", np.uint64, "int")
bool_ = DType("bool", np.bool_, "bool")

#: host-only: the element type of string tensors (string constants, summaries' outputs);
#: never in the compiler IR, so not in ALL (as_dtype("string") still finds it)
string = DType("string", object, "string")

ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
       bool_)
FLOATS = (float16, float32, float64)
#: the integer dtypes indices, shapes and argmax results may have (TF1's out_type)
INDEX_INTS = (int32, int64)
#: every integer dtype; arithmetic wraps around modulo 2**bits (TF1's C++ semantics)
INTS = (int8, int16, int32, int64, uint8, uint16, uint32, uint64)
_ALIASES = {"half": float16, "float": float32, "double": float64, "bool_": bool_}


def as_dtype(value) -> DType:
    """Convert a DType, name, numpy dtype or Python type to a DType."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        if value in DType._by_name:
            return DType._by_name[value]
        if value in _ALIASES:
            return _ALIASES[value]
        raise TypeError(f"unknown dtype name {value!r}; flowc supports "
                        f"{', '.join(d.name for d in ALL)}")
    if value is float:
        return float32
    if value is int:
        return int32
    if value is builtins.bool:
        return bool_
    try:
        npd = np.dtype(value)
    except TypeError:
        raise TypeError(f"cannot interpret {value!r} as a flowc dtype") from None
    for d in ALL:
        if d.np == npd:
            return d
    raise TypeError(f"numpy dtype {npd} is not supported by flowc; supported: "
                    f"{', '.join(d.name for d in ALL)}")


def compute_dtype(dtype: DType) -> DType:
    """The dtype arithmetic is done in: float16 computes in float32."""
    return float32 if dtype is float16 else dtype


# TF1 spells the boolean dtype `tf.bool` / `tf.dtypes.bool` (this module uses
# `builtins.bool` where it means Python's type)
bool = bool_  # noqa: A001
