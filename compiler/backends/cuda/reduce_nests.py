"""The CUDA backend's two-stage reductions, in the shared kernel IR.

The shared nests reduce each output element in one iteration of a parallel loop: a row
group over few rows (a full reduction has none) becomes one block for the whole input,
and a reduction over the leading axis (`_column_reduce`: every bias gradient) one block
doing a read-modify-write of the output per input row. Here such groups become two
kernels with a temporary of partial values between them (`_Builder.before`, as packing
kernels are built), so the runtime needs nothing new:

- rows form (a row group: reduction over the trailing axis, at most `FEW_ROWS` rows):
  stage 1 (kind `partial`) splits each row into up to `CHUNKS` contiguous chunks of at
  least `MIN_CHUNK` elements, one parallel iteration (a block, the `rows` mapping) per
  (row, chunk), writing `partials[row, chunk]`; stage 2 (the group's kernel) combines a
  row's partials and stores the result.
- column form (reduction over the leading axis, output over the trailing columns):
  stage 1 (kind `partial`, note `COLUMNS`) has one parallel iteration per (row chunk,
  column): adjacent threads read adjacent columns (coalesced), each sums its chunk's rows
  into `partials[chunk, column]`; stage 2 combines a column's chunks: a block per column
  (its threads split the chunks), or one thread per column (note `COLUMNS`) when there
  are `COLUMN_GRID_MIN` columns or more.

The partition depends on the shapes only (never on the GPU), and partials are combined
in a fixed order: the same shapes give the same result every run (no float atomics).
"""

from __future__ import annotations

from ...ir import dims as D
from ...ir import dtypes as T
from ...lower import kir as K
from ...lower.lower import COMBINE, accumulator, compute_dtype
from ...ops.reduce import normalize_axes

#: most chunks per row in the rows form, and the partials' extent per row
CHUNKS = 4096
#: fewest elements per chunk (a chunk is one block's work)
MIN_CHUNK = 4096
#: row groups with more rows than this fill the GPU with one block per row already
FEW_ROWS = 16
#: column form: parallel iterations (chunk x column) stage 1 aims at, and most chunks
COLUMN_THREADS = 1 << 19
COLUMN_CHUNKS = 4096
#: column form: fewest rows per chunk
ROWS_PER_CHUNK = 64
#: column form, stage 2: one thread per column from this many (static) columns; fewer
#: (or unknown) columns take a block per column (the chunks split over its threads)
COLUMN_GRID_MIN = 2048
#: `Kernel.note` of the column form's kernels: the emitter maps them one thread per
#: parallel iteration (`grid`), never a block per column
COLUMNS = "columns: chunks of rows per column, then chunks combined"


def _static(d):
    return d if isinstance(d, int) else (D.is_static(d) and int(D.distribute(d)))


def _chunking(b, n):
    """(chunk length, chunks used) of a row of `n` elements, as index expressions of
    builder `b`: chunks of at least MIN_CHUNK elements, at most CHUNKS of them."""
    nn = b.dim(n)
    length = K.imax(K.IConst(MIN_CHUNK), K.idiv(K.iadd(nn, K.IConst(CHUNKS - 1)),
                                                K.IConst(CHUNKS)))
    used = K.idiv(K.iadd(nn, K.Binary("sub", length, K.IConst(1), T.int64)), length)
    return length, used


def _load(b, buf, idx, shape):
    return K.Load(b.use(buf), b.linear(idx, shape), buf.dtype)


def row_reduce(b, group, out):
    """The rows form for `group` (kind row), or None when it does not apply."""
    root = group.root
    if root.op not in COMBINE or group.reductions:
        return None
    x = root.inputs[0]
    rows, inner = list(x.shape[:group.rows]), list(x.shape[group.rows:])
    xbuf = b.low.buffer_of.get(id(x))
    if len(inner) != 1 and xbuf is None:  # a fused input is computed at a full index
        return None
    n_inner = D.product(inner)
    nrows, n = _static(D.product(rows)), _static(n_inner)
    if nrows is False or nrows > FEW_ROWS or (n is not False and n < 2 * MIN_CHUNK):
        return None
    dt = compute_dtype(root.dtype)
    part = b.low.add_temp(dt, tuple(rows) + (CHUNKS,),
                          f"{root.describe()}: partial results of row chunks")
    pb = type(b)(b.low, root, "")
    nn = pb.dim(n_inner)
    length, used = _chunking(pb, n_inner)

    def stage1(idx):
        ridx, c = list(idx[:-1]), idx[-1]
        acc, r = pb.fresh("acc"), pb.fresh("r")
        first = K.imul(c, length)
        ext = K.imax(K.IConst(0), K.imin(length, K.Binary("sub", nn, first, T.int64)))
        st = []
        f = K.iadd(first, K.Var(r))
        if len(inner) == 1:
            v = pb.expr(x, ridx + [f], st)
        else:  # a buffer: its row read at linear positions
            v = _load(pb, xbuf, [K.iadd(K.imul(pb.linear(ridx, rows), nn), f)],
                      [D.product(x.shape)])
            if xbuf.dtype is T.float16:
                v = K.Cast(v, T.float32)
        st.append(K.Accumulate(acc, COMBINE[root.op], v))
        return [accumulator(acc, root.op, dt), K.Loop(r, ext, tuple(st)),
                pb.store(part, ridx + [c], part.shape, K.Var(acc, dt))]
    pb.work = pb.dim(D.product(x.shape))
    body1 = pb.loops(rows + [used], stage1, parallel=True)
    b.before.append((pb, body1, "partial"))

    def stage2(ridx):
        acc = b.fresh("acc")

        def step(c):
            return [K.Accumulate(acc, COMBINE[root.op],
                                 _load(b, part, list(ridx) + c, part.shape))]
        keep = [K.IConst(0)] * len(inner) if root.attr["keepdims"] else []
        return [accumulator(acc, root.op, dt), *b.loops([_chunking(b, n_inner)[1]], step, "c"),
                b.store(out, list(ridx) + keep, root.shape, K.Var(acc, dt))]
    return b.parallel_loops(rows, stage2, CHUNKS)


def column_reduce(b, group, out):
    """The column form for `group` (kind reduce), or None when it does not apply."""
    root = group.root
    if root.op not in COMBINE:
        return None
    x = root.inputs[0]
    axes = normalize_axes(root.attr["axes"], len(x.shape))
    if axes != (0,) or len(x.shape) < 2:
        return None
    nrows, kept = x.shape[0], list(x.shape[1:])
    cols = _static(D.product(kept))
    if cols is not False and cols == 0:
        return None
    cap = min(COLUMN_CHUNKS, max(1, COLUMN_THREADS // cols)) if cols else COLUMN_CHUNKS
    # at least ROWS_PER_CHUNK rows a chunk (the partials stay a fraction of the input)
    chunks = D.maximum(1, D.minimum(cap, D.floordiv(D.add(nrows, ROWS_PER_CHUNK - 1),
                                                   ROWS_PER_CHUNK)))
    if _static(chunks) == 1:
        return None
    dt = compute_dtype(root.dtype)
    part = b.low.add_temp(dt, (chunks, *kept), f"{root.describe()}: partial results of "
                          "chunks of rows")
    pb = type(b)(b.low, root, "")
    pb.note = COLUMNS
    nn = pb.dim(nrows)
    pc = pb.dim(chunks)
    length = K.idiv(K.iadd(nn, K.Binary("sub", pc, K.IConst(1), T.int64)), pc)

    def stage1(idx):
        c, o = idx[0], list(idx[1:])
        acc, r = pb.fresh("acc"), pb.fresh("r")
        first = K.imul(c, length)
        ext = K.imax(K.IConst(0), K.imin(length, K.Binary("sub", nn, first, T.int64)))
        st = []
        v = pb.expr(x, [K.iadd(first, K.Var(r))] + o, st)
        st.append(K.Accumulate(acc, COMBINE[root.op], v))
        return [accumulator(acc, root.op, dt), K.Loop(r, ext, tuple(st)),
                pb.store(part, [c] + o, part.shape, K.Var(acc, dt))]
    body1 = pb.parallel_loops([chunks, *kept], stage1)
    pb.work = pb.dim(D.product(x.shape))
    b.before.append((pb, body1, "partial"))
    if cols and cols >= COLUMN_GRID_MIN:  # else a block per column strides its chunks
        b.note = COLUMNS
    lead = [K.IConst(0)] if root.attr["keepdims"] else []

    def stage2(o):
        acc = b.fresh("acc")

        def step(c):
            return [K.Accumulate(acc, COMBINE[root.op],
                                 _load(b, part, c + list(o), part.shape))]
        return [accumulator(acc, root.op, dt), *b.loops([chunks], step, "c"),
                b.store(out, lead + list(o), root.shape, K.Var(acc, dt))]
    return b.parallel_loops(kept, stage2, chunks)

