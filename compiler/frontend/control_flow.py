"""Grouping, ordering and scoping of the TF1 API: `group`, `no_op`, `identity`,
`name_scope`, `device`, `control_dependencies`.

The context managers act on the default graph (or, for `name_scope`, on the graph of
`values` when given) and only change how later ops are named, placed and ordered; they
create no ops themselves. `identity` and `group` add user-graph-only ops (`identity`,
`NoOp`) that compile to nothing.
"""

from __future__ import annotations

import contextlib

from .core import _as_tensor, _graph_of
from .core import identity as identity  # re-exported: fc.identity
from .graph import Operation, Tensor, get_default_graph


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
    """Place the ops created inside on `device_name` (e.g. "/cpu:0", "/gpu:0")."""
    if callable(device_name):
        raise TypeError("flowc's device() takes a device string; device functions are not "
                        "supported")
    with get_default_graph().device(device_name):
        yield


@contextlib.contextmanager
def control_dependencies(control_inputs):
    """Ops created inside run after every op (or tensor's op) in `control_inputs`;
    `None` clears the dependencies of enclosing blocks."""
    if control_inputs is not None:
        control_inputs = [_as_tensor(c) for c in control_inputs]
    with get_default_graph().control_dependencies(control_inputs):
        yield
