"""Dataset functions on whole blocks: a batching transform of a traced element function
(JAX's vmap, by rules per op type).

`map`/`filter` trace their function once on placeholders of one element. `batch_ops`
rebuilds the traced ops for a block: each op that depends on the element gets a leading
batch dim N by the rule of its op type in `RULES` (a reduction's axes, a transpose's
permutation, a slice's begin/size/stride, a concat's or gather's axis shift past N; an
elementwise or matmul operand of lower rank gets unit dims after N so that numpy's
right-aligned broadcasting still pairs it with the same dims); ops that do not depend on
the element (constants, iota, variables, anything captured from the graph) are used as
they are. The result computes the function of every element at once, op for op. An op
type without a rule (e.g. `shape` of the element), a random draw (one draw would serve
every element) or an assign anywhere in the function, an element shape that is not
static, or an output that does not depend on the element leaves the function per
element (`batch_ops` returns None).
"""

from __future__ import annotations

from ..frontend.core import make
from ..ir.dims import ShapeError
from ..ops import table

#: op types that keep a function per element wherever they appear (random draws, state;
#: a run-time check, which must fail for the element it checks; control flow, whose
#: trip count or branch is per element; a row write at a per-element index; the windowed
#: ops conv, patches and fold, whose leading axis is already a batch of the element's own)
_NEVER = frozenset({"random_uniform", "random_normal", "assign", "assign_add", "scatter_add",
                    "check", "while", "cond", "get", "param", "dynamic_update_slice",
                    "conv", "patches", "fold"})
#: op types without a rule: sources never depend on the element; `shape` of the element
#: would see the batch (every op type of the op table is in RULES, _NEVER or here)
NO_RULE = frozenset({"placeholder", "variable", "constant", "iota", "shape"})


def _lead(t):
    return t.shape[0]


def _rank(t) -> int:
    return t.shape.ndims


def _align(x, rank):
    """Batched `x` ([N] + s) with unit dims after N up to `rank` element dims."""
    s = tuple(x.shape)[1:]
    if len(s) >= rank:
        return x
    return make("reshape", [x], shape=(_lead(x),) + (1,) * (rank - len(s)) + s)


def _n_of(xs, dep):
    return next(_lead(x) for x, d in zip(xs, dep) if d)


def _elementwise(e, xs, dep):
    rank = _rank(e.outputs[0])
    ins = [_align(x, rank) if d else x for x, d in zip(xs, dep)]
    return make(e.type, ins, **e.attrs)


def _reshape(e, xs, dep):
    return make("reshape", xs, shape=(_lead(xs[0]),) + tuple(e.attrs["shape"]))


def _transpose(e, xs, dep):
    return make("transpose", xs, perm=(0,) + tuple(p + 1 for p in e.attrs["perm"]))


def _slice(e, xs, dep):
    a = e.attrs
    return make("slice", xs, begin=(0,) + tuple(a["begin"]),
                size=(_lead(xs[0]),) + tuple(a["size"]), stride=(1,) + tuple(a["stride"]))


def _pad(e, xs, dep):
    return make("pad", xs, pads=((0, 0),) + tuple(e.attrs["pads"]), value=e.attrs["value"])


def _concat(e, xs, dep):
    n = _n_of(xs, dep)
    ins = [x if d else make("broadcast", [x], shape=(n,) + tuple(x.shape))
           for x, d in zip(xs, dep)]
    return make("concat", ins, axis=e.attrs["axis"] + 1)


def _broadcast(e, xs, dep):
    x = _align(xs[0], len(e.attrs["shape"]))
    return make("broadcast", [x], shape=(_lead(x),) + tuple(e.attrs["shape"]))


def _gather(e, xs, dep):
    axis = e.attrs["axis"]
    if dep[0] and dep[1]:
        return None  # per-element params indexed by per-element indices
    if dep[0]:
        return make("gather", xs, axis=axis + 1)
    out = make("gather", xs, axis=axis)  # the batch dim lands at `axis`
    if axis == 0:
        return out
    r = _rank(out)
    return make("transpose", [out], perm=(axis,) + tuple(i for i in range(r) if i != axis))


def _reduce(e, xs, dep):
    axes = e.attrs["axes"]
    axes = range(_rank(e.inputs[0])) if axes is None else axes
    return make(e.type, xs, axes=tuple(a + 1 for a in axes), keepdims=e.attrs["keepdims"])


def _arg(e, xs, dep):
    return make(e.type, xs, axis=e.attrs["axis"] + 1, dtype=e.attrs["dtype"])


def _matmul(e, xs, dep):
    return _elementwise(e, xs, dep)  # batch dims broadcast like elementwise operands


#: op type -> rule(element op, inputs (batched where dep), dep flags) -> batched tensor
RULES = {
    **{name: _elementwise for name in table.names(fusion="elementwise")},
    **{name: _reduce for name in ("reduce_sum", "reduce_prod", "reduce_max", "reduce_min")},
    "argmax": _arg, "argmin": _arg, "reshape": _reshape, "transpose": _transpose,
    "slice": _slice, "pad": _pad, "concat": _concat, "broadcast": _broadcast,
    "gather": _gather, "matmul": _matmul,
}


def batch_ops(elem_ops, inputs, batched_inputs, outputs):
    """The batched tensors of `outputs` (element-function outputs) given `batched_inputs`
    for the element placeholders `inputs`, or None when the function stays per element."""
    if any(op.type in _NEVER for op in elem_ops):
        return None
    if not all(t.shape.is_fully_defined() for op in elem_ops for t in op.outputs):
        return None
    batched = dict(zip(inputs, batched_inputs))
    for op in elem_ops:
        if op.type == "placeholder" or not op.outputs:
            continue
        dep = [t in batched for t in op.inputs]
        if not any(dep):
            continue  # element-independent: used as it is
        xs = [batched.get(t, t) for t in op.inputs]
        if op.type == "identity":
            out = xs[0]
        elif op.type not in RULES:
            return None
        else:
            try:
                out = RULES[op.type](op, xs, dep)
            except (ValueError, TypeError, IndexError, ShapeError):
                return None
        if out is None or tuple(out.shape)[1:] != tuple(op.outputs[0].shape):
            return None
        batched[op.outputs[0]] = out
    if not all(t in batched for t in outputs):
        return None
    return [batched[t] for t in outputs]
