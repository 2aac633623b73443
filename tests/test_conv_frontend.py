"""TF1's convolution API (compiler/frontend/conv_ops.py, conv_layers.py) as users write it.

Values are checked against `jax.lax.conv_general_dilated` (the transposed convs and the
backprops against its vjp, which is what TF's ops compute), on the compiled default
Session (LLVM) and the interpreter; each backend compiles one graph per test.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import compiler as tf
from tests.autodiff_check import check_grads

jax.config.update("jax_enable_x64", True)

BACKENDS = ["llvm", "interpret"]
_SPATIAL = ("W", "HW", "DHW")


def _session(backend, graph=None):
    config = tf.ConfigProto(backend="interpret") if backend == "interpret" else None
    return tf.Session(graph=graph, config=config)


def jconv(x, w, strides, padding, dilation=None):
    """TF semantics in channels-last: jax's "SAME" is TF's asymmetric SAME."""
    sp = _SPATIAL[x.ndim - 3]
    return np.asarray(jax.lax.conv_general_dilated(
        x, w, strides, padding, rhs_dilation=dilation,
        dimension_numbers=("N" + sp + "C", sp + "IO", "N" + sp + "C")))


def jconv_vjp(x_shape, w, dy, strides, padding, wrt, dilation=None):
    """What TF's conv*_transpose / backprop ops compute: the vjp of the forward conv."""
    x0 = np.zeros(x_shape, w.dtype) if wrt == "input" else x_shape
    if wrt == "input":
        _, vjp = jax.vjp(lambda a: jax.lax.conv_general_dilated(
            a, w, strides, padding, rhs_dilation=dilation, dimension_numbers=_dn(w.ndim)), x0)
    else:
        _, vjp = jax.vjp(lambda b: jax.lax.conv_general_dilated(
            x0, b, strides, padding, rhs_dilation=dilation, dimension_numbers=_dn(w.ndim)), w)
    return np.asarray(vjp(dy)[0])


def _dn(rank):
    sp = _SPATIAL[rank - 3]
    return ("N" + sp + "C", sp + "IO", "N" + sp + "C")


def _nchw(a):
    return np.moveaxis(a, -1, 1)


# tf.nn ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_nn_convolutions_match_jax(backend):
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    x2, w2 = r(2, 7, 8, 3), r(3, 2, 3, 4)
    x1, w1 = r(2, 9, 3), r(3, 3, 2)
    x3, w3 = r(1, 5, 4, 6, 2), r(2, 3, 2, 2, 3)
    v2, wt2 = r(2, 4, 4, 4), r(3, 3, 3, 4)           # conv2d_transpose: value, filter
    v3, wt3 = r(1, 3, 2, 3, 3), r(2, 2, 3, 2, 3)
    cases = {}                                        # name -> (tensor, expected)
    with tf.Graph().as_default():
        xp = tf.placeholder(tf.float32, [None, 7, 8, 3])
        xn = tf.transpose(xp, [0, 3, 1, 2])
        cases["same_strided"] = (tf.nn.conv2d(xp, w2, strides=[1, 2, 3, 1], padding="SAME"),
                                 jconv(x2, w2, (2, 3), "SAME"))
        cases["same_nchw"] = (
            tf.nn.conv2d(xn, w2, [1, 1, 2, 3], "SAME", data_format="NCHW"),
            _nchw(jconv(x2, w2, (2, 3), "SAME")))
        cases["valid_dilated"] = (
            tf.nn.conv2d(xp, tf.constant(w2), strides=[1, 1, 1, 1], padding="VALID",
                         dilations=[1, 2, 2, 1]),
            jconv(x2, w2, (1, 1), "VALID", (2, 2)))
        cases["explicit"] = (
            tf.nn.conv2d(input=xp, filters=w2, strides=2, padding=[[0, 0], [1, 2], [0, 3],
                                                                    [0, 0]]),
            jconv(x2, w2, (2, 2), [(1, 2), (0, 3)]))
        cases["atrous"] = (tf.nn.atrous_conv2d(xp, w2, rate=2, padding="SAME"),
                           jconv(x2, w2, (1, 1), "SAME", (2, 2)))
        cases["convolution_2d"] = (
            tf.nn.convolution(xp, w2, "VALID", strides=[2, 1], name="conv_nd"),
            jconv(x2, w2, (2, 1), "VALID"))
        p1 = tf.placeholder(tf.float32, [None, 9, 3])
        cases["conv1d"] = (tf.nn.conv1d(value=p1, filters=w1, stride=2, padding="SAME"),
                           jconv(x1, w1, (2,), "SAME"))
        cases["conv1d_ncw"] = (
            tf.nn.conv1d(tf.transpose(p1, [0, 2, 1]), w1, 1, "VALID", data_format="NCW"),
            _nchw(jconv(x1, w1, (1,), "VALID")))
        cases["convolution_1d"] = (tf.nn.convolution(p1, w1, "SAME", dilation_rate=[2]),
                                   jconv(x1, w1, (1,), "SAME", (2,)))
        p3 = tf.placeholder(tf.float32, [None, 5, 4, 6, 2])
        cases["conv3d"] = (tf.nn.conv3d(p3, w3, [1, 2, 1, 2, 1], "SAME"),
                           jconv(x3, w3, (2, 1, 2), "SAME"))
        cases["conv3d_ncdhw"] = (
            tf.nn.conv3d(tf.transpose(p3, [0, 4, 1, 2, 3]), w3, [1, 1, 1, 1, 1], "VALID",
                         data_format="NCDHW"),
            _nchw(jconv(x3, w3, (1, 1, 1), "VALID")))
        pv = tf.placeholder(tf.float32, [None, 4, 4, 4])
        shape = tf.stack([tf.shape(pv)[0], 8, 8, 3])   # a run-time batch, as TF1 code does
        cases["transpose_same"] = (
            tf.nn.conv2d_transpose(pv, wt2, shape, strides=[1, 2, 2, 1], padding="SAME"),
            jconv_vjp((2, 8, 8, 3), wt2, v2, (2, 2), "SAME", "input"))
        cases["transpose_valid_odd"] = (
            tf.nn.conv2d_transpose(pv, wt2, [2, 9, 9, 3], [1, 2, 2, 1], "VALID"),
            jconv_vjp((2, 9, 9, 3), wt2, v2, (2, 2), "VALID", "input"))
        cases["transpose_nchw"] = (
            tf.nn.conv2d_transpose(tf.transpose(pv, [0, 3, 1, 2]), wt2, [2, 3, 8, 8],
                                   [1, 1, 2, 2], "SAME", data_format="NCHW"),
            _nchw(jconv_vjp((2, 8, 8, 3), wt2, v2, (2, 2), "SAME", "input")))
        cases["atrous_transpose"] = (
            tf.nn.atrous_conv2d_transpose(pv, wt2, [2, 8, 8, 3], rate=2, padding="VALID"),
            jconv_vjp((2, 8, 8, 3), wt2, v2, (1, 1), "VALID", "input", (2, 2)))
        pv3 = tf.placeholder(tf.float32, [1, 3, 2, 3, 3])
        cases["transpose_3d"] = (
            tf.nn.conv3d_transpose(pv3, wt3, [1, 6, 4, 5, 2], [1, 2, 2, 2, 1], "SAME"),
            jconv_vjp((1, 6, 4, 5, 2), wt3, v3, (2, 2, 2), "SAME", "input"))
        dy = jconv(x2, w2, (2, 2), "SAME")
        dyp = tf.placeholder(tf.float32, [None, 4, 4, 4])
        cases["backprop_input"] = (
            tf.nn.conv2d_backprop_input([2, 7, 8, 3], w2, dyp, [1, 2, 2, 1], "SAME"),
            jconv_vjp((2, 7, 8, 3), w2, dy, (2, 2), "SAME", "input"))
        cases["backprop_filter"] = (
            tf.nn.conv2d_backprop_filter(xp, [3, 2, 3, 4], dyp, [1, 2, 2, 1], "SAME"),
            jconv_vjp(x2, w2, dy, (2, 2), "SAME", "filter"))
        names = list(cases)
        feeds = {xp: x2, p1: x1, p3: x3, pv: v2, pv3: v3, dyp: dy}
        with _session(backend) as sess:
            got = sess.run([cases[k][0] for k in names], feeds)
    for k, value in zip(names, got):
        want = cases[k][1]
        assert value.shape == want.shape, k
        np.testing.assert_allclose(value, want, rtol=1e-4, atol=1e-4, err_msg=k)
    assert cases["same_strided"][0].name == "Conv2D:0"
    assert cases["convolution_2d"][0].name == "conv_nd:0"


def _through_frontend(x, w, wt, s, k):
    """conv2d NCHW SAME stride 2 -> tanh -> conv2d_transpose (run-time batch in
    output_shape) and a dilated conv1d, flattened into one output."""
    y = tf.tanh(tf.nn.conv2d(x, w, [1, 1, 2, 2], "SAME", data_format="NCHW"))
    up = tf.nn.conv2d_transpose(y, wt, tf.stack([tf.shape(x)[0], 2, 7, 5]), [1, 1, 2, 2],
                                "SAME", data_format="NCHW")
    z = tf.nn.conv1d(s, k, 1, "VALID", dilations=2)
    return tf.concat([tf.reshape(up, [-1]), tf.reshape(z, [-1])], axis=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_through_the_frontend_finite_differences(backend):
    check_grads(_through_frontend,
                [dict(shape=[None, 3, 7, 5], feed=[2, 3, 7, 5]), ((3, 3, 3, 4), -1, 1),
                 ((2, 3, 2, 4), -1, 1), dict(shape=[None, 8, 2], feed=[2, 8, 2]),
                 ((3, 2, 3), -1, 1)], backend)


# the classic TF1 CNN, as written in the tutorials ----------------------------------------
def _classic_graph():
    x = tf.placeholder(tf.float32, [None, 144])
    y_ = tf.placeholder(tf.float32, [None, 3])
    x_image = tf.reshape(x, [-1, 12, 12, 1])
    W_conv1 = tf.Variable(tf.truncated_normal([5, 5, 1, 4], stddev=0.1))
    b_conv1 = tf.Variable(tf.constant(0.1, shape=[4]))
    h_conv1 = tf.nn.relu(tf.nn.conv2d(x_image, W_conv1, strides=[1, 1, 1, 1],
                                      padding="SAME") + b_conv1)
    W_conv2 = tf.Variable(tf.truncated_normal([3, 3, 4, 8], stddev=0.1))
    b_conv2 = tf.Variable(tf.constant(0.1, shape=[8]))
    h_conv2 = tf.nn.relu(tf.nn.conv2d(h_conv1, W_conv2, strides=[1, 2, 2, 1],
                                      padding="SAME") + b_conv2)
    h_flat = tf.reshape(h_conv2, [-1, 6 * 6 * 8])
    W_fc = tf.Variable(tf.truncated_normal([6 * 6 * 8, 3], stddev=0.1))
    b_fc = tf.Variable(tf.constant(0.1, shape=[3]))
    logits = tf.matmul(h_flat, W_fc) + b_fc
    cross_entropy = tf.reduce_mean(
        tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=logits))
    train_step = tf.train.GradientDescentOptimizer(0.05).minimize(cross_entropy)
    params = [W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc]
    return x, y_, cross_entropy, train_step, params


def _jax_loss(params, x, y):
    w1, b1, w2, b2, wf, bf = params
    h = jax.nn.relu(jax.lax.conv_general_dilated(x.reshape(-1, 12, 12, 1), w1, (1, 1), "SAME",
                                                 dimension_numbers=_dn(4)) + b1)
    h = jax.nn.relu(jax.lax.conv_general_dilated(h, w2, (2, 2), "SAME",
                                                 dimension_numbers=_dn(4)) + b2)
    logits = h.reshape(-1, 288) @ wf + bf
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_classic_tf1_cnn_trains_like_jax(backend):
    """`tf.nn.relu(tf.nn.conv2d(x, W, ...) + b)` twice, a dense layer, softmax
    cross-entropy and GradientDescentOptimizer: one step's new weights equal the jax
    SGD step from the same weights; later steps lower the loss."""
    rng = np.random.default_rng(1)
    xs = rng.uniform(0, 1, (8, 144)).astype(np.float32)
    ys = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        x, y_, loss, train_step, params = _classic_graph()
        with _session(backend) as sess:
            sess.run(tf.global_variables_initializer())
            before = sess.run(params)
            loss0, _ = sess.run([loss, train_step], {x: xs, y_: ys})
            after = sess.run(params)
            for _ in range(5):
                loss5, _ = sess.run([loss, train_step], {x: xs, y_: ys})   # one compile
    p64 = [np.float64(p) for p in before]
    want_loss, grads = jax.value_and_grad(_jax_loss)(p64, np.float64(xs), np.float64(ys))
    np.testing.assert_allclose(loss0, want_loss, rtol=1e-5)
    for p, gr, a in zip(p64, grads, after):
        np.testing.assert_allclose(a, p - 0.05 * np.asarray(gr), rtol=1e-4, atol=1e-5)
    assert loss5 < loss0


# tf.layers / tf.contrib.layers ------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_layers_conv2d_training_graph(backend):
    """tf.layers.conv2d / conv2d_transpose / dense with a `training` dropout: variable
    names as TF1's, outputs equal to jax with the layer's own weights, loss goes down."""
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((4, 8, 8, 2)).astype(np.float32)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        x = tf.placeholder(tf.float32, [None, 8, 8, 2])
        training = tf.placeholder_with_default(False, [])
        h1 = tf.layers.conv2d(x, 4, 3, padding="same", activation=tf.nn.relu)
        h2 = tf.layers.conv2d(h1, 6, [3, 3], strides=(2, 2), name="down")
        up = tf.layers.conv2d_transpose(h2, 2, 4, strides=2)   # 3*2 + (4-2) = 8
        h = tf.layers.dropout(tf.reshape(h2, [-1, 3 * 3 * 6]), 0.3, training=training)
        out = tf.layers.dense(h, 1)
        loss = tf.reduce_mean(tf.square(out)) + tf.reduce_mean(tf.square(up - x))
        step = tf.train.AdamOptimizer(0.01).minimize(loss)
        names = [v.name for v in tf.trainable_variables()]
        assert names == ["conv2d/kernel:0", "conv2d/bias:0", "down/kernel:0", "down/bias:0",
                         "conv2d_transpose/kernel:0", "conv2d_transpose/bias:0",
                         "dense/kernel:0", "dense/bias:0"]
        assert up.shape.as_list() == [None, 8, 8, 2]
        with _session(backend) as sess:
            sess.run(tf.global_variables_initializer())
            (k1, b1, k2, b2, kt, bt), got_h2, got_up, loss0 = sess.run(
                [tf.trainable_variables()[:6], h2, up, loss], {x: xs})
            for _ in range(8):
                sess.run(step, {x: xs, training: True})
            loss8 = sess.run(loss, {x: xs})
    want_h1 = np.maximum(jconv(xs, k1, (1, 1), "SAME") + b1, 0)
    want_h2 = jconv(want_h1, k2, (2, 2), "VALID") + b2
    np.testing.assert_allclose(got_h2, want_h2, rtol=1e-4, atol=1e-4)
    want_up = jconv_vjp((4, 8, 8, 2), kt, want_h2, (2, 2), "VALID", "input") + bt
    np.testing.assert_allclose(got_up, want_up, rtol=1e-4, atol=1e-4)
    assert loss8 < loss0


def test_layer_objects_names_reuse_and_formats():
    """Classes reuse their variables; functions with name + reuse share them; default
    names count like TF1's; regularizers feed REGULARIZATION_LOSSES; channels_first is
    channels_last transposed; contrib.layers.conv2d's Conv/weights, relu, normalizer_fn."""
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 6, 6, 3])
        layer = tf.layers.Conv2D(5, 3, padding="same", name="shared",
                                 kernel_regularizer=lambda w: tf.reduce_sum(w * w))
        a, b = layer(x), layer.apply(x)
        assert layer.kernel.name == "shared/kernel:0" and len(layer.trainable_weights) == 2
        c = tf.layers.conv2d(x, 5, 3, padding="same", name="shared", reuse=True)
        first = tf.layers.conv2d(tf.transpose(x, [0, 3, 1, 2]), 5, 3, padding="SAME",
                                 data_format="channels_first", name="shared", reuse=True)
        assert first.shape.as_list() == [None, 5, 6, 6]
        tf.layers.conv1d(tf.zeros([1, 5, 2]), 2, 2)
        tf.layers.conv1d(tf.zeros([1, 5, 2]), 2, 2)
        tf.layers.conv3d(tf.zeros([1, 3, 3, 3, 1]), 2, 2, dilation_rate=2, padding="same")
        tf.layers.Conv3DTranspose(2, 2, strides=2)(tf.zeros([1, 2, 2, 2, 1]))
        k = tf.contrib.layers.conv2d(x, 4, [3, 3], stride=2)
        tf.contrib.layers.convolution2d(x, 4, 3, normalizer_fn=lambda t: t * 2.0,
                                        activation_fn=None)
        tf.contrib.layers.conv2d_transpose(k, 2, 2, stride=2, padding="VALID")
        names = [v.name for v in tf.global_variables()]
        assert names == ["shared/kernel:0", "shared/bias:0", "conv1d/kernel:0",
                         "conv1d/bias:0", "conv1d_1/kernel:0", "conv1d_1/bias:0",
                         "conv3d/kernel:0", "conv3d/bias:0", "conv3d_transpose/kernel:0",
                         "conv3d_transpose/bias:0", "Conv/weights:0", "Conv/biases:0",
                         "Conv_1/weights:0", "Conv2d_transpose/weights:0",
                         "Conv2d_transpose/biases:0"]
        assert tf.global_variables()[9].shape.as_list() == [2]
        assert tf.global_variables()[8].shape.as_list() == [2, 2, 2, 2, 1]
        assert len(tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)) == 1
        with _session("interpret") as sess:
            sess.run(tf.global_variables_initializer())
            va, vb, vc, vf, vk, w = sess.run([a, b, c, first, k, "Conv/weights:0"], {x: xs})
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(va, vc)
    np.testing.assert_allclose(vf, _nchw(va), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vk, np.maximum(jconv(xs, w, (2, 2), "SAME"), 0), rtol=1e-4,
                               atol=1e-4)


# errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, match", [
    (lambda x, w: tf.nn.conv2d(tf.zeros([2, 8, 8]), w, [1, 1, 1, 1], "SAME"), ValueError,
     r"Conv2D at test_conv_frontend.py:\d+: the input 'zeros.*' must be 4-D, got shape "
     r"\[2, 8, 8\]"),
    (lambda x, w: tf.nn.conv2d(x, tf.zeros([3, 3, 2, 4]), [1, 1, 1, 1], "SAME"), ValueError,
     r"input 'x:0' \[None, 8, 8, 3\] has 3 channels but the filter 'zeros.*' \[3, 3, 2, 4\] "
     r"expects 2"),
    (lambda x, w: tf.nn.conv2d(x, w, [1, 1, 1], "SAME"), ValueError,
     r"strides must be an int or a list of 1, 2 or 4 ints, got \[1, 1, 1\]"),
    (lambda x, w: tf.nn.conv2d(x, w, [2, 1, 1, 1], "SAME"), ValueError,
     r"strides \[2, 1, 1, 1\] must be 1 in the batch and channel dimensions"),
    (lambda x, w: tf.nn.conv2d(x, w, [1, 0, 1, 1], "SAME"), ValueError, "positive"),
    (lambda x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "same"), ValueError,
     r"padding must be 'SAME', 'VALID' or a list of 4 \(lo, hi\) pairs, got 'same'"),
    (lambda x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], [[1, 1], [1, 1], [1, 1], [0, 0]]),
     ValueError, r"\(0, 0\) on the batch and channel"),
    (lambda x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME", data_format="NWHC"), ValueError,
     r"data_format must be 'NHWC' or 'NCHW', got 'NWHC'"),
    (lambda x, w: tf.nn.conv2d(x, tf.zeros([9, 9, 3, 4]), [1, 1, 1, 1], "VALID"), ValueError,
     r"the input 'x:0' \[None, 8, 8, 3\] is smaller than the filter"),
    (lambda x, w: tf.nn.conv2d(x, tf.zeros([3, 3, 3, 4], tf.float64), 1, "SAME"), TypeError,
     r"float32.*float64.*same float dtype"),
    (lambda x, w: tf.nn.conv2d(tf.placeholder(tf.float32, [None, None, 8, 3]), w, 1, "SAME"),
     ValueError, r"must have spatial and channel extents known"),
    (lambda x, w: tf.nn.conv1d(tf.zeros([1, 5, 3]), tf.zeros([2, 3, 1]), None, "SAME"),
     TypeError, r"conv1d at .*: strides is required"),
    (lambda x, w: tf.nn.conv2d_transpose(tf.zeros([1, 4, 4, 4]), w, [1, 9, 9, 3],
                                         [1, 2, 2, 1], "SAME"), ValueError,
     r"conv2d_transpose at .*: a conv of an input \[1, 9, 9, 3\].* has spatial extents "
     r"\[5, 5\], but 'zeros.*' has \[1, 4, 4, 4\]"),
    (lambda x, w: tf.nn.conv2d_transpose(tf.zeros([1, 4, 4, 5]), w, [1, 8, 8, 3],
                                         [1, 2, 2, 1], "SAME"), ValueError,
     r"maps 3 channels to 4, but output_shape has 3 channels and the value .* has 5"),
    (lambda x, w: tf.nn.conv2d_transpose(tf.zeros([1, 4, 4, 4]), w,
                                         tf.placeholder(tf.int32, [4]), [1, 2, 2, 1], "SAME"),
     ValueError, r"output_shape must be 4 dims known when the graph is built"),
    (lambda x, w: tf.layers.conv2d(x, 4, 3, padding="full"), ValueError,
     r"conv2d at .*: padding must be 'valid' or 'same', got 'full'"),
    (lambda x, w: tf.layers.conv2d(x, 4, 3, data_format="NHWC"), ValueError,
     r"data_format must be 'channels_last' or 'channels_first', got 'NHWC'"),
    (lambda x, w: tf.layers.conv2d(x, 4, (3, 3, 3)), ValueError,
     r"kernel_size must be a positive int or 2 of them, got \(3, 3, 3\)"),
    (lambda x, w: tf.layers.conv2d(tf.zeros([8, 3]), 4, 3), ValueError,
     r"the input 'zeros.*' must be 4-D, got shape \[8, 3\]"),
])
def test_errors_name_the_culprit(call, error, match):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 8, 8, 3], name="x")
        w = tf.zeros([3, 3, 3, 4])
        with pytest.raises(error, match=match):
            call(x, w)
