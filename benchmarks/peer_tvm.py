"""The `tvm` system of bench.py: a workload written once as a Relax function (TVM's
graph-level IR, built with `relax.BlockBuilder` and `relax.op`), compiled by the
apache-tvm package for this CPU and run by `relax.VirtualMachine`.

How it is compiled (`compile_relax`): Relax's "zero" pipeline (legalize every op to TIR,
fuse), then dlight's default CPU schedule rules (`dl.cpu.GEMV`, `dl.cpu.Reduction`:
they parallelize and vectorize the reductions they recognize; every other TIR function,
matmul and the elementwise chains included, keeps its unscheduled loop nest: one thread,
vectorized only where LLVM's loop vectorizer manages), then `tvm.compile` for the target
`{"kind": "llvm", "mcpu": <this CPU as LLVM names it>, "num-cores": <threads>}`. No
meta-schedule tuning: the line is TVM out of the box, untuned, and its note says so
(meta-schedule's search also needs psutil, which the bench extra does not install, so a
tuned line was not tried). Checked in the scheduled TIR: W5's softmax gets a parallel,
vectorized loop; W1's chain and every matmul (a plain i, j, k nest) get none.
`compile_s` is that whole compile (pipeline, schedule rules, `tvm.compile`, VM creation).

Threads: TVM's pool reads `TVM_NUM_THREADS` when it starts; when that is unset this module
sets it to flowc's default thread count (`CompileOptions().threads`) before importing tvm,
and the note prints the count TVM reports (`tvm.runtime.num_threads()`).

Each record (`one_input_record` for W1 and W5, `matmul_record`, `mlp_step_record` for W3,
`lstm_record` for W4) is checked against the workload's numpy reference before it is
timed (`_timed`: a first call over a second is the warm-up and three calls are timed);
with tvm missing it is `skipped("tvm not installed")`. The Relax programs compute the
workloads' math operation for operation (W3's forward, hand-written backward and SGD
update mirror `workload_w3.numpy_step`, W4's `workload_w4.numpy_lstm`), so a wrong
program fails its check.
"""

from __future__ import annotations

import os
import time

from benchlib import measure, note, result, skipped

SYSTEM = "tvm"
_STATE = {}


def _load():
    """`(tvm, relax, dlight, target)`, or None when apache-tvm is not importable. Sets
    TVM_NUM_THREADS (when unset) before the first import."""
    if "mods" in _STATE:
        return _STATE["mods"]
    if "TVM_NUM_THREADS" not in os.environ:
        from compiler.options import default_threads
        os.environ["TVM_NUM_THREADS"] = str(default_threads())
    try:
        import tvm
        from tvm import relax
        from tvm.s_tir import dlight
    except Exception as e:  # noqa: BLE001  (a broken peer install is just "not available")
        note(f"tvm not available: {type(e).__name__}: {e}")
        _STATE["mods"] = None
        return None
    target = tvm.target.Target({"kind": "llvm", "mcpu": host_cpu_name(),
                                "num-cores": int(os.environ["TVM_NUM_THREADS"])})
    _STATE["mods"] = (tvm, relax, dlight, target)
    return _STATE["mods"]


def host_cpu_name() -> str:
    """This CPU as LLVM names it (llvmlite's `get_host_cpu_name`, the name flowc's JIT
    targets too), so TVM's code uses the host's vector width."""
    import llvmlite.binding as llvm
    return llvm.get_host_cpu_name()


def available() -> bool:
    return _load() is not None


def describe() -> str:
    """The note's common part: version, target, tuning, threads."""
    tvm, _, _, target = _load()
    cores = target.attrs["num-cores"]
    return (f"apache-tvm {tvm.__version__} Relax VM, target llvm -mcpu="
            f"{target.attrs['mcpu']} num-cores={cores} (no BLAS: TVM's generated loops), "
            "untuned (zero pipeline + dlight CPU GEMV/Reduction rules, no meta-schedule), "
            f"{tvm.runtime.num_threads()} threads (TVM_NUM_THREADS="
            f"{os.environ.get('TVM_NUM_THREADS')})")


def compile_relax(build):
    """Build the Relax module `build(bb, relax)` fills (a `main` function), compile it as
    the module docstring says; returns `(vm main function, compile_s)`."""
    tvm, relax, dl, target = _load()
    t0 = time.perf_counter()
    bb = relax.BlockBuilder()
    build(bb, relax)
    mod = relax.get_pipeline("zero")(bb.get())
    with target:
        mod = dl.ApplyDefaultSchedule(dl.cpu.GEMV(), dl.cpu.Reduction())(mod)
    exe = tvm.compile(mod, target=target)
    vm = relax.VirtualMachine(exe, tvm.cpu())
    main = vm["main"]
    return main, time.perf_counter() - t0


def _timed(call, check, timing):
    """Call `call()` once and check its result (`check(result)`, the record's check),
    then time further calls with `timing` (benchlib.measure's arguments). When that first
    call took over a second (the untuned matmuls of MM, W3 and W4; W1 on a loaded
    machine), it served as the warm-up and three calls are timed, so a run stays minutes,
    not tens of minutes. Returns (check, times in ms, what the note adds)."""
    t0 = time.perf_counter()
    first = call()
    slow = time.perf_counter() - t0 > 1.0
    chk = check(first)
    if slow:
        timing = dict(timing, warmup=0, min_repeats=3, max_repeats=3, min_time_s=0.0)
    return chk, measure(call, **timing), "; 3 timed calls (each over 1 s)" if slow else ""


def _tensor_var(relax, name, shape):
    return relax.Var(name, relax.TensorType(tuple(int(d) for d in shape), "float32"))


def _f32(relax, v):
    return relax.const(float(v), "float32")


def one_input_record(workload, expr, x, check, timing, what):
    """The `tvm` line of a one-input workload: `expr(relax, xvar)` is the Relax
    expression of the result; `check(got)` compares with the reference."""
    if not available():
        return skipped(workload, SYSTEM, "tvm not installed")
    tvm = _load()[0]

    def build(bb, relax):
        xv = _tensor_var(relax, "x", x.shape)
        with bb.function("main", [xv]):
            with bb.dataflow():
                out = bb.emit_output(expr(relax, xv))
            bb.emit_func_output(out)

    main, compile_s = compile_relax(build)
    xt = tvm.runtime.tensor(x)
    chk, times, how = _timed(lambda: main(xt), lambda out: check(out.numpy()), timing)
    return result(workload, SYSTEM, times, chk, compile_s=compile_s,
                  note=f"{what}; {describe()}{how}")


def w1_expr(relax, x):
    """W1's chain `tanh(x*1.5+0.3)*sigmoid(x) - 0.5*x*x` in Relax ops."""
    op = relax.op
    t = op.tanh(op.add(op.multiply(x, _f32(relax, 1.5)), _f32(relax, 0.3)))
    h = op.multiply(op.multiply(_f32(relax, 0.5), x), x)
    return op.subtract(op.multiply(t, op.sigmoid(x)), h)


def w5_expr(relax, x):
    """W5's row softmax: `relax.op.nn.softmax(x, axis=-1)`."""
    return relax.op.nn.softmax(x, axis=-1)


def matmul_record(workload, a, b, check, timing):
    """The `tvm` line of MM: `relax.op.matmul(a, b)` on two inputs."""
    if not available():
        return skipped(workload, SYSTEM, "tvm not installed")
    tvm = _load()[0]

    def build(bb, relax):
        av, bv = _tensor_var(relax, "a", a.shape), _tensor_var(relax, "b", b.shape)
        with bb.function("main", [av, bv]):
            with bb.dataflow():
                out = bb.emit_output(relax.op.matmul(av, bv))
            bb.emit_func_output(out)

    main, compile_s = compile_relax(build)
    at, bt = tvm.runtime.tensor(a), tvm.runtime.tensor(b)
    chk, times, how = _timed(lambda: main(at, bt), lambda out: check(out.numpy()), timing)
    return result(workload, SYSTEM, times, chk, compile_s=compile_s,
                  note=f"relax.op.matmul(a, b); {describe()}{how}")


def _mlp_step(bb, relax, xv, yv, wvs, bvs, lr, batch):
    """Emit W3's SGD step (workload_w3.numpy_step, op for op); returns the output tuple
    (new weights..., new biases..., loss)."""
    op = relax.op
    hs, h = [xv], xv
    for i, (w, b) in enumerate(zip(wvs, bvs)):
        h = bb.emit(op.add(op.matmul(h, w), b))
        if i < len(wvs) - 1:
            h = bb.emit(op.maximum(h, _f32(relax, 0.0)))
        hs.append(h)
    logits = hs[-1]
    z = bb.emit(op.subtract(logits, op.max(logits, axis=1, keepdims=True)))
    e = bb.emit(op.exp(z))
    s = bb.emit(op.sum(e, axis=1, keepdims=True))
    per_row = op.subtract(op.squeeze(op.log(s), axis=[1]),
                          op.sum(op.multiply(z, yv), axis=1))
    loss = bb.emit(op.mean(per_row))
    g = bb.emit(op.divide(op.subtract(op.divide(e, s), yv), _f32(relax, batch)))
    new_w, new_b = [None] * len(wvs), [None] * len(bvs)
    for i in reversed(range(len(wvs))):
        gw = bb.emit(op.matmul(op.permute_dims(hs[i], [1, 0]), g))
        gb = bb.emit(op.sum(g, axis=0))
        if i > 0:
            mask = op.astype(op.greater(hs[i], _f32(relax, 0.0)), "float32")
            g = bb.emit(op.multiply(op.matmul(g, op.permute_dims(wvs[i], [1, 0])), mask))
        new_w[i] = bb.emit_output(op.subtract(wvs[i], op.multiply(_f32(relax, lr), gw)))
        new_b[i] = bb.emit_output(op.subtract(bvs[i], op.multiply(_f32(relax, lr), gb)))
    return relax.Tuple(new_w + new_b + [bb.emit_output(loss)])


def mlp_step_record(workload, ws0, bs0, x, y, lr, check, timing):
    """The `tvm` line of W3: one Relax function takes (x, y, weights..., biases...) and
    returns (new weights..., new biases..., loss); `check(ws, bs, loss)` after the first
    step, then timed steps that feed each step's new parameters to the next (as
    training does)."""
    if not available():
        return skipped(workload, SYSTEM, "tvm not installed")
    tvm = _load()[0]
    nl = len(ws0)

    def build(bb, relax):
        xv, yv = _tensor_var(relax, "x", x.shape), _tensor_var(relax, "y", y.shape)
        wvs = [_tensor_var(relax, f"w{i}", w.shape) for i, w in enumerate(ws0)]
        bvs = [_tensor_var(relax, f"b{i}", b.shape) for i, b in enumerate(bs0)]
        with bb.function("main", [xv, yv] + wvs + bvs):
            with bb.dataflow():
                out = _mlp_step(bb, relax, xv, yv, wvs, bvs, lr, x.shape[0])
            bb.emit_func_output(out)

    main, compile_s = compile_relax(build)
    xt, yt = tvm.runtime.tensor(x), tvm.runtime.tensor(y)
    state = [[tvm.runtime.tensor(p) for p in list(ws0) + list(bs0)]]

    def step():
        out = main(xt, yt, *state[0])
        state[0] = list(out)[:2 * nl]
        return out

    def check_step(out):
        return check([out[i].numpy() for i in range(nl)],
                     [out[nl + i].numpy() for i in range(nl)], float(out[2 * nl].numpy()))

    chk, times, how = _timed(step, check_step, timing)
    return result(workload, SYSTEM, times, chk, compile_s=compile_s,
                  note="one Relax function: forward, hand-written backward and SGD update "
                       f"(workload_w3.numpy_step op for op); {describe()}{how}")


def _lstm_fwd_bwd(bb, relax, xvs, kv, bv, shapes):
    """Emit W4's loss and gradients (workload_w4.numpy_lstm, op for op); `shapes` is
    (batch, depth, hidden). Returns the tuple (loss, d kernel, d bias)."""
    op = relax.op
    batch, depth, n = shapes
    one = _f32(relax, 1.0)

    def cols(t, i):
        return op.strided_slice(t, axes=[1], begin=[i * n], end=[(i + 1) * n])

    h = bb.emit(op.zeros((batch, n), "float32"))
    c = bb.emit(op.zeros((batch, n), "float32"))
    tape = []
    for x in xvs:
        xh = bb.emit(op.concat([x, h], axis=1))
        g = bb.emit(op.add(op.matmul(xh, kv), bv))
        si, tj = bb.emit(op.sigmoid(cols(g, 0))), bb.emit(op.tanh(cols(g, 1)))
        sf, so = bb.emit(op.sigmoid(op.add(cols(g, 2), one))), bb.emit(op.sigmoid(cols(g, 3)))
        c_new = bb.emit(op.add(op.multiply(c, sf), op.multiply(si, tj)))
        tc = bb.emit(op.tanh(c_new))
        tape.append((xh, c, si, tj, sf, so, tc))
        c, h = c_new, bb.emit(op.multiply(tc, so))
    loss = bb.emit(op.sum(h))
    dk = bb.emit(op.zeros((depth + n, 4 * n), "float32"))
    db = bb.emit(op.zeros((4 * n,), "float32"))
    dh = bb.emit(op.ones((batch, n), "float32"))
    dc = bb.emit(op.zeros((batch, n), "float32"))
    kt = bb.emit(op.permute_dims(kv, [1, 0]))
    for xh, c_prev, si, tj, sf, so, tc in reversed(tape):
        dc = bb.emit(op.add(dc, op.multiply(op.multiply(dh, so),
                                            op.subtract(one, op.multiply(tc, tc)))))
        dsi = op.multiply(op.multiply(op.multiply(dc, tj), si), op.subtract(one, si))
        dtj = op.multiply(op.multiply(dc, si), op.subtract(one, op.multiply(tj, tj)))
        dsf = op.multiply(op.multiply(op.multiply(dc, c_prev), sf), op.subtract(one, sf))
        dso = op.multiply(op.multiply(op.multiply(dh, tc), so), op.subtract(one, so))
        dg = bb.emit(op.concat([dsi, dtj, dsf, dso], axis=1))
        dk = bb.emit(op.add(dk, op.matmul(op.permute_dims(xh, [1, 0]), dg)))
        db = bb.emit(op.add(db, op.sum(dg, axis=0)))
        dh = bb.emit(op.strided_slice(op.matmul(dg, kt), axes=[1], begin=[depth],
                                      end=[depth + n]))
        dc = bb.emit(op.multiply(dc, sf))
    return relax.Tuple([bb.emit_output(loss), bb.emit_output(dk), bb.emit_output(db)])


def lstm_record(workload, xs, kernel, bias, hidden, check, timing):
    """The `tvm` line of W4: one Relax function takes the sequence's inputs, the kernel
    and the bias and returns (loss, d kernel, d bias) of a BasicLSTMCell run over the
    sequence, forward and backward through time unrolled as in numpy_lstm;
    `check((loss, dk, db))` before timing."""
    if not available():
        return skipped(workload, SYSTEM, "tvm not installed")
    tvm = _load()[0]

    def build(bb, relax):
        xvs = [_tensor_var(relax, f"x{t}", x.shape) for t, x in enumerate(xs)]
        kv, bv = _tensor_var(relax, "kernel", kernel.shape), _tensor_var(relax, "bias",
                                                                          bias.shape)
        with bb.function("main", xvs + [kv, bv]):
            with bb.dataflow():
                out = _lstm_fwd_bwd(bb, relax, xvs, kv, bv, xs[0].shape + (hidden,))
            bb.emit_func_output(out)

    main, compile_s = compile_relax(build)
    args = [tvm.runtime.tensor(a) for a in list(xs) + [kernel, bias]]
    chk, times, how = _timed(
        lambda: main(*args),
        lambda out: check((float(out[0].numpy()), out[1].numpy(), out[2].numpy())), timing)
    return result(workload, SYSTEM, times, chk, compile_s=compile_s,
                  note=f"one Relax function: the LSTM over {len(xs)} unrolled steps, "
                       "forward and hand-written backward through time "
                       f"(workload_w4.numpy_lstm op for op); {describe()}{how}")
