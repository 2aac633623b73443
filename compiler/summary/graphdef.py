"""GraphDef protobufs of the graph models in compiler/viz/model.py, for TensorBoard.

Each node becomes a NodeDef: its full scoped name (TensorBoard collapses name scopes
by "/"), its op type, its inputs (`^name` for control inputs), its device and the attrs
`dtype` (sources) or `T` (every other op), `_output_shapes` (unknown dims are -1),
`loc` (the user's file:line) and its simple op attrs. In the fused graph the kernel
scopes `kernel_<n>_<kind>` are groups, and every node has `kernel` and `fusion_reason`.
"""

from __future__ import annotations

from . import proto

SOURCE_OPS = ("placeholder", "variable", "constant", "placeholder_with_default")


def _attr(value) -> bytes:
    if isinstance(value, bool):
        return proto.attr_bool(value)
    if isinstance(value, int):
        return proto.attr_int(value)
    if isinstance(value, float):
        return proto.attr_float(value)
    if isinstance(value, list):
        return proto.attr_ints(value)
    return proto.attr_string(str(value))


def node_def(node) -> bytes:
    attrs = {key: _attr(value) for key, value in node.attrs.items()
             if key not in ("dtype", "T")}
    if node.dtype:
        attrs["dtype" if node.op in SOURCE_OPS else "T"] = proto.attr_type(node.dtype)
    if node.shape is not None or node.dtype:
        shape = None if node.shape is None else \
            [d if isinstance(d, int) else -1 for d in node.shape]
        attrs["_output_shapes"] = proto.attr_shapes([shape])
    if node.loc:
        attrs["loc"] = proto.attr_string(node.loc)
    if node.kernel >= 0:
        attrs["kernel"] = proto.attr_int(node.kernel)
    if node.reason:
        attrs["fusion_reason"] = proto.attr_string(node.reason)
    inputs = list(node.inputs) + ["^" + c for c in node.control]
    return proto.node_def(node.name, node.op, inputs, node.device, attrs)


def graph_def(stage) -> bytes:
    """The serialized GraphDef of a `compiler.viz.model.Stage`."""
    return proto.graph_def([node_def(n) for n in stage.nodes])


def user_graph_def(graph) -> bytes:
    """The serialized GraphDef of every op of a user `Graph`."""
    from ..viz.model import user_stage
    return graph_def(user_stage(graph.get_operations()))
