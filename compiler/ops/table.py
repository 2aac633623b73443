"""The op table: one row (`OpDef`) per primitive.

A row holds the op's name, attribute schema, `infer(in_types, attrs, ctx)` returning the
output `TensorType`, the numpy reference `ref(*arrays, **attrs)`, its fusion class and
flags. Every pass, the interpreter, lowering and the backends read rows from here;
rules of other concerns (lowering, LLVM, gradients) live in their own tables keyed by
op name, and completeness tests walk this table. Rows are registered explicitly by the
modules in this package; importing `compiler.ops` registers them all.

Every primitive has exactly one output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from ..ir import dims as D
from ..ir.types import TensorType, broadcast_shapes

# Attribute kinds (used by the verifier, the IR printer and the parser):
#   int, float, bool, str, dtype, ints (tuple of int), dims (tuple of Dim),
#   dims_opt (tuple of Dim, or None), axes (tuple of int, or None = all), value (a Const)
ATTR_KINDS = {"int", "float", "bool", "str", "dtype", "ints", "dims", "dims_opt", "axes",
              "value", "pairs"}

FUSION_CLASSES = {"elementwise", "reduce", "movement", "contraction", "source", "state",
                  "opaque"}


class InferContext:
    """What shape inference may use: the symbol table and a description of the op."""

    def __init__(self, table: D.SymbolTable, why: str = ""):
        self.table = table
        self.why = why

    def unify(self, a, b):
        return self.table.unify(a, b, self.why)

    def broadcast(self, shapes):
        return broadcast_shapes(shapes, self.table, self.why)

    def resolve_shape(self, shape):
        return None if shape is None else tuple(self.table.resolve(d) for d in shape)


@dataclass(frozen=True)
class OpDef:
    name: str
    arity: Optional[int]          # None = variadic
    attrs: dict                   # attr name -> kind
    infer: Callable               # (in_types, attrs, ctx) -> TensorType
    ref: Callable                 # numpy reference: (*arrays, **attrs) -> np.ndarray
    fusion: str
    stateful: bool = False        # never merged by CSE, never folded
    differentiable: bool = True
    needs_counter: bool = False   # ref takes counter= (the run counter)
    defaults: dict = field(default_factory=dict)

    def __post_init__(self):
        assert self.fusion in FUSION_CLASSES, self.fusion
        assert set(self.attrs.values()) <= ATTR_KINDS, self.attrs


OPS: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} registered twice")
    OPS[op.name] = op
    return op


def get(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown primitive op {name!r}") from None


def shape_attr_names(op: OpDef):
    """Attributes holding dims, which the interpreter evaluates before calling ref."""
    return [k for k, kind in op.attrs.items() if kind in ("dims", "dims_opt")]


def same_type(in_types, attrs, ctx) -> TensorType:
    return in_types[0]


def types_of_result(dtype, shape) -> TensorType:
    return TensorType(dtype, None if shape is None else tuple(shape))
