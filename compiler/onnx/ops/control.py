"""Control-flow ONNX ops: If, Loop, Scan (subgraphs built by the importer).

A subgraph (a GRAPH attribute) is built by `cx.subgraph(graph, inputs)` inside the
function that `fc.cond` or `fc.while_loop` traces, so it becomes the region of the flowc
op and the enclosing graph's tensors it names are captured. If is `fc.cond` (only the
taken branch runs; when the condition is known at import, only that branch is built).
Loop and Scan are one `fc.while_loop` each, their per-iteration outputs gathered in
TensorArrays; the number of rows of a scan output must be known when the loop is built
(a trip count known at import for Loop, the scanned extent for Scan: possibly symbolic).
ONNX's sequence and optional types have no flowc counterpart: the Sequence*/Optional*
ops are not in the table and a graph input of those types is refused (proto.py).
"""

from __future__ import annotations

import numpy as np

from ...frontend import control_flow as cf
from ...frontend import core
from ...frontend import manip_ops as MO
from ...frontend import math_ops as M
from ...frontend.array_ops import shape as shape_of
from ...frontend.indexing import reverse
from ...frontend.tensor_array import TensorArray
from ...ir import dtypes as T
from .. import proto
from ..table import converter


def _scalar(t, dtype, what, cx):
    if t.shape.known_rank and t.shape.num_elements() not in (1, None):
        raise cx.unsupported(f"{what} of shape {t.shape}: a scalar expected")
    if t.shape.ndims != 0:
        t = MO.reshape(t, [])
    return t if t.dtype is dtype else M.cast(t, dtype)


def _out_dtype(cx, graph, k):
    vi = graph.output[k]
    if vi.type.WhichOneof("value") != "tensor_type":
        raise cx.unsupported(f"subgraph output {vi.name!r} is not a tensor (flowc has no "
                             f"sequence or optional type)")
    return proto.dtype(vi.type.tensor_type.elem_type, f"{cx!r} subgraph output {vi.name!r}")


@converter("If", attrs=("then_branch", "else_branch"),
           note="fc.cond; both branches give equal shapes unless the condition is known "
                "at import")
def if_(cx):
    then_g, else_g = cx.attr("then_branch"), cx.attr("else_branch")
    pred = _scalar(cx.input(0), T.bool_, "the condition", cx)
    known = cx.importer.static_value(pred)
    if known is not None:
        return cx.subgraph(then_g if bool(known) else else_g, [])
    for g in (then_g, else_g):
        for k in range(len(g.output)):
            _out_dtype(cx, g, k)
    out = cf.cond(pred, lambda: cx.subgraph(then_g, []), lambda: cx.subgraph(else_g, []),
                  strict=True)
    return list(out)


def _passes_through(t, param):
    """Whether `t` is `param` itself or identities of it."""
    while t is not param and t.op.type == "identity":
        t = t.op.inputs[0]
    return t is param


@converter("Loop", attrs=("body",), static=(0, 1),
           note="fc.while_loop; scan outputs need a trip count known at import and a "
                "condition that stays true")
def loop(cx):
    body = cx.attr("body")
    carried = [cx.input(i) for i in range(2, len(cx.inputs))]
    n_scan = len(body.output) - 1 - len(carried)
    if len(body.input) != 2 + len(carried) or n_scan < 0:
        raise cx.unsupported(f"body has {len(body.input)} inputs and {len(body.output)} "
                             f"outputs for {len(carried)} loop-carried values")
    trips, go = cx.input(0), cx.input(1)
    if trips is None and go is None:
        raise cx.unsupported("neither a trip count M nor a condition: an endless loop")
    trips = None if trips is None else _scalar(trips, T.int64, "trip count M", cx)
    go = core.constant(True) if go is None else _scalar(go, T.bool_, "condition", cx)
    rows = None
    if n_scan:
        n = None if trips is None else cx.importer.static_value(trips)
        start = cx.importer.static_value(go)
        if n is None or start is None or not bool(start):
            raise cx.unsupported(
                "scan outputs need the trip count M known at import and an initial "
                "condition known to be true (else their number of rows depends on data)")
        rows = int(n)
    scan_types = [_out_dtype(cx, body, 1 + len(carried) + k) for k in range(n_scan)]
    tas = [TensorArray(dt, size=rows) for dt in scan_types]
    limit = None if trips is None else M.cast(M.maximum(trips, core.constant(
        np.int64(0))), T.int32)

    def cond_fn(i, c, vs, tas):
        return c if trips is None else M.logical_and(c, i < trips)

    def body_fn(i, c, vs, tas):
        outs = cx.subgraph(body, [i, c] + list(vs))
        c_out = _scalar(outs[0], T.bool_, "the body's condition output", cx)
        if n_scan and not _passes_through(c_out, c) and not _always(cx, c_out):
            raise cx.unsupported("scan outputs with a condition the body computes: their "
                                 "number of rows depends on data")
        news = outs[1:1 + len(carried)]
        i32 = M.cast(i, T.int32)
        tas = [ta.write(i32, s) for ta, s in zip(tas, outs[1 + len(carried):])]
        return i + core.constant(np.int64(1)), c_out, list(news), tas

    _, _, finals, tas = cf.while_loop(
        cond_fn, body_fn, (core.constant(np.int64(0)), go, carried, tas),
        maximum_iterations=limit, return_same_structure=True)
    return list(finals) + [ta.stack() for ta in tas]


def _always(cx, t):
    v = cx.importer.static_value(t)
    return v is not None and bool(v)


def _move_axis(x, src, dst):
    rank = x.shape.ndims
    src, dst = src % rank, dst % rank
    if src == dst:
        return x
    perm = [a for a in range(rank) if a != src]
    perm.insert(dst, src)
    return MO.transpose(x, perm)


@converter("Scan", since=8, attrs=("body", "num_scan_inputs", "directions",
                                   "scan_input_axes", "scan_input_directions",
                                   "scan_output_axes", "scan_output_directions"),
           note="fc.while_loop over the scanned axis (one compile for every extent); the "
                "opset-8 form needs a static batch and no sequence_lens")
def scan(cx):
    body = cx.attr("body")
    m = int(cx.attr("num_scan_inputs"))
    if cx.opset >= 9:
        return _scan(cx, body, m, list(cx.inputs))
    # opset 8: input 0 is sequence_lens, every input has a batch axis 0
    if cx.has(0):
        raise cx.unsupported("Scan-8's sequence_lens input")
    ins = list(cx.inputs[1:])
    batch = ins[0].shape[0] if ins[0].shape.known_rank else None
    if not isinstance(batch, int):
        raise cx.unsupported("Scan-8 with a batch extent not known when the model is built")
    rows = [_scan(cx, body, m, [MO.gather(x, b) for x in ins]) for b in range(batch)]
    return [MO.stack(list(r), 0) for r in zip(*rows)]


def _scan(cx, body, m, ins):
    n_state = len(ins) - m
    n_out = len(body.output) - n_state
    if n_state < 0 or n_out < 0 or len(body.input) != len(ins):
        raise cx.unsupported(f"body has {len(body.input)} inputs and {len(body.output)} "
                             f"outputs for {len(ins)} inputs of which {m} are scanned")
    dirs = cx.attr("scan_input_directions", None) or cx.attr("directions", None) or [0] * m
    axes = cx.attr("scan_input_axes", None) or [0] * m
    out_dirs = cx.attr("scan_output_directions", None) or [0] * n_out
    out_axes = cx.attr("scan_output_axes", None) or [0] * n_out
    if len(dirs) != m or len(axes) != m or len(out_dirs) != n_out or len(out_axes) != n_out:
        raise cx.unsupported("scan_*_axes/directions of the wrong length")
    states = ins[:n_state]
    xs = []
    for x, a, d in zip(ins[n_state:], axes, dirs):
        if not x.shape.known_rank:
            raise cx.unsupported("a scan input of unknown rank")
        x = _move_axis(x, a, 0)
        xs.append(reverse(x, [0]) if d else x)
    n = xs[0].shape[0]
    steps = core.constant(n, dtype=T.int32) if isinstance(n, int) else \
        shape_of(xs[0], out_type=T.int32)[0]
    in_tas = [TensorArray(x.dtype, size=n, element_shape=list(x.shape)[1:]).unstack(x)
              for x in xs]
    tas = [TensorArray(_out_dtype(cx, body, n_state + k), size=n) for k in range(n_out)]

    def body_fn(i, st, tas):
        outs = cx.subgraph(body, list(st) + [ta.read(i) for ta in in_tas])
        return (i + 1, list(outs[:n_state]),
                [ta.write(i, y) for ta, y in zip(tas, outs[n_state:])])

    _, finals, tas = cf.while_loop(lambda i, st, tas: i < steps, body_fn,
                                   (core.constant(0, dtype=T.int32), states, tas),
                                   maximum_iterations=steps, return_same_structure=True)
    outs = []
    for ta, a, d in zip(tas, out_axes, out_dirs):
        y = ta.stack()
        y = reverse(y, [0]) if d else y
        outs.append(_move_axis(y, 0, a))
    return list(finals) + outs
