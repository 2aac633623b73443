"""Deferred composites: a piece of graph that needs its inputs' ranks, built once the
ranks are known.

TF1 programs feed shape-less placeholders (`tf.placeholder("float")`), so a composite or
a gradient rule may meet a tensor whose rank is unknown while the graph is built. Such a
piece is not guessed: `deferred(build, inputs, dtype, shape=None, name=...)` adds one
user-graph-only op of type "deferred" whose output has `dtype` and `shape` (None:
unknown rank). When a Session compiles the graph for the fed ranks, `convert`
(compiler/convert.py) calls `build(*tensors)` on placeholders of a scratch graph shaped
like the converted inputs, converts what `build` made in place of the op, and checks
the result against the declared type; an error there names the deferred op and the
user's line where it was made.

`build` must be a function of its arguments only (no tensors of the user's graph, no
variables, no assigns); a random draw inside it must take its seeds as arguments fixed
when the graph is built, so every compile draws the same numbers. Its gradient
(compiler/autodiff/deferred_rules.py) is one "deferred_grad" op per input that
differentiates the same scratch expansion, so forward and backward see one draw.
Nothing here runs anything.
"""

from __future__ import annotations

from ..ir.types import TensorType
from .graph import get_default_graph

#: user-graph-only op types that `convert` expands
DEFERRED_OPS = ("deferred", "deferred_grad")


def rank_unknown(*tensors) -> bool:
    """True when some tensor's rank is unknown while the graph is built."""
    return any(not t.shape.known_rank for t in tensors)


def deferred(build, inputs, dtype, shape=None, name="Deferred", differentiable=True,
             grad=None):
    """`build(*inputs)` made when the ranks are known (see the module docstring).
    `differentiable=False`: its inputs get no gradient (a random draw shaped like x).
    `grad(*inputs, output, output_grad) -> [input gradient or None, ...]`, when given,
    builds the gradient in place of differentiating `build` (a composite whose gradient
    is not its pieces', as max pooling's first-maximum rule)."""
    out_type = TensorType(dtype, None if shape is None or not _known(shape) else tuple(shape))
    attrs = {"build": build, "differentiable": bool(differentiable)}
    if grad is not None:
        attrs["grad"] = grad
    return _create("deferred", list(inputs), attrs, name, out_type).outputs[0]


def deferred_grad(forward, index, grad, name="DeferredGrad"):
    """The gradient of `forward`'s (a "deferred" op) output, weighted by `grad`, with
    respect to its input `index`, built from the same expansion as `forward`."""
    x = forward.inputs[index]
    attrs = {"forward": forward, "index": int(index)}
    return _create("deferred_grad", list(forward.inputs) + [grad], attrs, name,
                   x.type).outputs[0]


def _create(op_type, inputs, attrs, name, out_type):
    """The op in the graph of `inputs`; a `name` ending in "/" (an op_scope) is exact."""
    graph = inputs[0].graph if inputs else get_default_graph()
    if name and name.endswith("/"):
        return graph.create_op(op_type, inputs, attrs, name=name[:-1], out_type=out_type,
                               exact_name=True)
    return graph.create_op(op_type, inputs, attrs, name=name, out_type=out_type)


def _known(shape) -> bool:
    return getattr(shape, "known_rank", True)
