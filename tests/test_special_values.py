"""Every elementwise op of the op table over special values (±0, ±inf, NaN, subnormals,
±1, the largest finite, values near the exp overflow), compiled against the interpreter.

The exact ops (arithmetic, comparisons, maximum/minimum, mod, sign, abs, floor, sqrt,
select, casts, ...) must give the interpreter's bits, the sign of zero included (NaN
payloads may differ: only NaN-ness is compared). The vector-math and libm functions
(`APPROX`) are within the elementwise tolerance of docs/numerics.md, but their sign bit
and class (zero, inf, NaN) are exact too. One program per dtype holds every op, so the
test compiles twice per backend; the CUDA C table runs through tests/cuda_emulator.py.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from cuda_emulator import emulated_gpu
from oracle import TOL, Compiled, prim

import compiler as fc
from compiler.ir import dtypes as T
from compiler.ops import OPS

#: libm / vecmath functions: correct within a few ULP, not bit for bit
APPROX = {"exp", "expm1", "log", "log1p", "tanh", "sigmoid", "sin", "cos", "pow", "erf",
          "atan"}
_BOOL_ONLY = {"logical_not", "logical_and", "logical_or"}
#: bit operations take ints only: float special values do not apply
_INT_ONLY = {"invert", "bitwise_and", "bitwise_or", "bitwise_xor"}
_ELEMENTWISE = sorted(n for n, d in OPS.items() if d.fusion == "elementwise")


def special_values(dtype):
    f = np.finfo(dtype)
    v = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, f.tiny, -f.tiny, f.tiny / 4,
         -f.tiny / 4, f.max, -f.max, 3.0, -3.0, 6.0, -6.0, 0.5, -0.5, 2.5, -2.5, 1e-30,
         -1e-30, 20.0, -20.0, 89.0, -89.0, 710.0, -710.0]
    return np.array(v, dtype)


def _build(g, x, y):
    outs, names = [], []
    for op in _ELEMENTWISE:
        d = OPS[op]
        if op in _BOOL_ONLY or op in _INT_ONLY or op in ("cast", "select", "bitcast"):
            continue
        outs.append(prim(g, op, [x] if d.arity == 1 else [x, y]))
        names.append(op)
    outs.append(prim(g, "select", [prim(g, "less", [x, y]), x, y]))
    names.append("select")
    for dt in (T.float32, T.float64, T.int32, T.bool_):
        outs.append(prim(g, "cast", [x], dtype=dt))
        names.append(f"cast_{dt.name}")
    # the bits of every special value (NaN, -0.0, subnormals, inf) as ints, and back
    bits = prim(g, "bitcast", [x], dtype=T.as_dtype(f"int{8 * x.dtype.itemsize}"))
    outs += [bits, prim(g, "bitcast", [bits], dtype=x.dtype)]
    names += ["bitcast_int", "bitcast_back"]
    b = prim(g, "greater", [x, y])
    for op in sorted(_BOOL_ONLY):
        outs.append(prim(g, op, [b] if op == "logical_not" else [b, prim(g, "less", [x, y])]))
        names.append(op)
    return outs, names


def _program(dtype, options=None):
    names = []

    def build(g, x, y):
        outs, n = _build(g, x, y)
        names.extend(n)
        return outs
    kw = {} if options is None else {"options": options}
    return Compiled(build, [(dtype, ("a",)), (dtype, ("a",))], **kw), names


def _grid(dtype):
    s = special_values(dtype)
    a, b = np.meshgrid(s, s, indexing="ij")
    return [a.ravel().copy(), b.ravel().copy()]


def assert_same_bits(op, got, want, args):
    assert got.dtype == want.dtype and got.shape == want.shape, (op, got.dtype, want.dtype)
    if got.dtype.kind != "f":
        bad = got != want
    else:
        ints = got.dtype.str.replace("f", "i")
        nan = np.isnan(got) & np.isnan(want)
        bad = ~nan & (got.view(ints) != want.view(ints))
        if op in APPROX:
            sign = ~nan & (np.signbit(got) != np.signbit(want))
            klass = (np.isnan(got) != np.isnan(want)) | (np.isinf(got) != np.isinf(want)) | (
                (got == 0) != (want == 0))
            rtol, atol = TOL[got.dtype.name]
            with np.errstate(invalid="ignore"):
                far = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
            bad = sign | klass | far
    if bad.any():
        i = np.nonzero(bad)[0][:5]
        raise AssertionError(f"{op}: {int(bad.sum())} results differ from the interpreter, "
                             f"e.g. at {[tuple(a[j] for a in args) for j in i]}: got "
                             f"{got[i].tolist()}, want {want[i].tolist()}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_llvm_elementwise_bits_equal_interpreter(dtype):
    c, names = _program(dtype)
    args = _grid(dtype)
    ref, got = c.run_both(args)
    for name, r, o in zip(names, ref, got):
        assert_same_bits(name, o, r, args)


def test_emulated_cuda_elementwise_bits_equal_interpreter():
    with emulated_gpu():
        for dtype in ("float32", "float64"):
            c, names = _program(dtype, fc.CompileOptions(device="gpu"))
            args = _grid(dtype)
            ref, got = c.run_both(args)
            for name, r, o in zip(names, ref, got):
                assert_same_bits(name, o, r, args)


def test_the_signed_zero_cases_of_the_issue():
    """mod(x, -3) at 0, 3, 6 and mod(-0.0, 3), elu(-0.0), sign(-0.0), relu(-0.0), and 1/x
    of each: numpy's signs (the divisor's for mod; +0 for sign; -0.0 for elu as TF)."""
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float64, [None])
        outs = [fc.floormod(x, -3.0), fc.floormod(x, 3.0), fc.nn.elu(x),
                fc.sign(x), fc.nn.relu(x)]
        outs += [1.0 / o for o in outs]
        feed = np.array([0.0, 3.0, 6.0, -0.0, -6.0])
        with fc.Session() as s:
            got = s.run(outs, {x: feed})
    want = [np.remainder(feed, -3.0), np.remainder(feed, 3.0),
            np.array([0, 3, 6, -0.0, np.expm1(-6)]), np.sign(feed) + 0.0,
            np.array([0, 3, 6, 0.0, 0.0])]
    with np.errstate(divide="ignore"):
        want += [1.0 / w for w in want]
    for i, (o, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(np.signbit(o), np.signbit(w), err_msg=str(i))
        np.testing.assert_allclose(o, w, rtol=1e-15, err_msg=str(i))


def test_jit_static_floats_are_keyed_by_bits():
    traces = []

    @fc.jit
    def f(x, s):
        traces.append(s)
        return 1.0 / (x * s)
    x = np.ones(2, np.float32)
    assert f(x, 0.0).tolist() == [np.inf, np.inf]
    assert f(x, -0.0).tolist() == [-np.inf, -np.inf]   # not the cached result of 0.0
    assert f(x, 0.0).tolist() == [np.inf, np.inf]
    for _ in range(3):
        assert np.isnan(f(x, float("nan"))).all()
    assert len(traces) == 3     # 0.0, -0.0 and one NaN: NaN != NaN does not recompile


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_reduce_max_min_zero_signs_are_ieee(device):
    """max over {-0.0, +0.0} is +0.0 and min is -0.0 whatever the order (the interpreter
    states it; numpy keeps the first zero it meets)."""
    rows = np.array([[-0.0, 0.0, -0.0], [0.0, -0.0, -0.0], [-0.0, -0.0, -0.0],
                     [0.0, 0.0, 0.0], [-0.0, np.nan, 0.0], [-1.0, 0.0, -0.0]] * 5, np.float32)
    wants = {"reduce_max": [0.0, 0.0, -0.0, 0.0, np.nan, 0.0],
             "reduce_min": [-0.0, -0.0, -0.0, 0.0, np.nan, -1.0]}
    with contextlib.ExitStack() as stack:
        if device == "gpu":
            stack.enter_context(emulated_gpu())
        def build(g, x):
            return [prim(g, op, [x], axes=(axis,), keepdims=False)
                    for op in wants for axis in (1, 0)]
        c = Compiled(build, [("float32", ("a", "b"))],
                     options=fc.CompileOptions(device=device, threads=1))
        names = [op for op in wants for _ in (1, 0)]
        for arr in (rows, rows.T.copy()):
            ref, got = c.run_both([arr])
            for op, r, o in zip(names, ref, got):
                assert_same_bits(op, o, r, [arr])
        ref, _ = c.run_both([rows])
        for k, (op, want) in enumerate(wants.items()):
            assert_same_bits(op, ref[2 * k][:6], np.array(want, np.float32), [])
