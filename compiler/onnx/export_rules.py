"""The export table: flowc op type (the primitives of compiler/ops/table.py and the
user-graph-only ops) -> `rule(ex, op, ins)` emitting the ONNX nodes of one op and
returning the ONNX name of its output. `ex` is the `Exporter` (compiler/onnx/export.py),
`ins` the ONNX names of the op's inputs. A rule that meets a form ONNX cannot express
raises `Unsupported` naming it; an op type without a row has no ONNX counterpart.

Deliberately without a row (`NO_COUNTERPART` says why in the export error): random
draws (ONNX's RandomUniform draws other numbers), assign / assign_add (state), check (ONNX
has no assertion), patches / fold outside pooling, deferred_grad, PrintV2. The rows of
matmul, conv and the deferred composites (pooling, depthwise, any other expanded) are in
compiler/onnx/export_nn.py, While and If in compiler/onnx/export_control.py.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..ir import dims as D
from ..ir import dtypes as T
from . import proto


class Unsupported(Exception):
    """An op (or a form of it: an attribute value, an input) ONNX cannot express."""


class Listed(Exception):
    """An op that cannot be built because something it needs failed, whose problem is
    listed already (an input, an op of a control-flow body)."""


EXPORTERS = {}

#: why the op types without a row have no ONNX counterpart (the export error says it)
NO_COUNTERPART = {
    "random_uniform": "a random draw: ONNX's RandomUniform draws other numbers than flowc",
    "random_normal": "a random draw: ONNX's RandomNormal draws other numbers than flowc",
    "assign": "it writes a variable; an ONNX model holds no state",
    "assign_add": "it writes a variable; an ONNX model holds no state",
    "check": "a run-time assertion; ONNX has no assertion op",
    "patches": "window patches: exported only inside max_pool / avg_pool",
    "fold": "the gradient of window patches has no ONNX counterpart",
    "deferred_grad": "the gradient of a composite: not exported",
    "PrintV2": "printing on the host has no ONNX counterpart",
}


def rule(*op_types):
    def register(fn):
        for t in op_types:
            EXPORTERS[t] = fn
        return fn
    return register


def _base(op):
    return op.name


def _rank(op, i=0):
    t = op.inputs[i] if op.inputs else op.outputs[0]
    if not t.shape.known_rank:
        raise Unsupported(f"input {t.name!r} has unknown rank")
    return len(t.shape)


# -- elementwise --------------------------------------------------------------------------

_UNARY = {"neg": "Neg", "abs": "Abs", "sign": "Sign", "exp": "Exp", "log": "Log",
          "sqrt": "Sqrt", "tanh": "Tanh", "sigmoid": "Sigmoid", "sin": "Sin", "cos": "Cos",
          "floor": "Floor", "ceil": "Ceil", "logical_not": "Not", "stop_gradient": "Identity",
          "identity": "Identity", "Print": "Identity", "erf": "Erf", "atan": "Atan",
          "invert": "BitwiseNot"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "pow": "Pow", "maximum": "Max",
           "minimum": "Min", "less": "Less", "less_equal": "LessOrEqual",
           "greater": "Greater", "greater_equal": "GreaterOrEqual", "equal": "Equal",
           "logical_and": "And", "logical_or": "Or", "bitwise_and": "BitwiseAnd",
           "bitwise_or": "BitwiseOr", "bitwise_xor": "BitwiseXor"}


def _unary(onnx_op, ex, op, ins):
    return ex.node(onnx_op, ins[:1], _base(op))


def _binary(onnx_op, ex, op, ins):
    return ex.node(onnx_op, ins, _base(op))


for _k, _v in _UNARY.items():
    EXPORTERS[_k] = partial(_unary, _v)
for _k, _v in _BINARY.items():
    EXPORTERS[_k] = partial(_binary, _v)


def _one(ex, op):
    return ex.const(np.ones((), op.outputs[0].dtype.np))


@rule("expm1")
def expm1(ex, op, ins):   # exp(x) - 1: no ONNX counterpart of its own (less exact near 0)
    return ex.node("Sub", [ex.node("Exp", ins), _one(ex, op)], _base(op))


@rule("log1p")
def log1p(ex, op, ins):   # log(1 + x) (less exact near 0)
    return ex.node("Log", [ex.node("Add", [ins[0], _one(ex, op)])], _base(op))


@rule("rsqrt")
def rsqrt(ex, op, ins):
    return ex.node("Reciprocal", [ex.node("Sqrt", ins)], _base(op))


@rule("not_equal")
def not_equal(ex, op, ins):
    return ex.node("Not", [ex.node("Equal", ins)], _base(op))


def _int_guard(ex, op, b):
    """(b == 0, b with its zeros replaced by 1): flowc's integer x // 0 and x % 0 are 0
    (ops/numerics.py); ONNX leaves them undefined (a crash in onnxruntime)."""
    dt = op.outputs[0].dtype.np
    zero = ex.node("Equal", [b, ex.const(np.zeros((), dt))])
    return zero, ex.node("Where", [zero, ex.const(np.ones((), dt)), b])


@rule("div")
def div(ex, op, ins):
    if op.outputs[0].dtype.kind != "int":
        return ex.node("Div", ins, _base(op))
    # flowc's integer division floors (Python's //); ONNX's Div truncates: (a - a mod b)
    # is an exact multiple of b, where both agree. Mod with fmod=0 is Python's %.
    a, b = ins
    zero, safe = _int_guard(ex, op, b)
    exact = ex.node("Sub", [a, ex.node("Mod", [a, safe], fmod=0)])
    q = ex.node("Div", [exact, safe])
    return ex.node("Where", [zero, ex.const(np.zeros((), op.outputs[0].dtype.np)), q],
                   _base(op))


@rule("mod")
def mod(ex, op, ins):
    a, b = ins
    if op.outputs[0].dtype.kind == "int":
        zero, safe = _int_guard(ex, op, b)
        r = ex.node("Mod", [a, safe], fmod=0)
        return ex.node("Where", [zero, ex.const(np.zeros((), op.outputs[0].dtype.np)), r],
                       _base(op))
    # floats: numpy's remainder has the divisor's sign; ONNX's fmod=1 the dividend's
    r = ex.node("Mod", [a, b], fmod=1)
    zero = ex.const(np.zeros((), op.outputs[0].dtype.np))
    fix = ex.node("And", [ex.node("Not", [ex.node("Equal", [r, zero])]),
                          ex.node("Xor", [ex.node("Less", [r, zero]),
                                          ex.node("Less", [b, zero])])])
    return ex.node("Where", [fix, ex.node("Add", [r, b]), r], _base(op))


@rule("select")
def select(ex, op, ins):
    return ex.node("Where", ins, _base(op))


@rule("cast")
def cast(ex, op, ins):
    src, dst = op.inputs[0].dtype, op.attrs["dtype"]
    to = proto.onnx_type(dst)
    if not (src.is_float and dst.kind == "int"):
        return ex.node("Cast", ins, _base(op), to=to)
    # flowc's float -> int cast truncates and saturates, NaN -> 0 (ops/numerics.py);
    # ONNX leaves out-of-range values undefined
    info = np.iinfo(dst.np)
    with np.errstate(over="ignore"):
        lo, hi = (ex.const(np.array(v, src.np)) for v in (info.min - 1.0, info.max + 1.0))
    x = ins[0]
    inside = ex.node("And", [ex.node("Greater", [x, lo]), ex.node("Less", [x, hi])])
    base = ex.node("Where", [inside, x, ex.const(np.zeros((), src.np))])
    # the saturated result as base + (x >= hi) * max + (x <= lo) * min, in int64 (or
    # uint64, whose min is 0); onnxruntime has no Where for int16/uint16/uint64
    wide = np.uint64 if dst.np == np.uint64 else np.int64
    code = proto.onnx_type(T.uint64 if wide is np.uint64 else T.int64)
    y = ex.node("Cast", [base], to=code)
    for test, bound, limit in (("GreaterOrEqual", hi, info.max), ("LessOrEqual", lo, info.min)):
        if limit:
            hit = ex.node("Cast", [ex.node(test, [x, bound])], to=code)
            y = ex.node("Add", [y, ex.node("Mul", [hit, ex.const(np.array(limit, wide))])])
    return ex.node("Cast", [y], _base(op), to=to) if wide is not dst.np.type else \
        ex.node("Identity", [y], _base(op))


# -- sources --------------------------------------------------------------------------------

@rule("constant")
def constant(ex, op, ins):
    return ex.const(op.attrs["value"].array, _base(op))


@rule("variable")
def variable(ex, op, ins):
    name = ex.fresh(_base(op))
    ex.variables.append((op.outputs[0], name))
    return name


@rule("placeholder")
def placeholder(ex, op, ins):
    raise Unsupported("a placeholder the fetches need; list it in feeds")


@rule("placeholder_with_default")
def placeholder_with_default(ex, op, ins):   # not fed: its default
    return ex.node("Identity", ins, _base(op))


@rule("NoOp")
def no_op(ex, op, ins):
    return []


@rule("shape")
def shape(ex, op, ins):
    dt = op.attrs["dtype"]
    dims = ex.static(op.inputs[0].shape) if op.inputs[0].shape.known_rank else None
    if dims is not None:
        return ex.const(np.asarray(dims, dt.np), _base(op))
    s = ex.node("Shape", ins)
    return ex.node("Cast", [s], _base(op), to=proto.onnx_type(dt))


@rule("iota")
def iota(ex, op, ins):
    shape, axis, dt = op.attrs["shape"], op.attrs["axis"], op.attrs["dtype"]
    dims = ex.static(shape)
    if dims is not None:
        ref = op.outputs[0]
        from ..ops.table import get
        return ex.const(get("iota").ref(tuple(dims), axis, dt), _base(op), ref.dtype.np)
    n = ex.node("Squeeze", [ex.dim(shape[axis]), ex.ints([0])])
    r = ex.node("Range", [ex.const(np.int64(0)), n, ex.const(np.int64(1))])
    r = ex.node("Reshape", [r, ex.ints([-1 if i == axis else 1 for i in range(len(shape))])])
    r = ex.node("Expand", [r, ex.shape(shape)])
    return ex.node("Cast", [r], _base(op), to=proto.onnx_type(dt))


# -- movement -------------------------------------------------------------------------------

@rule("reshape")
def reshape(ex, op, ins):
    dims = [ex.resolve(d) for d in op.attrs["shape"]]
    symbolic = [i for i, d in enumerate(dims) if not isinstance(d, int)]
    if 0 in dims:   # a 0 extent (ONNX's 0 means "copy the input's dim" without allowzero)
        return ex.node("Reshape", [ins[0], ex.shape(dims)], _base(op), allowzero=1)
    if len(symbolic) == 1:   # the one unknown extent is what -1 infers
        dims[symbolic[0]] = -1
    return ex.node("Reshape", [ins[0], ex.shape(dims)], _base(op))


@rule("transpose")
def transpose(ex, op, ins):
    return ex.node("Transpose", ins, _base(op), perm=list(op.attrs["perm"]))


@rule("broadcast")
def broadcast(ex, op, ins):
    return ex.node("Expand", [ins[0], ex.shape(op.attrs["shape"])], _base(op))


@rule("slice")
def slice_(ex, op, ins):
    """Elements b + stride * k for k < size on each axis. ONNX reads a negative start or
    end from the axis' end, and flowc's begin of an empty reversed slice may be -1, so
    every bound written is >= 0: a positive stride ends at b + size * stride (clamped by
    ONNX), a reversed axis is taken ascending from its last element, b + stride *
    (size - 1), to b + 1, then reversed by a second Slice."""
    x = op.inputs[0]
    begin, size, stride = op.attrs["begin"], op.attrs["size"], op.attrs["stride"]
    axes, starts, ends, steps, reversed_axes = [], [], [], [], []
    for axis, (b, s, st) in enumerate(zip(begin, size, stride)):
        b, s = ex.resolve(b), ex.resolve(s)
        if b == 0 and st == 1 and s == ex.resolve(x.shape[axis]):
            continue   # the whole axis
        if st > 0:
            lo, hi = b, D.add(b, D.mul(s, st))
        else:
            lo, hi = D.add(b, D.mul(D.sub(s, 1), st)), D.add(b, 1)
            reversed_axes.append(axis)
        axes.append(axis)
        starts.append(lo)
        ends.append(hi)
        steps.append(abs(st))
    if not axes:
        return ex.node("Identity", ins, _base(op))
    out = ex.node("Slice", [ins[0], ex.shape(starts), ex.shape(ends), ex.ints(axes),
                            ex.ints(steps)], _base(op))
    if reversed_axes:
        n = len(reversed_axes)
        out = ex.node("Slice", [out, ex.ints([-1] * n), ex.ints([-(1 << 62)] * n),
                                ex.ints(reversed_axes), ex.ints([-1] * n)], _base(op))
    return out


@rule("concat")
def concat(ex, op, ins):
    return ex.node("Concat", ins, _base(op), axis=op.attrs["axis"])


@rule("pad")
def pad(ex, op, ins):
    x = op.inputs[0]
    pairs = op.attrs["pads"]
    if _rank(op) == 0 or not pairs:
        return ex.node("Identity", ins, _base(op))
    from ..ops.movement import pad_value
    value = ex.const(np.asarray(pad_value(op.attrs["value"], x.dtype.np), x.dtype.np))
    pads = [p[0] for p in pairs] + [p[1] for p in pairs]
    return ex.node("Pad", [ins[0], ex.shape(pads), value], _base(op), mode="constant")


@rule("bitcast")
def bitcast(ex, op, ins):
    if ex.opset < 26:
        raise Unsupported("bitcast is ONNX's BitCast, opset 26 or newer")
    return ex.node("BitCast", ins, _base(op), to=proto.onnx_type(op.attrs["dtype"]))


@rule("gather")
def gather(ex, op, ins):
    return ex.node("Gather", ins, _base(op), axis=op.attrs["axis"])


@rule("scatter_add")
def scatter_add(ex, op, ins):
    """zeros(shape) with each row of `updates` added at its index along `axis`:
    ScatterElements(reduction="add") over the flattened indices broadcast to the rows."""
    if ex.opset < 16:
        raise Unsupported("scatter_add needs ScatterElements' reduction, opset 16 or newer")
    updates, indices = ins
    shape, axis = list(op.attrs["shape"]), op.attrs["axis"]
    rows = [*shape[:axis], -1, *shape[axis + 1:]]
    dt = op.outputs[0].dtype
    upd = ex.node("Reshape", [updates, ex.shape(rows)])
    idx = ex.node("Reshape", [indices, ex.ints([-1 if i == axis else 1
                                                for i in range(len(shape))])])
    idx = ex.node("Expand", [idx, ex.node("Shape", [upd])])
    zeros = ex.node("ConstantOfShape", [ex.shape(shape)], value=ex.onnx.numpy_helper.from_array(
        np.zeros(1, dt.np)))
    return ex.node("ScatterElements", [zeros, idx, upd], _base(op), axis=axis,
                   reduction="add")


@rule("dynamic_update_slice")
def dynamic_update_slice(ex, op, ins):
    """buf with row `index` replaced by `update` (a TensorArray write): ScatterND of the
    one row."""
    buf, update, index = ins
    where = ex.node("Reshape", [ex.node("Cast", [index], to=ex.onnx.TensorProto.INT64),
                                ex.ints([1, 1])])
    row = ex.node("Unsqueeze", [update, ex.ints([0])])
    return ex.node("ScatterND", [buf, where, row], _base(op))


# -- reductions -----------------------------------------------------------------------------

_REDUCE = {"reduce_sum": ("ReduceSum", 13), "reduce_prod": ("ReduceProd", 18),
           "reduce_max": ("ReduceMax", 18), "reduce_min": ("ReduceMin", 18)}


@rule(*_REDUCE)
def reduce(ex, op, ins):
    onnx_op, axes_input_since = _REDUCE[op.type]
    axes, keep = op.attrs["axes"], int(bool(op.attrs["keepdims"]))
    rank = _rank(op)
    axes = list(range(rank)) if axes is None else list(axes)
    if not axes:
        return ex.node("Identity", ins, _base(op))
    if ex.opset >= axes_input_since:
        return ex.node(onnx_op, [ins[0], ex.ints(axes)], _base(op), keepdims=keep)
    return ex.node(onnx_op, ins, _base(op), axes=axes, keepdims=keep)


@rule("argmax", "argmin")
def arg(ex, op, ins):
    out = ex.node("ArgMax" if op.type == "argmax" else "ArgMin", ins, axis=op.attrs["axis"],
                  keepdims=0)
    return ex.node("Cast", [out], _base(op), to=proto.onnx_type(op.attrs["dtype"]))
