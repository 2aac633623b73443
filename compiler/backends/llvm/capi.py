"""The C ABI of an ahead-of-time artifact, emitted in LLVM IR next to the program's entry
point (docs/abi.md specifies it; `abi.AbiModel` says where every buffer lives).

`add_c_api(module, model, variable_values, const_values)` adds to an `llvmlite.ir.Module`
that `emit.emit_module` made:

    i8*  NAME_create()                         instance: variables (initial values embedded
                                               here), run counter 0, empty arena
    void NAME_free(i8* inst)
    i32  NAME_run(i8* inst, i8* in..., i64 sym..., i8* out...)   0 or an error code
    i8*  NAME_last_error(i8* inst)
    i32  NAME_output_shapes(i64* symbols, i64* shapes)   0, or ERROR_SHAPE on overflow
    i64  NAME_temporaries_size(i64* symbols)             -1 on overflow
    void NAME_get_<var>(i8* inst, i8* dst) / NAME_set_<var>(i8* inst, i8* src)
    i32  NAME_get_variable(i8* inst, i32 index, i8* dst) / NAME_set_variable(...)
    i8*  NAME_variable_name(i32 index)
    i64  NAME_get_run_counter(i8* inst) / void NAME_set_run_counter(i8* inst, i64)
    i32  NAME_abi_version()
    i8*  NAME_describe()       (add_describe: the library's own description, sha256 + JSON)

and makes every other function internal. The wrappers call only libc (calloc,
posix_memalign, free, memcpy, snprintf), so the .so needs libc, libm and libpthread alone.
A run writes assigned variables into each variable's second array and swaps the two only
when the run succeeded; temporaries live in one arena per instance, grown on demand.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from runtime.artifact import ABI_VERSION, ROLES
from runtime.signature import format_dim

from . import scalar_ops as S
from .abi import ALIGN, product
from .entry import ENTRY

I8, I32, I64 = S.I8, S.I32, S.I64
I8P = ir.PointerType(I8)
MESSAGE_BYTES = 512
ERROR_SHAPE, ERROR_ALLOC, ERROR_ARGUMENT = -1, -2, -3
COUNTER, ERROR, ARENA, ARENA_BYTES, VARS, NEXT, MESSAGE = range(7)


def _i64(v):
    return ir.Constant(I64, v)


def _i32(v):
    return ir.Constant(I32, v)


class CApi:
    def __init__(self, module: ir.Module, model):
        self.m, self.model = module, model
        n = len(model.variables)
        self.inst_ty = ir.LiteralStructType([I64, I8P, I8P, I64, ir.ArrayType(I8P, n),
                                             ir.ArrayType(I8P, n),
                                             ir.ArrayType(I8, MESSAGE_BYTES)])
        self._strings: dict = {}
        self._fns: dict = {}

    # ---- declarations and constants -----------------------------------------------------
    def libc(self, name):
        sigs = {"calloc": (I8P, [I64, I64], False), "free": (ir.VoidType(), [I8P], False),
                "posix_memalign": (I32, [ir.PointerType(I8P), I64, I64], False),
                "memcpy": (I8P, [I8P, I8P, I64], False),
                "snprintf": (I32, [I8P, I64, I8P], True)}
        fn = self.m.globals.get(name)
        if fn is None:
            ret, args, var_arg = sigs[name]
            fn = ir.Function(self.m, ir.FunctionType(ret, args, var_arg=var_arg), name)
        return fn

    def cstr(self, text: str):
        """An i8* constant expression for the NUL-terminated UTF-8 `text`."""
        g = self._strings.get(text)
        if g is None:
            data = bytearray(text.encode() + b"\0")
            ty = ir.ArrayType(I8, len(data))
            g = ir.GlobalVariable(self.m, ty, f"{self.model.name}.str{len(self._strings)}")
            g.initializer, g.global_constant, g.linkage = ir.Constant(ty, data), True, \
                "internal"
            self._strings[text] = g
        return g.gep([_i32(0), _i32(0)])

    def blob(self, label, data: bytes):
        """An aligned internal constant holding `data`; returns it as i8*."""
        ty = ir.ArrayType(I8, max(1, len(data)))
        g = ir.GlobalVariable(self.m, ty, f"{self.model.name}.{label}")
        g.initializer = ir.Constant(ty, bytearray(data or b"\0"))
        g.global_constant, g.linkage, g.align = True, "internal", ALIGN
        return g.bitcast(I8P)

    def table(self, label, ty, values):
        arr = ir.ArrayType(ty, max(1, len(values)))
        g = ir.GlobalVariable(self.m, arr, f"{self.model.name}.{label}")
        g.initializer = ir.Constant(arr, list(values) or [ir.Constant(ty, None)])
        g.global_constant, g.linkage = True, "internal"
        return g

    def define(self, role, ret, args, names=()):
        name = f"{self.model.name}_{role}"
        fn = ir.Function(self.m, ir.FunctionType(ret, args), name)
        for a, n in zip(fn.args, names):
            a.name = n
        self._fns[role] = name
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    # ---- instance access --------------------------------------------------------------
    def inst(self, b, raw):
        return b.bitcast(raw, ir.PointerType(self.inst_ty))

    def field(self, b, inst, f, index=None):
        idx = [_i32(0), _i32(f)] + ([index if isinstance(index, ir.Value) else _i32(index)]
                                    if index is not None else [])
        return b.gep(inst, idx)

    def set_error(self, b, inst, text, values=()):
        if values:
            fmt = text.replace("%", "%%").replace("{}", "%lld")
            buf = self.field(b, inst, MESSAGE, 0)
            b.call(self.libc("snprintf"), [buf, _i64(MESSAGE_BYTES), self.cstr(fmt)]
                   + list(values))
            b.store(buf, self.field(b, inst, ERROR))
        else:
            b.store(self.cstr(text), self.field(b, inst, ERROR))

    def guard(self, b, bad, inst, code, text, values=()):
        """If `bad`: record the message (`{}` = an i64 value) and return `code`."""
        with b.if_then(bad, likely=False):
            self.set_error(b, inst, text, values)
            b.ret(_i32(code))

    def aligned_alloc(self, b, nbytes):
        """posix_memalign(ALIGN, max(nbytes, 1)); null on failure."""
        slot = b.alloca(I8P)
        b.store(ir.Constant(I8P, None), slot)
        size = b.select(b.icmp_signed("<", nbytes, _i64(1)), _i64(1), nbytes)
        rc = b.call(self.libc("posix_memalign"), [slot, _i64(ALIGN), size])
        return b.select(b.icmp_signed("==", rc, _i32(0)), b.load(slot), ir.Constant(I8P, None))

    # ---- dims ----------------------------------------------------------------------------
    def dim(self, b, d, syms, overflow=None):
        """A JSON dim (runtime/signature.py) as an i64 value. With `overflow` (a list), every
        + and * is checked: the i1 "this wrapped" of each is appended to it."""
        if isinstance(d, int):
            return _i64(d)
        if isinstance(d, str):
            return syms[d]
        op, x, y = d
        x, y = self.dim(b, x, syms, overflow), self.dim(b, y, syms, overflow)
        if op in ("+", "*"):
            if overflow is None:
                return b.add(x, y) if op == "+" else b.mul(x, y)
            r = (b.sadd_with_overflow if op == "+" else b.smul_with_overflow)(x, y)
            overflow.append(b.extract_value(r, 1))
            return b.extract_value(r, 0)
        if op in ("max", "min"):
            return b.select(b.icmp_signed(">" if op == "max" else "<", x, y), x, y)
        q, r = b.sdiv(x, y), b.srem(x, y)  # floor division
        neg = b.icmp_signed("!=", b.icmp_signed("<", r, _i64(0)),
                            b.icmp_signed("<", y, _i64(0)))
        adjust = b.and_(b.icmp_signed("!=", r, _i64(0)), neg)
        return b.sub(q, b.zext(adjust, I64))

    def any_of(self, b, flags):
        """The i1 OR of `flags` (false when empty)."""
        out = ir.Constant(ir.IntType(1), 0)
        for f in flags:
            out = b.or_(out, f)
        return out

    def load_symbols(self, b, ptr):
        return {s: b.load(b.gep(ptr, [_i64(k)]), name=s)
                for k, (s, _, _) in enumerate(self.model.symbols)}

    def slot_layout(self, b, syms, overflow=None):
        """(offset of each slot, total bytes) of the arena for these symbols; with
        `overflow` (a list), the i1 flags of every size computation that wrapped int64."""
        offsets, total = [], _i64(0)
        mask = _i64(-ALIGN)
        for sizes in self.model.slot_bytes():
            size = _i64(0)
            for s in sizes:
                v = self.dim(b, s, syms, overflow)
                size = b.select(b.icmp_signed(">", v, size), v, size)
            offsets.append(total)
            if overflow is None:
                total = b.add(total, b.and_(b.add(size, _i64(ALIGN - 1)), mask))
            else:
                padded = b.sadd_with_overflow(size, _i64(ALIGN - 1))
                summed = b.sadd_with_overflow(total, b.and_(b.extract_value(padded, 0), mask))
                overflow += [b.extract_value(padded, 1), b.extract_value(summed, 1)]
                total = b.extract_value(summed, 0)
        return offsets, total


def add_c_api(module: ir.Module, model, variable_values, const_values) -> dict:
    """Emit the C ABI into `module`; `variable_values`: bytes per variable (index order),
    `const_values`: bytes per constant buffer. Returns {role: exported C symbol}."""
    api = CApi(module, model)
    inits = [api.blob(f"init{j}", data) for j, data in enumerate(variable_values)]
    consts = [api.blob(f"const{c}", data) for c, data in enumerate(const_values)]
    _emit_lifecycle(api, inits)
    _emit_run(api, consts)
    _emit_shapes(api)
    _emit_variables(api)
    _emit_misc(api)
    exported = set(api._fns.values())
    for fn in module.functions:
        if not fn.is_declaration and fn.name not in exported:
            fn.linkage = "internal"
    return dict(api._fns)


def exported_symbols(model) -> list:
    """Every C symbol the .so of `model` exports (what `add_c_api` + `add_describe` define),
    computable before emitting, so that the compiler can refuse clashing names first."""
    roles = [r for r in ROLES if r != "describe"] + [
        f"{role}_{v.c_name}" for v in model.variables for role in ("get", "set")]
    return [f"{model.name}_{r}" for r in roles] + [f"{model.name}_describe"]


def add_describe(module: ir.Module, name: str, text: str) -> str:
    """Export `const char *NAME_describe(void)` returning `text` (the library's own
    description: runtime.artifact.describe_text); returns the symbol."""
    data = bytearray(text.encode("ascii") + b"\0")
    ty = ir.ArrayType(I8, len(data))
    g = ir.GlobalVariable(module, ty, f"{name}.description")
    g.initializer, g.global_constant, g.linkage = ir.Constant(ty, data), True, "internal"
    fn = ir.Function(module, ir.FunctionType(I8P, []), f"{name}_describe")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(g.gep([_i32(0), _i32(0)]))
    return fn.name


def _static_bytes(var):
    return int(np.prod(var.shape, dtype=np.int64)) * np.dtype(var.dtype).itemsize


def _emit_lifecycle(api, inits):
    model = api.model
    size = ir.Constant(ir.PointerType(api.inst_ty), None).gep([_i32(1)]).ptrtoint(I64)
    fn, b = api.define("create", I8P, [])
    raw = b.call(api.libc("calloc"), [_i64(1), size])
    with b.if_then(b.icmp_unsigned("==", raw, ir.Constant(I8P, None)), likely=False):
        b.ret(raw)
    inst = api.inst(b, raw)
    b.store(api.cstr(""), api.field(b, inst, ERROR))
    free_fn, fb = api.define("free", ir.VoidType(), [I8P], ["inst"])
    for j, init in enumerate(inits):
        nbytes = _i64(_static_bytes(model.variables[j]))
        cur, nxt = api.aligned_alloc(b, nbytes), api.aligned_alloc(b, nbytes)
        b.store(cur, api.field(b, inst, VARS, j))
        b.store(nxt, api.field(b, inst, NEXT, j))
        failed = b.or_(b.icmp_unsigned("==", cur, ir.Constant(I8P, None)),
                       b.icmp_unsigned("==", nxt, ir.Constant(I8P, None)))
        with b.if_then(failed, likely=False):
            b.call(free_fn, [raw])
            b.ret(ir.Constant(I8P, None))
        b.call(api.libc("memcpy"), [cur, init, nbytes])
    b.ret(raw)
    _emit_free(api, free_fn, fb, len(inits))


def _emit_free(api, free_fn, fb, n_vars):
    """NAME_free: null-safe, and safe on a partly built instance (calloc zeroed it)."""
    arg = free_fn.args[0]
    with fb.if_then(fb.icmp_unsigned("==", arg, ir.Constant(I8P, None))):
        fb.ret_void()
    finst = api.inst(fb, arg)
    for j in range(n_vars):
        for f in (VARS, NEXT):
            fb.call(api.libc("free"), [fb.load(api.field(fb, finst, f, j))])
    fb.call(api.libc("free"), [fb.load(api.field(fb, finst, ARENA))])
    fb.call(api.libc("free"), [arg])
    fb.ret_void()


def _emit_run(api, consts):
    model = api.model
    n_in, n_sym, n_out = len(model.inputs), len(model.symbols), len(model.outputs)
    names = (["inst"] + [a.c_name for a in model.inputs] + [s for s, _, _ in model.symbols]
             + [a.c_name for a in model.outputs])
    fn, b = api.define("run", I32, [I8P] * (1 + n_in) + [I64] * n_sym + [I8P] * n_out, names)
    raw, args = fn.args[0], list(fn.args[1:])
    ins, sym_args, outs = args[:n_in], args[n_in:n_in + n_sym], args[n_in + n_sym:]
    with b.if_then(b.icmp_unsigned("==", raw, ir.Constant(I8P, None)), likely=False):
        b.ret(_i32(ERROR_ARGUMENT))
    inst = api.inst(b, raw)
    b.store(api.cstr(""), api.field(b, inst, ERROR))
    counter_ptr = api.field(b, inst, COUNTER)
    counter = b.add(b.load(counter_ptr), _i64(1))
    b.store(counter, counter_ptr)
    syms = {s: a for (s, _, _), a in zip(model.symbols, sym_args)}
    _check_symbols(api, b, inst, syms)
    arena = _grow_arena(api, b, inst, syms)
    bufs = _buffer_table(api, b, inst, syms, ins, outs, consts, arena)
    scalars = b.alloca(I64, n_sym + 1)
    for k, (s, _, _) in enumerate(model.symbols):
        b.store(syms[s], b.gep(scalars, [_i64(k)]))
    b.store(counter, b.gep(scalars, [_i64(n_sym)]))
    table = b.alloca(I8P, max(1, len(bufs)))
    for i, p in enumerate(bufs):
        b.store(p, b.gep(table, [_i64(i)]))
    code = b.call(api.m.globals[ENTRY], [table, scalars])
    _report_fault(api, b, inst, code)
    _commit(api, b, inst, syms, bufs, outs)
    b.ret(_i32(0))


def _commit(api, b, inst, syms, bufs, outs):
    """After a successful run: copy the outputs not written in place, then install the
    assigned variables (copy into their next arrays where needed, swap)."""
    model = api.model
    for k, i in model.output_copies:
        b.call(api.libc("memcpy"), [outs[k], bufs[i], api.dim(b, model.buffer_bytes(i), syms)])
    for v, i in model.update_copies:
        b.call(api.libc("memcpy"), [b.load(api.field(b, inst, NEXT, v)), bufs[i],
                                    api.dim(b, model.buffer_bytes(i), syms)])
    for v in model.updated:
        cur, nxt = api.field(b, inst, VARS, v), api.field(b, inst, NEXT, v)
        old = b.load(cur)
        b.store(b.load(nxt), cur)
        b.store(old, nxt)


def _check_symbols(api, b, inst, syms):
    model = api.model
    for s, placeholder, axis in model.symbols:
        api.guard(b, b.icmp_signed("<", syms[s], _i64(0)), inst, ERROR_SHAPE,
                  f"symbol {s} (axis {axis} of {placeholder!r}) must be >= 0, got {{}}",
                  [syms[s]])
    values = ", ".join(f"{s}={{}}" for s, _, _ in model.symbols)
    sym_values = [syms[s] for s, _, _ in model.symbols]
    for a, c, why in model.checks + model.bounds:
        wrapped = []
        api.dim(b, a, syms, wrapped), api.dim(b, c, syms, wrapped)
        if wrapped:
            api.guard(b, api.any_of(b, wrapped), inst, ERROR_SHAPE,
                      f"the symbols overflow int64 in a shape constraint of {why} "
                      f"({format_dim(a)}, {format_dim(c)}) with {values}", sym_values)
    for a, c, why in model.checks:
        va, vc = api.dim(b, a, syms), api.dim(b, c, syms)
        api.guard(b, b.icmp_signed("!=", va, vc), inst, ERROR_SHAPE,
                  f"the symbols violate a shape constraint of {why}: {format_dim(a)} = {{}} "
                  f"but {format_dim(c)} = {{}}", [va, vc])
    for a, c, why in model.bounds:
        va, vc = api.dim(b, a, syms), api.dim(b, c, syms)
        api.guard(b, b.icmp_signed(">", va, vc), inst, ERROR_SHAPE,
                  f"the symbols violate a shape constraint of {why}: need {format_dim(a)} "
                  f"<= {format_dim(c)}, got {{}} > {{}}", [va, vc])
    for i, (_, _, shape, desc) in enumerate(model.buffers):
        wrapped = []
        for d in shape:
            api.dim(b, d, syms, wrapped)
        api.dim(b, model.buffer_bytes(i), syms, wrapped)
        if wrapped:
            api.guard(b, api.any_of(b, wrapped), inst, ERROR_SHAPE,
                      f"the symbols make {desc} too large: its extents or its size in bytes "
                      f"({format_dim(model.buffer_bytes(i))}) overflow int64, with {values}",
                      sym_values)
    for _, _, shape, desc in model.buffers:
        for axis, d in enumerate(shape):
            if not isinstance(d, int) and not isinstance(d, str):
                v = api.dim(b, d, syms)
                api.guard(b, b.icmp_signed("<", v, _i64(0)), inst, ERROR_SHAPE,
                          f"the symbols give {desc} a negative extent at axis {axis}: "
                          f"{format_dim(d)} = {{}}", [v])


def _grow_arena(api, b, inst, syms):
    """The arena base (i8*) after growing it to this run's size; fails with ERROR_ALLOC."""
    wrapped = []
    offsets, total = api.slot_layout(b, syms, wrapped)
    if wrapped:
        api.guard(b, api.any_of(b, wrapped), inst, ERROR_SHAPE,
                  "the symbols make the temporaries too large: their total size in bytes "
                  "overflows int64, with " + ", ".join(f"{s}={{}}" for s, _, _ in
                                                        api.model.symbols),
                  [syms[s] for s, _, _ in api.model.symbols])
    base_ptr, size_ptr = api.field(b, inst, ARENA), api.field(b, inst, ARENA_BYTES)
    with b.if_then(b.icmp_signed(">", total, b.load(size_ptr)), likely=False):
        b.call(api.libc("free"), [b.load(base_ptr)])
        fresh = api.aligned_alloc(b, total)
        b.store(fresh, base_ptr)
        ok = b.icmp_unsigned("!=", fresh, ir.Constant(I8P, None))
        b.store(b.select(ok, total, _i64(0)), size_ptr)
        api.guard(b, b.not_(ok), inst, ERROR_ALLOC,
                  "could not allocate {} bytes for the temporaries", [total])
    base = b.load(base_ptr)
    return [b.gep(base, [off]) for off in offsets]


def _buffer_table(api, b, inst, syms, ins, outs, consts, arena):
    bufs = []
    for home, index in api.model.homes:
        if home == "input":
            bufs.append(ins[index])
        elif home == "output":
            bufs.append(outs[index])
        elif home == "const":
            bufs.append(consts[index])
        elif home == "arena":
            bufs.append(arena[index])
        else:
            field = VARS if home == "variable" else NEXT
            bufs.append(b.load(api.field(b, inst, field, index)))
    return bufs


def _report_fault(api, b, inst, code):
    errors = api.model.errors
    top = max(errors, default=0)
    messages = [api.cstr(errors.get(c, "generated code failed with an unknown error code"))
                for c in range(top + 1)]
    table = api.table("errors", I8P, messages)
    with b.if_then(b.icmp_signed("!=", code, _i32(0)), likely=False):
        known = b.and_(b.icmp_signed(">", code, _i32(0)), b.icmp_signed("<=", code, _i32(top)))
        idx = b.select(known, code, _i32(0))
        msg = b.load(b.gep(table, [_i32(0), idx]))
        b.store(msg, api.field(b, inst, ERROR))
        b.ret(code)


def _emit_shapes(api):
    """NAME_output_shapes returns 0, or ERROR_SHAPE when an output's extents or byte count
    overflow int64; NAME_temporaries_size returns -1 when the arena's size overflows."""
    model = api.model
    fn, b = api.define("output_shapes", I32, [ir.PointerType(I64)] * 2,
                       ["symbols", "shapes"])
    syms = api.load_symbols(b, fn.args[0])
    k, wrapped = 0, []
    for arg in model.outputs:
        for d in arg.shape:
            b.store(api.dim(b, d, syms, wrapped), b.gep(fn.args[1], [_i64(k)]))
            k += 1
        itemsize = np.dtype(arg.dtype).itemsize
        api.dim(b, product([itemsize] + list(arg.shape)), syms, wrapped)
    b.ret(b.select(api.any_of(b, wrapped), _i32(ERROR_SHAPE), _i32(0)))
    fn, b = api.define("temporaries_size", I64, [ir.PointerType(I64)], ["symbols"])
    wrapped = []
    _, total = api.slot_layout(b, api.load_symbols(b, fn.args[0]), wrapped)
    b.ret(b.select(api.any_of(b, wrapped), _i64(-1), total))


def _emit_variables(api):
    model = api.model
    sizes = [_static_bytes(v) for v in model.variables]
    for j, var in enumerate(model.variables):
        for role, field_first in (("get", True), ("set", False)):
            fn, b = api.define(f"{role}_{var.c_name}", ir.VoidType(), [I8P, I8P],
                               ["inst", "dst" if field_first else "src"])
            cur = b.load(api.field(b, api.inst(b, fn.args[0]), VARS, j))
            pair = [fn.args[1], cur] if field_first else [cur, fn.args[1]]
            b.call(api.libc("memcpy"), pair + [_i64(sizes[j])])
            b.ret_void()
    size_table = api.table("var_bytes", I64, [_i64(s) for s in sizes])
    for role in ("get", "set"):
        fn, b = api.define(f"{role}_variable", I32, [I8P, I32, I8P], ["inst", "index", "data"])
        raw, index, data = fn.args
        bad = b.or_(b.icmp_unsigned("==", raw, ir.Constant(I8P, None)),
                    b.icmp_unsigned(">=", index, _i32(len(sizes))))
        with b.if_then(bad, likely=False):
            b.ret(_i32(ERROR_ARGUMENT))
        cur = b.load(api.field(b, api.inst(b, raw), VARS, index))
        nbytes = b.load(b.gep(size_table, [_i32(0), index]))
        b.call(api.libc("memcpy"), ([data, cur] if role == "get" else [cur, data]) + [nbytes])
        b.ret(_i32(0))
    names = api.table("var_names", I8P, [api.cstr(v.name) for v in model.variables])
    fn, b = api.define("variable_name", I8P, [I32], ["index"])
    with b.if_then(b.icmp_unsigned(">=", fn.args[0], _i32(len(sizes)))):
        b.ret(ir.Constant(I8P, None))
    b.ret(b.load(b.gep(names, [_i32(0), fn.args[0]])))


def _emit_misc(api):
    fn, b = api.define("last_error", I8P, [I8P], ["inst"])
    with b.if_then(b.icmp_unsigned("==", fn.args[0], ir.Constant(I8P, None))):
        b.ret(api.cstr("invalid instance (NULL)"))
    b.ret(b.load(api.field(b, api.inst(b, fn.args[0]), ERROR)))
    fn, b = api.define("get_run_counter", I64, [I8P], ["inst"])
    b.ret(b.load(api.field(b, api.inst(b, fn.args[0]), COUNTER)))
    fn, b = api.define("set_run_counter", ir.VoidType(), [I8P, I64], ["inst", "counter"])
    b.store(fn.args[1], api.field(b, api.inst(b, fn.args[0]), COUNTER))
    b.ret_void()
    fn, b = api.define("abi_version", I32, [])
    b.ret(_i32(ABI_VERSION))
