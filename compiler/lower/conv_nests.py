"""Kernel loop nests for `conv` (compiler/ops/conv.py) and its fused epilogue.

`lower_conv(b, conv, out, epilogue)` builds the statements of a conv group's kernel
(passes/fusion.py: kind `conv`, the conv plus an elementwise epilogue on its output).

The generic nest handles every attribute combination (1 to 3 spatial axes, strides,
padding including negative, lhs_dilation, rhs_dilation, a symbolic batch, float16/32/64):
a parallel loop over the output [N, *O, Co], one output element per iteration; for each
window offset k the input position of every spatial axis is computed once, and the
reduction over the input channels runs only where that position is a real element of x
(not a padding or lhs-dilation hole, which read as 0), so no load ever leaves x. The sum
is an `Accumulator` marked fast (reassociation and FMA allowed, as for matmul); the
epilogue, if any, is applied to the finished value before the one store (exact).
Operand values come from `_Builder.expr`, so fused movement ops (a transposed NCHW
input, a reshaped filter) are index arithmetic on the loads.
"""

from __future__ import annotations

from ..ir import dims as D
from ..ir import dtypes as T
from . import kir as K
from .lower import compute_dtype


def _and(conds):
    out = None
    for c in conds:
        out = c if out is None else K.Binary("logical_and", out, c, T.bool_)
    return out


def input_position(b, node, axis, o, k):
    """(index into x, [conditions for it to be a real element]) of spatial axis `axis`
    for output position `o` and window offset `k` (index expressions). Conditions that
    cannot fail for any o, k of this conv are left out."""
    x, w = node.inputs
    a = node.attr
    size, ksize = x.shape[1 + axis], w.shape[axis]
    osize = node.shape[1 + axis]
    s, (lo, _hi) = a["strides"][axis], a["padding"][axis]
    ld, rd = a["lhs_dilation"][axis], a["rhs_dilation"][axis]
    # p: the position in the dilated input xe (before padding: shifted by lo)
    p = K.iadd(K.iadd(K.imul(o, s), K.imul(k, rd)), -lo)
    p_min, p_max = -lo, (osize - 1) * s + (ksize - 1) * rd - lo
    conds = []
    if ld == 1:
        q = p
        if p_min < 0:
            conds.append(K.Binary("greater_equal", q, K.IConst(0), T.bool_))
        if p_max > size - 1:
            conds.append(K.Binary("less", q, K.IConst(size), T.bool_))
        return q, conds
    shift = -(p_min // ld) if p_min < 0 else 0   # p + shift * ld >= 0 for every p
    ps = K.iadd(p, shift * ld)
    conds.append(K.Binary("equal", K.imod(ps, ld), K.IConst(0), T.bool_))
    q = K.iadd(K.idiv(ps, ld), -shift)
    if p_min < 0:
        conds.append(K.Binary("greater_equal", q, K.IConst(0), T.bool_))
    if p_max > (size - 1) * ld:
        conds.append(K.Binary("less", q, K.IConst(size), T.bool_))
    return q, conds


def generic_conv(b, node, out, epilogue=None):
    """One output element per iteration of the parallel loop (see the module docstring)."""
    x, w = node.inputs
    nsp = len(node.shape) - 2
    window = list(w.shape[:nsp])
    ci = w.shape[-2]
    dt = compute_dtype(node.dtype)

    def body(idx):
        n, o, co = idx[0], idx[1:-1], idx[-1]
        acc = b.fresh("acc")

        def per_k(kk):
            st = []
            qs, conds = [], []
            for axis in range(nsp):
                q, c = input_position(b, node, axis, o[axis], kk[axis])
                qs.append(q)
                conds += c

            def per_c(cc):
                s2 = []
                xv = b.expr(x, [n, *qs, cc[0]], s2)
                wv = b.expr(w, [*kk, cc[0], co], s2)
                s2.append(K.Accumulate(acc, "add", K.Binary("mul", xv, wv, dt, True)))
                return s2
            inner = tuple(b.loops([ci], per_c, "c"))
            cond = _and(conds)
            st.extend(inner if cond is None else [K.If(cond, inner)])
            return st
        stmts = [K.Accumulator(acc, "add", K.FConst(0, dt)), *b.loops(window, per_k, "k")]
        value = K.Var(acc, dt)
        if node.dtype is T.float16:  # the conv's value is a float16 tensor
            value = K.Cast(K.Cast(value, T.float16), T.float32)
        if epilogue is not None:
            b.row_values[id(node)] = value
            value = b.expr(epilogue, idx, stmts)
        stmts.append(b.store(out, idx, node.shape, value))
        return stmts
    return b.parallel_loops(node.shape, body, D.mul(D.product(window), ci))


def lower_conv(b, node, out, epilogue=None):
    """Statements of the kernel computing conv `node` (then `epilogue`) into `out`."""
    return generic_conv(b, node, out, epilogue)


def conv_root(b, node, out):
    """The root-table rule: a conv without an epilogue."""
    return lower_conv(b, node, out)
