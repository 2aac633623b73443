"""Export rows of the control-flow ops (compiler/onnx/export_rules.py's table): a
`cond`'s `If` op becomes ONNX If, a `while_loop`'s `While` op ONNX Loop. Their traced
bodies (frontend/graph.py `UserRegion`) are exported op by op as ONNX subgraphs, which
read the outer values they capture by name (ONNX's outer scope), so no capture becomes
an input. A Loop's body computes the next values and then the condition on them; the
first test runs before the loop, in the enclosing graph."""

from __future__ import annotations

from ..convert import _region_ops
from .export_rules import Listed, rule


class _Subgraph:
    """Collects the nodes made inside it; what the exporter learnt there about where dims
    are read (values of the subgraph) does not leak to the enclosing graph."""

    def __init__(self, ex):
        self.ex = ex
        self.nodes = None

    def __enter__(self):
        ex = self.ex
        self.saved = (ex.nodes, dict(ex.syms), dict(ex._shapes), dict(ex._dims))
        ex.nodes, ex._dims = [], {}   # dims are computed again from the body's values
        return self

    def __exit__(self, *exc):
        ex = self.ex
        self.nodes = ex.nodes
        ex.nodes, ex.syms, ex._shapes, ex._dims = self.saved


def _emit(ex, region, params=()):
    """Emit the ops of `region` whose params are the ONNX values `params`; the ONNX names
    of its results. Raises Listed when one of its ops failed (its problem is listed)."""
    for p, name in zip(region.params, params):
        ex.names[p] = name
        ex.remember_dims(p, name, force=True)
    ex.regions.append(region)
    try:
        for op in _region_ops(region):
            if op.type not in ("param", "NoOp"):
                ex.export_op(op)
    finally:
        ex.regions.pop()
    if any(t not in ex.names for t in region.results):
        raise Listed()
    return [ex.names[t] for t in region.results]


def _outputs(ex, names, tensors, base):
    """Each result as a value made inside the subgraph, and its ValueInfo (the subgraph's
    symbolic dims unnamed: an iteration may change them)."""
    outs = [ex.node("Identity", [n], base) for n in names]
    return [ex.value_info(o, t, named=False) for o, t in zip(outs, tensors)]


@rule("If")
def if_(ex, op, ins):
    branches = {}
    for kind, attr in (("then", "then_branch"), ("else", "else_branch")):
        region = op.attrs[kind]
        with _Subgraph(ex) as sub:
            vis = _outputs(ex, _emit(ex, region), region.results, f"{op.name}/{kind}")
        branches[attr] = ex.onnx.helper.make_graph(sub.nodes, f"{op.name}/{kind}", [], vis)
    return ex.node("If", ins[:1], op.name, outputs=len(op.outputs), **branches)


@rule("While")
def while_(ex, op, ins):
    helper, TP = ex.onnx.helper, ex.onnx.TensorProto
    n = op.attrs["carried"]
    cond, body = op.attrs["cond"], op.attrs["body"]
    first = _emit(ex, cond, ins[:n])[0]
    with _Subgraph(ex) as sub:
        step = ex.fresh(f"{op.name}/iteration")
        cond_in = ex.fresh(f"{op.name}/cond_in")
        params = [ex.fresh(f"{op.name}/loop_var") for _ in range(n)]
        inputs = [helper.make_tensor_value_info(step, TP.INT64, []),
                  helper.make_tensor_value_info(cond_in, TP.BOOL, [])]
        inputs += [ex.value_info(name, p, named=False) for name, p in zip(params, body.params)]
        new = _emit(ex, body, params)
        again = _emit(ex, cond, new)[0]
        outputs = _outputs(ex, [again], cond.results, f"{op.name}/cond")
        outputs += _outputs(ex, new, body.results, f"{op.name}/next")
    graph = helper.make_graph(sub.nodes, f"{op.name}/body", inputs, outputs)
    return ex.node("Loop", ["", first, *ins[:n]], op.name, outputs=n, body=graph)
