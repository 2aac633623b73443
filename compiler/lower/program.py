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
builder makes them: `_Builder.use`); equal kernels, and kernels equal up to integer
constants of index arithmetic, become one (generic) kernel: compiler/lower/share.py. So a
call's symbol list holds program symbol names (str) and per-call constants (int).
"""

from __future__ import annotations

import dataclasses

from ..ir import dims as D
from ..ir import dtypes as T
from . import kir as K
from .lower import _Builder
from .nests import lower_group
from .schedule import Schedule
from .share import _fields, _flatten, _Interner, _is_node, _share


class _Lowering:
    def __init__(self, program, plan, schedule):
        self.program, self.plan, self.schedule = program, plan, schedule
        self.group_rule = schedule.group_rule or lower_group
        self.buffer_of: dict = {}
        self.buffers: list = []
        self.errors: dict = {}
        self.packed: dict = {}   # (id(matmul operand), transposed) -> its packed buffer
        self.static_values: dict = {}  # id(node) -> (node, compile-time value or None)
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

    def add_const(self, dtype, array, desc):
        """A constant that no IR node owns (e.g. a constant filter packed into panels at
        compile time)."""
        buf = K.Buffer(f"b{len(self.buffers)}", dtype, tuple(array.shape), "const", array,
                       desc)
        self.buffers.append(buf)
        self.kind_of[buf.name] = "const"
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
        calls = _resolve(host, calls)
        outputs = [self.buffer_of[id(n)].name for n in prog.outputs]
        updates = {v: self.buffer_of[id(n)].name for v, n in prog.effects.items()}
        return K.LoweredProgram(
            buffers=_used_consts(self.buffers, calls, outputs, updates), kernels=kernels,
            calls=calls, outputs=outputs, updates=updates, errors=self.errors,
            symbols=[s.name for s in prog.symbols],
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


def _used_consts(buffers, calls, outputs, updates) -> list:
    """`buffers` less the constants that no call, output or host predicate reads: a
    constant filter that only conv nests read, packed into panels at compile time
    (conv_nests._packed_filter), is held once, as its packed copy."""
    used = set(outputs) | set(updates.values())
    stack = list(calls)
    while stack:
        st = stack.pop()
        if isinstance(st, K.HostWhile):
            used.add(st.pred)
            stack += [*st.cond, *st.body]
        elif isinstance(st, K.HostIf):
            used.add(st.pred)
            stack += [*st.then, *st.else_]
        else:
            used.update(st[1])
    return [b for b in buffers if b.kind != "const" or b.name in used]
