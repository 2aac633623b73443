"""The export table: flowc op type (the primitives of compiler/ops/table.py and the
user-graph-only ops) -> `rule(ex, op, ins)` emitting the ONNX nodes of one op and
returning the ONNX name of its output. `ex` is the `Exporter` (compiler/onnx/export.py),
`ins` the ONNX names of the op's inputs. A rule that meets a form ONNX cannot express
raises `Unsupported` naming it; an op type without a row has no ONNX counterpart.

Deliberately without a row (`NO_COUNTERPART` says why in the export error): random
draws (ONNX's RandomUniform draws other numbers), assign / assign_add (state), check (ONNX
has no assertion), patches / fold outside pooling, deferred_grad, PrintV2. While and If
are in compiler/onnx/export_control.py.
"""

from __future__ import annotations

import itertools
from functools import partial

import numpy as np

from ..frontend import depthwise, pooling
from ..frontend.graph import Graph
from ..ir import dims as D
from ..ir import dtypes as T
from . import proto
from .export import Listed, Unsupported

EXPORTERS = {}
_SCRATCH = itertools.count()

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
          "identity": "Identity", "Print": "Identity"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "pow": "Pow", "maximum": "Max",
           "minimum": "Min", "less": "Less", "less_equal": "LessOrEqual",
           "greater": "Greater", "greater_equal": "GreaterOrEqual", "equal": "Equal",
           "logical_and": "And", "logical_or": "Or"}


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


# -- contractions ---------------------------------------------------------------------------

def _swap_last(ex, name, rank):
    perm = list(range(rank))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return ex.node("Transpose", [name], perm=perm)


@rule("matmul")
def matmul(ex, op, ins):
    a, b = ins
    if op.attrs["transpose_a"]:
        a = _swap_last(ex, a, _rank(op, 0))
    if op.attrs["transpose_b"]:
        b = _swap_last(ex, b, _rank(op, 1))
    return ex.node("MatMul", [a, b], _base(op))


def _to_channels_first(ex, name, nsp):
    return ex.node("Transpose", [name], perm=[0, nsp + 1, *range(1, nsp + 1)])


def _to_channels_last(ex, name, nsp, base):
    return ex.node("Transpose", [name], base, perm=[0, *range(2, nsp + 2), 1])


def _dilate_crop(ex, op, x):
    """flowc's conv input dilated by lhs_dilation (d - 1 zeros between neighbours: each
    element gets d - 1 zeros after it along a new axis, merged, the trailing zeros cut)
    and cropped by the negative parts of the padding; channels-last, as flowc's. Returns
    the ONNX value and the padding left for Conv (>= 0)."""
    t = op.inputs[0]
    dims = [ex.resolve(d) for d in t.shape]
    rank = len(dims)
    for i, d in enumerate(op.attrs["lhs_dilation"]):
        a = 1 + i
        if d == 1:
            continue
        n = dims[a]
        x = ex.node("Unsqueeze", [x, ex.ints([a + 1])])
        widths = [0] * (rank + 1) * 2
        widths[rank + 1 + a + 1] = d - 1
        x = ex.node("Pad", [x, ex.ints(widths)], mode="constant")
        x = ex.node("Reshape", [x, ex.shape(dims[:a] + [D.mul(n, d)] + dims[a + 1:])])
        dims[a] = D.add(D.mul(D.sub(n, 1), d), 1)
        x = ex.node("Slice", [x, ex.ints([0]), ex.shape([dims[a]]), ex.ints([a])])
    pads = []
    for i, (lo, hi) in enumerate(op.attrs["padding"]):
        a = 1 + i
        if lo < 0 or hi < 0:
            end = D.sub(dims[a], max(-hi, 0))
            x = ex.node("Slice", [x, ex.ints([max(-lo, 0)]), ex.shape([end]), ex.ints([a])])
        pads.append((max(lo, 0), max(hi, 0)))
    return x, pads


@rule("conv")
def conv(ex, op, ins):
    """flowc's conv is channels-last (x [N, *S, C], filter [*K, C, O]); ONNX's Conv is
    channels-first: transposes around it (onnxruntime folds the filter's). An input
    dilation (a transposed convolution, the input gradient of a strided one) and negative
    padding are done on the input first."""
    nsp = _rank(op) - 2
    x, pads = _dilate_crop(ex, op, ins[0])
    x = _to_channels_first(ex, x, nsp)
    w = ex.node("Transpose", [ins[1]], perm=[nsp + 1, nsp, *range(nsp)])
    y = ex.node("Conv", [x, w], strides=list(op.attrs["strides"]),
                pads=[p[0] for p in pads] + [p[1] for p in pads],
                dilations=list(op.attrs["rhs_dilation"]))
    return _to_channels_last(ex, y, nsp, _base(op))


# -- deferred composites --------------------------------------------------------------------

def _pool(ex, op, ins, attrs, onnx_op):
    nsp = len(attrs["window"])
    pads = attrs["padding"]
    extra = {}
    if onnx_op == "AveragePool":
        extra["count_include_pad"] = 0   # flowc (TF) divides by the valid elements
        if any(d != 1 for d in attrs["rhs_dilation"]):
            if ex.opset < 19:
                raise Unsupported("a dilated average pool needs opset 19 or newer")
            extra["dilations"] = list(attrs["rhs_dilation"])
    else:
        extra["dilations"] = list(attrs["rhs_dilation"])
    x = _to_channels_first(ex, ins[0], nsp)
    y = ex.node(onnx_op, [x], kernel_shape=list(attrs["window"]),
                strides=list(attrs["strides"]),
                pads=[p[0] for p in pads] + [p[1] for p in pads], **extra)
    return _to_channels_last(ex, y, nsp, _base(op))


def _depthwise(ex, op, ins, attrs):
    """x [N, H, W, C], filter [KH, KW, C, M] -> [N, OH, OW, C * M]: ONNX's grouped Conv
    (group C; output channel c * M + m is group c's m-th)."""
    kh, kw, c, m = op.inputs[1].shape.as_list()
    pads = attrs["padding"]
    x = _to_channels_first(ex, ins[0], 2)
    w = ex.node("Reshape", [ins[1], ex.ints([kh, kw, 1, c * m])])
    w = ex.node("Transpose", [w], perm=[3, 2, 0, 1])
    y = ex.node("Conv", [x, w], group=c, strides=list(attrs["strides"]),
                pads=[p[0] for p in pads] + [p[1] for p in pads],
                dilations=list(attrs["rhs_dilation"]))
    return _to_channels_last(ex, y, 2, _base(op))


_POOLS = {pooling._max_build: "MaxPool", pooling._avg_build: "AveragePool"}


@rule("deferred")
def deferred(ex, op, ins):
    """Max and average pooling become MaxPool / AveragePool; any other deferred composite
    is built as at compile time (compiler/expand.py), in a scratch graph over placeholders
    shaped like its inputs, and that graph's ops are exported in its place."""
    build = op.attrs["build"]
    if isinstance(build, partial) and build.func in _POOLS:
        return _pool(ex, op, ins, build.args[0], _POOLS[build.func])
    if isinstance(build, partial) and build.func is depthwise._depthwise_build:
        return _depthwise(ex, op, ins, build.args[0])
    g = Graph()
    g.symbols = D.SymbolTable(prefix=f"E{next(_SCRATCH)}_")
    g.fixed_loc = op.loc
    seen = {}
    from ..frontend.array_ops import placeholder as make_placeholder
    try:
        with g.as_default(), g.name_scope(op.name):
            phs = []
            for i, t in enumerate(op.inputs):
                if not t.shape.known_rank:
                    raise Unsupported(f"input {t.name!r} has unknown rank")
                dims = [ex.resolve(d) for d in t.shape]
                ph = make_placeholder(t.dtype, [d if isinstance(d, int) else None
                                                for d in dims], name=f"input_{i}")
                for d, pd in zip(dims, ph.shape):
                    if not isinstance(d, int):
                        if d in seen:
                            g.symbols.unify(pd, seen[d], f"{op.describe()}: equal dims")
                        seen.setdefault(d, pd)
                phs.append(ph)
            out = build(*phs)
    except (TypeError, ValueError, IndexError, D.ShapeError) as e:
        raise Unsupported(f"building it for export failed: {e}") from None
    outer, regions = ex.graph, ex.regions
    ex.graph, ex.regions = g, []   # the scratch ops belong to no body
    try:
        for ph, name in zip(phs, ins):
            ex.names[ph] = name
            ex.remember_dims(ph, name)
        ex.export_ops([out.op], phs)
        if out not in ex.names:
            raise Listed()   # the ops of its expansion that cannot be exported are listed
        name = ex.node("Identity", [ex.names[out]], _base(op))
        ex.built[name] = (g, out)
        return name
    finally:
        ex.graph, ex.regions = outer, regions
