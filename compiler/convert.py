"""The master's first step: prune the user's graph for (fetches, feeds) and convert it
into a compiler-IR `Program`.

- Walks back from the fetches through data and control inputs, stopping at fed tensors;
  reports unfed placeholders, unknown or foreign fetches and cycles with the user's
  names and file:line.
- Re-infers every type in a fresh symbol table (so an unknown-rank placeholder can be
  specialized to the fed rank) and then rebuilds the nodes with canonical dims.
- Converts the control-flow ops `While`/`If` (frontend/control_flow.py) into IR `while`
  and `cond` nodes over closed regions (closure conversion: every outer value a body
  uses is an input of the region op and a param inside), plus one `get` per output; the
  body's nodes keep their names and file:line. A value from inside a body is never a
  fetch or an input of an outer op.
- Implements "state within one run": a variable's value seen by an op is the value from
  before the run, unless an assign to that variable is ordered before the op (through
  control dependencies or data flow), in which case it is that assign's result. Two
  assigns to one variable in one run must be ordered.
"""

from __future__ import annotations

from .errors import CompileError
from .expand import Expansion
from .frontend.deferred import DEFERRED_OPS
from .frontend.graph import Graph, GraphError, Operation, Tensor
from .ir import dims as D
from .ir.nodes import NodeCache, Program, new_token
from .ir.regions import Region
from .ir.types import TensorType, TupleType
from .ops import InferContext, get, names
from .summary.ops import SUMMARY_OP_TYPES

_ASSIGNS = names(writes_variable=True)
_TOKENED = names(needs_token=True)
#: user-graph control-flow op type -> (IR op, its region attrs)
REGION_OPS = {"While": ("while", ("cond", "body")), "If": ("cond", ("then", "else"))}


def _needed_ops(fetch_ops, fed, within=None):
    """Ops to run, in topological order; raises on a cycle. `within` (a set of ops, or
    None for the whole graph): a partition's ops (compiler/partition.py); the walk does
    not leave them: its data inputs from other partitions are fed (its recvs) and its
    control inputs from other partitions are dropped (the partition order runs them
    first)."""
    order, state = [], {}
    for root in fetch_ops:
        stack = [(root, iter(_preds(root, fed, within)))]
        if state.get(root) == 2:
            continue
        state[root] = 1
        while stack:
            op, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[op] = 2
                order.append(op)
                continue
            s = state.get(nxt)
            if s == 1:
                cycle = [o.name for o, _ in stack] + [nxt.name]
                raise GraphError("the graph has a cycle: " + " -> ".join(cycle))
            if s is None:
                state[nxt] = 1
                stack.append((nxt, iter(_preds(nxt, fed, within))))
    return order


def _preds(op, fed, within=None):
    # a print's data are fetched by the Session (frontend/printing.py), not computed here
    inputs = op.inputs[:1] if op.type == "Print" else () if op.type == "PrintV2" \
        else op.inputs
    out = [t.op for t in inputs if t not in fed]
    # a summary op as a control input orders nothing that compiled code can observe (it
    # only builds a string on the host when fetched), so it is not part of the program
    out += [c for c in op.control_inputs if c not in out and c.type not in SUMMARY_OP_TYPES
            and (within is None or c in within)]
    return out


class _Converter:
    def __init__(self, graph: Graph, feeds, feed_ranks, within=None):
        self.graph = graph
        self.within = within  # a partition's ops, or None (see _needed_ops)
        self.feeds = list(feeds)
        self.fed = set(self.feeds)
        self.feed_ranks = feed_ranks or {}
        self.table = D.SymbolTable()
        self.cache = NodeCache()
        self.value = {}      # Tensor -> Node
        self.before = {}     # Operation -> frozenset of assign ops ordered before it
        self.origins = {}
        self.sym_map = {}    # user-graph root Sym -> program dim (for dims in op attrs)
        self.expansions = {}  # deferred Operation -> its Expansion (compiler/expand.py)
        self.parent = None    # the converter whose deferred op this one's graph builds

    def bind_graph_dim(self, declared, dim):
        """Map the user graph's symbol behind `declared` (if any, and not mapped yet) to
        the program dim `dim`."""
        g = self.graph.symbols.resolve(declared)
        atom = g.as_atom() if isinstance(g, D.DimExpr) else None
        if isinstance(atom, D.Sym) and atom not in self.sym_map:
            self.sym_map[atom] = dim

    def keep_declared_equal(self, declared, dim):
        """A placeholder dim that the user graph made equal to an earlier placeholder's
        (an imported ONNX model's shared `dim_param`, or an op between them) is the same
        program dim, whether or not an op between them is compiled."""
        g = self.graph.symbols.resolve(declared)
        atom = g.as_atom() if isinstance(g, D.DimExpr) else None
        bound = self.sym_map.get(atom) if isinstance(atom, D.Sym) else None
        if bound is not None and bound != dim:
            own = declared.as_atom() if isinstance(declared, D.DimExpr) else None
            why = self.graph.symbols.merge_reason(own) if isinstance(own, D.Sym) else ""
            self.table.unify(bound, dim, why or "declared equal in the graph")

    def map_attr(self, value, op):
        """An attr value with user-graph dims rewritten to the program's dims."""
        if isinstance(value, tuple):
            return tuple(self.map_attr(v, op) for v in value)
        if not isinstance(value, D.DimExpr):
            return value
        resolved = self.graph.symbols.resolve(value)
        if isinstance(resolved, int):
            return resolved

        def program_dim(s):
            if s not in self.sym_map and self.parent is not None:
                return self.parent.map_attr(D.DimExpr.atom(s), op)   # captured by a build
            if s not in self.sym_map:
                raise CompileError(f"{op.describe()}: its attributes use the dimension "
                                   f"{s.name} ({s.origin or 'symbolic'}), which no fed "
                                   "value determines")
            return self.sym_map[s]
        return resolved.substitute(program_dim)

    def placeholder_for(self, t: Tensor):
        declared = t._type.shape
        if declared is None:
            fed = self.feed_ranks.get(t.name)
            if fed is None:
                raise CompileError(f"{t.op.describe()} has unknown rank; feed it to compile")
            # a rank, or the fed dims (1 where the feed's extent is 1, else None)
            declared = (None,) * fed if isinstance(fed, int) else tuple(fed)
        shape = []
        for axis, d in enumerate(declared):
            if isinstance(d, int):
                shape.append(d)
            else:
                s = self.table.new_symbol(f"{t.op.name}[{axis}]")
                self.origins[s.name] = (t.op.name, axis)
                shape.append(D.DimExpr.atom(s))
                if d is not None:
                    self.bind_graph_dim(d, shape[-1])
                    self.keep_declared_equal(d, shape[-1])
        ty = TensorType(t.dtype, tuple(shape))
        node = self.cache.make("placeholder", (), {"name": t.name, "dtype": t.dtype,
                                                   "shape": ty.shape}, ty)
        node.add_provenance(t.op.name, t.op.loc)
        return node

    def order_before(self, op):
        hb = set()
        for p in _preds(op, self.fed, self.within):
            hb |= self.before[p]
            if p.type in _ASSIGNS:
                hb.add(p)
        self.before[op] = frozenset(hb)

    def latest_assign(self, var_name, op):
        cands = [a for a in self.before[op] if a.attrs["var"] == var_name]
        return _final_assign(self, var_name, cands) if cands else None

    def input_node(self, t: Tensor, consumer: Operation):
        if t not in self.fed and t.op.type == "variable":
            a = self.latest_assign(t.op.attrs["var"], consumer)
            if a is not None:
                return self.value[a.outputs[0]]
        return self.value[t]

    def convert_op(self, op: Operation):
        self.order_before(op)
        if op.type in ("NoOp", "PrintV2"):
            return
        if op.region is not None:
            raise CompileError(f"{op.describe()} is inside {op.region.describe()}: its value "
                               "exists only inside that body; fetch the control-flow op's "
                               "outputs instead")
        out = op.outputs[0]
        if out in self.fed:
            return
        if op.outputs[0].dtype.kind == "string":
            users = [o.describe() for o in self.graph.get_operations()
                     if out in o.inputs or op in o.control_inputs]
            raise CompileError(f"{op.describe()} is a host string tensor: it can be fetched "
                               f"or summarized but not used by compiled ops "
                               f"({', '.join(users) or 'a fetched op'})")
        if op.type in REGION_OPS:
            if any(t in self.fed for t in op.outputs):
                raise CompileError(f"{op.describe()}: feed all or none of its outputs")
            inputs = [self.input_node(t, op) for t in op.inputs]
            for t, node in zip(op.outputs, self.region_op(op, inputs)):
                self.value[t] = node
            return
        if op.type == "placeholder":
            raise CompileError(f"placeholder {op.name!r} (created at {op.loc}) must be fed: "
                               f"a fetched value depends on it; add it to feed_dict")
        if op.type == "Print":   # the value of its first input (it prints on the host)
            node = self.input_node(op.inputs[0], op)
            node.add_provenance(op.name, op.loc)
            self.value[out] = node
            return
        inputs = [self.input_node(t, op) for t in op.inputs]
        if op.type in DEFERRED_OPS:
            node = self.expand(op, inputs)
        elif op.type in ("identity", "placeholder_with_default"):
            node = inputs[0]
            if op.type == "placeholder_with_default":
                self.unify_declared(op, node)
        else:
            node = self.make_primitive(op, inputs)
        node.add_provenance(op.name, op.loc)
        self.value[out] = node
        self.bind_output_dims(out, node)

    def bind_output_dims(self, out, node):
        """Map the symbols of `out`'s build-time shape that no feed determined (the -1 of a
        reshape of an unknown-rank tensor, say) to the program's dims, so attrs naming
        them convert."""
        declared = out._type.shape
        if declared is not None and len(declared) == len(node.type.shape):
            for a, b in zip(declared, node.type.shape):
                if not isinstance(a, int):
                    self.bind_graph_dim(a, b)

    # ---- deferred ops (frontend/deferred.py, expand.py) ---------------------------------
    def expand(self, op, inputs):
        """The node of a deferred op: its build (or, for "deferred_grad", the gradient of
        its forward op's build) made for the converted inputs' types."""
        if op.type == "deferred":
            exp = self.expansion(op, inputs)
            tensor = exp.out
        else:
            exp = self.expansion(op.attrs["forward"], inputs[:-1])
            tensor = exp.grad(op.attrs["index"], inputs[-1])
        node = exp.converter.convert_tensor(tensor)
        declared = op.outputs[0]._type
        if node.type.dtype is not declared.dtype or (
                declared.shape is not None and len(declared.shape) != len(node.type.shape)):
            raise CompileError(f"{op.describe()}: built {node.type}, declared {declared}")
        try:
            self.unify_declared(op, node)
        except D.ShapeError as e:
            raise CompileError(f"{op.describe()}: {e}") from None
        return node

    def expansion(self, op, nodes):
        if op not in self.expansions:
            self.expansions[op] = Expansion(op, nodes, self.child)
        return self.expansions[op]

    def child(self, graph, placeholders, nodes, sym_map):
        """A converter of a scratch graph whose placeholders are `nodes`, sharing this
        program's symbol table, node cache and symbol origins."""
        c = _Converter(graph, [], None)
        c.table, c.cache, c.origins, c.sym_map = self.table, self.cache, self.origins, sym_map
        c.parent = self
        for ph, node in zip(placeholders, nodes):
            c.feed(ph, node)
        return c

    def feed(self, tensor, node):
        self.fed.add(tensor)
        self.value[tensor] = node
        self.before.setdefault(tensor.op, frozenset())

    def convert_tensor(self, tensor):
        """Convert what `tensor` needs (ops converted before are kept) and return its node."""
        for op in _needed_ops([tensor.op], self.fed):
            if op not in self.before:
                self.convert_op(op)
        return self.value[tensor] if tensor in self.fed else self.input_node(tensor, tensor.op)

    # ---- control flow: user While/If ops -> IR while/cond over closed regions ----------
    def region_op(self, op: Operation, inputs) -> list:
        """The `get` nodes of the IR region op for the user op `op` over `inputs`."""
        ir_op, names = REGION_OPS[op.type]
        carried = op.attrs.get("carried", 0)
        operands = inputs if ir_op == "while" else inputs[1:]
        captures = op.inputs[carried:] if ir_op == "while" else op.inputs[1:]
        types = [n.type for n in operands]
        attrs = {k: self.region(op, op.attrs[k], types, captures) for k in names}
        if ir_op == "while":
            attrs["carried"] = carried
        ctx = InferContext(self.table, f"{op.type} {op.name!r} at {op.loc}")
        try:
            ty = get(ir_op).infer([n.type for n in inputs], attrs, ctx)
        except (D.ShapeError, TypeError, ValueError, IndexError) as e:
            raise CompileError(f"{op.describe()}: {e}") from None
        node = self.cache.make(ir_op, inputs, attrs, ty)
        node.add_provenance(op.name, op.loc)
        outs = []
        for i, t in enumerate(ty.types):
            g = self.cache.make("get", [node], {"index": i}, t)
            g.add_provenance(op.outputs[i].name, op.loc)
            outs.append(g)
        return outs

    def region(self, owner: Operation, user_region, types, captures) -> Region:
        """The closed IR region of a traced body: one param per operand of the region op
        (its carried values, then `captures`), the body's ops converted over them."""
        params = [self.cache.make("param", (), {"index": i, "dtype": t.dtype,
                                                "shape": t.shape}, t, new_token())
                  for i, t in enumerate(types)]
        for p in params:
            p.add_provenance(f"{owner.name}/{user_region.kind}/param", owner.loc)
        local = {t: params[i] for i, t in enumerate(user_region.params)}
        first = len(user_region.params)
        for j, t in enumerate(captures):
            local.setdefault(t, params[first + j])
        for uop in _region_ops(user_region):
            self.region_member(uop, local)
        return Region(params, [local[t] for t in user_region.results])

    def region_member(self, op: Operation, local: dict):
        if op.type in ("NoOp", "param"):
            return
        inputs = [local[t] for t in op.inputs]
        if op.type in REGION_OPS:
            for t, node in zip(op.outputs, self.region_op(op, inputs)):
                local[t] = node
            return
        if op.type in _ASSIGNS or op.type == "placeholder":
            raise CompileError(f"{op.describe()} cannot be inside {op.region.describe()}")
        if op.type in ("identity", "placeholder_with_default"):
            node = inputs[0]
        else:
            node = self.make_primitive(op, inputs)
        node.add_provenance(op.name, op.loc)
        local[op.outputs[0]] = node

    def unify_declared(self, op, node):
        declared = op.outputs[0]._type.shape
        if declared is None or node.type.shape is None:
            return
        for a, b in zip(declared, node.type.shape):
            if isinstance(a, int):
                self.table.unify(a, b, f"{op.type} {op.name!r} at {op.loc}")
            else:
                self.bind_graph_dim(a, b)

    def make_primitive(self, op, inputs):
        opdef = get(op.type)
        ctx = InferContext(self.table, f"{op.type} {op.name!r} at {op.loc}")
        attrs = {k: self.map_attr(v, op) for k, v in op.attrs.items()}
        try:
            ty = opdef.infer([n.type for n in inputs], attrs, ctx)
        except (D.ShapeError, TypeError, ValueError, IndexError) as e:
            raise CompileError(f"{op.describe()}: {e}") from None
        if ty.shape is None:
            raise CompileError(f"{op.describe()}: rank unknown after feeding; cannot compile")
        token = new_token() if op.type in _TOKENED else 0
        return self.cache.make(op.type, inputs, attrs, ty, token)


def convert(graph: Graph, fetches, feeds, targets=(), feed_ranks=None, name="main",
            within=None) -> Program:
    """Program for `fetches` (Tensors, the outputs in order), `targets` (Operations run
    for their effects) and `feeds` (Tensors, the arguments in order). `within`: the ops
    of one partition (compiler/partition.py): the walk stays inside them, data edges
    from other partitions must be among `feeds`, control edges from them are dropped."""
    conv = _Converter(graph, feeds, feed_ranks, within)
    for f in list(fetches) + list(targets) + list(feeds):
        if f.graph is not graph:
            raise GraphError(f"{f.name!r} is from another graph than the session's graph")
    # a fetched tensor that is also fed is the fed value (TF1): its op need not run
    fetch_ops = [t.op for t in fetches if t not in conv.fed] + list(targets)
    for t in feeds:
        conv.value[t] = conv.placeholder_for(t)
        conv.before.setdefault(t.op, frozenset())
    ops = _needed_ops(fetch_ops, conv.fed, within)
    if within is not None:
        outside = next((op for op in ops if op not in within), None)
        if outside is not None:
            raise CompileError(f"{outside.describe()} is outside the partition being "
                               "compiled, and none of its outputs the partition uses is "
                               "fed (a recv)")
    for op in ops:
        conv.convert_op(op)
    effects = {}
    by_var: dict = {}  # variable -> its assigns in order (one pass: a training step has
    for op in ops:     # thousands of variables, each assigned once)
        if op.type in _ASSIGNS:
            by_var.setdefault(op.attrs["var"], []).append(op)
    for var, assigns in by_var.items():
        last = _final_assign(conv, var, assigns)
        effects[var] = conv.value[last.outputs[0]]
    outputs = [conv.value[t] if t in conv.fed else conv.input_node(t, t.op) for t in fetches]
    inputs = [conv.value[t] for t in feeds]
    reasons = {}
    for i, n in enumerate(inputs):
        for axis, d in enumerate(n.type.shape):
            s = d.as_atom() if isinstance(d, D.DimExpr) else None
            if s is not None and conv.table.merge_reason(s):
                reasons[(i, axis)] = conv.table.merge_reason(s)
    prog = _canonical_program(conv, inputs, outputs, effects, name)
    prog.input_dim_reasons = reasons
    prog.output_names = [t.name for t in fetches]
    return prog


def _region_ops(user_region) -> list:
    """The ops of a traced body that its results need, in creation order."""
    members = set(user_region.ops)
    needed, stack = set(), [t.op for t in user_region.results if t.op in members]
    while stack:
        op = stack.pop()
        if op in needed:
            continue
        needed.add(op)
        stack.extend(t.op for t in op.inputs if t.op in members and t.op not in needed)
    return [op for op in user_region.ops if op in needed]


def _final_assign(conv, var, assigns):
    last = [a for a in assigns if all(b is a or b in conv.before[a] for b in assigns)]
    if not last:
        names = ", ".join(a.describe() for a in assigns)
        raise CompileError(f"variable {var!r} is assigned more than once in one run without "
                           f"an order between the assigns ({names}); order them with "
                           "control_dependencies")
    return last[0]


def _canonical_program(conv, inputs, outputs, effects, name) -> Program:
    """Rebuild every node with dims resolved through the final symbol table."""
    table = conv.table
    prog = Program(inputs, outputs, effects, [], name=name)
    cache, new = NodeCache(), {}

    def res(v):
        if isinstance(v, (int, D.DimExpr)) and not isinstance(v, bool):
            return table.resolve(v)
        if isinstance(v, tuple):
            return tuple(res(x) for x in v)
        return v

    def res_type(ty):
        if isinstance(ty, TupleType):
            return TupleType(tuple(res_type(t) for t in ty.types))
        return TensorType(ty.dtype, res(ty.shape))

    plain = (int, str, bool, type(None))

    def unchanged(v):  # whether res(v) == v, so the node need not be rebuilt
        if type(v) in plain:
            return True
        if isinstance(v, D.DimExpr):
            return table.resolve(v) is v
        if isinstance(v, tuple):
            return all(unchanged(x) for x in v)
        return not isinstance(v, Region)

    def type_unchanged(ty):
        if isinstance(ty, TupleType):
            return all(type_unchanged(t) for t in ty.types)
        return ty.shape is None or unchanged(ty.shape)

    def copy_all(nodes):
        for node in nodes:
            if id(node) in new:
                continue
            if (all(new[id(i)] is i for i in node.inputs) and unchanged(node.attrs)
                    and type_unchanged(node.type)):
                # the rebuild would be this node again (same inputs, attrs and type, and
                # the same provenance): keep it, unless an equal node was rebuilt before
                # (it then merges into that one, as the rebuild would)
                kept = cache._nodes.setdefault(node._key, node)
                if kept is not node:
                    for nm in node.names:
                        kept.add_provenance(nm, "")
                    kept.locs.extend(loc for loc in node.locs if loc not in kept.locs)
                new[id(node)] = kept
                continue
            attrs = {}
            for k, v in node.attrs:
                if isinstance(v, Region):
                    copy_all(v.topo())
                    v = Region([new[id(p)] for p in v.params], [new[id(r)] for r in v.results])
                attrs[k] = res(v)
            n2 = cache.make(node.op, [new[id(i)] for i in node.inputs], attrs,
                            res_type(node.type), node.token)
            for nm in node.names:
                n2.add_provenance(nm, "")
            n2.locs.extend(loc for loc in node.locs if loc not in n2.locs)
            new[id(node)] = n2

    copy_all(prog.topo())
    symbols = []
    for n in inputs:
        for d in new[id(n)].type.shape:
            if isinstance(d, D.DimExpr):
                s = d.as_atom()
                if s not in symbols:
                    symbols.append(s)
    free = set(symbols)
    for node in new.values():
        types = node.type.types if isinstance(node.type, TupleType) else (node.type,)
        for d in (d for t in types for d in t.shape):
            if isinstance(d, D.DimExpr) and not d.symbols() <= free:
                raise CompileError(f"{node.describe()}: its shape "
                                   f"{node.type} depends on dims no feed determines")
    checks = []
    for a, b, why in table.checks:
        a, b = table.resolve(a), table.resolve(b)
        if a == b:
            continue
        if isinstance(a, int) and isinstance(b, int):
            raise CompileError(f"{why}: dimension {a} is not equal to {b}")
        checks.append((a, b, why))
    bounds = []
    for a, b, why in table.bounds:
        a, b = table.resolve(a), table.resolve(b)
        diff = D.sub(b, a)
        if isinstance(diff, int):
            if diff < 0:
                raise CompileError(f"{why}: {D.format_dim(a)} <= {D.format_dim(b)} fails")
            continue
        bounds.append((a, b, why))
    return Program(
        bounds=bounds,
        inputs=[new[id(n)] for n in inputs],
        outputs=[new[id(o)] for o in outputs],
        effects={k: new[id(v)] for k, v in effects.items()},
        symbols=symbols,
        checks=checks,
        symbol_origins={s.name: conv.origins.get(s.name) for s in symbols},
        name=name,
    )
