"""Kernel sharing: kernels equal up to integer constants of index arithmetic become one.

Kernels name buffers and symbols by position (compiler/lower/lower.py `_Builder.use`), so
equal kernels (an unrolled loop's repeated steps) are equal trees (hash-consed by
`_Interner`) and become one function called from several places. Kernels equal up to
integer constants of index arithmetic — offsets (step t of an unrolled loop reading slice
t of a stacked input), strides and loop extents (the SGD updates of variables of
different shapes, matmuls of different M, N) — are one generic kernel too: each constant
that differs between them becomes an int64 argument, and each call passes its own value
(`share`, `_skeleton`). Contiguous loop pairs are flattened first (`flatten`), so
elementwise kernels of every rank are alike. Used by compiler/lower/program.py.
"""

from __future__ import annotations

import dataclasses

from ..ir import dtypes as T
from . import kir as K

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
_INDEX_FIELD = {K.Load: "index", K.Store: "index", K.AtomicAdd: "index", K.Random: "index",
                K.Let: "value"}


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
    if t is K.Load or t is K.Store or t is K.AtomicAdd or t is K.Random:
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
