"""Kernel planning: which IR nodes become kernels and which are computed inside another
kernel's loops.

Current policy (`plan_kernels`): every node whose op is elementwise, a reduction, a
contraction, opaque, state or a computed source (iota, random, shape) is the root of its
own kernel; movement ops (transpose, broadcast, reshape, slice, concat, pad, gather) and
one-element constants are never materialized, they become index arithmetic (or an
immediate) inside the kernels that read them — unless they are fetched, in which case
they get a kernel of their own. Placeholders, variables and larger constants are
buffers provided by the runtime. Each decision carries a reason for the dumps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.ops import get

BUFFER_SOURCES = ("placeholder", "variable")
COMPUTED_SOURCES = ("iota", "random_uniform", "random_normal", "shape")


def is_scalar_constant(node) -> bool:
    return node.op == "constant" and node.attr["value"].array.size == 1


@dataclass
class KernelPlan:
    roots: list                       # nodes computed by a kernel of their own, topo order
    buffers: list                     # nodes that are runtime-provided buffers
    reasons: dict = field(default_factory=dict)  # id(node) -> why it is (not) a root


def plan_kernels(program) -> KernelPlan:
    must_store = {id(n) for n in program.outputs} | {id(n) for n in program.effects.values()}
    plan = KernelPlan([], [])
    for node in program.topo():
        fusion = get(node.op).fusion
        if node.op in BUFFER_SOURCES or (node.op == "constant" and not is_scalar_constant(node)):
            plan.buffers.append(node)
            plan.reasons[id(node)] = "provided by the runtime"
        elif fusion == "movement" or is_scalar_constant(node):
            if id(node) in must_store:
                plan.roots.append(node)
                plan.reasons[id(node)] = "fetched, so materialized"
            else:
                plan.reasons[id(node)] = "inlined as index arithmetic into its consumers"
        else:
            plan.roots.append(node)
            plan.reasons[id(node)] = f"{fusion} op: kernel of its own"
    return plan
