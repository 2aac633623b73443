"""Reading ONNX protobufs into Python values: element types, attributes, tensors and the
declared shapes of graph inputs. Nothing here builds a graph. `onnx` is imported lazily:
flowc itself runs without it."""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as T


def onnx():
    try:
        import onnx as module
    except ImportError as e:  # pragma: no cover - the test extra installs onnx
        raise ImportError("ONNX models need the `onnx` package: "
                          "pip install 'flowc[onnx]'") from e
    return module


# TensorProto.DataType -> flowc dtype (the element types flowc computes with)
_DTYPES = {1: T.float32, 2: T.uint8, 3: T.int8, 4: T.uint16, 5: T.int16, 6: T.int32,
           7: T.int64, 9: T.bool_, 10: T.float16, 11: T.float64, 12: T.uint32,
           13: T.uint64}
_TO_ONNX = {dt.name: code for code, dt in _DTYPES.items()}


def dtype(code, where):
    """The flowc dtype of ONNX element type `code`; `where` names the culprit."""
    dt = _DTYPES.get(int(code))
    if dt is None:
        name = onnx().TensorProto.DataType.Name(int(code)) if code else "UNDEFINED"
        raise TypeError(f"{where}: ONNX element type {name} is not supported (flowc "
                        f"computes with {', '.join(sorted(_TO_ONNX))})")
    return dt


def onnx_type(dt) -> int:
    """The ONNX element type code of a flowc dtype (for export)."""
    code = _TO_ONNX.get(T.as_dtype(dt).name)
    if code is None:
        raise TypeError(f"flowc dtype {T.as_dtype(dt).name} has no ONNX element type")
    return code


def array(tensor, where, base_dir=None) -> np.ndarray:
    """A TensorProto as a numpy array of a flowc dtype (external data read from
    `base_dir`), checked against its declared dims."""
    nh = onnx().numpy_helper
    dtype(tensor.data_type, where)
    if tensor.HasField("data_location") and tensor.data_location == 1:
        if base_dir is None:
            raise ValueError(f"{where}: tensor {tensor.name!r} keeps its data in an external "
                             f"file; load the model from its path")
        from onnx.external_data_helper import load_external_data_for_tensor
        load_external_data_for_tensor(tensor, base_dir)
    try:
        value = nh.to_array(tensor)
    except Exception as e:
        raise ValueError(f"{where}: tensor {tensor.name!r} cannot be read: {e}") from e
    if list(value.shape) != list(tensor.dims):
        raise ValueError(f"{where}: tensor {tensor.name!r} holds shape {list(value.shape)}, "
                         f"declares {list(tensor.dims)}")
    return value


def sparse_array(sparse, where, base_dir=None) -> np.ndarray:
    """A SparseTensorProto as a dense numpy array (indices linear [NNZ] or [NNZ, rank])."""
    values = array(sparse.values, where, base_dir).reshape(-1)
    dims = [int(d) for d in sparse.dims]
    idx = onnx().numpy_helper.to_array(sparse.indices).astype(np.int64)
    dense = np.zeros(dims, values.dtype)
    size = dense.size
    if idx.ndim == 1 and idx.shape[0] == values.size:
        if np.any((idx < 0) | (idx >= size)):
            raise ValueError(f"{where}: sparse indices fall outside a tensor of {size} "
                             f"elements")
        dense.reshape(-1)[idx] = values
    elif idx.ndim == 2 and idx.shape == (values.size, len(dims)):
        if np.any((idx < 0) | (idx >= np.array(dims, np.int64))):
            raise ValueError(f"{where}: sparse indices fall outside the shape {dims}")
        dense[tuple(idx.T)] = values
    else:
        raise ValueError(f"{where}: sparse indices of shape {list(idx.shape)} do not fit "
                         f"{values.size} values of a tensor of shape {dims}")
    return dense


def attributes(node, where, base_dir=None) -> dict:
    """The node's attributes as Python values: ints, floats, str, lists of them, numpy
    arrays for tensors, GraphProtos for subgraphs."""
    A = onnx().AttributeProto
    out = {}
    for a in node.attribute:
        if a.ref_attr_name:
            raise ValueError(f"{where}: attribute {a.name!r} refers to a function attribute")
        t = a.type
        if t == A.INT:
            out[a.name] = int(a.i)
        elif t == A.FLOAT:
            out[a.name] = float(a.f)
        elif t == A.STRING:
            out[a.name] = a.s.decode("utf-8", "replace")
        elif t == A.INTS:
            out[a.name] = [int(v) for v in a.ints]
        elif t == A.FLOATS:
            out[a.name] = [float(v) for v in a.floats]
        elif t == A.STRINGS:
            out[a.name] = [s.decode("utf-8", "replace") for s in a.strings]
        elif t == A.TENSOR:
            out[a.name] = array(a.t, f"{where} attribute {a.name!r}", base_dir)
        elif t == A.SPARSE_TENSOR:
            out[a.name] = sparse_array(a.sparse_tensor, f"{where} attribute {a.name!r}",
                                       base_dir)
        elif t == A.GRAPH:
            out[a.name] = a.g
        elif t == A.GRAPHS:
            out[a.name] = list(a.graphs)
        else:
            raise ValueError(f"{where}: attribute {a.name!r} has type "
                             f"{A.AttributeType.Name(t)}, which flowc does not read")
    return out


def value_info_type(vi, where):
    """(dtype, dims) of a graph input's ValueInfo: dims is None for an unknown rank, else a
    list of ints, dim_param strings, or None (unknown extent)."""
    tt = vi.type
    if tt.WhichOneof("value") != "tensor_type":
        kind = {"sequence_type": "a sequence", "optional_type": "an optional",
                "map_type": "a map", "sparse_tensor_type": "a sparse tensor"}.get(
                    tt.WhichOneof("value"), f"of type {tt.WhichOneof('value')}")
        raise TypeError(f"{where}: input {vi.name!r} is {kind}, not a tensor (flowc has no "
                        f"sequence, optional, map or sparse type; it imports tensor inputs "
                        f"only)")
    dt = dtype(tt.tensor_type.elem_type, f"{where} input {vi.name!r}")
    if not tt.tensor_type.HasField("shape"):
        return dt, None
    dims = []
    for d in tt.tensor_type.shape.dim:
        kind = d.WhichOneof("value")
        dims.append(int(d.dim_value) if kind == "dim_value" else
                    d.dim_param if kind == "dim_param" and d.dim_param else None)
    return dt, dims
