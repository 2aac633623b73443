"""`import_model`: an ONNX model as ops of the default flowc graph (TF1's
`import_graph_def` for ONNX files).

The model is validated (`onnx.checker`, opset range, element types) before anything is
built. Every node is looked up in the mapping table (compiler/onnx/table.py); the op types,
attributes and input forms flowc cannot build are collected over the whole model,
subgraphs included, and raised together as one `OnnxImportError`, each line naming the
node, its op type and opset. Graph inputs become placeholders whose `dim_param` dims are
one symbol per name (so one compile serves every batch size); initializers become
constants, or trainable variables with `trainable=True`; each node is built inside a name
scope made from its ONNX name. Subgraphs (If's branches, Loop's and Scan's bodies) are
built by their converters, inside the fc.cond / fc.while_loop function that traces the
region, through `NodeContext.subgraph` (`Importer.subgraph`): every name of the enclosing
scopes is visible in them, and their initializers are constants.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..frontend import core
from ..frontend import graph as G
from ..frontend.array_ops import placeholder
from ..frontend.control_flow import identity, name_scope
from ..frontend.static import static_dims
from ..frontend.variables import Variable
from ..ir import dims as D
from ..ops import table as op_table
from . import ops, proto, table  # noqa: F401  (ops registers the table's rows)
from .table import NodeContext, Unsupported

OLDEST_OPSET = 7
_DEFAULT_DOMAINS = ("", "ai.onnx")
#: ops of ONNX's sequence type not named Sequence*/Optional* (their error says why)
_SEQUENCE_OPS = ("SplitToSequence", "ConcatFromSequence")


class OnnxImportError(ValueError):
    """The model cannot be imported; `problems` lists every culprit (one line each)."""

    def __init__(self, source, problems):
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(f"{source}: {n} problem{'s' * (n != 1)} importing the ONNX "
                         f"model:\n  " + "\n  ".join(self.problems))


def load(model_or_path):
    """(ModelProto, base directory for external data or None, a label for errors); `check`
    validates it."""
    onnx = proto.onnx()
    if isinstance(model_or_path, onnx.ModelProto):
        model, base, label = model_or_path, None, f"model {model_or_path.graph.name!r}"
    elif isinstance(model_or_path, (bytes, bytearray)):
        model, base, label = _parse(bytes(model_or_path), "<bytes>"), None, "<bytes>"
    elif isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ONNX model {path!r}: no such file")
        with open(path, "rb") as f:
            model = _parse(f.read(), path)
        base, label = os.path.dirname(os.path.abspath(path)), path
    else:
        raise TypeError(f"import_model expects an onnx.ModelProto, bytes or a path, got "
                        f"{type(model_or_path).__name__}")
    return model, base, label


def check(model):
    """`onnx.checker`'s complaint about the model, or None."""
    try:
        proto.onnx().checker.check_model(model)
    except Exception as e:  # onnx raises ValidationError and a few others
        return f"onnx.checker: {str(e).strip()}"
    return None


def _parse(data, label):
    onnx = proto.onnx()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:
        raise OnnxImportError(label, [f"not an ONNX model (protobuf: {e})"]) from None
    if not model.HasField("graph"):
        raise OnnxImportError(label, ["not an ONNX model: it has no graph"])
    return model


def opset_of(model, label):
    """The model's version of the default ONNX domain; None when it imports none (a model
    of other domains' ops only)."""
    current = proto.onnx().defs.onnx_opset_version()
    versions = [o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS]
    if not versions:
        if any(o.domain not in _DEFAULT_DOMAINS for o in model.opset_import):
            return None
        raise OnnxImportError(label, ["the model imports no version of the default "
                                      "ONNX domain (opset_import)"])
    v = int(versions[0])
    if not OLDEST_OPSET <= v <= current:
        raise OnnxImportError(label, [f"opset {v} is outside what flowc imports "
                                      f"({OLDEST_OPSET} to {current})"])
    return v


def opsets_of(model, label):
    """{domain (as the mapping table keys it): the model's version of it}."""
    out = {table.domain_key(o.domain): int(o.version) for o in model.opset_import}
    out[""] = opset_of(model, label)
    return out


def scope_name(name, fallback):
    """An ONNX name as a valid flowc name scope ('/conv1/Conv' -> 'conv1/Conv')."""
    parts = [re.sub(r"[^A-Za-z0-9_.\-]", "_", p) for p in str(name).split("/") if p]
    out = "/".join(p if p[0] not in "_-" else "n" + p for p in parts if p)
    return out or fallback


class Importer:
    """One import: the value of every ONNX name in scope, and the problems found."""

    def __init__(self, model, base_dir, label, input_map, trainable):
        self.model = model
        self.base_dir = base_dir
        self.label = label
        self.opsets = opsets_of(model, label)
        self.opset = self.opsets[""]
        self.input_map = dict(input_map or {})
        self.trainable = trainable
        self.graph = G.get_default_graph()
        self.problems = []
        self._static = {}
        self._dim_params = {}
        self._elem_types = {}   # id(tensor) -> (tensor, ONNX code) of storage-typed values

    # -- the whole model -------------------------------------------------------------

    def run(self):
        g = self.model.graph
        self.check_nodes(g, "graph")
        if not self.problems:  # the checker stops at its first complaint; ours list all
            complaint = check(self.model)
            if complaint:
                self.problems.append(complaint)
        if self.problems:
            raise OnnxImportError(self.label, self.problems)
        inits = {t.name for t in g.initializer}
        unknown = set(self.input_map) - {vi.name for vi in g.input} - inits
        if unknown:
            raise OnnxImportError(self.label, [
                f"input_map names {sorted(unknown)}, which are not inputs or initializers "
                f"of the graph (inputs: {[vi.name for vi in g.input if vi.name not in inits]})"])
        values = {}
        placeholders = []
        for vi in g.input:
            if vi.name in self.input_map:
                values[vi.name] = core.convert_to_tensor(proto.to_storage(
                    self.input_map[vi.name]))
                self.set_elem_type(values[vi.name], vi.type.tensor_type.elem_type)
            elif vi.name not in inits:
                values[vi.name] = self.placeholder(vi)
                placeholders.append(values[vi.name])
        for t in g.initializer:
            if t.name not in values:
                values[t.name] = self.initializer(t)
        outputs = self.convert_graph(g, values)
        if self.problems:
            raise OnnxImportError(self.label, self.problems)
        return placeholders, [identity(t, name=scope_name(vi.name, "output"))
                              for vi, t in zip(g.output, outputs, strict=True)]

    def check_nodes(self, g, where):
        """Collect unknown op types and attributes of every node, subgraphs included."""
        for i, node in enumerate(g.node):
            label = self.label_of(node, i)
            opset = self.opsets.get(table.domain_key(node.domain))
            if opset is None:
                self.problems.append(f"{label} in {where}: domain "
                                     f"{node.domain or 'ai.onnx'!r} is not imported by the "
                                     f"model (its opset_import)")
                continue
            row = table.get(node.op_type, node.domain)
            if row is None:
                why = (" (flowc has no sequence or optional type)"
                       if node.op_type.startswith(("Sequence", "Optional"))
                       or node.op_type in _SEQUENCE_OPS else "")
                self.problems.append(f"{label} in {where}: op type {node.op_type} is not "
                                     f"supported{why}")
                continue
            if opset < row.since:
                self.problems.append(f"{label} in {where}: flowc converts {node.op_type} "
                                     f"from opset {row.since} on")
            extra = sorted(a.name for a in node.attribute if a.name not in row.attrs)
            if extra:
                self.problems.append(f"{label} in {where}: attribute{'s' * (len(extra) > 1)} "
                                     f"{', '.join(extra)} not supported")
            for a in node.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    self.check_nodes(sub, f"{where}/{node.name or node.op_type}.{a.name}")

    def label_of(self, node, i):
        """'node NAME (OpType, opset N)', with the domain when it is not the default."""
        key = table.domain_key(node.domain)
        v = self.opsets.get(key)
        where = (f"domain {key or 'ai.onnx'}" if v is None else
                 f"{key} opset {v}" if key else f"opset {v}")
        return f"node {node.name or f'#{i}'!r} ({node.op_type}, {where})"

    def placeholder(self, vi):
        dt, dims = proto.value_info_type(vi, self.label)
        name = scope_name(vi.name, "input")
        p = placeholder(dt, None if dims is None else
                        [d if isinstance(d, int) else None for d in dims], name=name)
        for axis, d in enumerate(dims or ()):
            if isinstance(d, str):
                self.unify_param(d, p.type.shape[axis], vi.name)
        self.set_elem_type(p, vi.type.tensor_type.elem_type)
        return p

    def unify_param(self, param, dim, where):
        """One symbol per dim_param name: a second input with the same name shares it."""
        first = self._dim_params.setdefault(param, (dim, where))
        if first[0] != dim:
            self.graph.symbols.unify(first[0], dim,
                                     f"ONNX dim_param {param!r} of inputs {first[1]!r} and "
                                     f"{where!r}")

    def initializer(self, t):
        value = proto.array(t, f"{self.label} initializer", self.base_dir)
        name = scope_name(t.name, "initializer")
        if self.trainable and value.dtype.kind == "f" and not proto.is_storage(t.data_type):
            return Variable(value, name=name, trainable=True).value()
        return self.set_elem_type(core.constant(value, name=name), t.data_type)

    # -- one graph or subgraph -------------------------------------------------------

    def convert_graph(self, g, values):
        """Build `g`'s nodes with `values` (ONNX name -> tensor: inputs, initializers and
        the enclosing graph's names) and return its outputs' tensors (None for those that
        failed; the problems are in `self.problems`)."""
        failed = set()
        for i, node in enumerate(g.node):
            ins = []
            for n in node.input:
                if n and n in failed:
                    break
                if n and n not in values:
                    self.problems.append(f"node {node.name or f'#{i}'!r} ({node.op_type}): "
                                         f"input {n!r} is not defined before it")
                    break
                ins.append(values[n] if n else None)
            else:
                outs = self.convert_node(node, i, ins, values)
                if outs is not None:
                    for n, t in zip(node.output, outs):
                        if n:
                            values[n] = t
                    continue
            failed.update(node.output)
        return [None if vi.name in failed else values.get(vi.name) for vi in g.output]

    def convert_node(self, node, i, inputs, values=None):
        row = table.get(node.op_type, node.domain)
        label = self.label_of(node, i)
        try:
            stored = self.check_storage(node, inputs)
            attrs = proto.attributes(node, label, self.base_dir)
            with name_scope(scope_name(node.name, node.op_type)):
                cx = NodeContext(self, row, node, node.name or f"#{i}",
                                 self.opsets[table.domain_key(node.domain)], inputs, attrs,
                                 values)
                outs = list(row.fn(cx))
        except (Unsupported, ValueError, TypeError, D.ShapeError, G.GraphError) as e:
            self.problems.append(f"{label}: {e}")
            return None
        wanted = [n for n in node.output]
        if len(outs) < len([n for n in wanted if n]):
            self.problems.append(f"{label}: flowc built {len(outs)} outputs, the node has "
                                 f"{len(wanted)}")
            return None
        if node.op_type in ("Constant", "ConstantOfShape") and isinstance(
                attrs.get("value"), np.ndarray):
            stored = [a.t.data_type for a in node.attribute if a.name == "value"]
        if stored and node.op_type not in proto.STORAGE_CONSUMERS:
            for t in outs:   # a movement op, Constant(OfShape): its outputs keep the type
                self.set_elem_type(t, stored[0])
        return outs

    # -- element types flowc stores but does not compute with (proto.STORAGE) ---------

    def elem_type(self, t):
        """The ONNX element type code of tensor `t`: the one recorded for a storage-typed
        value, else the code of its flowc dtype."""
        entry = self._elem_types.get(id(t))
        if entry is not None and entry[0] is t:
            return entry[1]
        return proto.onnx_type(t.dtype)

    def set_elem_type(self, t, code):
        """Record that `t` holds values of ONNX type `code` (kept only for storage types).
        Returns `t`."""
        if proto.is_storage(code):
            self._elem_types[id(t)] = (t, int(code))
        return t

    def check_storage(self, node, inputs):
        """The ONNX codes of the node's storage-typed inputs (one code for a movement op,
        whose inputs must agree); raises Unsupported for an op that would compute with
        them."""
        codes = [(i, self.elem_type(t)) for i, t in enumerate(inputs) if t is not None]
        stored = [(i, c) for i, c in codes if proto.is_storage(c)]
        if not stored or node.op_type in proto.STORAGE_CONSUMERS:
            return [c for _, c in stored]
        i, code = stored[0]
        name, dt = proto.STORAGE[code]
        if node.op_type not in proto.PASS_THROUGH:
            raise Unsupported(
                f"{node.op_type} on {name} values (input {i} {node.input[i]!r}): flowc "
                f"stores {name} as {dt.name} and converts it only through Cast, CastLike, "
                f"QuantizeLinear and DequantizeLinear (movement ops pass it through)")
        data = [c for j, c in codes if j == 0 or node.op_type == "Concat"]
        if any(c != code for c in data):
            raise Unsupported(f"{node.op_type} of {name} and "
                              f"{' '.join(sorted({proto.type_name(c) for c in data}))} "
                              f"values")
        return [code] if stored[0][0] == 0 else []

    def subgraph(self, g, inputs, outer):
        """The outputs of subgraph `g` (a GRAPH attribute: If's branches, Loop's and Scan's
        body) built with `inputs` (tensors for its inputs, in order) and the enclosing
        graph's names `outer` in scope (ONNX subgraphs see every name defined before their
        node). Its initializers become constants. A problem inside it is raised as one
        `Unsupported` naming the subgraph and its nodes' problems, so the enclosing node
        fails with it; converters call it through `NodeContext.subgraph`, inside the
        fc.cond / fc.while_loop function that traces the region."""
        if len(inputs) != len(g.input):
            raise Unsupported(f"subgraph {g.name!r} has {len(g.input)} inputs, the node "
                              f"gives it {len(inputs)}")
        values = dict(outer or {})
        values.update(zip([vi.name for vi in g.input], inputs))
        for t in g.initializer:
            values[t.name] = self.set_elem_type(core.constant(
                proto.array(t, f"{self.label} initializer", self.base_dir),
                name=scope_name(t.name, "initializer")), t.data_type)
        before = len(self.problems)
        outs = self.convert_graph(g, values)
        if len(self.problems) > before or any(o is None for o in outs):
            inner = self.problems[before:] or [
                f"outputs {[vi.name for vi, o in zip(g.output, outs) if o is None]} are not "
                f"computed by its nodes"]
            del self.problems[before:]
            raise Unsupported(f"subgraph {g.name!r}: " + "; ".join(inner))
        return outs

    # -- values known at import time -------------------------------------------------

    def static_value(self, t):
        """The value of tensor `t` as a numpy array when the graph determines it (constants,
        and ops of constants evaluated with the op table's numpy reference; shapes of
        known dims), else None."""
        key = id(t)
        if key not in self._static:
            self._static[key] = (t, self._evaluate(t))
        return self._static[key][1]

    def _evaluate(self, t):
        op = t.op
        if op.type == "constant":
            return np.asarray(op.attrs["value"].array)
        if op.type == "identity":
            return self.static_value(op.inputs[0])
        dims = static_dims(t) if t.dtype.kind == "int" else None
        if dims is not None and all(isinstance(d, int) for d in dims):
            return np.array(dims, dtype=t.dtype.np).reshape(t.shape.as_list())
        row = op_table.OPS.get(op.type)
        if (row is None or row.stateful or not row.foldable or row.parameter
                or row.fusion == "control" or len(op.outputs) != 1):
            return None
        args = [self.static_value(x) for x in op.inputs]
        if any(a is None for a in args) or any(a.size > 1 << 20 for a in args):
            return None
        try:
            value = row.ref(*args, **op.attrs)
        except Exception:  # an attr the reference cannot take as is (symbolic dims)
            return None
        value = np.asarray(value)
        return value if list(value.shape) == t.shape.as_list() else None


def import_model(model_or_path, input_map=None, trainable=False):
    """Add the ONNX model (a path, bytes or `onnx.ModelProto`; opsets 7 to the `onnx`
    package's current) to the default graph. Returns `(inputs, outputs)`: the input
    placeholders and the output tensors, as lists in the ONNX graph's order.

    `input_map` maps ONNX input (or initializer) names to tensors or arrays used in their
    place, as TF1's `import_graph_def`; mapped inputs get no placeholder and are left out
    of `inputs`. `trainable=True` makes the floating-point initializers trainable
    variables (fine-tune with `fc.gradients` and an optimizer; run
    `fc.global_variables_initializer()` first); otherwise they are constants.
    Raises `OnnxImportError` listing every node that cannot be imported."""
    model, base, label = load(model_or_path)
    return Importer(model, base, label, input_map, trainable).run()
