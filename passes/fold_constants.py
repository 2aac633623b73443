"""Constant folding: `fold_constants(program) -> (program, changed)`.

A node is folded — replaced by a `constant` node holding its value — when its value is
known at compile time:
- its op's row is `foldable` (compiler/ops/table.py): not a source without a
  compile-time value (placeholder), not a constant itself, not stateful (variable,
  random_*, assign, assign_add are never folded);
- its type is static (no symbolic dims) and its dim attributes are plain ints;
- every input is a `constant` node — except `shape`, which folds whenever its input
  has a static type, whatever computes that input (`shape` of a symbolic or unknown-rank
  input never folds);
- the result has at most `FOLD_LIMIT` elements, or no more elements than its inputs
  together (so a huge constant never replaces a cheap broadcast of a scalar or an iota,
  while a reshape or a reduction of a big constant still folds).

The value comes from the op table's numpy reference (`compiler.ops.get(op).ref`, with dim
attributes evaluated as the interpreter does): the reference interpreter's semantics,
never a second implementation. A node whose reference raises (e.g. an out-of-range
gather index) is not folded, so the error still happens at run time, where the program
reports it; a reference result whose shape or dtype contradicts the node's type is an
error of the pass. The folded constant takes over the node's provenance. Nodes are visited in
topological order, so a chain of constant ops folds in one pass.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from compiler.interpret import eval_attr
from compiler.ir import dims as D
from compiler.ir.const import Const
from compiler.ir.nodes import Node, Program
from compiler.ops import get, shape_attr_names

from .rewrite import Rebuilder, rebuild

FOLD_LIMIT = 1024                                     # elements; see the module docstring


def fold_constants(program: Program) -> tuple:
    new, changes = rebuild(program, _fold)
    return (new if changes else program), changes


def _fold(node: Node, rb: Rebuilder) -> Optional[Node]:
    if not foldable(node):
        return None
    value = evaluate(node)
    if value is None:
        return None
    return rb.cache.make("constant", (), {"value": Const(value)}, node.type)


def foldable(node: Node) -> bool:
    """Whether `node` has a compile-time value that is worth computing now."""
    opdef = get(node.op)
    if not opdef.foldable or not node.type.is_static:
        return False
    if any(_has_symbols(v) for _, v in node.attrs):
        return False
    if node.op == "shape":
        return node.inputs[0].type.is_static
    if not all(i.op == "constant" for i in node.inputs):
        return False
    size = _elements(node.type.shape)
    return size <= FOLD_LIMIT or size <= sum(_elements(i.type.shape) for i in node.inputs)


def evaluate(node: Node) -> Optional[np.ndarray]:
    """The node's value from its op's reference, or None when the reference raises (an
    out-of-range gather index: the error is left for the run time to report)."""
    opdef = get(node.op)
    attrs = node.attr
    for k in shape_attr_names(opdef):
        if attrs[k] is not None:
            attrs[k] = eval_attr(attrs[k], {})
    arrays = [_value_of(i) for i in node.inputs]
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(opdef.ref(*arrays, **attrs))
    except Exception:  # the program meets this error when it runs, as it would unfolded
        return None
    want = tuple(node.type.shape)
    if out.shape != want or out.dtype != node.dtype.np:
        raise AssertionError(f"the reference of {node.op} returned {out.dtype}"
                             f"{list(out.shape)}; the node's type is {node.type}")
    return out


def _value_of(node: Node) -> np.ndarray:
    if node.op == "constant":
        return node.attr["value"].array
    # only `shape` reads a non-constant input, and only its (static) shape: a zero-strided
    # array of that shape stands for it without allocating it
    return np.broadcast_to(np.zeros((), node.dtype.np), tuple(node.type.shape))


def _elements(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _has_symbols(value) -> bool:
    if isinstance(value, D.DimExpr):
        return True
    return isinstance(value, tuple) and any(_has_symbols(v) for v in value)
