"""Small TF1 API: clip_by_norm, global_norm, clip_by_global_norm, nn.in_top_k, arg_max/
arg_min, to_* casts, InteractiveSession, get_collection_ref, __version__, compat strings —
each in the TF1 idiom, against numpy transcriptions of TF1's formulas, on both backends."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_check import check_grads

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")
jax.config.update("jax_enable_x64", True)

BACKENDS = ["interpret", "llvm"]


def _session(backend):
    return tf.Session(config=tf.ConfigProto(backend=backend))


# numpy references (TF1's clip_ops.py and InTopK kernel) ---------------------------------
def ref_clip_by_norm(t, c, axes=None):
    norm = np.sqrt(np.sum(t * t, axis=axes, keepdims=True))
    return t * c / np.maximum(norm, c)


def ref_clip_by_global_norm(ts, c):
    norm = np.sqrt(sum(np.sum(t * t) for t in ts if t is not None))
    return [None if t is None else t * c / max(norm, c) for t in ts], norm


def ref_in_top_k(pred, targets, k):
    out = []
    for row, t in zip(pred, targets):
        if not 0 <= t < row.shape[0] or not np.isfinite(row[t]):
            out.append(False)
            continue
        out.append(int(np.sum(row > row[t])) < k)
    return np.array(out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_by_global_norm_tf1_idiom(backend):
    rng = np.random.default_rng(0)
    w = tf.Variable(rng.standard_normal((3, 4)).astype(np.float32), name="w")
    b = tf.Variable(rng.standard_normal(4).astype(np.float32), name="b")
    x = tf.placeholder(tf.float32, [None, 3])
    loss = tf.reduce_sum(tf.square(tf.matmul(x, w) + b))
    tvars = tf.trainable_variables()
    grads, norm = tf.clip_by_global_norm(tf.gradients(loss, tvars), 5.0)
    train_op = tf.train.GradientDescentOptimizer(0.01).apply_gradients(zip(grads, tvars))
    xs = rng.standard_normal((8, 3)).astype(np.float32)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        w0, b0 = sess.run([w, b])
        err = xs @ w0 + b0
        raw = [2 * xs.T @ err, 2 * err.sum(0)]
        want, want_norm = ref_clip_by_global_norm(raw, 5.0)
        got_grads, got_norm = sess.run([grads, norm], {x: xs})
        np.testing.assert_allclose(got_norm, want_norm, rtol=1e-5)
        assert want_norm > 5.0  # the clip is active
        for g, e in zip(got_grads, want):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
        sess.run(train_op, {x: xs})
        np.testing.assert_allclose(sess.run(w), w0 - 0.01 * want[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_by_global_norm_none_small_norm_and_use_norm(backend):
    a = np.array([0.3, -0.4], np.float64)
    c = np.array([[0.1]], np.float64)
    clipped, norm = tf.clip_by_global_norm([tf.constant(a), None, tf.constant(c)], 5.0)
    assert clipped[1] is None and len(clipped) == 3
    forced, _ = tf.clip_by_global_norm([tf.constant(a)], 1.0, use_norm=tf.constant(4.0, tf.float64))
    inf, inf_norm = tf.clip_by_global_norm([tf.constant([np.inf, 1.0])], 1.0)
    with _session(backend) as sess:
        got = sess.run([clipped[0], clipped[2], norm, forced[0], inf[0], inf_norm])
    np.testing.assert_allclose(got[0], a)  # norm 0.51 < 5: unchanged
    np.testing.assert_allclose(got[1], c)
    np.testing.assert_allclose(got[2], np.sqrt(0.26))
    np.testing.assert_allclose(got[3], a / 4.0)
    assert np.all(np.isnan(got[4])) and got[5] == np.inf  # TF1: NaN when the norm is inf


def test_clip_by_global_norm_bad_input_names_the_op():
    with pytest.raises(TypeError, match="clip_by_global_norm"):
        tf.clip_by_global_norm(tf.constant([1.0]), 1.0)
    with pytest.raises(ValueError, match="global_norm"):
        tf.clip_by_global_norm([None], 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("axes", [None, [1], [0]])
def test_clip_by_norm(backend, axes):
    rng = np.random.default_rng(1)
    t = (3 * rng.standard_normal((4, 5))).astype(np.float32)
    t[1] = 0.0  # a zero row: no NaN
    x = tf.placeholder(tf.float32, [None, 5])
    y = tf.clip_by_norm(x, 2.0, axes=axes)
    with _session(backend) as sess:
        got = sess.run(y, {x: t})
    np.testing.assert_allclose(got, ref_clip_by_norm(t, 2.0, None if axes is None else
                                                     tuple(axes)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_gradients_by_finite_differences(backend):
    check_grads(lambda x: tf.clip_by_norm(x, 1.5, axes=[1]), [((3, 4), -2.0, 2.0)], backend)
    check_grads(lambda x, y: tf.clip_by_global_norm([x, y], 1.0)[0][0] * 2.0
                + tf.reduce_sum(tf.clip_by_global_norm([x, y], 1.0)[0][1]),
                [((2, 3), -1.0, 1.0), ((3,), -1.0, 1.0)], backend)


def test_clip_gradients_match_jax():
    rng = np.random.default_rng(2)
    t = rng.standard_normal((3, 4))
    u = rng.standard_normal(4)
    x = tf.placeholder(tf.float64, [3, 4])
    v = tf.placeholder(tf.float64, [4])
    clipped, _ = tf.clip_by_global_norm([x, v], 1.0)
    loss = tf.reduce_sum(tf.clip_by_norm(x, 0.7, axes=[0]) * 3.0) + tf.reduce_sum(
        clipped[0] * clipped[0]) + tf.reduce_sum(clipped[1])
    grads = tf.gradients(loss, [x, v])

    def jax_loss(a, b):
        n = jnp.sqrt(jnp.sum(a * a, axis=0, keepdims=True))
        cn = a * 0.7 / jnp.maximum(n, 0.7)
        g = jnp.sqrt(jnp.sum(a * a) + jnp.sum(b * b))
        s = 1.0 * jnp.minimum(1.0 / g, 1.0)
        return jnp.sum(cn * 3.0) + jnp.sum((a * s) ** 2) + jnp.sum(b * s)

    want = jax.grad(jax_loss, argnums=(0, 1))(jnp.asarray(t), jnp.asarray(u))
    with tf.Session() as sess:
        got = sess.run(grads, {x: t, v: u})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_top_k_tf1_accuracy_idiom(backend):
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((6, 5)).astype(np.float32)
    pred[0] = [0.5, 0.5, 0.5, 0.1, 0.0]  # ties at the boundary are all in
    pred[1, 2] = np.nan
    pred[2, 4] = np.inf
    labels = np.array([2, 2, 4, 7, -1, 3], np.int64)
    logits = tf.placeholder(tf.float32, [None, 5])
    y = tf.placeholder(tf.int64, [None])
    outs = {k: tf.nn.in_top_k(logits, y, k) for k in (1, 2, 3)}
    correct = tf.nn.in_top_k(logits, tf.cast(y, tf.int32), 1)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    with _session(backend) as sess:
        got = sess.run(outs, {logits: pred, y: labels})
        acc = sess.run(accuracy, {logits: pred, y: labels})
    for k, v in got.items():
        assert v.dtype == np.bool_
        np.testing.assert_array_equal(v, ref_in_top_k(pred, labels, k), err_msg=f"k={k}")
    assert acc == np.float32(np.mean(ref_in_top_k(pred, labels, 1)))


def test_in_top_k_rejects_bad_shapes():
    with pytest.raises(ValueError, match="in_top_k: predictions"):
        tf.nn.in_top_k(tf.constant([1.0, 2.0]), tf.constant([0]), 1)
    with pytest.raises(ValueError, match="in_top_k: targets"):
        tf.nn.in_top_k(tf.constant([[1.0, 2.0]]), tf.constant([0.5]), 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_deprecated_arg_max_min_and_casts(backend):
    v = np.array([[1.0, 5.0, 2.0], [7.0, -1.0, 3.0]], np.float32)
    x = tf.constant(v)
    fetches = [tf.arg_max(x, 1), tf.arg_min(x, dimension=0), tf.to_int32(x), tf.to_double(x),
               tf.to_int64(x), tf.to_float(tf.to_int32(x))]
    with _session(backend) as sess:
        amax, amin, i32, f64, i64, f32 = sess.run(fetches)
    np.testing.assert_array_equal(amax, [1, 0])
    np.testing.assert_array_equal(amin, [0, 1, 0])
    assert amax.dtype == np.int64 and i32.dtype == np.int32 and f64.dtype == np.float64
    assert i64.dtype == np.int64 and f32.dtype == np.float32
    np.testing.assert_array_equal(i32, v.astype(np.int32))


def test_interactive_session_eval_and_run_without_with():
    a = tf.constant(3.0)
    v = tf.Variable(1.0, name="v")
    sess = tf.InteractiveSession()
    try:
        assert tf.get_default_session() is sess
        tf.global_variables_initializer().run()
        assert (a * 2.0).eval() == 6.0
        v.assign_add(a).op.run()
        assert v.eval() == 4.0
        # ops built while it is open go to its graph
        assert tf.constant(1.0).graph is sess.graph
    finally:
        sess.close()
    with pytest.raises(RuntimeError, match="no default session"):
        a.eval()


def test_interactive_session_with_its_own_graph():
    g = tf.Graph()
    sess = tf.InteractiveSession(graph=g)
    c = tf.constant([1, 2], name="c")
    assert c.graph is g
    np.testing.assert_array_equal(c.eval(), [1, 2])
    sess.close()
    assert tf.get_default_graph() is not g


def test_get_collection_ref_is_the_collection():
    ref = tf.get_collection_ref("my_losses")
    assert ref == []
    ref.append(tf.constant(1.0))
    assert len(tf.get_collection("my_losses")) == 1
    tf.add_to_collection("my_losses", tf.constant(2.0))
    assert len(ref) == 2
    ref[:] = []  # TF1 idiom: clear a collection in place
    assert tf.get_collection("my_losses") == []
    assert tf.get_default_graph().get_collection_ref("my_losses") is ref


def test_version_and_compat_strings():
    assert tf.__version__ == tf.VERSION == "1.15.0-flowc"
    assert tf.__version__.startswith("1.")
    assert tf.compat.as_str(b"caf\xc3\xa9") == "café"
    assert tf.compat.as_text("x") == "x"
    assert tf.compat.as_bytes("café") == b"caf\xc3\xa9"
    assert tf.compat.as_bytes(bytearray(b"ab")) == b"ab"
    assert tf.compat.as_str_any(12) == "12"
    assert tf.compat.as_bytes("é", encoding="latin-1") == b"\xe9"
    with pytest.raises(TypeError, match="Expected binary or unicode string, got 3"):
        tf.compat.as_str(3)
    with pytest.raises(TypeError, match="Expected binary or unicode string"):
        tf.compat.as_bytes(None)
    assert tf.compat.v1.compat.as_str(b"a") == "a"



def test_tf1_error_classes_catch_flowc_run_errors():
    tf.reset_default_graph()
    v = tf.Variable(1.0, name="v")
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError) as e:
            sess.run(v)
        assert isinstance(e.value, tf.errors.OpError) and "v" in e.value.message
        assert e.value.error_code == tf.errors.FAILED_PRECONDITION
    x = tf.placeholder(tf.int32, [None])
    g = tf.gather(tf.constant([1.0, 2.0]), x)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError):
            sess.run(g, {x: np.array([5], np.int32)})

def test_tf1_constructor():
    e = tf.errors.OutOfRangeError(None, None, "End of sequence")
    assert e.message == "End of sequence" and str(e) == "End of sequence" and e.op is None
    assert issubclass(tf.errors.OutOfRangeError, tf.errors.OpError)
    assert tf.errors.ResourceExhaustedError.error_code == tf.errors.RESOURCE_EXHAUSTED
