"""The `Rule` record and the small pattern helpers rules are written with.

A rule is `fn(node, rb) -> Node | None`: `node` is a node of the program being rebuilt
(its inputs are rebuilt already), `rb` the `passes.rewrite.Rebuilder` through which a
rule makes any new node (`rb.derive(node, op, inputs, **attrs)` gives a node of exactly
`node.type`, or None). The rule returns the node that stands for `node` — of exactly
`node.type` (dtype and shape, symbolic dims included) — or None when it does not apply.
Rules never see or change anything but the node and its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from compiler.ir.nodes import Node

# movement ops that only repeat or regroup the elements of their input
SPLAT_PRESERVING = ("broadcast", "reshape")


@dataclass(frozen=True)
class Rule:
    """`name` (as in docs/passes.md), the `ops` whose nodes it looks at, and `fn`."""
    name: str
    ops: tuple
    fn: Callable

    def __call__(self, node: Node, rb) -> Optional[Node]:
        return self.fn(node, rb)


def splat(node: Node):
    """The value of every element of `node`, as a numpy scalar, when `node` is a
    non-empty constant — or a broadcast or reshape of one — whose elements all have the
    same bits (so -0.0 and 0.0 differ); else None."""
    while node.op in SPLAT_PRESERVING:
        node = node.inputs[0]
    if node.op != "constant":
        return None
    flat = node.attr["value"].array.reshape(-1)
    if flat.size == 0:
        return None
    bits = flat.view(f"u{flat.dtype.itemsize}")
    return flat[0] if np.all(bits == bits[0]) else None


def is_float(node: Node) -> bool:
    return node.dtype.is_float


def is_zero(value, negative: bool) -> bool:
    """`value` is 0; for floats, additionally a zero of the given sign."""
    if value != 0:
        return False
    return not isinstance(value, np.floating) or bool(np.signbit(value)) == negative


def same_type(candidate: Node, node: Node) -> Optional[Node]:
    """`candidate` when it has exactly `node`'s type (so it can stand for it), else None."""
    return candidate if candidate.type == node.type else None
