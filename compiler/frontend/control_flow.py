"""Grouping and ordering: `group`, `no_op`, `identity`, `tuple`-free basics."""

from __future__ import annotations

from ..ir.graph import Operation, Tensor, get_default_graph


def group(*inputs, name=None) -> Operation:
    """An op that runs all `inputs` (ops or tensors) and produces no value."""
    ops = []
    for x in inputs:
        if isinstance(x, (list, tuple)):
            ops.extend(i.op if isinstance(i, Tensor) else i for i in x)
        else:
            ops.append(x.op if isinstance(x, Tensor) else x)
    graph = ops[0].graph if ops else get_default_graph()
    with graph.control_dependencies(ops):
        return graph.create_op("NoOp", [], {}, name=name or "group_deps")


def no_op(name=None) -> Operation:
    return get_default_graph().create_op("NoOp", [], {}, name=name or "NoOp")


def identity(x, name=None) -> Tensor:
    from .core import convert_to_tensor
    t = convert_to_tensor(x)
    return t.graph.create_op("identity", [t], {}, name=name or "Identity",
                             out_type=t.type).outputs[0]
