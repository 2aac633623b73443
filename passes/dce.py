"""Dead-code elimination: `dce(program) -> (program, changed)`.

A `Program` holds only what its outputs, effects and inputs reach, so nodes that feed no
fetch and no variable write are already gone once a program is rebuilt. What is left to
remove are effects that change nothing: `effect "v" = assign(variable v)` writes back
the value `v` had before the run (a variable read is the pre-run value, see "State
within one run" in DESIGN.md), so the write is a no-op. Such an effect is dropped when
its assign node is not also fetched or used by another node, and the program is rebuilt
without it, so the nodes only it reached disappear too.

One visible difference: a run whose only use of an uninitialized variable was such a
no-op write no longer reads the variable, so it no longer raises
UninitializedVariableError.
"""

from __future__ import annotations

from compiler.ir.nodes import Node, Program

from .rewrite import rebuild


def dce(program: Program) -> tuple:
    noops = [name for name, node in program.effects.items() if is_noop_assign(node)]
    if not noops:
        return program, False
    used = _used_elsewhere(program, noops)
    dropped = [name for name in noops if id(program.effects[name]) not in used]
    if not dropped:
        return program, False
    effects = {k: v for k, v in program.effects.items() if k not in dropped}
    return rebuild(program, effects=effects)


def is_noop_assign(node: Node) -> bool:
    """`assign(variable v)` to the same variable `v`."""
    if node.op != "assign":
        return False
    value = node.inputs[0]
    return value.op == "variable" and value.attr["var"] == node.attr["var"]


def _used_elsewhere(program: Program, noops) -> set:
    """ids of the nodes that the outputs and the other effects reach."""
    roots = list(program.outputs) + [v for k, v in program.effects.items() if k not in noops]
    seen, stack = set(), roots
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.inputs)
    return seen
