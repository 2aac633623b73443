"""The user's graph: TF1-style `Graph`, `Operation` and `Tensor`.

This graph keeps every op the user created, as created: its unique name (with name
scope), type, inputs, control inputs, device string and the Python file:line that made
it. Shapes are inferred eagerly through the op table (symbolic dims unify in the graph's
`SymbolTable`), so `t.shape` is known at build time and bad shapes fail where the user
wrote them. Compilation converts a pruned copy into the compiler IR (`convert.py`); this
graph is never rewritten.

Non-primitive op types that exist only here: `NoOp` (grouping, initializers),
`identity`, `placeholder_with_default`, `deferred`/`deferred_grad` (a composite
that needs ranks unknown while the graph is built; `deferred.py`), and the control-flow
ops `While` and `If` (frontend/control_flow.py), which have one output per value and
hold their bodies as `UserRegion`s: ops created while a body is traced carry
`op.region`, and a value made inside a body can be used only inside it. Host input
(tf.data iterators, queues) adds plain placeholders and NoOps, listed in
`graph.host_io` (compiler/data/hostio.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import traceback

from ..ir import dims as D
from ..ir.dtypes import DType
from ..ir.types import TensorType, format_type
from ..ops import InferContext
from ..ops import get as get_op
from .device_spec import DeviceSpec, merge_device_scopes

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NAME_RE = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")


class GraphError(ValueError):
    """Misuse of the graph API (another graph's tensor, bad names, cycles...)."""


class NotFoundError(KeyError):
    """No tensor or operation of that name in the graph (a KeyError that prints plainly)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def user_location() -> str:
    """file:line of the innermost stack frame outside the flowc package."""
    for frame in reversed(traceback.extract_stack()):
        path = os.path.abspath(frame.filename)
        if not path.startswith(_PKG_DIR + os.sep) and "importlib" not in path:
            return f"{os.path.basename(frame.filename)}:{frame.lineno}"
    return "<unknown>"


class Tensor:
    """The single output of an operation. Use it like a TF1 tensor."""

    __array_priority__ = 100  # numpy defers to our operators

    def __init__(self, op: "Operation", value_index: int, type_: TensorType):
        self.op = op
        self.value_index = value_index
        self._type = type_

    @property
    def graph(self):
        return self.op.graph

    @property
    def name(self) -> str:
        return f"{self.op.name}:{self.value_index}"

    @property
    def type(self) -> TensorType:
        table = self.op.graph.symbols
        shape = self._type.shape
        return TensorType(self._type.dtype, None if shape is None else
                          tuple(table.resolve(d) for d in shape))

    @property
    def dtype(self) -> DType:
        return self._type.dtype

    @property
    def shape(self) -> "TensorShape":
        return TensorShape(self.type.shape)

    def get_shape(self) -> "TensorShape":
        return self.shape

    @property
    def device(self) -> str:
        return self.op.device

    def consumers(self):
        return [op for op in self.op.graph.get_operations() if self in op.inputs]

    def eval(self, feed_dict=None, session=None):
        sess = session or get_default_session()
        return sess.run(self, feed_dict)

    def __repr__(self):
        return f"<fc.Tensor {self.name!r} {format_type(self.type)}>"

    def __bool__(self):
        raise TypeError("using a flowc Tensor as a Python bool is not allowed; use fc.where "
                        "or compare values after Session.run")

    def __iter__(self):
        shape = self._type.shape
        if shape is None or not shape or not isinstance(shape[0], int):
            raise TypeError(f"cannot iterate over {self!r}: its first dimension is not static")
        return (self[i] for i in range(shape[0]))

    def __len__(self):
        shape = self._type.shape
        if shape is None or not shape or not isinstance(shape[0], int):
            raise TypeError(f"len() of {self!r} is not static")
        return shape[0]


class Dimension(int):
    """A static dim read by indexing a TensorShape: an int that also has TF1's `.value`
    (TF1 code writes `x.get_shape()[1].value`)."""

    @property
    def value(self):
        return int(self)


class TensorShape(tuple):
    """A tuple of dims (ints, symbolic `DimExpr`s) with TF1's `as_list()`; `shape[i]` of a
    static dim is a `Dimension` (an int with `.value`)."""

    def __getitem__(self, index):
        dim = super().__getitem__(index)
        if isinstance(index, int) and type(dim) is int:
            return Dimension(dim)
        return dim

    def __new__(cls, dims):
        obj = super().__new__(cls, () if dims is None else tuple(dims))
        obj.known_rank = dims is not None
        return obj

    @property
    def ndims(self):
        return len(self) if self.known_rank else None

    @property
    def rank(self):
        return self.ndims

    def as_list(self):
        if not self.known_rank:
            raise ValueError("as_list() is not defined on an unknown TensorShape")
        return [d if isinstance(d, int) else None for d in self]

    def is_fully_defined(self):
        return self.known_rank and all(isinstance(d, int) for d in self)

    def num_elements(self):
        if not self.is_fully_defined():
            return None
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self):
        if not self.known_rank:
            return "TensorShape(None)"
        return "TensorShape([" + ", ".join(
            str(d) if d is None or isinstance(d, int) else D.format_dim(d) for d in self) + "])"


class Operation:
    def __init__(self, graph, op_type, name, inputs, attrs, control_inputs, device, loc):
        self.graph = graph
        self.type = op_type
        self.name = name
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        self.control_inputs = list(control_inputs)
        self.device = device
        self.loc = loc
        self.outputs: list[Tensor] = []
        self._id = len(graph._ops)
        self.region = graph.current_region()   # the control-flow body it was made in
        self._colocation: tuple = ()  # TF1's `_class` attr: ("loc:@op_name", ...)

    def describe(self) -> str:
        return f"{self.type} {self.name!r} (created at {self.loc})"

    def colocation_groups(self) -> list:
        """TF1's: the "loc:@name" groups this op is colocated with (its own by default)."""
        return list(self._colocation) or [f"loc:@{self.name}"]

    def _set_device(self, device):
        self.device = DeviceSpec.from_string(device).to_string() if device else ""

    def get_attr(self, name):
        if name == "_class" and name not in self.attrs:
            if not self._colocation:
                raise ValueError(f"{self.describe()} has no _class attr (no colocation)")
            return list(self._colocation)
        return self.attrs[name]

    def run(self, feed_dict=None, session=None):
        (session or get_default_session()).run(self, feed_dict)

    def __repr__(self):
        return f"<fc.Operation {self.name!r} type={self.type}>"


class UserRegion:
    """A control-flow body of the user's graph (a while loop's cond or body, a cond's
    branch), traced once: `params` are the `param` tensors the traced function received
    (a while loop's variables; none for a cond branch), `ops` the ops created while
    tracing (in creation order), `results` the tensors it returned, `captures` the outer
    tensors its ops use (found by `find_captures` after tracing), `parent` the region it
    is nested in. The region op (`While`, `If`) takes its carried values and then the
    captures as inputs; conversion turns each capture into a region param."""

    def __init__(self, kind: str, owner: str, parent=None):
        self.kind = kind          # "cond", "body", "then", "else"
        self.owner = owner        # the region op's name (its name scope)
        self.parent = parent
        self.params: list = []
        self.ops: list = []
        self.results: list = []
        self.captures: list = []
        self.control_captures: list = []

    def describe(self) -> str:
        return f"the {self.kind} of {self.owner!r}"

    def encloses(self, op) -> bool:
        """Whether `op` was made in this region or in a region nested in it."""
        r = op.region
        while r is not None:
            if r is self:
                return True
            r = r.parent
        return False

    def find_captures(self) -> list:
        """The outer tensors the region's ops and results use, in first-use order; the
        outer ops its ops depend on through control dependencies go to
        `control_captures` (the region op depends on them, so they run first)."""
        out, control = [], []
        uses = [t for op in self.ops for t in op.inputs] + list(self.results)
        for t in uses:
            if not self.encloses(t.op) and t not in out:
                out.append(t)
        for op in self.ops:
            control += [c for c in op.control_inputs
                        if not self.encloses(c) and c not in control]
        self.captures, self.control_captures = out, control
        return out

    def __repr__(self):
        return f"<UserRegion {self.describe()}>"


def op_regions(op) -> list:
    """The control-flow bodies of a `While` (cond, body) or `If` (then, else) op, in
    attr order; [] for any other op. A region's `ops` are its own (a nested region op's
    body ops are in that op's regions)."""
    return [v for v in op.attrs.values() if isinstance(v, UserRegion)]


class Graph:
    """A TF1-style dataflow graph. Use `with g.as_default():` to build into it."""

    def __init__(self):
        self._ops: list[Operation] = []
        self._by_name: dict[str, Operation] = {}
        self._name_counts: dict[str, int] = {}
        self.symbols = D.SymbolTable()
        self._scope_stack: list[str] = []
        self._control_stack: list[list[Operation]] = []
        self._device_stack: list = []      # device strings, functions, None
        self._colocation_stack: list = []  # ops of the enclosing colocate_with blocks
        self.seed = None
        self._op_seed_counter = 0
        self.collections: dict[str, list] = {}
        self.variable_store: dict = {}     # for get_variable (name -> Variable)
        self._var_scope_stack: list = []
        self.finalized = False
        # host-side input (tf.data iterators, queues: compiler/data/hostio.py): set on the
        # first iterator or queue; `Session.run` hands it each run's fetches and feeds
        self.host_io = None
        self.fixed_loc = None     # every op's file:line, when set (convert's scratch graphs)
        self._region_stack: list = []      # UserRegions being traced, innermost last

    # ---- defaults ---------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        _default.stack.append(self)
        try:
            yield self
        finally:
            _default.stack.pop()

    # ---- names ------------------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        if self._scope_stack and self._scope_stack[-1]:
            name = self._scope_stack[-1] + "/" + name
        count = self._name_counts.get(name, 0)
        unique = name if count == 0 else f"{name}_{count}"
        while unique in self._by_name or (count and unique in self._name_counts):
            count += 1
            unique = f"{name}_{count}"
        if mark_as_used:
            self._name_counts[name] = count + 1
            self._name_counts.setdefault(unique, 1)
        return unique

    def get_name_scope(self) -> str:
        return self._scope_stack[-1] if self._scope_stack else ""

    @contextlib.contextmanager
    def name_scope(self, name):
        if name is None or name == "":
            new = ""
        elif name.endswith("/"):
            new = name[:-1]
        else:
            if not _NAME_RE.match(name):
                raise GraphError(f"invalid name scope {name!r}")
            new = self.unique_name(name)
        self._scope_stack.append(new)
        try:
            yield (new + "/") if new else ""
        finally:
            self._scope_stack.pop()

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs):
        if control_inputs is None:
            self._control_stack.append(None)
        else:
            ops = []
            for c in control_inputs:
                c = c.op if isinstance(c, Tensor) else c
                if not isinstance(c, Operation):
                    raise TypeError(f"control_dependencies expects ops or tensors, got {c!r}")
                if c.graph is not self:
                    raise GraphError(f"control input {c.name!r} is from another graph")
                ops.append(c)
            self._control_stack.append(ops)
        try:
            yield
        finally:
            self._control_stack.pop()

    def _current_control_inputs(self):
        out = []
        for frame in reversed(self._control_stack):
            if frame is None:
                break
            out.extend(c for c in frame if c not in out)
        return out

    @contextlib.contextmanager
    def device(self, name):
        """Ops created inside get `name` (a device string, a DeviceSpec, a device
        function fn(op) -> string, or None to clear the enclosing scopes), merged with
        the enclosing scopes as TF1 merges them (frontend/device_spec.py)."""
        if name is not None and not callable(name):
            DeviceSpec.from_string(name)  # a bad device string: ValueError here
        self._device_stack.append(name)
        try:
            yield
        finally:
            self._device_stack.pop()

    @contextlib.contextmanager
    def colocate_with(self, op, ignore_existing=False):
        """Ops created inside are colocated with `op` (an op, tensor or variable): they
        get its colocation groups (the `_class` attr, "loc:@name") and its device, and
        the enclosing device scopes are suspended (inner ones still apply), as TF1's.
        `colocate_with(None, ignore_existing=True)` clears the enclosing colocation."""
        if op is None and not ignore_existing:
            raise ValueError("colocate_with(None) resets the colocation only with "
                             "ignore_existing=True")
        if op is not None:
            op = getattr(op, "op", op)  # a Tensor's or Variable's op
            if not isinstance(op, Operation):
                raise TypeError(f"colocate_with expects an op, tensor or variable, got "
                                f"{op!r}")
            if op.graph is not self:
                raise GraphError(f"colocate_with: {op.name!r} is from another graph")
        saved = self._device_stack, self._colocation_stack
        stack = [] if ignore_existing else list(self._colocation_stack)
        self._colocation_stack = stack + ([op] if op is not None else [])
        if op is not None:
            self._device_stack = []
        try:
            yield
        finally:
            self._device_stack, self._colocation_stack = saved

    # ---- control-flow bodies ---------------------------------------------------------
    def current_region(self):
        return self._region_stack[-1] if self._region_stack else None

    @contextlib.contextmanager
    def region_scope(self, region):
        """Ops created inside belong to `region` (a body being traced); the control
        dependencies of enclosing blocks do not reach into it (the region op gets them)."""
        self._region_stack.append(region)
        self._control_stack.append(None)
        try:
            yield region
        finally:
            self._control_stack.pop()
            self._region_stack.pop()

    def _check_region_input(self, op_type, t):
        """A value computed inside a body can be used only inside that body."""
        inner = t.op.region
        if inner is None:
            return
        r = self.current_region()
        while r is not None:
            if r is inner:
                return
            r = r.parent
        raise GraphError(f"{op_type}: input {t.name!r} is computed inside {inner.describe()} "
                         "and cannot be used outside it; use the control-flow op's outputs")

    @contextlib.contextmanager
    def discarding_ops(self):
        """Ops made inside are removed from the graph afterwards, and its names, op
        seeds, collections and get_variable store are as before: a throwaway trace
        (the element-shape probe of frontend/tensor_array.py)."""
        mark, counts, seeds = len(self._ops), dict(self._name_counts), self._op_seed_counter
        collections = {k: list(v) for k, v in self.collections.items()}
        store = dict(self.variable_store)
        try:
            yield
        finally:
            for op in self._ops[mark:]:
                self._by_name.pop(op.name, None)
            del self._ops[mark:]
            self._name_counts, self._op_seed_counter = counts, seeds
            self.collections, self.variable_store = collections, store

    # ---- ops ----------------------------------------------------------------------
    def create_op(self, op_type, inputs, attrs=None, name=None, out_type=None,
                  exact_name=False) -> Operation:
        """Add an op. For primitives the output type comes from the op table.
        `exact_name` uses `name` as given (it must be free) instead of uniquifying it."""
        if self.finalized:
            raise GraphError("the graph is finalized and cannot be modified")
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"{op_type}: input {t!r} is not a flowc Tensor")
            if t.graph is not self:
                raise GraphError(f"{op_type}: input tensor {t.name!r} is from another graph; "
                                 "build all ops of a computation in one graph")
            self._check_region_input(op_type, t)
        attrs = dict(attrs or {})
        if exact_name:
            if name in self._by_name:
                raise GraphError(f"an operation named {name!r} already exists")
        else:
            name = self.unique_name(name or op_type)
        loc = self.fixed_loc or user_location()
        op = Operation(self, op_type, name, inputs, attrs, self._current_control_inputs(),
                       "", loc)
        if self._colocation_stack:
            op._colocation = tuple(sorted({g for c in self._colocation_stack
                                           for g in c.colocation_groups()}))
            op.device = next((c.device for c in self._colocation_stack if c.device), "")
        if self._device_stack:
            merge_device_scopes(self._device_stack, op)
        if out_type is None and op_type not in ("NoOp", "PrintV2"):  # PrintV2: tf.print
            out_type = self._infer(op)
        if out_type is not None:
            op.outputs.append(Tensor(op, 0, out_type))
        self._ops.append(op)
        self._by_name[name] = op
        if op.region is not None:
            op.region.ops.append(op)
        return op

    def _infer(self, op) -> TensorType:
        opdef = get_op(op.type)
        ctx = InferContext(self.symbols, f"{op.type} {op.name!r} at {op.loc}")
        in_types = [t.type for t in op.inputs]
        for t in op.inputs:
            if t.dtype.kind == "string":
                raise TypeError(f"{op.describe()}: input {t.name!r} is a string tensor; "
                                "string tensors are host values (constants, summaries, "
                                "fetches) and cannot enter a compiled op")
        if opdef.arity is not None and len(in_types) != opdef.arity:
            raise TypeError(f"{op.type} takes {opdef.arity} inputs, got {len(in_types)}")
        try:
            t = opdef.infer(in_types, op.attrs, ctx)
        except (D.ShapeError, TypeError, ValueError, IndexError) as e:
            raise type(e)(f"{op.describe()}: {e}") from None
        return TensorType(t.dtype, ctx.resolve_shape(t.shape))

    def get_operations(self):
        return list(self._ops)

    def get_operation_by_name(self, name) -> Operation:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFoundError(f"no operation named {name!r} in the graph") from None

    def get_tensor_by_name(self, name) -> Tensor:
        if ":" not in name:
            raise ValueError(f"tensor names look like 'op:0'; got {name!r} (an op name?)")
        opname, idx = name.rsplit(":", 1)
        op = self._by_name.get(opname)
        if op is None or not idx.isdigit() or int(idx) >= len(op.outputs):
            raise NotFoundError(f"no tensor named {name!r} in the graph")
        return op.outputs[int(idx)]

    def as_graph_element(self, obj):
        if isinstance(obj, (Tensor, Operation)):
            if obj.graph is not self:
                raise GraphError(f"{obj.name!r} is from another graph")
            return obj
        if hasattr(obj, "_as_graph_element"):
            return self.as_graph_element(obj._as_graph_element())
        if isinstance(obj, str):
            return self.get_tensor_by_name(obj) if ":" in obj else self.get_operation_by_name(obj)
        raise TypeError(f"cannot interpret {obj!r} as a tensor or operation of the graph")

    def add_to_collection(self, key, value):
        self.collections.setdefault(key, []).append(value)

    def get_collection_ref(self, key):
        """The collection `key` itself (a list, created empty when missing): appending to
        it adds to the graph's collection (TF1)."""
        return self.collections.setdefault(key, [])

    def get_collection(self, key, scope=None):
        items = self.collections.get(key, [])
        if scope:
            items = [v for v in items if getattr(v, "name", "").startswith(scope)]
        return list(items)

    def next_op_seed(self) -> int:
        self._op_seed_counter += 1
        return self._op_seed_counter

    def finalize(self):
        self.finalized = True


class _DefaultStack(threading.local):
    def __init__(self):
        self.stack = []
        self.base = Graph()


_default = _DefaultStack()


def get_default_graph() -> Graph:
    return _default.stack[-1] if _default.stack else _default.base


def reset_default_graph():
    if _default.stack:
        raise AssertionError("reset_default_graph called inside a `with g.as_default()` block")
    _default.base = Graph()


# ---- the default session ----------------------------------------------------------------
class _SessionStack(threading.local):
    def __init__(self):
        self.stack = []


#: the sessions entered with `with sess:` / `sess.as_default()`, innermost last; the
#: Session (compiler/session.py) pushes and pops, `Tensor.eval` and `Operation.run` read
default_sessions = _SessionStack()


def get_default_session():
    if not default_sessions.stack:
        raise RuntimeError("no default session: use `with fc.Session() as sess:` or pass "
                           "session= explicitly")
    return default_sessions.stack[-1]
