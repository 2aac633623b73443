"""The entry points of an LLVM module: the host schedule as calls of the kernels.

    i32 flowc_main(i8** buffers, i64* scalars)

where `buffers` holds one pointer per program buffer (in `LoweredProgram.buffers` order)
and `scalars` the symbol values in program order followed by the run counter. It calls
the kernels (emit.py's functions) in order — the host schedule's `HostWhile`/`HostIf`
become basic-block loops and branches that test a bool buffer, and kernels inside a loop
get the run counter folded with the iteration number (runtime/loop_counter.py) — and
returns 0 or the first error code. A straight-line run of more than `SEGMENT_CALLS` calls
goes into internal `noinline` segment functions (`<entry>.segN(buffers, scalars,
counter[, times])` -> 0 or the first error code): LLVM's time grows faster than linearly
with one function's size. A second entry,

    i32 flowc_main_timed(i8** buffers, i64* scalars, i64* times)

does the same and times each call slot c (the calls of `kir.flat_calls`, loop and branch
bodies inline): `times[2c]` gets the CLOCK_MONOTONIC nanoseconds of the slot's first
start and `times[2c + 1]` the sum of its durations over every time it ran (loop
iterations); a slot that never ran keeps 0 in both (RunOptions(trace_level=FULL_TRACE):
per-kernel timings; the plain entry stays free of them; an AOT library keeps it
internal, so the optimizer drops it).
"""

from __future__ import annotations

from llvmlite import ir

from runtime import loop_counter as LC

from ...lower import kir as K
from . import scalar_ops as S

ENTRY = "flowc_main"
TIMED_ENTRY = "flowc_main_timed"
CLOCK_MONOTONIC = 1  # Linux


def _fold_iteration(b: ir.IRBuilder, counter, k):
    """runtime.loop_counter.fold_iteration(counter, k) in IR (i64, wrapping)."""
    def c(v):
        return ir.Constant(S.I64, v)
    z = b.add(counter, b.mul(b.add(k, c(1)), c(LC.GOLDEN)))
    z = b.mul(b.xor(z, b.lshr(z, c(30))), c(LC.MIX1))
    z = b.mul(b.xor(z, b.lshr(z, c(27))), c(LC.MIX2))
    return b.xor(z, b.lshr(z, c(31)))


def _now_ns(module: ir.Module) -> ir.Function:
    """i64 flowc_now_ns(): clock_gettime(CLOCK_MONOTONIC) in nanoseconds (internal)."""
    timespec = ir.LiteralStructType([S.I64, S.I64])
    clock = module.globals.get("clock_gettime") or ir.Function(
        module, ir.FunctionType(S.I32, [S.I32, ir.PointerType(timespec)]), "clock_gettime")
    fn = ir.Function(module, ir.FunctionType(S.I64, []), "flowc_now_ns")
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ts = b.alloca(timespec)
    b.call(clock, [ir.Constant(S.I32, CLOCK_MONOTONIC), ts])
    sec = b.load(b.gep(ts, [ir.Constant(S.I32, 0), ir.Constant(S.I32, 0)]))
    nsec = b.load(b.gep(ts, [ir.Constant(S.I32, 0), ir.Constant(S.I32, 1)]))
    b.ret(b.add(b.mul(sec, ir.Constant(S.I64, 1_000_000_000)), nsec))
    return fn


#: a straight-line run of more kernel calls than this in an entry point goes into segment
#: functions of at most this many calls each (internal, noinline): LLVM's optimization and
#: code generation grow faster than linearly with the size of one function, and a training
#: graph of 36,000 user ops makes thousands of calls (docs/architecture.md, "Compile time
#: of large graphs")
SEGMENT_CALLS = 64


class _Frame:
    """One function of an entry point (the entry itself or a segment): its builder, the
    buffer table, scalars and times it reads, the symbols loaded at its start and its
    error slot."""

    def __init__(self, fn, bufs, scalars, times, symbols):
        self.fn, self.bufs, self.scalars, self.times = fn, bufs, scalars, times
        self.b = b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.err = b.alloca(S.I32, name="err")
        b.store(ir.Constant(S.I32, 0), self.err)
        self.syms = {s: b.load(b.gep(scalars, [ir.Constant(S.I64, i)]), name=s)
                     for i, s in enumerate(symbols)}


def emit_entry(module: ir.Module, lowered: K.LoweredProgram, fns: dict, timed=False):
    EntryEmitter(module, lowered, fns, timed).emit()


class EntryEmitter:
    """`flowc_main` (or `flowc_main_timed`): the host schedule as calls of the kernels,
    long straight-line runs of calls split into segment functions (`SEGMENT_CALLS`)."""

    def __init__(self, module: ir.Module, lowered: K.LoweredProgram, fns: dict, timed):
        self.module, self.lowered, self.fns, self.timed = module, lowered, fns, timed
        self.name = TIMED_ENTRY if timed else ENTRY
        self.kernels = {k.name: k for k in lowered.kernels}
        self.index = {buf.name: i for i, buf in enumerate(lowered.buffers)}
        self.dtypes = {buf.name: buf.dtype for buf in lowered.buffers}
        self.now = _now_ns(module) if timed else None
        self.slots = iter(range(1 << 62))  # call slots in emission order = flat_calls order
        self.segments = 0
        i8pp = ir.PointerType(ir.PointerType(S.I8))
        self.head_types = [i8pp, ir.PointerType(S.I64)]
        self.tail_types = [ir.PointerType(S.I64)] if timed else []

    def emit(self):
        fn = ir.Function(self.module, ir.FunctionType(S.I32, self.head_types + self.tail_types),
                         self.name)
        bufs, scalars = fn.args[:2]
        frame = _Frame(fn, bufs, scalars, fn.args[2] if self.timed else None,
                       self.lowered.symbols)
        b = frame.b
        counter = b.load(b.gep(scalars, [ir.Constant(S.I64, len(self.lowered.symbols))]))
        self.host(frame, self.lowered.calls, counter)
        frame.b.ret(ir.Constant(S.I32, 0))

    # ---- calls --------------------------------------------------------------------------
    def buffer(self, frame, bn):
        b = frame.b
        raw = b.load(b.gep(frame.bufs, [ir.Constant(S.I64, self.index[bn])]))
        return b.bitcast(raw, ir.PointerType(S.mem_type(self.dtypes[bn])))

    def time_slot(self, frame, slot, start):
        """times[2 slot] = the first start; times[2 slot + 1] += this call's duration."""
        b = frame.b
        first = b.gep(frame.times, [ir.Constant(S.I64, 2 * slot)])
        total = b.gep(frame.times, [ir.Constant(S.I64, 2 * slot + 1)])
        seen = b.load(first)
        b.store(b.select(b.icmp_signed("==", seen, ir.Constant(S.I64, 0)), start, seen),
                first)
        b.store(b.add(b.load(total), b.sub(b.call(self.now, []), start)), total)

    def fail_check(self, frame, code, label):
        """Return `code` from the frame's function when it is not 0."""
        b = frame.b
        ok = frame.fn.append_basic_block(f"after_{label}")
        bad = frame.fn.append_basic_block(f"fail_{label}")
        b.cbranch(b.icmp_signed("==", code, ir.Constant(S.I32, 0)), ok, bad)
        b.position_at_end(bad)
        b.ret(code)
        b.position_at_end(ok)

    def call(self, frame, counter, kname, buf_names, sym_names):
        k = self.kernels[kname]
        b = frame.b
        slot = next(self.slots)
        args = [self.buffer(frame, bn) for bn in buf_names]
        # a call passes program symbols by name and per-call index offsets as constants
        args += [frame.syms[s] if isinstance(s, str) else ir.Constant(S.I64, s)
                 for s in sym_names]
        if k.uses_counter:
            args.append(counter)
        if k.can_fail:
            args.append(frame.err)
        start = b.call(self.now, []) if self.timed else None
        b.call(self.fns[kname], args)
        if self.timed:
            self.time_slot(frame, slot, start)
        if k.can_fail:
            self.fail_check(frame, b.load(frame.err), kname)

    def run(self, frame, counter, calls):
        """A straight-line run of calls: inline when short, else in segment functions of
        `SEGMENT_CALLS` calls each."""
        if len(calls) <= SEGMENT_CALLS:
            for c in calls:
                self.call(frame, counter, *c)
            return
        for lo in range(0, len(calls), SEGMENT_CALLS):
            seg = self.segment(calls[lo:lo + SEGMENT_CALLS])
            args = [frame.bufs, frame.scalars, counter] + ([frame.times] if self.timed else [])
            code = frame.b.call(seg, args)
            self.fail_check(frame, code, seg.name)

    def segment(self, calls):
        """`i32 <entry>.segN(buffers, scalars, counter[, times])`: `calls` in order; returns
        0 or the first error code."""
        types = self.head_types + [S.I64] + self.tail_types
        fn = ir.Function(self.module, ir.FunctionType(S.I32, types),
                         f"{self.name}.seg{self.segments}")
        self.segments += 1
        fn.linkage = "internal"
        fn.attributes.add("noinline")
        bufs, scalars, counter = fn.args[:3]
        frame = _Frame(fn, bufs, scalars, fn.args[3] if self.timed else None,
                       self.lowered.symbols)
        for c in calls:
            self.call(frame, counter, *c)
        frame.b.ret(ir.Constant(S.I32, 0))
        return fn

    # ---- the host schedule ----------------------------------------------------------------
    def test(self, frame, pred):
        b = frame.b
        return b.icmp_unsigned("!=", b.load(self.buffer(frame, pred)), ir.Constant(S.I8, 0))

    def host(self, frame, host, counter):
        """The host schedule as basic blocks: loops and branches around the calls. In
        iteration k of a loop the kernels get the run counter folded with k
        (runtime/loop_counter.py), so random draws differ per iteration."""
        pending = []
        for st in host:
            if not isinstance(st, (K.HostWhile, K.HostIf)):
                pending.append(st)
                continue
            self.run(frame, counter, pending)
            pending = []
            if isinstance(st, K.HostWhile):
                self.host_while(frame, st, counter)
            else:
                self.host_if(frame, st, counter)
        self.run(frame, counter, pending)

    def host_while(self, frame, st, counter):
        b, entry = frame.b, frame.fn
        with b.goto_entry_block():   # a static slot: no stack growth per loop
            k = b.alloca(S.I64, name="iteration")
        b.store(ir.Constant(S.I64, 0), k)
        head, body, done = (entry.append_basic_block(n)
                            for n in ("while_cond", "while_body", "while_done"))
        b.branch(head)
        b.position_at_end(head)
        step = _fold_iteration(b, counter, b.load(k))
        self.host(frame, st.cond, step)
        b.cbranch(self.test(frame, st.pred), body, done)
        b.position_at_end(body)
        self.host(frame, st.body, step)
        b.store(b.add(b.load(k), ir.Constant(S.I64, 1)), k)
        b.branch(head)
        b.position_at_end(done)

    def host_if(self, frame, st, counter):
        b, entry = frame.b, frame.fn
        then, other, done = (entry.append_basic_block(n)
                             for n in ("if_then", "if_else", "if_done"))
        b.cbranch(self.test(frame, st.pred), then, other)
        for block, stmts in ((then, st.then), (other, st.else_)):
            b.position_at_end(block)
            self.host(frame, stmts, counter)
            b.branch(done)
        b.position_at_end(done)
