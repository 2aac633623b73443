"""Regions: the bodies of the structured control-flow ops (`while`, `cond`).

A `Region(params, results)` is a closed sub-program: `params` are `param` nodes (attrs
index/dtype/shape, each with a unique token), `results` are nodes computed from those
params only (and from constants). Conversion turns every outer value a body uses into an
explicit input of the region op (closure conversion), so a region never reaches a node
of another region or of the program (placeholders, variables). A region op binds param
`i` of each of its regions to its input `i`.

Regions are compared and hashed by identity (a node attr must hash); two region ops
merge only when they hold the same Region objects. Everything that walks a program's
nodes and must see the bodies too uses `region_attrs(node)` and `Region.topo()`;
`program_nodes(program)` lists the nodes of a program and of every region in it, inner
regions first (the order the IR text prints them).
"""

from __future__ import annotations


class Region:
    __slots__ = ("params", "results", "__weakref__")

    def __init__(self, params, results):
        self.params = tuple(params)
        self.results = tuple(results)

    def topo(self) -> list:
        """The region's nodes, inputs before consumers: the params in order, then what
        the results need (the order the IR text prints them)."""
        return topo_order(list(self.params) + list(self.results))

    @property
    def param_types(self) -> list:
        return [p.type for p in self.params]

    @property
    def result_types(self) -> list:
        return [r.type for r in self.results]

    def __repr__(self):
        return f"<Region {len(self.params)} params -> {len(self.results)} results>"


def topo_order(roots) -> list:
    """Depth-first post-order of the nodes reached from `roots` (Program.topo's walk)."""
    order, seen = [], set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for inp in reversed(node.inputs):
                if id(inp) not in seen:
                    stack.append((inp, False))
    return order


def region_attrs(node) -> list:
    """(name, Region) of the node's region attrs, in attr order."""
    return [(k, v) for k, v in node.attrs if isinstance(v, Region)]


def program_nodes(program) -> list:
    """Every node of the program and of its regions (recursively); a region's nodes
    come just before the region op that holds it."""
    out, seen = [], set()

    def walk(nodes):
        for node in nodes:
            if id(node) in seen:
                continue
            for _, region in region_attrs(node):
                walk(region.topo())
            seen.add(id(node))
            out.append(node)
    walk(program.topo())
    return out
