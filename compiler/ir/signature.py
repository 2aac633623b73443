"""The runtime `Signature` of a compiler-IR `Program` (dims in the runtime's JSON form)."""

from __future__ import annotations

from runtime.signature import ArgSpec, Signature

from . import dims as D


def _arg(node, name=None, reasons=None) -> ArgSpec:
    return ArgSpec(name or (node.names[0] if node.names else node.op), node.dtype.np.name,
                   [D.to_json(d) for d in node.shape], node.locs[0] if node.locs else "",
                   reasons or {})


def program_signature(prog) -> Signature:
    inputs = []
    for i, n in enumerate(prog.inputs):
        reasons = {axis: why for (j, axis), why in prog.input_dim_reasons.items() if j == i}
        inputs.append(_arg(n, n.attr["name"].rsplit(":", 1)[0], reasons))
    names = list(prog.output_names) or [None] * len(prog.outputs)
    outputs = [_arg(n, name) for n, name in zip(prog.outputs, names)]
    checks = [(D.to_json(a), D.to_json(b), why) for a, b, why in prog.checks]
    bounds = [(D.to_json(a), D.to_json(b), why) for a, b, why in prog.bounds]
    return Signature(inputs, outputs, [s.name for s in prog.symbols], checks, bounds)
