"""`fc.dump`: every stage of the compile of (fetches, feeds) as readable text.

`dump(fetches, feeds=None, dir=None, stages="all", format="text", options=None)` returns
`{stage name: text}` in pipeline order:

    graph            the user's graph, pruned to what the fetches need (names, types,
                     inputs, control inputs, devices, file:line); a while loop's or
                     cond's regions follow its op, their ops indented
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
A graph placed on several devices (compiler/partition.py) has, after "graph", a
"partitions" stage (each partition's device, ops, feeds, fetches, recvs and sends with
their rendezvous keys) and then every partition's stages from "input" on, keyed
"p0_CPU0/input", "p1_GPU0/cuda", ...; files go to one folder per partition
(`DIR/p0_CPU0/NN_stage.txt`).
and writes one file per stage (`NN_stage.txt`) when `dir` is given. `feeds` defaults to
every placeholder the fetches depend on; a dict of feeds with values (`{X: array}`)
compiles a placeholder of unknown rank for its value's rank. Every IR node and kernel
names the user op and the file:line that created it. The stages are the compile pipeline's
(compiler/pipeline.py), which also writes the files (`write_stages`).

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

import numpy as np

from .options import CompileOptions
from .pipeline import (
    compile_graph,
    graph_text,
    is_partitioned,
    needed_ops,
    placed,
    resolve_fetches,
    stage_texts,
    write_stages,
)


def dump(fetches, feeds=None, dir=None, stages="all", format="text", options=None) -> dict:
    if format in ("html", "dot"):
        return _dump_view(fetches, feeds, dir, format, options)
    if format != "text":
        raise ValueError(f"unknown format {format!r}; supported: 'text', 'html', 'dot'")
    options = options or CompileOptions()
    graph, tensors, targets, feed_list = resolve_fetches(fetches, feeds)
    options, placements = placed(options, tensors, targets, feed_list)
    texts = {"graph": graph_text(needed_ops(tensors, targets), placements)}
    if is_partitioned(placements):
        texts.update(_partitioned(graph, tensors, targets, feed_list, placements, options,
                                  _fed_ranks(feeds, feed_list)))
    else:
        compiled = compile_graph(graph, tensors, feed_list, options, targets=targets,
                                 dump=True, feed_ranks=_fed_ranks(feeds, feed_list))
        texts.update(stage_texts(compiled.report, compiled.executable))
    if stages != "all":
        wanted = [stages] if isinstance(stages, str) else list(stages)
        unknown = [s for s in wanted if s not in texts]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {list(texts)}")
        texts = {k: v for k, v in texts.items() if k in wanted}
    if dir:
        write_stages(texts, dir)
    return texts


def _partitioned(graph, tensors, targets, feed_list, placements, options, ranks) -> dict:
    """The stages of a graph placed on several devices: "partitions" (each partition's
    device, ops, recvs and sends with their keys), then every partition's stages keyed
    "p0_CPU0/input", ... (compiler/partition.py)."""
    from .partition import compile_partitions, partition, partitions_text
    parting = partition(tensors, targets, feed_list, placements)
    texts = {"partitions": partitions_text(parting)}
    for p, c in zip(parting.partitions, compile_partitions(
            graph, parting, options, feed_ranks=ranks, dump=True)):
        texts.update({f"{p.name}/{k}": v for k, v in stage_texts(c.report,
                                                                  c.executable).items()})
    return texts


def _fed_ranks(feeds, feed_list):
    """{placeholder name: rank} of the unknown-rank placeholders given values in a dict."""
    if not isinstance(feeds, dict):
        return None
    return {t.name: int(np.ndim(v)) for t, v in zip(feed_list, feeds.values())
            if t._type.shape is None}


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
