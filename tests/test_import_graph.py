"""No import cycle among the project's modules (compiler, passes, runtime), counting every
import: module level and inside functions, relative imports resolved, `from X import name`
counting as an import of the submodule `X.name` when there is one, and a package's
`__init__` importing what it imports. A function-level import that only hides a cycle is
still a cycle (docs/STYLE.md item 12): move the shared piece down a floor instead."""

from __future__ import annotations

import ast
import os

import networkx as nx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("compiler", "passes", "runtime")


def project_modules(root=ROOT) -> dict:
    """{dotted module name: path} of every .py file of the packages."""
    out = {}
    for pkg in PACKAGES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, pkg)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)[:-3]
                parts = rel.split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                out[".".join(parts)] = os.path.join(dirpath, name)
    return out


def _resolve(module, path, node) -> str:
    """The absolute module an ImportFrom names (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module, path, modules) -> set:
    """The project modules `module` imports anywhere in its source."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:   # a submodule by name, else a name of `target`
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {_owner(name, modules) for name in found if _owner(name, modules)} - {module}


def _owner(name, modules):
    """The longest project module that is `name` or a prefix of it (None: not ours)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(root=ROOT) -> nx.DiGraph:
    modules = project_modules(root)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        for target in imports_of(module, path, modules):
            graph.add_edge(module, target)
    return graph


def _cycle_text(graph) -> str:
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return ""
    return " -> ".join([a for a, _ in cycle] + [cycle[0][0]])


def test_import_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert graph.has_edge("compiler.session", "compiler.pipeline")   # relative, module level
    assert graph.has_edge("compiler.cli", "compiler.dump")           # inside a function
    assert graph.has_edge("compiler", "compiler.session")            # a package's __init__


def test_no_import_cycle():
    graph = import_graph()
    cycle = _cycle_text(graph)
    sccs = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycle, (f"import cycle: {cycle}\n(modules in cycles: "
                       f"{sum(len(c) for c in sccs)}; move the shared piece down a floor)")


def test_backends_reach_neither_the_cache_nor_passes():
    graph = import_graph()
    backends = [m for m in graph if m.startswith("compiler.backends")]
    for module in backends:
        reached = nx.descendants(graph, module)
        bad = sorted(m for m in reached if m == "compiler.cache" or m.startswith("passes"))
        assert not bad, f"{module} reaches {bad}: backends take a lowered program"


def test_only_the_pipeline_compiles_through_the_cache():
    graph = import_graph()
    users = sorted(graph.predecessors("compiler.cache"))
    assert users == ["compiler.cli", "compiler.pipeline"], users  # cli: `flowc cache`
