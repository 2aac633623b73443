"""The matmul kernel nests: C = A @ B with broadcast batch dims and an optional elementwise
epilogue on each finished row or tile (the `matmul` kind of the fusion plan).

Two forms: the plain nests (i-k-j over register blocks of rows, or a dot product per
output element when B is transposed or the dtype is float16) and the packed nest
(`_matmul_tiles`: B packed once into panels, register tiles of micro_rows x j_vec
accumulators, parallel tasks over tiles), chosen by the shapes. The tiles come from the
target's schedule (compiler/lower/schedule.py `MatmulTiles`, `b.low.schedule.matmul`);
nothing here depends on the machine otherwise. The multiply-adds are marked `fast`
(reassociation and FMA allowed, DESIGN.md's numerics); the epilogue stays exact-order.
`matmul_operand` is shared with the CUDA schedule's own nest (backends/cuda/nests.py).
"""

from __future__ import annotations

import dataclasses

from ..ir import dims as D
from ..ir import dtypes as T
from . import kir as K
from .lower import compute_dtype


def matmul_operand(b, node, x, bidx, r, c, stmts, trans):
    """Value of matmul operand `x` (A or B of `node`) at batch index `bidx`, row r and
    column c of the matrix the product uses (x's own [c, r] when `trans`); batch dims
    broadcast."""
    sub = b.bcast_idx(bidx, x.shape[:-2], node.shape[:-2]) + ([c, r] if trans else [r, c])
    return b.expr(x, sub, stmts)


def matmul_root(b, node, out, epilogue=None):
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
    # the transposed product C^T = B^T A^T, whose columns are C's many rows (static, or
    # symbolic: the batch)
    if (node.dtype is not T.float16 and nb == 0 and len(A.shape) == 2 and len(B.shape) == 2
            and isinstance(n_dim, int) and n_dim >= 2 * mt.m_block
            and (not isinstance(m_dim, int) or m_dim >= mt.j_vec)
            and (not isinstance(kdim, int) or kdim >= 2 * mt.k_unroll)
            and not (isinstance(m_dim, int) and isinstance(kdim, int)
                     and m_dim * kdim < mt.pack_min)):
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
    contiguous stream per panel whatever B's layout (transposed, sliced, strided rows);
    with A transposed, a second one packs A^T's whole blocks of rows the same way.
    The matmul kernel then runs parallel tasks over (batch, m_tile rows, n_tile columns);
    a task walks its tile in register tiles of micro_rows rows x j_vec columns whose
    micro_rows * j_vec accumulators are locals that live in vector registers over the
    whole k loop (each step loads j_vec contiguous packed elements and micro_rows
    elements of A; the loop is marked scalar, so LLVM's SLP vectorizer packs the lanes).
    The output is written once per element, and a panel (K x j_vec) is reused from L2 by
    every row block of the task. Rows that do not fill a register tile take one row of
    j_vec columns at a time, columns past the last whole panel one column at a time
    (reading B directly). The epilogue runs on the finished tile.

    The statements do not depend on M, N or K (only on the dtype, the transposes, the
    epilogue, the batch dims and the target's tiles): a task computes its extents, whole
    register tiles and remainders at run time from the sizes, which appear as integer
    constants (or symbols), and the remainder loops are always present (they run zero
    times when nothing remains). So two matmuls of one kind and different sizes lower to
    the same statements with different constants (tests/test_matmul_generic.py), which
    compiler/lower/program.py can share as one kernel. Whether a matmul takes this nest
    at all depends on its sizes (`matmul_root`: small ones take the plain nests)."""
    A, B = node.inputs
    ta, tb = node.attr["transpose_a"], node.attr["transpose_b"]
    m, n = node.shape[-2], node.shape[-1]
    mt = b.low.schedule.matmul  # the target's tiles
    b.wide_vectors = True
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
    # the product's column count is static, except for the transposed product, whose
    # columns are C's rows (the batch)
    n_cols = D.floordiv(D.add(n, mt.n_tile - 1), mt.n_tile)
    # the tile's micro_rows are for float32: a row of j_vec float64 is twice the vectors,
    # so half the rows keep the accumulators in registers (8 x 32 float64 would need all
    # 32 zmm and spill: 36 GFLOP/s where 4 x 32 gives 59, numpy 61)
    micro_rows = max(1, mt.micro_rows * 4 // max(4, dt.itemsize))
    n_rows = D.floordiv(D.add(m, mt.m_tile - 1), mt.m_tile)
    panels = D.floordiv(n, mt.j_vec)
    pshape = (panels, kdim, mt.j_vec)
    # one packed copy of the right factor per program: an unrolled loop's steps that
    # multiply by the same weights share it (its value cannot change within a run: IR
    # nodes are values, and a variable updated in place is read by no later kernel)
    def pack(pb, packed, idx):
        st = []
        k, j = idx[1], K.iadd(K.imul(idx[0], mt.j_vec), idx[2])
        st.append(pb.store(packed, idx, pshape, pb.expr(R, [j, k] if r_trans else [k, j], st)))
        return st
    packed = b.pack_kernel(node, r_key, R.dtype, pshape,
                           f"{R.describe()} packed in {mt.j_vec}-column panels for "
                           f"{node.describe()}", pack, wide_vectors=True)

    # A^T (A stored K x M, a weight gradient X^T @ dZ): each step of k reads micro_rows
    # consecutive elements of a row of A, half a cache line, and the next block of rows
    # the other half from L2 again; a copy of A in blocks of micro_rows rows, k-major
    # (`apacked[blk, k, u] = A[k, blk * micro_rows + u]`, a contiguous copy), gives every
    # block one contiguous stream (784x256 @ 256x512: 119-132 -> 162 GFLOP/s, 1 thread).
    # A copy of an untransposed A (strided reads) gained less than it cost.
    apacked = None
    if ta and not swapped and len(A.shape) == 2:
        ashape = (D.floordiv(m, micro_rows), kdim, micro_rows)
        apacked = b.low.add_temp(A.dtype, ashape, f"{A.describe()} packed in {micro_rows}-row "
                                                  f"blocks for {node.describe()}")
        pa = type(b)(b.low, node, "")

        def pack_left(idx):
            st = []
            i = K.iadd(K.imul(idx[0], micro_rows), idx[2])
            st.append(pa.store(apacked, idx, ashape, pa.expr(A, [idx[1], i], st)))
            return st
        # the row's micro_rows elements are contiguous in A and in the copy: the loop over
        # k stays scalar (vectorized across k it gathered A's strided rows: 107 us for
        # 784 x 256) and the unrolled row is one vector load and store
        (blk_loop,) = pa.parallel_loops(list(ashape), pack_left)
        (k_loop,) = blk_loop.body
        b.before.append((pa, (dataclasses.replace(
            blk_loop, body=(dataclasses.replace(k_loop, vectorize=False),)),), "pack"))

    def micro(bidx, rows, j0, width, panel=None, block=None):
        """rows x width register tile at rows `rows`, columns j0.. (packed `panel`, or B
        read directly when None; rows from the packed block `block` of A when given).
        Every operand is loaded once into a local, so the tile's statements stay small."""
        accs = [[b.fresh("acc") for _ in range(width)] for _ in rows]

        def per_k(kk):
            st = []
            k = kk[0]
            if block is None:
                avs = [b.local(left(bidx, i, k, st), st, "a") for i in rows]
            else:
                abase = b.local(b.linear([block, k, 0], ashape), st, "pa")
                avs = [b.local(K.Load(b.use(apacked), K.iadd(abase, u), apacked.dtype), st,
                               "a") for u in range(len(rows))]
            if panel is None:
                bvs = [b.local(right(bidx, k, K.iadd(j0, w), st), st, "b")
                       for w in range(width)]
            else:
                base = b.local(b.linear([panel, k, 0], pshape), st, "pk")
                bvs = [b.local(K.Load(b.use(packed), K.iadd(base, w), packed.dtype), st, "b")
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
                fini += [put(bidx, i, K.iadd(j0, w), K.Var(accs[r][w], dt))
                         for w in range(width)]
            else:  # the row's first index once, then consecutive stores
                base = b.local(b.linear(bidx + [i, j0], node.shape), fini, "o")
                fini += [K.Store(b.use(out, True), K.iadd(base, w), K.Var(accs[r][w], dt))
                         for w in range(width)]
        return [*init, *kloop, *fini]

    def tile(idx):
        """One task: the output tile at rows r0.., columns j0... Its extents are
        computed at run time from the sizes (integer constants of the statements, or
        symbols), so the statements' structure does not depend on M, N or K."""
        bidx = list(idx[:nb])
        head = []  # the task's extents, bound once
        cols = _size(n_cols) if isinstance(n_cols, int) else b.dim(n_cols)
        task_row, task_col = K.Binary("idiv", idx[nb], cols, T.int64), \
            K.Binary("imod", idx[nb], cols, T.int64)
        r0 = K.imul(task_row, mt.m_tile)
        j0 = K.imul(task_col, mt.n_tile)
        rext = b.local(K.imin(mt.m_tile, K.iadd(b.dim(m), K.imul(r0, -1))), head, "rext")
        n_size = _size(n) if isinstance(n, int) else b.dim(n)
        jext = b.local(K.imin(mt.n_tile, K.iadd(n_size, K.imul(j0, -1))), head, "jext")
        jvecs = b.local(K.idiv(jext, mt.j_vec), head, "jvecs")
        jrest = K.iadd(jext, K.imul(jvecs, -mt.j_vec))
        blocks = b.local(K.idiv(rext, micro_rows), head, "blocks")
        rrest = K.iadd(rext, K.imul(blocks, -micro_rows))

        def rows_of_block(bb):
            i0 = K.iadd(r0, K.imul(bb, micro_rows))
            return [K.iadd(i0, u) for u in range(micro_rows)]

        def row_block(bb):
            if apacked is None:
                return None
            return K.iadd(K.imul(task_row, mt.m_tile // micro_rows), bb)

        def col_vec(jv):
            return K.iadd(j0, K.imul(jv, mt.j_vec))

        def panel(jv):
            return K.iadd(K.imul(task_col, mt.n_tile // mt.j_vec), jv)

        def rest_row(rr):
            return K.iadd(r0, K.iadd(K.imul(blocks, micro_rows), rr))

        def rest_col(jr):
            return K.iadd(j0, K.iadd(K.imul(jvecs, mt.j_vec), jr))

        def panel_rows(jv):
            # whole register tiles, then the rows past the last whole block one at a time
            return [*b.loops([blocks], lambda bb: micro(
                        bidx, rows_of_block(bb[0]), col_vec(jv), mt.j_vec, panel(jv),
                        row_block(bb[0])), "ib"),
                    *b.loops([rrest], lambda rr: micro(
                        bidx, [rest_row(rr[0])], col_vec(jv), mt.j_vec, panel(jv)), "ir")]
        stmts = head + list(b.loops([jvecs], lambda jv: panel_rows(jv[0]), "jv"))
        # columns past the last whole panel read B directly, one at a time
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
                            D.mul(mt.m_tile * (min(n, mt.n_tile) if isinstance(n, int)
                                               else mt.n_tile), kdim))


def _size(n: int):
    """A static size as an index expression that index arithmetic does not fold
    (`K.iadd`/`K.imul` fold constants, so a size of 1 or a tile count of 1 would change
    the statements' structure): 0 + n, which LLVM folds."""
    return K.Binary("add", K.IConst(0), K.IConst(n), T.int64)

