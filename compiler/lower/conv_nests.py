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
from .static_values import held_elements, packed_panels, static_array


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
        value = b.epilogue_value(node, K.Var(acc, dt), epilogue, idx, stmts)
        stmts.append(b.store(out, idx, node.shape, value))
        return stmts
    return b.parallel_loops(node.shape, body, D.mul(D.product(window), ci))


def fast_conv_applies(b, node) -> bool:
    """The register-blocked nest takes float32/float64 convs on a schedule that has a
    conv tile (the CPU's); the input-channel count may be symbolic (a filter gradient's
    is the batch)."""
    return b.low.schedule.conv is not None and node.dtype in (T.float32, T.float64)


def dilated_shape(node):
    """x's shape after lhs dilation (lhs_dilation - 1 zeros between neighbours)."""
    x = node.inputs[0]
    return (x.shape[0], *[(s - 1) * d + 1 for s, d in zip(x.shape[1:-1],
                                                          node.attr["lhs_dilation"])],
            x.shape[-1])


def _source(b, node):
    """(buffer, shape, how) that the nest loads x from: x's own buffer, or a copy made
    once by a kernel that runs first when x is computed by fused movement ops (a
    transposed NCHW input: the inner loop then loads contiguous channels) or has lhs
    dilation (the copy has the zeros between neighbours: the input gradient of a strided
    conv becomes a plain conv, multiplying the zeros, at the register tile's speed)."""
    x = node.inputs[0]
    buf = b.low.buffer_of.get(id(x))
    lhs = node.attr["lhs_dilation"]
    dilated = any(d > 1 for d in lhs)
    if buf is not None and not dilated:
        return buf, tuple(x.shape), "x read in place"
    shape = dilated_shape(node)
    dt = compute_dtype(x.dtype)

    def body(pb, copy, idx):
        st = []
        sub = [idx[0], *[K.idiv(i, d) for i, d in zip(idx[1:-1], lhs)], idx[-1]]
        cond = _and([K.Binary("equal", K.imod(i, d), K.IConst(0), T.bool_)
                     for i, d in zip(idx[1:-1], lhs) if d > 1])
        if cond is None:
            st.append(pb.store(copy, idx, shape, pb.expr(x, sub, st)))
            return st
        v = pb.fresh("v")
        inner = []
        inner.append(K.Set(v, pb.expr(x, sub, inner)))
        st += [K.Let(v, K.FConst(0, dt)), K.If(cond, tuple(inner)),
               pb.store(copy, idx, shape, K.Var(v, dt))]
        return st
    copy = b.pack_kernel(node, (id(x), "conv-input", tuple(lhs)), x.dtype, shape,
                         f"{x.describe()} {'dilated' if dilated else 'copied'} for "
                         f"{node.describe()}", body)
    return copy, shape, ("x dilated first (zeros between neighbours)" if dilated
                         else "x copied first (a fused operand)")


def _axis_facts(node, axis):
    """(size, window, stride, rhs_dilation, lo) of spatial axis `axis` (the size of the
    lhs-dilated x)."""
    w = node.inputs[1]
    a = node.attr
    return (dilated_shape(node)[1 + axis], w.shape[axis], a["strides"][axis],
            a["rhs_dilation"][axis], a["padding"][axis][0])


def _inside(node, axis, o):
    """Whether every window offset of output position `o` (an int) reads inside x."""
    size, k, s, rd, lo = _axis_facts(node, axis)
    return o * s - lo >= 0 and o * s + (k - 1) * rd - lo <= size - 1


def _k_range(node, axis, o):
    """(first, count) of the window offsets k of output position `o` whose input
    position o * s + k * rd - lo lies inside x: Python ints for an int `o`, index
    expressions (no branch) otherwise; (0, window) when no window reaches padding."""
    size, k, s, rd, lo = _axis_facts(node, axis)
    osize = node.shape[1 + axis]
    if lo <= 0 and (osize - 1) * s + (k - 1) * rd - lo <= size - 1:
        return 0, k
    if isinstance(o, int):
        ks = [kk for kk in range(k) if 0 <= o * s + kk * rd - lo <= size - 1]
        return (ks[0], len(ks)) if ks else (0, 0)
    first = K.idiv(K.iadd(K.imax(K.iadd(K.imul(o, -s), lo), 0), rd - 1), rd)
    end = K.imin(K.IConst(k), K.idiv(K.imax(K.iadd(K.imul(o, -s), size + lo + rd - 1), 0),
                                     rd))
    return first, K.iadd(end, K.imul(first, -1))


def row_micro(count, micro_rows):
    """Positions per register tile for a row of `count` interior positions: of
    micro_rows - 2 .. micro_rows + 1 (all fit the vector registers with the filter row
    and the broadcast), the one computing the fewest positions, the last tile's unstored
    ones included, counting half a position per tile (its panel loads); micro_rows on a
    tie. A 7-wide row (ResNet's last stage) takes one tile of 7, not 6 + a second tile
    of 6 for one position."""
    if count <= micro_rows:
        return max(1, count)

    def cost(m):
        return -(-count // m) * (m + 0.5), m != micro_rows
    return min(range(max(1, micro_rows - 2), micro_rows + 2), key=cost)


def _packed_filter(b, node, jv):
    """The filter packed once per program into panels of jv output channels,
    packed[p, *k, ci, l] = w[*k, ci, p * jv + l] (0 past the last channel): at compile
    time when its value is known (static_values.py), else by a pack kernel."""
    w = node.inputs[1]
    nsp = len(node.shape) - 2
    co = w.shape[-1]
    panels = -(-co // jv)
    pshape = (panels, *w.shape[:nsp], w.shape[-2], jv)
    dt = compute_dtype(w.dtype)

    def pack(pb, packed, idx):
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
    key = (id(w), "conv-filter", jv)
    value = static_array(w, b.low.static_values)
    if value is not None and held_elements(w) >= value.size:
        # a constant filter: packed now, no pack kernel on every run
        packed = b.low.packed.get(key)
        if packed is None:
            packed = b.low.packed[key] = b.low.add_const(
                w.dtype, packed_panels(value, jv),
                f"{w.describe()} packed in {jv}-channel panels at compile time for "
                f"{node.describe()}")
        return packed, pshape
    packed = b.pack_kernel(node, key, w.dtype, pshape,
                           f"{w.describe()} packed in {jv}-channel panels for "
                           f"{node.describe()}", pack)
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
    """The direct convolution of the CPU schedule (float32/float64).

    The filter is packed once into panels of j_vec output channels (`_packed_filter`);
    x is read in place, or from a copy (`_source`: a fused operand, lhs dilation). A
    register tile is micro_rows output points x j_vec channels whose accumulators stay in
    registers over the window and Ci loops (plain nested loops: no div/mod and no branch
    inside; without rhs dilation on the last axis a window row's kw and ci loops are one
    loop, since that run is contiguous in x and in the panel); each step loads one
    contiguous j_vec row of the panel and one element of x per point. The points of a tile are

    - "row" tiling: consecutive positions along the last spatial axis (parallel tasks
      over (n, channel panels, output rows));
    - "batch" tiling, when a row has fewer positions whose windows lie inside x than a
      tile (the filter gradient's conv: a 3x3 output and a window as large as the
      image): micro_rows batch entries at the same position (tasks over (batch blocks,
      channel panels, output rows)), so the tile still has micro_rows independent
      accumulator rows.

    Padding costs no branch: on the row axes the window loops start and end where the
    input rows exist (bounds computed once per task); along the row, the positions whose
    windows all lie inside x take full windows, and the few at the borders their own
    static window bounds. The epilogue is applied to the finished tile's accumulators,
    then the tile is stored once. Static remainders (a row's last positions, the last
    batch block, a last partial panel) take smaller tiles."""
    w = node.inputs[1]
    nsp = len(node.shape) - 2
    tiles = b.low.schedule.conv
    jv = tiles.j_vec(node.dtype.itemsize)
    dt = compute_dtype(node.dtype)
    co, ci = w.shape[-1], w.shape[-2]
    window = list(w.shape[:nsp])
    nb, ow = node.shape[0], node.shape[nsp]
    rows_shape = list(node.shape[1:nsp])   # output spatial axes above the tiled one
    src, sshape, how = _source(b, node)
    packed, pshape = _packed_filter(b, node, jv)
    panels, full_panels, tail = pshape[0], co // jv, co % jv
    inner = [o for o in range(ow) if _inside(node, nsp - 1, o)]
    first, last = (inner[0], inner[-1] + 1) if inner else (ow, ow)
    border = [o for o in range(ow) if not first <= o < last]
    by_batch = (isinstance(nb, int) and last - first < tiles.micro_rows
                and nb > last - first)
    micro = max(1, min(tiles.micro_rows, nb)) if by_batch else \
        row_micro(last - first, tiles.micro_rows)
    strides, rd = node.attr["strides"], node.attr["rhs_dilation"]
    lows = [node.attr["padding"][i][0] for i in range(nsp)]

    local = b.local

    def ranged(ranges, body, into):
        """Nested loops k_i in first_i .. first_i + count_i (lane-by-lane loops, see
        `_scalar_loops`); body(k index exprs) -> statements."""
        names = [b.fresh("k") for _ in ranges]
        ks = [K.iadd(f, K.Var(nm)) for nm, (f, _) in zip(names, ranges)]
        stmts = tuple(body(ks))
        for nm, (_, count) in reversed(list(zip(names, ranges))):
            stmts = (K.Loop(nm, K.idx(count), stmts, vectorize=False),)
        into.extend(stmts)

    def tile(points, orow, row_ranges, p, width, kw_range, guards=None, part=None):
        """The register tile of output points [(n, position on the last axis)]; a point
        whose guard (a condition, or None) is false is computed but not stored (a
        partial tile repeats its last valid point). With `part` = (kb, last block), the
        tile sums one block of window rows: it adds the sum of the blocks before (kept
        in `out`) and applies the epilogue only after the last block."""
        accs = [[b.fresh("acc") for _ in range(width)] for _ in points]

        merged = rd[-1] == 1   # (kw, ci) runs are contiguous in x and in the panel

        def per_k(kk):
            st = []
            run = ci
            if merged:  # one loop over the window row's kw x ci run
                kk = [*kk, kw_range[0]]
                run = K.imul(K.idx(kw_range[1]), b.dim(ci))   # ci may be symbolic
            js = [K.iadd(K.iadd(K.imul(orow[i], strides[i]), K.imul(kk[i], rd[i])), -lows[i])
                  for i in range(nsp - 1)]
            xb = []
            for n, pos in points:
                jw = K.iadd(K.iadd(K.imul(pos, strides[-1]), K.imul(kk[-1], rd[-1])),
                            -lows[-1])
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
            st += _scalar_loops(b, [run], per_c, "c")
            return st
        stmts = [K.Accumulator(acc, "add", K.FConst(0, dt)) for row in accs for acc in row]
        ranged(row_ranges if merged else [*row_ranges, kw_range], per_k, stmts)
        c0 = K.imul(p, jv)
        for r, (n, pos) in enumerate(points):
            st = []
            base = local(b.linear([n, *orow, pos, c0], node.shape), st, "o")
            sums, done = [], []
            for lane in range(width):
                value = K.Var(accs[r][lane], dt)
                if part is not None:
                    before = K.Select(K.Binary("greater", part[0], K.IConst(0), T.bool_),
                                      K.Load(b.use(out), K.iadd(base, lane), out.dtype),
                                      K.FConst(0, dt), dt)
                    value = local(K.Binary("add", value, before, dt), st, "sum")
                    sums.append(K.Store(b.use(out, True), K.iadd(base, lane), value))
                value = b.epilogue_value(node, value, epilogue,
                                         [n, *orow, pos, K.iadd(c0, lane)], done)
                done.append(K.Store(b.use(out, True), K.iadd(base, lane), value))
            if part is None:
                st += done
            else:
                st.append(K.If(K.Binary("equal", part[0], K.IConst(part[1]), T.bool_),
                               tuple(done), tuple(sums)))
            guard = guards[r] if guards else None
            stmts += st if guard is None else [K.If(guard, tuple(st))]
        return stmts

    def border_loop(points_at, orow, row_ranges, p, width, guards=None, part=None):
        """One loop over the border positions (left: 0.., right: last..), each a tile
        with its window bounds along the row computed from the position."""
        if not border:
            return []

        def body(ii):
            st = []
            i = ii[0]
            o = local(K.Select(K.Binary("less", i, K.IConst(first), T.bool_), i,
                               K.iadd(i, last - first), T.int64), st, "ob")
            f, count = _k_range(node, nsp - 1, o)
            rng = (local(K.idx(f), st, "kf") if not isinstance(f, int) else f,
                   local(K.idx(count), st, "kn") if not isinstance(count, int) else count)
            return st + tile(points_at(o), orow, row_ranges, p, width, rng, guards, part)
        return list(b.loops([len(border)], body, "bo"))

    def by_rows(n, orow, row_ranges, p, width):
        """Tiles of micro consecutive interior positions (the last one partial: its
        extra points repeat the last position, unstored), then the border loop."""
        count = last - first
        partial = count % micro != 0

        def tile_at(ob):
            o0 = K.iadd(K.imul(ob[0], micro), first)
            pos = [K.iadd(o0, r) for r in range(micro)]
            if partial:
                guards = [None] + [K.Binary("less", q, K.IConst(last), T.bool_)
                                   for q in pos[1:]]
                pos = [pos[0]] + [K.imin(q, last - 1) for q in pos[1:]]
            else:
                guards = None
            return tile([(n, q) for q in pos], orow, row_ranges, p, width,
                        (0, window[-1]), guards)
        st = list(b.loops([-(-count // micro)], tile_at, "ob"))
        return st + border_loop(lambda o: [(n, o)], orow, row_ranges, p, width)

    def by_batch_block(n0, orow, row_ranges, p, width, part=None):
        """micro batch entries n0.. at every position (past the batch: the last entry
        again, unstored)."""
        ns = [K.iadd(n0, r) for r in range(micro)]
        guards = None
        if nb % micro:
            guards = [None] + [K.Binary("less", q, K.IConst(nb), T.bool_) for q in ns[1:]]
            ns = [ns[0]] + [K.imin(q, nb - 1) for q in ns[1:]]
        st = list(b.loops([last - first], lambda oo: tile(
            [(q, K.iadd(oo[0], first)) for q in ns], orow, row_ranges, p, width,
            (0, window[-1]), guards, part), "ow"))
        return st + border_loop(lambda o: [(q, o) for q in ns], orow, row_ranges, p, width,
                                guards, part)

    lead = -(-nb // micro) if by_batch else nb   # tasks' leading extent: batch or blocks
    # batch tiling with a large window: the task covers every output row and walks the
    # window rows in blocks whose panel rows stay in L2 while every position uses them
    # (else each tile would stream the whole panel from memory)
    # (a symbolic ci, a filter gradient's batch, has no known row size: not blocked)
    row_bytes = D.product(window[1:]) * jv * node.dtype.itemsize
    kblock = max(1, tiles.panel_block_bytes // (row_bytes * ci)) if isinstance(ci, int) \
        else window[0]
    blocked = by_batch and nsp >= 2 and window[0] > kblock
    nkb = -(-window[0] // kblock)
    task_rows = [] if blocked else rows_shape
    b.note = (f"register-blocked direct conv, {'batch' if by_batch else 'row'} tiling: "
              f"{micro} {'batch entries' if by_batch else 'positions'} x {jv} channels "
              f"per tile, filter packed in {jv}-channel panels, {how}, {len(border)} "
              f"border position(s) per row"
              + (f", window rows in blocks of {kblock}" if blocked else ""))

    def row_ranges_of(orow, into, kb=None):
        ranges = []
        for i, o in enumerate(orow):
            f, count = _k_range(node, i, o)
            if kb is not None and i == 0:   # this block's window rows only
                lo_k = K.imul(kb, kblock)
                end = K.imin(K.iadd(f, count), K.iadd(lo_k, kblock))
                f = K.imax(f, lo_k)
                count = K.iadd(end, K.imul(f, -1))
            ranges.append((local(K.idx(f), into, "kf") if not isinstance(f, int) else f,
                           local(K.idx(count), into, "kn") if not isinstance(count, int)
                           else count))
        return ranges

    def task(idx):
        t = idx[0]
        stmts = []
        # tasks run the output rows of one channel panel consecutively (rows innermost),
        # so a thread's chunk of tasks reuses its panel of the packed filter from cache;
        # with the panels innermost, each row streamed the whole filter again (a 3x3
        # conv of 512 channels on 7x7: 9.4 MB of filter per output row)
        rest = t
        orow = [None] * len(task_rows)
        for i in reversed(range(len(task_rows))):
            orow[i] = K.imod(rest, task_rows[i])
            rest = K.idiv(rest, task_rows[i])
        p = local(K.imod(rest, panels), stmts, "p")
        rest = K.idiv(rest, panels)
        orow = [local(o, stmts, "oh") for o in orow]
        n = local(rest, stmts, "n")

        def body(width):
            if blocked:
                def per_block(kk):
                    def per_row(oo):
                        st = []
                        rr = row_ranges_of(oo, st, kk[0])
                        return st + by_batch_block(K.imul(n, micro), oo, rr, p, width,
                                                   (kk[0], nkb - 1))
                    return list(b.loops(rows_shape, per_row, "oh"))
                return list(b.loops([nkb], per_block, "kb"))
            row_ranges = row_ranges_of(orow, stmts)
            if not by_batch:
                return by_rows(n, orow, row_ranges, p, width)
            return by_batch_block(K.imul(n, micro), orow, row_ranges, p, width)
        if tail == 0:
            return stmts + body(jv)
        if full_panels == 0:
            return stmts + body(tail)
        return stmts + [K.If(K.Binary("less", p, K.IConst(full_panels), T.bool_),
                             tuple(body(jv)), tuple(body(tail)))]
    ntasks = D.mul(lead, D.product(task_rows) * panels)
    # ci is symbolic in a filter gradient of a symbolic batch: D.mul, not *
    per_task = D.mul(D.mul(D.product(window), ci),
                     jv * (ow * micro if by_batch else ow)
                     * (D.product(rows_shape) if blocked else 1))
    return b.parallel_loops([ntasks], task, per_task)


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
