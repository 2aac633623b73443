"""Grouping, ordering and scoping of the TF1 API: `group`, `no_op`, `identity`,
`name_scope`, `device`, `control_dependencies`; and control flow: `while_loop`, `cond`,
`case`.

The context managers act on the default graph (or, for `name_scope`, on the graph of
`values` when given) and only change how later ops are named, placed and ordered; they
create no ops themselves. `identity` and `group` add user-graph-only ops (`identity`,
`NoOp`) that compile to nothing.

Control flow traces each Python function once into a `UserRegion` of the graph (ops
made inside carry it; a while loop's variables inside are `param` ops), finds the outer
tensors the body uses (its captures), and adds one user-graph op with one output per
value: `While` (inputs: the loop variables' initial values, then the captures; attrs
`cond`, `body` (UserRegions), `carried`, `back_prop`, `parallel_iterations`) or `If`
(inputs: the predicate, then the captures; attrs `then`, `else`). Conversion
(compiler/convert.py) turns them into the compiler IR's `while` and `cond` over closed
regions. Loop variables and branch results may be nests (lists, tuples, namedtuples such
as `LSTMStateTuple`, dicts; see `nest.py`). A loop variable keeps its dtype and shape
across iterations: a body that changes either is an error naming the variable, and
`shape_invariants` may state a shape no more specific than the initial one but cannot
make a shape change. Bodies may read variables but not assign them (an error naming the
op); random draws in a loop body differ per iteration (the run counter is folded with
the iteration number, runtime/loop_counter.py).
"""

from __future__ import annotations

import contextlib

from ..ir import dims as D
from ..ir import dtypes as T
from ..ir.types import format_shape
from . import nest
from .core import _as_tensor, _graph_of, convert_to_tensor, create_op, make
from .core import identity as identity  # re-exported: fc.identity
from .graph import GraphError, Operation, Tensor, TensorShape, UserRegion, get_default_graph
from .tensor_array import shape_loop_arrays


def group(*inputs, name=None) -> Operation:
    """An op that runs all `inputs` (ops, tensors, or lists of them) and has no value."""
    ops = []
    for x in inputs:
        items = x if isinstance(x, (list, tuple)) else [x]
        for i in items:
            i = _as_tensor(i)
            ops.append(i.op if isinstance(i, Tensor) else i)
    graph = ops[0].graph if ops else get_default_graph()
    with graph.control_dependencies(ops):
        return graph.create_op("NoOp", [], {}, name=name or "group_deps")


def no_op(name=None) -> Operation:
    """An op that does nothing (a target for control dependencies)."""
    return get_default_graph().create_op("NoOp", [], {}, name=name or "NoOp")


@contextlib.contextmanager
def name_scope(name, default_name=None, values=None):
    """Prefix the names of the ops created inside with `name/` (made unique, as in TF1);
    yields the scope string "name/". `name=None` with no `default_name` resets to the
    top-level scope, and a name ending in "/" re-enters that exact scope."""
    graph = _graph_of([_as_tensor(v) for v in values or ()])
    scope_name = name if name is not None else default_name
    with graph.as_default(), graph.name_scope(scope_name) as scope:
        yield scope


@contextlib.contextmanager
def device(device_name):
    """Place the ops created inside on `device_name`: a device string ("/cpu:0",
    "/job:worker/task:1/device:GPU:0", a partial spec merged with the enclosing
    scopes'), a DeviceSpec, a device function fn(op) -> string, or None (clears the
    enclosing scopes), as TF1's `tf.device`."""
    with get_default_graph().device(device_name):
        yield


@contextlib.contextmanager
def colocate_with(op, ignore_existing=False):
    """TF1's `tf.colocate_with`: ops created inside go where `op` (an op, tensor or
    variable) goes (Graph.colocate_with)."""
    graph = op.graph if op is not None else get_default_graph()
    with graph.as_default(), graph.colocate_with(op, ignore_existing):
        yield


@contextlib.contextmanager
def control_dependencies(control_inputs):
    """Ops created inside run after every op (or tensor's op) in `control_inputs`;
    `None` clears the dependencies of enclosing blocks."""
    if control_inputs is not None:
        control_inputs = [_as_tensor(c) for c in control_inputs]
    with get_default_graph().control_dependencies(control_inputs):
        yield


# ---- control flow -------------------------------------------------------------------------
#: op types that may not appear in a control-flow body: they change state
_STATEFUL_IN_BODY = ("assign", "assign_add")


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, name=None, maximum_iterations=None,
               return_same_structure=False):
    """TF1's `tf.while_loop`: repeat `loop_vars = body(*loop_vars)` while
    `cond(*loop_vars)` is true (and fewer than `maximum_iterations` steps ran), compiled
    as one loop. `loop_vars` is a tensor or a nest of them; the result has its structure
    (a one-element list gives its element unless `return_same_structure`)."""
    if not callable(cond) or not callable(body):
        raise TypeError("while_loop: cond and body must be callable")
    if parallel_iterations < 1:
        raise ValueError("while_loop: parallel_iterations must be a positive integer")
    single = not nest.is_sequence(loop_vars)
    structure = [loop_vars] if single else loop_vars
    # TensorArrays first written in the body get their element shape from a probe trace
    structure = shape_loop_arrays(structure, lambda s: body(s[0]) if single else body(*s))
    leaves = nest.flatten(structure)
    if not leaves:
        raise ValueError("while_loop: loop_vars is empty")
    flat = [convert_to_tensor(v) for v in leaves]
    graph = _graph_of(flat)
    with graph.as_default(), graph.name_scope(name or "while") as scope:
        if shape_invariants is not None:
            _check_invariants(structure, flat, shape_invariants, scope)
        counter = []
        if maximum_iterations is not None:
            limit = convert_to_tensor(maximum_iterations, dtype=T.int32)
            if limit.shape.known_rank and limit.shape.ndims != 0:
                raise ValueError(f"while_loop {scope[:-1]!r}: maximum_iterations must be a "
                                 f"scalar, got shape {limit.shape}")
            counter = [convert_to_tensor(0, dtype=T.int32)]
        carried = counter + flat

        def call(fn, params):
            packed = nest.pack_sequence_as(structure, params[len(counter):])
            return fn(packed[0]) if single else fn(*packed)

        cond_region = _trace(graph, "cond", scope, carried,
                             lambda ps: [_loop_condition(call(cond, ps), ps, counter,
                                                         limit if counter else None, scope)])
        body_region = _trace(graph, "body", scope, carried,
                             lambda ps: _body_values(call(body, ps), ps, counter, structure,
                                                     flat, single, scope))
        for region in (cond_region, body_region):
            _check_body_ops(region)
        captures = _union(cond_region.captures, body_region.captures)
        op = _region_op(graph, "While", carried + captures,
                        {"cond": cond_region, "body": body_region, "carried": len(carried),
                         "back_prop": bool(back_prop),
                         "parallel_iterations": int(parallel_iterations),
                         "swap_memory": bool(swap_memory)},
                        scope, [t.type for t in carried])
    outputs = op.outputs[len(counter):]
    result = nest.pack_sequence_as(structure, outputs)
    if single:
        return result[0]
    if not return_same_structure and isinstance(result, list) and len(result) == 1:
        return result[0]
    return result


def _trace(graph, kind, scope, carried, fn) -> UserRegion:
    """Trace `fn(params)` once into a new region whose params mirror `carried`."""
    region = UserRegion(kind, scope[:-1], graph.current_region())
    with graph.region_scope(region):
        region.params = [make("param", [], name="loop_var", index=i, dtype=t.dtype,
                              shape=tuple(t.shape) if t.shape.known_rank else None)
                         for i, t in enumerate(carried)]
        region.results = list(fn(region.params))
    region.find_captures()
    return region


def _loop_condition(value, params, counter, limit, scope):
    try:
        c = convert_to_tensor(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"while_loop {scope[:-1]!r}: cond must return a bool scalar tensor, "
                        f"got {value!r}") from e
    if c.dtype is not T.bool_ or (c.shape.known_rank and c.shape.ndims != 0):
        raise TypeError(f"while_loop {scope[:-1]!r}: cond must return a bool scalar, got "
                        f"{c.dtype.name} of shape {c.shape}")
    if counter:
        within = make("less", [params[0], limit], name="within_limit")
        c = make("logical_and", [within, c])
    return c


def _body_values(value, params, counter, structure, flat, single, scope):
    """The body's flat results, checked against the loop variables (structure, dtype,
    shape), with the iteration counter's next value first when there is one."""
    if not nest.is_sequence(value) or (single and len(nest.flatten(value)) != 1):
        value = [value]
    elif single:
        value = nest.flatten(value)
    if len(nest.flatten(value)) != len(flat):
        raise ValueError(f"while_loop {scope[:-1]!r}: body returned "
                         f"{len(nest.flatten(value))} values for {len(flat)} loop variables")
    nest.assert_same_structure(_loose(structure), _loose(value),
                               f"while_loop {scope[:-1]!r}: the body's result and loop_vars")
    out = []
    for i, (v, init) in enumerate(zip(nest.flatten(value), flat)):
        out.append(_same_type_value(v, init, f"while_loop {scope[:-1]!r}: loop variable "
                                    f"{i} ({init.name!r})"))
    if counter:
        step = make("add", [params[0], convert_to_tensor(1, dtype=T.int32)], name="next_iter")
        out = [step] + out
    return out


def _loose(x):
    """`x` with every list and plain tuple as a list (TF1 compares them loosely)."""
    if isinstance(x, dict):
        return {k: _loose(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*[_loose(v) for v in x])
    if isinstance(x, (list, tuple)):
        return [_loose(v) for v in x]
    return x


def _same_type_value(value, like: Tensor, what: str) -> Tensor:
    """`value` as a tensor of `like`'s dtype and shape, or a clear error naming `what`."""
    if isinstance(value, Operation):
        raise TypeError(f"{what}: the body returned an operation, not a tensor")
    try:
        t = convert_to_tensor(value, dtype=like.dtype)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: {e}") from None
    a, b = like.shape, t.shape
    if a.known_rank and b.known_rank:
        if len(a) != len(b) or not _same_dims(like.graph, a, b):
            raise ValueError(f"{what} enters the loop with shape {format_shape(like.type.shape)}"
                             f" and has shape {format_shape(t.type.shape)} after an "
                             "iteration; flowc keeps each loop variable's shape fixed "
                             "(shape_invariants cannot relax it)")
    return t


def _same_dims(graph, a, b) -> bool:
    for x, y in zip(a, b):
        x, y = graph.symbols.resolve(x), graph.symbols.resolve(y)
        if x == y:
            continue
        sx = x.as_atom() if isinstance(x, D.DimExpr) else None
        sy = y.as_atom() if isinstance(y, D.DimExpr) else None
        if not (isinstance(sx, D.Sym) and isinstance(sy, D.Sym)):
            return False
        graph.symbols.unify(x, y, "a loop variable's shape across iterations")
    return True


def _check_invariants(structure, flat, shape_invariants, scope):
    invariants = [shape_invariants] if not nest.is_sequence(structure) else shape_invariants
    try:
        items = nest.flatten(_as_shape_leaves(invariants))
    except TypeError:
        items = None
    if items is None or len(items) != len(flat):
        raise ValueError(f"while_loop {scope[:-1]!r}: shape_invariants must have the "
                         "structure of loop_vars")
    for i, (inv, t) in enumerate(zip(items, flat)):
        if inv is None or inv.dims is None:
            continue
        actual = t.shape
        ok = (not actual.known_rank or (len(inv.dims) == len(actual) and all(
            d is None or not isinstance(a, int) or d == a for d, a in zip(inv.dims, actual))))
        if not ok:
            raise ValueError(f"while_loop {scope[:-1]!r}: the shape invariant {inv.dims} of "
                             f"loop variable {i} ({t.name!r}) is not compatible with its "
                             f"shape {actual}")


class _Invariant:
    """One shape invariant as a nest leaf: dims (None = unknown rank), None per unknown dim."""

    def __init__(self, dims):
        self.dims = dims


def _as_shape_leaves(x):
    if isinstance(x, TensorShape):
        return _Invariant(x.as_list() if x.known_rank else None)
    if x is None:
        return _Invariant(None)
    if isinstance(x, (list, tuple)) and all(d is None or isinstance(d, int) for d in x) \
            and not hasattr(x, "_fields"):
        return _Invariant(list(x))
    if isinstance(x, dict):
        return {k: _as_shape_leaves(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        items = [_as_shape_leaves(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
    raise TypeError(f"not a shape invariant: {x!r}")


def _check_body_ops(region: UserRegion):
    for op in region.ops:
        if op.type in _STATEFUL_IN_BODY:
            raise GraphError(f"{op.describe()} assigns a variable inside {region.describe()}; "
                             "flowc's control-flow bodies cannot change state (assign "
                             "outside the loop or branch, from its outputs)")
        if op.type == "placeholder":
            raise GraphError(f"{op.describe()} is created inside {region.describe()}; create "
                             "placeholders outside control-flow bodies")


def _union(a, b) -> list:
    return list(a) + [t for t in b if t not in a]


def _region_op(graph, op_type, inputs, attrs, scope, types) -> Operation:
    """The `While`/`If` op named after its scope, with one output per type."""
    if not types:
        raise ValueError(f"{op_type} {scope[:-1]!r} has no values")
    op = create_op(op_type, inputs, attrs, scope, out_type=types[0])
    for i, ty in enumerate(types[1:], 1):
        op.outputs.append(Tensor(op, i, ty))
    for region in (v for v in attrs.values() if isinstance(v, UserRegion)):
        op.control_inputs += [c for c in region.control_captures
                              if c not in op.control_inputs]
    return op


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """TF1's `tf.cond`: the results of `true_fn()` when `pred` is true, else of
    `false_fn()`, compiled as a branch (only the taken branch runs). Both functions
    return the same nest of tensors with equal dtypes and shapes; with `strict=False` a
    one-element list or tuple gives its element (TF1)."""
    true_fn = true_fn if true_fn is not None else fn1
    false_fn = false_fn if false_fn is not None else fn2
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("cond: true_fn and false_fn must be callable")
    try:
        p = convert_to_tensor(pred, dtype=T.bool_)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cond: pred must be a bool scalar: {e}") from None
    if p.shape.known_rank and p.shape.ndims != 0:
        raise ValueError(f"cond: pred must be a bool scalar, got shape {p.shape}")
    graph = p.graph
    with graph.as_default(), graph.name_scope(name or "cond") as scope:
        results, regions = {}, {}
        for kind, fn in (("then", true_fn), ("else", false_fn)):
            box = {}

            def traced(params, fn=fn, box=box, kind=kind):
                box["value"] = value = fn()
                if value is None:
                    raise ValueError(f"cond {scope[:-1]!r}: the {kind} branch returned None; "
                                     "it must return tensors")
                return [_branch_tensor(v, scope, kind) for v in nest.flatten(value)]
            regions[kind] = _trace(graph, kind, scope, [], traced)
            results[kind] = box["value"]
            _check_body_ops(regions[kind])
        nest.assert_same_structure(_loose(results["then"]), _loose(results["else"]),
                                   f"cond {scope[:-1]!r}: true_fn and false_fn results")
        types = []
        for i, (a, b) in enumerate(zip(regions["then"].results, regions["else"].results)):
            if a.dtype is not b.dtype:
                raise TypeError(f"cond {scope[:-1]!r}: result {i} is {a.dtype.name} in "
                                f"true_fn and {b.dtype.name} in false_fn")
            if a.shape.known_rank and b.shape.known_rank and (
                    len(a.shape) != len(b.shape) or not _same_dims(graph, a.shape, b.shape)):
                raise ValueError(f"cond {scope[:-1]!r}: result {i} has shape "
                                 f"{format_shape(a.type.shape)} in true_fn and "
                                 f"{format_shape(b.type.shape)} in false_fn; flowc needs "
                                 "equal shapes")
            types.append(a.type if a.shape.known_rank else b.type)
        captures = _union(regions["then"].captures, regions["else"].captures)
        op = _region_op(graph, "If", [p] + captures,
                        {"then": regions["then"], "else": regions["else"]}, scope, types)
    out = nest.pack_sequence_as(results["then"], op.outputs)
    if not strict and isinstance(out, (list, tuple)) and not hasattr(out, "_fields") \
            and len(out) == 1:
        return out[0]
    return out


def _branch_tensor(value, scope, kind) -> Tensor:
    if isinstance(value, Operation):
        raise TypeError(f"cond {scope[:-1]!r}: the {kind} branch returned the operation "
                        f"{value.name!r}; flowc's cond branches return tensors")
    return convert_to_tensor(value)


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """TF1's `tf.case`: the results of the function of the first true predicate in
    `pred_fn_pairs` (a list of (pred, fn) pairs, or a dict), else of `default` (without
    one, the last pair's function is the default, as in TF1). Built as nested conds.
    `exclusive=True` is accepted; flowc does not check at run time that at most one
    predicate holds (the first true one is taken)."""
    pairs = list(pred_fn_pairs.items()) if isinstance(pred_fn_pairs, dict) \
        else list(pred_fn_pairs)
    for item in pairs:
        if not (isinstance(item, tuple) and len(item) == 2 and callable(item[1])):
            raise TypeError(f"case: each item of pred_fn_pairs must be a (pred, callable) "
                            f"pair, got {item!r}")
    if default is None:
        if not pairs:
            raise ValueError("case: pred_fn_pairs is empty and there is no default")
        default = pairs.pop()[1]
    if not callable(default):
        raise TypeError("case: default must be callable")
    fn = default
    for pred, branch in reversed(pairs):
        fn = _case_step(pred, branch, fn, strict)
    graph = _graph_of([_as_tensor(p) for p, _ in pairs])
    with graph.as_default(), graph.name_scope(name or "case"):
        return fn()


def _case_step(pred, branch, rest, strict):
    def step():
        return cond(pred, branch, rest, strict=strict)
    return step
