"""GraphDef protobufs of the graph models in compiler/viz/model.py, for TensorBoard.

Each node becomes a NodeDef: its full scoped name (TensorBoard collapses name scopes
by "/"), its op type, its inputs (`^name` for control inputs), its device and the attrs
`dtype` (sources) or `T` (every other op), `_output_shapes` (unknown dims are -1),
`loc` (the user's file:line), `_class` (TF1's colocation groups, a list(s) of
"loc:@name", for an op made under `colocate_with`) and its simple op attrs. In the
fused graph the kernel scopes `kernel_<n>_<kind>` are groups, and every node has
`kernel` and `fusion_reason`.
"""

from __future__ import annotations

import json

import numpy as np

from ..ir import dims as D
from ..ir.const import Const
from ..ir.dtypes import DType
from . import proto

SOURCE_OPS = ("placeholder", "variable", "constant", "placeholder_with_default")


def _attr(value) -> bytes:
    if isinstance(value, bool):
        return proto.attr_bool(value)
    if isinstance(value, int):
        return proto.attr_int(value)
    if isinstance(value, float):
        return proto.attr_float(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return proto.attr_strings(value)
    if isinstance(value, list):
        return proto.attr_ints(value)
    return proto.attr_string(str(value))


def node_def(node) -> bytes:
    attrs = {key: _attr(value) for key, value in node.attrs.items()
             if key not in ("dtype", "T")}
    if node.dtype:
        attrs["dtype" if node.op in SOURCE_OPS else "T"] = proto.attr_type(node.dtype)
    if node.shape is not None or node.dtype:
        shape = None if node.shape is None else \
            [d if isinstance(d, int) else -1 for d in node.shape]
        attrs["_output_shapes"] = proto.attr_shapes([shape])
    if node.loc:
        attrs["loc"] = proto.attr_string(node.loc)
    if node.kernel >= 0:
        attrs["kernel"] = proto.attr_int(node.kernel)
    if node.reason:
        attrs["fusion_reason"] = proto.attr_string(node.reason)
    if node.placed:
        attrs["placed_device"] = proto.attr_string(node.placed)
        attrs["placement"] = proto.attr_string(node.placement)
    inputs = list(node.inputs) + ["^" + c for c in node.control]
    # the device field: the user's device string as TF1 writes it, else the placed device
    return proto.node_def(node.name, node.op, inputs, node.device or node.placed, attrs)


def graph_def(stage) -> bytes:
    """The serialized GraphDef of a `compiler.viz.model.Stage`."""
    return proto.graph_def([node_def(n) for n in stage.nodes])


def user_graph_def(graph) -> bytes:
    """The serialized GraphDef of every op of a user `Graph`."""
    from ..viz.model import user_stage
    return graph_def(user_stage(graph.get_operations()))


# ---- the lossless form of a user graph (meta graphs, compiler/train/meta_graph.py) ---------
#: NodeDef attr holding the op's attrs exactly, as tagged JSON (see `_tag`)
FLOWC_ATTRS = "_flowc_attrs"
#: NodeDef attr holding the op's output type, JSON [dtype, dims or null] or null (no output)
FLOWC_OUT = "_flowc_out"
#: NodeDef attr naming an attr flowc could not encode (the node cannot be rebuilt)
FLOWC_UNENCODABLE = "_flowc_unencodable"
#: TF1's colocation attr: a list(s) of "loc:@op_name" (`colocate_with`)
COLOCATION = "_class"


class _Unencodable(Exception):
    pass


def _tag(value, resolve):
    """Tagged JSON of one attr value: ["b"|"i"|"f"|"s", v], ["n"] (None), ["t", dtype],
    ["d", dim JSON (compiler/ir/dims.py to_json, symbols resolved)], ["tuple"|"list",
    [tagged]]. Constants travel as TensorProto attrs (["c"])."""
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()   # numpy scalars travel as Python numbers
    if value is None:
        return ["n"]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", int(value)]
    if isinstance(value, float):
        return ["f", value]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, DType):
        return ["t", value.name]
    if isinstance(value, (D.DimExpr, D.Sym)):
        return ["d", D.to_json(resolve(D.DimExpr.lift(value)))]
    if isinstance(value, (tuple, list)):
        return ["tuple" if isinstance(value, tuple) else "list",
                [_tag(v, resolve) for v in value]]
    raise _Unencodable(type(value).__name__)


def tensor_proto(array) -> bytes:
    """TensorProto {dtype = 1, tensor_shape = 2, tensor_content = 4 (little-endian bytes)}."""
    arr = np.array(array, order="C")  # (ascontiguousarray makes a 0-d array 1-d)
    code = proto.DATA_TYPES.get(arr.dtype.name)
    if code is None:
        raise _Unencodable(f"a {arr.dtype} constant")
    data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    return (proto.int_field(1, code) + proto.bytes_field(2, proto.tensor_shape(arr.shape))
            + proto.bytes_field(4, data))


def op_node_def(op, clear_devices: bool = False) -> bytes:
    """The NodeDef of user Operation `op` that `parse_node_def` reads back exactly: the
    TensorBoard form (typed attrs, `_output_shapes`, `loc`, `_class` when colocated) plus
    FLOWC_ATTRS, FLOWC_OUT and each constant as a `tensor` AttrValue."""
    from ..viz.model import simple_attrs
    resolve = op.graph.symbols.resolve
    attrs = {key: _attr(value) for key, value in simple_attrs(op.attrs).items()
             if key not in ("dtype", "T")}
    tagged = {}
    try:
        for key, value in op.attrs.items():
            if isinstance(value, Const):
                attrs[key] = proto.bytes_field(8, tensor_proto(value.array))
                tagged[key] = ["c"]
            else:
                tagged[key] = _tag(value, resolve)
    except _Unencodable as e:
        attrs[FLOWC_UNENCODABLE] = proto.attr_string(f"attr {key!r} holds {e}")
    out = None
    if op.outputs:
        t = op.outputs[0]
        shape = t.type.shape
        out = [t.dtype.name, None if shape is None else
               [D.to_json(resolve(D.DimExpr.lift(d))) if not isinstance(d, int) else d
                for d in shape]]
        attrs["dtype" if op.type in SOURCE_OPS else "T"] = proto.attr_type(t.dtype.name)
        attrs["_output_shapes"] = proto.attr_shapes(
            [None if shape is None else [d if isinstance(d, int) else -1 for d in shape]])
    attrs[FLOWC_ATTRS] = proto.attr_string(json.dumps(tagged, sort_keys=True))
    attrs[FLOWC_OUT] = proto.attr_string(json.dumps(out))
    if op.loc:
        attrs["loc"] = proto.attr_string(op.loc)
    if op._colocation:
        attrs[COLOCATION] = proto.attr_strings(op._colocation)
    inputs = [t.op.name if t.value_index == 0 else t.name for t in op.inputs]
    inputs += ["^" + c.name for c in op.control_inputs]
    return proto.node_def(op.name, op.type, inputs, "" if clear_devices else op.device, attrs)


class NodeSpec:
    """A NodeDef read back: name, op, inputs (tensor names), control (op names), device,
    attr (AttrValue field dicts by name), and for flowc-written nodes `flowc_attrs` (tagged
    JSON), `out` (JSON) and `consts` ({attr: ndarray}); `unencodable` when flowc could
    not write it exactly."""

    def __init__(self, name, op, inputs, control, device, attr):
        self.name, self.op, self.inputs, self.control = name, op, inputs, control
        self.device, self.attr = device, attr

    def _string(self, key):
        value = self.attr.get(key)
        return None if value is None or 2 not in value else value[2][-1].decode("utf-8")

    @property
    def flowc_attrs(self):
        text = self._string(FLOWC_ATTRS)
        return None if text is None else json.loads(text)

    @property
    def out(self):
        text = self._string(FLOWC_OUT)
        return None if text is None else json.loads(text)

    @property
    def unencodable(self):
        return self._string(FLOWC_UNENCODABLE)

    @property
    def loc(self):
        return self._string("loc") or ""

    @property
    def colocation(self) -> list:
        """The "loc:@name" groups of TF1's `_class` attr (a list(s)), [] without one."""
        value = self.attr.get(COLOCATION)
        if value is None or 1 not in value:
            return []
        return [s.decode("utf-8") for s in proto.fields(value[1][-1]).get(2, [])]

    def const(self, key):
        """The ndarray of the `tensor` AttrValue `key`."""
        return parse_tensor_proto(self.attr[key][8][-1])


def parse_tensor_proto(data):
    msg = proto.fields(data)
    code = msg.get(1, [0])[-1]
    names = {v: k for k, v in proto.DATA_TYPES.items()}
    name = names.get(code)
    if name is None or name in ("string", "bfloat16"):
        raise ValueError(f"a constant of DataType {code} is not supported")
    shape_msg = proto.fields(msg.get(2, [b""])[-1])
    shape = tuple(proto.as_int64(proto.fields(d).get(1, [0])[-1]) for d in shape_msg.get(2, []))
    if any(d < 0 for d in shape):
        raise ValueError(f"a constant has shape {list(shape)}")
    dtype = np.dtype(name)
    content = msg.get(4, [b""])[-1]
    count = 1
    for d in shape:
        count *= d
    if len(content) != count * dtype.itemsize:
        raise ValueError(f"a constant's content has {len(content)} bytes, its shape needs "
                         f"{count * dtype.itemsize}")
    arr = np.frombuffer(content, dtype=dtype.newbyteorder("<")).astype(dtype)
    return arr.reshape(shape)


def parse_node_def(data) -> NodeSpec:
    """Read a NodeDef (from flowc or not); raises ValueError when it is malformed."""
    msg = proto.fields(data)
    inputs, control = [], []
    for raw in msg.get(3, []):
        name = raw.decode("utf-8")
        (control if name.startswith("^") else inputs).append(name.lstrip("^"))
    attr = {}
    for entry in msg.get(5, []):
        kv = proto.fields(entry)
        attr[kv.get(1, [b""])[-1].decode("utf-8")] = proto.fields(kv.get(2, [b""])[-1])
    return NodeSpec(msg.get(1, [b""])[-1].decode("utf-8"), msg.get(2, [b""])[-1].decode("utf-8"),
                    inputs, control, msg.get(4, [b""])[-1].decode("utf-8"), attr)
