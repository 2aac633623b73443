"""Lowering of a whole program: buffers for the plan's materialized nodes, one kernel per
fusion group, identical kernels shared, and buffer lifetimes for memory planning.

Kernels are built with the program's buffer and symbol names, then renamed to
positional ones (`p0, p1, ...`, `s0, s1, ...`) so that structurally identical kernels
(an unrolled loop's repeated steps) become one function called from several places.
Kernels that differ only in constant offsets added inside load/store indices (step t of
an unrolled loop reading slice t of a stacked input) are shared too: each differing
offset becomes an int64 argument, and each call passes its own value. So a call's
symbol list holds program symbol names (str) and such per-call constants (int).
"""

from __future__ import annotations

import dataclasses

from . import kir as K
from .lower import _Builder
from .nests import lower_group


def _rename(obj, names: dict):
    """Copy of a kernel-IR tree with buffer and symbol names replaced via `names`."""
    if isinstance(obj, tuple):
        return tuple(_rename(o, names) for o in obj)
    if isinstance(obj, (K.Load, K.Store)):
        return dataclasses.replace(_rename_fields(obj, names), buf=names[obj.buf])
    if isinstance(obj, K.SymRef):
        return K.SymRef(names[obj.name], obj.dtype)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _rename_fields(obj, names)
    return obj


def _rename_fields(obj, names):
    changes = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, tuple) or (dataclasses.is_dataclass(v) and not isinstance(v, type)):
            changes[f.name] = _rename(v, names)
    return dataclasses.replace(obj, **changes) if changes else obj


class _Lowering:
    def __init__(self, program, plan):
        self.program, self.plan = program, plan
        self.buffer_of: dict = {}
        self.buffers: list = []
        self.errors: dict = {}

    def error_code(self, message) -> int:
        code = len(self.errors) + 1
        self.errors[code] = message
        return code

    def add_temp(self, dtype, shape, desc):
        """A temporary that no IR node owns (e.g. a matmul operand repacked into panels)."""
        buf = K.Buffer(f"b{len(self.buffers)}", dtype, tuple(shape), "temp", None, desc)
        self.buffers.append(buf)
        return buf

    def add_buffer(self, node, kind, source=None):
        name = f"b{len(self.buffers)}"
        buf = K.Buffer(name, node.dtype, tuple(node.shape), kind, source, node.describe())
        self.buffers.append(buf)
        self.buffer_of[id(node)] = buf
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

    def run(self) -> K.LoweredProgram:
        self.source_buffers()
        built = []
        for group in self.plan.groups:
            out = self.add_buffer(group.root, "temp")
            b = _Builder(self, group.root, "")
            body = tuple(lower_group(b, group, out))
            for pre, pre_body, kind in b.before:  # kernels that must run first (packing)
                built.append(self.canonical(pre, tuple(pre_body), kind, group.root,
                                            len(built)))
            built.append(self.canonical(b, body, group.kind, group.root, len(built)))
        kernels, calls = _share(built)
        prog = self.program
        return K.LoweredProgram(
            buffers=self.buffers, kernels=kernels, calls=calls,
            outputs=[self.buffer_of[id(n)].name for n in prog.outputs],
            updates={v: self.buffer_of[id(n)].name for v, n in prog.effects.items()},
            errors=self.errors, symbols=[s.name for s in prog.symbols])

    def canonical(self, b, body, kind, root, index):
        params = list(b.params.values())
        names = {p.name: f"p{i}" for i, p in enumerate(params)}
        names.update({s: f"s{i}" for i, s in enumerate(b.symbols)})
        kernel = K.Kernel(
            name=f"k{index}_{kind}_{root.op}",
            params=tuple(dataclasses.replace(p, name=names[p.name]) for p in params),
            symbols=tuple(names[s] for s in b.symbols), uses_counter=b.uses_counter,
            body=_rename(body, names), nodes=(root.describe(),),
            can_fail=b.can_fail, work=_rename(b.work, names) if b.work is not None else None)
        return kernel, ([p.name for p in params], list(b.symbols))


class _Hole:
    """Stands for an offset constant in a kernel's skeleton (all holes compare equal)."""
    def __eq__(self, other):
        return isinstance(other, _Hole)

    def __hash__(self):
        return 0

    def __repr__(self):
        return "_"


_HOLE = _Hole()


def _skeleton(obj, consts: list, in_index=False):
    """Copy of a kernel-IR tree whose constants added inside Load/Store indices are
    replaced by holes; their values are appended to `consts` in traversal order. Only
    additive offsets are abstracted: strides and extents stay constants, so a shared
    kernel keeps everything that vectorization depends on."""
    if isinstance(obj, tuple):
        return tuple(_skeleton(o, consts, in_index) for o in obj)
    if isinstance(obj, (K.Load, K.Store)):
        obj = dataclasses.replace(obj, index=_skeleton(obj.index, consts, True))
        return _skeleton_fields(obj, consts, in_index, skip="index")
    if in_index and isinstance(obj, K.Binary) and obj.op == "add":
        parts = []
        for x in (obj.a, obj.b):
            if isinstance(x, K.IConst):
                consts.append(x.value)
                parts.append(K.IConst(_HOLE))
            else:
                parts.append(_skeleton(x, consts, True))
        return dataclasses.replace(obj, a=parts[0], b=parts[1])
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _skeleton_fields(obj, consts, in_index)
    return obj


def _skeleton_fields(obj, consts, in_index, skip=None):
    changes = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if f.name != skip and (isinstance(v, tuple) or (
                dataclasses.is_dataclass(v) and not isinstance(v, type))):
            changes[f.name] = _skeleton(v, consts, in_index)
    return dataclasses.replace(obj, **changes) if changes else obj


def _fill(obj, values: list, names: dict):
    """Inverse of `_skeleton`: holes take the next value of `values`, which is either a
    constant (int) or, where the kernels of a family differ, a symbol name (str)."""
    if isinstance(obj, tuple):
        return tuple(_fill(o, values, names) for o in obj)
    if isinstance(obj, K.Load) or isinstance(obj, K.Store):
        obj = dataclasses.replace(obj, index=_fill(obj.index, values, names))
        return _fill_fields(obj, values, names, skip="index")
    if isinstance(obj, K.IConst) and isinstance(obj.value, _Hole):
        v = values.pop(0)
        return K.SymRef(v) if isinstance(v, str) else K.IConst(v)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _fill_fields(obj, values, names)
    return obj


def _fill_fields(obj, values, names, skip=None):
    changes = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if f.name != skip and (isinstance(v, tuple) or (
                dataclasses.is_dataclass(v) and not isinstance(v, type))):
            changes[f.name] = _fill(v, values, names)
    return dataclasses.replace(obj, **changes) if changes else obj


def _share(built):
    """(kernels, calls) from one (kernel, (buffer names, symbol names)) per group:
    identical kernels become one; kernels equal up to index offsets become one that
    takes the differing offsets as arguments."""
    families: dict = {}      # skeleton key -> [(position, kernel, args, offsets)]
    for pos, (kernel, args) in enumerate(built):
        offsets = []
        body = _skeleton(kernel.body, offsets)
        key = dataclasses.replace(kernel, name="", nodes=(), body=body)
        families.setdefault(key, []).append((pos, kernel, args, offsets))
    calls = [None] * len(built)
    kernels = []
    for members in sorted(families.values(), key=lambda m: m[0][0]):
        _, first, _, offsets0 = members[0]
        columns = list(zip(*(m[3] for m in members)))
        varying = [i for i, col in enumerate(columns) if len(set(col)) > 1]
        n0 = len(first.symbols)
        names = {i: f"s{n0 + j}" for j, i in enumerate(varying)}
        values = [names.get(i, v) for i, v in enumerate(offsets0)]
        skeleton = _skeleton(first.body, [])
        kernel = dataclasses.replace(
            first, name=f"k{len(kernels)}_" + first.name.split("_", 1)[1],
            body=_fill(skeleton, values, names),
            symbols=first.symbols + tuple(names[i] for i in varying),
            nodes=tuple(n for m in members for n in m[1].nodes))
        kernels.append(kernel)
        for pos, _, (bufs, syms), offsets in members:
            calls[pos] = (kernel.name, bufs, list(syms) + [offsets[i] for i in varying])
    return kernels, calls


def lower_program(program, plan) -> K.LoweredProgram:
    return _Lowering(program, plan).run()
