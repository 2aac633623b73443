"""Kernel loop nests for the kernel kinds of the fusion plan (passes/fusion.py): pointwise
loops, row kernels (per-row reductions then the root), reductions over other axes,
argmax/argmin, matmul with an epilogue, scatter_add and shape.

Accumulations inside reductions and matmul are marked `fast` (reassociation and FMA
allowed, as DESIGN.md's numerics contract permits there) so LLVM can vectorize them with
partial sums; everything elementwise stays exact-order IEEE.
"""

from __future__ import annotations

from ..ir import dims as D
from ..ir import dtypes as T
from ..ops.reduce import identity_of, normalize_axes
from . import kir as K
from .lower import COMBINE, EXPR_RULE_NAMES, _checked_index, compute_dtype, input_index_of_output


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
    init = K.FConst(identity_of(node.op, dt.np).item(), dt)

    def body(oidx):
        acc = b.fresh("acc")
        full = input_index_of_output(len(x.shape), axes, keep, oidx)

        def inner(ridx):
            sub = list(full)
            for k, r in zip(axes, ridx):
                sub[k] = r
            stmts = []
            v = b.expr(x, sub, stmts)
            stmts.append(K.Set(acc, K.Binary(combine, K.Var(acc, dt), v, dt, True)))
            return stmts
        rshape = [x.shape[k] for k in axes]
        return [K.Let(acc, init), *b.loops(rshape, inner, "r"),
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


#: rows of B that one pass of the i-k-j matmul over an output row accumulates (static k)
K_UNROLL = 4
#: output rows that one pass of the i-k-j matmul computes together (register block)
M_BLOCK = 4


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

    def operand(x, bidx, r, c, stmts, trans):
        sub = b.bcast_idx(bidx, x.shape[:-2], node.shape[:-2]) + ([c, r] if trans else [r, c])
        return b.expr(x, sub, stmts)

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

        if isinstance(kdim, int) and kdim >= 2 * K_UNROLL:
            whole, rest = divmod(kdim, K_UNROLL)
            ks = list(b.loops([whole], lambda kk: per_ks(
                [K.iadd(K.imul(kk[0], K_UNROLL), u) for u in range(K_UNROLL)]), "k"))
            if rest:
                ks += b.loops([rest], lambda kk: per_ks(
                    [K.iadd(kk[0], whole * K_UNROLL)]), "k")
        else:
            ks = list(b.loops([kdim], lambda kk: per_ks([kk[0]]), "k"))
        epi = [st for i in rows for st in apply_epilogue(bidx, i)]
        return [*b.loops([node.shape[-1]], zero, "j"), *ks, *epi]

    def per_row(bidx, i):
        return per_rows(bidx, [i])

    def apply_epilogue(bidx, i):
        if epilogue is None:
            return []

        def per_j(jj):
            st = []
            idx = bidx + [i, jj[0]]
            st.append(b.store(out, idx, node.shape, b.expr(epilogue, idx, st)))
            return st
        return list(b.loops([node.shape[-1]], per_j, "j"))

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
                    st.append(K.Set(acc, K.Binary("add", K.Var(acc, dt),
                                                  K.Binary("mul", av, bv, dt), dt, True)))
                return st
            return [*(K.Let(acc, K.FConst(0, dt)) for acc in accs),
                    *b.loops([kdim], per_k, "k"),
                    *(b.store(out, bidx + [i, jj[0]], node.shape, K.Var(acc, dt))
                      for acc, i in zip(accs, rows))]
        epi = [st for i in rows for st in apply_epilogue(bidx, i)]
        return list(b.loops([node.shape[-1]], per_j, "j")) + epi

    def per_row_acc(bidx, i):
        return per_rows_acc(bidx, [i])

    # transpose_b: rows of A and B both run along k, so a dot product per output element
    # (a vectorized reduction over k) beats the i-k-j order, which would stride through B
    row = per_row_acc if node.dtype is T.float16 or tb else per_row
    m_dim = node.shape[-2]
    block_rows = per_rows_acc if tb else per_rows
    if node.dtype is T.float16 or M_BLOCK == 1 or (isinstance(m_dim, int)
                                                   and m_dim < 2 * M_BLOCK):
        def body(idx):
            return row(list(idx[:nb]), idx[nb])
        return b.parallel_loops(node.shape[:-1], body, D.mul(node.shape[-1], kdim))

    # i-k-j over blocks of M_BLOCK rows of A (a register block: each vector of a row of B
    # that is loaded serves M_BLOCK output rows); the last block may be partial
    def block_body(idx):
        bidx = list(idx[:nb])
        i0 = K.imul(idx[nb], M_BLOCK)
        m = b.dim(m_dim)
        full = K.Binary("less_equal", K.iadd(i0, M_BLOCK), m, T.bool_)
        rest = K.iadd(m, K.imul(i0, -1))
        r = b.fresh("r")
        tail = (K.Loop(r, rest, tuple(row(bidx, K.iadd(i0, K.Var(r))))),)
        return [K.If(full, tuple(block_rows(bidx, [K.iadd(i0, u) for u in range(M_BLOCK)])),
                     tail)]
    blocks = D.floordiv(D.add(m_dim, M_BLOCK - 1), M_BLOCK)
    return b.parallel_loops(list(node.shape[:-2]) + [blocks], block_body,
                            D.mul(D.mul(node.shape[-1], kdim), M_BLOCK))


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
        stmts.append(K.Let(acc, K.FConst(identity_of(red.op, dt.np).item(), dt)))

        def inner_body(iidx):
            st = []
            v = b.expr(red.inputs[0], ridx + iidx, st)
            if red.inputs[0] is cached:  # keep it in the output row for the last pass
                st.append(b.store(out, ridx + iidx, root.shape, v))
            st.append(K.Set(acc, K.Binary(COMBINE[red.op], K.Var(acc, dt), v, dt, True)))
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
    rule = _ROOT_RULES.get(group.root.op)
    return rule(b, group.root, out) if rule else _pointwise_root(b, group.root, out)
