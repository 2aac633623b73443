"""The compiler IR: immutable, hash-consed nodes and the `Program` that holds them.

A `Node` is (op, inputs, attrs, type, token). Nodes are created through a `NodeCache`,
which returns the existing node for a structurally equal key, so within one program
structural equality is identity (CSE for free). Stateful nodes that must never merge
(random draws, assigns) carry a unique `token`. Provenance — the user-graph names and
source locations that map to a node — is side information (`names`, `locs`) that never
enters the key.

A `Program` is a set of outputs (fetches) and effects (variable writes) over nodes, the
ordered list of fed placeholders, the free symbols (in the order generated code takes
them) and run-time dim checks. `Program.topo()` gives a deterministic topological order.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field

from ..ops import OPS
from .regions import Region, topo_order
from .types import TensorType

_tokens = itertools.count(1)


def new_token() -> int:
    return next(_tokens)


class Node:
    __slots__ = ("op", "inputs", "attrs", "type", "token", "names", "locs", "_key", "_hash",
                 "__weakref__")

    def __init__(self, op, inputs, attrs, type_, token=0):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs  # tuple of sorted (name, value) pairs
        self.type = type_
        self.token = token
        self.names: list[str] = []
        self.locs: list[str] = []
        self._key = (op, tuple(id(i) for i in self.inputs), _key_of(attrs), type_, token)
        self._hash = hash(self._key)

    @property
    def attr(self) -> dict:
        return dict(self.attrs)

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def shape(self):
        return self.type.shape

    def add_provenance(self, name: str, loc: str):
        if name and name not in self.names:
            self.names.append(name)
        if loc and loc not in self.locs:
            self.locs.append(loc)

    def describe(self) -> str:
        """`op 'user/name' (created at file.py:12)` for error messages."""
        what = self.op
        if self.names:
            what += f" {self.names[0]!r}"
        if self.locs:
            what += f" (created at {self.locs[0]})"
        return what

    def __repr__(self):
        return f"<Node {self.op} {self.type}>"


_PLAIN = frozenset((int, str, bool, type(None)))  # their own keys (exact types only)


def _key_of(value):
    """A hashable key of an attr value in which equal floats (NaN included, compared by
    bits) are equal."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, float):
        return ("f", struct.pack("<d", value))
    if isinstance(value, tuple):
        return tuple(_key_of(v) for v in value)
    return value


def reserve_tokens(used: int):
    """Make `new_token()` return numbers above `used` (after parsing tokens from text)."""
    global _tokens
    current = next(_tokens)
    _tokens = itertools.count(max(current, used + 1))


def freeze_attrs(attrs: dict) -> tuple:
    return tuple(sorted(attrs.items()))


class NodeCache:
    """Interns nodes by structural key."""

    def __init__(self):
        self._nodes: dict = {}

    def make(self, op, inputs, attrs: dict, type_: TensorType, token=0) -> Node:
        node = Node(op, inputs, freeze_attrs(attrs), type_, token)
        existing = self._nodes.get(node._key)
        if existing is not None:
            return existing
        self._nodes[node._key] = node
        return node


@dataclass
class Program:
    inputs: list            # placeholder Nodes in feed order
    outputs: list           # fetched Nodes (may repeat)
    effects: dict           # variable name -> Node holding its value after the run
    symbols: list           # free Syms, in the order generated code takes them
    checks: list = field(default_factory=list)   # (dim, dim, why) that must hold at run time
    bounds: list = field(default_factory=list)   # (a, b, why): a <= b must hold at run time
    symbol_origins: dict = field(default_factory=dict)  # sym name -> (placeholder, axis)
    input_dim_reasons: dict = field(default_factory=dict)  # (input, axis) -> why unified
    name: str = "main"
    output_names: list = field(default_factory=list)  # the fetched tensors' names

    def roots(self):
        return list(self.outputs) + list(self.effects.values())

    def topo(self) -> list:
        """The program's nodes (not those inside regions), inputs before consumers."""
        return topo_order(self.roots() + list(self.inputs))

    def variables(self) -> dict:
        """name -> TensorType of every variable the program reads or writes."""
        out = {}
        for n in self.topo():
            opdef = OPS[n.op]
            if opdef.reads_variable or opdef.writes_variable:
                a = n.attr
                out[a["var"]] = TensorType(a["dtype"], tuple(a["shape"]))
        return out


def region_program(region: Region, like: Program = None) -> Program:
    """The region as a Program (params as inputs, results as outputs), with the symbols,
    checks and bounds of `like` (the program that holds it), so passes can run on it."""
    if like is None:
        return Program(list(region.params), list(region.results), {}, [])
    return Program(list(region.params), list(region.results), {}, list(like.symbols),
                   checks=list(like.checks), bounds=list(like.bounds))
