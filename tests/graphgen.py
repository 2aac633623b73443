"""Random graphs for the differential fuzz test: one home for the generator that
tests/test_fuzz.py (a fixed seed, in the default suite) and benchmarks/fuzz.py
(`--minutes N`, long runs) share.

`random_case(rng)` builds a small user graph over float32 or float64 placeholders with a
symbolic batch dim: every elementwise op of the op table (drawn from `OPS`, so a new op
is fuzzed the day it is added), casts through int32/bool, broadcasting constants full of
special values, movement (numpy-style slices with clamped symbolic bounds, reverse,
transpose, concat, pad, reshape) and, in the "reduce" mode, a final reduction or matmul.
`run_case(case, rng)` compiles it once (the default pass pipeline, then LLVM) and runs it
with the batch dim fed 0, 1, an odd size and a large one, against the interpreter on the
unoptimized program, with inputs full of ±0, NaN, ±inf, subnormals and huge values.

Comparison: "exact" graphs (elementwise and movement ops, no libm/vecmath function)
must give the interpreter's bits (NaN-ness only for NaNs); "approx" graphs end in one
vecmath/libm function (exact sign and class, values within tests/oracle.py's TOL);
"reduce" graphs end in a sum, mean or matmul, whose reassociation is allowed: the error
bound is a few ULP of the sum of magnitudes (fetched alongside from the interpreter);
a final max or min is exact (IEEE 754-2019: the sign of a zero result too).
Errors must agree too (both raise the same type or neither).
"""

from __future__ import annotations

import numpy as np

import compiler as fc
from compiler.interpret import interpret
from compiler.ir import dtypes as T
from compiler.ops import OPS
from compiler.pipeline import build_program, optimize, to_program

#: libm / vecmath functions: a few ULP from numpy, not bit for bit
APPROX = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid", "sin", "cos", "pow", "erf",
          "atan")
_BOOL_OPS = ("logical_not", "logical_and", "logical_or")
_INT_OPS = ("invert", "bitwise_and", "bitwise_or", "bitwise_xor")  # the graphs are float
_SKIP = set(APPROX) | set(_BOOL_OPS) | set(_INT_OPS) | {"select", "cast", "stop_gradient",
                                                          "bitcast"}
EXACT_UNARY = sorted(n for n, d in OPS.items()
                     if d.fusion == "elementwise" and d.arity == 1 and n not in _SKIP)
EXACT_BINARY = sorted(n for n, d in OPS.items()
                      if d.fusion == "elementwise" and d.arity == 2 and n not in _SKIP)
COMPARE = ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal")
REDUCE = ("reduce_sum", "reduce_max", "reduce_min", "reduce_mean", "matmul")
SIZES = (0, 1, 2, 5, 17, 257)
OPTIONS = fc.CompileOptions(threads=1)


def special_values(dtype):
    f = np.finfo(dtype)
    return np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, f.tiny, -f.tiny,
                     f.tiny / 8, -f.tiny / 8, f.max, -f.max, 0.5, -2.5, 3.0, 1e-3, 88.5,
                     -103.0, 710.0], dtype)


def random_data(rng, dtype, shape, special=0.3):
    data = (rng.standard_normal(shape) * rng.choice([1.0, 3.0, 100.0])).astype(dtype)
    mask = rng.random(shape) < special
    data[mask] = rng.choice(special_values(dtype), size=int(mask.sum()))
    return data


class Case:
    """One random graph: `feeds` (placeholders), `outputs`, the comparison `mode`,
    and for "reduce" mode `scales` (one tensor per output: the magnitudes it sums)."""

    def __init__(self, graph, feeds, outputs, mode, dtype, scales=(), text=""):
        self.graph, self.feeds, self.outputs, self.mode = graph, feeds, outputs, mode
        self.dtype, self.scales, self.text = dtype, list(scales), text


class _Builder:
    def __init__(self, rng, dtype):
        self.rng, self.dtype, self.fdtype = rng, dtype, T.as_dtype(dtype)
        self.log = []
        self.x = fc.placeholder(dtype, [None, 3], name="x")
        self.y = fc.placeholder(dtype, [None, 3], name="y")
        self.pool = [self.x, self.y]

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def pick(self, like=None):
        if like is None:
            return self.choice(self.pool)
        same = [t for t in self.pool if t.shape == like.shape and t.dtype == like.dtype]
        if self.rng.random() < 0.25:   # a broadcast constant of special values
            return self.constant(like)
        return self.choice(same)

    def constant(self, like):
        shape = self.choice([(), (3,)]) if like.shape.as_list()[-1:] == [3] else ()
        value = self.rng.choice(special_values(self.dtype), size=shape).astype(self.dtype)
        self.log.append(f"constant {value.tolist()}")
        return fc.constant(value)

    def make(self, op, inputs, **attrs):
        self.log.append(f"{op}({', '.join(t.op.name for t in inputs)}) {attrs or ''}")
        return self.x.graph.create_op(op, list(inputs), attrs).outputs[0]

    def step(self):
        kind = self.choice(["unary", "binary", "binary", "select", "cast", "movement"])
        a = self.pick()
        if kind == "unary":
            out = self.make(self.choice(EXACT_UNARY), [a])
        elif kind == "binary":
            out = self.make(self.choice(EXACT_BINARY), [a, self.pick(a)])
        elif kind == "select":
            cond = self.make(self.choice(COMPARE), [a, self.pick(a)])
            out = self.make("select", [cond, self.pick(a), self.pick(a)])
        elif kind == "cast":
            mid = self.choice([T.int32, T.bool_, T.float32, T.float64])
            out = self.make("cast", [self.make("cast", [a], dtype=mid)], dtype=self.fdtype)
        else:
            out = self.movement(a)
        if out.dtype != a.dtype:   # a comparison: back to the float dtype
            out = self.make("cast", [out], dtype=self.fdtype)
        self.pool.append(out)

    def movement(self, a):
        rank = len(a.shape)
        kind = self.choice(["slice", "slice", "reverse", "concat", "pad", "transpose2"])
        if kind == "slice" and rank:
            start = self.choice([None, 0, 1, 2, -1, -3, 5])
            stop = self.choice([None, 1, 3, -1, -2, 100])
            step = self.choice([None, 1, 2, -1, -2])
            self.log.append(f"{a.op.name}[{start}:{stop}:{step}]")
            return a[start:stop:step]
        if kind == "reverse" and rank:
            self.log.append(f"{a.op.name}[::-1]")
            return a[::-1]
        if kind == "concat" and rank:
            self.log.append(f"concat({a.op.name}, self)")
            return fc.concat([a, a], axis=0)
        if kind == "pad" and rank == 2:
            value = float(self.choice(list(special_values(self.dtype))))
            self.log.append(f"pad({a.op.name}, {value})")
            return fc.pad(a, [[1, 0], [0, 1]], constant_values=value)[:, :3]
        if kind == "transpose2" and rank == 2:
            self.log.append(f"transpose twice({a.op.name})")
            return fc.transpose(fc.transpose(a))
        return a


def random_case(rng) -> Case:
    dtype = [np.float32, np.float64][int(rng.integers(2))]
    mode = ["exact", "exact", "approx", "reduce"][int(rng.integers(4))]
    g = fc.Graph()
    with g.as_default():
        b = _Builder(rng, dtype)
        for _ in range(int(rng.integers(1, 9))):
            b.step()
        last = b.pool[-1]
        outs, scales = [last], []
        if mode == "approx":
            op = b.choice(APPROX)
            arity = OPS[op].arity
            outs = [b.make(op, [last] if arity == 1 else [last, b.pick(last)])]
        elif mode == "reduce":
            outs, scales = _reduce(b, last)
            if not scales:   # max and min are exact whatever the order
                mode = "exact"
        if rng.random() < 0.5 and len(b.pool) > 2 and mode == "exact":
            outs.append(b.choice(b.pool[2:]))
    return Case(g, [b.x, b.y], outs, mode, dtype, scales, "; ".join(b.log))


def _reduce(b, last):
    op = b.choice(REDUCE)
    if len(last.shape) != 2:
        op = "reduce_sum"
    axis = None if len(last.shape) == 0 else b.choice([0, len(last.shape) - 1])
    mag = fc.abs(last)
    if op == "matmul":
        w = fc.constant(random_data(b.rng, b.dtype, (3, 4), special=0.0))
        b.log.append(f"matmul({last.op.name}, w)")
        return [fc.matmul(last, w)], [fc.matmul(mag, fc.abs(w))]
    b.log.append(f"{op}({last.op.name}, axis={axis})")
    out = getattr(fc, op)(last, axis=axis)
    if op in ("reduce_max", "reduce_min"):
        return [out], []
    scale = fc.reduce_sum(mag, axis=axis)
    if op == "reduce_mean":
        scale = fc.reduce_mean(mag, axis=axis)
    return [out], [scale]


def _bits_equal(got, want):
    if got.dtype.kind != "f":
        return got == want
    ints = got.dtype.str.replace("f", "i")
    return (np.isnan(got) & np.isnan(want)) | (got.view(ints) == want.view(ints))


def compare(case, got, want, scales):
    """A list of (output index, message) for every mismatch."""
    bad = []
    for k, (o, w) in enumerate(zip(got, want)):
        o, w = np.asarray(o), np.asarray(w)
        if o.shape != w.shape or o.dtype != w.dtype:
            bad.append((k, f"type {o.dtype}{o.shape} != {w.dtype}{w.shape}"))
            continue
        same = _bits_equal(o, w)
        if case.mode == "approx" or (case.mode == "reduce" and k < len(scales)):
            with np.errstate(all="ignore"):
                nan = np.isnan(o) & np.isnan(w)
                klass = (np.isnan(o) != np.isnan(w)) | (np.isinf(o) != np.isinf(w))
                if case.mode == "approx":
                    rtol, atol = {np.float32: (2e-6, 1e-6), np.float64: (1e-13, 1e-14)}[
                        case.dtype]
                    sign = ~nan & (np.signbit(o) != np.signbit(w))
                    far = ~np.isclose(o, w, rtol=rtol, atol=atol, equal_nan=True)
                    same = same | ~(sign | klass | far | ((o == 0) != (w == 0)))
                else:
                    info = np.finfo(case.dtype)
                    scale = np.asarray(scales[k], np.float64)
                    bound = 32 * info.eps * scale + info.tiny
                    diff = np.abs(o.astype(np.float64) - w.astype(np.float64))
                    finite = np.isfinite(o) & np.isfinite(w)
                    # where the sum of magnitudes reaches the overflow threshold, whether a
                    # partial sum overflows (inf, or inf - inf = NaN) depends on the order
                    overflow = ~(scale < float(info.max) / 2)
                    ok = np.where(finite, diff <= bound, ~klass & ((o == w) | nan))
                    same = same | ok | overflow
        if not np.all(same):
            i = np.argwhere(~same)[0]
            bad.append((k, f"at {tuple(int(v) for v in i)}: got {o[tuple(i)]!r}, want "
                           f"{w[tuple(i)]!r} ({int((~same).sum())} of {same.size} differ)"))
    return bad


def run_case(case, rng, sizes=SIZES):
    """(runs, mismatches): each mismatch is a dict saying what differed."""
    program = to_program(case.graph, case.outputs, case.feeds)
    ref_program = to_program(case.graph, case.outputs + case.scales, case.feeds)
    optimized, _ = optimize(program, OPTIONS)
    exe = build_program(optimized, OPTIONS)
    from runtime.variables import VariableStore
    runs, mismatches = 0, []
    for n in sizes:
        feeds = [random_data(rng, case.dtype, (n, 3)) for _ in case.feeds]
        runs += 1
        ref_err = got_err = None
        try:
            ref, _ = interpret(ref_program, feeds, {}, 0)
        except Exception as e:  # noqa: BLE001  (error parity is the check)
            ref_err = e
        try:
            got = exe.run(feeds, VariableStore(), 0)
        except Exception as e:  # noqa: BLE001
            got_err = e
        if (ref_err is None) != (got_err is None) or (
                ref_err is not None and type(ref_err) is not type(got_err)):
            mismatches.append({"n": n, "error": f"interpreter: {ref_err!r}; "
                               f"compiled: {got_err!r}", "graph": case.text})
            continue
        if ref_err is not None:
            continue
        k = len(case.outputs)
        for index, message in compare(case, got, ref[:k], ref[k:]):
            mismatches.append({"n": n, "output": index, "mode": case.mode,
                               "dtype": np.dtype(case.dtype).name, "what": message,
                               "graph": case.text, "feeds": [f.tolist() for f in feeds]
                               if n <= 5 else None})
    return runs, mismatches
