"""Scans, ranking and determinants of the TF1 API: `tf.cumsum`, `tf.cumprod`,
`tf.nn.top_k`, `tf.matrix_determinant`, composed from the primitives (no primitive of
their own, so every backend and `fc.gradients` take them as they are).

- `cumsum`/`cumprod` along an axis of extent n are a masked reduction: the input,
  broadcast against an [n, n] triangular mask (output position by input position), is
  summed (multiplied) over the input positions: O(n^2) along the axis, exact for ints.
  The extent may be symbolic (the mask comes from `iota`). A static axis over 256
  entries is scanned as blocks of ~sqrt(n) (the masked scan inside each block, plus the
  exclusive scan of the block totals): O(n sqrt(n)).
- `top_k` ranks each element of the last axis by how many elements beat it (greater,
  or equal at a lower index) and picks rank r for output r (O(n^2) along the axis),
  for axes of up to 64 entries or k above 64; otherwise it takes k rounds of a masked
  max, each picking the first index of the largest entry not taken yet (O(k n)).
  Sorted, ties by index either way. NaN inputs give unspecified results.
- `matrix_determinant` is Gaussian elimination with partial pivoting, unrolled over the
  static matrix size (a singular pivot column gives 0).
"""

from __future__ import annotations

import collections

import numpy as np

from ..ir import dtypes as T
from .core import constant, convert_to_tensor, expand_dims, identity, make, normalize_axis, op_scope


def _static_axis(axis, x, opname):
    if hasattr(axis, "op"):
        from .static import static_dims
        vals = static_dims(convert_to_tensor(axis))
        if vals is None or len(vals) != 1 or not isinstance(vals[0], int):
            raise TypeError(f"{opname}: axis must be known when the graph is built")
        axis = vals[0]
    if not x.shape.known_rank:
        raise ValueError(f"{opname}: needs an input of known rank")
    if x.shape.ndims == 0:
        raise ValueError(f"{opname}: needs an input of rank >= 1, got a scalar")
    return normalize_axis(int(axis), x.shape.ndims, opname)


def _index_grid(n, axis, dtype=T.int32):
    """An [n, n] tensor counting along `axis` (0: the row index, 1: the column index)."""
    if isinstance(n, int):
        grid = np.indices((n, n))[axis].astype(dtype.np)
        return constant(grid, dtype=dtype)
    return make("iota", [], shape=(n, n), axis=axis, dtype=dtype)


# Axes longer than this scan in blocks of ~sqrt(n): O(n sqrt(n)) instead of O(n^2).
_BLOCKED_FROM = 256


def _scan(prim, identity_value, tf_name, x, axis, exclusive, reverse, name):
    x = convert_to_tensor(x)
    axis = _static_axis(axis, x, tf_name)
    with op_scope(name, tf_name, [x]) as scope:
        n = x.shape[axis]
        if isinstance(n, int) and n > _BLOCKED_FROM:
            out = _blocked_scan(prim, identity_value, x, axis, exclusive, reverse)
        else:
            out = _masked_scan(prim, identity_value, x, axis, exclusive, reverse)
        return identity(out, name=scope)


def _masked_scan(prim, identity_value, x, axis, exclusive, reverse):
    rank = x.shape.ndims
    n = x.shape[axis]
    out_pos, in_pos = _index_grid(n, 0), _index_grid(n, 1)
    cmp = {(False, False): "less_equal", (True, False): "less",
           (False, True): "greater_equal", (True, True): "greater"}[
        (bool(exclusive), bool(reverse))]
    mask = make(cmp, [in_pos, out_pos])                      # [out, in]
    mask = make("reshape", [mask], shape=(n, n) + (1,) * (rank - 1 - axis))
    spread = expand_dims(x, axis)                             # [..., 1(out), n(in), ...]
    picked = make("select", [mask, spread, constant(identity_value, x.dtype)])
    return make(prim, [picked], axes=(axis + 1,), keepdims=False)


def _blocked_scan(prim, identity_value, x, axis, exclusive, reverse):
    """The scan of a long static axis as [blocks, m]: a masked scan inside each block,
    combined with the exclusive scan of the block totals."""
    if reverse:
        rev = _reverse(x, axis)
        return _reverse(_blocked_scan(prim, identity_value, rev, axis, exclusive, False),
                        axis)
    shape = list(x.shape)
    n = shape[axis]
    m = int(np.ceil(np.sqrt(n)))
    blocks = -(-n // m)
    if blocks * m != n:
        pads = [[0, 0] for _ in shape]
        pads[axis][1] = blocks * m - n
        x = make("pad", [x], pads=tuple(map(tuple, pads)), value=float(identity_value))
    grid = make("reshape", [x], shape=tuple(shape[:axis] + [blocks, m] + shape[axis + 1:]))
    inner = _masked_scan(prim, identity_value, grid, axis + 1, exclusive, False)
    totals = make(prim, [grid], axes=(axis + 1,), keepdims=True)
    offsets = _masked_scan(prim, identity_value, totals, axis, True, False)
    joined = make("add" if prim == "reduce_sum" else "mul", [offsets, inner])
    out = make("reshape", [joined], shape=tuple(shape[:axis] + [blocks * m] + shape[axis + 1:]))
    if blocks * m != n:
        from .indexing import getitem
        out = getitem(out, (slice(None),) * axis + (slice(0, n),))
    return out


def _reverse(x, axis):
    from .indexing import reverse
    return reverse(x, [axis])


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    """Cumulative sum along `axis` (an int known at build time): `exclusive` leaves the
    element itself out (the first output is 0), `reverse` sums from the end."""
    return _scan("reduce_sum", 0, "Cumsum", x, axis, exclusive, reverse, name)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """Cumulative product along `axis`; `exclusive` and `reverse` as in `cumsum` (the
    first exclusive output is 1)."""
    return _scan("reduce_prod", 1, "Cumprod", x, axis, exclusive, reverse, name)


TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


def top_k(input, k=1, sorted=True, name=None):  # noqa: A002  (TF1 argument names)
    """The `k` largest entries of the last axis and their indices (int32), largest
    first; equal values in index order. `k` is an int (or a tensor known at build
    time). `sorted=False` is accepted (the result is sorted anyway)."""
    return top_k_along(input, k, largest=True, index_dtype=T.int32, name=name or "TopKV2")


def top_k_along(x, k, largest=True, index_dtype=T.int64, name="TopK"):
    """`top_k` on the last axis, `largest=False` for the k smallest (ONNX TopK)."""
    x = convert_to_tensor(x)
    if hasattr(k, "op"):
        from .static import static_dims
        vals = static_dims(convert_to_tensor(k))
        if vals is None or len(vals) != 1 or not isinstance(vals[0], int):
            raise TypeError(f"{name}: k must be known when the graph is built")
        k = vals[0]
    k = int(k)
    if not x.shape.known_rank or x.shape.ndims == 0:
        raise ValueError(f"{name}: needs an input of known rank >= 1")
    n = x.shape[-1]
    if k < 0 or (isinstance(n, int) and k > n):
        raise ValueError(f"{name}: k={k} is outside [0, {n}] (the last axis' extent)")
    with op_scope(None, name, [x]) as scope:
        if 1 <= k <= _ROUNDS and not (isinstance(n, int) and n <= _SMALL):
            chosen = _chosen_by_rounds(x, k, n, largest)
        else:
            chosen = _chosen_by_rank(x, k, n, largest)
        axis = x.shape.ndims
        values = make("reduce_sum", [make("select", [chosen, expand_dims(x, -2),
                                                      constant(0, x.dtype)])],
                      axes=(axis,), keepdims=False)
        where = make("iota", [], shape=(1, n), axis=1, dtype=index_dtype)
        indices = make("reduce_sum", [make("select", [chosen, where,
                                                       constant(0, index_dtype)])],
                       axes=(axis,), keepdims=False)
        return TopKV2(identity(values, name=scope + "values"),
                      identity(indices, name=scope + "indices"))


# top_k picks by rank (O(n^2) along the axis) for axes of up to _SMALL entries or k above
# _ROUNDS, else in k rounds of a masked max (O(k n)).
_SMALL, _ROUNDS = 64, 64


def _chosen_by_rank(x, k, n, largest):
    """[..., k, n] bool: entry j is output r's when r entries beat it (greater, or equal
    at a lower index)."""
    mine, other = expand_dims(x, -1), expand_dims(x, -2)          # [..., n(i), n(j)]
    row, col = _index_grid(n, 0), _index_grid(n, 1)
    better = make("greater" if largest else "less", [other, mine])
    tie_before = make("logical_and", [make("equal", [other, mine]), make("less", [col, row])])
    beats = make("logical_or", [better, tie_before])
    rank = make("reduce_sum", [make("cast", [beats], dtype=T.int32)], axes=(x.shape.ndims,),
                keepdims=False)                                   # [..., n]
    slots = constant(np.arange(k, dtype=np.int32).reshape(k, 1))
    return make("equal", [expand_dims(rank, -2), slots])


def _chosen_by_rounds(x, k, n, largest):
    """[..., k, n] bool in k rounds: round r takes the first index of the largest
    (smallest) entry not taken before."""
    last = x.shape.ndims - 1
    info = np.finfo(x.dtype.np) if x.dtype.is_float else np.iinfo(x.dtype.np)
    worst = constant(-np.inf if x.dtype.is_float else info.min, x.dtype) if largest else \
        constant(np.inf if x.dtype.is_float else info.max, x.dtype)
    positions = make("iota", [], shape=(n,), axis=0, dtype=T.int64)
    taken, rows = None, []
    for _ in range(k):
        masked = x if taken is None else make("select", [taken, worst, x])
        best = make("reduce_max" if largest else "reduce_min", [masked], axes=(last,),
                    keepdims=True)
        ties = make("equal", [x, best])
        if taken is not None:
            ties = make("logical_and", [ties, make("logical_not", [taken])])
        first = make("argmax", [make("cast", [ties], dtype=T.int32)], axis=last,
                     dtype=T.int64)
        pick = make("equal", [expand_dims(first, -1), positions])     # [..., n]
        taken = pick if taken is None else make("logical_or", [taken, pick])
        rows.append(expand_dims(pick, -2))
    return rows[0] if k == 1 else make("concat", rows, axis=last)


def matrix_determinant(input, name=None):  # noqa: A002  (TF1 argument name)
    """Determinant of each [n, n] matrix in the last two axes (n known at build time,
    floats): Gaussian elimination with partial pivoting, unrolled over n."""
    a = convert_to_tensor(input)
    shape = a.shape
    if not shape.known_rank or shape.ndims < 2:
        raise ValueError(f"MatrixDeterminant: needs a tensor of rank >= 2, got {shape}")
    n, m = shape[-1], shape[-2]
    if not isinstance(n, int) or n != m:
        raise ValueError(f"MatrixDeterminant: needs square matrices of a size known when "
                         f"the graph is built, got {shape}")
    if not a.dtype.is_float:
        raise TypeError(f"MatrixDeterminant: expects floats, got {a.dtype.name}")
    rank = shape.ndims
    dt = a.dtype
    zero, one = constant(0, dt), constant(1, dt)
    with op_scope(name, "MatrixDeterminant", [a]) as scope:
        det = None
        rows = constant(np.arange(n, dtype=np.int64))
        for c in range(n):
            col = _take(a, c, rank - 1, rank)                                # [..., n]
            below = constant(np.arange(n) >= c)
            mag = make("select", [below, make("abs", [col]), constant(-1, dt)])
            p = make("argmax", [mag], axis=rank - 2, dtype=T.int64)         # [...]
            is_p = make("equal", [expand_dims(p, -1), rows])                 # [..., n]
            row_c = _take(a, c, rank - 2, rank)                              # [..., n]
            row_p = make("reduce_sum", [make("select", [
                expand_dims(is_p, -1), a, zero])], axes=(rank - 2,), keepdims=False)
            is_c = constant((np.arange(n) == c).reshape(n, 1))
            a = make("select", [expand_dims(is_p, -1), expand_dims(row_c, -2),
                                make("select", [is_c, expand_dims(row_p, -2), a])])
            pivot = _take(row_p, c, rank - 2, rank - 1)                     # [...]
            swapped = make("not_equal", [p, constant(c, T.int64)])
            step = make("mul", [pivot, make("select", [swapped, constant(-1, dt), one])])
            det = step if det is None else make("mul", [det, step])
            if c == n - 1:
                break
            safe = make("select", [make("equal", [pivot, zero]), one, pivot])
            col = _take(a, c, rank - 1, rank)
            after = constant(np.arange(n) > c)
            f = make("select", [after, make("div", [col, expand_dims(safe, -1)]), zero])
            a = make("sub", [a, make("mul", [expand_dims(f, -1), expand_dims(row_p, -2)])])
        if det is None:   # 0 x 0 matrices
            det = make("reduce_prod", [a], axes=(rank - 2, rank - 1), keepdims=False)
        return identity(det, name=scope)


def _take(x, i, axis, rank):
    """x[..., i, ...] at `axis` of a rank-`rank` x (the axis removed)."""
    assert 0 <= axis < rank
    return make("gather", [x, constant(i, T.int32)], axis=axis)
