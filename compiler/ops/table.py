"""The op table: one row (`OpDef`) per primitive, and the one home of every fact about it.

A row holds the op's name, attribute schema, `infer(in_types, attrs, ctx)` returning the
output `TensorType`, the numpy reference `ref(*arrays, **attrs)`, its fusion class and
the facts below. Every pass, the interpreter, lowering and the backends read rows from
here; rules of other concerns (lowering, LLVM, C, gradients) live in their own tables
keyed by op name (kernel-IR op name for the scalar-op tables), and completeness tests
compare each table's keys with the rows. Side lists of op names (`kir.UNARY_OPS`,
`fusion.REDUCTIONS`, ...) are derived from the rows with `names(...)`, never written out.
Rows are registered explicitly by the modules in this package; importing `compiler.ops`
registers them all.

Every primitive has exactly one output. The fields of a row:

- `fusion`: its fusion class, one of `FUSION_CLASSES` (elementwise: computed per element
  in a loop nest; reduce; movement: index arithmetic on loads; contraction (matmul);
  source: no data inputs; state: writes a variable; opaque: a kernel of its own;
  control: structured control flow over regions, planned region by region — see
  `control.py`).
- `kir`: how an elementwise row appears in the kernel IR: `"unary"` / `"binary"` (a
  `Unary` / `Binary` expression named after the op: every backend's scalar-op table has
  a rule for it), `"select"`, `"cast"` (their own expressions); None for other classes.
- `stateful`: reads or changes state, or draws new values per run: never merged by CSE,
  never folded (variable, random draws, assigns).
- `reads_variable` / `writes_variable`: reads the variable named by attr `var` (the
  `variable` source) / writes it (`assign`, `assign_add`, whose output is the new value).
- `needs_token`: each node is unique (a fresh `nodes.new_token()`), so two equal-looking
  nodes are never merged: random draws and variable writes.
- `needs_counter`: `ref` takes `counter=` (the run counter: random draws).
- `parameter`: its value is an input buffer the runtime provides (XLA's parameter):
  placeholder, variable.
- `differentiable`: has a gradient rule (compiler/autodiff/rules.py); False: its inputs
  get no gradient, as in TF1.
- `foldable`: `fold_constants` may replace a node with constant inputs by its value.
  Default: not stateful; False also for placeholder (no value at compile time) and
  constant (already one).
- `own_kernel`: fusion always gives it a kernel of its own (never inlined into a
  consumer's loops). Default: the reduce, contraction, state and opaque classes.
- `combine`, `identity` (reductions): the binary op that accumulates (`"add"`, ...; a
  key of the kernel-IR op set, XLA's reduce computation) and the value of an empty
  reduction (XLA's init value): `"zero"`, `"one"`, `"lowest"` (-inf / the minimum int)
  or `"highest"`; `reduce.identity_of(name, dtype)` gives it as a number.
- `branching_index` (movement): its index arithmetic branches per element (which input,
  or padding): concat, pad.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from ..ir import dims as D
from ..ir.types import TensorType, broadcast_shapes

# Attribute kinds (used by the verifier, the IR printer and the parser):
#   int, float, bool, str, dtype, ints (tuple of int), dims (tuple of Dim),
#   dims_opt (tuple of Dim, or None), axes (tuple of int, or None = all), value (a Const),
#   region (a compiler.ir.regions.Region: the body of a control-flow op)
ATTR_KINDS = {"int", "float", "bool", "str", "dtype", "ints", "dims", "dims_opt", "axes",
              "value", "pairs", "region"}

FUSION_CLASSES = {"elementwise", "reduce", "movement", "contraction", "source", "state",
                  "opaque", "control"}


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


#: values of `OpDef.kir`, `OpDef.identity`
KIR_FORMS = {"unary", "binary", "select", "cast"}
IDENTITIES = {"zero", "one", "lowest", "highest"}
#: fusion classes whose rows get a kernel of their own unless a row says otherwise
_OWN_KERNEL_CLASSES = ("reduce", "contraction", "state", "opaque")


@dataclass(frozen=True)
class OpDef:
    """One primitive; the fields are described in the module docstring."""

    name: str
    arity: Optional[int]          # None = variadic
    attrs: dict                   # attr name -> kind
    infer: Callable               # (in_types, attrs, ctx) -> TensorType
    ref: Callable                 # numpy reference: (*arrays, **attrs) -> np.ndarray
    fusion: str
    kir: Optional[str] = None
    stateful: bool = False
    reads_variable: bool = False
    writes_variable: bool = False
    needs_token: bool = False
    needs_counter: bool = False
    parameter: bool = False
    differentiable: bool = True
    foldable: Optional[bool] = None      # None: not stateful
    own_kernel: Optional[bool] = None    # None: by fusion class
    combine: Optional[str] = None
    identity: Optional[str] = None
    branching_index: bool = False
    defaults: dict = field(default_factory=dict)

    def __post_init__(self):
        assert self.fusion in FUSION_CLASSES, self.fusion
        assert set(self.attrs.values()) <= ATTR_KINDS, self.attrs
        assert (self.kir is not None) == (self.fusion == "elementwise"), self.name
        assert self.kir is None or self.kir in KIR_FORMS, self.kir
        assert (self.combine is None) == (self.identity is None), self.name
        assert self.identity is None or self.identity in IDENTITIES, self.identity
        assert not self.needs_token or self.stateful, self.name
        if self.foldable is None:
            object.__setattr__(self, "foldable", not self.stateful)
        if self.own_kernel is None:
            object.__setattr__(self, "own_kernel", self.fusion in _OWN_KERNEL_CLASSES)


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


def names(where: Optional[Callable] = None, **facts) -> tuple:
    """Names of the rows whose fields equal `facts` (and for which `where(row)` holds),
    in registration order: `names(fusion="reduce", own_kernel=True)`."""
    return tuple(n for n, op in OPS.items()
                 if all(getattr(op, k) == v for k, v in facts.items())
                 and (where is None or where(op)))


def shape_attr_names(op: OpDef):
    """Attributes holding dims, which the interpreter evaluates before calling ref."""
    return [k for k, kind in op.attrs.items() if kind in ("dims", "dims_opt")]


def same_type(in_types, attrs, ctx) -> TensorType:
    return in_types[0]


def types_of_result(dtype, shape) -> TensorType:
    return TensorType(dtype, None if shape is None else tuple(shape))
