"""`fc.dump`: every stage of the compile of (fetches, feeds) as readable text.

`dump(fetches, feeds=None, dir=None, stages="all", format="text", options=None)` returns
`{stage name: text}` in pipeline order:

    graph            the user's graph, pruned to what the fetches need (names, types,
                     inputs, control inputs, devices, file:line)
    input            the compiler IR after conversion
    <pass>[.round]   one entry per pass run: its summary line and the IR after it
    fusion           the kernel plan: kernels, the nodes in each, the reason for every
                     boundary
    kernels          the loop-level kernel IR
    llvm, llvm_opt   LLVM IR before and after optimization
    asm              the machine code
    cuda             instead of llvm/llvm_opt/asm for a GPU compile (placement by device
                     strings or `options=CompileOptions(device="gpu")`): the CUDA C
                     source, which NVRTC compiles (no GPU needed)
and writes one file per stage (`NN_stage.txt`) when `dir` is given. `feeds` defaults to
every placeholder the fetches depend on. Every IR node and kernel names the user op and
the file:line that created it.

`format="html"` returns `{"html": text}` instead: one self-contained page (the viewer of
compiler/viz: the graph with collapsible name scopes, node details, the fused kernels as
coloured groups with their reasons, a slider over the stages), written to
`DIR/graph.html` when `dir` is given. `format="dot"` returns `{"graph": DOT of the user
graph, "fusion": DOT of the fused graph, one cluster per kernel}`, written to
`DIR/graph.dot` and `DIR/fusion.dot`. Both compile up to the kernel plan only (no code
generation); `stages` applies to the text format. docs/visualization.md has the details.
"""

from __future__ import annotations

import os

from .convert import _needed_ops, convert
from .frontend.graph import Operation, Tensor, get_default_graph
from .ir.types import format_type
from .ir.verify import verify
from .options import CompileOptions


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _elements(graph, items):
    out = []
    for f in items:
        el = graph.as_graph_element(f._as_graph_element() if hasattr(f, "_as_graph_element")
                                    and not isinstance(f, Tensor) else f)
        out.append(el)
    return out


def format_user_graph(ops) -> str:
    lines = []
    for op in ops:
        ins = ", ".join(t.name for t in op.inputs)
        ctrl = ", ".join("^" + c.name for c in op.control_inputs)
        out = " : " + format_type(op.outputs[0].type) if op.outputs else ""
        dev = f" device={op.device!r}" if op.device else ""
        args = ", ".join(x for x in (ins, ctrl) if x)
        lines.append(f"{op.name} = {op.type}({args}){out}{dev}  # {op.loc}")
    return "\n".join(lines)


def resolve_fetches(fetches, feeds=None):
    """(graph, fetched tensors, target ops, feed tensors) of `fc.dump`'s arguments; feeds
    default to every placeholder the fetches depend on. A summary stands for the numeric
    tensors it summarizes (what `Session.run` compiles for it)."""
    from .summary.ops import is_summary, numeric_inputs
    items = _as_list(fetches)
    graph = items[0].graph if items else get_default_graph()
    flat = []
    for f in _elements(graph, items):
        flat.extend(numeric_inputs(f) if is_summary(f) else [f])
    tensors = [f for f in flat if isinstance(f, Tensor)]
    targets = [f for f in flat if isinstance(f, Operation)]
    roots = [t.op for t in tensors] + targets
    if feeds is None:
        feed_list = [op.outputs[0] for op in _needed_ops(roots, set())
                     if op.type == "placeholder"]
    else:
        feed_list = _elements(graph, list(feeds))
    return graph, tensors, targets, feed_list


def dump(fetches, feeds=None, dir=None, stages="all", format="text", options=None) -> dict:
    if format in ("html", "dot"):
        return _dump_view(fetches, feeds, dir, format, options)
    if format != "text":
        raise ValueError(f"unknown format {format!r}; supported: 'text', 'html', 'dot'")
    options = options or CompileOptions()
    graph, tensors, targets, feed_list = resolve_fetches(fetches, feeds)
    roots = [t.op for t in tensors] + targets
    texts = {"graph": format_user_graph(_needed_ops(roots, set()))}
    from dataclasses import replace

    from .placement import device_for
    device = device_for(roots, feed_list, options.device)
    if device != options.device:
        options = replace(options, device=device)
    program = convert(graph, tensors, feed_list, targets=targets)
    verify(program)
    from passes.manager import run_pipeline
    program, report = run_pipeline(program, options, dump=True)
    texts.update(report.stages())
    from .build import build_program
    exe = build_program(program, options, assembly=True)
    keys = ("fusion", "kernels", "cuda") if options.device == "gpu" else \
        ("fusion", "kernels", "llvm", "llvm_opt", "asm")
    for key in keys:
        texts[key] = exe.texts[key]
    if stages != "all":
        wanted = [stages] if isinstance(stages, str) else list(stages)
        unknown = [s for s in wanted if s not in texts]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {list(texts)}")
        texts = {k: v for k, v in texts.items() if k in wanted}
    if dir:
        write_stages(texts, dir)
    return texts


def _dump_view(fetches, feeds, dir, format, options) -> dict:
    """format="html": {"html": the viewer page}, written to DIR/graph.html; format="dot":
    {"graph": DOT of the user graph, "fusion": DOT of the fused graph}, written to
    DIR/graph.dot and DIR/fusion.dot."""
    from .viz import analyze, render_html, to_dot
    model = analyze(fetches, feeds, options)
    if format == "html":
        files = {"graph.html": render_html(model)}
        out = {"html": files["graph.html"]}
    else:
        out = {"graph": to_dot(model.stages[0]), "fusion": to_dot(model.stages[-1],
                                                                 model.kernels)}
        files = {f"{key}.dot": text for key, text in out.items()}
    if dir:
        os.makedirs(dir, exist_ok=True)
        for name, text in files.items():
            with open(os.path.join(dir, name), "w") as f:
                f.write(text)
    return out


def write_stages(texts: dict, dir: str):
    """One file per stage, `NN_stage.txt`, in order."""
    os.makedirs(dir, exist_ok=True)
    for i, (key, text) in enumerate(texts.items()):
        with open(os.path.join(dir, f"{i:02d}_{key}.txt"), "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
