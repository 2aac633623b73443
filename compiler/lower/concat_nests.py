"""The nest of a kernel whose root is a concat: copies, one loop nest per input, instead
of one loop over the output that picks the input per element.

`concat_root(b, node, out)` (a root rule of compiler/lower/nests.py): for a concat along
axis a > 0 the kernel loops over the axes before a (the outermost one parallel) and,
inside, copies each input's block `out[.., off_k + i, ..] = x_k[.., i, ..]` with a loop
nest of its own, so the inner loops are plain contiguous copies (vectorizable) with no
per-element branch. Along axis 0 it loops (in parallel) over the output's rows and picks
the input once per row, then copies the row. A concat of many inputs — the merged
weight-gradient matmul of passes/matmul_sum.py reads one of T inputs — otherwise pays a
chain of up to T-1 compares and a branch for every element.

Inputs may be fused expressions (`b.expr` computes them); values are the same as the
per-element lowering's (compiler/lower/lower.py `_concat`), element for element.
"""

from __future__ import annotations

from ..ir import dims as D
from ..ir import dtypes as T
from . import kir as K


def concat_root(b, node, out):
    axis = node.attr["axis"]
    shape = node.shape
    offsets, start = [], 0
    for x in node.inputs:
        offsets.append(start)
        start = D.add(start, x.shape[axis])
    if axis == 0:
        return _by_rows(b, node, out, offsets)
    pieces = list(zip(node.inputs, offsets))

    def outer(prefix):
        return [s for x, off in pieces for s in _copy(b, node, out, x, off, prefix)]
    return b.parallel_loops(shape[:axis], outer, inner_work=D.product(shape[axis:]))


def _copy(b, node, out, x, offset, prefix):
    """Loops over x's axes from the concat axis on, storing x at `offset` along it."""
    axis = len(prefix)

    def body(rest):
        stmts = []
        value = b.expr(x, list(prefix) + list(rest), stmts)
        at = [K.iadd(rest[0], b.dim(offset))] + list(rest[1:])
        stmts.append(b.store(out, list(prefix) + at, node.shape, value))
        return stmts
    return b.loops(x.shape[axis:], body)


def _by_rows(b, node, out, offsets):
    """Concat along axis 0: a parallel loop over the output's rows; each row finds its
    input with one compare chain, then copies the row with a contiguous inner nest."""
    def row(idx):
        i = idx[0]
        chain = ()
        for k in reversed(range(len(node.inputs))):
            x, off = node.inputs[k], offsets[k]
            local = K.Binary("sub", i, b.dim(off), T.int64)
            copy = tuple(_row_copy(b, node, out, x, i, local))
            if k == len(node.inputs) - 1:
                chain = copy
            else:
                end = b.dim(D.add(off, x.shape[0]))
                chain = (K.If(K.Binary("less", i, end, T.bool_), copy, chain),)
        return list(chain)
    return b.parallel_loops(node.shape[:1], row, inner_work=D.product(node.shape[1:]))


def _row_copy(b, node, out, x, i, local):
    def body(rest):
        stmts = []
        value = b.expr(x, [local] + list(rest), stmts)
        stmts.append(b.store(out, [i] + list(rest), node.shape, value))
        return stmts
    return b.loops(x.shape[1:], body)
