"""`fc.map_fn`, `fc.scan`, `fc.foldl`, `fc.foldr`: TF1's higher-order functions, each one
`while_loop` over the leading axis of `elems` with TensorArrays for the per-step values.

`elems` may be a nest (lists, tuples, namedtuples, dicts) of tensors with one leading
extent n, which may be symbolic (`x.shape[0]` of a placeholder): the loop runs n times
and compiles once for every n. `fn` is traced inside the loop body, as TF1 does; for
`map_fn` the shapes of its results (collected in TensorArrays that are loop variables)
come from while_loop's probe trace of the body, so `fn` runs twice at graph-build time
and should not create variables. Gradients flow through the loop like through any
`while_loop` (docs/autodiff.md). Nothing here runs a graph.
"""

from __future__ import annotations

from ..ir import dtypes as T
from . import control_flow as _cf
from .array_ops import shape as _shape
from .core import constant, convert_to_tensor, op_scope
from .graph import Tensor
from .nest import flatten
from .nest import pack_sequence_as as pack_as
from .tensor_array import TensorArray


def _leading(elems, opname):
    """(flat tensors, leading extent as a scalar int32 tensor, as a dim)."""
    flat = [convert_to_tensor(e) for e in flatten(elems)]
    if not flat:
        raise ValueError(f"{opname}: elems must hold at least one tensor")
    dims = []
    for t in flat:
        if not t.shape.known_rank or t.shape.ndims < 1:
            raise ValueError(f"{opname}: every tensor of elems must have rank >= 1 (the "
                             f"axis {opname} runs over); {t.name!r} has shape {t.shape}")
        dims.append(t.shape[0])
    for t, d in zip(flat[1:], dims[1:]):
        if isinstance(d, int) and isinstance(dims[0], int) and d != dims[0]:
            raise ValueError(f"{opname}: the tensors of elems have different leading "
                             f"extents ({dims[0]} and {d}, {t.name!r})")
    n = dims[0]
    n_t = constant(n, dtype=T.int32) if isinstance(n, int) else \
        _shape(flat[0], out_type=T.int32)[0]
    return flat, n_t, n


def _unstacked(flat, n):
    return [TensorArray(t.dtype, size=n, element_shape=list(t.shape)[1:]).unstack(t)
            for t in flat]


def _read_all(tas, i):
    return [ta.read(i) for ta in tas]


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True,
           swap_memory=False, infer_shape=True, name=None):
    """TF1's map_fn: `fn` on each element of `elems` (unstacked on axis 0), results
    stacked. `dtype` (a nest of dtypes) gives the output structure when it differs from
    elems'."""
    with op_scope(name, "map", flatten(elems)):
        flat, n_t, n = _leading(elems, "map_fn")
        in_tas = _unstacked(flat, n)
        out_struct = dtype if dtype is not None else elems
        out_dtypes = [T.as_dtype(d) if dtype is not None else d.dtype
                      for d in flatten(out_struct)]
        # element shapes unknown: while_loop's probe trace finds them (tensor_array.py)
        out_tas = [TensorArray(dt, size=n) for dt in out_dtypes]

        def body(i, tas):
            y = [convert_to_tensor(v) for v in flatten(fn(pack_as(elems,
                                                                  _read_all(in_tas, i))))]
            if len(y) != len(out_dtypes):
                raise ValueError(f"map_fn: fn returned {len(y)} tensors, the output "
                                 f"structure (dtype=, else elems) has {len(out_dtypes)}")
            for v, dt in zip(y, out_dtypes):
                if v.dtype is not dt:
                    raise TypeError(f"map_fn: fn returned {v.dtype.name} where {dt.name} "
                                    "was expected (pass dtype= when fn changes the dtype)")
            return i + 1, [ta.write(i, v) for ta, v in zip(tas, y)]
        _, out_tas = _cf.while_loop(
            lambda i, tas: i < n_t, body, (constant(0, dtype=T.int32), out_tas),
            maximum_iterations=n_t, parallel_iterations=parallel_iterations or 10,
            back_prop=back_prop, swap_memory=swap_memory)
        return pack_as(out_struct, [ta.stack() for ta in out_tas])


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
         swap_memory=False, infer_shape=True, reverse=False, name=None):
    """TF1's scan: a = fn(a, x) over the elements (from the last with `reverse`); returns
    every a stacked. Without `initializer`, a starts as the first element (the last with
    `reverse`), which is also the first output."""
    with op_scope(name, "scan", flatten(elems)):
        flat, n_t, n = _leading(elems, "scan")
        in_tas = _unstacked(flat, n)
        one = constant(1, dtype=T.int32)
        if initializer is None:
            start = n_t - one if reverse else constant(0, dtype=T.int32)
            init_struct = elems
            a0 = [ta.read(start) for ta in in_tas]
        else:
            init_struct = initializer
            a0 = [convert_to_tensor(a) for a in flatten(initializer)]
        out_tas = [TensorArray(a.dtype, size=n, element_shape=list(a.shape)) for a in a0]
        if initializer is None:
            out_tas = [ta.write(start, a) for ta, a in zip(out_tas, a0)]
            first = one
        else:
            first = constant(0, dtype=T.int32)

        def body(k, acc, tas):
            i = n_t - one - k if reverse else k
            new = fn(pack_as(init_struct, acc), pack_as(elems, _read_all(in_tas, i)))
            new = [convert_to_tensor(v) for v in flatten(new)]
            _check_like(new, acc, "scan")
            return k + one, new, [ta.write(i, v) for ta, v in zip(tas, new)]
        _, _, out_tas = _cf.while_loop(
            lambda k, acc, tas: k < n_t, body, (first, a0, out_tas),
            maximum_iterations=n_t, parallel_iterations=parallel_iterations or 10,
            back_prop=back_prop, swap_memory=swap_memory)
        return pack_as(init_struct, [ta.stack() for ta in out_tas])


def _fold(fn, elems, initializer, reverse, opname, parallel_iterations, back_prop,
          swap_memory, name):
    with op_scope(name, opname, flatten(elems)):
        flat, n_t, n = _leading(elems, opname)
        in_tas = _unstacked(flat, n)
        one = constant(1, dtype=T.int32)
        if initializer is None:
            init_struct = elems
            a0 = [ta.read(n_t - one if reverse else 0) for ta in in_tas]
            first = one
        else:
            init_struct = initializer
            a0 = [convert_to_tensor(a) for a in flatten(initializer)]
            first = constant(0, dtype=T.int32)

        def body(k, acc):
            i = n_t - one - k if reverse else k
            new = fn(pack_as(init_struct, acc), pack_as(elems, _read_all(in_tas, i)))
            new = [convert_to_tensor(v) for v in flatten(new)]
            _check_like(new, acc, opname)
            return k + one, new
        _, acc = _cf.while_loop(
            lambda k, acc: k < n_t, body, (first, a0), maximum_iterations=n_t,
            parallel_iterations=parallel_iterations or 10, back_prop=back_prop,
            swap_memory=swap_memory)
        return pack_as(init_struct, acc)


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """TF1's foldl: a = fn(a, x) from the first element to the last; returns a."""
    return _fold(fn, elems, initializer, False, "foldl", parallel_iterations, back_prop,
                 swap_memory, name)


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """TF1's foldr: a = fn(a, x) from the last element to the first; returns a."""
    return _fold(fn, elems, initializer, True, "foldr", parallel_iterations, back_prop,
                 swap_memory, name)


def _check_like(new, acc, opname):
    if len(new) != len(acc):
        raise ValueError(f"{opname}: fn returned {len(new)} tensors, the accumulator has "
                         f"{len(acc)}")
    for a, b in zip(new, acc):
        if not isinstance(a, Tensor) or a.dtype is not b.dtype:
            raise TypeError(f"{opname}: fn returned {getattr(a, 'dtype', a)} where the "
                            f"accumulator is {b.dtype.name} ({b.name!r})")


__all__ = ["map_fn", "scan", "foldl", "foldr"]
