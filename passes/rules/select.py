"""Rules for `select(cond, a, b)` (elementwise `cond ? a : b`).

Both only drop operands that cannot affect any element, and fire only when the surviving
branch already has the node's type (a condition or other branch that broadcasts it to a
bigger shape keeps the select).
"""

from __future__ import annotations

from .base import Rule, same_type, splat


def same_branches(node, rb):
    """select(c, x, x) -> x."""
    _, a, b = node.inputs
    return same_type(a, node) if a is b else None


def constant_condition(node, rb):
    """select(true, a, b) -> a and select(false, a, b) -> b, for a condition that is a
    constant (or a broadcast or reshape of one) with all elements equal."""
    value = splat(node.inputs[0])
    if value is None:
        return None
    return same_type(node.inputs[1] if value else node.inputs[2], node)


RULES = [
    Rule("select_same_branches", ("select",), same_branches),
    Rule("select_constant_condition", ("select",), constant_condition),
]
