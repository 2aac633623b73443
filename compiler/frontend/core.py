"""Frontend core: creating primitive ops in the default graph, and converting Python
values to tensors the way TF1 does.

`make(op_type, inputs, name=None, **attrs)` adds one primitive (shape inference happens
in the graph). A `name` ending in "/" (what `op_scope` yields) is used as the op's exact
name, as in TF1, so a composite's result carries the name the user gave it.
`convert_to_tensor(value, dtype=None)` turns numpy arrays, Python scalars and nested
lists into `constant` ops; a Python scalar next to a tensor takes the tensor's dtype
(`binary_operands`). Errors name the value and the expected dtype. A list holding
tensors is stacked, so `stack` (with `expand_dims`) and `identity` live here, below every
other frontend module (manip_ops and control_flow re-export them).

Shared argument helpers live here too: `op_scope` (the name scope of a composite),
`known_shape`, `normalize_axis`.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..ir import dims as D
from ..ir import dtypes as T
from ..ir.const import Const
from ..ir.types import TensorType
from .deferred import deferred, rank_unknown
from .graph import Graph, Operation, Tensor, get_default_graph


def _graph_of(inputs) -> Graph:
    for t in inputs:
        if isinstance(t, Tensor):
            return t.graph
    return get_default_graph()


def make(op_type, inputs, name=None, **attrs) -> Tensor:
    """Add the primitive `op_type` to the graph of `inputs` (else the default graph) and
    return its output; shape errors raise from the op table, naming the op."""
    return make_op(op_type, inputs, name=name, **attrs).outputs[0]


def make_op(op_type, inputs, name=None, **attrs) -> Operation:
    """Like `make`, returning the Operation."""
    return create_op(op_type, inputs, attrs, name)


def create_op(op_type, inputs, attrs, name, out_type=None) -> Operation:
    """`Graph.create_op` in the graph of `inputs`, honouring a trailing "/" in `name`;
    `out_type` is given for the user-graph-only op types (identity, ...)."""
    graph = _graph_of(inputs)
    if name and name.endswith("/"):
        return graph.create_op(op_type, list(inputs), attrs, name=_free_name(graph, name[:-1]),
                               out_type=out_type, exact_name=True)
    return graph.create_op(op_type, list(inputs), attrs, name=name, out_type=out_type)


def _free_name(graph: Graph, base: str) -> str:
    """`base` if no op has that exact name yet, else `base_1`, `base_2`, ..."""
    candidate, k = base, 0
    while True:
        try:
            graph.get_operation_by_name(candidate)
        except KeyError:
            return candidate
        k += 1
        candidate = f"{base}_{k}"


@contextlib.contextmanager
def op_scope(name, default_name, values=()):
    """Name scope of a composite op (TF1's `ops.name_scope(name, default, values)`).

    Yields the scope string ("loss/"); passing it as the `name` of the composite's last
    primitive gives that op the scope's name ("loss"), so `name=` of a composite names
    its result tensor ("loss:0") while the intermediate ops live under "loss/"."""
    graph = _graph_of([_as_tensor(v) for v in values])
    with graph.as_default(), graph.name_scope(name or default_name) as scope:
        yield scope


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
    """A tensor holding `value`. Without `dtype`: numpy arrays and scalars keep their
    dtype; Python floats become float32 and Python ints int32 (int64 when too large),
    as in TF1. `shape` reshapes the values or broadcasts a single one."""
    dt = T.as_dtype(dtype) if dtype is not None else None
    if dt is T.string or (dt is None and _is_text(value)):
        return _string_constant(value, shape, name)
    arr = np.asarray(value)
    if dt is None:
        dt = _numpy_dtype(value) or _default_dtype(arr)
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


#: the user-graph-only op of a string constant: a host value (compiler/session.py fetches
#: it without compiling; summaries read it), never converted to the compiler IR
STRING_CONST = "StringConst"


def _is_text(value) -> bool:
    """A str/bytes, a (nested) list of them, or a numpy array of strings."""
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "US" or (value.dtype.kind == "O" and value.size > 0 and
                                           isinstance(value.flat[0], (str, bytes)))
    if isinstance(value, (list, tuple)) and value and not _nested_tensors(value):
        return _is_text(value[0])
    return False


def _string_constant(value, shape, name) -> Tensor:
    """A host string tensor: TF1's `tf.constant("text")`, values kept as bytes (UTF-8)."""
    arr = np.asarray(value, dtype=object)
    flat = []
    for v in arr.reshape(-1):
        if isinstance(v, (str, np.str_)):
            flat.append(str(v).encode("utf-8"))
        elif isinstance(v, (bytes, np.bytes_)):
            flat.append(bytes(v))
        else:
            raise TypeError(f"cannot convert {value!r} to a string constant: {v!r} is "
                            f"{type(v).__name__}, not str or bytes")
    data = np.empty(len(flat), dtype=object)
    data[:] = flat
    data = data.reshape(arr.shape)
    if shape is not None:
        shape = tuple(shape)
        if data.size == 1:
            data = np.array(np.broadcast_to(data.reshape(()), shape))
        elif data.size != int(np.prod(shape)):
            raise ValueError(f"constant: {data.size} values do not fill shape {list(shape)}")
        data = data.reshape(shape)
    op = create_op(STRING_CONST, [], {"value": data}, name,
                   out_type=TensorType(T.string, data.shape))
    return op.outputs[0]


def string_value(tensor: Tensor):
    """The host value of a string constant as TF1's Session returns it: `bytes` for a
    scalar, a numpy object array of `bytes` otherwise."""
    data = tensor.op.attrs["value"]
    return data.item() if data.ndim == 0 else data.copy()


def _numpy_dtype(value):
    """The flowc dtype of a numpy array or scalar, None for other values."""
    if not isinstance(value, (np.ndarray, np.generic)):
        return None
    try:
        return T.as_dtype(value.dtype)
    except TypeError:
        return None


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
        return stack([convert_to_tensor(v, dtype) for v in value])
    if isinstance(value, np.ndarray) and dtype is None:
        return constant(value, dtype=T.as_dtype(value.dtype), name=name or "Const")
    return constant(value, dtype=dtype, name=name or "Const")


def identity(input, name=None) -> Tensor:  # noqa: A002  (TF1 argument name)
    """A new tensor with the value of `input` (a fetchable, feedable alias)."""
    t = convert_to_tensor(input)
    return create_op("identity", [t], {}, name or "Identity", out_type=t.type).outputs[0]


def _convert_list(values, opname):
    """Convert a list of values; Python values take the dtype of the first tensor."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{opname}: expects a non-empty list of tensors")
    dtype = next((_as_tensor(v).dtype for v in values
                  if isinstance(v, Tensor) or hasattr(v, "_as_graph_element")), None)
    return [convert_to_tensor(v) if isinstance(v, Tensor) or dtype is None
            or hasattr(v, "_as_graph_element") else convert_to_tensor(v, dtype)
            for v in values]


def stack(values, axis=0, name="stack") -> Tensor:
    """Stack rank-R tensors of one shape into a rank-(R+1) tensor along a new `axis`."""
    tensors = _convert_list(values, "stack")
    if rank_unknown(*tensors):
        return deferred(lambda *ts: stack(list(ts), axis), tensors, tensors[0].dtype,
                        name=name)
    shape = known_shape(tensors[0], "stack")
    axis = normalize_axis(axis, len(shape) + 1, "stack")
    for k, t in enumerate(tensors[1:], start=1):
        if t.shape.ndims != len(shape):
            raise ValueError(f"stack: input {k} has shape {list(t.shape)}, input 0 has "
                             f"{list(shape)}")
    with op_scope(name, "stack", tensors) as scope:
        parts = [expand_dims(t, axis) for t in tensors]
        if len(parts) == 1:
            return identity(parts[0], name=scope)
        return make("concat", parts, name=scope, axis=axis)


def expand_dims(input, axis=None, name=None, dim=None) -> Tensor:  # noqa: A002
    """Insert an axis of extent 1 at `axis` (in [-rank-1, rank])."""
    x = convert_to_tensor(input)
    axis = dim if axis is None else axis
    if axis is None:
        raise ValueError("expand_dims: axis is required")
    if rank_unknown(x):
        return deferred(lambda t: expand_dims(t, axis), [x], x.dtype, name=name or "ExpandDims")
    shape = known_shape(x, "ExpandDims")
    axis = normalize_axis(axis, len(shape) + 1, "ExpandDims")
    new = shape[:axis] + (1,) + shape[axis:]
    return make("reshape", [x], name=name or "ExpandDims", shape=new)


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


def dims_of(shape, opname="shape") -> tuple:
    """A shape argument as a tuple of dims (ints and symbolic `DimExpr`s).

    Accepts an int, a list/tuple/TensorShape/numpy array of ints and dims (`x.shape[i]`),
    and int tensors whose value is known at build time (`fc.shape(x)`, `fc.shape(x)[0]`,
    constants; see `static.py`). -1 is kept (reshape resolves it). A `None` entry or a
    tensor known only at run time raises, naming `opname`."""
    from .static import is_int_like, static_dims
    if isinstance(shape, Tensor) or hasattr(shape, "_as_graph_element"):
        t = _as_tensor(shape)
        vals = static_dims(t)
        if vals is None or t.shape.ndims != 1:
            raise TypeError(f"{opname}: the shape {t.name!r} is only known at run time; "
                            "flowc needs shapes at build time (use x.shape[i] or "
                            "fc.shape(x)[i] for a symbolic dim)")
        return tuple(vals)
    if is_int_like(shape):
        return (int(shape),)
    if getattr(shape, "known_rank", True) is False:
        raise ValueError(f"{opname}: the shape has unknown rank")
    return tuple(_dim_of(d, opname) for d in shape)


def _dim_of(d, opname):
    from .static import is_int_like, static_dims
    if isinstance(d, D.DimExpr) or is_int_like(d):
        return d if isinstance(d, D.DimExpr) else int(d)
    if d is None:
        raise ValueError(f"{opname}: None is not allowed in this shape; use x.shape[i] for "
                         "a symbolic dim")
    if isinstance(d, Tensor) or hasattr(d, "_as_graph_element"):
        t = _as_tensor(d)
        vals = static_dims(t)
        if vals is not None and t.shape.ndims == 0:
            return vals[0]
        raise TypeError(f"{opname}: the dim {t.name!r} is only known at run time; flowc "
                        "needs shapes at build time")
    raise TypeError(f"{opname}: cannot use {d!r} as a dimension")


def known_shape(x: Tensor, opname: str) -> tuple:
    """The shape of `x` as a tuple of dims; TypeError naming `opname` for unknown rank."""
    shape = x.shape
    if not shape.known_rank:
        raise TypeError(f"{opname}: {x.name!r} has unknown rank; this op needs its rank "
                        "(give the placeholder a shape)")
    return tuple(shape)


def normalize_axis(axis, rank: int, opname: str) -> int:
    """`axis` in [-rank, rank) as a non-negative int; ValueError naming `opname`."""
    if isinstance(axis, Tensor):
        raise TypeError(f"{opname}: axis must be a Python int, not a Tensor")
    axis = int(axis)
    if not -rank <= axis < rank:
        raise ValueError(f"{opname}: axis {axis} is out of range for a tensor of rank {rank}")
    return axis % rank


def static_dim(d) -> int | None:
    """`d` as an int when it is static, else None."""
    return d if isinstance(d, int) else None
