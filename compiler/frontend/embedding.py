"""`fc.nn.embedding_lookup`: rows of an embedding table (or of a table split into
partitions) gathered by integer ids, as a composite of `gather`, integer `div`/`mod`
and `select`.

The gradient is the `gather` primitive's: a `scatter_add` of the incoming rows into a
zero table shaped like the params (no dense one-hot anywhere). With several partitions
each id is looked up in every partition with the ids that partition does not own
replaced by 0, and the owning partition's row is selected; the rows of the other
partitions get zero gradient (added at row 0), so each partition's gradient is still one
scatter-add. An id outside [0, total rows) makes the owning partition's gather fail at
run time (`ExecutionError` naming the gather op), as an unpartitioned lookup does.
"""

from __future__ import annotations

from .core import constant, convert_to_tensor, identity, known_shape, make, op_scope
from .partitioned import PartitionedVariable


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True,
                     max_norm=None):
    """Rows of `params` (a tensor, a variable, a list of them holding the table split
    along axis 0, or a PartitionedVariable: its shards) for the int `ids` of any rank:
    the result has shape `ids.shape + params.shape[1:]`. With a list, "mod" puts id `i` in partition
    `i % n` at row `i // n`; "div" gives the partitions contiguous ranges, the first
    `total % n` of them one row more (TF1's rules). `max_norm` clips each looked-up row
    to that L2 norm (TF1's `clip_by_norm` over the row's axes). `validate_indices` is
    accepted and ignored, as in TF1 (ids are always checked)."""
    del validate_indices
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"embedding_lookup: partition_strategy must be 'mod' or 'div', got "
                         f"{partition_strategy!r}")
    if isinstance(params, PartitionedVariable):
        params = params.get_variable_list()
    parts = list(params) if isinstance(params, (list, tuple)) else [params]
    if not parts:
        raise ValueError("embedding_lookup: params must not be an empty list")
    parts = [convert_to_tensor(p) for p in parts]
    idx = convert_to_tensor(ids)
    if idx.dtype.kind != "int":
        raise TypeError(f"embedding_lookup: ids must be integers, got {idx.dtype.name} "
                        f"({idx.name!r})")
    with op_scope(name, "embedding_lookup", parts + [idx]) as scope:
        if len(parts) == 1:
            rows = make("gather", [parts[0], idx], axis=0,
                        name=None if max_norm is not None else scope)
        else:
            rows = _partitioned(parts, idx, partition_strategy,
                                None if max_norm is not None else scope)
        if max_norm is None:
            return rows
        return _clip_rows(rows, idx, max_norm, scope)


def _partitioned(parts, idx, strategy, name):
    n = len(parts)
    shapes = [known_shape(p, "embedding_lookup") for p in parts]
    if any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
        raise ValueError(f"embedding_lookup: the partitions' shapes {[list(s) for s in shapes]}"
                         " must agree in all but the first dimension")

    def c(v):
        return constant(v, dtype=idx.dtype)

    if strategy == "mod":
        owner = make("mod", [idx, c(n)])
        local = make("div", [idx, c(n)])
    else:
        sizes = [s[0] for s in shapes]
        if not all(isinstance(s, int) for s in sizes):
            raise ValueError("embedding_lookup: partition_strategy='div' needs the "
                             "partitions' first dimensions to be static")
        total = sum(sizes)
        per, extras = total // n, total % n
        big = make("div", [idx, c(per + 1)])
        small = make("div", [make("sub", [idx, c(extras)]), c(max(per, 1))])
        owner = make("maximum", [big, small])
        in_big = make("less", [owner, c(extras)])
        local = make("select", [in_big, make("mod", [idx, c(per + 1)]),
                                make("mod", [make("sub", [idx, c(extras)]), c(max(per, 1))])])
        # an id outside [0, total) gets row -1 so that a gather reports it
        outside = make("logical_or", [make("less", [idx, c(0)]),
                                      make("greater_equal", [idx, c(total)])])
        local = make("select", [outside, make("sub", [make("mul", [idx, c(0)]), c(1)]), local])
    # an id that no partition owns goes to the first or last partition, whose gather
    # reports it (its local row is out of range)
    owner = make("minimum", [make("maximum", [owner, c(0)]), c(n - 1)])
    out = None
    for p, table in enumerate(parts):
        mine = make("equal", [owner, c(p)])
        looked = make("gather", [table, make("select", [mine, local, make("mul", [local, c(0)])])],
                      axis=0)
        if out is None:
            out = looked
            continue
        rank_extra = len(shapes[0]) - 1
        cond = mine if rank_extra == 0 else make(
            "reshape", [mine], shape=tuple(mine.shape) + (1,) * rank_extra)
        out = make("select", [cond, looked, out], name=name if p == n - 1 else None)
    return out


def _clip_rows(rows, idx, max_norm, scope):
    """TF1's `clip_by_norm(rows, max_norm, axes=<the row's axes>)`."""
    rank, ids_rank = len(known_shape(rows, "embedding_lookup")), len(known_shape(idx, "e"))
    axes = tuple(range(ids_rank, rank))
    if not axes:
        return identity(rows, name=scope)
    dt = rows.dtype
    l2sum = make("reduce_sum", [make("mul", [rows, rows])], axes=axes, keepdims=True)
    positive = make("greater", [l2sum, constant(0, dt)])
    safe = make("select", [positive, l2sum, make("add", [make("mul", [l2sum, constant(0, dt)]),
                                                         constant(1, dt)])])
    norm = make("select", [positive, make("sqrt", [safe]), l2sum])
    clip = constant(max_norm, dt)
    scaled = make("mul", [rows, clip])
    return make("div", [scaled, make("maximum", [norm, clip])], name=scope)
