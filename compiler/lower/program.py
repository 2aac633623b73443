"""Lowering of a whole program: buffers for the plan's materialized nodes, one kernel per
fusion group, identical kernels shared, and buffer lifetimes for memory planning.

Control flow: a `control` group (a `while` or `cond`) lowers each of its regions with the
region's own plan, like a program whose inputs are the region op's buffers, and becomes
a statement of the host schedule (`LoweredProgram.calls`): `HostWhile` (copy the initial
values into one buffer per loop variable; then cond's calls, test the predicate buffer,
body's calls and copies of the new values into the loop variables' buffers, repeated)
or `HostIf` (the taken branch's calls, then copies of its results into the cond's result
buffers). The kernels of every region are compiled once, whatever the trip count.

Kernels name buffers and symbols by position (`p0, p1, ...`, `s0, s1, ...`, as the
builder makes them: `_Builder.use`), so that equal kernels (an unrolled loop's repeated
steps) are equal trees and become one function called from several places. Kernels
equal up to integer constants of index arithmetic — offsets (step t of an unrolled loop
reading slice t of a stacked input), strides and loop extents (the SGD updates of
variables of different shapes, matmuls of different M, N, K) — are one generic kernel
too: each constant that differs between them becomes an int64 argument, and each call
passes its own value (`_share`, `_skeleton`). So a call's symbol list holds program
symbol names (str) and such per-call constants (int).
"""

from __future__ import annotations

import dataclasses

from ..ir import dims as D
from ..ir import dtypes as T
from . import kir as K
from .lower import _Builder
from .nests import lower_group
from .schedule import Schedule

_FIELDS: dict = {}


def _fields(cls) -> tuple:
    f = _FIELDS.get(cls)
    if f is None:
        f = _FIELDS[cls] = tuple(x.name for x in dataclasses.fields(cls))
    return f


#: the kernel-IR node classes (dtypes and other field values are leaves)
_KIR_TYPES = frozenset(v for v in vars(K).values() if isinstance(v, type)
                       and dataclasses.is_dataclass(v) and v.__module__ == K.__name__)


def _is_node(v) -> bool:
    return type(v) in _KIR_TYPES


def _rebuild(obj, fn):
    """obj with fn applied to each of its tuple/node fields (the same object if none
    changed). Kernel-IR nodes are frozen dataclasses; the copy fills the instance dict
    directly (this runs for every node of every kernel, so it avoids __init__)."""
    fields, changed = obj.__dict__, None
    for name, v in fields.items():
        if type(v) is tuple or type(v) in _KIR_TYPES:
            nv = fn(v)
            if nv is not v:
                if changed is None:
                    changed = dict(fields)
                changed[name] = nv
    if changed is None:
        return obj
    new = object.__new__(type(obj))
    new.__dict__.update(changed)
    return new


class _Interner:
    """Hash-consing of kernel-IR trees built bottom-up: structurally equal nodes become
    one object, so kernels that are equal share their trees (identity compares them, and
    identity-keyed memos of later walks hit across kernels). Children must already be
    interned; a leaf field value is keyed by its type and value (a float by its bits, so
    0.0 and -0.0 stay apart)."""

    def __init__(self):
        self.table: dict = {}

    @staticmethod
    def _part(v):
        if type(v) is tuple or type(v) in _KIR_TYPES:
            return id(v)
        if type(v) is float:
            return (float, v.hex())
        return (type(v), v)

    def __call__(self, obj):
        if type(obj) is tuple:
            key = (tuple,) + tuple(self._part(v) for v in obj)
        else:
            key = (type(obj),) + tuple(self._part(v) for v in obj.__dict__.values())
        return self.table.setdefault(key, obj)


class _Lowering:
    def __init__(self, program, plan, schedule):
        self.program, self.plan, self.schedule = program, plan, schedule
        self.group_rule = schedule.group_rule or lower_group
        self.buffer_of: dict = {}
        self.buffers: list = []
        self.errors: dict = {}
        self.packed: dict = {}   # (id(matmul operand), transposed) -> its packed buffer
        self.intern = _Interner()  # kernel trees of the whole program, hash-consed
        self.kind_of: dict = {}    # buffer name -> kind
        self.written_at: dict = {}  # loop variable buffer -> index in built of its writer
        self.refused: set = set()   # loop variable buffers a body kernel cannot write

    def error_code(self, message) -> int:
        code = len(self.errors) + 1
        self.errors[code] = message
        return code

    def add_temp(self, dtype, shape, desc):
        """A temporary that no IR node owns (e.g. a matmul operand repacked into panels)."""
        buf = K.Buffer(f"b{len(self.buffers)}", dtype, tuple(shape), "temp", None, desc)
        self.buffers.append(buf)
        self.kind_of[buf.name] = "temp"
        return buf

    def add_buffer(self, node, kind, source=None):
        name = f"b{len(self.buffers)}"
        buf = K.Buffer(name, node.dtype, tuple(node.shape), kind, source, node.describe())
        self.buffers.append(buf)
        self.buffer_of[id(node)] = buf
        self.kind_of[name] = kind
        return buf

    def source_buffers(self):
        prog = self.program
        input_index = {id(n): i for i, n in enumerate(prog.inputs)}
        for node in self.plan.buffers:
            if node.op == "placeholder":
                self.add_buffer(node, "input", input_index[id(node)])
            elif node.op == "variable":
                self.add_buffer(node, "variable", node.attr["var"])
            else:
                self.add_buffer(node, "const", node.attr["value"].array)
        for node in prog.inputs:
            if id(node) not in self.buffer_of:
                self.add_buffer(node, "input", input_index[id(node)])

    def run(self, in_place=True) -> K.LoweredProgram:
        self.source_buffers()
        self.built, self.in_place_at = [], {}  # variable name -> index in built of its update
        self.roots = []  # per position in `built`: the IR node it computes
        host = self.lower_groups(self.plan, in_place)
        if host is None or not self.in_place_is_safe(self.built, self.in_place_at):
            return None
        kernels, calls = _share(self.built, self.intern)
        prog = self.program
        return K.LoweredProgram(
            buffers=self.buffers, kernels=kernels, calls=_resolve(host, calls),
            outputs=[self.buffer_of[id(n)].name for n in prog.outputs],
            updates={v: self.buffer_of[id(n)].name for v, n in prog.effects.items()},
            errors=self.errors, symbols=[s.name for s in prog.symbols],
            call_nodes=[_user_name(self.roots[p]) for p in _positions(host)])

    def lower_groups(self, plan, in_place, into=None):
        """The host schedule of `plan`'s groups: positions in `self.built` (kernel calls)
        and `_While`/`_If` items for control groups; None when an in-place update turns
        out unsafe. `into` (id(node) -> buffer): loop kernels whose root should write that
        buffer (a loop body's new value into its loop variable)."""
        items = []
        for group in plan.groups:
            if group.kind == "control":
                items += self.lower_control(group)
                continue
            target = self.in_place_target(group) if in_place else None
            if into and id(group.root) in into:   # a loop kernel or a row write
                target = into[id(group.root)]
            out = target or self.add_buffer(group.root, "temp")
            if target is not None:
                self.buffer_of[id(group.root)] = target
            b = _Builder(self, group.root, "")
            body = tuple(self.group_rule(b, group, out))
            if target is not None:
                if not _reads_only_where_it_writes(body, b.param_names[target.name]):
                    self.refused.add(target.name)
                    return None
                if target.kind == "variable":
                    self.in_place_at[target.source] = len(self.built) + len(b.before)
                else:
                    self.written_at[target.name] = len(self.built) + len(b.before)
            for pre, pre_body, kind in b.before:  # kernels that must run first (packing)
                items.append(self.add_kernel(pre, tuple(pre_body), kind, group.root))
            items.append(self.add_kernel(b, body, group.kind, group.root))
        return items

    def add_kernel(self, b, body, kind, root) -> int:
        self.built.append(self.canonical(b, body, kind, root, len(self.built)))
        self.roots.append(root)   # the IR node the call computes (its user name)
        return len(self.built) - 1

    # ---- control flow: regions lowered like programs, a host loop or branch around ----
    def lower_control(self, group) -> list:
        node = group.root
        ins = [self.buffer_of[id(i)] for i in node.inputs]
        if node.op == "while":
            k = node.attr["carried"]
            carried = [self.add_temp(t.dtype, t.shape, f"{node.describe()}: loop variable "
                                     f"{i}") for i, t in enumerate(node.type.types)]
            items = [self.copy(src, dst, node) for src, dst in zip(ins[:k], carried)]
            params = carried + ins[k:]
            cond, (pred,) = self.lower_region(group, "cond", params)
            body, results = self.lower_body(group, params, carried)
            body += self.copy_back(results, carried, node)
            items.append(_While(cond, pred.name, body))
            outs = carried
        else:
            outs = [self.add_temp(t.dtype, t.shape, f"{node.describe()}: result {i}")
                    for i, t in enumerate(node.type.types)]
            branches = []
            for name in ("then", "else"):
                stmts, results = self.lower_region(group, name, ins[1:])
                branches.append(stmts + [self.copy(r, o, node) for r, o in zip(results, outs)
                                         if r is not o])
            items = [_If(ins[0].name, *branches)]
        for g in group.members[1:]:
            self.buffer_of[id(g)] = outs[g.attr["index"]]
        return items

    def lower_body(self, group, params, carried) -> tuple:
        """A loop body whose elementwise new values are computed straight into their
        loop variables' buffers where that is safe (no later kernel of the body reads the
        old value, the kernel reads it only at the element it writes, no result is the
        old value), which saves a copy per value and iteration; else the plain body."""
        into = _in_place_results(group, carried)
        while into:   # each failed try drops the loop variables that made it fail
            mark = len(self.built), len(self.buffers), len(self.errors)
            self.refused = set()
            body, results = self.lower_region(group, "body", params, into)
            if body is not None:
                self.refused = self.read_after(body, into.values())
                if not self.refused:
                    return body, results
            self.rollback(mark)
            into = {k: b for k, b in into.items() if b.name not in self.refused}
        return self.lower_region(group, "body", params)

    def read_after(self, items, buffers) -> set:
        """Names of `buffers` that a call of `items` uses after the call writing it."""
        order = _positions(items)
        out = set()
        for buf in buffers:
            at = self.written_at.get(buf.name)
            if at is not None and any(buf.name in self.built[p][1][0]
                                      for p in order[order.index(at) + 1:]):
                out.add(buf.name)
        return out

    def rollback(self, mark):
        """Forget the kernels, buffers and error codes made after `mark`."""
        n_built, n_buffers, n_errors = mark
        del self.built[n_built:]
        del self.roots[n_built:]
        for buf in self.buffers[n_buffers:]:
            self.kind_of.pop(buf.name, None)
            self.written_at.pop(buf.name, None)
        del self.buffers[n_buffers:]
        for code in [c for c in self.errors if c > n_errors]:
            del self.errors[code]

    def lower_region(self, group, name, param_buffers, into=None) -> tuple:
        """(host items, result buffers) of one region, lowered with its own plan. Inside,
        only the params' buffers and runtime constants are known: a node the region
        shares with the program (a constant computation) is computed inside too, so no
        region reads a buffer that a branch not taken, or a later kernel, would write."""
        region, plan = group.regions[name], group.region_plans[name]
        saved = self.buffer_of, self.packed
        self.buffer_of = {i: b for i, b in saved[0].items()
                          if self.kind_of.get(b.name) == "const"}
        self.packed = {}
        try:
            for p, buf in zip(region.params, param_buffers):
                self.buffer_of[id(p)] = buf
            for node in plan.buffers:
                if id(node) not in self.buffer_of:
                    self.add_buffer(node, "const", node.attr["value"].array)
            items = self.lower_groups(plan, in_place=False, into=into)
            if items is None:
                return None, None
            return items, [self.buffer_of[id(r)] for r in region.results]
        finally:
            self.buffer_of, self.packed = saved

    def copy(self, src, dst, node) -> int:
        """A kernel call copying buffer `src` into `dst` (same dtype and shape)."""
        b = _Builder(self, node, "")
        n = D.product(dst.shape)
        f16 = src.dtype is T.float16

        def body(idx):
            val = K.Load(b.use(src), idx[0], src.dtype)
            return [b.store(dst, idx, (n,), K.Cast(val, T.float32) if f16 else val)]
        return self.add_kernel(b, tuple(b.parallel_loops((n,), body)), "loop", node)

    def copy_back(self, results, carried, node) -> list:
        """Calls that make the body's results the new carried values. A result that is
        another carried buffer (a swap) goes through a temporary first."""
        names = {c.name for c in carried}
        moves, items = [], []
        for src, dst in zip(results, carried):
            if src is dst:
                continue
            if src.name in names:
                tmp = self.add_temp(src.dtype, src.shape, f"{node.describe()}: swap")
                items.append(self.copy(src, tmp, node))
                src = tmp
            moves.append((src, dst))
        return items + [self.copy(src, dst, node) for src, dst in moves]

    def in_place_target(self, group):
        """The variable buffer that an assign kernel may overwrite with the new value
        instead of a temporary (no per-step parameter allocation, nothing to swap), or
        None. Candidates here: elementwise assigns whose variable is not also fetched;
        the kernel and the call order are checked once built (see `run`)."""
        prog = self.program
        node = group.root
        if node.op not in ("assign", "assign_add") or group.kind != "single":
            return None
        var = node.attr["var"]
        if prog.effects.get(var) is not node:
            return None
        target = next((b for b in self.buffers if b.kind == "variable" and b.source == var),
                      None)
        if target is None or any(self.buffer_of.get(id(n)) is target for n in prog.outputs):
            return None
        return target

    def in_place_is_safe(self, built, in_place_at) -> bool:
        """State within one run: after a variable is updated in place, no later kernel may
        read it (they must see the old value), and no later kernel may fail (a failed run
        must leave every variable as it was)."""
        for var, at in in_place_at.items():
            name = next(b.name for b in self.buffers if b.kind == "variable"
                        and b.source == var)
            for kernel, (bufs, _) in built[at + 1:]:
                if name in bufs or kernel.can_fail:
                    return False
        return True

    def canonical(self, b, body, kind, root, index):
        """The kernel of builder `b` and the (buffer names, symbol names) its call passes.
        The builder named buffers and symbols by position already (`_Builder.use`)."""
        params = list(b.params.values())
        kernel = K.Kernel(
            name=f"k{index}_{kind}_{root.op}",
            params=tuple(K.Param(b.param_names[p.name], p.dtype, p.writes) for p in params),
            symbols=tuple(f"s{i}" for i in range(len(b.symbols))),
            uses_counter=b.uses_counter, body=_flatten(body), nodes=(root.describe(),),
            can_fail=b.can_fail, work=b.work, kind=kind, note=b.note,
            wide_vectors=b.wide_vectors)
        return kernel, ([p.name for p in params], list(b.symbols))


@dataclasses.dataclass
class _While:
    cond: list
    pred: str
    body: list


@dataclasses.dataclass
class _If:
    pred: str
    then: list
    else_: list


def _in_place_results(group, carried) -> dict:
    """id(result node) -> its loop variable's buffer, for the body results that a loop
    kernel computes and that may go straight into that buffer (checked further once the
    body is lowered: `_Lowering.lower_body`)."""
    region, plan = group.regions["body"], group.region_plans["body"]
    loops = {id(g.root) for g in plan.groups if g.kind == "loop"}
    # a TensorArray write (or a gradient's stack push) of the loop variable itself:
    # its kernel then stores only the row (nests.py `_dynamic_update_root`)
    loops |= {id(r) for i, r in enumerate(region.results) if i < len(carried)
              and r.op == "dynamic_update_slice" and r.inputs[0] is region.params[i]}
    results = region.results
    out = {}
    for i, r in enumerate(results):
        if id(r) not in loops or sum(x is r for x in results) != 1:
            continue
        if any(x is region.params[i] for x in results):
            continue   # the old value is itself a result: the copies still read it
        out[id(r)] = carried[i]
    return out


def _user_name(node) -> str:
    return node.names[0] if node.names else node.op


def _positions(items) -> list:
    """The kernel positions of host items in execution order (bodies inline)."""
    out = []
    for it in items:
        if isinstance(it, _While):
            out += _positions(it.cond) + _positions(it.body)
        elif isinstance(it, _If):
            out += _positions(it.then) + _positions(it.else_)
        else:
            out.append(it)
    return out


def _resolve(items, calls) -> list:
    """The host schedule with kernel positions replaced by their (shared) calls."""
    out = []
    for it in items:
        if isinstance(it, _While):
            out.append(K.HostWhile(tuple(_resolve(it.cond, calls)), it.pred,
                                   tuple(_resolve(it.body, calls))))
        elif isinstance(it, _If):
            out.append(K.HostIf(it.pred, tuple(_resolve(it.then, calls)),
                                tuple(_resolve(it.else_, calls))))
        else:
            out.append(calls[it])
    return out


class _Hole:
    """Stands for an offset constant in a kernel's skeleton (all holes compare equal)."""
    def __eq__(self, other):
        return isinstance(other, _Hole)

    def __hash__(self):
        return 0

    def __repr__(self):
        return "_"


_HOLE = _Hole()


#: which kernels are generic in their sizes: "shared" (default) the kernels of a family
#: (equal up to index constants), "all" every kernel, even one alone in its family, taking
#: each of its index constants as an argument (measured slower: see docs/architecture.md),
#: "off" sharing only across additive index offsets (the behaviour before; for
#: benchmarks/generic_kernels.py's comparison)
GENERIC_SIZES = "shared"

#: serial innermost loops up to this extent keep it constant in a generic kernel (the LLVM
#: backend unrolls such a loop fully, its `FULL_UNROLL`, so that the loop around it
#: vectorizes)
KEEP_INNER_EXTENT = 8


def _is_int(e) -> bool:
    return getattr(e, "dtype", None) is T.int64


def _skeleton(obj, memo, intern, in_index=False, generic=True):
    """(skeleton, constants): a copy of a kernel-IR tree whose integer constants of index
    arithmetic are replaced by holes, and their values in traversal order. Abstracted:
    the constant operands of int64 `add` and `mul` (offsets, strides) inside Load/Store
    indices, Random indices and int64 locals (`Let`), and loop extents, except those that
    code generation needs: divisors of `idiv`/`imod` (division by a constant), the extent
    of a serial innermost loop up to `KEEP_INNER_EXTENT` (fully unrolled), the extent of
    a loop not to be vectorized (a register tile's K loop: its constant trip count was
    worth 3.5 % of W3's step at one thread, benchmarks/generic_kernels.py), and an index
    that is a constant itself. `_share` passes as arguments only the constants that differ between
    the kernels of a family; equal ones stay constants (a register tile's lane offsets).
    Locals are renamed by order of appearance (`_local_name`). Skeletons are interned, so
    equal ones are one object."""
    key = (id(obj), in_index)
    hit = memo.get(key)
    if hit is not None:
        return hit[1]
    consts = []
    locals_ = memo.setdefault("locals", {}) if generic else None

    def sub(v, inside=in_index):
        skel, c = _skeleton(v, memo, intern, inside, generic)
        consts.extend(c)
        return skel

    t = type(obj)
    if t is tuple:
        out = intern(tuple([sub(o) for o in obj]))
    elif t in _KIR_TYPES:
        fields = obj.__dict__
        index_field = _INDEX_FIELD.get(t)
        if t is K.Let and not (generic and _is_int(obj.value)):
            index_field = None
        binary = (in_index and t is K.Binary and obj.dtype is T.int64
                  and (obj.op == "add" or (generic and obj.op == "mul")))
        keep = True
        if t is K.Loop and generic and type(obj.extent) is K.IConst:
            innermost = not any(type(x) is K.Loop for x in _stmts_walk(obj.body))
            keep = not obj.vectorize or (innermost and not obj.parallel
                                         and obj.extent.value <= KEEP_INNER_EXTENT)
        new = {}
        for name, v in fields.items():   # in field order: `_fill`'s order
            tv = type(v)
            if tv is K.IConst and ((binary and name in ("a", "b"))
                                   or (name == "extent" and not keep)):
                consts.append(v.value)
                new[name] = intern(K.IConst(_HOLE))
            elif locals_ is not None and tv is str and (
                    name == "var" or (name == "name" and t is K.Var)):
                new[name] = _local_name(v, locals_)
            elif tv is tuple or tv in _KIR_TYPES:
                new[name] = sub(v, True if name == index_field
                                or (generic and name == "extent") else in_index)
            else:
                new[name] = v
        out = object.__new__(t)
        out.__dict__.update(new)
        out = intern(out)
    else:
        out = obj
    result = (out, tuple(consts))
    memo[key] = (obj, result)
    return result


def _local_name(name: str, locals_: dict) -> str:
    """A kernel's local (loop variable, Let, accumulator) renamed by its order of first
    appearance, its prefix kept (`t3` may become `t2`): kernels that differ only in
    the numbering of their locals (one built with a loop more, then flattened) are
    alike."""
    new = locals_.get(name)
    if new is None:
        new = locals_[name] = f"{name.rstrip('0123456789')}{len(locals_) + 1}"
    return new


#: the field of each kernel-IR class that holds an index expression (a Let's value when
#: it is an int64 local)
_INDEX_FIELD = {K.Load: "index", K.Store: "index", K.Random: "index", K.Let: "value"}


def _stmts_walk(stmts):
    for s in stmts:
        yield s
        for child in (getattr(s, "body", ()), getattr(s, "then", ()), getattr(s, "else_", ())):
            yield from _stmts_walk(child)


def _work_skeleton(work, memo, intern):
    """`_skeleton` of a kernel's work estimate (an index expression; a constant work is
    a hole itself)."""
    if work is None:
        return None, ()
    if type(work) is K.IConst:
        return intern(K.IConst(_HOLE)), (work.value,)
    return _skeleton(work, memo, intern, True)


def _fill(obj, values: list):
    """Inverse of `_skeleton`: holes take the next of `values` (in traversal order):
    a constant (int) or, where the kernels of a family differ, a symbol name (str)."""
    t = type(obj)
    if t is tuple:
        return tuple([_fill(o, values) for o in obj])
    if t is K.IConst and type(obj.value) is _Hole:
        v = values.pop(0)
        return K.SymRef(v) if isinstance(v, str) else K.IConst(v)
    if t is K.Load or t is K.Store or t is K.Random:
        index = _fill(obj.index, values)
        rest = _rebuild(dataclasses.replace(obj, index=K.IConst(0)),
                        lambda v: _fill(v, values))
        return dataclasses.replace(rest, index=index)
    if t is K.Loop:
        ext = _fill(obj.extent, values)
        return dataclasses.replace(obj, extent=ext, body=_fill(obj.body, values))
    if t is K.Binary:
        a = _fill(obj.a, values)
        return dataclasses.replace(obj, a=a, b=_fill(obj.b, values))
    if t in _KIR_TYPES:
        return _rebuild(obj, lambda v: _fill(v, values))
    return obj


def _outline(stmts):
    """A cheap structural summary of a statement list, which kernels equal up to index
    constants share: each statement's kind with the head of its value (its expression's
    type and op), loop and branch bodies nested. Statements are few next to expression
    nodes, so this sorts kernels into buckets before any comparison of their trees."""
    out = []
    for st in stmts:
        t = type(st)
        if t is K.Loop:
            out.append(("L", st.parallel, st.vectorize, _outline(st.body)))
        elif t is K.If:
            out.append(("I", _outline(st.then), _outline(st.else_)))
        else:
            value = getattr(st, "value", None)
            out.append((t, type(value), getattr(value, "op", None),
                        getattr(value, "dtype", None)))
    return tuple(out)


def _share(built, intern=None):
    """(kernels, calls) from one (kernel, (buffer names, symbol names)) per group:
    identical kernels become one; kernels equal up to integer constants of index
    arithmetic (`_skeleton`: offsets, strides, loop extents) become one generic kernel
    that takes the constants differing between them as int64 arguments, each call
    passing its own. Only kernels alike in their signature and loop nesting are compared
    structurally."""
    buckets: dict = {}
    for pos, (kernel, _) in enumerate(built):
        coarse = (kernel.params, kernel.symbols, kernel.uses_counter, kernel.can_fail,
                  kernel.name.split("_", 1)[1], _outline(kernel.body))
        buckets.setdefault(coarse, []).append(pos)
    intern = intern or _Interner()
    generic = GENERIC_SIZES != "off"
    families: dict = {}      # key -> [(position, kernel, args, constants)]
    skeletons: dict = {}     # key -> (body, work) skeletons of the family
    for positions in buckets.values():
        for same in _equal_groups(built, positions):
            kernel = built[same[0]][0]
            memo: dict = {}   # per kernel: its locals' names (`_local_name`)
            if len(same) == len(positions) and GENERIC_SIZES != "all":
                key, consts = ("alone", same[0]), ()
            else:
                body, consts = _skeleton(kernel.body, memo, intern, False, generic)
                work, wconsts = (_work_skeleton(kernel.work, memo, intern) if generic
                                 else (kernel.work, ()))
                # interned trees: the skeleton's identity stands for its structure
                key = (kernel.params, kernel.symbols, kernel.uses_counter, kernel.can_fail,
                       id(work) if generic else work, id(body))
                consts += wconsts
                skeletons[key] = (body, work)
            for pos in same:
                families.setdefault(key, []).append((pos, built[pos][0], built[pos][1],
                                                     consts))
    calls = [None] * len(built)
    kernels = []
    for key, members in sorted(families.items(), key=lambda km: km[1][0][0]):
        _, first, _, consts0 = members[0]
        columns = list(zip(*(m[3] for m in members)))
        # one argument per distinct column of differing constants (a row length is
        # both the inner extent and the stride of several loads and stores)
        args = list(dict.fromkeys(col for col in columns if len(set(col)) > 1
                                  or GENERIC_SIZES == "all"))
        n0 = len(first.symbols)
        arg_name = {col: f"s{n0 + j}" for j, col in enumerate(args)}
        names = {i: arg_name[col] for i, col in enumerate(columns) if col in arg_name}
        body, work = first.body, first.work
        if args:
            values = [names.get(i, v) for i, v in enumerate(consts0)]
            skel_body, skel_work = skeletons[key]
            body = _fill(skel_body, values)
            if generic:
                work = _fill(skel_work, values)
            assert not values, "a generic kernel's constants fill its holes exactly"
        kernel = dataclasses.replace(
            first, name=f"k{len(kernels)}_" + first.name.split("_", 1)[1], body=body,
            work=work, symbols=first.symbols + tuple(arg_name.values()),
            nodes=tuple(n for m in members for n in m[1].nodes))
        kernels.append(kernel)
        for j, (pos, _, (bufs, syms), _) in enumerate(members):
            calls[pos] = (kernel.name, bufs, list(syms) + [col[j] for col in args])
    return kernels, calls


def _equal_groups(built, positions) -> list:
    """`positions` (kernels alike in signature and nesting) grouped into kernels equal as
    built ([[position, ...], ...] in order): an unrolled loop's steps, mostly. Kernels
    name buffers and symbols by position, so equal kernels are equal trees (`==`, a float
    constant compared by its bits)."""
    groups: list = []
    for pos in positions:
        kernel = built[pos][0]
        for group in groups:
            first = built[group[0]][0]
            if first.work == kernel.work and first.body == kernel.body:
                group.append(pos)
                break
        else:
            groups.append([pos])
    return groups


def _flatten(stmts):
    """`stmts` with each loop pair `for i in 0..A: for j in 0..B: ...` whose body uses i
    and j only as `i * B + j` (a contiguous walk over A*B elements: an elementwise update
    of a matrix) made one loop `for i in 0..A*B` using `i` there; the outer loop's
    parallel flag, the inner one's vectorize flag. So such kernels of every rank are
    alike and share one generic kernel (W3's SGD updates of its matrices and vectors),
    and the one loop vectorizes whatever the row length."""
    out = []
    for st in stmts:
        if type(st) is K.Loop:
            st = _flatten_loop(st)
        out.append(st)
    return tuple(out)


def _flatten_loop(outer):
    while (len(outer.body) == 1 and type(outer.body[0]) is K.Loop):
        inner = outer.body[0]
        matches, uses = _row_major_uses(inner.body, outer.var, inner.var, inner.extent, {})
        if not matches or uses != (matches, matches):
            break
        body = _merge_index(inner.body, outer.var, inner.var, inner.extent, {})
        outer = K.Loop(outer.var, K.imul(outer.extent, inner.extent), body,
                       outer.parallel, inner.vectorize)
    return outer


def _is_row_major(e, i, j, extent) -> bool:
    """e is `i * extent + j` (either operand order)."""
    if type(e) is not K.Binary or e.op != "add" or e.dtype is not T.int64:
        return False
    for m, v in ((e.a, e.b), (e.b, e.a)):
        if type(v) is K.Var and v.name == j and type(m) is K.Binary and m.op == "mul":
            for x, c in ((m.a, m.b), (m.b, m.a)):
                if type(x) is K.Var and x.name == i and c == extent:
                    return True
    return False


def _row_major_uses(obj, i, j, extent, memo) -> tuple:
    """(matches of `i * extent + j`, (uses of i, uses of j)) in `obj`, per path (a
    subtree shared by identity counted at each of its uses, computed once)."""
    hit = memo.get(id(obj))
    if hit is not None:
        return hit
    t = type(obj)
    if t is tuple:
        parts = [_row_major_uses(o, i, j, extent, memo) for o in obj]
    elif _is_row_major(obj, i, j, extent):
        return 1, (1, 1)
    elif t is K.Var:
        return 0, (int(obj.name == i), int(obj.name == j))
    elif t in _KIR_TYPES:
        if getattr(obj, "var", None) in (i, j):
            return 0, (-1, -1)   # a local or loop of that name: not this pattern
        parts = [_row_major_uses(v, i, j, extent, memo) for v in obj.__dict__.values()
                 if type(v) is tuple or type(v) in _KIR_TYPES]
    else:
        return 0, (0, 0)
    out = (sum(p[0] for p in parts), (sum(p[1][0] for p in parts),
                                      sum(p[1][1] for p in parts)))
    memo[id(obj)] = out   # obj is alive in the kernel being flattened: ids stay unique
    return out


def _merge_index(obj, i, j, extent, memo):
    hit = memo.get(id(obj))
    if hit is not None:
        return hit[1]
    if type(obj) is tuple:
        out = tuple([_merge_index(o, i, j, extent, memo) for o in obj])
    elif _is_row_major(obj, i, j, extent):
        out = K.Var(i)
    elif type(obj) in _KIR_TYPES:
        out = _rebuild(obj, lambda v: _merge_index(v, i, j, extent, memo))
    else:
        out = obj
    memo[id(obj)] = (obj, out)
    return out


def _reads_only_where_it_writes(body, buf) -> bool:
    """True when `body` stores to `buf` once and every load of `buf` reads the element
    being stored (an elementwise update can then run in place)."""
    stores, loads, seen = [], [], set()

    def walk(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, tuple):
            for o in obj:
                walk(o)
            return
        if isinstance(obj, K.Store) and obj.buf == buf:
            stores.append(obj)
        elif isinstance(obj, K.Load) and obj.buf == buf:
            loads.append(obj)
        if _is_node(obj):
            for name in _fields(type(obj)):
                walk(getattr(obj, name))
    walk(body)
    return len(stores) == 1 and all(ld.index == stores[0].index for ld in loads)


def lower_program(program, plan, schedule: Schedule) -> K.LoweredProgram:
    """The lowered program for the target of `schedule` (compiler/lower/schedule.py: the
    CPU's matmul tiles, or a backend's own loop nests for some group kinds through
    `schedule.group_rule(builder, group, out)`, default `nests.lower_group`). Assigns
    update their variable in place where that is safe (else the whole program is lowered
    again with every update into a temporary)."""
    return (_Lowering(program, plan, schedule).run()
            or _Lowering(program, plan, schedule).run(in_place=False))
