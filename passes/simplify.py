"""Algebraic simplification: `simplify(program) -> (program, changed)`.

Applies small declarative rules (`passes/rules/`: arith, select, cast, movement; each a
`Rule` with a name, the ops it looks at, and `fn(node, rb) -> Node | None`) to every node
in topological order while the program is rebuilt. A node's rules are tried in `RULES`
order; when one fires, the rules of the replacement are tried in turn (at most
`LOCAL_LIMIT` times), so `transpose(transpose(x))` becomes `x` in one pass.

Guarantees:
- a replacement has exactly the node's type (dtype, shape with symbolic dims); a rule
  that breaks this is a `RewriteError` naming the rule and the node;
- only rewrites that give the same bits for every input (IEEE specials included) are
  made; `x*0`, `x-x`, `x/x` are never simplified (see docs/passes.md for each rule);
- `stop_gradient` is kept: it is an identity for values, but it marks where gradients
  stop, which later program transformations may still need;
- the replacement carries the provenance of the nodes it replaced.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Optional

from compiler.ir.nodes import Node, Program

from .rewrite import Rebuilder, copy_provenance, rebuild
from .rules import arith, cast, control, movement, select

RULES = arith.RULES + select.RULES + cast.RULES + movement.RULES + control.RULES
LOCAL_LIMIT = 16   # rules fired in a row on one node before moving on

_BY_OP: dict = defaultdict(list)
for _rule in RULES:
    for _op in _rule.ops:
        _BY_OP[_op].append(_rule)


def simplify(program: Program) -> tuple:
    new, changes = rebuild(program, _simplify_node)
    return (new if changes else program), changes


def _simplify_node(node: Node, rb: Rebuilder) -> Optional[Node]:
    current = node
    for _ in range(LOCAL_LIMIT):
        replacement = _apply_first(current, rb)
        if replacement is None:
            break
        copy_provenance(current, replacement)
        current = replacement
    return None if current is node else current


def _apply_first(node: Node, rb: Rebuilder) -> Optional[Node]:
    for rule in _BY_OP.get(node.op, ()):
        out = rule(node, rb)
        if out is None or out is node:
            continue
        if out.type != node.type:
            raise TypeError(f"simplify rule {rule.name!r} replaced a node of type "
                            f"{node.type} by one of type {out.type}")
        return out
    return None
