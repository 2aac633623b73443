"""Accuracy and speed of flowc's vector math: `python benchmarks/ulp.py [options]`.

For each function (exp, expm1, log, log1p, tanh, sigmoid) it compiles a loop
`out[i] = f(x[i])` over float32 buffers with `compiler.backends.llvm.vecmath`, optimizes
it with `target.optimize` (O3, vectorizers on, host CPU) and JIT-compiles it with
`runtime.llvm_jit.JitLibrary`, then runs it over every float32 bit pattern (2^32
inputs, in chunks, one process per core; `--stride S` takes every S-th pattern) and
reports:
- `ulp_exact`: the largest error in ULPs (of float32 at the exact value; denormal
  spacing below 2^-126) against numpy's float64 result, which stands in for the exact
  value (it is within about 2^-29 float32 ULP of it);
- `ulp_np`: the largest distance in representable float32 steps from numpy's float32
  result (for sigmoid the op table's formula `1 / (1 + exp(-x))`, left out where its
  exp(-x) overflows and it returns 0 instead of the denormal result: `np_overflow`);
- `special`: inputs where NaN-ness, an infinity or the sign of a zero differs from the
  exact result rounded to float32 (`special_np`: from numpy's float32 result);
- the worst input of each (`*_at`).
`--dtype float64` measures float64 on `--samples` random inputs instead (against x87
long double). With `--time` (or `--time-only`) it also times one pass over 2^24 inputs
(one thread, output buffer preallocated) of the compiled loop, of the same loop calling
libm (scalar calls, which do not vectorize) and of numpy (`out=`; sigmoid: the op
table's formula). Prints one JSON line per function. Never changes the environment.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from llvmlite import ir  # noqa: E402  (after the path setup above)

from compiler.backends.llvm import target, vecmath  # noqa: E402
from runtime.llvm_jit import JitLibrary  # noqa: E402

FUNCTIONS = vecmath.FUNCTIONS
CHUNK = 1 << 24


@dataclass(frozen=True)
class Format:
    """A float format under test and the wider one that stands in for exact results."""
    np: type
    wide: type
    mant_bits: int
    min_exp: int  # exponent of the smallest normal number
    libm_suffix: str

    @property
    def ir(self):
        return ir.FloatType() if self.np is np.float32 else ir.DoubleType()


FORMATS = {"float32": Format(np.float32, np.float64, 23, -126, "f"),
           "float64": Format(np.float64, np.longdouble, 52, -1022, "")}


# ---- the compiled loop -----------------------------------------------------------------
def loop_module(name: str, fmt: Format, libm: bool = False) -> ir.Module:
    """`void kernel(T *x, T *y, i64 n)`: y[i] = name(x[i]) (libm's when asked)."""
    ty, i64 = fmt.ir, ir.IntType(64)
    module = ir.Module(name=f"ulp_{name}")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ty.as_pointer()] * 2 + [i64]),
                     name="kernel")
    x, y, n = fn.args
    x.add_attribute("noalias")
    y.add_attribute("noalias")
    entry, body, done = (fn.append_basic_block(s) for s in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), body, done)
    b.position_at_end(body)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    v = b.load(b.gep(x, [i]))
    out = _libm_call(b, name, v, fmt) if libm else vecmath.call(b, name, v)
    b.store(out, b.gep(y, [i]))
    nxt = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    ir.IRBuilder(done).ret_void()
    return module


def _libm_call(b, name, v, fmt):
    if name == "sigmoid":  # the op's definition with libm's exp
        e = _libm_call(b, "exp", b.fneg(v), fmt)
        one = ir.Constant(v.type, 1.0)
        return b.fdiv(one, b.fadd(one, e))
    fname = name + fmt.libm_suffix
    decl = b.module.globals.get(fname) or ir.Function(
        b.module, ir.FunctionType(v.type, [v.type]), name=fname)
    return b.call(decl, [v])


class Kernel:
    """A JIT-compiled loop; `kernel(x)` returns a new array."""

    def __init__(self, name: str, dtype: str = "float32", libm: bool = False):
        self.fmt = FORMATS[dtype]
        self.optimized = target.optimize(str(loop_module(name, self.fmt, libm)))
        self.lib = JitLibrary([target.target_machine().emit_object(self.optimized)],
                              target.target_machine())
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
        self.fn = proto(self.lib.address("kernel"))

    def __call__(self, x, out=None):
        x = np.ascontiguousarray(x, dtype=self.fmt.np)
        out = np.empty_like(x) if out is None else out
        self.fn(x.ctypes.data, out.ctypes.data, x.size)
        return out


# ---- references and error measures ---------------------------------------------------
def reference_exact(name, x, fmt):
    """The result in the wider format (float64 for float32, x87 long double for float64)."""
    with np.errstate(all="ignore"):
        x = x.astype(fmt.wide)
        if name == "sigmoid":
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return getattr(np, name)(x)


def reference_numpy(name, x):
    """numpy's result in x's format (sigmoid: the op table's reference formula)."""
    one = x.dtype.type(1)
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            return (one / (one + np.exp(-x))).astype(x.dtype)
        return getattr(np, name)(x)


def ulp_error(got, exact, fmt):
    """|got - exact| in ULPs of fmt at `exact` (wide; both finite); denormal spacing
    below the smallest normal."""
    _, e = np.frexp(exact)
    spacing = np.ldexp(fmt.wide(1), np.maximum(e - 1, fmt.min_exp) - fmt.mant_bits)
    return np.abs(got.astype(fmt.wide) - exact) / spacing


def ulp_distance(a, b):
    """How many representable values apart a and b are (same format; +0 and -0 are one
    value apart), as float64."""
    ints = np.uint32 if a.dtype == np.float32 else np.uint64
    ia, ib = a.view(ints), b.view(ints)
    sign = ints(1) << ints(8 * a.itemsize - 1)
    ma, mb = ia & ~sign, ib & ~sign
    same = (ia & sign) == (ib & sign)
    dist = np.where(same, np.maximum(ma, mb) - np.minimum(ma, mb), ma + mb + ints(1))
    return dist.astype(np.float64)


def special_mismatch(got, want):
    """Mask: NaN-ness, an infinity or the sign of a zero differs."""
    nan = np.isnan(got) != np.isnan(want)
    inf = (np.isinf(got) | np.isinf(want)) & (got != want) & ~np.isnan(got) & ~np.isnan(want)
    zero = (got == 0) & (want == 0) & (np.signbit(got) != np.signbit(want))
    return nan | inf | zero


# ---- one task (runs in a worker process) ---------------------------------------------
_KERNELS = {}
SUB = 1 << 18  # inputs per step of a task: small arrays stay in the allocator's heap


def _keep_heap():
    """Worker setup: keep freed memory in the heap (glibc's default returns each big
    array to the kernel, and page faults then cost three times the arithmetic)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _task_stats(args):
    """Stats of one task: ("bits", start, count, stride) takes the float32 bit patterns
    start, start + stride, ...; ("random", seed, count) draws float64 inputs."""
    name, dtype, spec = args
    if (name, dtype) not in _KERNELS:
        _KERNELS[name, dtype] = Kernel(name, dtype)
    kernel = _KERNELS[name, dtype]
    parts = []
    with np.errstate(all="ignore"):
        for s in range(0, spec[2], SUB):
            m = min(SUB, spec[2] - s)
            if spec[0] == "bits":
                u = np.arange(s, s + m, dtype=np.uint64) * spec[3] + spec[1]
                x = u.astype(np.uint32).view(np.float32)
            else:
                x = random_inputs(name, np.random.default_rng([spec[1], s]), m)
            parts.append(_stats(name, kernel, x))
    return _merge(parts)


def random_inputs(name, rng, m):
    """float64 inputs: a third random bit patterns, a third uniform over the range where
    the function is neither constant nor overflowing, a third log-uniform magnitudes."""
    lo, hi = {"exp": (-746, 710), "expm1": (-40, 710), "log": (0, 1e6), "log1p": (-1, 1e6),
              "tanh": (-22, 22), "sigmoid": (-746, 746)}[name]
    k = m // 3
    bits = rng.integers(0, 1 << 64, k, dtype=np.uint64, endpoint=False).view(np.float64)
    uniform = rng.uniform(lo, hi, k)
    mag = np.exp2(rng.uniform(-70, 10, m - 2 * k)) * rng.choice([-1.0, 1.0], m - 2 * k)
    if name in ("log", "log1p"):
        mag = np.abs(mag) - (1.0 if name == "log1p" else 0.0) * (rng.random(m - 2 * k) < 0.5)
    return np.concatenate([bits, uniform, mag])


def _stats(name, kernel, x):
    fmt = kernel.fmt
    got = kernel(x)
    exact = reference_exact(name, x, fmt)
    want = exact.astype(fmt.np)
    want_np = reference_numpy(name, x)
    out = {"n": int(x.size)}
    ok = np.isfinite(got) & np.isfinite(want)
    err = np.where(ok, ulp_error(got, np.where(ok, exact, 0), fmt), 0)
    out["ulp_exact"] = _worst(err, x, got, exact)
    ok_np = np.isfinite(got) & np.isfinite(want_np)
    if name == "sigmoid":  # where exp(-x) overflows, the formula gives 0, not sigmoid
        overflow = np.isinf(np.exp(-x))
        ok_np &= ~overflow
        out["np_overflow"] = int(overflow.sum())
    dist = np.where(ok_np, ulp_distance(got, want_np), 0)
    out["ulp_np"] = _worst(dist, x, got, want_np)
    out["special"] = int(special_mismatch(got, want).sum())
    out["special_np"] = int(special_mismatch(got, want_np).sum())
    return out


def _worst(err, x, got, want):
    k = int(np.argmax(err))
    return [float(err[k]), float(x[k]), float(got[k]), float(want[k])]


def _merge(parts):
    out = {"n": sum(p["n"] for p in parts)}
    for key in ("ulp_exact", "ulp_np"):
        out[key] = max((p[key] for p in parts), key=lambda w: w[0])
    for key in ("special", "special_np", "np_overflow"):
        out[key] = sum(p.get(key, 0) for p in parts)
    return out


def measure(name, dtype="float32", stride=1, samples=1 << 24, jobs=None):
    """Exhaustive (float32, every stride-th pattern) or sampled (float64) statistics."""
    if dtype == "float32":
        total = (1 << 32) // stride
        tasks = [(name, dtype, ("bits", s * stride, min(CHUNK, total - s), stride))
                 for s in range(0, total, CHUNK)]
        rec = {"function": name, "dtype": dtype, "stride": stride}
    else:
        chunk = min(CHUNK, samples)
        tasks = [(name, dtype, ("random", s, min(chunk, samples - s)))
                 for s in range(0, samples, chunk)]
        rec = {"function": name, "dtype": dtype, "sampled": True}
    with ProcessPoolExecutor(jobs or os.cpu_count(), initializer=_keep_heap) as pool:
        merged = _merge(list(pool.map(_task_stats, tasks)))
    rec["inputs"] = merged["n"]
    for key in ("ulp_exact", "ulp_np"):
        worst = merged[key]
        rec[key] = round(worst[0], 3)
        rec[key + "_at"] = {"x": worst[1], "got": worst[2], "want": worst[3]}
    for key in ("special", "special_np", "np_overflow"):
        rec[key] = merged[key]
    return rec


# ---- timing ----------------------------------------------------------------------------
def _median_ms(fn, repeats=15):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return round(statistics.median(times), 3)


def timing(name, dtype="float32", n=CHUNK):
    """Median ms of one pass over n inputs: this loop, the loop with libm calls, numpy."""
    x = np.random.default_rng(0).normal(0.0, 4.0, n).astype(dtype)
    if name in ("log", "log1p"):
        x = np.abs(x)
    out = np.empty_like(x)
    vec, scalar = Kernel(name, dtype), Kernel(name, dtype, libm=True)
    if name == "sigmoid":  # no numpy ufunc: the reference formula, with its temporaries
        numpy_fn = lambda: reference_numpy(name, x)  # noqa: E731
    else:
        numpy_fn = lambda: getattr(np, name)(x, out=out)  # noqa: E731
    return {"vecmath_ms": _median_ms(lambda: vec(x, out)),
            "libm_loop_ms": _median_ms(lambda: scalar(x, out)),
            "numpy_ms": _median_ms(numpy_fn), "n": n}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--functions", default=",".join(FUNCTIONS),
                   help="comma-separated subset of " + ",".join(FUNCTIONS))
    p.add_argument("--stride", type=int, default=1,
                   help="test every STRIDE-th bit pattern (1: all 2^32)")
    p.add_argument("--dtype", choices=sorted(FORMATS), default="float32",
                   help="float32: exhaustive; float64: sampled (see --samples)")
    p.add_argument("--samples", type=int, default=1 << 24, help="float64 inputs to draw")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--time", action="store_true", help="also time against numpy and libm")
    p.add_argument("--time-only", action="store_true", help="only the timings")
    args = p.parse_args(argv)
    for name in args.functions.split(","):
        t0 = time.perf_counter()
        rec = {"function": name, "dtype": args.dtype}
        if not args.time_only:
            rec = measure(name, args.dtype, args.stride, args.samples, args.jobs)
            rec["seconds"] = round(time.perf_counter() - t0, 1)
        if args.time or args.time_only:
            rec.update(timing(name, args.dtype))
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
