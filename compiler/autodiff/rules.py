"""The gradient rule table: one entry per primitive of `compiler.ops.OPS`.

`RULES[op_type](op, grad)` returns one gradient (a Tensor) or None per input of `op`,
given the gradient `grad` of its output; rules build primitive ops only, so passes,
fusion and both backends need nothing new. `NON_DIFFERENTIABLE` names the primitives
whose inputs get no gradient (None), as in TF1: the rows of the op table whose
`differentiable` is False. `RULES` has a key for exactly the differentiable rows
(tests/test_autodiff_table.py checks it). Nothing is registered by import side effects:
this module only builds the two objects below.
"""

from __future__ import annotations

from ..ops import names
from . import conv_rules as C
from . import deferred_rules as R
from . import elementwise_rules as E
from . import structural_rules as S

RULES = {
    # elementwise unary
    "neg": E.neg, "abs": E.abs_, "sign": E.zero, "floor": E.zero, "ceil": E.zero,
    "exp": E.exp, "expm1": E.expm1, "log": E.log, "log1p": E.log1p, "sqrt": E.sqrt,
    "rsqrt": E.rsqrt, "tanh": E.tanh, "sigmoid": E.sigmoid, "sin": E.sin, "cos": E.cos,
    "erf": E.erf, "atan": E.atan,
    # elementwise binary, ternary, cast
    "add": E.add, "sub": E.sub, "mul": E.mul, "div": E.div, "mod": E.mod, "pow": E.pow_,
    "maximum": E.maximum, "minimum": E.minimum, "select": E.select, "cast": E.cast,
    # reductions, contraction
    "reduce_sum": S.reduce_sum, "reduce_max": S.reduce_extreme,
    "reduce_min": S.reduce_extreme, "reduce_prod": S.reduce_prod, "matmul": S.matmul,
    "conv": C.conv,
    # movement
    "reshape": S.reshape, "transpose": S.transpose, "broadcast": S.broadcast,
    "slice": S.slice_, "concat": S.concat, "pad": S.pad, "gather": S.gather,
    "scatter_add": S.scatter_add, "dynamic_update_slice": S.dynamic_update_slice,
    # window primitives
    "patches": S.patches, "fold": S.fold,
}

NON_DIFFERENTIABLE = frozenset(names(differentiable=False))

# Op types that exist only in the user graph (they compile to nothing).
PASS_THROUGH = frozenset({"identity", "placeholder_with_default"})
NO_GRADIENT_USER_OPS = frozenset({"NoOp"})
# Rules of the user-graph-only ops that convert expands (frontend/deferred.py).
USER_OP_RULES = {"deferred": R.deferred, "deferred_grad": R.deferred_grad}


def rule_for(op_type: str):
    """The rule of `op_type`; None for a non-differentiable op; KeyError names the op
    when it is in neither set (the completeness test keeps that from happening)."""
    if op_type in RULES:
        return RULES[op_type]
    if op_type in USER_OP_RULES:
        return USER_OP_RULES[op_type]
    if op_type in NON_DIFFERENTIABLE or op_type in NO_GRADIENT_USER_OPS:
        return None
    raise KeyError(f"gradients: no gradient rule for op type {op_type!r}")
