"""The CUDA backend's nests for kernels that check an index: scatter_add and
dynamic_update_slice, in the shared kernel IR.

The shared nests (compiler/lower/nests.py) build them without a parallel loop, so the
GPU runs them on one thread. Here they are grids, their index checks kept (the CPU's
error text; a `Fail` records the first code and ends the thread):

- scatter_add: a zero fill of the output (kind `fill`, a `_Builder.before` kernel), then
  one thread per update adding it with `K.AtomicAdd` (atomics in any order: float sums
  reassociate, as a reduction may).
- dynamic_update_slice: the copy of `buf` (kind `fill`; none when the result is buf's
  own buffer; the shared nest when the result is a variable's buffer, which must not
  change before the check), then one thread per element of the update's row, each
  checking the index before its store. At least one thread runs, so an empty update
  still checks its index, as the CPU does.
"""

from __future__ import annotations

from ...ir import dims as D
from ...ir import dtypes as T
from ...lower import kir as K
from ...lower.lower import _checked_index

#: scatter_add dtypes with a CUDA atomicAdd (int64 through unsigned long long: two's
#: complement sums are the same bits)
ATOMIC_DTYPES = (T.float32, T.float64, T.int32, T.int64)


def scatter_add(b, group, out):
    """scatter_add as a zero fill (kind `fill`, a grid over the output) then a grid over
    the updates, each index checked (the CPU's error text: a bad index records its code
    and adds nothing) and its value added with `AtomicAdd`. None for float16 (no atomic
    without CUDA's headers) and other dtypes, which keep the shared one-thread nest."""
    node = group.root
    if node.dtype not in ATOMIC_DTYPES or not node.inputs[0].shape:
        return None
    upd, indices = node.inputs
    axis, ri = node.attr["axis"], len(indices.shape)
    pb = type(b)(b.low, node, "")
    zero = K.FConst(0, node.dtype)
    b.before.append((pb, pb.parallel_loops(
        list(node.shape), lambda idx: [pb.store(out, idx, node.shape, zero)]), "fill"))

    def body(u):
        stmts = []
        t = _checked_index(b, node, indices, u[axis:axis + ri], node.shape[axis], stmts,
                           "scatter_add")
        o_idx = list(u[:axis]) + [t] + list(u[axis + ri:])
        value = b.expr(upd, u, stmts)
        stmts.append(K.AtomicAdd(b.use(out, writes=True), b.linear(o_idx, node.shape), value))
        return stmts
    return b.parallel_loops(list(upd.shape), body)


def dynamic_update(b, group, out):
    """dynamic_update_slice as a copy kernel and a grid over the update's row."""
    node = group.root
    buf, upd, index = node.inputs
    if b.low.buffer_of.get(id(buf)) is not out:
        if out.kind != "temp":  # the copy would change a variable before the check
            return None
        pb = type(b)(b.low, node, "")

        def copy(idx):
            st = []
            st.append(pb.store(out, idx, node.shape, pb.expr(buf, idx, st)))
            return st
        b.before.append((pb, pb.parallel_loops(list(node.shape), copy), "fill"))
    n = D.product(upd.shape)
    lin = b.fresh("u")
    ext = K.imax(K.IConst(1), b.dim(n))

    def row(u):
        stmts = []
        t = _checked_index(b, node, index, [], node.shape[0], stmts, "dynamic_update_slice")
        st = []
        idx = b.delinearize(u, list(upd.shape))
        st.append(b.store(out, [t] + idx, node.shape, b.expr(upd, idx, st)))
        stmts.append(K.If(K.Binary("less", u, b.dim(n), T.bool_), tuple(st)))
        return stmts
    b.work = ext
    return (K.Loop(lin, ext, tuple(row(K.Var(lin))), True),)

