"""fc.nn normalization (compiler/frontend/normalization.py): moments, weighted_moments,
normalize_moments, batch_normalization, fused_batch_norm and lrn, against numpy
implementations of TF1's documented formulas written here, on the compiled Session (LLVM)
and the interpreter; gradients against jax.grad of the same formulas in jax.numpy and
against finite differences; errors that name the culprit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_check import check_grads

import compiler as fc

jax.config.update("jax_enable_x64", True)
pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["llvm", "interpret"]
RNG = np.random.default_rng(3)


def _session(backend):
    return fc.Session(config=fc.ConfigProto(backend=backend))


# ---- numpy references (TF1's formulas) --------------------------------------------------
def np_fused_train(x, scale, offset, eps, axis):
    red = tuple(a for a in range(4) if a != axis)
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    mean = x.mean(axis=red)
    var = ((x - mean.reshape(shape)) ** 2).mean(axis=red)
    n = x.size // x.shape[axis]
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + max(eps, 1.001e-5)) \
        * scale.reshape(shape) + offset.reshape(shape)
    return y, mean, var * n / max(n - 1, 1)


def np_lrn(x, r, bias, alpha, beta):
    c = x.shape[-1]
    sqr = np.zeros_like(x)
    for d in range(c):
        lo, hi = max(0, d - r), min(c, d + r + 1)
        sqr[..., d] = (x[..., lo:hi] ** 2).sum(-1)
    return x / (bias + alpha * sqr) ** beta


def jnp_lrn(x, r, bias, alpha, beta):
    c = x.shape[-1]
    sq = jnp.pad(x * x, [(0, 0)] * 3 + [(r, r)])
    sqr = sum(sq[..., k:k + c] for k in range(2 * r + 1))
    return x / (bias + alpha * sqr) ** beta


# ---- values --------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_statistics_and_batch_norm_match_numpy(backend):
    x = fc.placeholder(fc.float64, [None, 4, 5, 3], name="x")
    w = fc.placeholder(fc.float64, [None, 4, 5, 1], name="w")
    scale = np.array([0.5, 1.5, -2.0])
    offset = np.array([0.1, -0.2, 0.3])
    mean, var = fc.nn.moments(x, axes=[0, 1, 2])
    mean_k, var_k = fc.nn.moments(x, [0, 1, 2], keep_dims=True)
    mean_l, var_l = fc.nn.moments(x, [-1], keepdims=True)
    wmean, wvar = fc.nn.weighted_moments(x, [0, 1, 2], w)
    cnt = fc.constant(40.0, fc.float64)  # 2 * 4 * 5 per channel
    sm, sv = fc.nn.normalize_moments(cnt, fc.reduce_sum(x, [0, 1, 2]),
                                     fc.reduce_sum(x * x, [0, 1, 2]), None)
    sm2, _ = fc.nn.normalize_moments(cnt, fc.reduce_sum(x - 1.0, [0, 1, 2]),
                                     fc.reduce_sum(x * x, [0, 1, 2]), 1.0)
    bn = fc.nn.batch_normalization(x, mean, var, offset, scale, 1e-3)
    bn_none = fc.nn.batch_normalization(x, mean, var, None, None, 1e-3)
    y, bm, bv = fc.nn.fused_batch_norm(x, scale, offset, epsilon=1e-6)
    xt = fc.transpose(x, [0, 3, 1, 2])
    yc, bmc, bvc = fc.nn.fused_batch_norm(xt, scale, offset, data_format="NCHW")
    yi, mi, vi = fc.nn.fused_batch_norm(x, scale, offset, mean=[1.0, 2.0, 3.0],
                                        variance=[4.0, 0.5, 2.0], is_training=False)
    fetches = [mean, var, mean_k, var_k, mean_l, var_l, wmean, wvar, sm, sv, sm2, bn, bn_none,
               y, bm, bv, yc, bmc, bvc, yi, mi, vi]
    xv = RNG.uniform(-2, 2, (2, 4, 5, 3))
    wv = RNG.uniform(0.5, 2, (2, 4, 5, 1))
    with _session(backend) as sess:
        out = sess.run(fetches, {x: xv, w: wv})
    (m, v, mk, vk, ml, vl, wm, wvv, smv, svv, sm2v, bnv, bnn, yv, bmv, bvv, ycv, bmcv, bvcv,
     yiv, miv, viv) = out
    red = (0, 1, 2)
    np.testing.assert_allclose(m, xv.mean(red))
    np.testing.assert_allclose(v, xv.var(red))
    assert mk.shape == vk.shape == (1, 1, 1, 3) and ml.shape == (2, 4, 5, 1)
    np.testing.assert_allclose(vl, xv.var(-1, keepdims=True))
    wb = np.broadcast_to(wv, xv.shape)
    want_wm = (wb * xv).sum(red) / wb.sum(red)
    np.testing.assert_allclose(wm, want_wm)
    np.testing.assert_allclose(wvv, (wb * (xv - want_wm) ** 2).sum(red) / wb.sum(red))
    np.testing.assert_allclose(smv, xv.mean(red))
    np.testing.assert_allclose(svv, xv.var(red), atol=1e-12)
    np.testing.assert_allclose(sm2v, xv.mean(red))
    want_bn = (xv - xv.mean(red)) / np.sqrt(xv.var(red) + 1e-3) * scale + offset
    np.testing.assert_allclose(bnv, want_bn, atol=1e-12)
    np.testing.assert_allclose(bnn, (xv - xv.mean(red)) / np.sqrt(xv.var(red) + 1e-3),
                               atol=1e-12)
    want_y, want_m, want_v = np_fused_train(xv, scale, offset, 1e-6, 3)
    np.testing.assert_allclose(yv, want_y, atol=1e-12)
    np.testing.assert_allclose(bmv, want_m)
    np.testing.assert_allclose(bvv, want_v)  # Bessel-corrected: n / (n - 1), n = 40
    assert not np.allclose(bvv, xv.var(red))
    want_yc = np_fused_train(xv, scale, offset, 1e-3, 3)[0]  # the default epsilon
    np.testing.assert_allclose(ycv, want_yc.transpose(0, 3, 1, 2), atol=1e-12)
    np.testing.assert_allclose(bmcv, want_m)
    np.testing.assert_allclose(bvcv, want_v)
    np.testing.assert_allclose(yiv, (xv - [1, 2, 3]) / np.sqrt(np.array([4, .5, 2]) + 1e-3)
                               * scale + offset, atol=1e-12)
    np.testing.assert_allclose(miv, [1, 2, 3])
    np.testing.assert_allclose(viv, [4, .5, 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_lrn_matches_numpy(backend):
    x = fc.placeholder(fc.float32, [None, 3, 2, 7])
    outs = [fc.nn.local_response_normalization(x), fc.nn.lrn(x, 2, 1.0, 0.5, 0.75),
            fc.nn.lrn(x, depth_radius=1, bias=2.0, alpha=0.1, beta=1.0),
            fc.nn.lrn(x, depth_radius=0, bias=0.5, alpha=2.0, beta=0.5)]
    xv = RNG.uniform(-2, 2, (2, 3, 2, 7)).astype(np.float32)
    with _session(backend) as sess:
        got = sess.run(outs, {x: xv})
    params = [(5, 1, 1, 0.5), (2, 1.0, 0.5, 0.75), (1, 2.0, 0.1, 1.0), (0, 0.5, 2.0, 0.5)]
    for g, p in zip(got, params):
        np.testing.assert_allclose(g, np_lrn(xv.astype(np.float64), *p), rtol=2e-6,
                                   err_msg=str(p))


# ---- gradients ---------------------------------------------------------------------------
def _jax_loss(x, scale, offset, w1, w2, w3):
    red = (0, 1, 2)
    mean = x.mean(red)
    var = ((x - mean) ** 2).mean(red)
    y = (x - mean) / jnp.sqrt(var + 1e-3) * scale + offset
    n = x.size // x.shape[-1]
    lrn = jnp_lrn(x, 2, 1.0, 0.5, 0.75)
    bn = (x - 0.3) / jnp.sqrt(var + 0.01) * scale + offset
    return (jnp.sum(y * w1) + jnp.sum(var * n / (n - 1) * w2) + jnp.sum(lrn * w3)
            + jnp.sum(bn * w1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_match_jax(backend):
    x = fc.placeholder(fc.float64, [None, 3, 2, 4])
    s = fc.placeholder(fc.float64, [4])
    o = fc.placeholder(fc.float64, [4])
    w1 = fc.placeholder(fc.float64, [None, 3, 2, 4])
    w2 = fc.placeholder(fc.float64, [4])
    w3 = fc.placeholder(fc.float64, [None, 3, 2, 4])
    y, _, bessel = fc.nn.fused_batch_norm(x, s, o)
    _, var = fc.nn.moments(x, [0, 1, 2])
    bn = fc.nn.batch_normalization(x, 0.3, var + 0.0, o, s, 0.01)
    loss = (fc.reduce_sum(y * w1) + fc.reduce_sum(bessel * w2)
            + fc.reduce_sum(fc.nn.lrn(x, 2, 1.0, 0.5, 0.75) * w3) + fc.reduce_sum(bn * w1))
    grads = fc.gradients(loss, [x, s, o])
    vals = [RNG.uniform(-1, 1, (2, 3, 2, 4)), RNG.uniform(0.5, 1.5, 4), RNG.uniform(-1, 1, 4),
            RNG.standard_normal((2, 3, 2, 4)), RNG.standard_normal(4),
            RNG.standard_normal((2, 3, 2, 4))]
    with _session(backend) as sess:
        got = sess.run(grads, dict(zip([x, s, o, w1, w2, w3], vals)))
    want = jax.grad(_jax_loss, argnums=(0, 1, 2))(*[jnp.asarray(v) for v in vals])
    for name, g, wv in zip("x scale offset".split(), got, want):
        np.testing.assert_allclose(g, np.asarray(wv), rtol=1e-9, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
def test_gradients_finite_differences(backend):
    def build(x, s, o):
        y, m, v = fc.nn.fused_batch_norm(x, s, o, data_format="NCHW", epsilon=0.01)
        wm, wv = fc.nn.weighted_moments(x, [0, 2], fc.abs(x) + 0.5)
        lrn = fc.nn.lrn(fc.transpose(x, [0, 2, 3, 1]), 1, 0.5, 0.3, 0.6)
        return (fc.reduce_sum(y * y, [1, 2, 3]) + fc.reduce_sum(m * v) + fc.reduce_sum(wv)
                + fc.reduce_sum(wm) + fc.reduce_sum(lrn, [1, 2, 3]))
    check_grads(build, [((2, 3, 2, 2), -1, 1), ((3,), 0.5, 1.5), ((3,), -1, 1)], backend)


# ---- errors -------------------------------------------------------------------------------
def test_errors_name_the_culprit():
    x3 = fc.placeholder(fc.float32, [None, 4, 3], name="flat")
    x4 = fc.placeholder(fc.float32, [None, 4, 4, 3], name="img")
    with pytest.raises(ValueError, match="FusedBatchNorm: x 'flat:0' must be a 4-D"):
        fc.nn.fused_batch_norm(x3, [1.0] * 3, [0.0] * 3)
    with pytest.raises(ValueError, match="data_format must be 'NHWC' or 'NCHW', got 'NCWH'"):
        fc.nn.fused_batch_norm(x4, [1.0] * 3, [0.0] * 3, data_format="NCWH")
    with pytest.raises(ValueError, match="scale has 2 elements but x has 3 channels"):
        fc.nn.fused_batch_norm(x4, [1.0] * 2, [0.0] * 3)
    with pytest.raises(ValueError, match="offset must be a 1-D tensor of 3 channels"):
        fc.nn.fused_batch_norm(x4, [1.0] * 3, [[0.0] * 3])
    with pytest.raises(ValueError, match="'mean' and 'variance' must be 1-D tensors when "
                                         "is_training is False"):
        fc.nn.fused_batch_norm(x4, [1.0] * 3, [0.0] * 3, is_training=False)
    with pytest.raises(ValueError, match="LRN: input 'flat:0' must be 4-D"):
        fc.nn.lrn(x3)
    with pytest.raises(TypeError, match="LRN: 'i:0' must be a float tensor, got int32"):
        fc.nn.lrn(fc.placeholder(fc.int32, [1, 2, 2, 2], name="i"))
    with pytest.raises(ValueError, match="moments: axis 4 is out of range for a tensor of "
                                         "rank 4"):
        fc.nn.moments(x4, [0, 4])
