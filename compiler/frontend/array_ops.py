"""Array ops of the TF1 API: placeholders, shapes, movement and indexing."""

from __future__ import annotations

from ..ir import dtypes as T
from ..ir.graph import get_default_graph
from .core import convert_to_tensor, make


def placeholder(dtype, shape=None, name=None):
    """A value fed at run time. `None` dims are symbolic (one compile serves every
    extent); `shape=None` means unknown rank (compiled once per fed rank)."""
    dtype = T.as_dtype(dtype)
    graph = get_default_graph()
    dims = None
    if shape is not None:
        if isinstance(shape, int):
            shape = (shape,)
        dims = []
        for axis, d in enumerate(shape):
            if d is None or (isinstance(d, int) and d == -1):
                s = graph.symbols.new_symbol(f"{name or 'Placeholder'}[{axis}]")
                from ..ir.dims import DimExpr
                dims.append(DimExpr.atom(s))
            else:
                dims.append(int(d))
        dims = tuple(dims)
    return make("placeholder", [], name=name or "Placeholder", dtype=dtype, shape=dims)


def stack(values, axis=0, name="stack"):
    raise NotImplementedError("stack")  # filled in with the rest of array_ops


__all__ = ["placeholder", "convert_to_tensor"]
