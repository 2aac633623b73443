"""The CUDA backend's loop nest for matmul groups, in the shared kernel IR.

The CPU nest (compiler/lower/matmul_nests.py) accumulates rows of B into rows of the output
(i-k-j, register blocks of rows): right for a few threads with wide vectors, wrong for
tens of thousands of GPU threads. Here the parallel loop runs over every output element
(batch, i, j), each a dot product over k into one accumulator (marked `fast`: an FMA
chain), then the group's epilogue is applied to the accumulator and stored once. Operand
values and indexing come from the same `_Builder.expr` as every other kernel; every other
group kind uses the shared nests unchanged, but reductions that one block would run
(few rows, or a reduction over the leading axis) take the two-stage forms of
reduce_nests.py, and scatter_add and dynamic_update_slice the grids of index_nests.py.
`CUDA_SCHEDULE` hands this rule to lowering.
"""

from __future__ import annotations

from ...lower import kir as K
from ...lower import matmul_nests, nests
from ...lower.lower import compute_dtype
from ...lower.schedule import Schedule
from . import index_nests, reduce_nests

#: the CUDA nests of kernels that check an index (one thread in the shared nests)
INDEX_RULES = {"scatter_add": index_nests.scatter_add,
               "dynamic_update_slice": index_nests.dynamic_update}


def lower_group(b, group, out):
    if group.kind in ("row", "reduce"):
        rule = reduce_nests.row_reduce if group.kind == "row" else reduce_nests.column_reduce
        body = rule(b, group, out)
        return nests.lower_group(b, group, out) if body is None else body
    if group.kind == "single" and group.root.op in INDEX_RULES:
        body = INDEX_RULES[group.root.op](b, group, out)
        return nests.lower_group(b, group, out) if body is None else body
    if group.kind != "matmul":
        return nests.lower_group(b, group, out)
    return _matmul_dot(b, group.matmul, None if group.root is group.matmul else group.root,
                       out)


def _matmul_dot(b, node, epilogue, out):
    A, B = node.inputs
    ta, tb = node.attr["transpose_a"], node.attr["transpose_b"]
    nb = len(node.shape) - 2
    kdim = A.shape[-2] if ta else A.shape[-1]
    dt = compute_dtype(node.dtype)

    def operand(x, bidx, r, c, stmts, trans):
        return matmul_nests.matmul_operand(b, node, x, bidx, r, c, stmts, trans)

    def body(idx):
        bidx, i, j = list(idx[:nb]), idx[nb], idx[nb + 1]
        acc = b.fresh("acc")

        def per_k(kk):
            st = []
            av = operand(A, bidx, i, kk[0], st, ta)
            bv = operand(B, bidx, kk[0], j, st, tb)
            st.append(K.Accumulate(acc, "add", K.Binary("mul", av, bv, dt, True)))
            return st
        stmts = [K.Accumulator(acc, "add", K.FConst(0, dt)), *b.loops([kdim], per_k, "k")]
        value = b.epilogue_value(node, K.Var(acc, dt), epilogue, idx, stmts)
        stmts.append(b.store(out, idx, node.shape, value))
        return stmts
    return b.parallel_loops(node.shape, body, kdim)


#: the CUDA backend's lowering schedule: its own matmul nest; the CPU's matmul tiles are
#: not read (every matmul group is built here). A constant: the compile cache key has
#: the device and architecture already.
CUDA_SCHEDULE = Schedule("cuda", group_rule=lower_group)
