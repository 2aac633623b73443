"""Kernel loop nests for the kernel kinds of the fusion plan (passes/fusion.py): pointwise
loops, row kernels (per-row reductions then the root), reductions over other axes,
argmax/argmin, scatter_add, fold, dynamic_update_slice and shape, and the dispatch of a
group to its nest (`lower_group`). Matmul's nests, with their epilogue, are in
compiler/lower/matmul_nests.py, conv's in compiler/lower/conv_nests.py; nothing here
depends on the machine.

A reduction into a local is an `Accumulator` (declared at its combine op's identity)
and `Accumulate` statements, so a backend reads the combine op and identity.

Accumulations inside reductions and matmul are marked `fast` (reassociation and FMA
allowed, as DESIGN.md's numerics contract permits there) so LLVM can vectorize them with
partial sums; everything elementwise stays exact-order IEEE.
"""

from __future__ import annotations

import itertools

from ..ir import dims as D
from ..ir import dtypes as T
from ..ops.reduce import identity_of, normalize_axes
from . import kir as K
from .concat_nests import concat_root
from .conv_nests import conv_root, lower_conv
from .lower import (
    COMBINE,
    EXPR_RULE_NAMES,
    _checked_index,
    accumulator,
    compute_dtype,
    input_index_of_output,
)
from .matmul_nests import matmul_root


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
    "matmul": matmul_root, "scatter_add": _scatter_root, "shape": _shape_root,
    "dynamic_update_slice": _dynamic_update_root, "conv": conv_root, "fold": _fold_root,
    "concat": concat_root,
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
        return matmul_root(b, group.matmul, out, epilogue)
    if group.kind == "conv":
        return lower_conv(b, group.conv, out, None if group.root is group.conv else group.root)
    rule = _ROOT_RULES.get(group.root.op)
    return rule(b, group.root, out) if rule else _pointwise_root(b, group.root, out)
