"""Fusion: groups the IR nodes of a program into kernels and explains every decision.

`plan_kernels(program) -> KernelPlan`. A kernel (`Group`) writes one buffer, its `root`;
every other node in `members` is computed inside the kernel's loops, never stored:

- **loop**: an elementwise/movement root with its inlined producers (chains of
  elementwise ops, broadcasts and movement ops as index arithmetic) — one loop nest;
- **row**: a root over a shape F = rows x inner whose members include reductions over
  the trailing (inner) axes of F; per row the kernel computes each reduction with an
  inner loop, then the root (softmax, log-softmax, cross-entropy rows: one kernel);
- **reduce**: a reduction over other axes, with its producers inlined (input fusion);
- **matmul**: a matmul plus its elementwise epilogue (bias add, activation), applied
  per output row after the accumulation;
- **conv**: a conv plus its elementwise epilogue (bias add, batch norm at inference as
  a per-channel scale and shift, relu, a residual add), applied to the finished output
  (compiler/lower/conv_nests.py);
- **single**: argmax/argmin, scatter_add, shape, assigns, iota, random draws;
- **control**: a `while` or `cond` with its `get`s; each of its regions is planned as a
  program of its own (fusion works inside bodies), and lowering turns the group into a
  loop or branch of the host schedule around those kernels. Operands of a control op
  and its gets are materialized (the regions read and leave buffers).

A node is materialized (gets a buffer) when it is fetched or assigned, when its op
cannot be computed inside another kernel, or when several kernels would otherwise
recompute it. Movement ops and one-element constants are always recomputed (index
arithmetic, immediates). Recomputing a node is exact here (no FMA contraction, no
fast-math in elementwise code), so duplicated producers give identical bits. Every node
has a reason in `KernelPlan.reasons`; `format_plan` prints the plan for dumps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.ir.nodes import region_program
from compiler.ir.regions import region_attrs
from compiler.ops import get, names

# Derived from the op table's rows (compiler/ops/table.py documents the fields):
#: ops whose value is a buffer the runtime provides
BUFFER_SOURCES = names(parameter=True)
#: reductions with a combine op (reduce_sum/prod/max/min; not argmax/argmin)
REDUCTIONS = names(lambda op: op.combine is not None)
#: movement ops whose index arithmetic branches per element (which input, or padding)
BRANCHING_MOVES = names(branching_index=True)
ALWAYS_OWN_KERNEL = names(own_kernel=True)
#: sources computed per element in a loop kernel (constant, iota, random draws)
LOOP_SOURCES = names(fusion="source", parameter=False, own_kernel=False)
#: region ops (while, cond): a host loop or branch around their regions' kernels
CONTROL = names(lambda op: op.fusion == "control" and op.name != "get")
#: contractions: a kernel kind of their own, whose elementwise consumer chain is fused as
#: an epilogue and whose operands are stored rather than recomputed per use
CONTRACTIONS = names(fusion="contraction")


def is_scalar_constant(node) -> bool:
    return node.op == "constant" and node.attr["value"].array.size == 1


@dataclass
class Group:
    kind: str                  # loop | row | reduce | matmul | single | control
    root: object               # the node whose buffer this kernel writes
    members: list = field(default_factory=list)     # nodes computed inside (topo order)
    reductions: list = field(default_factory=list)  # row kernels: per-row reductions
    rows: int = 0              # row kernels: number of leading (row) axes of F
    matmul: object = None      # matmul kernels: the matmul node (root ends the epilogue)
    conv: object = None        # conv kernels: the conv node (root ends the epilogue)
    # control: the while/cond node is the root, its `get`s the other members, and each
    # region (attr name -> Region) has a plan of its own
    regions: dict = field(default_factory=dict)
    region_plans: dict = field(default_factory=dict)


@dataclass
class KernelPlan:
    groups: list               # Group, in execution order
    buffers: list              # nodes the runtime provides (placeholders, variables, consts)
    reasons: dict = field(default_factory=dict)   # id(node) -> one-line reason

    @property
    def roots(self):
        return [g.root for g in self.groups]


class _Planner:
    def __init__(self, program):
        self.program = program
        self.order = program.topo()
        self.pos = {id(n): i for i, n in enumerate(self.order)}
        self.consumers = {id(n): [] for n in self.order}
        for n in self.order:
            if n.op == "shape":
                continue  # reads only its input's dims, never its data
            for i in dict.fromkeys(n.inputs):
                self.consumers[id(i)].append(n)
        self.dims_only = set()
        for n in self.order:
            if _computes_from_dims(n, self.dims_only):
                self.dims_only.add(id(n))
        self.roots = {id(n) for n in program.outputs} | {id(n) for n in
                                                          program.effects.values()}
        self.reasons = {}
        self.materialized = set()

    def why(self, node, reason):
        self.reasons.setdefault(id(node), reason)

    # ---- which nodes get a buffer -------------------------------------------------------
    def choose_materialized(self):
        for node in self.order:
            reason = self.materialize_reason(node)
            if reason:
                self.materialized.add(id(node))
                self.why(node, reason)
        for node in self.order:
            if node.op == "fold":
                self.store_window_invariants(node)

    def store_window_invariants(self, fold):
        """A fold reads each element of its input once, but a producer that does not vary
        along the window axes (the first maximum of a max pool's window, broadcast over
        it) would be recomputed for every window offset: store such producers once."""
        y = fold.inputs[0]
        nsp = len(fold.attr["window"])
        window_axes = range(1 + nsp, 1 + 2 * nsp)
        stack, seen = [(y, False)], set()
        while stack:
            n, spread = stack.pop()
            if (id(n), spread) in seen or id(n) in self.materialized:
                continue
            seen.add((id(n), spread))
            if is_scalar_constant(n) or id(n) in self.dims_only or not n.inputs:
                continue
            spread = spread or len(n.shape) != len(y.shape) or any(
                n.shape[a] == 1 and y.shape[a] != 1 for a in window_axes)
            if spread and get(n.op).fusion == "elementwise":
                self.materialized.add(id(n))
                self.why(n, "broadcast over a fold's window: stored once instead of "
                            "recomputed for every window offset")
                continue
            if get(n.op).fusion in ("elementwise", "movement"):
                stack.extend((i, spread) for i in n.inputs)

    def materialize_reason(self, node):
        if node.op in BUFFER_SOURCES:
            return "buffer provided by the runtime"
        if node.op in CONTROL:
            return f"{node.op}: structured control flow (the host runs its regions)"
        if node.op == "get":
            return "a value of a control-flow op: the buffer its regions leave it in"
        if any(u.op in CONTROL for u in self.consumers[id(node)]):
            return "operand of a control-flow op: stored for its regions to read"
        if node.op == "constant" and not is_scalar_constant(node):
            return "constant array provided by the runtime"
        if id(node) in self.roots:
            return "fetched or assigned: stored"
        fusion = get(node.op).fusion
        if node.op in BRANCHING_MOVES and any(u.op in CONTRACTIONS and u.inputs[0] is node
                                              for u in self.consumers[id(node)]):
            op = next(u.op for u in self.consumers[id(node)] if u.op in CONTRACTIONS)
            return (f"{node.op} as the left operand of a {op}: copied once, so the "
                    f"{op}'s inner loop loads without branching per element")
        if node.op == "concat" and any(u.op == "matmul" and u.inputs[1] is node
                                       for u in self.consumers[id(node)]):
            return ("concat as the right operand of a matmul: copied once (one contiguous "
                    "copy per input), so the matmul's packing loads without branching per "
                    "element")
        if fusion == "movement" or is_scalar_constant(node) or node.op == "iota":
            return None  # recomputed as index arithmetic / an immediate wherever used
        if id(node) in self.dims_only:
            return None  # a function of symbol values only (e.g. a mean's element count)
        if node.op in ALWAYS_OWN_KERNEL:
            return f"{node.op}: a kernel of its own (its consumers read its buffer)"
        users = self.consumers[id(node)]
        for u in users:
            if u.op in CONTRACTIONS:
                return f"operand of a {u.op}: stored so the {u.op} does not recompute it"
        through = self.matmul_through_movement(node)
        if through is not None:
            return (f"operand of a matmul through {through}: stored so the matmul does not "
                    f"recompute it for every output element")
        if len(users) > 1:
            return f"{len(users)} consumers: stored once instead of recomputed per consumer"
        return None

    def matmul_through_movement(self, node):
        """The op of the movement chain (reshape, transpose, ...) through which `node`
        is read by a matmul, or None. A matmul inlines an operand's movement ops as index
        arithmetic in its inner loop, so an elementwise producer behind them (a
        channels-first model's pool before its flatten and Gemm) would be recomputed
        for every output column. A movement op stored itself (a concat operand) ends the
        chain."""
        stack, seen = [(u, None) for u in self.consumers[id(node)]], set()
        while stack:
            u, first = stack.pop()
            if id(u) in seen:
                continue
            seen.add(id(u))
            if u.op == "matmul" and first is not None:
                return first
            if get(u.op).fusion == "movement" and self.materialize_reason(u) is None:
                stack.extend((w, first or u.op) for w in self.consumers[id(u)])
        return None

    # ---- grouping ---------------------------------------------------------------------------
    def inline_closure(self, root, stop):
        """Nodes computed inside root's kernel: producers reached without crossing a
        materialized node (or a node in `stop`)."""
        out, stack = [], [root]
        seen = {id(root)}
        while stack:
            n = stack.pop()
            out.append(n)
            for i in n.inputs:
                if id(i) in seen or id(i) in self.materialized or id(i) in stop:
                    continue
                seen.add(id(i))
                stack.append(i)
        return sorted(out, key=lambda n: self.pos[id(n)])

    def group_for(self, root):
        if root.op == "matmul":
            return Group("matmul", root, [root], matmul=root)
        if root.op == "conv":
            return Group("conv", root, [root], conv=root)
        if root.op in REDUCTIONS:
            axes = _reduced_axes(root)
            k = len(root.inputs[0].shape) - len(axes)
            if axes == tuple(range(k, len(root.inputs[0].shape))) and axes:
                return Group("row", root, self.inline_closure(root, ()), [], rows=k)
            return Group("reduce", root, self.inline_closure(root, ()))
        if get(root.op).fusion in ("elementwise", "movement") or root.op in LOOP_SOURCES:
            return Group("loop", root, self.inline_closure(root, ()))
        if root.op == "fold":  # reads each input element once: its producers fuse in
            return Group("single", root, self.inline_closure(root, ()))
        return Group("single", root, [root])

    def plan(self) -> KernelPlan:
        self.choose_materialized()
        self.absorb_row_reductions()
        self.absorb_matmul_epilogues()
        groups, buffers = [], []
        for node in self.order:
            if id(node) not in self.materialized:
                continue
            if node.op in BUFFER_SOURCES or (node.op == "constant"
                                             and not is_scalar_constant(node)):
                buffers.append(node)
                continue
            if node.op == "get":
                continue   # the buffer of its control group
            groups.append(self.control_group(node) if node.op in CONTROL
                          else self.build_group(node))
        for g in groups:
            for m in g.members:
                if m is not g.root and m is not g.matmul and m is not g.conv:
                    self.why(m, f"fused into the {g.kind} kernel of {g.root.describe()}")
        return KernelPlan(groups, buffers, self.reasons)

    def control_group(self, node):
        """A while/cond with its gets, each region planned as a program of its own."""
        gets = [u for u in self.consumers[id(node)] if u.op == "get"]
        regions = dict(region_attrs(node))
        plans = {k: plan_kernels(region_program(r, self.program)) for k, r in regions.items()}
        return Group("control", node, [node] + gets, regions=regions, region_plans=plans)

    def build_group(self, node):
        if id(node) in self._row_groups:
            return self._row_groups[id(node)]
        if id(node) in self._matmul_groups:
            return self._matmul_groups[id(node)]
        return self.group_for(node)

    # ---- row fusion ----------------------------------------------------------------------
    def absorb_row_reductions(self):
        """Pull keepdims reductions over trailing axes into the row kernel of the
        elementwise (or reducing) root that consumes them."""
        self._row_groups = {}
        for root in reversed(self.order):
            if id(root) not in self.materialized or id(root) in self._row_groups:
                continue
            group = self.try_row_group(root)
            if group is not None:
                self._row_groups[id(root)] = group

    def try_row_group(self, root):
        full = _full_shape(root)
        if full is None:
            return None
        absorbed = []
        changed = True
        members = self.inline_closure(root, ())
        while changed:
            changed = False
            member_ids = {id(m) for m in members}
            for node in list(members):
                for cand in node.inputs:
                    reason = self.absorb_reason(cand, member_ids, full)
                    if reason is None and cand not in absorbed:
                        absorbed.append(cand)
                        self.materialized.discard(id(cand))
                        what = "reduction computed per row" if cand.op in REDUCTIONS \
                            else "recomputed per row (its consumers are all here)"
                        self.reasons[id(cand)] = f"{what} in the row kernel of " \
                                                 f"{root.describe()}"
                        changed = True
            members = self.inline_closure(root, ())
        reductions = [m for m in members if m.op in REDUCTIONS and m is not root
                      and id(m) not in self.dims_only]
        if not reductions and root.op not in REDUCTIONS:
            return None
        k = _row_split(root, full, reductions)
        if k is None:
            for r in absorbed:  # put them back: the splits disagree
                self.materialized.add(id(r))
                self.reasons[id(r)] = "reductions over different axes: kernel of its own"
            return None
        return Group("row", root, members, reductions, rows=k)

    def absorb_reason(self, cand, member_ids, full):
        """None if `cand` (a materialized node feeding the group) can be computed inside;
        else why not."""
        if id(cand) not in self.materialized or id(cand) in self.roots:
            return "not absorbable"
        if cand.op not in REDUCTIONS:
            if cand.op in ALWAYS_OWN_KERNEL or get(cand.op).fusion != "elementwise":
                return "not absorbable"
            if tuple(cand.shape) != tuple(full):
                return "shape differs from the row kernel's"
        else:
            if not cand.attr["keepdims"] or tuple(cand.inputs[0].shape) != tuple(full):
                return "not a keepdims reduction of the row shape"
            if not _path_keeps_rows(cand, self.consumers, member_ids):
                return "reaches its consumers through reshapes or transposes"
        if not all(id(u) in member_ids for u in self.consumers[id(cand)]):
            return "used outside the kernel"
        return None

    # ---- matmul and conv epilogues -----------------------------------------------------------
    def absorb_matmul_epilogues(self):
        """A matmul or conv whose one consumer starts an elementwise chain of its shape
        gets that chain as its epilogue (one kernel); otherwise its reason says why not."""
        self._matmul_groups = {}
        for mm in self.order:
            if mm.op not in CONTRACTIONS:
                continue
            op = mm.op
            if id(mm) in self.roots:
                self.why(mm, f"{op}: fetched or assigned, so stored before any epilogue")
                continue
            users = self.consumers[id(mm)]
            if len(users) != 1:
                self.why_not(mm, f"{op}: {len(users)} consumers, so no epilogue (stored once)")
                continue
            if users[0].op in CONTRACTIONS:
                self.why_not(mm, f"{op}: its consumer is a {users[0].op}, which reads its "
                                 f"buffer")
                continue
            root = self.epilogue_root(users[0])
            if root is None or tuple(root.shape) != tuple(mm.shape) or root.dtype != mm.dtype:
                self.why_not(mm, f"{op}: its consumer is not an elementwise epilogue of its "
                                 f"shape ({users[0].describe()})")
                continue
            members = self.inline_closure(root, {id(mm)})
            if not _only_elementwise_between(mm, members) or (
                    op == "conv" and not _same_index_path(mm, members)):
                self.why_not(mm, f"{op}: its epilogue up to {root.describe()} reads it "
                                 f"through a movement op")
                continue
            self.materialized.discard(id(mm))
            self.reasons[id(mm)] = f"{op} with its epilogue up to {root.describe()}"
            extra = {"matmul": mm} if op == "matmul" else {"conv": mm}
            self._matmul_groups[id(root)] = Group(op, root, members + [mm], **extra)

    def why_not(self, node, reason):
        """Why a conv gets no epilogue: replaces the generic "a kernel of its own" (a
        matmul keeps its first reason, as before)."""
        if node.op == "conv" and id(node) not in self.roots:
            self.reasons[id(node)] = reason
        else:
            self.why(node, reason)

    def epilogue_root(self, node):
        """The materialized elementwise node that ends node's single-consumer chain."""
        while id(node) not in self.materialized:
            users = self.consumers[id(node)]
            if len(users) != 1:
                return None
            node = users[0]
        if get(node.op).fusion != "elementwise" or node.op in ALWAYS_OWN_KERNEL:
            return None
        if id(node) in self._row_groups:
            return None
        return node


def _computes_from_dims(node, dims_only) -> bool:
    """True for `shape` and for small computations over shapes and scalar constants."""
    if node.op == "shape":
        return True
    if node.op in BUFFER_SOURCES or get(node.op).stateful or not node.inputs:
        return is_scalar_constant(node)
    if node.op not in REDUCTIONS and get(node.op).fusion not in ("elementwise", "movement"):
        return False
    return all(id(i) in dims_only or is_scalar_constant(i) for i in node.inputs)


def _reduced_axes(node):
    from compiler.ops.reduce import normalize_axes
    return normalize_axes(node.attr["axes"], len(node.inputs[0].shape))


def _full_shape(root):
    if root.op in REDUCTIONS:
        return tuple(root.inputs[0].shape)
    if get(root.op).fusion == "elementwise":
        return tuple(root.shape)
    return None


def _row_split(root, full, reductions):
    splits = set()
    for r in reductions + ([root] if root.op in REDUCTIONS else []):
        axes = _reduced_axes(r)
        k = len(full) - len(axes)
        if not axes or axes != tuple(range(k, len(full))):
            return None
        splits.add(k)
    return splits.pop() if len(splits) == 1 else None


def _path_keeps_rows(red, consumers, member_ids):
    """Every use of `red` inside the group goes through elementwise ops or broadcasts
    (which map the row index unchanged), never through reshape/transpose/slice."""
    stack = [red]
    while stack:
        n = stack.pop()
        for u in consumers[id(n)]:
            if id(u) not in member_ids:
                continue
            if u.op in REDUCTIONS:
                continue
            fusion = get(u.op).fusion
            if fusion != "elementwise" and u.op != "broadcast":
                return False
            if len(u.shape) != len(red.shape):
                return False
            stack.append(u)
    return True


def _only_elementwise_between(mm, members):
    return all(m is mm or get(m.op).fusion in ("elementwise", "movement")
               or m.op == "constant" for m in members)


def _same_index_path(mm, members):
    """Every member that depends on `mm` is elementwise of mm's shape, so the epilogue
    reads mm only at the element being finished (a conv kernel hands it the
    accumulator, not a buffer)."""
    dep = {id(mm)}
    for m in members:  # topological order
        if m is not mm and any(id(i) in dep for i in m.inputs):
            if get(m.op).fusion != "elementwise" or tuple(m.shape) != tuple(mm.shape):
                return False
            dep.add(id(m))
    return True


def plan_kernels(program) -> KernelPlan:
    return _Planner(program).plan()


def format_plan(plan: KernelPlan) -> str:
    """The fusion dump: kernels with their nodes, then every boundary with its reason;
    a control-flow op's regions are planned on their own and print indented."""
    lines = [f"{len(plan.groups)} kernel(s)"]
    for i, g in enumerate(plan.groups):
        lines.append(f"kernel {i} [{g.kind}] -> {g.root.describe()}")
        if g.kind == "control":
            for name, sub in g.region_plans.items():
                lines.append(f"    region {name}:")
                lines += ["      " + line for line in format_plan(sub).splitlines()]
            continue
        for m in g.members:
            if m is not g.root:
                lines.append(f"    computes {m.describe()}")
    lines.append("boundaries:")
    for node in plan.buffers:
        lines.append(f"  {node.describe()}: {plan.reasons.get(id(node), '')}")
    for g in plan.groups:
        lines.append(f"  {g.root.describe()}: {plan.reasons.get(id(g.root), '')}")
    return "\n".join(lines)
