"""Export rows of the contractions and composites (the table is in
compiler/onnx/export_rules.py): matmul, conv (channels-last, as Transpose + Conv +
Transpose, input dilation and cropping spelled out), and the deferred composites: max /
average pooling as MaxPool / AveragePool, depthwise_conv2d as a grouped Conv, any other
built in a scratch graph and exported op by op."""

from __future__ import annotations

import itertools
from functools import partial

from ..frontend import depthwise, pooling
from ..frontend.graph import Graph
from ..ir import dims as D
from .export_rules import Listed, Unsupported, _base, _rank, rule

_SCRATCH = itertools.count()


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
