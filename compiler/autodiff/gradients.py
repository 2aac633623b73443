"""`gradients(ys, xs, grad_ys=None, name="gradients", stop_gradients=None)`: TF1's
symbol-to-symbol differentiation.

It adds the ops computing sum_j d(ys[j])/d(xs[i]) (weighted by `grad_ys`, by default
ones) to the graph of `ys`, under the name scope `name`, and returns one Tensor per x, or
None for an x that no y depends on through float tensors. It walks the ops between xs
and ys in reverse creation order (a topological order), sums the gradients reaching each
tensor with `add`, and calls each op's rule from `rules.RULES`. `stop_gradient` ops, the
tensors in `stop_gradients` and integer/bool tensors pass no gradient; variables are
leaves. Control-flow ops (`If`, `While`: several outputs) get their rules from
`control_flow_grad.REGION_RULES`. It never runs anything, and the one change it makes
to existing ops is TF1's: a differentiated while loop gets stacks as extra loop
variables (its existing outputs keep their values).
"""

from __future__ import annotations

from ..frontend.array_ops import ones_like, zeros_like
from ..frontend.core import _as_tensor, convert_to_tensor, make
from ..frontend.graph import Tensor
from .control_flow_grad import REGION_RULES
from .deferred_rules import needs_ranks, rank_free_rule
from .rules import PASS_THROUGH, RULES, rule_for


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _tensors(values, what):
    out = []
    for v in _as_list(values):
        t = _as_tensor(v)
        if not isinstance(t, Tensor):
            raise TypeError(f"gradients: {what} must be tensors or variables, got {v!r}")
        out.append(t)
    return out


def _is_float(t) -> bool:
    return t.dtype.kind == "float"


def _between(ys, xs, stops):
    """Ops that lie on a float path from some x to some y, not crossing a stop."""
    reach_back, stack = set(), [y for y in ys if _is_float(y)]
    while stack:
        t = stack.pop()
        op = t.op
        if op in reach_back or op.type == "stop_gradient" or t in stops:
            continue
        reach_back.add(op)
        stack.extend(i for i in op.inputs if _is_float(i))
    consumers = {}
    for op in reach_back:
        for t in op.inputs:
            consumers.setdefault(t.op, []).append(op)
    forward, stack = set(), [x.op for x in xs]
    while stack:
        op = stack.pop()
        if op in forward or op not in reach_back:
            continue
        forward.add(op)
        stack.extend(consumers.get(op, ()))
    return forward


def _sum(grads):
    total = grads[0]
    for g in grads[1:]:
        total = make("add", [total, g])
    return total


def _seed(ys, grad_ys):
    if grad_ys is None:
        return [ones_like(y) for y in ys]
    grad_ys = _as_list(grad_ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"gradients: {len(grad_ys)} grad_ys for {len(ys)} ys")
    return [ones_like(y) if g is None else _shaped_like(convert_to_tensor(g, dtype=y.dtype), y)
            for y, g in zip(ys, grad_ys)]


def _shaped_like(g, y):
    """`g` (a grad_ys entry) with `y`'s static extents where `g` lacks them (TF1 requires
    the two shapes to agree): a reshape to y's shape, whose size check rejects a fed value
    of another size at run time. Rules such as conv's compute attrs from these extents.
    Unchanged when g knows them already or y has more than one unknown dim."""
    dims = y.shape.as_list() if y.shape.known_rank else None
    if dims is None or sum(d is None for d in dims) > 1:
        return g
    if g.shape.known_rank and len(g.shape) == len(dims) and all(
            gd is not None or yd is None for gd, yd in zip(g.shape.as_list(), dims)):
        return g
    return make("reshape", [g], shape=tuple(-1 if d is None else d for d in dims))


def _op_input_grads(op, grad):
    if op.type in PASS_THROUGH:
        return [grad]
    rule = rule_for(op.type)
    if rule is None:
        return [None] * len(op.inputs)
    if op.type in RULES and needs_ranks(op, grad):
        return rank_free_rule(rule, op, grad)
    return rule(op, grad)


def _backprop(ops, pending, stops):
    """Run the rules of `ops` (reverse creation order), filling `pending` in place.
    A control-flow op (several outputs) gets one gradient or None per output."""
    for op in sorted(ops, key=lambda o: o._id, reverse=True):
        if op.type in REGION_RULES:
            outs = [None if o in stops or not pending.get(o) else o for o in op.outputs]
            if not any(o is not None for o in outs):
                continue
            with op.graph.name_scope(f"{op.name}_grad"):
                for o in outs:
                    if o is not None:
                        pending[o] = [_sum(pending[o])]
                input_grads = REGION_RULES[op.type](
                    op, [None if o is None else pending[o][0] for o in outs], gradients)
        else:
            out = op.outputs[0]
            if out in stops or not pending.get(out):
                continue
            with op.graph.name_scope(f"{op.name}_grad"):
                pending[out] = [_sum(pending[out])]
                input_grads = _op_input_grads(op, pending[out][0])
        for t, g in zip(op.inputs, input_grads):
            if g is not None and _is_float(t) and t.op in ops:
                pending.setdefault(t, []).append(g)


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False,
              gate_gradients=False, aggregation_method=None, stop_gradients=None,
              unconnected_gradients="none"):
    """TF1 `tf.gradients`: a list with the gradient of sum(ys) w.r.t. each of `xs`.

    `colocate_gradients_with_ops`, `gate_gradients` and `aggregation_method` are accepted
    for TF1 programs and ignored (placement and ordering are the compiler's).
    `unconnected_gradients="zero"` gives zeros instead of None for an unconnected x."""
    if unconnected_gradients not in ("none", "zero"):
        raise ValueError(f"gradients: unconnected_gradients must be 'none' or 'zero', got "
                         f"{unconnected_gradients!r}")
    ys, xs = _tensors(ys, "ys"), _tensors(xs, "xs")
    stops = set(_tensors(stop_gradients, "stop_gradients")) if stop_gradients else set()
    graph = ys[0].graph
    with graph.as_default(), graph.name_scope(name):
        seeds = _seed(ys, grad_ys)
        ops = _between(ys, xs, stops)
        pending = {}
        for y, g in zip(ys, seeds):
            if y.op in ops:
                pending.setdefault(y, []).append(g)
        _backprop(ops, pending, stops)
        return [_result(x, pending, unconnected_gradients) for x in xs]


def _result(x, pending, unconnected):
    if pending.get(x):
        return _sum(pending[x])
    if unconnected == "zero":
        return zeros_like(x)
    return None
