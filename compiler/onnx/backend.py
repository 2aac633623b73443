"""`compiler.onnx.backend`: flowc as an `onnx.backend.base.Backend` (`prepare`, `run_model`,
`run_node`, `supports_device`), the interface the ONNX backend test suite drives.

`prepare(model, device)` imports the model into a graph of its own and opens a Session on
it. Inputs that the mapping table needs as values at import time (a Reshape's shape fed as
a graph input, as the ONNX node tests do) are bound as constants when `run` sees their
values: the model compiles once per distinct set of those values.

Element types flowc stores but does not compute with (float8, float4, int4, int2,
bfloat16: `proto.STORAGE`) travel as their storage dtype: inputs given as ml_dtypes
arrays are converted to it exactly, and outputs whose declared ONNX type is such a type
are converted back to its ml_dtypes type (exact: the values are on its grid).
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..frontend.control_flow import device as device_scope
from ..frontend.graph import Graph
from . import proto, table
from .importer import import_model, load


def _base():
    proto.onnx()
    import onnx.backend.base
    return onnx.backend.base


def bound_inputs(model):
    """Names of the graph inputs whose values some node needs at import time: those the
    `static` inputs of the mapping table's rows depend on (through any ops but Shape and
    Size, which read shapes only)."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    graph_inputs = {vi.name for vi in g.input} - inits
    producer = {o: n for n in g.node for o in n.output if o}
    need, seen, todo = set(), set(), []
    for node in g.node:
        row = table.get(node.op_type, node.domain)
        if row is not None:
            todo += [node.input[i] for i in row.static if i < len(node.input) and node.input[i]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in graph_inputs:
            need.add(name)
        node = producer.get(name)
        if node is not None and node.op_type not in ("Shape", "Size"):
            todo += [n for n in node.input if n]
    return [vi.name for vi in g.input if vi.name in need]


class FlowcRep:
    """A prepared model: `run(inputs)` takes the inputs in the graph's order (a list, or a
    dict by name) and returns the outputs as a namedtuple-like dict in the graph's order."""

    def __init__(self, model, device="CPU"):
        self.model = model
        self.device = device
        inits = {t.name for t in model.graph.initializer}
        self.input_names = [vi.name for vi in model.graph.input if vi.name not in inits]
        self.output_names = [vi.name for vi in model.graph.output]
        self.output_types = [vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type")
                             else None for vi in model.graph.output]
        self.bound = bound_inputs(model)
        self._plans = {}
        if not self.bound:
            self._plan({})   # import errors surface at prepare

    def _plan(self, constants):
        key = tuple(sorted((n, v.dtype.str, v.shape, hashlib.sha256(
            np.ascontiguousarray(v).tobytes()).hexdigest()) for n, v in constants.items()))
        if key not in self._plans:
            from ..session import Session
            g = Graph()
            with g.as_default(), device_scope("/gpu:0" if self.device == "CUDA" else "/cpu:0"):
                ins, outs = import_model(self.model, input_map=constants)
            self._plans[key] = (Session(graph=g), ins, outs)
        return self._plans[key]

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"run: no value for the model's inputs {missing}")
            values = [inputs[n] for n in self.input_names]
        else:
            values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            if len(values) != len(self.input_names):
                raise ValueError(f"run: the model has {len(self.input_names)} inputs "
                                 f"{self.input_names}, got {len(values)} values")
        by_name = {n: proto.to_storage(np.asarray(v))
                   for n, v in zip(self.input_names, values, strict=True)}
        session, ins, outs = self._plan({n: by_name[n] for n in self.bound})
        fed = [n for n in self.input_names if n not in self.bound]
        result = session.run(outs, dict(zip(ins, [by_name[n] for n in fed], strict=True)))
        result = [proto.from_storage(r, code) for r, code in zip(result, self.output_types,
                                                                   strict=True)]
        return _base().namedtupledict("Outputs", self.output_names)(*result)


def _rep_base():
    return _base().BackendRep


class FlowcBackend:
    """The Backend class (`onnx.backend.base.Backend` interface); see `backend()`."""

    @classmethod
    def is_compatible(cls, model, device="CPU", **kwargs):
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        if not cls.supports_device(device):
            raise ValueError(f"flowc's ONNX backend cannot run on device {device!r}")
        if not isinstance(model, proto.onnx().ModelProto):
            model, _, _ = load(model)
        return _rep_class()(model, device)

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        """Run one NodeProto on `inputs` (arrays for its non-empty inputs, in order): a
        one-node model whose output types come from ONNX shape inference."""
        onnx = proto.onnx()
        arrays = [np.asarray(v) for v in inputs]
        names = [n for n in node.input if n]
        if len(arrays) != len(names):
            raise ValueError(f"run_node: {node.op_type} node {node.name!r} has inputs "
                             f"{names}, got {len(arrays)} values")
        ins = [onnx.helper.make_tensor_value_info(
            n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in zip(names, arrays, strict=True)]
        outs = [onnx.ValueInfoProto(name=n) for n in node.output if n]
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        model = onnx.helper.make_model(onnx.helper.make_graph([node], "run_node", ins, outs),
                                       opset_imports=[onnx.helper.make_opsetid("", opset)])
        inferred = onnx.shape_inference.infer_shapes(model)
        types = {vi.name: vi for vi in list(inferred.graph.value_info)
                 + list(inferred.graph.output) if vi.type.HasField("tensor_type")}
        for vi in model.graph.output:
            if vi.name in types:
                vi.CopyFrom(types[vi.name])
        return cls.run_model(model, arrays, device)

    @classmethod
    def supports_device(cls, device):
        d = str(device).upper().split(":")[0]
        if d == "CPU":
            return True
        if d == "CUDA":
            from runtime.cuda_driver import gpu_available
            return gpu_available()
        return False


_CLASSES = {}


def _rep_class():
    """FlowcRep as a subclass of onnx's BackendRep (made once `onnx` is imported)."""
    if "rep" not in _CLASSES:
        _CLASSES["rep"] = type("FlowcRep", (FlowcRep, _rep_base()), {})
    return _CLASSES["rep"]


def backend():
    """flowc's Backend as a subclass of `onnx.backend.base.Backend` (for BackendTest)."""
    if "backend" not in _CLASSES:
        _CLASSES["backend"] = type("FlowcBackend", (FlowcBackend, _base().Backend), {})
    return _CLASSES["backend"]


def __getattr__(name):
    # onnx.backend.base-style module functions: compiler.onnx.backend.prepare(model), ...
    if name in ("prepare", "run_model", "run_node", "supports_device", "is_compatible"):
        return getattr(backend(), name)
    raise AttributeError(name)
