"""The TF1 math functions added for ONNX import (issue 18): erf and atan (primitives),
tan, sinh, cosh, asin, acos, asinh, acosh, atanh (compositions), round half to even,
is_nan / is_inf / is_finite, and `tf.bitwise` — against numpy on the interpreter and the
compiled (LLVM) backend, special values and domain ends included."""

import math

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ("interpret", "llvm")


def run(fetches, feeds, backend):
    config = fc.ConfigProto(backend="interpret") if backend == "interpret" else None
    with fc.Session(config=config) as sess:
        return sess.run(fetches, feeds)


RNG = np.random.default_rng(3)
WIDE = np.concatenate([RNG.normal(size=40) * 3, [0.0, -0.0, 1e-6, -1e-6, 1e-30, 20.0,
                                                -20.0, 3e8, -1e30, np.inf, -np.inf, np.nan]])
UNIT = np.concatenate([RNG.uniform(-1, 1, size=40), [0.0, -0.0, 1.0, -1.0, 1e-7, -1e-7,
                                                     0.999999, -0.999999, 1.5, np.nan]])
ABOVE1 = np.concatenate([1 + np.abs(RNG.normal(size=40)) * 3, [1.0, 1 + 1e-7, 1e4, 0.5,
                                                               3e8, 1e30, np.inf]])
OPEN_UNIT = np.concatenate([RNG.uniform(-0.99, 0.99, size=40), [0.0, 1e-8, -1e-8, 1.0,
                                                                -1.0, 2.0]])


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


CASES = {
    "erf": (fc.erf, _erf, WIDE), "atan": (fc.atan, np.arctan, WIDE),
    "tan": (fc.tan, np.tan, WIDE[:-3]), "sinh": (fc.sinh, np.sinh, WIDE),
    "cosh": (fc.cosh, np.cosh, WIDE), "asin": (fc.asin, np.arcsin, UNIT),
    "acos": (fc.acos, np.arccos, UNIT), "asinh": (fc.asinh, np.arcsinh, WIDE),
    "acosh": (fc.acosh, np.arccosh, ABOVE1), "atanh": (fc.atanh, np.arctanh, OPEN_UNIT),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_function_matches_numpy(name, dtype, backend):
    fn, ref, data = CASES[name]
    data = data.astype(dtype)
    x = fc.placeholder(dtype, [None])
    with np.errstate(all="ignore"):
        want = ref(data.astype(np.float64))
    got = run(fn(x), {x: data}, backend)
    assert got.dtype == np.dtype(dtype)
    rtol = 2e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(got, want.astype(dtype), rtol=rtol, atol=1e-37)


def test_float_only_functions_reject_ints():
    with pytest.raises(TypeError, match="int32"):
        fc.asinh(fc.constant([1, 2]))
    with pytest.raises(TypeError, match="int32"):
        fc.erf(fc.constant([1, 2]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_round_is_half_to_even(dtype, backend):
    data = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 2.6, -2.6, 3.0, -0.0,
                     1e8 + 0.5 if dtype == "float64" else 1024.0, np.inf, -np.inf, np.nan],
                    dtype)
    x = fc.placeholder(dtype, [None])
    got = run(fc.round(x), {x: data}, backend)
    np.testing.assert_array_equal(got, np.round(data))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.round(data)))
    ints = fc.constant([3, -4])
    assert fc.round(ints) is not None and fc.round(ints).dtype == fc.int32


@pytest.mark.parametrize("backend", BACKENDS)
def test_is_nan_is_inf_is_finite(backend):
    data = np.array([0.0, -1.0, np.inf, -np.inf, np.nan, 3e38], np.float32)
    x = fc.placeholder(fc.float32, [None])
    nan, inf, fin = run([fc.is_nan(x), fc.is_inf(x), fc.is_finite(x)], {x: data}, backend)
    np.testing.assert_array_equal(nan, np.isnan(data))
    np.testing.assert_array_equal(inf, np.isinf(data))
    np.testing.assert_array_equal(fin, np.isfinite(data))
    assert fc.math.is_nan is fc.is_nan and fc.math.erf is fc.erf


INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_bitwise_and_or_xor_invert(dtype, backend):
    info = np.iinfo(dtype)
    a = np.array([0, 1, info.max, info.min, 5, 12, info.max // 3], dtype)
    b = np.array([info.max, 3, 6, info.max, info.min, 10, 7], dtype)
    x, y = fc.placeholder(dtype, [None]), fc.placeholder(dtype, [None])
    outs = run([fc.bitwise.bitwise_and(x, y), fc.bitwise.bitwise_or(x, y),
                fc.bitwise.bitwise_xor(x, y), fc.bitwise.invert(x)], {x: a, y: b}, backend)
    for got, want in zip(outs, [a & b, a | b, a ^ b, ~a], strict=True):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_shifts_match_numpy_in_and_out_of_range(dtype, backend):
    info = np.iinfo(dtype)
    width = 8 * np.dtype(dtype).itemsize
    shifts = [0, 1, 3, width - 2, width - 1, width, width + 1, info.max]
    values = [1, 5, info.max, info.min, info.max // 3 + 1]
    if info.min < 0:
        shifts += [-1, -width, info.min]
        values += [-1, -8]
    a = np.array([v for v in values for _ in shifts], dtype)
    s = np.array([k for _ in values for k in shifts], dtype)
    x, y = fc.placeholder(dtype, [None]), fc.placeholder(dtype, [None])
    left, right = run([fc.bitwise.left_shift(x, y), fc.bitwise.right_shift(x, y)],
                      {x: a, y: s}, backend)
    ok = (s >= 0) & (s < width)
    safe = np.where(ok, s, 0).astype(dtype)
    want_left = np.where(ok, np.left_shift(a, safe), 0).astype(dtype)
    want_right = np.where(ok, np.right_shift(a, safe),
                          np.where(a < 0, -1, 0) if info.min < 0 else 0).astype(dtype)
    np.testing.assert_array_equal(left, want_left)
    np.testing.assert_array_equal(right, want_right)


def test_bitwise_rejects_floats():
    with pytest.raises(TypeError, match="float32"):
        fc.bitwise.bitwise_and(fc.constant([1.0]), fc.constant([2.0]))
    with pytest.raises(TypeError, match="float32"):
        fc.bitwise.invert(fc.constant([1.0]))
    with pytest.raises(TypeError, match="float32"):
        fc.bitwise.left_shift(fc.constant([1.0]), fc.constant([2.0]))


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
@pytest.mark.parametrize("name, spec", [
    ("tan", ((2, 3), -1.0, 1.0)), ("sinh", ((2, 3), -2.0, 2.0)),
    ("cosh", ((2, 3), -2.0, 2.0)), ("asin", ((2, 3), -0.9, 0.9)),
    ("acos", ((2, 3), -0.9, 0.9)), ("asinh", ((2, 3), -3.0, 3.0)),
    ("acosh", ((2, 3), 1.1, 3.0)), ("atanh", ((2, 3), -0.9, 0.9)),
])
def test_composed_functions_have_their_gradients(name, spec, backend):
    from autodiff_check import check_grads
    check_grads(getattr(fc, name), [spec], backend)


@pytest.mark.parametrize("dtype", ["int8", "uint16", "int32", "uint64"])
def test_new_primitives_on_the_emulated_gpu(dtype):
    """The C/CUDA rules of erf, atan, invert and bitwise_* (tests/cuda_emulator.py runs
    the CUDA C on the host)."""
    from cuda_emulator import emulated_gpu
    info = np.iinfo(dtype)
    a = np.array([0, 1, info.max, info.min, 5, 12], dtype)
    b = np.array([info.max, 3, 6, info.max, info.min, 10], dtype)
    f = np.array([-3.0, -0.5, 0.0, 1e-6, 0.7, 20.0], np.float32)
    with emulated_gpu():
        x, y = fc.placeholder(dtype, [None]), fc.placeholder(dtype, [None])
        z = fc.placeholder(fc.float32, [None])
        outs = [fc.bitwise.bitwise_and(x, y), fc.bitwise.bitwise_or(x, y),
                fc.bitwise.bitwise_xor(x, y), fc.bitwise.invert(x), fc.erf(z), fc.atan(z)]
        with fc.Session(config=fc.ConfigProto(device="gpu")) as sess:
            got = sess.run(outs, {x: a, y: b, z: f})
    for g, w in zip(got[:4], [a & b, a | b, a ^ b, ~a], strict=True):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(g, w)
    np.testing.assert_allclose(got[4], _erf(f.astype(np.float64)), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(got[5], np.arctan(f.astype(np.float64)), rtol=2e-6)
