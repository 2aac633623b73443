"""Movement rules: transpose, reshape, broadcast, slice, concat, pad, and broadcasts
feeding elementwise ops.

Movement ops only move or repeat elements, so every rule here is exact; each fires only
when the result has exactly the node's type, symbolic dims included. New nodes are made
with `rb.derive`, which re-runs the op's shape inference and refuses a node whose type
would differ, would bind a symbol, or would need a run-time check the program lacks.
"""

from __future__ import annotations

from compiler.ops import OPS, get

from .base import Rule, same_type

# elementwise ops with several operands, which broadcast them implicitly
MULTI_OPERAND_ELEMENTWISE = tuple(name for name, opdef in OPS.items()
                                  if opdef.fusion == "elementwise" and opdef.arity != 1)
# how many elementwise levels `transpose_elementwise` looks through for a transpose
MOVE_DEPTH = 8


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


def _moves_through(a, r, depth):
    """Whether a transpose of rank r moved onto `a` cancels somewhere: `a` is such a
    transpose, or an elementwise op (within `depth` levels) with such an operand."""
    if a.op == "transpose" and len(a.shape) == r:
        return True
    if depth == 0 or get(a.op).fusion != "elementwise" or len(a.shape) != r:
        return False
    return any(_moves_through(i, r, depth - 1) for i in a.inputs)


def _transposed(a, q, rb, depth):
    """A node equal to transpose(a, q) (a of rank len(q), or a lower rank that
    broadcasts: reshaped to rank len(q) first), with the transpose moved into the
    elementwise ops above `a` where it cancels; None when a node cannot be built."""
    r = len(q)
    if len(a.shape) == 0:
        return a
    if a.op == "transpose" and len(a.shape) == r:
        p = a.attr["perm"]
        perm = tuple(p[i] for i in q)
        y = a.inputs[0]
        return y if perm == tuple(range(r)) else rb.build("transpose", [y], perm=perm)
    if depth > 0 and _moves_through(a, r, depth):
        operands = [_transposed(i, q, rb, depth - 1) for i in a.inputs]
        if any(o is None for o in operands):
            return None
        return rb.build(a.op, operands, **a.attr)
    if len(a.shape) < r:
        a = rb.build("reshape", [a], shape=(1,) * (r - len(a.shape)) + tuple(a.shape))
    return None if a is None else rb.build("transpose", [a], perm=q)


def transpose_elementwise(node, rb):
    """transpose(f(.., g(transpose(y, p), ..), ..), q) -> f(.., g(transpose(y, p∘q),
    ..), ..) for elementwise f, g, ... (up to `MOVE_DEPTH` levels): the transpose moves
    onto the operands of the elementwise chain, where it cancels against an operand's
    transpose. A channels-first model's convs leave a transpose pair around each bias,
    batch norm and relu: the pair goes, and the chain becomes the conv's epilogue.
    Fires only when the transpose cancels somewhere; scalar operands stay, an operand of
    lower rank is reshaped to the node's rank (its broadcast moves with it) and gets the
    transpose, as does any other operand (a constant then folds)."""
    inner = node.inputs[0]
    q = tuple(node.attr["perm"])
    if get(inner.op).fusion != "elementwise" or not _moves_through(inner, len(q),
                                                                   MOVE_DEPTH):
        return None
    out = _transposed(inner, q, rb, MOVE_DEPTH)
    return None if out is None or out.type != node.type else out


def transpose_concat(node, rb):
    """transpose(concat(x1, x2, .., axis=a), q) -> concat(transpose(x1, q), ..,
    axis=q.index(a)), where the moved transposes cancel: some operand is a transpose of
    the node's rank or an elementwise chain over one (`transpose_elementwise`). A
    channels-first model's concat along channels between convs (SqueezeNet's fire
    modules, Inception's branches) then joins the channels-last conv results directly."""
    inner = node.inputs[0]
    q = tuple(node.attr["perm"])
    r = len(q)
    if inner.op != "concat" or not any(_moves_through(x, r, MOVE_DEPTH)
                                       for x in inner.inputs):
        return None
    operands = [_transposed(x, q, rb, MOVE_DEPTH) for x in inner.inputs]
    if any(o is None for o in operands):
        return None
    axis = inner.attr["axis"] % r
    return rb.derive(node, "concat", operands, axis=q.index(axis))


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
    Rule("transpose_elementwise", ("transpose",), transpose_elementwise),
    Rule("transpose_concat", ("transpose",), transpose_concat),
    Rule("slice_full", ("slice",), slice_full),
    Rule("concat_single", ("concat",), concat_single),
    Rule("pad_nothing", ("pad",), pad_nothing),
    Rule("implicit_broadcast", MULTI_OPERAND_ELEMENTWISE, implicit_broadcast),
]
