"""Common-subexpression elimination: `cse(program) -> (program, changed)`.

Nodes made through one `NodeCache` are already unique by structure (op, inputs, attrs,
type, token), so programs built by conversion, by the IR parser or by another pass have
no common subexpressions left. This pass is for programs that arrived by other routes
(nodes from several caches, programs assembled by hand): it rebuilds the program through
one fresh cache, so structurally equal stateless nodes become one node, carrying the
names and locations of all of them. Tokened (stateful) nodes — random draws, assigns —
never merge: two with the same token (which only a malformed program has) are kept
apart by giving the second a fresh token. `changed` is True when anything merged.
"""

from __future__ import annotations

from compiler.ir.nodes import Program

from .rewrite import rebuild


def cse(program: Program) -> tuple:
    new, changes = rebuild(program)
    return (new if changes else program), changes
