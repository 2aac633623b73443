"""LLVM emitter: renders a `LoweredProgram` (kernel IR) as an LLVM module with
`llvmlite.ir`.

Each kernel becomes an internal `noinline` function taking its buffers (typed,
`noalias`), its symbols (i64), the run counter (when it draws random numbers) and an i32
error slot (when it can fail; `Fail` stores the code and returns); a parallel kernel is
split into chunks for the thread pool (`pool.py`). The entry points that call the
kernels in the host schedule's order, `flowc_main` and `flowc_main_timed`, are
`entry.py`'s. Scalar ops come from `scalar_ops`; this module never decides fusion or
indexing.
"""

from __future__ import annotations

from llvmlite import ir

from ... import timings
from ...ir import dtypes as T
from ...lower import kir as K
from . import pool, vecmath
from . import scalar_ops as S
from .entry import emit_entry

INTERLEAVE = 4
#: innermost loops with a constant extent up to this are fully unrolled
FULL_UNROLL = 8


def _walk(stmts):
    for s in stmts:
        yield s
        for child in (getattr(s, "body", ()), getattr(s, "then", ()), getattr(s, "else_", ())):
            yield from _walk(child)
PHILOX = "flowc_philox4x32"


class ModuleEmitter:
    def __init__(self, name="flowc"):
        self.module = ir.Module(name=name)
        self.pool = None   # the thread pool's run function (pool.py), when threads > 1
        self._philox = None
        self._loop_md = None

    def function(self, name, ret, args):
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name=name)
        return fn

    def full_unroll_loop_md(self):
        """Loop metadata that asks for a full unroll (honoured with the unroller off)."""
        if getattr(self, "_unroll_md", None) is None:
            full = self.module.add_metadata([ir.MetaDataString(self.module,
                                                               "llvm.loop.unroll.full")])
            loop_id = self.module.add_metadata([full])
            loop_id.operands = (loop_id, full)
            self._unroll_md = loop_id
        return self._unroll_md

    def no_vectorize_loop_md(self):
        """Loop metadata for `Loop(vectorize=False)`: the loop vectorizer leaves the loop
        alone (its body is written lane by lane; the SLP vectorizer packs the lanes)."""
        if getattr(self, "_novec_md", None) is None:
            off = self.module.add_metadata([ir.MetaDataString(self.module,
                                                              "llvm.loop.vectorize.enable"),
                                            ir.Constant(ir.IntType(1), 0)])
            loop_id = self.module.add_metadata([off])
            loop_id.operands = (loop_id, off)
            self._novec_md = loop_id
        return self._novec_md

    def innermost_loop_md(self):
        """Loop metadata for innermost loops: interleave INTERLEAVE vector iterations, so
        long dependency chains (polynomials) overlap; LLVM's cost model picks 1 here."""
        if self._loop_md is None:
            count = self.module.add_metadata([ir.MetaDataString(self.module,
                                                                "llvm.loop.interleave.count"),
                                              ir.Constant(S.I32, INTERLEAVE)])
            loop_id = self.module.add_metadata([count])
            loop_id.operands = (loop_id, count)  # a loop ID refers to itself
            self._loop_md = loop_id
        return self._loop_md

    def philox(self):
        if self._philox is None:
            self._philox = _emit_philox(self)
        return self._philox


#: kernel kinds whose functions prefer the target's widest vectors
WIDE_KINDS = ("conv", "row", "loop")


def prefer_wide_vectors(fn, kernel: K.Kernel):
    """Let the vectorizers use the target's widest registers (LLVM prefers 256-bit ones
    on AVX-512 CPUs; a preference only, so narrower targets are unaffected) in the
    kernels of `WIDE_KINDS` and those whose nest says so (`Kernel.wide_vectors`):
    conv kernels and the packed matmul's register tiles and their packs (two full vectors
    per tile row: 256-bit registers halved a packed matmul's speed), and row and
    elementwise loop kernels, whose vector-math polynomials are bound by the number of
    vector instructions (W5's softmax rows 20% and W1's chain 13% faster with 512-bit
    vectors on an AVX-512 Xeon, one thread). Not the plain matmul nests, whose 10-column
    rows ran slower in 512-bit vectors. Results do not change: the vector math is
    lane-wise exact-order IEEE and the only reassociated steps are `fast` accumulations.
    Set on every function of the kernel, since the ranged body is inlined into its chunk
    function before vectorization. A string attribute, which llvmlite's checked `add`
    does not know."""
    if kernel.kind in WIDE_KINDS or kernel.wide_vectors:
        set.add(fn.attributes, '"prefer-vector-width"="512"')


class FnEmitter:
    """Emits one kernel function."""

    def __init__(self, mod: ModuleEmitter, kernel: K.Kernel, ranged=False):
        """`ranged`: the function takes two more i64 arguments (lo, hi) and runs only
        those iterations of the kernel's outermost (parallel) loop."""
        self.mod, self.kernel, self.ranged = mod, kernel, ranged
        args = kernel_arg_types(kernel) + ([S.I64, S.I64] if ranged else [])
        name = kernel.name + (".range" if ranged else "")
        self.fn = ir.Function(mod.module, ir.FunctionType(ir.VoidType(), args), name)
        self.fn.linkage = "internal"
        prefer_wide_vectors(self.fn, kernel)
        fargs = list(self.fn.args)
        self.bufs = {}
        for p, a in zip(kernel.params, fargs):
            a.name = p.name
            a.add_attribute("noalias")
            self.bufs[p.name] = (a, p.dtype)
        rest = fargs[len(kernel.params):]
        self.syms = dict(zip(kernel.symbols, rest))
        rest = rest[len(kernel.symbols):]
        self.counter = rest.pop(0) if kernel.uses_counter else None
        self.err = rest.pop(0) if kernel.can_fail else None
        self.range = rest if ranged else None
        entry = self.fn.append_basic_block("entry")
        self.alloca_builder = ir.IRBuilder(entry)
        body = self.fn.append_basic_block("body")
        self.builder = ir.IRBuilder(body)
        self.locals = {}

    # ---- helpers used by scalar_ops -------------------------------------------------
    def intrinsic(self, name, dtype, args):
        ty = S.reg_type(dtype)
        fn = self.mod.function(f"{name}.{S._suffix(dtype)}", ty, [ty] * len(args))
        return self.builder.call(fn, args)

    def libm(self, name, dtype, args):
        ty = S.reg_type(dtype)
        return self.builder.call(self.mod.function(name, ty, [ty] * len(args)), args)

    def call_decl(self, name, ret, args):
        fn = self.mod.function(name, ret, [a.type for a in args])
        return self.builder.call(fn, args)

    # ---- emission ---------------------------------------------------------------------
    def emit(self):
        self.stmts(self.kernel.body)
        if not self.builder.block.is_terminated:
            self.builder.ret_void()
        self.alloca_builder.branch(self.fn.basic_blocks[1])
        return self.fn

    def local(self, name, dtype):
        if name not in self.locals:
            ptr = self.alloca_builder.alloca(S.reg_type(dtype), name=name)
            self.locals[name] = (ptr, dtype)
        return self.locals[name][0]

    def stmts(self, stmts):
        for s in stmts:
            getattr(self, "s_" + type(s).__name__)(s)

    def s_Loop(self, s):
        b = self.builder
        if s.parallel and self.range:
            start, ext = self.range
        else:
            start, ext = ir.Constant(S.I64, 0), self.expr(s.extent)
        ptr = self.local(s.var, T.int64)
        b.store(start, ptr)
        head = self.fn.append_basic_block(f"{s.var}.head")
        body = self.fn.append_basic_block(f"{s.var}.body")
        done = self.fn.append_basic_block(f"{s.var}.done")
        b.branch(head)
        b.position_at_end(head)
        i = b.load(ptr)
        b.cbranch(b.icmp_signed("<", i, ext), body, done)
        b.position_at_end(body)
        self.stmts(s.body)
        if not b.block.is_terminated:
            b.store(b.add(b.load(ptr), ir.Constant(S.I64, 1)), ptr)
            latch = b.branch(head)
            innermost = not any(isinstance(x, K.Loop) for x in _walk(s.body))
            if not s.vectorize:
                latch.set_metadata("llvm.loop", self.mod.no_vectorize_loop_md())
            elif (innermost and not s.parallel and isinstance(s.extent, K.IConst)
                  and s.extent.value <= FULL_UNROLL):
                # a short fixed loop (a small trailing dim): unrolled, so the loop around it
                # becomes the innermost one and vectorizes (LLVM's own unroller is off)
                latch.set_metadata("llvm.loop", self.mod.full_unroll_loop_md())
            elif innermost:
                latch.set_metadata("llvm.loop", self.mod.innermost_loop_md())
        b.position_at_end(done)

    def s_Store(self, s):
        ptr, dtype = self.bufs[s.buf]
        value = self.expr(s.value)
        if dtype is T.bool_:
            value = self.builder.zext(value, S.I8)
        self.builder.store(value, self.builder.gep(ptr, [self.expr(s.index)]))

    def s_AtomicAdd(self, s):
        # an atomic read-modify-write (`atomicrmw`): threads splitting a parallel loop may
        # add to the same element; one thread pays an uncontended atomic
        ptr, dtype = self.bufs[s.buf]
        op = "fadd" if dtype.is_float else "add"
        self.builder.atomic_rmw(op, self.builder.gep(ptr, [self.expr(s.index)]),
                                self.expr(s.value), "monotonic")

    def s_Let(self, s):
        ptr = self.local(s.var, s.value.dtype)
        self.builder.store(self.expr(s.value), ptr)

    def s_Set(self, s):
        ptr, _ = self.locals[s.var]
        self.builder.store(self.expr(s.value), ptr)

    def s_Accumulator(self, s):
        ptr = self.local(s.var, s.dtype)
        self.builder.store(self.expr(s.identity), ptr)

    def s_Accumulate(self, s):
        ptr, dtype = self.locals[s.var]
        self.builder.store(self.expr(s.update(dtype)), ptr)

    def s_If(self, s):
        b = self.builder
        cond = self.expr(s.cond)
        then = self.fn.append_basic_block("then")
        other = self.fn.append_basic_block("else")
        merge = self.fn.append_basic_block("endif")
        b.cbranch(cond, then, other)
        for block, body in ((then, s.then), (other, s.else_)):
            b.position_at_end(block)
            self.stmts(body)
            if not b.block.is_terminated:
                b.branch(merge)
        b.position_at_end(merge)

    def s_Fail(self, s):
        self.builder.store(ir.Constant(S.I32, s.code), self.err)
        self.builder.ret_void()
        self.builder.position_at_end(self.fn.append_basic_block("after_fail"))

    def expr(self, e):
        return getattr(self, "e_" + type(e).__name__)(e)

    def e_IConst(self, e):
        return ir.Constant(S.reg_type(e.dtype), int(e.value))

    def e_FConst(self, e):
        ty = S.reg_type(e.dtype)
        if e.dtype.is_float:
            return ir.Constant(ty, float(e.value))
        return ir.Constant(ty, int(e.value))

    def e_Var(self, e):
        return self.builder.load(self.locals[e.name][0])

    def e_SymRef(self, e):
        return self.syms[e.name]

    def e_Load(self, e):
        ptr, dtype = self.bufs[e.buf]
        v = self.builder.load(self.builder.gep(ptr, [self.expr(e.index)]))
        if dtype is T.bool_:
            v = self.builder.icmp_unsigned("!=", v, ir.Constant(S.I8, 0))
        return v

    def e_Unary(self, e):
        return S.unary(self, e.op, self.expr(e.x), e.x.dtype)

    def e_Binary(self, e):
        a, c = self.expr(e.a), self.expr(e.b)
        if e.fast and e.dtype.is_float and e.op in S.FAST_OPS:
            return S.FAST_OPS[e.op](self.builder, a, c)
        return S.binary(self, e.op, a, c, e.a.dtype)

    def e_Select(self, e):
        return self.builder.select(self.expr(e.cond), self.expr(e.a), self.expr(e.b))

    def e_Cast(self, e):
        return S.cast(self, self.expr(e.x), e.x.dtype, e.dtype)

    def e_Random(self, e):
        return _random_value(self, e)


def kernel_arg_types(kernel: K.Kernel) -> list:
    args = [ir.PointerType(S.mem_type(p.dtype)) for p in kernel.params]
    args += [S.I64] * len(kernel.symbols)
    if kernel.uses_counter:
        args.append(S.I64)
    if kernel.can_fail:
        args.append(ir.PointerType(S.I32))
    return args


def is_parallel(kernel: K.Kernel) -> bool:
    body = kernel.body
    return len(body) == 1 and isinstance(body[0], K.Loop) and body[0].parallel


# ---- threads: a parallel kernel splits its outer loop into chunks for the pool ------------
#: below this many scalar steps a kernel runs on the calling thread (waking the pool costs
#: a few microseconds, about 10^4 simple steps). Measured for LSTM gate kernels
#: (c * sigmoid(f + 1) + sigmoid(i) * tanh(j), 2 threads, min of 3000 Session.runs, AVX-512
#: Xeon at load ~10): 16K elements serial 56 us vs parallel 101-107, 32K 86-91 vs 122-165,
#: 64K 161-163 vs 95-100 — W4's and W8's per-gate kernels (64x256, 128x128) stay serial.
MIN_PARALLEL_WORK = 1 << 16


#: chunks per thread of a parallel loop (handed out dynamically, for load balance)
CHUNKS_PER_THREAD = 4


def emit_parallel_kernel(mod: ModuleEmitter, kernel: K.Kernel, threads: int):
    """`kernel(args)`: runs `kernel.range(args, lo, hi)` over chunks of the outer loop on
    the module's thread pool (pool.py: the caller and up to `threads - 1` workers) when
    the work is large enough, else on the caller."""
    ranged = FnEmitter(mod, kernel, ranged=True).emit()
    arg_types = kernel_arg_types(kernel)
    ctx_ty = ir.LiteralStructType(arg_types + [S.I64, S.I64])   # args, extent, chunk size
    i8p = ir.PointerType(S.I8)
    chunk_fn = ir.Function(mod.module, pool.CHUNK_TY, kernel.name + ".chunk")
    chunk_fn.linkage = "internal"
    prefer_wide_vectors(chunk_fn, kernel)
    cb = ir.IRBuilder(chunk_fn.append_basic_block("entry"))
    ctx = cb.bitcast(chunk_fn.args[0], ir.PointerType(ctx_ty))
    fields = [cb.load(cb.gep(ctx, [ir.Constant(S.I32, 0), ir.Constant(S.I32, i)]))
              for i in range(len(arg_types) + 2)]
    extent, size = fields[-2], fields[-1]
    lo = cb.mul(chunk_fn.args[1], size)
    hi = cb.add(lo, size)
    hi = cb.select(cb.icmp_signed("<", hi, extent), hi, extent)
    cb.call(ranged, fields[:-2] + [lo, hi])
    cb.ret_void()

    fn = ir.Function(mod.module, ir.FunctionType(ir.VoidType(), arg_types), kernel.name)
    fn.linkage = "internal"
    prefer_wide_vectors(fn, kernel)
    em = FnEmitter.__new__(FnEmitter)
    em.mod, em.kernel, em.fn = mod, kernel, fn
    em.syms = dict(zip(kernel.symbols, fn.args[len(kernel.params):]))
    entry = fn.append_basic_block("entry")
    em.alloca_builder = ir.IRBuilder(entry)
    em.builder = b = ir.IRBuilder(fn.append_basic_block("body"))
    em.locals = {}
    args = list(fn.args)
    extent = em.expr(kernel.body[0].extent)
    work = em.expr(kernel.work)
    zero = ir.Constant(S.I64, 0)
    small = b.or_(b.icmp_signed("<", work, ir.Constant(S.I64, MIN_PARALLEL_WORK)),
                  b.icmp_signed("<", extent, ir.Constant(S.I64, 2)))
    serial_bb, par_bb = fn.append_basic_block("serial"), fn.append_basic_block("parallel")
    b.cbranch(small, serial_bb, par_bb)
    b.position_at_end(serial_bb)
    b.call(ranged, args + [zero, extent])
    b.ret_void()
    b.position_at_end(par_bb)
    most = ir.Constant(S.I64, threads * CHUNKS_PER_THREAD)
    n = b.select(b.icmp_signed("<", extent, most), extent, most)
    size = b.sdiv(b.sub(b.add(extent, n), ir.Constant(S.I64, 1)), n)
    n = b.sdiv(b.sub(b.add(extent, size), ir.Constant(S.I64, 1)), size)  # no empty chunk
    ctx = em.alloca_builder.alloca(ctx_ty)
    for i, v in enumerate(args + [extent, size]):
        b.store(v, b.gep(ctx, [ir.Constant(S.I32, 0), ir.Constant(S.I32, i)]))
    b.call(mod.pool, [chunk_fn, b.bitcast(ctx, i8p), n])
    b.ret_void()
    em.alloca_builder.branch(fn.basic_blocks[1])
    return fn


# ---- Philox-4x32-10 (see compiler/ops/philox.py for the contract) ---------------------------
def _emit_philox(mod: ModuleEmitter):
    from ...ops import philox as P
    words = ir.LiteralStructType([S.I32] * 4)
    fn = ir.Function(mod.module, ir.FunctionType(words, [S.I32] * 6), PHILOX)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    c = list(fn.args[:4])
    k0, k1 = fn.args[4], fn.args[5]

    def mulhilo(m, x):
        p = b.mul(ir.Constant(S.I64, m), b.zext(x, S.I64))
        return b.trunc(b.lshr(p, ir.Constant(S.I64, 32)), S.I32), b.trunc(p, S.I32)

    for r in range(P.ROUNDS):
        hi0, lo0 = mulhilo(P.M0, c[0])
        hi1, lo1 = mulhilo(P.M1, c[2])
        c = [b.xor(b.xor(hi1, c[1]), k0), lo1, b.xor(b.xor(hi0, c[3]), k1), lo0]
        if r != P.ROUNDS - 1:
            k0 = b.add(k0, ir.Constant(S.I32, P.W0))
            k1 = b.add(k1, ir.Constant(S.I32, P.W1))
    out = ir.Constant(words, ir.Undefined)
    for i, w in enumerate(c):
        out = b.insert_value(out, w, i)
    b.ret(out)
    return fn


def _uniform(em, ws, dtype):
    b = em.builder
    if dtype is T.float64:
        hi = b.uitofp(b.lshr(ws[0], ir.Constant(S.I32, 5)), ir.DoubleType())
        lo = b.uitofp(b.lshr(ws[1], ir.Constant(S.I32, 6)), ir.DoubleType())
        t = b.fadd(b.fmul(hi, ir.Constant(ir.DoubleType(), 67108864.0)), lo)
        return b.fmul(t, ir.Constant(ir.DoubleType(), 2.0 ** -53))
    v = b.uitofp(b.lshr(ws[0], ir.Constant(S.I32, 8)), ir.FloatType())
    return b.fmul(v, ir.Constant(ir.FloatType(), 2.0 ** -24))


def _random_value(em: FnEmitter, e: K.Random):
    import math
    b = em.builder
    index = em.expr(e.index)
    i32 = S.I32
    c = [b.trunc(index, i32), b.trunc(b.lshr(index, ir.Constant(S.I64, 32)), i32),
         b.trunc(em.counter, i32), b.trunc(b.lshr(em.counter, ir.Constant(S.I64, 32)), i32)]
    keys = [ir.Constant(i32, e.op_seed & 0xFFFFFFFF), ir.Constant(i32, e.seed & 0xFFFFFFFF)]
    block = b.call(em.mod.philox(), c + keys)
    w = [b.extract_value(block, i) for i in range(4)]
    dt = e.dtype
    if e.kind == "uniform":
        return _uniform(em, w, dt)
    ty = S.reg_type(dt)
    u0 = _uniform(em, w[0:2] if dt is T.float64 else w[0:1], dt)
    u1 = _uniform(em, w[2:4] if dt is T.float64 else w[1:2], dt)
    one, m2 = ir.Constant(ty, 1.0), ir.Constant(ty, -2.0)
    two_pi = float(2.0 * math.pi) if dt is T.float64 else float(T.float32.np.type(2.0 * math.pi))
    log = vecmath.call(b, "log", b.fsub(one, u0))  # vectorizes, unlike libm's log
    r = em.intrinsic("llvm.sqrt", dt, [b.fmul(m2, log)])
    cos = em.intrinsic("llvm.cos", dt, [b.fmul(ir.Constant(ty, two_pi), u1)])
    return b.fmul(r, cos)


# ---- module ---------------------------------------------------------------------------------
def _emit_kernels(mod: ModuleEmitter, kernels, threads) -> dict:
    fns = {k.name: emit_parallel_kernel(mod, k, threads)
           if threads > 1 and is_parallel(k) else FnEmitter(mod, k).emit()
           for k in kernels}
    for fn in fns.values():
        fn.attributes.add("noinline")
    return fns


def emit_module(lowered: K.LoweredProgram, name="flowc", threads=1,
                internal_pool=True) -> ir.Module:
    """One module: every kernel (internal functions), the thread pool when `threads` > 1
    (internal for an AOT `.so`; external for the JIT, whose loader stops it) and the
    entry point."""
    with timings.phase("llvm.emit_ir"):
        mod = ModuleEmitter(name)
        if threads > 1:
            mod.pool = pool.emit_pool(mod.module, threads - 1, internal_pool)
        fns = _emit_kernels(mod, lowered.kernels, threads)
        emit_entry(mod.module, lowered, fns)
        emit_entry(mod.module, lowered, fns, timed=True)
    return mod.module


def emit_entry_module(lowered: K.LoweredProgram, symbols: dict, name="flowc") -> ir.Module:
    """The entry points of a program whose kernels (and thread pool) are compiled apart
    (kernlib.py): each kernel is declared as the external function
    `symbols[kernel.name]`, defined (hidden) by an object it is linked with.

    The declaration keeps default visibility, so a call is a PLT call (R_X86_64_PLT32):
    MCJIT's RuntimeDyld gives such a call a stub within reach of the caller, and the
    static linker of a .so binds it straight to the hidden definition. A `declare hidden`
    is a direct PC-relative call, which MCJIT cannot resolve when the kernel's object
    lands more than 2 GiB away from the entry's (an assertion that aborts the process:
    seen with TensorFlow loaded in the same process, bench.py W8 after C3)."""
    mod = ModuleEmitter(name)
    fns = {}
    for k in lowered.kernels:
        fns[k.name] = mod.function(symbols[k.name], ir.VoidType(), kernel_arg_types(k))
    emit_entry(mod.module, lowered, fns)
    emit_entry(mod.module, lowered, fns, timed=True)
    return mod.module
