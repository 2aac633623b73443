"""Rebuilding a `Program` through a fresh `NodeCache`: the one way passes make programs.

`rebuild(program, replace=None, effects=None)` walks `program.topo()` and re-makes every
node, with its rebuilt inputs, through one fresh `NodeCache`, so structurally equal
stateless nodes merge. After a node is re-made, the optional `replace(node, rb)` may
return a node that stands for it (a folded constant, a simplified expression) or None.
It returns the new program and a `Changes` record (what was removed, added, merged),
which a pass returns as its `changed` flag: it is truthy exactly when the program changed.

Contract:
- The input program and its nodes are never modified: every node of the result is new,
  and provenance (`names`, `locs`) is copied, never moved.
- Provenance is kept: a merged node gets its twin's names and locations, a replacement
  gets those of the node it replaces (appended, so `names[0]` of a survivor stays its own).
- A replacement must have exactly the replaced node's type (dtype, and shape with its
  symbolic dims); anything else is an error naming the node.
- Tokened (stateful) nodes never merge: the twin of a tokened node (possible only in a
  program that did not come from one cache) gets a fresh token.
- Everything besides the nodes (symbols, checks, bounds, origins, reasons, name) is
  copied unchanged; inputs stay the program's placeholders in order.
- An exception raised by `replace` is re-raised as `RewriteError` carrying the node of
  the *input* program it was working on, so the pass manager can point at it.
- Regions (bodies of `while`/`cond`) are rebuilt with the same `replace` through the
  same cache, each as the program `region_program(region)` (params in, results out);
  their changes count in the returned `Changes`, so a fold inside a loop body is a
  change, and an unchanged body is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from compiler.ir import dims as D
from compiler.ir.nodes import Node, NodeCache, Program, new_token, region_program
from compiler.ir.regions import Region, region_attrs
from compiler.ir.types import TensorType
from compiler.ops import InferContext, get


class RewriteError(RuntimeError):
    """An exception raised while a pass rewrote `node` (a node of the pass's input)."""

    def __init__(self, node: Node, cause: BaseException):
        super().__init__(f"while rewriting {node.describe()}: {type(cause).__name__}: {cause}")
        self.node = node
        self.cause = cause


def copy_provenance(src: Node, dst: Node) -> None:
    """Append `src`'s names and locations that `dst` lacks to `dst`."""
    if src is dst:
        return
    dst.names.extend(n for n in src.names if n not in dst.names)
    dst.locs.extend(loc for loc in src.locs if loc not in dst.locs)


@dataclass(frozen=True)
class Changes:
    """What a rebuild changed, counted over the nodes of the input program:
    - `removed`: input nodes that have no node of their own in the result (replaced, or
      no longer reached);
    - `merged`: input nodes that kept a node but share it with another input node;
    - `added`: result nodes that stand for no input node (folded constants, nodes built
      by rules);
    - `retokened`: tokened twins kept apart with a fresh token.
    Truthy when anything changed; the pass manager prints these counts in its summary."""
    removed: int = 0
    added: int = 0
    merged: int = 0
    retokened: int = 0

    def __bool__(self) -> bool:
        return bool(self.removed or self.added or self.merged or self.retokened)


class Rebuilder:
    """Makes the nodes of one rebuilt program (one NodeCache) and counts what happened.
    The regions of control-flow nodes are rebuilt too, through the same cache and
    `replace`, each as a program of its own (`region_program`); what changed inside
    them is added to `inner`."""

    def __init__(self, program: Program, replace=None, cache=None):
        self.program = program
        self.replace = replace
        self.cache = NodeCache() if cache is None else cache
        self.retokened = 0    # tokened twins that got a fresh token instead of merging
        self.inner = Changes()   # what changed inside regions
        self._copies: set = set()
        self._checks = {_pair(a, b) for a, b, _ in program.checks}
        self._bounds = {(a, b) for a, b, _ in program.bounds}
        self._regions: dict = {}   # id(old Region) -> rebuilt Region

    def region(self, old: Region) -> Region:
        """`old` rebuilt (once per rebuild, however many nodes hold it)."""
        if id(old) not in self._regions:
            sub = Rebuilder(region_program(old, self.program), self.replace, self.cache)
            body, changes = _rebuild_with(sub, sub.program, self.replace, None)
            self.inner = _add(self.inner, _add(changes, sub.inner))
            self._regions[id(old)] = Region(body.inputs, body.outputs)
        return self._regions[id(old)]

    def copy(self, old: Node, inputs) -> Node:
        """`old` re-made over `inputs` (nodes of this rebuild), with its provenance."""
        attrs = old.attr
        for name, region in region_attrs(old):
            attrs[name] = self.region(region)
        node = self.cache.make(old.op, inputs, attrs, old.type, old.token)
        if id(node) in self._copies and old.token:
            self.retokened += 1
            node = self.cache.make(old.op, inputs, attrs, old.type, new_token())
        self._copies.add(id(node))
        copy_provenance(old, node)
        return node

    def build(self, op: str, inputs, **attrs) -> Optional[Node]:
        """A stateless node `op(inputs){attrs}` with the type the op table infers, or None
        when inference fails, would bind a symbol of the program, or needs a run-time
        check or bound that the program does not already have."""
        opdef = get(op)
        table = D.SymbolTable(prefix="rewrite")
        ctx = InferContext(table, f"{op} (rewritten)")
        try:
            ty = opdef.infer([i.type for i in inputs], attrs, ctx)
        except (TypeError, ValueError, IndexError, KeyError):
            return None
        if _binds_symbols(table, inputs, attrs) or not self._knows(table):
            return None
        return self.cache.make(op, inputs, attrs, TensorType(ty.dtype, ty.shape))

    def derive(self, like: Node, op: str, inputs, **attrs) -> Optional[Node]:
        """`build(op, inputs, **attrs)` when its type is exactly `like.type`, else None."""
        node = self.build(op, inputs, **attrs)
        return node if node is not None and node.type == like.type else None

    def _knows(self, table: D.SymbolTable) -> bool:
        return (all(_pair(a, b) in self._checks for a, b, _ in table.checks)
                and all((a, b) in self._bounds for a, b, _ in table.bounds))

    def result(self, new: dict, effects: Optional[dict] = None) -> Program:
        """The rebuilt program; `new` maps id(old node) -> new node."""
        p = self.program
        effects = p.effects if effects is None else effects
        return Program(inputs=[new[id(n)] for n in p.inputs],
                       outputs=[new[id(n)] for n in p.outputs],
                       effects={k: new[id(v)] for k, v in effects.items()},
                       symbols=list(p.symbols), checks=list(p.checks),
                       bounds=list(p.bounds), symbol_origins=dict(p.symbol_origins),
                       input_dim_reasons=dict(p.input_dim_reasons), name=p.name,
                       output_names=list(p.output_names))


Replace = Callable[[Node, Rebuilder], Optional[Node]]


def rebuild(program: Program, replace: Optional[Replace] = None,
            effects: Optional[dict] = None) -> tuple:
    """(new program, Changes). `effects` (a subset of program.effects) replaces the
    program's effects, so the nodes only they reach are not rebuilt."""
    rb = Rebuilder(program, replace)
    result, changes = _rebuild_with(rb, program, replace, effects)
    return result, _add(changes, rb.inner)


def _rebuild_with(rb: Rebuilder, program: Program, replace, effects) -> tuple:
    roots = Program(program.inputs, program.outputs,
                    program.effects if effects is None else effects, program.symbols)
    new: dict = {}
    replaced: set = set()
    for old in roots.topo():
        copied = rb.copy(old, [new[id(i)] for i in old.inputs])
        node = copied if replace is None else _replaced(old, copied, rb, replace)
        if node is not copied:
            replaced.add(id(old))
        new[id(old)] = node
    result = rb.result(new, effects)
    return result, _changes(program, result, new, replaced, rb.retokened)


def _changes(program: Program, result: Program, new: dict, replaced: set,
             retokened: int) -> Changes:
    reachable = {id(n) for n in result.topo()}
    kept = [id(node) for old_id, node in new.items()
            if old_id not in replaced and id(node) in reachable]
    distinct = len(set(kept))
    return Changes(removed=len(program.topo()) - len(kept), added=len(reachable) - distinct,
                   merged=len(kept) - distinct, retokened=retokened)


def _replaced(old: Node, node: Node, rb: Rebuilder, replace: Replace) -> Node:
    try:
        out = replace(node, rb)
    except RewriteError:
        raise
    except Exception as e:  # any failure of a pass's rule names the node it worked on
        raise RewriteError(old, e) from e
    if out is None or out is node:
        return node
    if not isinstance(out, Node) or out.type != node.type:
        got = out.type if isinstance(out, Node) else repr(out)
        raise RewriteError(old, TypeError(f"the replacement has type {got}, the node has "
                                          f"type {node.type}"))
    copy_provenance(node, out)
    return out


def _add(a: Changes, b: Changes) -> Changes:
    return Changes(a.removed + b.removed, a.added + b.added, a.merged + b.merged,
                   a.retokened + b.retokened)


def _pair(a, b) -> frozenset:
    return frozenset((a, b))


def _binds_symbols(table: D.SymbolTable, inputs, attrs: dict) -> bool:
    """Whether inference unified a symbol of the inputs or attrs with something else."""
    dims = [d for i in inputs for d in (i.type.shape or ())]
    dims += [d for v in attrs.values() if isinstance(v, tuple) for d in v]
    syms = {s for d in dims if isinstance(d, D.DimExpr) for s in d.symbols()}
    return any(table.find(s) != s for s in syms)
