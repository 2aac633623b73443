"""tf.map_fn, tf.scan, tf.foldl, tf.foldr (compiler/frontend/functional_ops.py) on a
while_loop with TensorArrays: results against numpy loops written here from TF1's
documented semantics on both backends (nests, initializer, reverse, a symbolic leading
extent), gradients by finite differences and jax.grad (jax.lax.scan / map), one
compile for every length, and clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_check import check_grads

import compiler as tf

jax.config.update("jax_enable_x64", True)

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]
RNG = np.random.default_rng(3)


def _run(backend, fetches, feed):
    config = tf.ConfigProto(backend="interpret") if backend == "interpret" else None
    with tf.Session(config=config) as sess:
        return sess.run(fetches, feed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_fn_over_a_symbolic_extent_with_nests_and_dtype(backend):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    ids = tf.placeholder(tf.int32, [None], name="ids")
    sq = tf.map_fn(lambda r: tf.reduce_sum(r * r), x)
    pair = tf.map_fn(lambda p: (p[0] * 2.0, tf.cast(p[1], tf.float32) + p[0]), (x, ids),
                     dtype=(tf.float32, tf.float32))
    xv = RNG.standard_normal((5, 3)).astype(np.float32)
    iv = np.arange(5, dtype=np.int32)
    got = _run(backend, [sq, pair], {x: xv, ids: iv})
    np.testing.assert_allclose(got[0], (xv * xv).sum(1), rtol=1e-6)
    np.testing.assert_allclose(got[1][0], xv * 2, rtol=1e-6)
    np.testing.assert_allclose(got[1][1], iv[:, None] + xv, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_and_folds_match_numpy(backend):
    x = tf.placeholder(tf.float64, [None, 2], name="x")
    cum = tf.scan(lambda a, r: a + r, x)                       # no initializer
    prod_rev = tf.scan(lambda a, r: a * r, x, initializer=tf.ones([2], tf.float64),
                       reverse=True)
    nest = tf.scan(lambda a, r: (a[0] + r, a[1] * 0.5 + r[0]), x,
                   initializer=(tf.zeros([2], tf.float64), tf.constant(1.0, tf.float64)))
    fl = tf.foldl(lambda a, r: a * 0.5 + r, x)
    fr = tf.foldr(lambda a, r: a * 0.5 + r, x, initializer=tf.zeros([2], tf.float64))
    xv = RNG.standard_normal((4, 2))
    got = _run(backend, [cum, prod_rev, nest, fl, fr], {x: xv})
    np.testing.assert_allclose(got[0], np.cumsum(xv, 0))
    np.testing.assert_allclose(got[1], np.cumprod(xv[::-1], 0)[::-1])
    a, b, wa, wb = np.zeros(2), 1.0, [], []
    for r in xv:
        a, b = a + r, b * 0.5 + r[0]
        wa.append(a)
        wb.append(b)
    np.testing.assert_allclose(got[2][0], wa)
    np.testing.assert_allclose(got[2][1], wb)
    left = xv[0]
    for r in xv[1:]:
        left = left * 0.5 + r
    right = np.zeros(2)
    for r in xv[::-1]:
        right = right * 0.5 + r
    np.testing.assert_allclose(got[3], left)
    np.testing.assert_allclose(got[4], right)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_by_finite_differences(backend):
    check_grads(lambda x, w: tf.map_fn(lambda r: tf.sin(r * w), x),
                [((4, 2), -1, 1), ((2,), -1, 1)], backend)
    check_grads(lambda x, w: tf.scan(lambda a, r: tf.tanh(a * w + r), x, reverse=True),
                [((4, 2), -1, 1), ((2,), -1, 1)], backend)
    check_grads(lambda x: tf.foldl(lambda a, r: a * r + 0.5, x,
                                   initializer=tf.ones([2], tf.float64)),
                [((3, 2), -1, 1)], backend)


def test_gradients_match_jax():
    x = tf.placeholder(tf.float64, [5, 2])
    w = tf.placeholder(tf.float64, [2])
    s = tf.scan(lambda a, r: tf.tanh(a * w + r), x, initializer=tf.zeros([2], tf.float64))
    m = tf.map_fn(lambda r: tf.exp(r) * w, s)
    loss = tf.reduce_sum(m ** 2) + tf.reduce_sum(tf.foldr(lambda a, r: a * w + r, x))
    grads = tf.gradients(loss, [x, w])

    def ref(xv, wv):
        def step(a, r):
            a = jnp.tanh(a * wv + r)
            return a, a
        _, sv = jax.lax.scan(step, jnp.zeros(2), xv)
        mv = jax.lax.map(lambda r: jnp.exp(r) * wv, sv)
        fr, _ = jax.lax.scan(lambda a, r: (a * wv + r, None), xv[-1], xv[:-1], reverse=True)
        return jnp.sum(mv ** 2) + jnp.sum(fr)
    xv, wv = RNG.standard_normal((5, 2)), np.array([0.8, -0.6])
    with tf.Session() as sess:
        got = sess.run([loss] + grads, {x: xv, w: wv})
    want = [ref(xv, wv)] + list(jax.grad(ref, argnums=(0, 1))(xv, wv))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(r), rtol=1e-10)


def test_one_compile_for_every_length():
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    total = tf.foldl(lambda a, r: a + r * r, x, initializer=tf.zeros([2]))
    with tf.Session() as sess:
        for n in (1, 4, 50):
            xv = RNG.standard_normal((n, 2)).astype(np.float32)
            np.testing.assert_allclose(sess.run(total, {x: xv}), (xv * xv).sum(0), rtol=1e-5)
        assert sess.compile_count == 1


def test_errors_are_clear():
    with pytest.raises(ValueError, match="map_fn: every tensor of elems must have rank"):
        tf.map_fn(lambda r: r, tf.constant(1.0))
    with pytest.raises(ValueError, match="different leading extents"):
        tf.map_fn(lambda p: p[0], (tf.zeros([2]), tf.zeros([3])))
    with pytest.raises(TypeError, match="map_fn: fn returned int32 where float32"):
        tf.map_fn(lambda r: tf.cast(r, tf.int32), tf.zeros([2, 2]))
    with pytest.raises(TypeError, match="scan: fn returned"):
        tf.scan(lambda a, r: tf.cast(a, tf.int32), tf.zeros([2, 2]))
