"""Arithmetic identities: add, sub, mul, div, neg, logical_not.

Each rule is exact for every input value, IEEE special values included, and only fires
when the surviving operand already has the node's type (an identity constant that
broadcasts `x` to a bigger shape does not make the node `x`). Kept out on purpose:
`x*0`, `x-x` and `x/x` (wrong for NaN and inf; and for ints, `x/x` is 0 at x = 0 under
flowc's division rule, while dropping `x` from `x*0` or `x-x` would hide a run-time error
that computing `x` raises, e.g. an out-of-range gather index).
"""

from __future__ import annotations

from .base import Rule, is_zero, same_type, splat


def _identity_operand(node, sides, is_identity):
    """The other operand when operand `k` (for k in `sides`) is an identity splat."""
    for k in sides:
        value = splat(node.inputs[k])
        if value is not None and is_identity(value, node):
            found = same_type(node.inputs[1 - k], node)
            if found is not None:
                return found
    return None


def _additive_zero(value, node) -> bool:
    # x + (+0.0) is +0.0 for x = -0.0, so for floats only -0.0 is the additive identity
    return is_zero(value, negative=True)


def _subtractive_zero(value, node) -> bool:
    # x - (+0.0) = x + (-0.0) = x for every x, -0.0 included; x - (-0.0) is not
    return is_zero(value, negative=False)


def _one(value, node) -> bool:
    return value == 1


def add_zero(node, rb):
    """x + 0 -> x, 0 + x -> x (floats: only the zero -0.0)."""
    return _identity_operand(node, (0, 1), _additive_zero)


def sub_zero(node, rb):
    """x - 0 -> x (floats: only the zero +0.0)."""
    return _identity_operand(node, (1,), _subtractive_zero)


def mul_one(node, rb):
    """x * 1 -> x, 1 * x -> x."""
    return _identity_operand(node, (0, 1), _one)


def div_one(node, rb):
    """x / 1 -> x (floats and integer floor division alike)."""
    return _identity_operand(node, (1,), _one)


def _involution(node, rb):
    """f(f(x)) -> x for an f that is its own inverse."""
    inner = node.inputs[0]
    return inner.inputs[0] if inner.op == node.op else None


RULES = [
    Rule("add_zero", ("add",), add_zero),
    Rule("sub_zero", ("sub",), sub_zero),
    Rule("mul_one", ("mul",), mul_one),
    Rule("div_one", ("div",), div_one),
    Rule("neg_neg", ("neg",), _involution),
    Rule("not_not", ("logical_not",), _involution),
]
