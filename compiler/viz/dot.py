"""DOT (Graphviz) text of a graph stage: one node per op (label: name, op, type), data
edges solid, control edges dashed; name scopes and, in the fused stage, kernels become
`subgraph cluster_...` boxes (kernels filled with their colour; in the other stages an
op is filled with the colour of the kernel it ends up in). Colours have six hex digits
(Graphviz rejects three)."""

from __future__ import annotations

from .render import kernel_colour


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(node) -> str:
    shape = "?" if node.shape is None else "[" + ",".join(map(str, node.shape)) + "]"
    return f"{node.name.rsplit('/', 1)[-1]}\n{node.op} {node.dtype}{shape}"


def to_dot(stage, kernels=()) -> str:
    """The DOT text of `stage` (a compiler.viz.model.Stage); `kernels` (the fused
    stage's Kernel records) colours the kernel clusters and labels them with their kind
    and reason."""
    by_scope = {k.scope: k for k in kernels}
    tree: dict = {"": []}
    for node in stage.nodes:
        parts = node.name.split("/")
        for i in range(1, len(parts)):
            tree.setdefault("/".join(parts[:i]), [])
        tree.setdefault("/".join(parts[:-1]), []).append(node)
    lines = [f"digraph {_quote(stage.name)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
             'fontname="Helvetica", fontsize=10];']
    _emit_scope("", tree, by_scope, lines, "  ")
    for node in stage.nodes:
        for src in node.inputs:
            lines.append(f"  {_quote(src)} -> {_quote(node.name)};")
        for src in node.control:
            lines.append(f"  {_quote(src)} -> {_quote(node.name)} [style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _emit_scope(scope, tree, by_scope, lines, indent):
    children = sorted(s for s in tree if s and s.rpartition("/")[0] == scope)
    for child in children:
        kernel = by_scope.get(child)
        lines.append(f"{indent}subgraph {_quote('cluster_' + child)} {{")
        label = child.rsplit("/", 1)[-1]
        if kernel is not None:
            label += f"\n{kernel.reason}"
            lines.append(f'{indent}  style=filled; fillcolor="{kernel_colour(kernel.index)}";')
        lines.append(f"{indent}  label={_quote(label)};")
        _emit_scope(child, tree, by_scope, lines, indent + "  ")
        lines.append(f"{indent}}}")
    for node in tree.get(scope, []):
        fill = ""
        if node.kernel >= 0 and not by_scope:   # outside the fused graph: colour by kernel
            fill = f', fillcolor="{kernel_colour(node.kernel)}"'
        lines.append(f"{indent}{_quote(node.name)} [label={_quote(_label(node))}{fill}];")
