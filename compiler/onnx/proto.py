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


#: ONNX element types flowc stores but does not compute with: code -> (name, storage
#: dtype). Every value of the type is exactly a value of the storage dtype (float8,
#: float4 and bfloat16 in float32; int4/int2 in int8; uint4/uint2 in uint8). Only Cast,
#: CastLike, QuantizeLinear and the Constant/initializer/input paths produce them; only
#: Cast, CastLike, DequantizeLinear and the movement ops of `PASS_THROUGH` take them
#: (the importer refuses every other op on them: `STORAGE_CONSUMERS`).
STORAGE = {16: ("bfloat16", T.float32), 17: ("float8e4m3fn", T.float32),
           18: ("float8e4m3fnuz", T.float32), 19: ("float8e5m2", T.float32),
           20: ("float8e5m2fnuz", T.float32), 21: ("uint4", T.uint8), 22: ("int4", T.int8),
           23: ("float4e2m1", T.float32), 24: ("float8e8m0", T.float32),
           25: ("uint2", T.uint8), 26: ("int2", T.int8)}
#: ops that read storage-typed inputs themselves (their converters convert exactly)
STORAGE_CONSUMERS = frozenset({"Cast", "CastLike", "QuantizeLinear", "DequantizeLinear",
                               "Shape", "Size"})
#: movement ops that pass storage-typed values through unchanged: their outputs keep the
#: ONNX type of input 0 (Concat: of all its inputs, which must agree)
PASS_THROUGH = frozenset({"Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
                          "Flatten", "Expand", "Tile", "Slice", "Gather", "GatherElements",
                          "GatherND", "Concat", "Split", "DepthToSpace", "SpaceToDepth",
                          "Compress", "ReverseSequence"})


def type_name(code):
    """The ONNX name of element type `code` ('FLOAT8E4M3FN')."""
    try:
        return onnx().TensorProto.DataType.Name(int(code))
    except ValueError:
        return f"#{int(code)}"


def is_storage(code):
    return code is not None and int(code) in STORAGE


def storage_dtype(code, where):
    """The flowc dtype holding values of ONNX element type `code`: the type itself for
    the types flowc computes with, the storage dtype of `STORAGE` for the others."""
    if code is not None and int(code) in STORAGE:
        return STORAGE[int(code)][1]
    return dtype(code, where)


def to_storage(value):
    """A numpy array of an ml_dtypes storage type (float8, int4, bfloat16...) as its
    flowc storage dtype (exact); anything else (arrays, tensors, lists) unchanged."""
    code = _ML_CODES.get(value.dtype.name) if isinstance(value, np.ndarray) else None
    return value if code is None else value.astype(STORAGE[code][1].np)


def from_storage(value, code):
    """A storage-dtype array as ONNX element type `code`'s numpy/ml_dtypes type (exact:
    the values are on the type's grid)."""
    if not is_storage(code):
        return value
    return np.asarray(value).astype(onnx().helper.tensor_dtype_to_np_dtype(int(code)))


_ML_CODES = {"bfloat16": 16, "float8_e4m3fn": 17, "float8_e4m3fnuz": 18, "float8_e5m2": 19,
             "float8_e5m2fnuz": 20, "uint4": 21, "int4": 22, "float4_e2m1fn": 23,
             "float8_e8m0fnu": 24, "uint2": 25, "int2": 26}


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
    storage_dtype(tensor.data_type, where)
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
    return to_storage(value)


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
    list of ints, dim_param strings, or None (unknown extent). A storage type (`STORAGE`)
    gives its storage dtype."""
    tt = vi.type
    if tt.WhichOneof("value") != "tensor_type":
        kind = {"sequence_type": "a sequence", "optional_type": "an optional",
                "map_type": "a map", "sparse_tensor_type": "a sparse tensor"}.get(
                    tt.WhichOneof("value"), f"of type {tt.WhichOneof('value')}")
        raise TypeError(f"{where}: input {vi.name!r} is {kind}, not a tensor (flowc has no "
                        f"sequence, optional, map or sparse type; it imports tensor inputs "
                        f"only)")
    dt = storage_dtype(tt.tensor_type.elem_type, f"{where} input {vi.name!r}")
    if not tt.tensor_type.HasField("shape"):
        return dt, None
    dims = []
    for d in tt.tensor_type.shape.dim:
        kind = d.WhichOneof("value")
        dims.append(int(d.dim_value) if kind == "dim_value" else
                    d.dim_param if kind == "dim_param" and d.dim_param else None)
    return dt, dims
