"""The ONNX op mapping table: one `Converter` row per ONNX op type, the one home of what
flowc knows about an ONNX op (the importer, the backend and docs/onnx.md read it).

A row names the op type (and its domain: "" is the default ONNX domain, others are e.g.
"ai.onnx.ml"), the lowest opset version its converter handles (`since`; the
highest is the `onnx` package's current opset), the attributes it understands, which inputs
must be known when the model is imported (`static`: shapes, axes, pads, sizes, which
flowc's movement primitives take as dims), and `fn(cx) -> list of tensors` that builds the
op from flowc frontend functions. `cx` is a `NodeContext`: the node, its opset, its inputs
as tensors, its attributes as Python values. A converter that meets a form it cannot
build raises `cx.unsupported(why)`; the importer collects those for every node of the
model and reports them together. Rows are registered by the family modules in
`compiler/onnx/ops/` with the `converter` decorator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Converter:
    op_type: str
    fn: Callable
    since: int = 1
    attrs: frozenset = frozenset()
    static: tuple = ()          # input positions whose values must be known at import
    note: str = ""              # limits, for docs/onnx.md
    domain: str = ""            # the ONNX domain ("" is the default, alias "ai.onnx")


CONVERTERS: dict[tuple[str, str], Converter] = {}


def domain_key(domain):
    """The table's name of an ONNX domain: "" for the default domain (alias "ai.onnx")."""
    return "" if domain in ("", "ai.onnx") else domain


def converter(op_type, *, domain="", since=1, attrs=(), static=(), note=""):
    """Register `fn` as the converter of ONNX `op_type` of `domain` (one row per op type
    and domain; `since` is a version of that domain's opset)."""
    key = (domain_key(domain), op_type)

    def register(fn):
        if key in CONVERTERS:
            raise ValueError(f"ONNX op {op_type!r} of domain {key[0]!r} has two converters")
        CONVERTERS[key] = Converter(op_type, fn, since, frozenset(attrs), tuple(static),
                                    note, key[0])
        return fn
    return register


def get(op_type, domain=""):
    return CONVERTERS.get((domain_key(domain), op_type))


def rows():
    """Every row, by domain (the default one first) and op type."""
    return [CONVERTERS[k] for k in sorted(CONVERTERS)]


class Unsupported(Exception):
    """A node flowc cannot build (op, attribute or input form); collected by the importer."""


class NodeContext:
    """What a converter sees of one node: `node` (NodeProto), `name` (its name or a made-up
    one), `op_type`, `opset` (the model's version of the node's domain), `inputs` (tensors;
    None for an omitted optional input), `attrs` (name -> Python value), and the importer,
    for values known at import time and subgraphs; `values` (ONNX name -> tensor) are the
    names in scope at the node, which `subgraph` passes on to a GRAPH attribute."""

    def __init__(self, importer, row, node, name, opset, inputs, attrs, values=None):
        self.importer = importer
        self.row = row
        self.node = node
        self.name = name
        self.op_type = node.op_type
        self.opset = opset
        self.inputs = inputs
        self.attrs = attrs
        self.values = values if values is not None else {}

    def __repr__(self):
        return f"{self.op_type} node {self.name!r} (opset {self.opset})"

    def input(self, i, default=None):
        """Input `i` as a tensor, or `default` when it is absent (omitted or past the end)."""
        if i < len(self.inputs) and self.inputs[i] is not None:
            return self.inputs[i]
        return default

    def has(self, i):
        return i < len(self.inputs) and self.inputs[i] is not None

    def attr(self, name, default=None):
        return self.attrs.get(name, default)

    def static(self, i, default=None):
        """The value of input `i` as a numpy array when it is known at import time
        (an initializer, a Constant node, or a shape expression of known dims); `default`
        when the input is absent. Raises `Unsupported` naming the input otherwise."""
        if i not in self.row.static:
            raise AssertionError(f"{self.op_type}'s converter reads input {i} at import "
                                 f"time; its table row must list it in `static`")
        if not self.has(i):
            return default
        value = self.importer.static_value(self.inputs[i])
        if value is None:
            raise self.unsupported(
                f"input {i} ({self.node.input[i]!r}) must be known when the model is "
                f"imported (an initializer or a Constant), but it is computed at run time")
        return value

    def static_ints(self, i, default=None):
        v = self.static(i, None)
        return default if v is None else [int(x) for x in np.asarray(v).reshape(-1)]

    def subgraph(self, graph, inputs):
        """The output tensors of `graph` (a GRAPH attribute of this node) built with
        `inputs` for its inputs and the enclosing names in scope (Importer.subgraph)."""
        return self.importer.subgraph(graph, list(inputs), self.values)

    def unsupported(self, why):
        return Unsupported(why)
