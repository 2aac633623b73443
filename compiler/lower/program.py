"""Lowering of a whole program: buffers for the plan's materialized nodes, one kernel per
fusion group, identical kernels shared, and buffer lifetimes for memory planning.

Kernels are built with the program's buffer and symbol names, then renamed to
positional ones (`p0, p1, ...`, `s0, s1, ...`) so that structurally identical kernels
(an unrolled loop's repeated steps) become one function called from several places.
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
    def __init__(self, program, plan, group_rule=None):
        self.program, self.plan = program, plan
        self.group_rule = group_rule or lower_group
        self.buffer_of: dict = {}
        self.buffers: list = []
        self.errors: dict = {}

    def error_code(self, message) -> int:
        code = len(self.errors) + 1
        self.errors[code] = message
        return code

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
        kernels, calls, by_body = [], [], {}
        for group in self.plan.groups:
            out = self.add_buffer(group.root, "temp")
            b = _Builder(self, group.root, "")
            body = tuple(self.group_rule(b, group, out))
            kernel, args = self.canonical(b, body, group, len(kernels))
            key = dataclasses.replace(kernel, name="", nodes=())
            shared = by_body.get(key)
            if shared is None:
                by_body[key] = kernel
                kernels.append(kernel)
                shared = kernel
            else:
                by_body[key] = shared = dataclasses.replace(
                    shared, nodes=shared.nodes + kernel.nodes)
                kernels[[k.name for k in kernels].index(shared.name)] = shared
            calls.append((shared.name, args[0], args[1]))
        prog = self.program
        return K.LoweredProgram(
            buffers=self.buffers, kernels=kernels, calls=calls,
            outputs=[self.buffer_of[id(n)].name for n in prog.outputs],
            updates={v: self.buffer_of[id(n)].name for v, n in prog.effects.items()},
            errors=self.errors, symbols=[s.name for s in prog.symbols])

    def canonical(self, b, body, group, index):
        params = list(b.params.values())
        names = {p.name: f"p{i}" for i, p in enumerate(params)}
        names.update({s: f"s{i}" for i, s in enumerate(b.symbols)})
        kernel = K.Kernel(
            name=f"k{index}_{group.kind}_{group.root.op}",
            params=tuple(dataclasses.replace(p, name=names[p.name]) for p in params),
            symbols=tuple(names[s] for s in b.symbols), uses_counter=b.uses_counter,
            body=_rename(body, names), nodes=(group.root.describe(),),
            can_fail=b.can_fail, work=_rename(b.work, names) if b.work is not None else None)
        return kernel, ([p.name for p in params], list(b.symbols))


def lower_program(program, plan, group_rule=None) -> K.LoweredProgram:
    """`group_rule(builder, group, out)` -> statements of one group's kernel: a backend's
    own loop nest for some group kinds (the CUDA backend's matmul); default
    `nests.lower_group`."""
    return _Lowering(program, plan, group_rule).run()
