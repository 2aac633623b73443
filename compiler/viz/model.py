"""The graph model every view draws: the user graph, the IR after each pass, and the
fused graph with each kernel as a named group.

`user_stage(ops)` is the user's graph as built (scoped names, op types, devices, dtypes,
shapes, file:line, control inputs); `ir_stage(name, summary, program)` is one compiler-IR
program, its nodes named by the user op they came from; `fused_stage(program, plan)`
names every node `kernel_<n>_<kind>/<name>` after the kernel that computes it (a node
recomputed in several kernels appears in each), the buffers the runtime provides keep
their names, and each node carries its fusion reason. `analyze(fetches, feeds, options)`
compiles up to the kernel plan (no code generation) and returns a `GraphModel` with all
stages, each earlier stage's ops marked with the kernel they end up in. The TensorBoard
GraphDef (compiler/summary/graphdef.py), the DOT export and the
HTML viewer (compiler/viz/render.py) read these records; nothing here draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..frontend.graph import op_regions
from ..ir import dims as D
from ..ir.nodes import region_program
from ..ir.regions import program_nodes, region_attrs
from ..ir.text import parse_program
from ..ir.types import TupleType, format_type

MAX_ATTR_TEXT = 120


@dataclass
class VNode:
    name: str                    # full scoped name, unique within its stage
    op: str
    dtype: str = ""
    shape: list = None           # ints and dim strings ("N0"), None for unknown rank
    device: str = ""
    loc: str = ""
    inputs: list = field(default_factory=list)     # names of data inputs
    control: list = field(default_factory=list)    # names of control inputs
    attrs: dict = field(default_factory=dict)      # simple values only
    kernel: int = -1             # fused stage: index of the kernel computing it
    reason: str = ""             # fused stage: why it is (not) fused
    placed: str = ""             # user stage: the placer's device (compiler/placement.py)
    placement: str = ""          # user stage: the placer's reason
    partition: str = ""          # user stage, several devices: its partition (p0_CPU0)


@dataclass
class Kernel:
    index: int
    kind: str
    scope: str                   # kernel_<n>_<kind>
    root: str                    # name of the node whose buffer it writes
    reason: str                  # why the root is stored
    members: list = field(default_factory=list)


@dataclass
class Stage:
    name: str
    summary: str
    nodes: list
    # fused stage: user op name -> (kernel index, reason) of the first kernel computing it
    kernel_of: dict = field(default_factory=dict)


@dataclass
class GraphModel:
    title: str
    stages: list                 # Stage, in pipeline order
    kernels: list = field(default_factory=list)


def shape_of(shape) -> list:
    if shape is None:
        return None
    return [d if isinstance(d, int) else D.format_dim(d) for d in shape]


def simple_attrs(attrs: dict) -> dict:
    """Attrs as JSON/protobuf-friendly values: bools, ints, floats, strings, int lists;
    anything else (constants' arrays, dtypes, dims) as short text."""
    out = {}
    for key, value in attrs.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = repr(value)   # JSON has no NaN or infinity
        elif isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value):
            out[key] = list(value)
        else:
            text = getattr(value, "name", None) if hasattr(value, "np") else None
            text = text or _short(value)
            out[key] = text
    return out


def _short(value) -> str:
    array = getattr(value, "array", None)
    if array is not None:
        if array.size > 8:
            return f"<{array.dtype} array {list(array.shape)}>"
        value = array.tolist()
    text = str(value)
    return text if len(text) <= MAX_ATTR_TEXT else text[:MAX_ATTR_TEXT - 1] + "…"


# ---- the user's graph -------------------------------------------------------------------
def user_stage(ops, name="graph") -> Stage:
    """The user graph of `ops`, with the bodies of control flow: a `While`/`If` op's
    region ops (named under its scope, `while/...`, `cond/...`, as in TF1, so the op and
    its bodies form one group) come before it, each with the attr `region` ("body of
    'while'"); a while loop's params take the loop's initial value as their input, and
    body ops keep their edges from the captured outer tensors. The region op's
    `cond`/`body`/`then`/`else` attrs name each region's params and results."""
    nodes, seen = [], set()
    names = {op.name for op in ops}
    # a body op comes with its region op (graph.get_operations() lists it before)
    _user_nodes([op for op in ops if op.region is None or op.region.owner not in names],
                nodes, seen)
    placements = display_placements(ops)
    partitions = display_partitions(ops, placements)
    for node in nodes:
        p = placements.get(node.name)
        if p is not None:
            node.placed, node.placement = p.device.to_string(), p.reason
            node.partition = partitions.get(node.name, "")
    return Stage(name, f"the user graph: {len(nodes)} ops", nodes)


def display_placements(ops) -> dict:
    """{op name: Placement} the placer gives `ops` for display, as a Session with soft
    placement would (no one-device rule: a view may show CPU and GPU ops); {} when a
    device string cannot be parsed (the compile reports it)."""
    from ..options import CompileOptions
    from ..placement import PlacementConfig, PlacementError, place
    try:
        decisions = place(ops, CompileOptions(threads=1),
                          PlacementConfig(allow_soft_placement=True))
    except (PlacementError, ValueError):
        return {}
    return {op.name: p for op, p in decisions.items()}


def display_partitions(ops, placements) -> dict:
    """{op name: partition name} of `ops` (compiler/partition.py) when their placements
    use several devices, the placeholders fed; {} otherwise or when the graph cannot be
    partitioned (the compile reports why)."""
    from ..partition import partition
    from ..placement import PlacementError
    if len({p.device for p in placements.values()}) < 2:
        return {}
    outer = [op for op in ops if op.region is None and op.name in placements]
    fed = [op.outputs[0] for op in outer if op.type == "placeholder"]
    decisions = {op: placements[op.name] for op in outer}
    try:
        parting = partition([], [op for op in outer if op.type != "placeholder"], fed,
                            decisions)
    except (PlacementError, ValueError, KeyError):
        return {}
    return {op.name: p.name for p in parting.partitions for op in p.ops}


def _user_nodes(ops, nodes, seen, region=None, carried=()):
    for op in ops:
        if op.name in seen:
            continue
        seen.add(op.name)
        regions = op_regions(op)
        for r in regions:   # the bodies first: their params' inputs are the op's inputs
            _user_nodes(r.ops, nodes, seen, r, op.inputs[:len(r.params)])
        out = op.outputs[0] if op.outputs else None
        inputs = [t.op.name for t in op.inputs]
        attrs = simple_attrs({k: v for k, v in op.attrs.items()
                              if not any(v is r for r in regions)})
        if op._colocation:   # TF1's colocation attr, as TensorBoard shows it
            attrs["_class"] = list(op._colocation)
        for r in regions:
            attrs[r.kind] = (f"({', '.join(t.name for t in r.params)}) -> "
                             f"({', '.join(t.name for t in r.results)})")
        if region is not None:
            attrs["region"] = region.describe()
            if op.type == "param" and op in (t.op for t in region.params):
                index = [t.op for t in region.params].index(op)
                inputs = [carried[index].op.name] if index < len(carried) else []
        nodes.append(VNode(
            op.name, op.type, out.dtype.name if out is not None else "",
            shape_of(out.type.shape) if out is not None else [], op.device, op.loc,
            inputs, [c.name for c in op.control_inputs], attrs))


# ---- the compiler IR ----------------------------------------------------------------------
def ir_names(nodes) -> dict:
    """id(node) -> a unique display name: the first user op name it came from, else its
    op type."""
    names, used = {}, set()
    for n in nodes:
        base = n.names[0] if n.names else n.op
        name, k = base, 0
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        names[id(n)] = name
    return names


def _ir_node(node, name, inputs) -> VNode:
    attrs = simple_attrs(dict(node.attrs))
    if len(node.names) > 1:
        attrs["user_ops"] = ", ".join(node.names)
    if isinstance(node.type, TupleType):   # a while/cond: one node, its regions inside
        dtype, shape = format_type(node.type), []
    else:
        dtype, shape = node.dtype.name, shape_of(node.shape)
    return VNode(name, node.op, dtype, shape, "", ", ".join(node.locs), inputs, [], attrs)


def ir_stage(name, summary, program) -> Stage:
    """One IR program, with the bodies of its `while`/`cond` nodes: a region's nodes come
    before its region op (named after the user ops they came from, so under the loop's
    scope), each with the attr `region` ("body of while"); a region's params take the
    region op's input they are bound to, and the region op's region attrs name their
    params and results."""
    order = program_nodes(program)
    names = ir_names(order)
    bound, where = {}, {}
    for n in reversed(order):   # outer region ops first: a node shared with an inner
        for key, region in region_attrs(n):   # region (a constant) is the outer one's
            skip = len(n.inputs) - len(region.params)   # a cond's predicate
            for i, p in enumerate(region.params):
                bound[id(p)] = names[id(n.inputs[skip + i])]
            for m in region.topo():
                where.setdefault(id(m), f"{key} of {names[id(n)]}")
    nodes = []
    for n in order:
        inputs = [bound[id(n)]] if id(n) in bound else [names[id(i)] for i in n.inputs]
        node = _ir_node(n, names[id(n)], inputs)
        for key, region in region_attrs(n):
            node.attrs[key] = (f"({', '.join(names[id(p)] for p in region.params)}) -> "
                               f"({', '.join(names[id(r)] for r in region.results)})")
        if id(n) in where:
            node.attrs["region"] = where[id(n)]
        nodes.append(node)
    return Stage(name, summary, nodes)


def fused_stage(program, plan, name="fusion"):
    """(Stage, [Kernel]): the program grouped into the plan's kernels. A control kernel
    (a while/cond) holds its regions' kernels, each region planned on its own:
    `kernel_<n>_control/<region>/kernel_<m>_<kind>/<name>`, kernels numbered across the
    whole program; a region's params are buffers `kernel_<n>_control/<region>/<name>`
    fed by the region op's inputs they are bound to."""
    nodes, kernels, kernel_of = [], [], {}
    _fused_nodes(program, plan, "", {}, nodes, kernels, kernel_of)
    inner = len(kernels) - len(plan.groups)
    summary = f"{len(plan.groups)} kernel(s), {len(plan.buffers)} buffer(s) from the runtime"
    if inner:
        summary += f"; {inner} kernel(s) inside control-flow regions"
    return Stage(name, summary, nodes, kernel_of), kernels


def _fused_nodes(program, plan, prefix, bound, nodes, kernels, kernel_of):
    """Append the nodes of `program` planned as `plan` under `prefix` (a region's
    control-kernel scope and region name, "" at the top); `bound`: id(param) -> the name
    of the value a region param is bound to."""
    order = program.topo()
    base = ir_names(order)
    home = {id(b): prefix + base[id(b)] for b in plan.buffers}
    mine = []
    for g in plan.groups:
        i = len(kernels)
        scope = f"{prefix}kernel_{i}_{g.kind}"
        home[id(g.root)] = f"{scope}/{base[id(g.root)]}"
        kernel = Kernel(i, g.kind, scope, home[id(g.root)], plan.reasons.get(id(g.root), ""))
        kernels.append(kernel)
        mine.append(kernel)
    start = len(nodes)
    for b in plan.buffers:
        node = _ir_node(b, home[id(b)], [bound[id(b)]] if id(b) in bound else [])
        node.reason = plan.reasons.get(id(b), "")
        nodes.append(node)
    loose = {}

    def outside(src):
        """The name of a producer outside the kernel: its buffer, or (for a value
        computed from symbols and scalars only) a node of its own outside the kernels."""
        if id(src) in home:
            return home[id(src)]
        if id(src) in bound:
            return bound[id(src)]
        if id(src) not in loose:
            loose[id(src)] = None
            loose[id(src)] = _ir_node(src, prefix + base[id(src)],
                                      [outside(i) for i in src.inputs])
        return prefix + base[id(src)]

    for k, g in zip(mine, plan.groups):
        members = {id(m) for m in g.members} | {id(g.root)}
        for m in g.members if g.root in g.members else g.members + [g.root]:
            inputs = [f"{k.scope}/{base[id(src)]}" if id(src) in members else outside(src)
                      for src in m.inputs]
            node = _ir_node(m, f"{k.scope}/{base[id(m)]}", inputs)
            node.kernel = k.index
            node.reason = plan.reasons.get(id(m), "")
            k.members.append(node.name)
            for user_name in m.names:
                kernel_of.setdefault(user_name, (k.index, node.reason or k.reason))
            nodes.append(node)
            if m is g.root and g.region_plans:   # a while/cond: its regions' kernels
                for key, region in g.regions.items():
                    skip = len(inputs) - len(region.params)   # a cond's predicate
                    params = {id(p): inputs[skip + j] for j, p in enumerate(region.params)}
                    sub = region_program(region, program)
                    _fused_nodes(sub, g.region_plans[key], f"{k.scope}/{key}/", params,
                                 nodes, kernels, kernel_of)
    at = start + len(plan.buffers)
    nodes[at:at] = [n for n in loose.values() if n is not None]


# ---- compiling up to the kernel plan ------------------------------------------------------------
def analyze(fetches, feeds=None, options=None, title="flowc graph") -> GraphModel:
    """Every stage of the compile of (fetches, feeds) up to the kernel plan: the pruned
    user graph, the IR after conversion and after each pass run, the fused graph."""
    from ..options import CompileOptions
    from ..pipeline import needed_ops, optimize, plan, resolve_fetches, to_program

    options = options or CompileOptions()
    graph, tensors, targets, feed_list = resolve_fetches(fetches, feeds)
    stages = [user_stage(needed_ops(tensors, targets))]
    program = to_program(graph, tensors, feed_list, targets)
    final, report = optimize(program, options, dump=True)
    current = program
    for key, text in report.stages().items():
        summary, _, body = text.partition("\n")
        if key != "input" and body.strip():
            current = parse_program(body)
        stages.append(ir_stage(key, summary, current))
    fused, kernels = fused_stage(final, plan(final))
    for stage in stages:   # colour every earlier stage by where its ops ended up
        for node in stage.nodes:
            if node.name in fused.kernel_of:
                node.kernel, reason = fused.kernel_of[node.name]
                node.reason = f"ends up in kernel {node.kernel}: {reason}"
    stages.append(fused)
    return GraphModel(title, stages, kernels)
