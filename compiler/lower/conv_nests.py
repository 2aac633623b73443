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

import dataclasses

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


def fast_conv_applies(b, node) -> bool:
    """The register-blocked nest takes convs without lhs dilation in float32/float64 on
    a schedule that has a conv tile (the CPU's), with a static number of input channels
    (a filter gradient's is the batch, which may be symbolic: the generic nest takes it)."""
    return (b.low.schedule.conv is not None and node.dtype in (T.float32, T.float64)
            and all(d == 1 for d in node.attr["lhs_dilation"]))


def _windowed_extents(node):
    """Per spatial axis: the extent J of positions the windows touch (o * s + k * rd for
    every o, k) and whether all of x[j - lo] over them lies inside x."""
    x, w = node.inputs
    a = node.attr
    nsp = len(node.shape) - 2
    ext, inside = [], True
    for i in range(nsp):
        j = (node.shape[1 + i] - 1) * a["strides"][i] + (w.shape[i] - 1) * a["rhs_dilation"][i] + 1
        lo = a["padding"][i][0]
        ext.append(j)
        inside = inside and lo <= 0 and j - 1 - lo <= x.shape[1 + i] - 1
    return ext, inside


def _source(b, node):
    """(buffer, shape, offsets) that the nest loads x from, at position o * s + k * rd +
    offset per spatial axis: x's own buffer when every window lies inside it (offset
    -lo: a negative pad crops), else a copy made by a kernel that runs first, x padded
    with zeros (and any fused movement ops of x applied) to exactly the positions the
    windows touch (offset 0), so the inner loop never branches."""
    x = node.inputs[0]
    nsp = len(node.shape) - 2
    ext, inside = _windowed_extents(node)
    lows = [node.attr["padding"][i][0] for i in range(nsp)]
    buf = b.low.buffer_of.get(id(x))
    if inside and buf is not None:
        return buf, tuple(x.shape), [-lo for lo in lows], "x read in place"
    shape = (node.shape[0], *ext, x.shape[-1])
    key = (id(x), "conv-input", tuple(lows), tuple(ext))
    padded = b.low.packed.get(key)
    if padded is None:
        padded = b.low.packed[key] = b.low.add_temp(
            x.dtype, shape, f"{x.describe()} padded for {node.describe()}")
        pb = type(b)(b.low, node, "")
        dt = compute_dtype(x.dtype)

        def copy(idx):
            st = []
            sub = [idx[0]] + [K.iadd(idx[1 + i], -lows[i]) for i in range(nsp)] + [idx[-1]]
            conds = []
            for i in range(nsp):
                if lows[i] > 0:
                    conds.append(K.Binary("greater_equal", sub[1 + i], K.IConst(0), T.bool_))
                if ext[i] - 1 - lows[i] > x.shape[1 + i] - 1:
                    conds.append(K.Binary("less", sub[1 + i], K.IConst(x.shape[1 + i]),
                                          T.bool_))
            cond = _and(conds)
            if cond is None:
                st.append(pb.store(padded, idx, shape, pb.expr(x, sub, st)))
                return st
            v = pb.fresh("v")
            inner = []
            inner.append(K.Set(v, pb.expr(x, sub, inner)))
            st += [K.Let(v, K.FConst(0, dt)), K.If(cond, tuple(inner)),
                   pb.store(padded, idx, shape, K.Var(v, dt))]
            return st
        b.before.append((pb, pb.parallel_loops(list(shape), copy), "pack"))
    how = "x copied with its padding" if buf is not None else "x copied (fused operand)"
    return padded, shape, [0] * nsp, how


def _packed_filter(b, node, jv):
    """The filter packed once per program into panels of jv output channels,
    packed[p, *k, ci, l] = w[*k, ci, p * jv + l] (0 past the last channel)."""
    w = node.inputs[1]
    nsp = len(node.shape) - 2
    co = w.shape[-1]
    panels = -(-co // jv)
    pshape = (panels, *w.shape[:nsp], w.shape[-2], jv)
    key = (id(w), "conv-filter", jv)
    packed = b.low.packed.get(key)
    if packed is not None:
        return packed, pshape
    packed = b.low.packed[key] = b.low.add_temp(
        w.dtype, pshape, f"{w.describe()} packed in {jv}-channel panels for {node.describe()}")
    pb = type(b)(b.low, node, "")
    dt = compute_dtype(w.dtype)

    def pack(idx):
        st = []
        c = K.iadd(K.imul(idx[0], jv), idx[-1])
        sub = [*idx[1:-1], c]
        if co % jv == 0:
            st.append(pb.store(packed, idx, pshape, pb.expr(w, sub, st)))
            return st
        v = pb.fresh("v")
        inner = []
        inner.append(K.Set(v, pb.expr(w, sub, inner)))
        st += [K.Let(v, K.FConst(0, dt)),
               K.If(K.Binary("less", c, K.IConst(co), T.bool_), tuple(inner)),
               pb.store(packed, idx, pshape, K.Var(v, dt))]
        return st
    b.before.append((pb, pb.parallel_loops(list(pshape), pack), "pack"))
    return packed, pshape


def _scalar_loops(b, shape, body, prefix):
    """Nested loops written lane by lane (vectorize=False: LLVM's SLP vectorizer packs
    the register tile's lanes, as in the matmul micro-kernel)."""
    def unvec(stmts):
        out = []
        for st in stmts:
            if isinstance(st, K.Loop):
                st = dataclasses.replace(st, vectorize=False, body=tuple(unvec(st.body)))
            out.append(st)
        return out
    return unvec(b.loops(shape, body, prefix))


def register_blocked_conv(b, node, out, epilogue=None):
    """The direct convolution of the CPU schedule (lhs_dilation 1, float32/float64).

    The filter is packed once into panels of j_vec output channels (`_packed_filter`);
    x is read in place, or from a zero-padded copy when some window reaches padding
    (`_source`). Parallel tasks run over (n, output rows, channel panels), flattened into
    one parallel loop; a task walks its output row in register tiles of micro_rows
    consecutive positions x j_vec channels whose accumulators stay in registers over the
    window and Ci loops (plain nested loops: no div/mod and no branch inside), each step
    loading one contiguous j_vec row of the panel and micro_rows elements of x. The
    epilogue is applied to the finished tile's accumulators, then the tile is stored
    once. A row's last positions (fewer than micro_rows) take a smaller tile; a last
    partial panel stores only its channels."""
    x, w = node.inputs
    a = node.attr
    nsp = len(node.shape) - 2
    tiles = b.low.schedule.conv
    jv = tiles.j_vec(node.dtype.itemsize)
    dt = compute_dtype(node.dtype)
    co = w.shape[-1]
    ci = w.shape[-2]
    window = list(w.shape[:nsp])
    ow = node.shape[nsp]
    rows_shape = list(node.shape[1:nsp])   # output spatial axes above the tiled one
    src, sshape, offs, how = _source(b, node)
    packed, pshape = _packed_filter(b, node, jv)
    panels, full_panels, tail = pshape[0], co // jv, co % jv
    micro = min(tiles.micro_rows, ow)
    b.note = (f"register-blocked direct conv: {micro} positions x {jv} channels per tile, "
              f"filter packed in {jv}-channel panels, {how}")
    strides, rd = a["strides"], a["rhs_dilation"]

    def local(value, into, prefix):
        name = b.fresh(prefix)
        into.append(K.Let(name, value))
        return K.Var(name, value.dtype)

    def tile(n, orow, p, ow0, nrows, width):
        accs = [[b.fresh("acc") for _ in range(width)] for _ in range(nrows)]

        def per_k(kk):
            st = []
            js = [K.iadd(K.iadd(K.imul(orow[i], strides[i]), K.imul(kk[i], rd[i])), offs[i])
                  for i in range(nsp - 1)]
            xb = []
            for r in range(nrows):
                jw = K.iadd(K.iadd(K.imul(K.iadd(ow0, r), strides[-1]),
                                   K.imul(kk[-1], rd[-1])), offs[-1])
                xb.append(local(b.linear([n, *js, jw, K.IConst(0)], sshape), st, "xb"))
            wb = local(b.linear([p, *kk, K.IConst(0), K.IConst(0)], pshape), st, "wb")

            def per_c(cc):
                s2 = []
                c = cc[0]
                avs = [local(K.Load(b.use(src), K.iadd(xr, c), src.dtype), s2, "a")
                       for xr in xb]
                wrow = local(K.iadd(wb, K.imul(c, jv)), s2, "wr")
                bvs = [local(K.Load(b.use(packed), K.iadd(wrow, lane), packed.dtype), s2, "b")
                       for lane in range(width)]
                for r, av in enumerate(avs):
                    for lane, bv in enumerate(bvs):
                        s2.append(K.Accumulate(accs[r][lane], "add",
                                               K.Binary("mul", av, bv, dt, True)))
                return s2
            st += _scalar_loops(b, [ci], per_c, "c")
            return st
        init = [K.Accumulator(acc, "add", K.FConst(0, dt)) for row in accs for acc in row]
        kloops = _scalar_loops(b, window, per_k, "k")
        fini = []
        c0 = K.imul(p, jv)
        for r in range(nrows):
            pos = K.iadd(ow0, r)
            base = local(b.linear([n, *orow, pos, c0], node.shape), fini, "o")
            for lane in range(width):
                value = K.Var(accs[r][lane], dt)
                if epilogue is not None:
                    b.row_values[id(node)] = value
                    value = b.expr(epilogue, [n, *orow, pos, K.iadd(c0, lane)], fini)
                if out.dtype is T.float16:
                    value = K.Cast(value, T.float16)
                fini.append(K.Store(b.use(out, True), K.iadd(base, lane), value))
        return [*init, *kloops, *fini]

    def task(idx):
        t = idx[0]
        p = K.imod(t, panels)
        rest = K.idiv(t, panels)
        orow = [None] * len(rows_shape)
        for i in reversed(range(len(rows_shape))):
            orow[i] = K.imod(rest, rows_shape[i])
            rest = K.idiv(rest, rows_shape[i])
        n = rest
        stmts = []
        for var, value in (("p", p), *((f"oh{i}", v) for i, v in enumerate(orow)), ("n", n)):
            name = b.fresh(var)
            stmts.append(K.Let(name, value))
            if var == "p":
                p = K.Var(name)
            elif var == "n":
                n = K.Var(name)
            else:
                orow[int(var[2:])] = K.Var(name)

        def row(width):
            whole, rest_rows = divmod(ow, micro)
            st = list(b.loops([whole], lambda ob: tile(n, orow, p, K.imul(ob[0], micro),
                                                         micro, width), "ob"))
            if rest_rows:
                st += tile(n, orow, p, whole * micro, rest_rows, width)
            return st
        if tail == 0:
            return stmts + row(jv)
        if full_panels == 0:
            return stmts + row(tail)
        return stmts + [K.If(K.Binary("less", p, K.IConst(full_panels), T.bool_),
                             tuple(row(jv)), tuple(row(tail)))]
    ntasks = D.mul(node.shape[0], D.product(rows_shape) * panels)
    return b.parallel_loops([ntasks], task, D.mul(D.product(window), D.mul(ci, ow * jv)))


def lower_conv(b, node, out, epilogue=None):
    """Statements of the kernel computing conv `node` (then `epilogue`) into `out`: the
    register-blocked nest where the schedule has one and it applies, else the generic."""
    if fast_conv_applies(b, node):
        return register_blocked_conv(b, node, out, epilogue)
    b.note = "generic conv: one output element per iteration"
    return generic_conv(b, node, out, epilogue)


def conv_root(b, node, out):
    """The root-table rule: a conv without an epilogue."""
    return lower_conv(b, node, out)
