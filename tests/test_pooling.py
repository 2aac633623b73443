"""Pooling with TF1 semantics (compiler/frontend/pooling.py on the window primitives):
values against jax.lax.reduce_window, gradients against jax.grad and finite
differences, TF's max-pool tie rule (the whole gradient to the first maximum of each
window), max_pool_with_argmax's flattened index, the tf.layers spellings, kernel counts,
and errors naming the culprit — on the compiled default Session (LLVM) and the
interpreter, with several checks per graph to keep compiles few."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_check import check_grads, session
from jax import lax

import compiler as tf
from compiler.convert import convert
from passes.fusion import plan_kernels
from passes.manager import run_pipeline

jax.config.update("jax_enable_x64", True)

BACKENDS = ["llvm", "interpret"]
RNG = np.random.default_rng(15)


def _window(x, kind, ksize, strides, padding, dilation=None):
    """jax's reduce_window max / mean over the valid elements (TF's avg_pool)."""
    dil = dilation or (1,) * x.ndim
    if kind == "max":
        return lax.reduce_window(x, -jnp.inf, lax.max, ksize, strides, padding,
                                 window_dilation=dil)
    total = lax.reduce_window(x, 0.0, lax.add, ksize, strides, padding, window_dilation=dil)
    count = lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, ksize, strides, padding,
                              window_dilation=dil)
    return total / count


@pytest.mark.parametrize("backend", BACKENDS)
def test_pool_values_match_reduce_window(backend):
    x4 = RNG.standard_normal((2, 7, 8, 3)).astype(np.float32)
    x3 = RNG.standard_normal((2, 9, 4)).astype(np.float32)
    x5 = RNG.standard_normal((1, 5, 6, 4, 2)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        a = tf.placeholder(tf.float32, [None, 7, 8, 3], name="a")
        b = tf.placeholder(tf.float32, [None, 9, 4], name="b")
        c = tf.placeholder(tf.float32, [1, 5, 6, 4, 2], name="c")
        nchw = tf.transpose(a, [0, 3, 1, 2])
        got = [
            tf.nn.max_pool(a, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME"),
            tf.nn.avg_pool(a, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME"),
            tf.nn.max_pool(a, ksize=[1, 2, 3, 1], strides=[1, 1, 2, 1], padding="VALID"),
            tf.nn.avg_pool(a, ksize=2, strides=2, padding="VALID"),
            tf.transpose(tf.nn.max_pool(nchw, [1, 1, 3, 2], [1, 1, 2, 1], "SAME",
                                        data_format="NCHW"), [0, 2, 3, 1]),
            tf.transpose(tf.nn.avg_pool(nchw, [1, 1, 2, 3], [1, 1, 2, 2], "SAME",
                                        data_format="NCHW"), [0, 2, 3, 1]),
            tf.nn.max_pool1d(b, 3, 2, "SAME"), tf.nn.avg_pool1d(b, 4, 3, "SAME"),
            tf.nn.max_pool3d(c, [1, 2, 3, 2, 1], [1, 2, 2, 1, 1], "SAME"),
            tf.nn.avg_pool3d(c, 3, 2, "SAME"),
            tf.nn.pool(a, [2, 3], "MAX", "SAME", dilation_rate=[2, 2]),
            tf.nn.pool(a, [3, 2], "AVG", "VALID", dilation_rate=[1, 3]),
            tf.layers.max_pooling2d(a, 3, 2, padding="same"),
            tf.layers.average_pooling2d(a, (2, 3), (2, 1)),
            tf.transpose(tf.layers.MaxPooling2D(2, 2, data_format="channels_first")(nchw),
                         [0, 2, 3, 1]),
            tf.layers.AveragePooling1D(3, 1, padding="same")(b),
            tf.layers.max_pooling3d(c, 2, 1),
        ]
    want = [
        _window(x4, "max", (1, 3, 3, 1), (1, 2, 2, 1), "SAME"),
        _window(x4, "avg", (1, 3, 3, 1), (1, 2, 2, 1), "SAME"),
        _window(x4, "max", (1, 2, 3, 1), (1, 1, 2, 1), "VALID"),
        _window(x4, "avg", (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
        _window(x4, "max", (1, 3, 2, 1), (1, 2, 1, 1), "SAME"),
        _window(x4, "avg", (1, 2, 3, 1), (1, 2, 2, 1), "SAME"),
        _window(x3, "max", (1, 3, 1), (1, 2, 1), "SAME"),
        _window(x3, "avg", (1, 4, 1), (1, 3, 1), "SAME"),
        _window(x5, "max", (1, 2, 3, 2, 1), (1, 2, 2, 1, 1), "SAME"),
        _window(x5, "avg", (1, 3, 3, 3, 1), (1, 2, 2, 2, 1), "SAME"),
        _window(x4, "max", (1, 2, 3, 1), (1,) * 4, "SAME", (1, 2, 2, 1)),
        _window(x4, "avg", (1, 3, 2, 1), (1,) * 4, "VALID", (1, 1, 3, 1)),
        _window(x4, "max", (1, 3, 3, 1), (1, 2, 2, 1), "SAME"),
        _window(x4, "avg", (1, 2, 3, 1), (1, 2, 1, 1), "VALID"),
        _window(x4, "max", (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
        _window(x3, "avg", (1, 3, 1), (1, 1, 1), "SAME"),
        _window(x5, "max", (1, 2, 2, 2, 1), (1,) * 5, "VALID"),
    ]
    with session(g, backend) as sess:
        out = sess.run(got, {a: x4, b: x3, c: x5})
    for i, (o, w) in enumerate(zip(out, want)):
        assert o.shape == w.shape, (i, o.shape, w.shape)
        np.testing.assert_allclose(o, np.asarray(w), rtol=1e-6, atol=1e-6, err_msg=str(i))


def _tf_max_pool_grad(x, k, s, dy):
    """TF's MaxPoolGrad for NHWC VALID pooling, written out: each window's gradient goes
    wholly to its first maximum in row-major window order."""
    dx = np.zeros_like(x)
    n, oh, ow, c = dy.shape
    for b, i, j, ch in np.ndindex(n, oh, ow, c):
        win = x[b, i * s:i * s + k, j * s:j * s + k, ch]
        r, q = divmod(int(np.argmax(win)), k)   # numpy's argmax: the first maximum
        dx[b, i * s + r, j * s + q, ch] += dy[b, i, j, ch]
    return dx


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_gradient_goes_to_the_first_maximum(backend):
    """Ties as TF resolves them: a constant input (every window tied, overlapping
    windows), and windows with two equal maxima that are not the first element."""
    const = np.full((1, 5, 5, 2), 3.0)
    ties = RNG.integers(0, 3, size=(2, 6, 6, 3)).astype(np.float64)  # many equal maxima
    ties[0, 0:2, 0:2, 0] = [[0.0, 5.0], [5.0, 1.0]]  # two maxima, the first at (0, 1)
    g = tf.Graph()
    with g.as_default():
        a = tf.placeholder(tf.float64, [1, 5, 5, 2])
        b = tf.placeholder(tf.float64, [None, 6, 6, 3])
        dya = tf.placeholder(tf.float64, [1, 2, 2, 2])
        dyb = tf.placeholder(tf.float64, [None, 3, 3, 3])
        pa = tf.nn.max_pool(a, [1, 3, 3, 1], [1, 2, 2, 1], "VALID")   # overlapping windows
        pb = tf.nn.max_pool(b, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
        grads = [tf.gradients(pa, a, dya)[0], tf.gradients(pb, b, dyb)[0]]
    dy_a = RNG.standard_normal((1, 2, 2, 2))
    dy_b = RNG.standard_normal((2, 3, 3, 3))
    with session(g, backend) as sess:
        ga, gb = sess.run(grads, {a: const, b: ties, dya: dy_a, dyb: dy_b})
    np.testing.assert_allclose(ga, _tf_max_pool_grad(const, 3, 2, dy_a), atol=1e-12)
    np.testing.assert_allclose(gb, _tf_max_pool_grad(ties, 2, 2, dy_b), atol=1e-12)
    assert gb[0, 0, 1, 0] == dy_b[0, 0, 0, 0] and gb[0, 1, 0, 0] == 0.0
    assert ga[0, 0, 0, 0] == dy_a[0, 0, 0, 0] and ga[0, 2, 2, 0] == dy_a[0, 1, 1, 0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_pool_gradients_match_jax_grad(backend):
    """avg_pool (SAME: dy / count of valid elements) and max_pool without ties."""
    xv = RNG.permutation(2 * 6 * 7 * 2).reshape(2, 6, 7, 2) / 10.0   # distinct values
    wv = RNG.standard_normal((2, 3, 4, 2))
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, 6, 7, 2])
        m = tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")
        v = tf.nn.avg_pool(x, [1, 3, 2, 1], [1, 2, 2, 1], "SAME")
        loss = tf.reduce_sum(m * m * wv) + tf.reduce_sum(v * wv)
        grad = tf.gradients(loss, x)[0]

    def jloss(x):
        m = _window(x, "max", (1, 3, 3, 1), (1, 2, 2, 1), "SAME")
        v = _window(x, "avg", (1, 3, 2, 1), (1, 2, 2, 1), "SAME")
        return jnp.sum(m * m * wv) + jnp.sum(v * wv)
    with session(g, backend) as sess:
        got = sess.run(grad, {x: xv})
    np.testing.assert_allclose(got, np.asarray(jax.grad(jloss)(xv)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pool_gradients_by_finite_differences(backend):
    def build(x, y):
        return [tf.nn.avg_pool(x, [1, 2, 3, 1], [1, 2, 1, 1], "SAME"),
                tf.nn.max_pool(x, [1, 3, 2, 1], [1, 1, 2, 1], "SAME"),
                tf.nn.pool(y, [3], "AVG", "SAME", dilation_rate=[2])]
    # random draws: ties among the window maxima have probability 0
    check_grads(lambda x, y: tf.add_n([tf.reduce_sum(o * o) for o in build(x, y)]),
                [((2, 5, 4, 2), -1, 1), ((1, 7, 2), -1, 1)], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_with_argmax_is_tfs_flattened_index(backend):
    xv = RNG.standard_normal((2, 5, 6, 3))
    xv[0, 0, 0, 0] = xv[0, 0, 1, 0] = 9.0    # a tie inside the first window: the first wins
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, 5, 6, 3])
        y, arg = tf.nn.max_pool_with_argmax(x, [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
        _, arg_b = tf.nn.max_pool_with_argmax(x, [1, 3, 3, 1], [1, 1, 2, 1], "VALID",
                                              include_batch_in_index=True)
    with session(g, backend) as sess:
        yv, av, bv = sess.run([y, arg, arg_b], {x: xv})
    assert av.dtype == np.int64 and av.shape == yv.shape == (2, 3, 3, 3)
    n, h, w, c = xv.shape
    for b, i, j, ch in np.ndindex(*av.shape):     # the index points at the max's position
        r, rest = divmod(int(av[b, i, j, ch]), w * c)
        q, cc = divmod(rest, c)
        assert cc == ch and xv[b, r, q, ch] == yv[b, i, j, ch]
    assert av[0, 0, 0, 0] == 0
    want = np.empty(bv.shape, np.int64)
    for b, i, j, ch in np.ndindex(*bv.shape):
        win = xv[b, i:i + 3, 2 * j:2 * j + 3, ch]
        r, q = divmod(int(np.argmax(win)), 3)
        want[b, i, j, ch] = (((b * h) + i + r) * w + 2 * j + q) * c + ch
    np.testing.assert_array_equal(bv, want)


def _kernel_kinds(fetches, feeds):
    program = run_pipeline(convert(tf.get_default_graph(), fetches, feeds),
                           tf.CompileOptions())[0]
    return [grp.kind for grp in plan_kernels(program).groups]


def test_pools_are_one_kernel_reading_the_input():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 8, 8, 4])
        y = tf.nn.max_pool(tf.nn.relu(x), [1, 3, 3, 1], [1, 2, 2, 1], "SAME")
        assert _kernel_kinds([y], [x]) == ["loop"]
        z = tf.nn.avg_pool(tf.nn.relu(x), [1, 2, 2, 1], [1, 2, 2, 1], "VALID")
        assert _kernel_kinds([z], [x]) == ["loop"]
        # training: the pool, one fold kernel for its input gradient (dy / count computed
        # inside it) and, for a max pool, the offset of each window's first maximum
        # (stored once, not recomputed for every window offset)
        dy = tf.placeholder(tf.float32, [None, 4, 4, 4])
        for pool, kinds in ((tf.nn.max_pool, ["loop", "loop", "single"]),
                            (tf.nn.avg_pool, ["loop", "single"])):
            m = pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")
            assert _kernel_kinds([m, tf.gradients(m, x, dy)[0]], [x, dy]) == kinds


def test_bad_arguments_name_the_culprit():
    at = r" at .*test_pooling.py:\d+: "     # the op, the user's line, then the culprit
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4, 4, 2], name="images")
        with pytest.raises(ValueError, match="MaxPool" + at + r"the window \[5, 5\].*does "
                                             r"not fit.*'VALID'"):
            tf.nn.max_pool(x, [1, 5, 5, 1], [1, 1, 1, 1], "VALID")
        with pytest.raises(ValueError, match="AvgPool" + at + r"ksize must be an int or a "
                                             r"list of 1, 2 or 4 ints, got \[1, 2, 2\]"):
            tf.nn.avg_pool(x, [1, 2, 2], [1, 1, 1, 1], "SAME")
        with pytest.raises(ValueError, match="MaxPool" + at + r"data_format must be 'NHWC' "
                                             r"or 'NCHW', got 'NHCW'"):
            tf.nn.max_pool(x, 2, 2, "SAME", data_format="NHCW")
        with pytest.raises(ValueError, match="MaxPool" + at + r"padding must be 'SAME', "
                                             r"'VALID'.*got 'FULL'"):
            tf.nn.max_pool(x, 2, 2, "FULL")
        with pytest.raises(ValueError, match=r"ksize \[2, 2, 2, 1\] must be 1 in the batch"):
            tf.nn.max_pool(x, [2, 2, 2, 1], 1, "SAME")
        with pytest.raises(ValueError, match="AvgPool" + at + r"input .* must have rank 4"):
            tf.nn.avg_pool(tf.reshape(x, [-1, 32]), 2, 2, "SAME")
        with pytest.raises(ValueError, match="max_pooling2d" + at + r"data_format must be "
                                             r"'channels_last' or 'channels_first'"):
            tf.layers.max_pooling2d(x, 2, 2, data_format="NHWC_")
