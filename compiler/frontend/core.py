"""Frontend core: creating primitive ops in the default graph, and converting Python
values to tensors the way TF1 does.

`make(op_type, inputs, name=None, **attrs)` adds one primitive (shape inference happens
in the graph). `convert_to_tensor(value, dtype=None)` turns numpy arrays, Python scalars
and nested lists into `constant` ops; a Python scalar next to a tensor takes the
tensor's dtype (`binary_operands`). Errors name the value and the expected dtype.
"""

from __future__ import annotations

import numpy as np

from ..ir import dims as D
from ..ir import dtypes as T
from ..ir.const import Const
from ..ir.graph import Graph, Operation, Tensor, get_default_graph


def _graph_of(inputs) -> Graph:
    for t in inputs:
        if isinstance(t, Tensor):
            return t.graph
    return get_default_graph()


def make(op_type, inputs, name=None, **attrs) -> Tensor:
    graph = _graph_of(inputs)
    op = graph.create_op(op_type, list(inputs), attrs, name=name)
    return op.outputs[0]


def make_op(op_type, inputs, name=None, **attrs) -> Operation:
    return _graph_of(inputs).create_op(op_type, list(inputs), attrs, name=name)


def _is_tensor_like(v):
    return isinstance(v, Tensor) or hasattr(v, "_as_graph_element")


def _as_tensor(v):
    while not isinstance(v, Tensor) and hasattr(v, "_as_graph_element"):
        v = v._as_graph_element()
    return v


def _nested_tensors(value):
    if isinstance(value, (list, tuple)):
        return any(_is_tensor_like(v) or _nested_tensors(v) for v in value)
    return False


def constant(value, dtype=None, shape=None, name="Const") -> Tensor:
    dt = T.as_dtype(dtype) if dtype is not None else None
    arr = np.asarray(value)
    if dt is None:
        dt = _default_dtype(arr)
    try:
        arr = np.asarray(value, dtype=dt.np)
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"cannot convert {value!r} to a {dt.name} constant: {e}") from None
    if shape is not None:
        shape = tuple(shape)
        if arr.size == 1:
            arr = np.broadcast_to(arr.reshape(()), shape)
        elif arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise ValueError(f"constant: {arr.size} values do not fill shape {list(shape)}")
    return make("constant", [], name=name, value=Const(arr))


def _default_dtype(arr) -> T.DType:
    if arr.dtype.kind == "f":
        return T.float32 if arr.dtype == np.float64 else T.as_dtype(arr.dtype)
    if arr.dtype.kind in "iu":
        return T.int32 if arr.dtype == np.int64 and _fits_int32(arr) else T.as_dtype(
            arr.dtype if arr.dtype in (np.int32, np.int64) else np.int64)
    if arr.dtype.kind == "b":
        return T.bool_
    raise TypeError(f"cannot convert {arr!r} (numpy dtype {arr.dtype}) to a tensor")


def _fits_int32(arr) -> bool:
    return arr.size == 0 or (arr.min() >= -2**31 and arr.max() < 2**31)


def convert_to_tensor(value, dtype=None, name=None) -> Tensor:
    if _is_tensor_like(value):
        t = _as_tensor(value)
        if dtype is not None and t.dtype is not T.as_dtype(dtype):
            raise TypeError(f"tensor {t.name!r} has dtype {t.dtype.name}, expected "
                            f"{T.as_dtype(dtype).name}")
        return t
    if _nested_tensors(value):
        from .array_ops import stack
        return stack([convert_to_tensor(v, dtype) for v in value])
    if isinstance(value, np.ndarray) and dtype is None:
        return constant(value, dtype=T.as_dtype(value.dtype), name=name or "Const")
    return constant(value, dtype=dtype, name=name or "Const")


def binary_operands(a, b, opname):
    """Convert a pair of operands; a non-tensor takes the other's dtype."""
    if _is_tensor_like(a) and not _is_tensor_like(b):
        a = _as_tensor(a)
        return a, _scalar_like(b, a.dtype, opname)
    if _is_tensor_like(b) and not _is_tensor_like(a):
        b = _as_tensor(b)
        return _scalar_like(a, b.dtype, opname), b
    return convert_to_tensor(a), convert_to_tensor(b)


def _scalar_like(value, dtype, opname):
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and dtype.kind in ("int", "bool"):
        raise TypeError(f"{opname}: cannot mix the float value {value!r} with a "
                        f"{dtype.name} tensor; cast one of them")
    return constant(value, dtype=dtype)


def dims_of(shape):
    """A shape argument (list of ints/None/-1, a TensorShape or a 1-D int tensor's static
    value) as a tuple of dims."""
    if isinstance(shape, Tensor):
        raise TypeError("shape arguments must be static here (a list of ints, or a "
                        "tensor's .shape); got a Tensor")
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    out = []
    for d in shape:
        if isinstance(d, D.DimExpr):
            out.append(d)
        elif d is None:
            raise ValueError("None is not allowed in this shape; use x.shape[i] for a "
                             "symbolic dim")
        else:
            out.append(int(d))
    return tuple(out)
