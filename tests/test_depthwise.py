"""Depthwise and separable convolutions and patch extraction (compiler/frontend/
depthwise.py, pooling.py): values against jax.lax.conv_general_dilated with
feature_group_count and a numpy patch extraction written here, gradients against
jax.grad and finite differences, tf.layers.separable_conv2d's variables and reuse, the
kernel count and errors — on the compiled default Session (LLVM) and the interpreter."""

from __future__ import annotations

import jax
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
RNG = np.random.default_rng(16)


def _jax_depthwise(x, w, strides, padding, rate=(1, 1)):
    """TF's depthwise conv: a grouped conv with one group per input channel, filter
    [KH, KW, 1, C * M] (TF's [KH, KW, C, M] flattened channel-major)."""
    kh, kw, c, m = w.shape
    return lax.conv_general_dilated(x, w.reshape(kh, kw, 1, c * m), strides, padding,
                                    rhs_dilation=rate, feature_group_count=c,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _jax_separable(x, dw, pw, strides, padding, rate=(1, 1)):
    d = _jax_depthwise(x, dw, strides, padding, rate)
    return lax.conv_general_dilated(d, pw, (1, 1), "VALID",
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _np_patches(x, k, s, r, padding):
    """TF's extract_image_patches in numpy: [N, OH, OW, KH * KW * C], (kh, kw, c) order."""
    n, h, w, c = x.shape
    eh, ew = (k[0] - 1) * r[0] + 1, (k[1] - 1) * r[1] + 1
    if padding == "SAME":
        oh, ow = -(-h // s[0]), -(-w // s[1])
        th = max((oh - 1) * s[0] + eh - h, 0)
        tw = max((ow - 1) * s[1] + ew - w, 0)
        x = np.pad(x, [(0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2), (0, 0)])
    else:
        oh, ow = (h - eh) // s[0] + 1, (w - ew) // s[1] + 1
    out = np.zeros((n, oh, ow, k[0] * k[1] * c), x.dtype)
    for i, j, a, b in np.ndindex(oh, ow, k[0], k[1]):
        out[:, i, j, (a * k[1] + b) * c:(a * k[1] + b + 1) * c] = \
            x[:, i * s[0] + a * r[0], j * s[1] + b * r[1], :]
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_depthwise_separable_and_patches_match_independent_implementations(backend):
    xv = RNG.standard_normal((2, 7, 6, 3)).astype(np.float32)
    w1 = RNG.standard_normal((3, 3, 3, 1)).astype(np.float32)
    w2 = RNG.standard_normal((2, 3, 3, 2)).astype(np.float32)
    pw = RNG.standard_normal((1, 1, 6, 4)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 7, 6, 3], name="x")
        nchw = tf.transpose(x, [0, 3, 1, 2])
        got = [
            tf.nn.depthwise_conv2d(x, w1, [1, 1, 1, 1], "SAME"),
            tf.nn.depthwise_conv2d(x, w2, [1, 2, 2, 1], "VALID"),
            tf.nn.depthwise_conv2d(x, w2, [1, 1, 1, 1], "SAME", rate=[2, 2]),
            tf.transpose(tf.nn.depthwise_conv2d(nchw, w2, [1, 1, 2, 1], "SAME",
                                                data_format="NCHW"), [0, 2, 3, 1]),
            tf.nn.depthwise_conv2d_native(x, w1, [1, 2, 1, 1], "SAME"),
            tf.nn.separable_conv2d(x, w2, pw, [1, 2, 1, 1], "SAME"),
            tf.nn.separable_conv2d(x, w2, pw, [1, 1, 1, 1], "VALID", rate=[1, 2]),
            tf.extract_image_patches(x, [1, 3, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1], "SAME"),
            tf.image.extract_image_patches(x, [1, 2, 2, 1], [1, 1, 3, 1], [1, 2, 1, 1],
                                           "VALID"),
        ]
    want = [
        _jax_depthwise(xv, w1, (1, 1), "SAME"),
        _jax_depthwise(xv, w2, (2, 2), "VALID"),
        _jax_depthwise(xv, w2, (1, 1), "SAME", (2, 2)),
        _jax_depthwise(xv, w2, (2, 1), "SAME"),
        _jax_depthwise(xv, w1, (2, 1), "SAME"),
        _jax_separable(xv, w2, pw, (2, 1), "SAME"),
        _jax_separable(xv, w2, pw, (1, 1), "VALID", (1, 2)),
        _np_patches(xv, (3, 2), (2, 2), (1, 1), "SAME"),
        _np_patches(xv, (2, 2), (1, 3), (2, 1), "VALID"),
    ]
    with session(g, backend) as sess:
        out = sess.run(got, {x: xv})
    for i, (o, w) in enumerate(zip(out, want)):
        assert o.shape == w.shape, (i, o.shape, w.shape)
        np.testing.assert_allclose(o, np.asarray(w), rtol=1e-5, atol=1e-5, err_msg=str(i))


@pytest.mark.parametrize("backend", BACKENDS)
def test_depthwise_and_separable_gradients_match_jax_grad(backend):
    xv = RNG.standard_normal((2, 6, 5, 2))
    dv = RNG.standard_normal((3, 2, 2, 2))
    pv = RNG.standard_normal((1, 1, 4, 3))
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, [None, 6, 5, 2])
        dw, pw = tf.Variable(dv), tf.Variable(pv)
        y = tf.nn.separable_conv2d(x, dw, pw, [1, 2, 2, 1], "SAME")
        z = tf.nn.depthwise_conv2d(x, dw, [1, 1, 1, 1], "VALID", rate=[1, 2])
        loss = tf.reduce_sum(y * y) + tf.reduce_sum(tf.sin(z))
        grads = tf.gradients(loss, [x, dw, pw])

    def jloss(x, dw, pw):
        y = _jax_separable(x, dw, pw, (2, 2), "SAME")
        z = _jax_depthwise(x, dw, (1, 1), "VALID", (1, 2))
        return (y * y).sum() + jax.numpy.sin(z).sum()
    want = jax.grad(jloss, argnums=(0, 1, 2))(xv, dv, pv)
    with session(g, backend) as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(grads, {x: xv})
    for o, w in zip(got, want):
        np.testing.assert_allclose(o, np.asarray(w), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_depthwise_gradients_by_finite_differences(backend):
    def build(x, w):
        y = tf.nn.depthwise_conv2d(x, w, [1, 2, 1, 1], "SAME")
        p = tf.extract_image_patches(x, [1, 2, 2, 1], [1, 1, 1, 1], [1, 1, 1, 1], "SAME")
        return tf.reduce_sum(y * y) + tf.reduce_sum(p * p * p)
    check_grads(build, [((1, 5, 4, 2), -1, 1), ((2, 3, 2, 2), -1, 1)], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_layers_separable_conv2d_variables_and_reuse(backend):
    xv = RNG.standard_normal((2, 6, 6, 3)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 6, 6, 3])
        y = tf.layers.separable_conv2d(x, 4, 3, padding="same", depth_multiplier=2,
                                       activation=tf.nn.relu)
        y2 = tf.layers.separable_conv2d(x, 4, 3, padding="same", depth_multiplier=2,
                                        activation=tf.nn.relu, name="separable_conv2d",
                                        reuse=True)
        layer = tf.layers.SeparableConv2D(5, (2, 2), strides=2)
        z1, z2 = layer(x), layer(x * 2.0)
        names = sorted(v.op.name for v in tf.trainable_variables())
    assert names == ["separable_conv2d/bias", "separable_conv2d/depthwise_kernel",
                     "separable_conv2d/pointwise_kernel", "separable_conv2d_1/bias",
                     "separable_conv2d_1/depthwise_kernel",
                     "separable_conv2d_1/pointwise_kernel"]
    with session(g, backend) as sess:
        sess.run(tf.global_variables_initializer())
        yv, y2v, z1v, z2v = sess.run([y, y2, z1, z2], {x: xv})
        with g.as_default():
            vals = dict(zip(names, sess.run(sorted(tf.trainable_variables(),
                                                   key=lambda v: v.op.name))))
    assert vals["separable_conv2d/depthwise_kernel"].shape == (3, 3, 3, 2)
    assert vals["separable_conv2d/pointwise_kernel"].shape == (1, 1, 6, 4)
    want = np.maximum(_jax_separable(xv, vals["separable_conv2d/depthwise_kernel"],
                                     vals["separable_conv2d/pointwise_kernel"], (1, 1),
                                     "SAME"), 0)
    np.testing.assert_allclose(yv, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(yv, y2v)                      # the same variables
    np.testing.assert_allclose(z2v, _jax_separable(
        2 * xv, vals["separable_conv2d_1/depthwise_kernel"],
        vals["separable_conv2d_1/pointwise_kernel"], (2, 2), "VALID"), rtol=1e-5, atol=1e-5)
    assert z1v.shape == (2, 3, 3, 5)


def test_a_depthwise_conv_after_relu_is_one_loop_kernel():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 8, 8, 4])
        w = tf.placeholder(tf.float32, [3, 3, 4, 2])
        y = tf.nn.depthwise_conv2d(tf.nn.relu(x), w, [1, 1, 1, 1], "SAME")
        assert _kinds([y], [x, w]) == ["loop"]
        # training: the forward kernel, one fold (input) and one reduction (filter)
        dy = tf.placeholder(tf.float32, [None, 8, 8, 8])
        assert _kinds([y] + tf.gradients(y, [x, w], dy), [x, w, dy]) == \
            ["loop", "single", "loop", "reduce"]


def _kinds(fetches, feeds):
    program = run_pipeline(convert(tf.get_default_graph(), fetches, feeds),
                           tf.CompileOptions())[0]
    return [grp.kind for grp in plan_kernels(program).groups]


def test_bad_arguments_name_the_culprit():
    at = r" at .*test_depthwise.py:\d+: "
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 5, 5, 3], name="x")
        with pytest.raises(ValueError, match="depthwise_conv2d" + at + r"the filter "
                                             r"\[3, 3, 2, 1\] expects 2 input channels"):
            tf.nn.depthwise_conv2d(x, tf.zeros([3, 3, 2, 1]), [1, 1, 1, 1], "SAME")
        with pytest.raises(ValueError, match="depthwise_conv2d" + at + r"the filter window "
                                             r"\[7, 2\].*does not fit"):
            tf.nn.depthwise_conv2d(x, tf.zeros([7, 2, 3, 1]), [1, 1, 1, 1], "VALID")
        with pytest.raises(ValueError, match="depthwise_conv2d" + at + r"strides \[2, 2\] "
                                             r"must be 1 when the rate"):
            tf.nn.depthwise_conv2d(x, tf.zeros([2, 2, 3, 1]), [1, 2, 2, 1], "SAME", rate=2)
        with pytest.raises(ValueError, match="separable_conv2d" + at + r"pointwise_filter "
                                             r"must be \[1, 1, 3, out\]"):
            tf.nn.separable_conv2d(x, tf.zeros([2, 2, 3, 1]), tf.zeros([1, 1, 4, 2]),
                                   [1, 1, 1, 1], "SAME")
        with pytest.raises(ValueError, match="depthwise_conv2d" + at + r"data_format must "
                                             r"be 'NHWC' or 'NCHW'"):
            tf.nn.depthwise_conv2d(x, tf.zeros([2, 2, 3, 1]), 1, "SAME", data_format="HWC")
