"""Every integer dtype (int8, int16, uint8, uint16, uint32, uint64 next to int32/int64), end
to end: TF1 programs on both backends against numpy written here (wrap-around modulo
2**bits, unsigned comparison and division, uint8 images cast to float, TF1's truediv
result dtypes), the generated CUDA C of every new dtype run on the CPU emulator, an AOT
library whose header and loader use the C types, and a Saver round trip. The op-by-op
differential suite over the same dtypes is tests/test_ops_differential.py."""

from __future__ import annotations

import os

import numpy as np
import pytest
from aot_models import has_cc
from cuda_emulator import emulated_gpu

import compiler as fc
import runtime
from compiler.convert import convert
from compiler.interpret import interpret
from compiler.pipeline import build_program
from passes.manager import run_pipeline
from runtime.errors import FeedError
from runtime.variables import VariableStore

NEW = ("int8", "int16", "uint8", "uint16", "uint32", "uint64")
BACKENDS = [None, fc.ConfigProto(backend="interpret")]


def _ends(dtype):
    info = np.iinfo(dtype)
    a = np.array([info.max, info.min, 7, 0, 5, info.max, info.min + 1, 3], dtype)
    b = np.array([1, info.max, 0, 3, 2, 2, info.max, info.min + 2], dtype)
    return a, b


def _want(a, b):
    """TF1's int semantics in numpy: C++ arithmetic wrapped to the dtype; floor division
    and modulo (unsigned: plain) with flowc's 0 for a zero divisor."""
    with np.errstate(all="ignore"):
        safe = np.where(b == 0, 1, b).astype(b.dtype)
        div = np.where(b == 0, 0, np.floor_divide(a, safe)).astype(a.dtype)
        mod = np.where(b == 0, 0, np.remainder(a, safe)).astype(a.dtype)
        if a.dtype.kind == "i":  # INT_MIN // -1 wraps (numpy's own result is undefined)
            m = (a == np.iinfo(a.dtype).min) & (b == -1)
            div[m], mod[m] = a[m], 0
        return [a + b, a - b, a * b, div, mod, np.maximum(a, b), np.minimum(a, b), a < b,
                a >= b, a == b, np.negative(a), a.astype(np.float32), a.astype(np.int64),
                np.sum(a, dtype=a.dtype), np.max(a), np.argmax(a)]


def _ops(x, y):
    return [x + y, x - y, x * y, x // y, x % y, fc.maximum(x, y), fc.minimum(x, y), x < y,
            x >= y, fc.equal(x, y), -x, fc.cast(x, fc.float32), fc.cast(x, fc.int64),
            fc.reduce_sum(x), fc.reduce_max(x), fc.argmax(x, 0)]


@pytest.mark.parametrize("config", BACKENDS, ids=["llvm", "interpret"])
@pytest.mark.parametrize("dtype", NEW)
def test_integer_ops_wrap_and_compare_as_tf1(dtype, config):
    a, b = _ends(dtype)
    with fc.Graph().as_default():
        x = fc.placeholder(getattr(fc, dtype), [None], name="x")
        y = fc.placeholder(dtype, [None], name="y")
        with fc.Session(config=config) as sess:
            got = sess.run(_ops(x, y), {x: a, y: b})
    for g, w, name in zip(got, _want(a, b), [f"op{i}" for i in range(99)]):
        assert g.dtype == w.dtype and g.shape == np.shape(w), name
        np.testing.assert_array_equal(g, w, err_msg=f"{dtype} {name}")


@pytest.mark.parametrize("config", BACKENDS, ids=["llvm", "interpret"])
def test_uint8_images_cast_to_float_and_back(config):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    with fc.Graph().as_default():
        images = fc.placeholder(fc.uint8, [None, 4, 4, 3], name="images")
        scaled = fc.cast(images, fc.float32) / 255.0
        mean = fc.reduce_mean(scaled, axis=[1, 2])
        back = fc.cast(scaled * 255.0 + 0.5, fc.uint8)
        clipped = fc.cast(scaled * 300.0 - 20.0, fc.uint8)   # saturates at 0 and 255
        with fc.Session(config=config) as sess:
            s, m, bk, cl = sess.run([scaled, mean, back, clipped], {images: img})
    want = img.astype(np.float32) / np.float32(255.0)
    np.testing.assert_allclose(s, want, rtol=1e-7)
    np.testing.assert_allclose(m, want.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(bk, img)
    raw = want * np.float32(300.0) - np.float32(20.0)
    np.testing.assert_array_equal(cl, np.clip(np.trunc(raw), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("config", BACKENDS, ids=["llvm", "interpret"])
def test_constants_python_scalars_and_truediv_follow_tf1(config):
    with fc.Graph().as_default():
        c8 = fc.constant(np.int8(100)) + np.int8(100)        # folded: wraps too
        u8 = fc.constant(200, dtype=fc.uint8) * 2
        x16 = fc.placeholder(fc.int16, [2])
        u32 = fc.placeholder(fc.uint32, [2])
        q16, q32 = x16 / fc.constant(np.int16(4)), u32 / u32
        with fc.Session(config=config) as sess:
            got = sess.run([c8, u8, q16, q32, x16 + 1],
                           {x16: np.array([32767, -6], np.int16),
                            u32: np.array([4294967295, 3], np.uint32)})
    assert got[0] == np.int8(-56) and got[0].dtype == np.int8
    assert got[1] == np.uint8(144) and got[1].dtype == np.uint8
    assert q16.dtype is fc.float32 and q32.dtype is fc.float64  # TF1's truediv rule
    np.testing.assert_array_equal(got[2], np.array([32767 / 4, -1.5], np.float32))
    np.testing.assert_array_equal(got[3], [1.0, 1.0])
    np.testing.assert_array_equal(got[4], np.array([-32768, -5], np.int16))


def test_dtype_objects_and_errors():
    assert fc.as_dtype("uint8") is fc.uint8 and fc.as_dtype(np.uint16) is fc.uint16
    assert fc.uint8.is_unsigned and not fc.int8.is_unsigned and fc.int16.is_int
    assert (fc.uint8.min, fc.uint8.max, fc.int16.min) == (0, 255, -32768)
    assert fc.uint64.max == 2**64 - 1 and fc.uint32.as_numpy_dtype is np.uint32
    assert fc.uint16.is_integer and not fc.uint16.is_floating and fc.float64.is_floating
    assert (fc.int16.size, fc.int8.limits, fc.uint8.is_complex) == (2, (-128, 127), False)
    with fc.Graph().as_default():
        x = fc.placeholder(fc.uint8, [2])
        with pytest.raises(TypeError, match="uint8"):
            fc.exp(x)
        with pytest.raises(TypeError, match="different dtypes uint8 and int8"):
            fc.add(x, fc.placeholder(fc.int8, [2]))
        with pytest.raises(TypeError, match="output_type must be int32 or int64"):
            fc.argmax(fc.placeholder(fc.float32, [3]), 0, output_type=fc.uint8)
        with fc.Session() as sess, pytest.raises(FeedError, match="to uint8"):
            sess.run(x + 1, {x: [1, 300]})   # does not fit (a numpy array would wrap)


def _emulated_program(dtype):
    with fc.Graph().as_default() as g:
        x = fc.placeholder(dtype, [None], name="x")
        y = fc.placeholder(dtype, [None], name="y")
        f = fc.placeholder(fc.float32, [None], name="f")
        # nested expressions: a wrapped intermediate must not be computed in int
        nested = [(x + y) // (x - y), fc.less(x * y, x), fc.cast(x * y, fc.float32),
                  fc.cast(-x, fc.float64), fc.maximum(x - y, y - x)]
        outs = _ops(x, y) + nested + [fc.cast(f, dtype), fc.abs(x), fc.sign(x),
                                      fc.reduce_prod(x), fc.reduce_min(x)]
        outs = [o for o in outs if o.op.type != "ArgMax"]  # argmax: reduce kernels above
        return convert(g, outs, [x, y, f])


@pytest.mark.parametrize("dtype", NEW)
def test_generated_cuda_c_of_each_new_dtype_matches_the_interpreter(dtype):
    """The C dialect's int rules (narrowing casts after char/short arithmetic, unsigned
    division helpers, saturating float conversions, typed constants) compiled by g++ in
    the CUDA emulator; NVRTC compiles the same kernels in tests/test_cuda_codegen.py."""
    gpu = fc.CompileOptions(device="gpu")
    program = _emulated_program(getattr(fc, dtype))
    a, b = _ends(dtype)
    f = np.array([1e30, -1e30, np.nan, 3.9, -2.5, 250.7, 65535.5, -0.5], np.float32)
    with emulated_gpu():
        exe = build_program(run_pipeline(program, gpu)[0], gpu)
        got = exe.run([a, b, f], VariableStore())
    want, _ = interpret(program, [a, b, f])
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(np.asarray(g), w, err_msg=f"{dtype} output {i}")


@pytest.mark.skipif(not has_cc(), reason="no C compiler (cc) to link artifacts")
def test_aot_library_uses_the_c_integer_types(tmp_path):
    with fc.Graph().as_default():
        img = fc.placeholder(fc.uint8, [None, 3], name="img")
        ids = fc.placeholder(fc.uint16, [None], name="ids")
        dark = fc.cast(img, fc.int16) - 128
        total = fc.reduce_sum(fc.cast(ids, fc.uint64))
        art = fc.compile([dark, total], [img, ids], str(tmp_path / "ints"), name="ints")
    header = open(art.header).read()
    assert "const uint8_t *img" in header and "const uint16_t *ids" in header
    assert "int16_t *" in header and "uint64_t *" in header
    x = np.array([[0, 128, 255], [7, 200, 1]], np.uint8)
    i = np.array([65535, 65535, 2], np.uint16)
    with runtime.load(art.directory) as model:
        d, t = model(x, i)
    np.testing.assert_array_equal(d, x.astype(np.int16) - 128)
    assert t.dtype == np.uint64 and t == 65535 * 2 + 2
    assert os.path.isfile(art.manifest)


def test_saver_round_trips_integer_variables(tmp_path):
    values = {dt: np.array([np.iinfo(dt).min, np.iinfo(dt).max, 1], dt) for dt in NEW}
    with fc.Graph().as_default():
        vs = {dt: fc.Variable(v, name=f"v_{dt}") for dt, v in values.items()}
        saver = fc.train.Saver()
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "ckpt"))
            sess.run([fc.assign(v, np.zeros(3, dt)) for dt, v in vs.items()])
            saver.restore(sess, path)
            got = sess.run(vs)
    for dt, v in values.items():
        assert got[dt].dtype == np.dtype(dt)
        np.testing.assert_array_equal(got[dt], v)
