"""Movement rules: transpose, reshape, broadcast, slice, concat, pad, and broadcasts
feeding elementwise ops.

Movement ops only move or repeat elements, so every rule here is exact; each fires only
when the result has exactly the node's type, symbolic dims included. New nodes are made
with `rb.derive`, which re-runs the op's shape inference and refuses a node whose type
would differ, would bind a symbol, or would need a run-time check the program lacks.
"""

from __future__ import annotations

from compiler.ops import OPS

from .base import Rule, same_type

# elementwise ops with several operands, which broadcast them implicitly
MULTI_OPERAND_ELEMENTWISE = tuple(name for name, opdef in OPS.items()
                                  if opdef.fusion == "elementwise" and opdef.arity != 1)


def same_shape(node, rb):
    """reshape(x) -> x and broadcast(x) -> x when x already has the node's type."""
    return same_type(node.inputs[0], node)


def transpose_identity(node, rb):
    """transpose(x, perm=[0, 1, ..]) -> x."""
    perm = node.attr["perm"]
    return node.inputs[0] if tuple(perm) == tuple(range(len(perm))) else None


def transpose_transpose(node, rb):
    """transpose(transpose(x, p), q) -> transpose(x, [p[i] for i in q])."""
    inner = node.inputs[0]
    if inner.op != "transpose":
        return None
    p, q = inner.attr["perm"], node.attr["perm"]
    return rb.derive(node, "transpose", [inner.inputs[0]], perm=tuple(p[i] for i in q))


def reshape_reshape(node, rb):
    """reshape(reshape(x, s), t) -> reshape(x, shape of the node)."""
    inner = node.inputs[0]
    if inner.op != "reshape":
        return None
    return rb.derive(node, "reshape", [inner.inputs[0]], shape=tuple(node.type.shape))


def broadcast_broadcast(node, rb):
    """broadcast(broadcast(x, s), t) -> broadcast(x, t)."""
    inner = node.inputs[0]
    if inner.op != "broadcast":
        return None
    return rb.derive(node, "broadcast", [inner.inputs[0]], shape=node.attr["shape"])


def slice_full(node, rb):
    """slice(x, begin=0.., stride=1..) -> x when its size is all of x."""
    a = node.attr
    if any(b != 0 for b in a["begin"]) or any(s != 1 for s in a["stride"]):
        return None
    return same_type(node.inputs[0], node)


def concat_single(node, rb):
    """concat(x) -> x."""
    return node.inputs[0] if len(node.inputs) == 1 else None


def pad_nothing(node, rb):
    """pad(x, pads=[(0, 0), ..]) -> x."""
    return node.inputs[0] if all(p == (0, 0) for p in node.attr["pads"]) else None


def implicit_broadcast(node, rb):
    """op(.., broadcast(y), ..) -> op(.., y, ..) for an elementwise op, which broadcasts
    its operands itself, when the result keeps the node's type."""
    for k, operand in enumerate(node.inputs):
        if operand.op == "broadcast":
            inputs = list(node.inputs)
            inputs[k] = operand.inputs[0]
            found = rb.derive(node, node.op, inputs, **node.attr)
            if found is not None:
                return found
    return None


RULES = [
    Rule("reshape_same_shape", ("reshape",), same_shape),
    Rule("reshape_reshape", ("reshape",), reshape_reshape),
    Rule("broadcast_same_shape", ("broadcast",), same_shape),
    Rule("broadcast_broadcast", ("broadcast",), broadcast_broadcast),
    Rule("transpose_identity", ("transpose",), transpose_identity),
    Rule("transpose_transpose", ("transpose",), transpose_transpose),
    Rule("slice_full", ("slice",), slice_full),
    Rule("concat_single", ("concat",), concat_single),
    Rule("pad_nothing", ("pad",), pad_nothing),
    Rule("implicit_broadcast", MULTI_OPERAND_ELEMENTWISE, implicit_broadcast),
]
