"""The IR verifier: `verify(program)` checks a compiler-IR `Program` against the op table
and the program's own invariants, and raises `VerifyError` at the first fault found.

Checked, in this order:
- references: inputs, outputs, effect values and every node's inputs are `Node`s;
- the graph is acyclic;
- every node: its op is in the op table, it has the op's arity, its attrs are exactly
  the op's attrs with values of the right kind (ints and the integers of dims within
  int64), ops that change state (random draws, assigns) carry a token, its type has at
  most MAX_RANK dims, static dims in [0, 2**63) and a static byte size that int64 counts,
  and the op's `infer` on its input types and attrs gives its type (dims compared after
  resolution in a fresh SymbolTable);
- inputs are distinct placeholders, and every placeholder the program uses is an input;
- each effect is an assign-like node whose `var` attr is the effect's variable;
- every symbol in a node's type or dim attrs and in the run-time checks and bounds is
  among `program.symbols`, and dim reasons name real input axes;
- hash-consing holds: no two distinct nodes are structurally equal, and no two nodes
  share a token;
- regions (the bodies of `while` and `cond`, whose nodes are checked like the program's
  above) are closed: a region's params are `param` nodes with their position as index
  and a token; what its results reach is computed from its own params and constants
  only (no placeholder, variable or other region's param); no region writes a variable;
  no `param` is outside a region; a region op's type and its regions' types agree (the
  op's inference checks it).

The error message names the faulty node (its %N and `Node.describe()`) and shows the
IR text around the fault with the faulty line marked, like JAX's check_jaxpr. The
verifier never modifies the program.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..ops import OPS
from . import dims as D
from .const import Const
from .dtypes import DType
from .nodes import Node, _key_of
from .regions import Region, region_attrs, topo_order
from .text import node_order, render_program, type_problem
from .textvalues import INT64_MAX, MAX_RANK, format_type, format_value
from .types import TensorType, TupleType

EXCERPT_CONTEXT = 3   # lines shown before and after the faulty one


class VerifyError(ValueError):
    """The program breaks an IR invariant; `node` is the faulty node, if there is one."""

    def __init__(self, message: str, node: Optional[Node] = None):
        super().__init__(message)
        self.node = node


@dataclass
class _Fault:
    where: object            # a key of `Listing.where`: the line to mark
    message: str
    node: Optional[Node] = None


def verify(program) -> None:
    """Raise `VerifyError` if `program` is not well formed; return None otherwise."""
    order = node_order(program)
    for check in (_check_references, _check_acyclic, _check_nodes, _check_inputs,
                  _check_effects, _check_symbols, _check_identity, _check_regions):
        fault = check(program, order)
        if fault is not None:
            raise VerifyError(_message(program, fault), fault.node)


def _message(program, fault: _Fault) -> str:
    listing = render_program(program)
    subject = ""
    if fault.node is not None:
        subject = f"%{listing.numbers[id(fault.node)]} {fault.node.describe()}: "
    text = f"IR verification failed: {subject}{fault.message}"
    line = listing.where.get(fault.where)
    return text if line is None else text + "\n" + _excerpt(listing.lines, line)


def _excerpt(lines, index: int) -> str:
    lo, hi = max(0, index - EXCERPT_CONTEXT), min(len(lines), index + EXCERPT_CONTEXT + 1)
    return "\n".join(f"{'>>' if j == index else '  '} {j + 1:>4} | {lines[j]}"
                     for j in range(lo, hi))


# ---- references and cycles -------------------------------------------------------------
def _check_references(program, order):
    for i, node in enumerate(program.inputs):
        if not isinstance(node, Node):
            return _Fault("header", f"input {i} is not a node: {node!r}")
    for i, node in enumerate(program.outputs):
        if not isinstance(node, Node):
            return _Fault("return", f"output {i} is not a node: {node!r}")
    for name, node in program.effects.items():
        if not isinstance(node, Node):
            return _Fault(("effect", name), f"the effect on {name!r} is not a node: {node!r}")
    for node in order:
        for j, inp in enumerate(node.inputs):
            if not isinstance(inp, Node):
                return _Fault(("node", id(node)), f"input {j} is not a node: {inp!r}", node)
    return None


def _check_acyclic(program, order):
    """In a DAG the depth-first post-order puts every input before its consumers."""
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for inp in node.inputs:
            if position[id(inp)] >= position[id(node)]:
                cycle = _path(inp, node) + [node]
                text = " -> ".join(f"%{position[id(n)]}" for n in cycle)
                return _Fault(("node", id(node)), f"the graph has a cycle: {text} (each "
                              "node is an input of the next)", node)
    return None


def _path(start: Node, goal: Node) -> list:
    """Nodes from `goal` to `start` along input edges (start depends on goal)."""
    stack, seen = [(start, [start])], {id(start)}
    while stack:
        node, path = stack.pop()
        if node is goal:
            return list(reversed(path))
        for inp in node.inputs:
            if id(inp) not in seen:
                seen.add(id(inp))
                stack.append((inp, path + [inp]))
    return [start]


# ---- nodes against the op table ----------------------------------------------------------
#: the keys (`_passed_key`) of nodes that passed `_node_problem`: its verdict is a function
#: of the node's op, attrs, type, token and its inputs' types only, so a node alike in
#: those to one that passed (an unrolled loop's steps; the same nodes again when the pass
#: manager verifies after a pass) is not checked again. Bounded: cleared when full.
_PASSED: dict = {}
_PASSED_MAX = 200_000


def _passed_key(node):
    """The key of what `_node_problem` reads of `node`, or None (a region op: its
    regions are mutable objects; or an attr that cannot be hashed)."""
    if node.op in _CONTROL_OPS:
        return None
    try:
        key = (node.op, _key_of(node.attrs), node.type, bool(node.token),
               tuple([i.type for i in node.inputs]))
        hash(key)
    except TypeError:
        return None
    return key


def _check_nodes(program, order):
    numbers = None
    for node in order:
        key = _passed_key(node)
        if key is not None and key in _PASSED:
            continue
        if numbers is None:
            numbers = {id(n): i for i, n in enumerate(order)}
        problem = _node_problem(node, f"%{numbers[id(node)]}")
        if problem:
            return _Fault(("node", id(node)), problem, node)
        if key is not None:
            if len(_PASSED) >= _PASSED_MAX:
                _PASSED.clear()
            _PASSED[key] = True
    return None


#: region ops (fusion class "control"), whose verdict depends on their regions too
_CONTROL_OPS = frozenset(name for name, op in OPS.items() if op.fusion == "control")


def _node_problem(node: Node, label: str):
    opdef = OPS.get(node.op)
    if opdef is None:
        return f"unknown op {node.op!r}"
    if opdef.arity is not None and len(node.inputs) != opdef.arity:
        return f"{node.op} takes {opdef.arity} input(s), this node has {len(node.inputs)}"
    problem = _attrs_problem(opdef, node.attrs)
    if problem:
        return problem
    if opdef.needs_token and not node.token:
        return f"{node.op} changes state and needs a token (nodes.new_token())"
    types = [node.type]
    if opdef.fusion == "control" and isinstance(node.type, TupleType):
        types = list(node.type.types) if isinstance(node.type.types, tuple) else [None]
    for ty in types:
        if not (isinstance(ty, TensorType) and isinstance(ty.dtype, DType)
                and (ty.shape is None or _is_shape(ty.shape))):
            return f"its type {node.type!r} is not a TensorType with a tuple of dims"
        problem = _shape_problem(ty)
        if problem:
            return problem
    in_types = [i.type for i in node.inputs]
    return type_problem(opdef, in_types, node.attr, node.type, f"{node.op} {label}")


def _shape_problem(ty: TensorType):
    """Static dims in [0, 2**63), the integers of symbolic dims in int64, a static byte
    size that fits int64, at most MAX_RANK dims."""
    shape = ty.shape
    if shape is None:
        return None
    if len(shape) > MAX_RANK:
        return f"its type has {len(shape)} dims; at most {MAX_RANK} are supported"
    for axis, d in enumerate(shape):
        if _is_int(d) and not 0 <= d <= INT64_MAX:
            return (f"dim {axis} of its type is {d}: a static dim must be in "
                    f"[0, {INT64_MAX}]")
        if not _is_int(d) and not _dim_fits_int64(d):
            return (f"dim {axis} of its type, {D.format_dim(d)}, has an integer outside "
                    "int64's range")
    if all(_is_int(d) for d in shape):
        nbytes = ty.dtype.np.itemsize
        for d in shape:
            nbytes *= int(d)
        if nbytes > INT64_MAX:
            return (f"its type {format_type(ty)} holds {nbytes} bytes, more than int64 can "
                    "count")
    return None


def _dim_fits_int64(d) -> bool:
    if _is_int(d):
        return -INT64_MAX - 1 <= d <= INT64_MAX
    if not isinstance(d, D.DimExpr):
        return False
    for monomial, coefficient in d.terms.items():
        if not -INT64_MAX - 1 <= coefficient <= INT64_MAX:
            return False
        for atom in monomial:
            if isinstance(atom, D.FloorDiv) and not (0 < atom.den <= INT64_MAX
                                                      and _dim_fits_int64(atom.num)):
                return False
    return True


def _attrs_problem(opdef, attrs):
    if not (isinstance(attrs, tuple) and all(isinstance(a, tuple) and len(a) == 2
                                             and isinstance(a[0], str) for a in attrs)):
        return f"its attrs {attrs!r} are not a tuple of (name, value) pairs"
    names = [name for name, _ in attrs]
    if names != sorted(set(names)):
        return "its attrs are not sorted by name without repeats (make nodes with NodeCache)"
    for name, value in attrs:
        kind = opdef.attrs.get(name)
        if kind is None:
            known = ", ".join(opdef.attrs) or "no attributes"
            return f"unknown attribute {name!r} ({opdef.name} takes {known})"
        if not _KIND_CHECKS[kind](value):
            return f"attribute {name}={format_value(value)} is not a valid {kind}"
    missing = [k for k in opdef.attrs if k not in names]
    if missing:
        return f"missing attribute(s) {', '.join(missing)}"
    return None


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_int64(v) -> bool:
    """An int attribute: generated code holds it in an int64."""
    return _is_int(v) and -INT64_MAX - 1 <= v <= INT64_MAX


def _is_float(v) -> bool:
    return _is_int(v) or isinstance(v, (float, np.floating))


def _is_bool(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_dim(v) -> bool:
    return (_is_int(v) or isinstance(v, D.DimExpr)) and _dim_fits_int64(v)


def _is_shape(v) -> bool:
    """A tuple of dims (their ranges are `_shape_problem`'s)."""
    return isinstance(v, tuple) and all(_is_int(x) or isinstance(x, D.DimExpr) for x in v)


def _is_ints(v) -> bool:
    return isinstance(v, tuple) and all(_is_int64(x) for x in v)


def _is_dims(v) -> bool:
    return isinstance(v, tuple) and all(_is_dim(x) for x in v)


def _is_pairs(v) -> bool:
    return isinstance(v, tuple) and all(isinstance(p, tuple) and len(p) == 2 and _is_ints(p)
                                        for p in v)


def _is_dims_opt(v) -> bool:
    return v is None or _is_dims(v)


def _is_axes(v) -> bool:
    return v is None or _is_ints(v)


def _instance_of(cls):
    def check(v) -> bool:
        return isinstance(v, cls)
    return check


_KIND_CHECKS = {
    "int": _is_int64,
    "float": _is_float,
    "bool": _is_bool,
    "str": _instance_of(str),
    "dtype": _instance_of(DType),
    "ints": _is_ints,
    "dims": _is_dims,
    "dims_opt": _is_dims_opt,
    "axes": _is_axes,
    "value": _instance_of(Const),
    "pairs": _is_pairs,
    "region": _instance_of(Region),
}


# ---- program-level invariants --------------------------------------------------------------
def _check_inputs(program, order):
    fed = set()
    for i, node in enumerate(program.inputs):
        if node.op != "placeholder":
            return _Fault("header", f"input {i} is a {node.op} node, not a placeholder", node)
        if id(node) in fed:
            return _Fault("header", f"input {i} is listed twice", node)
        fed.add(id(node))
    for node in order:
        if node.op == "placeholder" and id(node) not in fed:
            return _Fault(("node", id(node)), "this placeholder is used but is not among the "
                          "program's inputs, so nothing feeds it", node)
    return None


def _check_effects(program, order):
    for name, node in program.effects.items():
        opdef = OPS.get(node.op)
        if opdef is None or opdef.fusion != "state":
            return _Fault(("effect", name), f"the effect on variable {name!r} is a {node.op} "
                          "node, not an assign", node)
        if node.attr.get("var") != name:
            return _Fault(("effect", name), f"the effect on variable {name!r} assigns "
                          f"variable {node.attr.get('var')!r}", node)
    return None


def _check_symbols(program, order):
    if not all(isinstance(s, D.Sym) for s in program.symbols):
        return _Fault("header", f"program.symbols {program.symbols!r} are not all Syms")
    free = {s.name for s in program.symbols}
    if len(free) != len(program.symbols):
        return _Fault("header", "a symbol is listed twice in program.symbols")
    for node in order:
        unknown = _symbols_of_node(node) - free
        if unknown:
            return _Fault(("node", id(node)), _unknown_symbols(unknown, free), node)
    for kind, items in (("check", program.checks), ("bound", program.bounds)):
        for i, (a, b, _why) in enumerate(items):
            unknown = _symbols_of([a, b]) - free
            if unknown:
                return _Fault((kind, i), f"this {kind} " + _unknown_symbols(unknown, free))
    for i, axis in program.input_dim_reasons:
        rank = program.inputs[i].type.rank if 0 <= i < len(program.inputs) else None
        if rank is None or not 0 <= axis < rank:
            return _Fault(("reason", i, axis), f"a dim reason names input {i} axis {axis}, "
                          "which does not exist")
    return None


def _symbols_of(dims) -> set:
    return {s.name for d in dims if isinstance(d, D.DimExpr) for s in d.symbols()}


@functools.lru_cache(maxsize=8192)
def _dims_symbols(dims: tuple) -> frozenset:
    return frozenset(_symbols_of(dims))


def _symbols_of_node(node: Node) -> set:
    types = node.type.types if isinstance(node.type, TupleType) else (node.type,)
    names = set()
    for ty in types:
        names |= _dims_symbols(tuple(ty.shape or ()))
    for _name, value in node.attrs:
        if isinstance(value, tuple):
            try:
                names |= _dims_symbols(value)
            except TypeError:   # an attr tuple holding something unhashable
                names |= _symbols_of(value)
    return names


def _unknown_symbols(unknown, free) -> str:
    return (f"uses symbol(s) {', '.join(sorted(unknown))}, which are not among the "
            f"program's symbols ({', '.join(sorted(free)) or 'none'})")


def _check_identity(program, order):
    by_key, by_token = {}, {}
    for node in order:
        twin = by_key.setdefault(node._key, node)  # the key NodeCache interns by
        if twin is not node:
            return _Fault(("node", id(node)), "this node is structurally equal to another "
                          "node of the program (nodes must come from one NodeCache)", node)
        if node.token:
            other = by_token.setdefault(node.token, node)
            if other is not node:
                return _Fault(("node", id(node)), f"token {node.token} is also the token of "
                              f"{other.describe()}", node)
    return None


def _check_regions(program, order):
    owned = set()
    for node in order:
        for name, region in region_attrs(node):
            fault = _region_fault(node, name, region)
            if fault is not None:
                return fault
            owned |= {id(p) for p in region.params}
    for node in order:
        if node.op == "param" and id(node) not in owned:
            return _Fault(("node", id(node)), "this param belongs to no region", node)
    return None


def _region_fault(holder: Node, name: str, region: Region):
    where = ("node", id(holder))
    for i, p in enumerate(region.params):
        if p.op != "param" or p.attr.get("index") != i or not p.token:
            return _Fault(where, f"param {i} of its {name} region is not a tokened param "
                          f"node with index {i}", holder)
    own = {id(p) for p in region.params}
    for node in topo_order(list(region.results) + list(region.params)):
        opdef = OPS.get(node.op)
        if node.op == "param" and id(node) not in own:
            return _Fault(("node", id(node)), f"its {name} region is not closed: it uses a "
                          f"param of another region ({node.describe()}); outer values "
                          "must be inputs of the region op", holder)
        if opdef is not None and opdef.parameter and node.op != "param":
            return _Fault(("node", id(node)), f"its {name} region is not closed: it uses "
                          f"{node.describe()}, which must be an input of the region op",
                          holder)
        if opdef is not None and opdef.writes_variable:
            return _Fault(("node", id(node)), f"its {name} region writes variable "
                          f"{node.attr.get('var')!r}; regions cannot change state", holder)
    return None
