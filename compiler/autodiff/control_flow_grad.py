"""Gradients through `tf.cond` and `tf.while_loop` (the user graph's `If` and `While`
ops, frontend/control_flow.py), symbol to symbol like every other rule.

`REGION_RULES[op.type](op, grads, gradients)` gets one gradient (or None) per output of
the region op and returns one per input; `gradients` is `fc.gradients` itself (passed
in, so this module does not import it). Inside a body, the values of the forward pass
are not visible to another region, so both rules *recompute* the body in the region
where its gradient is built: the traced ops are cloned there (`clone_region`), with the
outer values a body captured standing behind region-local identities, and `gradients`
differentiates the clone.

- **cond** -> a cond on the same predicate whose branches are the gradients of the two
  branches w.r.t. the captured values (a branch that does not use a value gives zeros).
- **while** -> TF1's stack-based gradient: the user's loop itself gets extra loop
  variables (once per loop, `_stacks_of`, as TF1's gradient adds stack pushes to the
  forward loop): an iteration counter and stacks, `[maximum_iterations, ...]` buffers
  into which every iteration writes its loop variables with `dynamic_update_slice`.
  Then a backward loop runs from the last iteration to the first, reads iteration j's
  variables back, recomputes the body from them and applies its gradient: the carried
  gradient becomes the gradient w.r.t. the iteration's inputs, and the gradients w.r.t.
  captured (loop-invariant) values, e.g. weights, are summed over the iterations. Loop
  variables that the body returns unchanged are read from their initial value, and
  those whose values the body only overwrites row by row (a TensorArray being written)
  need no stack at all: the gradient of a write does not depend on the old buffer.
  Random draws of the body (dropout) are stacked too and read back, so the recomputed
  body sees the forward pass's numbers.

The stacks need a bound known when the graph is built: `maximum_iterations` (a Python
int, or a scalar tensor that resolves to a dim, such as `tf.shape(x)[0]`), or, for a
counting loop `while i < n` (i from a non-negative constant, `i + 1` per iteration), n
itself. Without one the gradient raises a ValueError naming the loop. Nested control
flow inside a differentiated body is cloned recursively.
"""

from __future__ import annotations

import re

from ..frontend import control_flow as cf
from ..frontend.core import constant, identity, make
from ..frontend.graph import Tensor
from ..frontend.static import static_dims
from ..ir import dtypes as T
from ..ops import names
from .helpers import shape_of, zeros_like

#: the user graph's control-flow op types (frontend/control_flow.py)
REGION_OP_TYPES = ("While", "If")
#: ops that draw new numbers in every iteration of a loop
RANDOM_OPS = names(needs_counter=True)


def _is_float(t) -> bool:
    return t.dtype.kind == "float"


def maximum_iterations_of(op):
    """The `maximum_iterations` tensor of a While op, or None: the loop's cond checks
    its iteration counter against it in the op named `within_limit`."""
    for o in op.attrs["cond"].ops:
        if o.type == "less" and re.fullmatch(r"within_limit(_\d+)?", o.name.rsplit("/", 1)[-1]):
            return o.inputs[1]
    return None


def _rebuild_region_op(op, inputs, sub):
    """A new While/If like `op` over `inputs` (carried values / predicate only), each
    region traced again as `sub(old_region, new_params) -> results`."""
    graph = op.graph
    with graph.name_scope(op.name.rsplit("/", 1)[-1]) as scope:
        if op.type == "While":
            carried = list(inputs[:op.attrs["carried"]])
            regions = {kind: cf._trace(graph, kind, scope, carried,
                                       lambda ps, r=op.attrs[kind]: sub(r, ps))
                       for kind in ("cond", "body")}
            captures = cf._union(regions["cond"].captures, regions["body"].captures)
            attrs = dict(op.attrs, **regions)
            new = cf._region_op(graph, "While", carried + captures, attrs, scope,
                                [t.type for t in carried])
        else:
            regions = {kind: cf._trace(graph, kind, scope, [],
                                       lambda ps, r=op.attrs[kind]: sub(r, []))
                       for kind in ("then", "else")}
            captures = cf._union(regions["then"].captures, regions["else"].captures)
            new = cf._region_op(graph, "If", [inputs[0]] + captures, regions, scope,
                                [t.type for t in op.outputs])
    return new.outputs


# ---- cloning a traced body into the region being traced now ------------------------------
def clone_region(region, mapping: dict, count=None) -> list:
    """The first `count` (default: all) results of `region` recomputed in the current
    region: each traced op they need is made again with its inputs looked up in
    `mapping` (params and captures must be there; values made here are added). Returns
    the mapped results."""
    results = list(region.results[:count] if count is not None else region.results)
    needed = _needed(region, results)
    for op in region.ops:
        if op not in needed or op.type in ("param", "NoOp") or \
                all(t in mapping for t in op.outputs):
            continue   # a value given in `mapping` (a random draw read back) is kept
        inputs = [mapping.get(t, t) for t in op.inputs]  # unmapped: values from outside
        base = op.name.rsplit("/", 1)[-1]
        if op.type in REGION_OP_TYPES:
            outs = _clone_region_op(op, inputs, mapping)
        elif op.type in ("identity", "placeholder_with_default"):
            outs = [identity(inputs[0], name=base)]
        else:
            outs = [make(op.type, inputs, name=base, **op.attrs)]
        for t, new in zip(op.outputs, outs):
            mapping[t] = new
    return [mapping[t] for t in results]


def _needed(region, results) -> set:
    """The ops of `region` that `results` depend on."""
    members = set(region.ops)
    needed, stack = set(), [t.op for t in results if t.op in members]
    while stack:
        op = stack.pop()
        if op not in needed:
            needed.add(op)
            stack.extend(t.op for t in op.inputs if t.op in members)
            stack.extend(c for c in op.control_inputs if c in members)
    return needed


def _clone_region_op(op, inputs, mapping):
    """A nested While/If made again over `inputs`: its regions cloned, the outer values
    they captured looked up in `mapping` (or used as they are when they are outside)."""
    def sub(region, params):
        inner = {t: mapping.get(t, t) for t in region.captures}
        inner.update(zip(region.params, params))
        return clone_region(region, inner)
    return _rebuild_region_op(op, inputs, sub)


def _proxies(values):
    """Region-local identities of outer values, so `gradients` stops at them."""
    return [identity(v, name="captured") for v in values]


def _zeros(t):
    return zeros_like(t)


# ---- cond ---------------------------------------------------------------------------------
def if_grad(op, grads, gradients):
    captures = list(op.inputs[1:])
    wanted = [i for i, c in enumerate(captures) if _is_float(c)]
    outs = [i for i, (o, g) in enumerate(zip(op.outputs, grads))
            if g is not None and _is_float(o)]
    if not wanted or not outs:
        return [None] * len(op.inputs)
    seeds = [grads[i] for i in outs]

    def branch(region):
        def fn():
            proxies = _proxies(captures)
            mapping = dict(zip(captures, proxies))
            results = clone_region(region, mapping)
            ys = [results[i] for i in outs]
            xs = [proxies[i] for i in wanted]
            got = gradients(ys, xs, grad_ys=seeds, stop_gradients=captures,
                            name="branch_grad")
            return [g if g is not None else _zeros(x) for g, x in zip(got, xs)]
        return fn
    res = cf.cond(op.inputs[0], branch(op.attrs["then"]), branch(op.attrs["else"]),
                  strict=True)
    out = [None] * len(op.inputs)
    for k, i in enumerate(wanted):
        out[1 + i] = res[k]
    return out


# ---- while --------------------------------------------------------------------------------
def _counted_bound(op):
    """The limit n of a counting loop `while i < n: ...; i = i + 1` with i starting at a
    non-negative constant and n static or an outer tensor (an upper bound of the trip
    count), as a tensor usable outside the loop; None for any other loop."""
    cond_r, body = op.attrs["cond"], op.attrs["body"]
    test = cond_r.results[0].op
    if test.type == "less":
        counter, limit = test.inputs
    elif test.type == "greater":
        limit, counter = test.inputs
    else:
        return None
    if counter not in cond_r.params or limit.dtype.kind != "int":
        return None
    k = cond_r.params.index(counter)
    step = body.results[k].op
    if step.type != "add" or body.params[k] not in step.inputs:
        return None
    other = step.inputs[1] if step.inputs[0] is body.params[k] else step.inputs[0]
    start = static_dims(op.inputs[k]) if op.inputs[k].shape.ndims == 0 else None
    if static_dims(other) != [1] or not start or not isinstance(start[0], int) \
            or start[0] < 0:
        return None
    if limit.op.region is None:
        return limit
    value = static_dims(limit) if limit.shape.ndims == 0 else None
    if value is not None and isinstance(value[0], int):
        return constant(value[0], dtype=T.int32, name="trip_bound")
    return None


def _bound(op):
    limit = maximum_iterations_of(op)
    if limit is None:
        limit = _counted_bound(op)
    if limit is None:
        raise ValueError(f"gradients: the while_loop {op.name!r} (created at {op.loc}) has no "
                         "maximum_iterations; flowc's gradient of a loop keeps every "
                         "iteration's loop variables in buffers of that many rows: pass "
                         "maximum_iterations= (a Python int or a tensor such as "
                         "tf.shape(x)[0]) to the while_loop")
    vals = static_dims(limit) if isinstance(limit, Tensor) and limit.shape.ndims == 0 \
        else None
    if vals is None:
        raise ValueError(f"gradients: the maximum_iterations of while_loop {op.name!r} "
                         f"(created at {op.loc}) is only known at run time; the gradient "
                         "needs it when the graph is built (a Python int or a dim such as "
                         "tf.shape(x)[0])")
    return limit, vals[0]


def _value_free(region, index) -> bool:
    """Whether param `index` of a body influences nothing but the buffer operand of
    `dynamic_update_slice` ops whose results are body results or again such operands
    (a TensorArray being written): its values need no stack."""
    users: dict = {}
    for op in region.ops:
        for k, t in enumerate(op.inputs):
            users.setdefault(t, []).append((op, k))
    stack, seen = [region.params[index]], set()
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        for op, k in users.get(t, ()):
            if op.type != "dynamic_update_slice" or k != 0:
                return False
            stack.append(op.outputs[0])
    return True


def while_grad(op, grads, gradients):
    n_in = len(op.inputs)
    if not op.attrs.get("back_prop", True):
        return [None] * n_in
    plan = getattr(op, "_gradient_plan", None)
    k = plan["carried"] if plan else op.attrs["carried"]
    flow = [i for i in range(k) if _is_float(op.inputs[i])]
    if not any(grads[i] is not None for i in flow):
        return [None] * n_in
    plan = plan or _plan(op)
    init, captures = list(op.inputs[:k]), list(op.inputs[plan["inputs"]:])
    count, stacks, drawn = _stacks_of(op, plan)
    stacks.update(plan["invariant"])
    g_init, g_caps = _backward(op, init, captures, plan["stacked"], stacks, count, grads,
                               flow, plan["limit"], plan["body"], gradients,
                               list(zip(plan["draws"], drawn)))
    out = [None] * len(op.inputs)
    for i in flow:
        out[i] = g_init[i]
    for j, g in g_caps.items():
        out[plan["inputs"] + j] = g
    return out


def _plan(op) -> dict:
    """What the gradient of the While op needs, decided once per op (the loop is then
    extended with stacks, which a second analysis would see as uses)."""
    k = op.attrs["carried"]
    body = op.attrs["body"]
    limit, bound = _bound(op)
    # a loop variable the body returns unchanged keeps its initial value: no stack
    invariant = {i: op.inputs[i] for i in range(k) if body.results[i] is body.params[i]}
    # the float results' values depend on these params only (counters that only
    # count are not read back)
    flow = [body.results[i] for i in range(k) if _is_float(op.inputs[i])]
    used = {id(t) for o in _needed(body, flow) for t in o.inputs} | {id(t) for t in flow}
    plan = {"carried": k, "inputs": k, "body": body, "limit": limit, "bound": bound,
            "invariant": invariant, "draws": _random_draws(op, body),
            "stacked": [i for i in range(k) if i not in invariant
                        and id(body.params[i]) in used and not _value_free(body, i)]}
    op._gradient_plan = plan
    return plan
def _random_draws(op, body) -> list:
    """The random ops of a loop body, whose values the backward loop must read back (it
    runs the iterations in another order, so drawing again would give other numbers).
    Draws inside a control-flow op nested in the body cannot be read back: an error."""
    draws = [o for o in body.ops if o.type in RANDOM_OPS]
    stack = [o for o in body.ops if o.type in REGION_OP_TYPES]
    while stack:
        nested = stack.pop()
        for region in (v for v in nested.attrs.values() if hasattr(v, "ops")):
            for o in region.ops:
                if o.type in RANDOM_OPS:
                    raise NotImplementedError(
                        f"gradients: {o.describe()} draws random numbers inside "
                        f"{nested.describe()}, which is nested in the body of while_loop "
                        f"{op.name!r}; flowc differentiates loops whose draws are in the "
                        "loop's own body only")
                if o.type in REGION_OP_TYPES:
                    stack.append(o)
    return draws


def _zero_stack(bound, like, dtype):
    return make("broadcast", [constant(0, dtype=dtype)], shape=(bound,) + shape_of(like),
                name="stack")


def _stacks_of(op, plan):
    """(iteration count, {loop variable index: stack}, [stack of each draw]): extra loop
    variables of the user's loop itself (made once per op, as TF1's gradient adds stack
    pushes to the forward loop), so the forward pass runs once. Each iteration writes
    the stacked loop variables and the body's random draws at its row."""
    if "stacks" in plan:
        return plan["stacks"]
    k, body, cond_r = plan["carried"], plan["body"], op.attrs["cond"]
    bound, graph = plan["bound"], op.graph
    stacked, draws = plan["stacked"], plan["draws"]
    values = [op.inputs[i] for i in stacked] + [d.outputs[0] for d in draws]
    if graph.current_region() is not op.region:
        raise NotImplementedError(f"gradients: {op.describe()} is differentiated from "
                                  "inside another control-flow body; call tf.gradients "
                                  "where the loop was made")
    home = op.region.ops if op.region is not None else None   # the region holding op
    mark = len(home) if home is not None else 0
    with graph.name_scope(op.name + "/"):
        inits = [constant(0, dtype=T.int32, name="iteration")] + [
            _zero_stack(bound, v, v.dtype) for v in values]
    if home is not None:   # a region's ops are converted in order: inputs before the op
        made = home[mark:]
        del home[mark:]
        at = home.index(op)
        home[at:at] = made
    with graph.name_scope(op.name + "/"):
        params = {}
        for region in (cond_r, body):
            with graph.region_scope(region):
                params[region.kind] = [
                    make("param", [], name="loop_var", index=len(region.params) + n,
                         dtype=t.dtype, shape=tuple(t.shape)) for n, t in enumerate(inits)]
            region.params += params[region.kind]
        with graph.region_scope(body):
            i, stacks = params["body"][0], params["body"][1:]
            sources = [body.params[j] for j in stacked] + [d.outputs[0] for d in draws]
            body.results += [make("add", [i, constant(1, dtype=T.int32)], name="iteration")]
            body.results += [make("dynamic_update_slice", [st, v, i], name="push")
                             for st, v in zip(stacks, sources)]
    at = plan["inputs"]
    op.inputs[at:at] = inits
    op.attrs["carried"] = k + len(inits)
    plan["inputs"] = at + len(inits)
    first = len(op.outputs)
    for n, t in enumerate(inits):
        op.outputs.append(Tensor(op, first + n, t.type))
    outs = op.outputs[first:]
    plan["stacks"] = (outs[0], dict(zip(stacked, outs[1:1 + len(stacked)])),
                      outs[1 + len(stacked):])
    return plan["stacks"]


def _backward(op, init, captures, stacked, stacks, count, grads, flow, limit, body,
              gradients, drawn):
    """The backward loop: (gradient of each carried initial value, {capture index:
    gradient summed over iterations})."""
    k = len(init)
    cap_idx = [j for j, c in enumerate(captures) if _is_float(c)]
    g0 = [grads[i] if grads[i] is not None else _zeros(init[i]) for i in flow]
    z0 = [_zeros(captures[j]) for j in cap_idx]

    def bcond(j, gs, zs):
        return make("greater", [j, constant(0, dtype=T.int32)])

    def bbody(j, gs, zs):
        jj = j - 1
        cs = [_zeros(init[i]) if i not in stacks else
              make("gather", [stacks[i], jj], axis=0) if i in stacked else
              identity(stacks[i], name="invariant") for i in range(k)]
        proxies = _proxies(captures)
        mapping = dict(zip(body.params, cs))
        mapping.update(zip(captures, proxies))
        mapping.update((d.outputs[0], make("gather", [r, jj], axis=0)) for d, r in drawn)
        results = clone_region(body, mapping, len(init))
        ys = [results[i] for i in flow]
        xs = [cs[i] for i in flow] + [proxies[j2] for j2 in cap_idx]
        got = gradients(ys, xs, grad_ys=list(gs), stop_gradients=captures,
                        name="body_grad")
        d_cs = [g if g is not None else _zeros(x) for g, x in zip(got[:len(flow)], xs)]
        d_z = [z if g is None else make("add", [z, g])
               for z, g in zip(zs, got[len(flow):])]
        return jj, d_cs, d_z
    _, g_init, g_caps = cf.while_loop(bcond, bbody, (count, g0, z0),
                                      maximum_iterations=limit, name="backward")
    return dict(zip(flow, g_init)), dict(zip(cap_idx, g_caps))


REGION_RULES = {"While": while_grad, "If": if_grad}
