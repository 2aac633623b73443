"""Gradients where ranks are unknown while the graph is built.

- `rank_free_rule(op, grad)`: the gradient of a primitive whose input, output or incoming
  gradient has unknown rank. Its rule (rules.py) may need ranks (summing a broadcast back,
  expanding a reduction), so each input's gradient becomes a "deferred" op
  (frontend/deferred.py) that rebuilds the primitive and runs its rule once `convert`
  knows the fed ranks. The rebuilt primitive is the same compiler-IR node as the forward
  one (nodes are hash-consed), so nothing is computed twice.
- `deferred(op, grad)`: the gradient of a "deferred" op, one "deferred_grad" op per float
  input, differentiating the op's own expansion (convert builds it once per program).
- `deferred_grad(op, grad)`: second derivatives through a deferred op are not built; the
  error names the op (and says so when the op has a gradient of its own: a pool).
"""

from __future__ import annotations

from functools import partial

from ..frontend import deferred as F
from ..frontend.array_ops import zeros_like
from ..frontend.core import make_op
from ..ir import dims as D


def _is_float(t) -> bool:
    return t.dtype.kind == "float"


def needs_ranks(op, grad) -> bool:
    return F.rank_unknown(grad, op.outputs[0], *op.inputs)


def rank_free_rule(rule, op, grad):
    """One deferred gradient per float input of the primitive `op` (see module doc)."""
    if _has_symbolic_attr(op.attrs.values()):
        raise TypeError(f"gradients: {op.describe()} has an input of unknown rank and "
                        "symbolic dims in its attributes; give its placeholder a shape")
    out = []
    for i, x in enumerate(op.inputs):
        if not _is_float(x):
            out.append(None)
            continue
        build = partial(_rule_at, rule, op.type, dict(op.attrs), i)
        out.append(F.deferred(build, list(op.inputs) + [grad], x.dtype, x.shape,
                              name=f"{op.type}_grad_{i}"))
    return out


def _rule_at(rule, op_type, attrs, index, *tensors):
    xs, grad = list(tensors[:-1]), tensors[-1]
    again = make_op(op_type, xs, **attrs)
    g = rule(again, grad)[index]
    return zeros_like(xs[index]) if g is None else g


def _has_symbolic_attr(values) -> bool:
    for v in values:
        if isinstance(v, D.DimExpr) and not isinstance(v, int):
            return True
        if isinstance(v, tuple) and _has_symbolic_attr(v):
            return True
    return False


def deferred(op, grad):
    if not op.attrs["differentiable"]:
        return [None] * len(op.inputs)
    return [F.deferred_grad(op, i, grad) if _is_float(x) else None
            for i, x in enumerate(op.inputs)]


def deferred_grad(op, grad):
    forward = op.attrs["forward"]
    if "grad" in forward.attrs:
        raise TypeError(f"gradients: second derivatives through {op.describe()} (the "
                        f"gradient of {forward.describe()}, a composite with a gradient of "
                        "its own, e.g. a max or average pool) are not supported")
    raise TypeError(f"gradients: second derivatives through {op.describe()} (a gradient "
                    "built for an input of unknown rank) are not supported; give the "
                    "placeholders shapes")
