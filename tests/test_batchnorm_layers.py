"""tf.layers.batch_normalization / BatchNormalization and tf.contrib.layers.batch_norm
(compiler/frontend/norm_layers.py): TF1's variable names and collections, the UPDATE_OPS
training idiom over several steps against a numpy replay of the moving averages (with
the fused kernel's Bessel-corrected variance on 4-D inputs and the biased one elsewhere),
training as a placeholder, inference with the moving averages; tf.layers.flatten,
tf.contrib.layers.flatten and tf.layers.dropout on 4-D inputs with a symbolic batch. Both
the compiled Session (LLVM) and the interpreter."""

import numpy as np
import pytest

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["llvm", "interpret"]
RNG = np.random.default_rng(11)


def _session(backend):
    return tf.Session(config=tf.ConfigProto(backend=backend))


def _names(variables):
    return [v.name for v in variables]


def test_variable_names_collections_and_reuse():
    x = tf.placeholder(tf.float32, [None, 4, 4, 3])
    tf.layers.batch_normalization(x, training=True)
    tf.layers.batch_normalization(x, training=False, center=False)
    tf.layers.batch_normalization(x, training=True, scale=False, name="bn")
    tf.layers.batch_normalization(x, training=True, scale=False, name="bn", reuse=True)
    assert _names(tf.global_variables()) == [
        "batch_normalization/gamma:0", "batch_normalization/beta:0",
        "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0",
        "batch_normalization_1/gamma:0", "batch_normalization_1/moving_mean:0",
        "batch_normalization_1/moving_variance:0", "bn/beta:0", "bn/moving_mean:0",
        "bn/moving_variance:0"]
    assert _names(tf.trainable_variables()) == [
        "batch_normalization/gamma:0", "batch_normalization/beta:0",
        "batch_normalization_1/gamma:0", "bn/beta:0"]
    # training=False adds no update; each training call adds two
    assert _names(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == [
        "batch_normalization/AssignMovingAvg:0", "batch_normalization/AssignMovingAvg_1:0",
        "bn/AssignMovingAvg:0", "bn/AssignMovingAvg_1:0", "bn_1/AssignMovingAvg:0",
        "bn_1/AssignMovingAvg_1:0"]
    with pytest.raises(ValueError, match="bn/beta already exists"):
        tf.layers.batch_normalization(x, scale=False, name="bn")
    layer = tf.layers.BatchNormalization(name="shared", trainable=False)
    layer(x, training=True)
    layer.apply(x, training=True)
    assert _names(layer.variables) == ["shared/gamma:0", "shared/beta:0",
                                       "shared/moving_mean:0", "shared/moving_variance:0"]
    assert layer.trainable_variables == [] and len(layer.updates) == 4
    assert "shared/gamma:0" not in _names(tf.trainable_variables())
    assert len(tf.global_variables()) == 14


def _replay(moving, batch, decay):
    """TF1's assign_sub(moving, (moving - batch) * decay), in float32."""
    moving = moving.astype(np.float32)
    return moving - (moving - batch.astype(np.float32)) * decay


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_ops_idiom_matches_numpy_replay(backend):
    """A conv-free classifier as TF1 users write it: batch norm on a 4-D NHWC input
    (fused kernel: Bessel-corrected moving variance) and on a dense layer's output
    (non-fused: biased), `training` fed through a placeholder, updates run through
    `control_dependencies(get_collection(UPDATE_OPS))`."""
    tf.set_random_seed(1)
    x = tf.placeholder(tf.float32, [None, 4, 4, 3], name="x")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    training = tf.placeholder_with_default(False, [], name="training")
    h = tf.layers.batch_normalization(x, training=training, momentum=0.9)
    flat = tf.layers.flatten(tf.nn.relu(h))
    d = tf.layers.dense(flat, 5)
    h2 = tf.layers.batch_normalization(d, training=training, momentum=0.8, epsilon=0.01)
    logits = tf.layers.dense(tf.nn.relu(h2), 3)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits))
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        train_op = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    mm1, mv1, mm2, mv2 = [tf.get_default_graph().get_tensor_by_name(n) for n in (
        "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0",
        "batch_normalization_1/moving_mean:0", "batch_normalization_1/moving_variance:0")]
    fused_decay = np.float32(1.0) - np.float32(0.9)  # TF1: momentum as a float32 tensor
    plain_decay = np.float32(1.0 - 0.8)  # TF1: 1 - momentum in Python
    want = [np.zeros(3, np.float32), np.ones(3, np.float32), np.zeros(5, np.float32),
            np.ones(5, np.float32)]
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            xv = RNG.uniform(-1, 2, (6, 4, 4, 3)).astype(np.float32)
            yv = RNG.integers(0, 3, 6)
            _, dv = sess.run([train_op, d], {x: xv, labels: yv, training: True})
            flat_x = xv.reshape(-1, 3).astype(np.float64)
            want[0] = _replay(want[0], flat_x.mean(0), fused_decay)
            want[1] = _replay(want[1], flat_x.var(0, ddof=1), fused_decay)  # n / (n - 1)
            want[2] = _replay(want[2], dv.mean(0), plain_decay)
            want[3] = _replay(want[3], dv.var(0), plain_decay)  # biased
            got = sess.run([mm1, mv1, mm2, mv2])
            for name, g, w in zip(["mean1", "var1", "mean2", "var2"], got, want):
                np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-7, err_msg=name)
        # inference: the moving averages normalize, and the update ops change nothing
        xv = RNG.uniform(-1, 2, (2, 4, 4, 3)).astype(np.float32)
        hv, after = sess.run([h, [mm1, mv1, mm2, mv2]] + update_ops, {x: xv})[:2]
        gamma, beta = sess.run(["batch_normalization/gamma:0", "batch_normalization/beta:0"])
        decays = sess.run(["batch_normalization/AssignMovingAvg/decay:0",
                           "batch_normalization_1/AssignMovingAvg/decay:0"], {training: True})
    assert decays[0] == fused_decay and decays[1] == plain_decay  # exactly, as TF1 rounds
    for g, w in zip(after, want):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(hv, (xv - want[0]) / np.sqrt(want[1] + 1e-3) * gamma + beta,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_bool_training_fused_and_nonfused(backend):
    """training=True/False as Python bools; fused=False on a 4-D input takes the
    non-fused path (biased variance); an NCHW layer (axis=1); a 3-D input (non-fused)."""
    x = tf.placeholder(tf.float64, [None, 2, 3, 4])
    y_f = tf.layers.batch_normalization(x, axis=1, training=True, name="nchw")
    y_n = tf.layers.batch_normalization(x, training=True, fused=False, name="plain")
    y_3 = tf.layers.batch_normalization(tf.reshape(x, [-1, 6, 4]), training=True, name="r3")
    y_i = tf.layers.batch_normalization(x, training=False, name="infer",
                                        moving_mean_initializer=tf.constant_initializer(0.5),
                                        moving_variance_initializer=tf.constant_initializer(2.0))
    y_m = tf.layers.batch_normalization(x, axis=[1, 3], training=True, name="multi")
    gamma = tf.get_default_graph().get_tensor_by_name("multi/gamma:0")
    assert gamma.shape.as_list() == [1, 2, 1, 4]
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 8
    names = ["nchw/moving_variance:0", "plain/moving_variance:0", "r3/moving_variance:0",
             "multi/moving_variance:0"]
    xv = RNG.uniform(-1, 1, (3, 2, 3, 4))
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        outs = sess.run([y_f, y_n, y_3, y_i, y_m], {x: xv})
        sess.run(tf.get_collection(tf.GraphKeys.UPDATE_OPS), {x: xv})
        mvs = sess.run(names)
    red = (0, 2, 3)
    want_f = (xv - xv.mean(red, keepdims=True)) / np.sqrt(xv.var(red, keepdims=True) + 1e-3)
    np.testing.assert_allclose(outs[0], want_f, atol=1e-10)
    r = (0, 1, 2)
    want_n = (xv - xv.mean(r)) / np.sqrt(xv.var(r) + 1e-3)
    np.testing.assert_allclose(outs[1], want_n, atol=1e-10)
    np.testing.assert_allclose(outs[2], want_n.reshape(-1, 6, 4), atol=1e-10)
    np.testing.assert_allclose(outs[3], (xv - 0.5) / np.sqrt(2.0 + 1e-3), atol=1e-12)
    # float64 is not a fused dtype in TF1, so even the NCHW layer is non-fused: biased
    np.testing.assert_allclose(mvs[0], 0.99 + 0.01 * xv.var(red), rtol=1e-12)
    np.testing.assert_allclose(mvs[1], 0.99 + 0.01 * xv.var(r), rtol=1e-12)
    np.testing.assert_allclose(mvs[2], 0.99 + 0.01 * xv.var(r), rtol=1e-12)
    m2 = (0, 2)  # axis=[1, 3]: statistics over N and W, parameters [1, 2, 1, 4]
    want_m = (xv - xv.mean(m2, keepdims=True)) / np.sqrt(xv.var(m2, keepdims=True) + 1e-3)
    np.testing.assert_allclose(outs[4], want_m, atol=1e-10)
    np.testing.assert_allclose(mvs[3], 0.99 + 0.01 * xv.var(m2, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_contrib_batch_norm(backend):
    x4 = tf.placeholder(tf.float32, [None, 2, 2, 3], name="x4")
    x2 = tf.placeholder(tf.float32, [None, 3], name="x2")
    is_training = tf.placeholder(tf.bool, [], name="is_training")
    a = tf.contrib.layers.batch_norm(x4, is_training=is_training)  # UPDATE_OPS, fused layer
    b = tf.contrib.layers.batch_norm(x2, updates_collections=None, scale=True,
                                     activation_fn=tf.nn.relu, scope="dense_bn")
    c = tf.contrib.layers.batch_norm(tf.reshape(x4, [-1, 4, 3]), updates_collections=None,
                                     decay=0.9)
    assert _names(tf.global_variables()) == [
        "BatchNorm/beta:0", "BatchNorm/moving_mean:0", "BatchNorm/moving_variance:0",
        "dense_bn/gamma:0", "dense_bn/beta:0", "dense_bn/moving_mean:0",
        "dense_bn/moving_variance:0", "BatchNorm_1/beta:0", "BatchNorm_1/moving_mean:0",
        "BatchNorm_1/moving_variance:0"]
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2  # only a's
    x4v = RNG.uniform(-1, 1, (3, 2, 2, 3)).astype(np.float32)
    x2v = RNG.uniform(-1, 1, (5, 3)).astype(np.float32)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        av, bv, cv = sess.run([a, b, c], {x4: x4v, x2: x2v, is_training: True})
        sess.run(tf.get_collection(tf.GraphKeys.UPDATE_OPS), {x4: x4v, is_training: False})
        mv_a0 = sess.run("BatchNorm/moving_variance:0")
        sess.run(tf.get_collection(tf.GraphKeys.UPDATE_OPS), {x4: x4v, is_training: True})
        mv = sess.run(["BatchNorm/moving_variance:0", "dense_bn/moving_variance:0",
                       "BatchNorm_1/moving_variance:0", "BatchNorm_1/moving_mean:0"])
    f4 = x4v.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(av, ((f4 - f4.mean(0)) / np.sqrt(f4.var(0) + 1e-3)).reshape(
        x4v.shape), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bv, np.maximum((x2v - x2v.mean(0)) / np.sqrt(x2v.var(0) + 1e-3),
                                              0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cv.reshape(-1, 3), (f4 - f4.mean(0)) / np.sqrt(f4.var(0) + 1e-3),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mv_a0, 1.0)  # is_training False: no change
    decay = np.float32(1) - np.float32(0.999)
    np.testing.assert_allclose(mv[0], _replay(np.ones(3), f4.var(0, ddof=1), decay), rtol=1e-6)
    # updates_collections=None: the updates ran with the output, in place (2-D: fused,
    # Bessel-corrected; 3-D: non-fused, biased)
    np.testing.assert_allclose(mv[1], _replay(np.ones(3), x2v.astype(np.float64).var(0, ddof=1),
                                              np.float32(1.0 - 0.999)), rtol=1e-6)
    np.testing.assert_allclose(mv[2], _replay(np.ones(3), f4.var(0), np.float32(1.0 - 0.9)),
                               rtol=1e-6)
    np.testing.assert_allclose(mv[3], _replay(np.zeros(3), f4.mean(0), np.float32(1.0 - 0.9)),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flatten_and_dropout_on_nhwc_with_symbolic_batch(backend):
    x = tf.placeholder(tf.float32, [None, 3, 2, 4])
    keep = tf.placeholder_with_default(False, [])
    f1 = tf.layers.flatten(x)
    f2 = tf.contrib.layers.flatten(x)
    f3 = tf.layers.flatten(tf.transpose(x, [0, 3, 1, 2]), data_format="channels_first")
    d_off = tf.layers.dropout(x, rate=0.5, training=False)
    d_ph = tf.layers.dropout(x, rate=0.5, training=keep)
    assert f1.shape.as_list() == f2.shape.as_list() == [None, 24]
    xv = RNG.uniform(1, 2, (5, 3, 2, 4)).astype(np.float32)
    with _session(backend) as sess:
        v1, v2, v3, off, ph_off = sess.run([f1, f2, f3, d_off, d_ph], {x: xv})
        ph_on = sess.run(d_ph, {x: xv, keep: True})
    for v in (v1, v2, v3):
        np.testing.assert_array_equal(v, xv.reshape(5, 24))
    np.testing.assert_array_equal(off, xv)
    np.testing.assert_array_equal(ph_off, xv)
    kept = ph_on != 0
    assert ph_on.shape == xv.shape and 0 < kept.mean() < 1
    np.testing.assert_allclose(ph_on[kept], 2 * xv[kept], rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_inputs_use_float32_statistics(backend):
    x = tf.placeholder(tf.float16, [None, 2, 2, 3])
    training = tf.placeholder(tf.bool, [])
    ys = [tf.layers.batch_normalization(x, training=training),
          tf.layers.batch_normalization(x, training=True, fused=False),
          tf.contrib.layers.batch_norm(x, is_training=training)]
    assert [y.dtype for y in ys] == [tf.float16] * 3
    assert tf.get_default_graph().get_tensor_by_name("BatchNorm/moving_mean:0").dtype \
        == tf.float32
    xv = RNG.uniform(-1, 1, (4, 2, 2, 3)).astype(np.float16)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(ys, {x: xv, training: True})
        sess.run(tf.get_collection(tf.GraphKeys.UPDATE_OPS), {x: xv, training: True})
        mv = sess.run("batch_normalization/moving_variance:0")
    f = xv.reshape(-1, 3).astype(np.float64)
    want = ((f - f.mean(0)) / np.sqrt(f.var(0) + 1e-3)).reshape(xv.shape)
    for y in got:
        np.testing.assert_allclose(y.astype(np.float64), want, atol=3e-3)
    np.testing.assert_allclose(mv, 0.99 + 0.01 * f.var(0, ddof=1), rtol=1e-5)


def test_errors_name_the_culprit():
    x = tf.placeholder(tf.float32, [None, 4, 4, 3], name="img")
    with pytest.raises(ValueError, match="BatchNormalization: axis 4 is out of range"):
        tf.layers.batch_normalization(x, axis=4)
    with pytest.raises(ValueError, match="axis 3 of input 'c:0' .* must have a static size"):
        tf.layers.batch_normalization(tf.placeholder(tf.float32, [2, 2, 2, None], name="c"))
    with pytest.raises(TypeError, match="input 'i:0' must be a float tensor, got int32"):
        tf.layers.batch_normalization(tf.placeholder(tf.int32, [2, 3], name="i"))
    with pytest.raises(TypeError, match="'u:0' has unknown rank"):
        tf.layers.batch_normalization(tf.placeholder(tf.float32, name="u"))
    with pytest.raises(TypeError, match="training must be a Python bool or a bool scalar "
                                        "tensor, got 'flag:0' of type float32"):
        tf.layers.batch_normalization(x, training=tf.placeholder(tf.float32, [], name="flag"))
    with pytest.raises(NotImplementedError, match="renorm is not supported"):
        tf.layers.batch_normalization(x, renorm=True)
    with pytest.raises(ValueError, match="batch_norm: data_format must be 'NHWC' or 'NCHW'"):
        tf.contrib.layers.batch_norm(x, data_format="HWC")
    with pytest.raises(ValueError, match="flatten: the dims after the batch dim must be "
                                         "static"):
        tf.layers.flatten(tf.placeholder(tf.float32, [None, None, 3]))
    assert tf.global_variables() == []  # no failed call left variables behind
