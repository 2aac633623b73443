"""`export`: the user graph between feeds and fetches as an ONNX model (docs/onnx.md,
"Export"), so a flowc graph runs in other runtimes.

The part of the graph the fetches need, stopping at the feeds (TF1 feeding: placeholders
or any tensors), is pruned as `Session.run` prunes it (compiler/convert.py). Every op is
looked up in `EXPORTERS` (compiler/onnx/export_rules.py: flowc op type -> a function
emitting ONNX nodes; matmul, conv and composites in export_nn.py, While and If in
export_control.py). The ops without an ONNX counterpart (random draws, assigns, run-time
checks, ...), also inside control-flow bodies, and the variables when no session is given
are collected over the whole graph and raised together as one `OnnxExportError`, each
line naming the op, its type and the file:line where it was made. Feeds become graph
inputs whose symbolic dims are `dim_param`s named after the symbol (so one exported file
takes every batch size); constants, and variables read through `session=`, become
initializers. A dim that an op's attributes hold symbolically (a broadcast to [N0, 5], a
slice of N0 rows) is computed in the model from the `Shape` of a tensor that has it. The
model is validated with `onnx.checker.check_model` before it is written.
"""

from __future__ import annotations

import os

import numpy as np

from ..convert import _needed_ops
from ..frontend import graph as G
from ..ir import dims as D
from . import export_control, export_nn, proto  # noqa: F401  (register their rows)
from .export_rules import EXPORTERS, NO_COUNTERPART, Listed, Unsupported

#: the oldest opset `export` writes (Reduce*/Squeeze take axes as inputs from here on)
OLDEST_OPSET = 13
#: the newest opset onnxruntime 1.32 knows (the highest version among its operator schemas
#: of the default domain; tests/test_onnx_export.py checks it); every op type export
#: writes runs there (the round trips run at the default opset, test_older_opsets at 13
#: and 17)
ONNXRUNTIME_OPSET = 28


def default_opset():
    """The `onnx` package's current opset, capped at what onnxruntime 1.32 runs."""
    return min(proto.onnx().defs.onnx_opset_version(), ONNXRUNTIME_OPSET)


class OnnxExportError(ValueError):
    """The graph cannot be exported; `problems` lists every culprit (one line each)."""

    def __init__(self, problems):
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(f"{n} problem{'s' * (n != 1)} exporting the graph as ONNX:\n  "
                         + "\n  ".join(self.problems))


class Exporter:
    """One export: the ONNX nodes and initializers made so far, the ONNX name of every
    flowc tensor, where each symbolic dim can be read at run time, and the problems."""

    def __init__(self, graph, opset, session):
        self.rules = EXPORTERS
        self.no_counterpart = NO_COUNTERPART
        self.graph = graph              # the graph whose ops are being exported (a scratch
        self.opset = opset              # graph while a deferred op is expanded)
        self.session = session
        self.onnx = proto.onnx()
        self.nodes = []
        self.initializers = []
        self.used = set()
        self.names = {}                 # flowc Tensor -> ONNX value name
        self.syms = {}                  # Sym name -> (ONNX value name, axis)
        self.problems = []
        self.variables = []             # (flowc Tensor, ONNX name): initializers at the end
        self.built = {}                 # ONNX name -> (scratch graph, tensor) of a deferred op
        self.regions = []               # the control-flow bodies being exported, innermost last
        self.refused = set()            # the ops listed as having no ONNX counterpart
        self._consts = {}
        self._shapes = {}
        self._dims = {}

    # -- names, nodes, constants ----------------------------------------------------

    def fresh(self, base):
        base = str(base).replace(":0", "") or "v"
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def node(self, op_type, inputs, base=None, outputs=1, **attrs):
        """Add one node; returns its output name (or names, when `outputs` > 1)."""
        base = base or op_type
        outs = [self.fresh(base if outputs == 1 else f"{base}_{i}") for i in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outs,
                                                     name=self.fresh(f"{base}/{op_type}"),
                                                     **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, value, base="const", dtype=None):
        """An initializer holding `value` (small ones are shared)."""
        arr = np.asarray(value, dtype=dtype)
        key = None
        if arr.size <= 16:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._consts:
                return self._consts[key]
        if arr.dtype.kind not in "biuf":
            raise Unsupported(f"a constant of dtype {arr.dtype} has no ONNX element type "
                              f"flowc writes")
        name = self.fresh(base)
        t = self.onnx.numpy_helper.from_array(np.array(arr, order="C"), name)
        self.initializers.append(t)
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values):
        return self.const(np.asarray(list(values), np.int64).reshape(-1))

    # -- symbolic dims ----------------------------------------------------------------

    def resolve(self, d):
        return d if isinstance(d, int) else self.graph.symbols.resolve(d)

    def static(self, dims):
        """`dims` resolved, or None when one of them is symbolic."""
        out = [self.resolve(d) for d in dims]
        return out if all(isinstance(d, int) for d in out) else None

    def remember_dims(self, tensor, name, force=False):
        """Record where the symbolic dims of `tensor`'s shape (an ONNX value `name`) can
        be read at run time (`force`: in place of where they were read so far: a loop
        body's variables)."""
        shape = tensor.shape
        if not shape.known_rank:
            return
        for axis, d in enumerate(shape):
            d = self.resolve(d)
            atom = d.as_atom() if isinstance(d, D.DimExpr) else None
            if isinstance(atom, D.Sym) and (force or atom.name not in self.syms):
                self.syms[atom.name] = (name, axis)

    def dim(self, d):
        """An int64 [1] value holding dim `d` at run time."""
        d = self.resolve(d)
        if isinstance(d, int):
            return self.ints([d])
        if d.constant() is not None:
            return self.ints([d.constant()])
        if d not in self._dims:
            total = None
            for monomial, coef in d.terms.items():
                term = self.ints([coef]) if not monomial or coef != 1 else None
                for atom in monomial:
                    a = self._atom(atom)
                    term = a if term is None else self.node("Mul", [term, a], "dim")
                total = term if total is None else self.node("Add", [total, term], "dim")
            self._dims[d] = total
        return self._dims[d]

    def _atom(self, a):
        if isinstance(a, D.Sym):
            where = self.syms.get(a.name)   # `dim` resolved it: a root symbol
            if where is None:
                raise Unsupported(f"the dimension {a.name} ({a.origin or 'symbolic'}) is not "
                                  f"the extent of a fed or computed tensor the model can read")
            name, axis = where
            if name not in self._shapes:
                self._shapes[name] = self.node("Shape", [name], "shape")
            return self.node("Gather", [self._shapes[name], self.ints([axis])], "dim", axis=0)
        if isinstance(a, D.FloorDiv):   # floor division by a positive constant
            num, den = self.dim(a.num), self.ints([a.den])
            exact = self.node("Sub", [num, self.node("Mod", [num, den], "dim", fmod=0)], "dim")
            return self.node("Div", [exact, den], "dim")
        if isinstance(a, D.MinMax):
            x, y = (self.dim(v) for v in a.operands())
            return self.node("Max" if a.op == "max" else "Min", [x, y], "dim")
        raise Unsupported(f"the dimension {a!r} cannot be computed in ONNX")

    def shape(self, dims):
        """An int64 [rank] value holding `dims` (symbolic ones computed at run time)."""
        dims = [self.resolve(d) for d in dims]
        if all(isinstance(d, int) for d in dims):
            return self.ints(dims)
        parts, run = [], []
        for d in dims:
            if isinstance(d, int):
                run.append(d)
                continue
            if run:
                parts.append(self.ints(run))
                run = []
            parts.append(self.dim(d))
        if run:
            parts.append(self.ints(run))
        return self.node("Concat", parts, "shape", axis=0)

    def value_info(self, name, tensor, source=None, named=True):
        """A ValueInfo of `tensor`'s dtype and shape: symbolic dims as dim_params. A
        tensor of unknown rank (a deferred op's) has the shape its expansion built."""
        graph = self.graph
        if not tensor.shape.known_rank and source in self.built:
            graph, tensor = self.built[source]
        dims = None
        if tensor.shape.known_rank:
            dims = []
            for d in tensor.shape:
                d = d if isinstance(d, int) else graph.symbols.resolve(d)
                atom = d.as_atom() if isinstance(d, D.DimExpr) else None
                param = named and isinstance(atom, D.Sym) and graph is self.graph
                dims.append(d if isinstance(d, int) else atom.name if param else None)
        return self.onnx.helper.make_tensor_value_info(name, proto.onnx_type(tensor.dtype),
                                                       dims)

    # -- ops --------------------------------------------------------------------------

    def check_types(self, ops):
        """List every op without an ONNX counterpart among `ops` and the ops of their
        control-flow bodies, whether or not what feeds them can be exported."""
        from ..convert import _region_ops
        for op in ops:
            if op.type not in self.rules and op.type != "param" and op not in self.refused:
                self.refused.add(op)
                self.problems.append(f"{op.describe()}: "
                                     + self.no_counterpart.get(op.type, "no ONNX counterpart"))
            for region in G.op_regions(op):
                self.check_types(_region_ops(region))

    def export_ops(self, fetch_ops, fed):
        """Emit every op `fetch_ops` need, stopping at `fed` (tensors with names)."""
        ops = _needed_ops(fetch_ops, set(fed))
        self.check_types(ops)
        for op in ops:
            if op.outputs and all(t in self.names for t in op.outputs):
                continue
            self.export_op(op)

    def export_op(self, op):
        rule = self.rules.get(op.type)
        try:
            if op.region is not None and op.region is not (self.regions or [None])[-1]:
                raise Unsupported(f"it is inside {op.region.describe()}; fetch the control-"
                                  f"flow op's outputs instead")
            if any(t.dtype.kind == "string" for t in op.outputs):
                raise Unsupported("a host string tensor has no ONNX counterpart flowc writes")
            if rule is None:
                self.check_types([op])
                raise Listed()
            if any(t not in self.names for t in op.inputs):
                raise Listed()   # an input failed before
            outs = rule(self, op, [self.names[t] for t in op.inputs])
        except (Unsupported, TypeError) as e:
            self.problems.append(f"{op.describe()}: {e}")
            outs = None
        except Listed:
            outs = None
        if outs is None:
            return
        outs = [outs] if isinstance(outs, str) else list(outs)
        for t, name in zip(op.outputs, outs, strict=True):
            self.names[t] = name
            self.remember_dims(t, name)

    def build_model(self, fetches, outputs, feeds, graph_name):
        """The ModelProto: `outputs` are the ONNX names reserved for the fetches."""
        onnx = self.onnx
        if self.variables:
            values = self.session.run([t for t, _ in self.variables])
            for (t, name), v in zip(self.variables, values):
                self.initializers.append(onnx.numpy_helper.from_array(
                    np.array(np.asarray(v, t.dtype.np), order="C"), name))
        inputs = [self.value_info(self.names[t], t) for t in feeds]
        infos = []
        for t, name in zip(fetches, outputs):
            self.nodes.append(onnx.helper.make_node("Identity", [self.names[t]], [name],
                                                    name=self.fresh(f"{name}/Identity")))
            infos.append(self.value_info(name, t, self.names[t]))
        g = onnx.helper.make_graph(self.nodes, graph_name, inputs, infos,
                                   self.initializers)
        model = onnx.helper.make_model_gen_version(
            g, opset_imports=[onnx.helper.make_opsetid("", self.opset)],
            producer_name="flowc")
        return model


def _as_tensors(values, graph, what):
    single = not isinstance(values, (list, tuple))
    out = []
    for v in [values] if single else values:
        if isinstance(v, str):
            v = graph.as_graph_element(v)
        if isinstance(v, G.Operation):
            if len(v.outputs) != 1:
                raise TypeError(f"export: {what} {v.describe()} has {len(v.outputs)} "
                                f"outputs; name one of its tensors")
            v = v.outputs[0]
        if not isinstance(v, G.Tensor):
            raise TypeError(f"export: {what} must be tensors (or their names), got {v!r}")
        if v.graph is not graph:
            raise G.GraphError(f"export: {what} {v.name!r} is from another graph")
        out.append(v)
    return out


def export(fetches, feeds, path, opset=None, graph=None, session=None):
    """Write the part of the graph between `feeds` and `fetches` as an ONNX model at
    `path` (a file path, or None to only return it) and return the `onnx.ModelProto`.

    `fetches`: a tensor or a list of tensors (or their names): the model's outputs, in
    order. `feeds`: a list of tensors (placeholders or any tensors, as TF1 feeding): the
    model's inputs, in order, each named after its op; symbolic (None) dims become
    `dim_param`s named after the symbol. `opset`: the ONNX opset to write (default: the
    `onnx` package's current, capped at what onnxruntime 1.32 runs; at least 13).
    `session`: a Session whose variable values become the model's initializers (needed
    when the fetches read variables). `graph`: the graph of the tensors (default: theirs).

    Initializers of more than `EXTERNAL_DATA_BYTES` (1 GB) are written as ONNX external
    data, to `<path>.data` beside the model (a protobuf holds at most 2 GB).

    Raises `OnnxExportError` listing every op that cannot be exported (name, type and
    file:line), and every variable when no session is given."""
    onnx = proto.onnx()
    if graph is None:
        first = next((v for v in ([fetches] if not isinstance(fetches, (list, tuple))
                                  else fetches) if isinstance(v, (G.Tensor, G.Operation))),
                     None)
        graph = first.graph if first is not None else G.get_default_graph()
    fetches = _as_tensors(fetches, graph, "fetches")
    feeds = _as_tensors(list(feeds or []), graph, "feeds")
    if not fetches:
        raise ValueError("export: no fetches")
    if len(set(feeds)) != len(feeds):
        raise ValueError("export: a tensor appears twice in feeds")
    current = default_opset() if opset is None else int(opset)
    newest = onnx.defs.onnx_opset_version()
    if not OLDEST_OPSET <= current <= newest:
        raise ValueError(f"export: opset {current} is outside what flowc writes "
                         f"({OLDEST_OPSET} to {newest})")
    ex = Exporter(graph, current, session)
    for t in feeds:
        if not t.shape.known_rank:
            ex.problems.append(f"feed {t.name!r} ({t.op.describe()}) has unknown rank: give "
                               f"it a shape (None for the dims that vary) to export it")
            continue
        if t.dtype.kind == "string":
            ex.problems.append(f"feed {t.name!r} is a host string tensor")
            continue
        ex.names[t] = ex.fresh(t.op.name if len(t.op.outputs) == 1 else t.name)
        ex.remember_dims(t, ex.names[t])
    outputs = [ex.fresh(t.op.name if len(t.op.outputs) == 1 else t.name) for t in fetches]
    ex.export_ops([t.op for t in fetches], [t for t in feeds if t in ex.names])
    if ex.variables and session is None:
        ex.problems += [f"{t.op.describe()}: a variable; pass session= to export its value"
                        for t, _ in ex.variables]
    if ex.problems:
        raise OnnxExportError(ex.problems)
    model = ex.build_model(fetches, outputs, feeds, graph_name="flowc")
    size = sum(len(t.raw_data) for t in model.graph.initializer)
    if size <= EXTERNAL_DATA_BYTES:
        _check(onnx, model)
        if path is not None:
            with open(os.fspath(path), "wb") as f:
                f.write(model.SerializeToString())
        return model
    # a protobuf holds at most 2 GB: the initializers go to one file beside the model
    if path is None:
        raise OnnxExportError([f"the initializers take {size} bytes, more than one "
                               f"protobuf holds; give a path to write them as ONNX external "
                               f"data"])
    path = os.fspath(path)
    location = os.path.basename(path) + ".data"
    if os.path.exists(os.path.join(os.path.dirname(path) or ".", location)):
        os.remove(os.path.join(os.path.dirname(path) or ".", location))   # not appended to
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=1024)
    _check(onnx, path)
    return model


#: initializer bytes above which `export` writes them as external data (a protobuf, the
#: model file, holds at most 2 GB)
EXTERNAL_DATA_BYTES = 1 << 30


def _check(onnx, model_or_path):
    try:
        onnx.checker.check_model(model_or_path, full_check=True)
    except Exception as e:   # ValidationError, InferenceError
        raise OnnxExportError([f"onnx.checker rejects the exported model: {e}"]) from e
