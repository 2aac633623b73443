"""Meta graphs: `export_meta_graph(filename)` writes the user graph as TF1's
MetaGraphDef; `rebuild(path)` (behind `tf.train.import_meta_graph`, saver.py) rebuilds a
graph flowc wrote in the default graph, and says what Saver its variables need.

MetaGraphDef (tensorflow/core/protobuf/meta_graph.proto) as flowc writes it:
meta_info_def = 1 {meta_graph_version = 1 "flowc", tensorflow_version = 5},
graph_def = 2 (the GraphDef of every user op, compiler/summary/graphdef.py `op_node_def`:
TensorBoard's form plus the exact attrs and output type), saver_def = 3 {max_to_keep = 4,
keep_checkpoint_every_n_hours = 6, version = 7 (V2)}, collection_def = 4 (map entries
{key = 1, value = 2}): a collection of Variables is a bytes_list (2) of VariableDef
{variable_name = 1, initializer_name = 2, snapshot_name = 3, save_slice_info_def = 4 (a
partitioned variable's shard: {full_name = 1, full_shape = 2, var_offset = 3, var_shape =
4}), initial_value_name = 6, trainable = 7}; one of tensors and operations a node_list
(1) of their names; other collections (Python objects) are not written. The Saver's
var_list keys travel in the collection `_flowc_saver_var_list` (bytes_list of JSON
[key, variable name], or [key, [shard names]] for a partitioned variable saved as one
tensor). Each op's colocation groups travel as TF1's `_class` attr (a list(s) of
"loc:@name", graphdef.py).

Import checks the whole file first (well-formed protobuf, every node written by flowc,
no name already in the default graph) and rebuilds the graph once in a scratch graph, so a
bad file raises `MetaGraphError` (a ValueError) naming the file and the nodes, and leaves
the default graph unchanged. A graph written by TensorFlow (its op types are TF's:
`MatMul`, `VariableV2`, ...) is refused with the list of its op types flowc cannot
rebuild. Symbolic dims (`None` in a placeholder's shape) become new symbols of the
importing graph.
"""

from __future__ import annotations

import json
import os
import stat

from ..frontend.graph import Graph, GraphError, Operation, Tensor, get_default_graph
from ..frontend.partitioned import SaveSliceInfo
from ..frontend.variables import Variable
from ..ir import dims as D
from ..ir import dtypes as T
from ..ir.const import Const
from ..ir.types import TensorType
from ..ops import get as get_op
from ..summary import graphdef, proto
from .files import atomic_write

META_GRAPH_VERSION = "flowc"
SAVER_VAR_LIST = "_flowc_saver_var_list"
MAX_META_BYTES = 1 << 31
#: op types listed with node names in the error for a graph flowc cannot rebuild
MAX_LISTED = 12

__all__ = ["MetaGraphError", "export_meta_graph", "rebuild"]


class MetaGraphError(ValueError):
    """A meta graph that flowc cannot rebuild (names the file and what is wrong)."""


# ---- export ---------------------------------------------------------------------------------
def _variable_def(var) -> bytes:
    out = (proto.bytes_field(1, var.name) + proto.bytes_field(2, var.initializer.name)
           + proto.bytes_field(3, var.name))
    info = var._get_save_slice_info()
    if info is not None:
        out += proto.bytes_field(4, _save_slice_info_def(info))
    return (out + proto.bytes_field(6, var.initial_value.name)
            + proto.int_field(7, int(bool(var.trainable))))


def _save_slice_info_def(info) -> bytes:
    """SaveSliceInfoDef {full_name = 1, full_shape = 2, var_offset = 3, var_shape = 4}."""
    return (proto.bytes_field(1, info.full_name) + proto.packed_varints(2, info.full_shape)
            + proto.packed_varints(3, info.var_offset)
            + proto.packed_varints(4, info.var_shape))


def _parse_save_slice_info(data) -> SaveSliceInfo:
    msg = proto.fields(data)

    def ints(field):
        out = []
        for v in msg.get(field, []):
            out.extend(proto.unpack_varints(v) if isinstance(v, bytes) else [v])
        return out
    full, offset, shape = ints(2), ints(3), ints(4)
    if not (len(full) == len(offset) == len(shape)) or any(
            o < 0 or n < 0 or o + n > f for f, o, n in zip(full, offset, shape)):
        raise ValueError(f"a save_slice_info_def with full shape {full}, offset {offset} "
                         f"and shape {shape} is not a slice")
    return SaveSliceInfo(msg[1][-1].decode("utf-8"), full, offset, shape)


def _saver_entry(key, item):
    """JSON [key, variable name] of the Saver's var_list ([key, [shard names]] for a
    partitioned variable)."""
    parts = getattr(item, "parts", None)
    return json.dumps([key, [p.name for p in parts] if parts is not None else item.name])


def _collection(items):
    if items and all(isinstance(v, Variable) for v in items):
        return proto.bytes_field(2, b"".join(proto.bytes_field(1, _variable_def(v))
                                             for v in items))
    if items and all(isinstance(v, (Tensor, Operation)) for v in items):
        return proto.bytes_field(1, b"".join(proto.bytes_field(1, v.name) for v in items))
    return None


def meta_graph_def(graph, saver=None, collection_list=None, clear_devices=False) -> bytes:
    """The serialized MetaGraphDef of `graph` (see the module docstring)."""
    nodes = [graphdef.op_node_def(op, clear_devices) for op in graph.get_operations()]
    out = proto.bytes_field(1, proto.bytes_field(1, META_GRAPH_VERSION)
                            + proto.bytes_field(5, "1.15.0 (flowc)"))
    out += proto.bytes_field(2, proto.graph_def(nodes))
    collections = {k: v for k, v in graph.collections.items()
                   if collection_list is None or k in collection_list}
    if saver is not None:
        keep = saver._keep_every_s / 3600.0
        out += proto.bytes_field(3, proto.int_field(4, saver._max_to_keep or 0)
                                 + proto.float_field(6, keep) + proto.int_field(7, 2))
        collections = dict(collections)
        collections[SAVER_VAR_LIST] = [_saver_entry(k, v) for k, v in saver._vars.items()]
    for key in sorted(collections):
        items = collections[key]
        if key == SAVER_VAR_LIST:
            body = proto.bytes_field(2, b"".join(proto.bytes_field(1, s) for s in items))
        else:
            body = _collection(items)
        if body is not None:
            out += proto.bytes_field(4, proto.bytes_field(1, key) + proto.bytes_field(2, body))
    return out


def export_meta_graph(filename=None, meta_info_def=None, graph_def=None, saver_def=None,
                      collection_list=None, as_text=False, graph=None, export_scope=None,
                      clear_devices=False, clear_extraneous_savers=False,
                      strip_default_attrs=False, saver=None, **kwargs):
    """Write (when `filename` is given) and return the serialized MetaGraphDef of `graph`
    (default: the default graph). `as_text` (the text format) is not supported."""
    if as_text:
        raise ValueError("export_meta_graph(as_text=True): flowc writes the binary "
                         "MetaGraphDef only")
    data = meta_graph_def(graph or get_default_graph(), saver, collection_list,
                          clear_devices)
    if filename is not None:
        atomic_write(os.fspath(filename), lambda fh: fh.write(data), sweep_first=False)
    return data


# ---- import ---------------------------------------------------------------------------------
def _read(path) -> bytes:
    try:
        st = os.stat(path)
    except OSError as e:
        raise MetaGraphError(f"cannot read the meta graph {path!r}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_META_BYTES:
        raise MetaGraphError(f"cannot read the meta graph {path!r}: not a regular file of at "
                             "most 2 GiB")
    with open(path, "rb") as fh:
        return fh.read()


def _parse(data, where):
    try:
        meta = proto.fields(data)
        graph = proto.fields(meta.get(2, [b""])[-1])
        nodes = [graphdef.parse_node_def(n) for n in graph.get(1, [])]
        saver = proto.fields(meta.get(3, [b""])[-1]) if 3 in meta else None
        collections = {}
        for entry in meta.get(4, []):
            kv = proto.fields(entry)
            key = kv.get(1, [b""])[-1].decode("utf-8")
            body = proto.fields(kv.get(2, [b""])[-1])
            if 1 in body:
                collections[key] = ("nodes", [v.decode("utf-8") for v in
                                              proto.fields(body[1][-1]).get(1, [])])
            elif 2 in body:
                collections[key] = ("bytes", proto.fields(body[2][-1]).get(1, []))
    except (ValueError, UnicodeDecodeError) as e:
        raise MetaGraphError(f"the meta graph {where} is damaged or not a MetaGraphDef "
                             f"({e})") from None
    return nodes, saver, collections


def _check_rebuildable(nodes, where):
    foreign = {}
    for n in nodes:
        if n.flowc_attrs is None or n.unencodable:
            foreign.setdefault(n.op, []).append(n.name)
        elif n.op != "NoOp" and not _in_table(n.op) and n.out is None:
            foreign.setdefault(n.op, []).append(n.name)
    if foreign:
        kinds = sorted(foreign.items())
        listing = "; ".join(f"{op} ({len(names)}: {', '.join(names[:2])}"
                            f"{', ...' if len(names) > 2 else ''})"
                            for op, names in kinds[:MAX_LISTED])
        if len(kinds) > MAX_LISTED:
            listing += f"; and {len(kinds) - MAX_LISTED} more op types: " + \
                ", ".join(op for op, _ in kinds[MAX_LISTED:])
        raise MetaGraphError(f"cannot rebuild the graph of {where}: flowc cannot rebuild "
                             f"these op types: {listing}. Only graphs written by flowc "
                             "(export_meta_graph, Saver.save) can be imported; rebuild "
                             "the graph in Python and restore the checkpoint into it.")


def _in_table(op_type) -> bool:
    try:
        get_op(op_type)
    except (KeyError, ValueError, TypeError):
        return False
    return True


class _Builder:
    def __init__(self, graph, scope, clear_devices):
        self.graph, self.scope, self.clear_devices = graph, scope, clear_devices
        self.syms = {}
        self.ops = {}

    def name(self, name):
        return f"{self.scope}/{name}" if self.scope else name

    def sym(self, name):
        if name not in self.syms:
            self.syms[name] = self.graph.symbols.new_symbol(f"imported {name}")
        return self.syms[name]

    def dim(self, j):
        if isinstance(j, int):
            return j
        if isinstance(j, str):
            return D.DimExpr.atom(self.sym(j))
        op, a, b = j
        if op == "//":
            return D.floordiv(self.dim(a), b)
        fn = {"+": D.add, "*": D.mul, "max": D.maximum, "min": D.minimum}[op]
        return fn(self.dim(a), self.dim(b))

    def value(self, tagged, node, key):
        kind = tagged[0]
        if kind == "n":
            return None
        if kind in ("b", "i", "f", "s"):
            return tagged[1]
        if kind == "t":
            return T.as_dtype(tagged[1])
        if kind == "d":
            return D.DimExpr.lift(self.dim(tagged[1]))
        if kind == "c":
            return Const(node.const(key))
        if kind in ("tuple", "list"):
            items = [self.value(t, node, key) for t in tagged[1]]
            return tuple(items) if kind == "tuple" else items
        raise ValueError(f"unknown attr tag {kind!r}")

    def tensor(self, name):
        op_name, _, index = name.partition(":")
        op = self.ops.get(op_name)
        if op is None or int(index or 0) >= len(op.outputs):
            raise ValueError(f"input {name!r} is not an output of an earlier node")
        return op.outputs[int(index or 0)]

    def build(self, node):
        attrs = {k: self.value(t, node, k) for k, t in node.flowc_attrs.items()}
        if self.scope and isinstance(attrs.get("var"), str):
            attrs["var"] = self.name(attrs["var"])
        inputs = [self.tensor(i) for i in node.inputs]
        out_type = None
        if node.op != "NoOp" and not _in_table(node.op):
            dtype, dims = node.out
            shape = None if dims is None else tuple(
                d if isinstance(d, int) else D.DimExpr.lift(self.dim(d)) for d in dims)
            out_type = TensorType(T.as_dtype(dtype), shape)
        op = self.graph.create_op(node.op, inputs, attrs, name=self.name(node.name),
                                  out_type=out_type, exact_name=True)
        op.control_inputs = [self.ops[c] for c in node.control]
        op.device = "" if self.clear_devices else node.device
        op.loc = node.loc or op.loc
        groups = node.colocation
        if any(not g.startswith("loc:@") or g[5:] not in self.ops and g[5:] != node.name
               for g in groups):
            raise ValueError(f"its _class attr {groups} names an op that is not an earlier "
                             "node")
        op._colocation = tuple(sorted("loc:@" + self.name(g[5:]) for g in groups))
        self.ops[node.name] = op


def _build(graph, nodes, scope, clear_devices, where):
    builder = _Builder(graph, scope, clear_devices)
    for n in nodes:
        try:
            builder.build(n)
        except (ValueError, TypeError, KeyError, IndexError, GraphError) as e:
            raise MetaGraphError(f"cannot rebuild node {n.name!r} ({n.op}, written at "
                                 f"{n.loc or 'an unknown place'}) of {where}: {e}") from None
    return builder


def _variables(builder, collections, where):
    """{variable name: Variable} from the VariableDefs of every collection."""
    out = {}
    for key, (kind, items) in collections.items():
        if kind != "bytes" or key == SAVER_VAR_LIST:
            continue
        for raw in items:
            try:
                vd = proto.fields(raw)
                name = vd[1][-1].decode("utf-8")
            except (ValueError, KeyError):
                break  # not a VariableDef list (e.g. the saver's var_list)
            if name in out:
                continue
            try:
                op = builder.tensor(name).op
                init = builder.ops[vd[2][-1].decode("utf-8")]
                initial = builder.tensor(vd.get(6, [vd[2][-1]])[-1].decode("utf-8"))
                trainable = bool(vd.get(7, [1])[-1])
                out[name] = Variable._from_graph(op, init, initial, trainable)
                if 4 in vd:
                    out[name]._set_save_slice_info(_parse_save_slice_info(vd[4][-1]))
            except (ValueError, KeyError, TypeError) as e:
                raise MetaGraphError(f"the variable {name!r} of {where} cannot be rebuilt "
                                     f"({e})") from None
    return out


def rebuild(meta_graph_or_file, clear_devices=False, import_scope=None):
    """Rebuild the graph of a meta graph flowc wrote (a `.meta` path or its bytes) in the
    default graph, with its collections. Returns (the saver's var_list (a dict, or a list
    of the variables, or None when there are none), the saver's keyword arguments);
    `saver.import_meta_graph` makes the Saver."""
    if isinstance(meta_graph_or_file, (bytes, bytearray)):
        data, where = bytes(meta_graph_or_file), "(bytes)"
    else:
        path = os.fspath(meta_graph_or_file)
        data, where = _read(path), repr(path)
    nodes, saver_def, collections = _parse(data, where)
    _check_rebuildable(nodes, where)
    graph = get_default_graph()
    scope = (import_scope or "").rstrip("/")
    clashes = [builder_name for builder_name in
               (f"{scope}/{n.name}" if scope else n.name for n in nodes)
               if builder_name in graph._by_name]
    if clashes:
        raise MetaGraphError(f"cannot import {where}: the default graph already has ops named "
                             f"{', '.join(repr(c) for c in clashes[:5])}"
                             f"{' ...' if len(clashes) > 5 else ''} (use import_scope=)")
    scratch = Graph()
    _variables(_build(scratch, nodes, scope, clear_devices, where), collections, where)
    builder = _build(graph, nodes, scope, clear_devices, where)
    variables = _variables(builder, collections, where)
    for key, (kind, items) in collections.items():
        if key == SAVER_VAR_LIST:
            continue
        if kind == "nodes":
            for name in items:
                graph.add_to_collection(key, builder.tensor(name) if ":" in name
                                        else builder.ops[name])
        else:
            for raw in items:
                name = proto.fields(raw)[1][-1].decode("utf-8")
                graph.add_to_collection(key, variables[name])
    if not variables:
        return None, {}
    var_list = None
    if SAVER_VAR_LIST in collections:
        var_list = {}
        for raw in collections[SAVER_VAR_LIST][1]:
            key, name = json.loads(raw)
            var_list[key] = [variables[n] for n in name] if isinstance(name, list) \
                else variables[name]
    max_to_keep, keep_hours = 5, 10000.0
    if saver_def is not None:
        max_to_keep = saver_def.get(4, [max_to_keep])[-1]
        if 6 in saver_def:
            keep_hours = _float32(saver_def[6][-1])
    return (var_list or list(variables.values()),
            {"max_to_keep": max_to_keep, "keep_checkpoint_every_n_hours": keep_hours})


def _float32(bits: int) -> float:
    import struct
    return struct.unpack("<f", struct.pack("<I", bits))[0]
