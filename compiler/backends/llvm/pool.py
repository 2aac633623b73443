"""A persistent thread pool, generated in LLVM IR (so JIT code and an AOT `.so` get it
with no C compiler and no runtime library beyond libc's pthreads).

    void flowc_pool_run(void (*chunk)(void *ctx, i64 c), void *ctx, i64 n)
        runs chunk(ctx, c) for c in [0, n) on the pool's workers and the calling
        thread, and returns when all are done
    void flowc_pool_stop(void)
        stops and joins the workers (registered as a module destructor, so a `.so`'s
        `dlclose` or exit ends them; the JIT loader calls it when it closes)

The workers (threads - 1 of them) start at the first parallel region and then wait
between regions, spinning for a moment and then asleep on a condition variable, so a
region costs at most a wake-up instead of a `pthread_create` + `pthread_join` per thread
(an unrolled LSTM step runs several parallel matmuls). All workers take part in every
region: the caller publishes the chunk function under the mutex, bumps a generation
counter and broadcasts; chunks are handed out with an atomic counter; the last worker to
finish signals the caller. One region at a time: a second caller that finds the pool
busy (another thread running a region at the same time) runs its chunks itself. After a
`fork` the child re-creates its workers (the pool remembers the pid that started them),
its mutex and condition variables (a parent's worker may have held the mutex), and takes
over a region claim its parent had in flight (`busy` holds the claiming process's pid).
"""

from __future__ import annotations

from llvmlite import ir

I8, I32, I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
I8P = ir.PointerType(I8)
RUN, STOP = "flowc_pool_run", "flowc_pool_stop"
CHUNK_TY = ir.FunctionType(ir.VoidType(), [I8P, I64])
RUN_TY = ir.FunctionType(ir.VoidType(), [ir.PointerType(CHUNK_TY), I8P, I64])
MUTEX_BYTES, COND_BYTES = 40, 48    # glibc x86-64 pthread_mutex_t / pthread_cond_t
#: rounds of `pause` (25-50 ns each: 50-100 us in all) that a worker waiting for the
#: next region, or a caller waiting for the workers, spins before it sleeps on the
#: condition variable. Long enough for the regions of one run (µs apart) and the next
#: Session.run; short, since a spinning thread takes the core another process needs:
#: 8000 rounds cost W3 14 ms and W4 94 ms of CPU per step against 12 and 74 ms with
#: 2000 (2 cores, a busy process beside, docs/architecture.md "Threads"). Waiting does not call
#: sched_yield: measured there, a yield every 64 rounds made W3's median step 5x slower
#: (the yielding thread lost the core for a whole time slice).
SPIN = 2000


def emit_pool(module: ir.Module, workers: int, internal: bool):
    """Define the pool with `workers` worker threads in `module`; returns the run
    function. `internal`: local to the module (an AOT `.so`); else external, so the JIT
    loader can find `flowc_pool_stop` by name."""
    def glob(name, ty, align=8):
        g = ir.GlobalVariable(module, ty, f"flowc_pool.{name}")
        g.linkage, g.initializer, g.align = "internal", ir.Constant(ty, None), align
        return g

    mutex = glob("mutex", ir.ArrayType(I8, MUTEX_BYTES))
    work = glob("work", ir.ArrayType(I8, COND_BYTES))
    done = glob("done", ir.ArrayType(I8, COND_BYTES))
    busy, pid, stop = glob("busy", I32), glob("pid", I32), glob("stop", I32)
    gen, nchunks, nxt = glob("gen", I64), glob("n", I64), glob("next", I64)
    pending, started = glob("pending", I64), glob("started", I64)
    fnp, ctxp = glob("fn", ir.PointerType(CHUNK_TY)), glob("ctx", I8P)
    tids = glob("tids", ir.ArrayType(I64, max(1, workers)))

    def libc(name, ret, args):
        fn = module.globals.get(name)
        return fn if fn is not None else ir.Function(module, ir.FunctionType(ret, args),
                                                     name)
    lock = libc("pthread_mutex_lock", I32, [I8P])
    unlock = libc("pthread_mutex_unlock", I32, [I8P])
    wait = libc("pthread_cond_wait", I32, [I8P, I8P])
    broadcast = libc("pthread_cond_broadcast", I32, [I8P])
    signal = libc("pthread_cond_signal", I32, [I8P])
    worker_ty = ir.FunctionType(I8P, [I8P])
    create = libc("pthread_create", I32, [ir.PointerType(I64), I8P,
                                          ir.PointerType(worker_ty), I8P])
    join = libc("pthread_join", I32, [I64, ir.PointerType(I8P)])
    getpid = libc("getpid", I32, [])
    memset = libc("memset", I8P, [I8P, I32, I64])

    def ptr(b, g):
        return b.bitcast(g, I8P)

    def run_chunks(b, fn, chunk_fn, ctx, n):
        """while (c = next++) < n: chunk(ctx, c)"""
        head = fn.append_basic_block("chunks")
        body = fn.append_basic_block("chunk")
        out = fn.append_basic_block("chunks_done")
        b.branch(head)
        b.position_at_end(head)
        c = b.atomic_rmw("add", nxt, ir.Constant(I64, 1), "seq_cst")
        b.cbranch(b.icmp_signed("<", c, n), body, out)
        b.position_at_end(body)
        b.call(chunk_fn, [ctx, c])
        b.branch(head)
        b.position_at_end(out)

    pause = module.globals.get("llvm.x86.sse2.pause") or ir.Function(
        module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")

    def spin(b, fn, until):
        """Busy-wait up to SPIN rounds for `until(b)` (an i1 built from atomic loads),
        before the caller takes the mutex and sleeps: a region that follows soon after
        the last one then costs no futex wake-up."""
        i = b.alloca(I64)
        b.store(ir.Constant(I64, 0), i)
        head, body, out = (fn.append_basic_block(x) for x in ("spin", "spin_body", "spun"))
        b.branch(head)
        b.position_at_end(head)
        iv = b.load(i)
        b.cbranch(b.or_(until(b), b.icmp_signed(">=", iv, ir.Constant(I64, SPIN))), out, body)
        b.position_at_end(body)
        b.call(pause, [])
        b.store(b.add(iv, ir.Constant(I64, 1)), i)
        b.branch(head)
        b.position_at_end(out)

    def atomic(b, g, bits=64):
        return b.load_atomic(g, "monotonic", bits // 8)

    # ---- worker(arg): sleep until a new generation, run chunks, report, repeat --------
    worker = ir.Function(module, worker_ty, "flowc_pool.worker")
    worker.linkage = "internal"
    b = ir.IRBuilder(worker.append_basic_block("entry"))
    seen = b.alloca(I64)
    # workers start only from a fresh pool, whose generation is 0 until the region that
    # starts them is published (reading `gen` here instead could miss that region)
    b.store(ir.Constant(I64, 0), seen)
    loop = worker.append_basic_block("loop")
    b.branch(loop)
    b.position_at_end(loop)
    spin(b, worker, lambda b: b.or_(
        b.icmp_signed("!=", atomic(b, gen), b.load(seen)),
        b.icmp_signed("!=", atomic(b, stop, 32), ir.Constant(I32, 0))))
    b.call(lock, [ptr(b, mutex)])
    check = worker.append_basic_block("check")
    sleep = worker.append_basic_block("sleep")
    go = worker.append_basic_block("go")
    quit_ = worker.append_basic_block("quit")
    b.branch(check)
    b.position_at_end(check)
    stopping = b.icmp_signed("!=", b.load(stop), ir.Constant(I32, 0))
    idle = b.icmp_signed("==", b.load(gen), b.load(seen))
    decide = worker.append_basic_block("decide")
    b.cbranch(stopping, quit_, decide)
    b.position_at_end(decide)
    b.cbranch(idle, sleep, go)
    b.position_at_end(sleep)
    b.call(wait, [ptr(b, work), ptr(b, mutex)])
    b.branch(check)
    b.position_at_end(quit_)
    b.call(unlock, [ptr(b, mutex)])
    b.ret(ir.Constant(I8P, None))
    b.position_at_end(go)
    b.store(b.load(gen), seen)
    chunk_fn, ctx, n = b.load(fnp), b.load(ctxp), b.load(nchunks)
    b.call(unlock, [ptr(b, mutex)])
    run_chunks(b, worker, chunk_fn, ctx, n)
    b.call(lock, [ptr(b, mutex)])
    left = b.sub(b.load(pending), ir.Constant(I64, 1))
    b.store_atomic(left, pending, "seq_cst", 8)
    with b.if_then(b.icmp_signed("==", left, ir.Constant(I64, 0))):
        b.call(signal, [ptr(b, done)])
    b.call(unlock, [ptr(b, mutex)])
    b.branch(loop)

    # ---- stop(): end and join the workers (this process's only) ------------------------
    stop_fn = ir.Function(module, ir.FunctionType(ir.VoidType(), []), STOP)
    if internal:
        stop_fn.linkage = "internal"
    b = ir.IRBuilder(stop_fn.append_basic_block("entry"))
    mine = b.icmp_signed("==", b.load(pid), b.call(getpid, []))
    have = b.icmp_signed(">", b.load(started), ir.Constant(I64, 0))
    with b.if_then(b.and_(mine, have)):
        b.call(lock, [ptr(b, mutex)])
        b.store_atomic(ir.Constant(I32, 1), stop, "seq_cst", 4)
        b.call(broadcast, [ptr(b, work)])
        b.call(unlock, [ptr(b, mutex)])
        for t in range(workers):
            with b.if_then(b.icmp_signed(">", b.load(started), ir.Constant(I64, t))):
                tid = b.load(b.gep(tids, [ir.Constant(I32, 0), ir.Constant(I32, t)]))
                b.call(join, [tid, ir.Constant(ir.PointerType(I8P), None)])
        b.store(ir.Constant(I64, 0), started)
        b.store(ir.Constant(I32, 0), stop)
    b.ret_void()
    _add_destructor(module, stop_fn)

    # ---- run(chunk, ctx, n) ----------------------------------------------------------
    run = ir.Function(module, RUN_TY, RUN)
    if internal:
        run.linkage = "internal"
    chunk_fn, ctx, n = run.args
    b = ir.IRBuilder(run.append_basic_block("entry"))
    claim, contended, steal = (run.append_basic_block(x) for x in
                               ("claim", "contended", "steal"))
    serial = run.append_basic_block("serial")
    pooled = run.append_basic_block("pooled")
    b.cbranch(b.icmp_signed(">", n, ir.Constant(I64, 1)), claim, serial)
    # `busy` holds the pid of the process whose thread runs a region (0: free), so a
    # forked child tells a region of its own from one its parent had in flight at the
    # fork (whose thread does not exist here) and takes the pool over
    b.position_at_end(claim)
    me = b.call(getpid, [])
    old = b.cmpxchg(busy, ir.Constant(I32, 0), me, "acquire", "monotonic")
    b.cbranch(b.extract_value(old, 1), pooled, contended)
    b.position_at_end(contended)
    holder = b.extract_value(old, 0)
    b.cbranch(b.icmp_signed("!=", holder, me), steal, serial)
    b.position_at_end(steal)  # one thread of the child wins the stale claim
    stolen = b.cmpxchg(busy, holder, me, "acquire", "monotonic")
    b.cbranch(b.extract_value(stolen, 1), pooled, serial)

    b.position_at_end(serial)  # busy here (or one chunk): the caller runs them all
    i = b.alloca(I64)
    b.store(ir.Constant(I64, 0), i)
    head, body, end = (run.append_basic_block(x) for x in ("s_head", "s_body", "s_end"))
    b.branch(head)
    b.position_at_end(head)
    iv = b.load(i)
    b.cbranch(b.icmp_signed("<", iv, n), body, end)
    b.position_at_end(body)
    b.call(chunk_fn, [ctx, iv])
    b.store(b.add(iv, ir.Constant(I64, 1)), i)
    b.branch(head)
    b.position_at_end(end)
    b.ret_void()

    b.position_at_end(pooled)
    fresh = b.or_(b.icmp_signed("==", b.load(started), ir.Constant(I64, 0)),
                  b.icmp_signed("!=", b.load(pid), me))
    with b.if_then(fresh):  # first region of this process (or of a forked child)
        for g, size in ((mutex, MUTEX_BYTES), (work, COND_BYTES), (done, COND_BYTES)):
            b.call(memset, [ptr(b, g), ir.Constant(I32, 0), ir.Constant(I64, size)])
        b.store(ir.Constant(I64, 0), started)
        b.store(ir.Constant(I64, 0), gen)
        b.store(ir.Constant(I32, 0), stop)
        b.store(me, pid)
        for t in range(workers):
            slot = b.gep(tids, [ir.Constant(I32, 0), ir.Constant(I32, t)])
            rc = b.call(create, [slot, ir.Constant(I8P, None), worker, ir.Constant(I8P, None)])
            with b.if_then(b.icmp_signed("==", rc, ir.Constant(I32, 0))):
                # slots fill in order; a failed start leaves fewer workers
                b.store(b.add(b.load(started), ir.Constant(I64, 1)), started)
    b.call(lock, [ptr(b, mutex)])
    b.store(chunk_fn, fnp)
    b.store(ctx, ctxp)
    b.store(n, nchunks)
    b.store(ir.Constant(I64, 0), nxt)
    b.store_atomic(b.load(started), pending, "seq_cst", 8)
    b.store_atomic(b.add(b.load(gen), ir.Constant(I64, 1)), gen, "seq_cst", 8)
    b.call(broadcast, [ptr(b, work)])
    b.call(unlock, [ptr(b, mutex)])
    run_chunks(b, run, chunk_fn, ctx, n)
    spin(b, run, lambda b: b.icmp_signed("==", atomic(b, pending), ir.Constant(I64, 0)))
    b.call(lock, [ptr(b, mutex)])
    w_head = run.append_basic_block("w_head")
    w_body = run.append_basic_block("w_body")
    w_end = run.append_basic_block("w_end")
    b.branch(w_head)
    b.position_at_end(w_head)
    b.cbranch(b.icmp_signed(">", b.load(pending), ir.Constant(I64, 0)), w_body, w_end)
    b.position_at_end(w_body)
    b.call(wait, [ptr(b, done), ptr(b, mutex)])
    b.branch(w_head)
    b.position_at_end(w_end)
    b.call(unlock, [ptr(b, mutex)])
    b.store_atomic(ir.Constant(I32, 0), busy, "release", 4)
    b.ret_void()
    return run


def _add_destructor(module, fn):
    entry_ty = ir.LiteralStructType([I32, ir.PointerType(fn.function_type), I8P])
    arr_ty = ir.ArrayType(entry_ty, 1)
    dtors = ir.GlobalVariable(module, arr_ty, "llvm.global_dtors")
    dtors.linkage = "appending"
    dtors.initializer = ir.Constant(arr_ty, [ir.Constant(entry_ty, [
        ir.Constant(I32, 65535), fn, ir.Constant(I8P, None)])])
