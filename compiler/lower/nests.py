"""Kernel loop nests for the kernel kinds of the fusion plan (passes/fusion.py): pointwise
loops, row kernels (per-row reductions then the root), reductions over other axes,
argmax/argmin, matmul with an epilogue, scatter_add and shape (conv's nests, with their
epilogue, are in compiler/lower/conv_nests.py). The matmul nests' tiles
come from the target's schedule (compiler/lower/schedule.py `MatmulTiles`,
`b.low.schedule.matmul`); nothing here depends on the machine otherwise.

A reduction into a local is an `Accumulator` (declared at its combine op's identity)
and `Accumulate` statements, so a backend reads the combine op and identity.

Accumulations inside reductions and matmul are marked `fast` (reassociation and FMA
allowed, as DESIGN.md's numerics contract permits there) so LLVM can vectorize them with
partial sums; everything elementwise stays exact-order IEEE.
"""

from __future__ import annotations

import dataclasses
import itertools

from ..ir import dims as D
from ..ir import dtypes as T
from ..ops.reduce import identity_of, normalize_axes
from . import kir as K
from .conv_nests import conv_root, lower_conv
from .lower import (
    COMBINE,
    EXPR_RULE_NAMES,
    _checked_index,
    accumulator,
    compute_dtype,
    input_index_of_output,
)


def _pointwise_root(b, node, out):
    def body(idx):
        stmts = []
        value = b.expr(node, idx, stmts)
        stmts.append(b.store(out, idx, node.shape, value))
        return stmts
    return b.parallel_loops(node.shape, body)


def _column_reduce(b, node, out, axes, combine, init):
    """Reduction over the leading axes: the output row is the accumulator, updated once
    per reduced index with a contiguous (vectorizable) inner loop over the kept axes."""
    x = node.inputs[0]
    dt = compute_dtype(node.dtype)
    kept = list(x.shape[len(axes):])
    lead = [0] * len(axes) if node.attr["keepdims"] else []
    zero = b.loops(kept, lambda o: [b.store(out, lead + o, node.shape, init)])

    def step(ridx):
        def inner(o):
            st = []
            cur = K.Load(b.use(out), b.linear(lead + o, node.shape), out.dtype)
            v = b.expr(x, list(ridx) + list(o), st)
            st.append(b.store(out, lead + o, node.shape, K.Binary(combine, cur, v, dt, True)))
            return st
        return list(b.loops(kept, inner, "j"))
    return zero + b.loops([x.shape[k] for k in axes], step, "r")


def _reduce_root(b, node, out):
    x = node.inputs[0]
    axes = normalize_axes(node.attr["axes"], len(x.shape))
    keep = node.attr["keepdims"]
    dt = compute_dtype(node.dtype)
    if axes and axes == tuple(range(len(axes))) and len(axes) < len(x.shape) and \
            node.dtype in (T.float32, T.float64, T.int32, T.int64):
        return _column_reduce(b, node, out, axes, COMBINE[node.op],
                              K.FConst(identity_of(node.op, dt.np).item(), dt))
    combine = COMBINE[node.op]

    def body(oidx):
        acc = b.fresh("acc")
        full = input_index_of_output(len(x.shape), axes, keep, oidx)

        def inner(ridx):
            sub = list(full)
            for k, r in zip(axes, ridx):
                sub[k] = r
            stmts = []
            v = b.expr(x, sub, stmts)
            stmts.append(K.Accumulate(acc, combine, v))
            return stmts
        rshape = [x.shape[k] for k in axes]
        return [accumulator(acc, node.op, dt), *b.loops(rshape, inner, "r"),
                b.store(out, oidx, node.shape, K.Var(acc, dt))]
    return b.parallel_loops(node.shape, body, D.product(x.shape[k] for k in axes))


def _arg_root(b, node, out):
    x = node.inputs[0]
    axis = node.attr["axis"] % len(x.shape)
    xt = compute_dtype(x.dtype)
    better = "greater" if node.op == "argmax" else "less"
    start = identity_of("reduce_max" if node.op == "argmax" else "reduce_min", xt.np).item()

    def body(oidx):
        best, bi = b.fresh("best"), b.fresh("bi")

        def inner(ridx):
            sub = list(oidx[:axis]) + [ridx[0]] + list(oidx[axis:])
            stmts = []
            v = b.expr(x, sub, stmts)
            cond = K.Binary(better, v, K.Var(best, xt), T.bool_)
            if xt.is_float:
                v_nan = K.Binary("not_equal", v, v, T.bool_)
                best_ok = K.Binary("equal", K.Var(best, xt), K.Var(best, xt), T.bool_)
                cond = K.Binary("logical_or", cond,
                                K.Binary("logical_and", v_nan, best_ok, T.bool_), T.bool_)
            stmts.append(K.If(cond, (K.Set(best, v), K.Set(bi, ridx[0]))))
            return stmts
        return [K.Let(best, K.FConst(start, xt)), K.Let(bi, K.IConst(0)),
                *b.loops([x.shape[axis]], inner, "r"),
                b.store(out, oidx, node.shape, K.Cast(K.Var(bi), node.dtype))]
    return b.parallel_loops(node.shape, body, x.shape[axis])




def matmul_operand(b, node, x, bidx, r, c, stmts, trans):
    """Value of matmul operand `x` (A or B of `node`) at batch index `bidx`, row r and
    column c of the matrix the product uses (x's own [c, r] when `trans`); batch dims
    broadcast."""
    sub = b.bcast_idx(bidx, x.shape[:-2], node.shape[:-2]) + ([c, r] if trans else [r, c])
    return b.expr(x, sub, stmts)


def _matmul_root(b, node, out, epilogue=None):
    """C = A @ B (batch dims broadcast), accumulated into `out` row by row (i, k, j order,
    so the inner loop runs along contiguous rows of B and out); with an `epilogue` root,
    each finished row is then rewritten in place as epilogue(row), where the matmul's
    value is read back from `out`."""
    A, B = node.inputs
    ta, tb = node.attr["transpose_a"], node.attr["transpose_b"]
    nb = len(node.shape) - 2
    kdim = A.shape[-2] if ta else A.shape[-1]
    dt = compute_dtype(node.dtype)
    mt = b.low.schedule.matmul  # the target's tiles

    def operand(x, bidx, r, c, stmts, trans):
        return matmul_operand(b, node, x, bidx, r, c, stmts, trans)

    def per_rows(bidx, rows):
        """Output rows `rows` (index expressions) of one batch: each row of B that is
        loaded is used for every one of these rows."""
        def zero(jj):
            return [b.store(out, bidx + [i, jj[0]], node.shape, K.FConst(0, dt))
                    for i in rows]

        def per_ks(ks):
            # one pass over the output rows for the rows ks of B: each output element is
            # loaded and stored once per len(ks) multiply-adds (same summation order as one
            # k at a time)
            stmts = []
            avs = {}
            for i in rows:
                for kv in ks:
                    a = b.fresh("a")
                    stmts.append(K.Let(a, operand(A, bidx, i, kv, stmts, ta)))
                    avs[i, kv] = K.Var(a, dt)

            def per_j(jj):
                st = []
                bvs = [operand(B, bidx, kv, jj[0], st, tb) for kv in ks]
                for i in rows:
                    o_idx = b.linear(bidx + [i, jj[0]], node.shape)
                    acc = K.Load(b.use(out), o_idx, out.dtype)
                    for kv, bv in zip(ks, bvs):
                        acc = K.Binary("add", acc, K.Binary("mul", avs[i, kv], bv, dt, True),
                                       dt, True)
                    st.append(K.Store(b.use(out, True), o_idx, acc))
                return st
            return stmts + list(b.loops([node.shape[-1]], per_j, "j"))

        if isinstance(kdim, int) and kdim >= 2 * mt.k_unroll:
            whole, rest = divmod(kdim, mt.k_unroll)
            ks = list(b.loops([whole], lambda kk: per_ks(
                [K.iadd(K.imul(kk[0], mt.k_unroll), u) for u in range(mt.k_unroll)]), "k"))
            if rest:
                ks += b.loops([rest], lambda kk: per_ks(
                    [K.iadd(kk[0], whole * mt.k_unroll)]), "k")
        else:
            ks = list(b.loops([kdim], lambda kk: per_ks([kk[0]]), "k"))
        epi = [st for i in rows for st in apply_epilogue(bidx, i)]
        return [*b.loops([node.shape[-1]], zero, "j"), *ks, *epi]

    def per_row(bidx, i):
        return per_rows(bidx, [i])

    def apply_epilogue(bidx, i, j0=0, jext=None):
        if epilogue is None:
            return []

        def per_j(jj):
            st = []
            idx = bidx + [i, K.iadd(j0, jj[0])]
            st.append(b.store(out, idx, node.shape, b.expr(epilogue, idx, st)))
            return st
        return list(b.loops([node.shape[-1] if jext is None else jext], per_j, "j"))

    def per_rows_acc(bidx, rows):
        """Output rows `rows` as dot products over k, one accumulator per row: each
        element of B that is loaded serves every one of these rows."""
        def per_j(jj):
            accs = [b.fresh("acc") for _ in rows]

            def per_k(kk):
                st = []
                bv = operand(B, bidx, kk[0], jj[0], st, tb)
                for acc, i in zip(accs, rows):
                    av = operand(A, bidx, i, kk[0], st, ta)
                    st.append(K.Accumulate(acc, "add", K.Binary("mul", av, bv, dt)))
                return st
            return [*(K.Accumulator(acc, "add", K.FConst(0, dt)) for acc in accs),
                    *b.loops([kdim], per_k, "k"),
                    *(b.store(out, bidx + [i, jj[0]], node.shape, K.Var(acc, dt))
                      for acc, i in zip(accs, rows))]
        epi = [st for i in rows for st in apply_epilogue(bidx, i)]
        return list(b.loops([node.shape[-1]], per_j, "j")) + epi

    def per_row_acc(bidx, i):
        return per_rows_acc(bidx, [i])

    m_dim, n_dim = node.shape[-2], node.shape[-1]
    # the packed nest: a static column count, a reduction over a symbolic extent (the
    # batch, in a weight gradient) or a large enough static one
    if (node.dtype is not T.float16 and len(B.shape) == 2 and isinstance(n_dim, int)
            and n_dim >= mt.j_vec and not (isinstance(m_dim, int) and m_dim < 2 * mt.m_block)
            and (not isinstance(kdim, int) or (kdim >= 2 * mt.k_unroll
                                               and n_dim * kdim >= mt.pack_min))):
        return _matmul_tiles(b, node, nb, kdim, operand, apply_epilogue, out, dt)
    # few columns (the logits of a classifier, their weight gradient): the same nest on
    # the transposed product C^T = B^T A^T, whose columns are C's many rows
    if (node.dtype is not T.float16 and nb == 0 and len(A.shape) == 2 and len(B.shape) == 2
            and isinstance(m_dim, int) and m_dim >= mt.j_vec and n_dim >= 2 * mt.m_block
            and (not isinstance(kdim, int) or (kdim >= 2 * mt.k_unroll
                                               and m_dim * kdim >= mt.pack_min))):
        return _matmul_tiles(b, node, nb, kdim, operand, apply_epilogue, out, dt,
                             swapped=True)

    # transpose_b: rows of A and B both run along k, so a dot product per output element
    # (a vectorized reduction over k) beats the i-k-j order, which would stride through B
    row = per_row_acc if node.dtype is T.float16 or tb else per_row
    m_dim = node.shape[-2]
    block_rows = per_rows_acc if tb else per_rows
    if node.dtype is T.float16 or mt.m_block == 1 or (isinstance(m_dim, int)
                                                   and m_dim < 2 * mt.m_block):
        def body(idx):
            return row(list(idx[:nb]), idx[nb])
        return b.parallel_loops(node.shape[:-1], body, D.mul(node.shape[-1], kdim))

    # i-k-j over blocks of m_block rows of A (a register block: each vector of a row of B
    # that is loaded serves m_block output rows); the last block may be partial
    def block_body(idx):
        bidx = list(idx[:nb])
        i0 = K.imul(idx[nb], mt.m_block)
        m = b.dim(m_dim)
        full = K.Binary("less_equal", K.iadd(i0, mt.m_block), m, T.bool_)
        rest = K.iadd(m, K.imul(i0, -1))
        r = b.fresh("r")
        tail = (K.Loop(r, rest, tuple(row(bidx, K.iadd(i0, K.Var(r))))),)
        block = [K.iadd(i0, u) for u in range(mt.m_block)]
        return [K.If(full, tuple(block_rows(bidx, block)), tail)]
    blocks = D.floordiv(D.add(m_dim, mt.m_block - 1), mt.m_block)
    return b.parallel_loops(list(node.shape[:-2]) + [blocks], block_body,
                            D.mul(D.mul(node.shape[-1], kdim), mt.m_block))


def _matmul_tiles(b, node, nb, kdim, operand, apply_epilogue, out, dt, swapped=False):
    """The large-matmul nest (B without batch dims, a static N). With `swapped`, the nest
    computes C^T = B^T A^T instead (the roles of A and B, and of C's rows and columns,
    exchanged below through `left`, `right` and `put`), for a C with few columns and
    many static rows.

    The tiles are the target's (`MatmulTiles` of the schedule: m_tile, n_tile, j_vec,
    micro_rows). A kernel that runs first packs B (or B^T) into panels of j_vec columns,
    `packed[p, k, w] = B[k, p * j_vec + w]`, so that the micro-kernel reads one
    contiguous stream per panel whatever B's layout (transposed, sliced, strided rows).
    The matmul kernel then runs parallel tasks over (batch, m_tile rows, n_tile columns);
    a task walks its tile in register tiles of micro_rows rows x j_vec columns whose
    micro_rows * j_vec accumulators are locals that live in vector registers over the
    whole k loop (each step loads j_vec contiguous packed elements and micro_rows
    elements of A; the loop is marked scalar, so LLVM's SLP vectorizer packs the lanes).
    The output is written once per element, and a panel (K x j_vec) is reused from L2 by
    every row block of the task. Rows and columns that do not fill a register tile take
    one row/column at a time (columns past the last whole panel read B directly). The
    epilogue runs on the finished tile."""
    A, B = node.inputs
    ta, tb = node.attr["transpose_a"], node.attr["transpose_b"]
    m, n = node.shape[-2], node.shape[-1]
    mt = b.low.schedule.matmul  # the target's tiles
    if swapped:  # the product's rows are C's columns and vice versa
        m, n = n, m

        def left(bidx, i, k, st):      # C^T's left factor B^T
            return operand(B, bidx, k, i, st, tb)

        def right(bidx, k, j, st):     # C^T's right factor A^T
            return operand(A, bidx, j, k, st, ta)

        def put(bidx, i, j, value):
            return b.store(out, bidx + [j, i], node.shape, value)
        R, r_trans, r_key = A, not ta, (id(A), "swapped", ta)
    else:
        def left(bidx, i, k, st):
            return operand(A, bidx, i, k, st, ta)

        def right(bidx, k, j, st):
            return operand(B, bidx, k, j, st, tb)

        def put(bidx, i, j, value):
            return b.store(out, bidx + [i, j], node.shape, value)
        R, r_trans, r_key = B, tb, (id(B), tb)
    n_cols = -(-n // mt.n_tile)
    n_rows = D.floordiv(D.add(m, mt.m_tile - 1), mt.m_tile)
    panels = n // mt.j_vec
    pshape = (panels, kdim, mt.j_vec)
    # one packed copy of the right factor per program: an unrolled loop's steps that
    # multiply by the same weights share it (its value cannot change within a run: IR
    # nodes are values, and a variable updated in place is read by no later kernel)
    packed = b.low.packed.get(r_key)
    if packed is None:
        packed = b.low.packed[r_key] = b.low.add_temp(
            R.dtype, pshape, f"{R.describe()} packed in {mt.j_vec}-column panels for "
                             f"{node.describe()}")
        pb = type(b)(b.low, node, "")

        def pack(idx):
            st = []
            k, j = idx[1], K.iadd(K.imul(idx[0], mt.j_vec), idx[2])
            st.append(pb.store(packed, idx, pshape,
                               pb.expr(R, [j, k] if r_trans else [k, j], st)))
            return st
        b.before.append((pb, pb.parallel_loops(list(pshape), pack), "pack"))

    def micro(bidx, rows, j0, width, panel=None, last=None):
        """rows x width register tile at rows `rows`, columns j0..; with `last` (the last
        valid row), rows past it read row `last` and store nothing (a partial block).
        Every operand is loaded once into a local, so the tile's statements stay small."""
        accs = [[b.fresh("acc") for _ in range(width)] for _ in rows]
        head = []

        def local(value, into, prefix):
            name = b.fresh(prefix)
            into.append(K.Let(name, value))
            return K.Var(name, value.dtype)
        reads = rows if last is None else [
            local(K.Binary("imin", i, last, T.int64), head, "row") for i in rows]

        def per_k(kk):
            st = []
            k = kk[0]
            avs = [local(left(bidx, i, k, st), st, "a") for i in reads]
            if panel is None:
                bvs = [local(right(bidx, k, K.iadd(j0, w), st), st, "b")
                       for w in range(width)]
            else:
                base = local(b.linear([panel, k, 0], pshape), st, "pk")
                bvs = [local(K.Load(b.use(packed), K.iadd(base, w), packed.dtype), st, "b")
                       for w in range(width)]
            for r, av in enumerate(avs):
                for w, bv in enumerate(bvs):
                    st.append(K.Accumulate(accs[r][w], "add",
                                           K.Binary("mul", av, bv, dt, True)))
            return st
        init = [K.Accumulator(a, "add", K.FConst(0, dt)) for row in accs for a in row]
        kloop = [dataclasses.replace(lp, vectorize=False) for lp in b.loops([kdim], per_k, "k")]
        fini = []
        for r, i in enumerate(rows):
            if swapped or width == 1:
                row = [put(bidx, i, K.iadd(j0, w), K.Var(accs[r][w], dt))
                       for w in range(width)]
            else:  # the row's first index once, then consecutive stores
                base = local(b.linear(bidx + [i, j0], node.shape), fini, "o")
                row = [K.Store(b.use(out, True), K.iadd(base, w), K.Var(accs[r][w], dt))
                       for w in range(width)]
            fini += row if last is None or r == 0 else [
                K.If(K.Binary("less_equal", i, last, T.bool_), tuple(row))]
        return [*head, *init, *kloop, *fini]

    def tile(idx):
        bidx = list(idx[:nb])
        r0 = K.imul(K.idiv(idx[nb], n_cols), mt.m_tile)
        j0 = K.imul(K.imod(idx[nb], n_cols), mt.n_tile)
        left = K.iadd(b.dim(m), K.imul(r0, -1))
        rext = K.Binary("imin", K.IConst(mt.m_tile), left, T.int64)
        if n % mt.n_tile == 0 or n <= mt.n_tile:
            jext = min(n, mt.n_tile)
            jvecs, jrest = K.IConst(jext // mt.j_vec), K.IConst(jext % mt.j_vec)
        else:
            jext = K.Binary("imin", K.IConst(mt.n_tile), K.iadd(K.IConst(n), K.imul(j0, -1)),
                            T.int64)
            jvecs = K.idiv(jext, mt.j_vec)
            jrest = K.iadd(jext, K.imul(jvecs, -mt.j_vec))
        blocks = K.idiv(K.iadd(rext, mt.micro_rows - 1), mt.micro_rows)
        last = K.iadd(K.iadd(r0, rext), -1)

        def rows_of_block(bb):
            i0 = K.iadd(r0, K.imul(bb, mt.micro_rows))
            return [K.iadd(i0, u) for u in range(mt.micro_rows)]

        def col_vec(jv):
            return K.iadd(j0, K.imul(jv, mt.j_vec))

        def panel(jv):
            return K.iadd(K.imul(K.imod(idx[nb], n_cols), mt.n_tile // mt.j_vec), jv)

        def rest_col(jr):
            return K.iadd(j0, K.iadd(K.imul(jvecs, mt.j_vec), jr))

        # whole register tiles; the last block of rows may be partial (rows past the
        # tile's end recompute its last row and are not stored)
        stmts = list(b.loops([jvecs], lambda jv: b.loops(
            [blocks], lambda bb: micro(bidx, rows_of_block(bb[0]), col_vec(jv[0]), mt.j_vec,
                                       panel(jv[0]), last), "ib"), "jv"))
        stmts += b.loops([jrest], lambda jr: list(b.loops(
            [rext], lambda rr: micro(bidx, [K.iadd(r0, rr[0])], rest_col(jr[0]), 1), "ir")),
            "jr")
        if swapped:  # C's rows j0.. (the tile's columns), its columns r0..
            stmts += b.loops([jext], lambda cc: apply_epilogue(bidx, K.iadd(j0, cc[0]), r0,
                                                               rext), "r")
        else:
            stmts += b.loops([rext], lambda rr: apply_epilogue(bidx, K.iadd(r0, rr[0]), j0,
                                                               jext), "r")
        return stmts
    return b.parallel_loops(list(node.shape[:-2]) + [D.mul(n_rows, n_cols)], tile,
                            D.mul(mt.m_tile * min(n, mt.n_tile), kdim))


def _scatter_root(b, node, out):
    upd, indices = node.inputs
    axis, ri = node.attr["axis"], len(indices.shape)
    dt = compute_dtype(node.dtype)
    zero = b.loops(node.shape, lambda idx: [b.store(out, idx, node.shape, K.FConst(0, dt))])

    def body(u):
        stmts = []
        t = _checked_index(b, node, indices, u[axis:axis + ri], node.shape[axis], stmts,
                           "scatter_add")
        o_idx = list(u[:axis]) + [t] + list(u[axis + ri:])
        cur = _self_load(b, out, o_idx, node.shape)
        stmts.append(b.store(out, o_idx, node.shape,
                             K.Binary("add", cur, b.expr(upd, u, stmts), dt)))
        return stmts
    return zero + b.loops(upd.shape, body)


def _dynamic_update_root(b, node, out):
    """out = buf, then out[index] = update: the index is checked first (a fault leaves
    the kernel before any store), then a copy loop and a loop over the update's row. When
    `out` is buf's own buffer (a loop variable written in place, lower/program.py
    `_in_place_results`) there is nothing to copy."""
    buf, upd, index = node.inputs
    stmts = []
    t = _checked_index(b, node, index, [], node.shape[0], stmts, "dynamic_update_slice")

    def copy(idx):
        st = []
        st.append(b.store(out, idx, node.shape, b.expr(buf, idx, st)))
        return st
    if b.low.buffer_of.get(id(buf)) is not out:
        stmts.extend(b.loops(node.shape, copy))

    def row(u):
        st = []
        st.append(b.store(out, [t] + list(u), node.shape, b.expr(upd, u, st)))
        return st
    stmts.extend(b.loops(upd.shape, row))
    return stmts


#: fold unrolls windows of at most this many offsets
_UNROLL_WINDOW = 32


def _fold_root(b, node, out):
    """Output-stationary: out[n, p, c] accumulates y[n, o, k, c] over the window offsets
    k (row-major, the reference's order) whose o = (p + lo - k * dilation) / stride is a
    whole number in [0, O); no atomics, no scatter, each y element read once."""
    y, a = node.inputs[0], node.attr
    nsp = len(a["window"])
    dt = compute_dtype(node.dtype)

    def body(idx):
        stmts, acc = [], b.fresh("acc")
        stmts.append(K.Accumulator(acc, "add", K.FConst(0, dt)))

        def per_k(kidx):
            conds, o_idx = [], []
            for i in range(nsp):
                lo, st, d = a["padding"][i][0], a["strides"][i], a["rhs_dilation"][i]
                q = K.Binary("sub", K.iadd(idx[1 + i], K.IConst(lo)),
                             K.imul(kidx[i], K.IConst(d)), T.int64)
                conds.append(K.Binary("greater_equal", q, K.IConst(0), T.bool_))
                if st > 1:
                    conds.append(K.Binary("equal", K.imod(q, K.IConst(st)), K.IConst(0),
                                          T.bool_))
                    q = K.idiv(q, K.IConst(st))
                conds.append(K.Binary("less", q, K.IConst(y.shape[1 + i]), T.bool_))
                o_idx.append(q)
            cond = conds[0]
            for c in conds[1:]:
                cond = K.Binary("logical_and", cond, c, T.bool_)
            inner = []
            value = b.expr(y, [idx[0], *o_idx, *kidx, idx[-1]], inner)
            inner.append(K.Accumulate(acc, "add", value, fast=False))
            return [K.If(cond, tuple(inner))]
        if D.product(a["window"]) <= _UNROLL_WINDOW:
            # static offsets: the per-offset index arithmetic folds to constants, and a
            # fused producer that branches on the window axis (the pads of a max pool's
            # gradient) keeps one live branch per offset
            for k in itertools.product(*(range(w) for w in a["window"])):
                stmts.extend(per_k([K.IConst(i) for i in k]))
        else:
            stmts.extend(b.loops(list(a["window"]), per_k, "k"))
        stmts.append(b.store(out, idx, node.shape, K.Var(acc, dt)))
        return stmts
    return b.parallel_loops(node.shape, body, D.product(a["window"]))


def _self_load(b, out, idx, shape):
    val = K.Load(b.use(out), b.linear(idx, shape), out.dtype)
    return K.Cast(val, T.float32) if out.dtype is T.float16 else val


def _shape_root(b, node, out):
    x = node.inputs[0]
    return tuple(K.Store(b.use(out, True), K.IConst(k), K.Cast(b.dim(d), node.dtype))
                 for k, d in enumerate(x.shape))


_ROOT_RULES = {
    "reduce_sum": _reduce_root, "reduce_prod": _reduce_root, "reduce_max": _reduce_root,
    "reduce_min": _reduce_root, "argmax": _arg_root, "argmin": _arg_root,
    "matmul": _matmul_root, "scatter_add": _scatter_root, "shape": _shape_root,
    "dynamic_update_slice": _dynamic_update_root, "conv": conv_root, "fold": _fold_root,
}

#: ops lowered by a root rule; every other op is lowered pointwise through `expr`
ROOT_RULES = frozenset(_ROOT_RULES)
EXPR_RULES = EXPR_RULE_NAMES




def _row_root(b, group, out):
    """Per row: each member reduction over the inner axes (an accumulator), then the root
    over the inner axes (stored), or the root reduction's value (stored)."""
    root, k = group.root, group.rows
    full = tuple(root.inputs[0].shape) if root.op in COMBINE else tuple(root.shape)
    rows, inner = full[:k], full[k:]

    cached = _cached_operand(group, full)

    def reduction(red, ridx, stmts):
        dt = compute_dtype(red.dtype)
        acc = b.fresh("acc")
        stmts.append(accumulator(acc, red.op, dt))

        def inner_body(iidx):
            st = []
            v = b.expr(red.inputs[0], ridx + iidx, st)
            if red.inputs[0] is cached:  # keep it in the output row for the last pass
                st.append(b.store(out, ridx + iidx, root.shape, v))
            st.append(K.Accumulate(acc, COMBINE[red.op], v))
            return st
        stmts.extend(b.loops(inner, inner_body, "r"))
        return K.Var(acc, dt)

    def body(ridx):
        stmts = []
        b.row_cache.pop(id(cached), None)
        for red in group.reductions:
            b.row_values[id(red)] = reduction(red, ridx, stmts)
        if cached is not None:
            b.row_cache[id(cached)] = out
        if root.op in COMBINE:
            value = reduction(root, ridx, stmts)
            keep = [K.IConst(0)] * len(inner) if root.attr["keepdims"] else []
            stmts.append(b.store(out, ridx + keep, root.shape, value))
            return stmts

        def inner_body(iidx):
            st = []
            st.append(b.store(out, ridx + iidx, root.shape, b.expr(root, ridx + iidx, st)))
            return st
        stmts.extend(b.loops(inner, inner_body, "j"))
        return stmts
    passes = len(group.reductions) + 1
    return b.parallel_loops(rows, body, D.mul(D.product(inner), passes))


def _cached_operand(group, full):
    """The input of the row group's last reduction when the root also reads it directly
    (softmax's exp(x - max)): the reduction pass stores it in the output row and the last
    pass reads it back instead of computing it again. None when that does not apply."""
    root = group.root
    if root.op in COMBINE or not group.reductions:
        return None
    c = group.reductions[-1].inputs[0]
    if c.dtype != root.dtype or tuple(c.shape) != full or c is root or \
            c.op in ("constant", "placeholder", "variable") or not c.inputs:
        return None
    members = {id(m) for m in group.members}
    stack, seen = [root], set()
    while stack:
        n = stack.pop()
        for i in n.inputs:
            if i is c:
                return c
            if id(i) in members and id(i) not in seen and i.op not in COMBINE:
                seen.add(id(i))
                stack.append(i)
    return None


def lower_group(b, group, out):
    """Statements of the kernel for one fusion group."""
    if group.kind == "row":
        return _row_root(b, group, out)
    if group.kind == "matmul":
        epilogue = None if group.root is group.matmul else group.root
        b.matmul_value = (group.matmul, out)
        return _matmul_root(b, group.matmul, out, epilogue)
    if group.kind == "conv":
        return lower_conv(b, group.conv, out, None if group.root is group.conv else group.root)
    rule = _ROOT_RULES.get(group.root.op)
    return rule(b, group.root, out) if rule else _pointwise_root(b, group.root, out)
