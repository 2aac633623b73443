"""fc.gradients of composite models against jax.grad of the same model written in jax.

Each model is written twice -- once with flowc's TF1 API, once in jax.numpy -- and the
gradients with respect to every parameter are compared in float64, computed by the
compiled (LLVM) program and by the interpreter. jax is an independent implementation of
reverse-mode differentiation, so this catches rules that are self-consistent with
flowc's own finite-difference checks but wrong in a composite (broadcast reductions,
softmax/cross-entropy fusions, gathers, where/select, the LSTM cell).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import compiler as fc

jax.config.update("jax_enable_x64", True)

BACKENDS = ["llvm", "interpret"]
RNG = np.random.default_rng(7)


def _rand(*shape, scale=1.0):
    return RNG.standard_normal(shape) * scale


def _check(build, jax_loss, params, feeds, backend):
    """build(params as fc.Variables, feeds as placeholders) -> scalar loss tensor;
    jax_loss(params dict, feeds dict) -> scalar. Compares d loss / d params."""
    g = fc.Graph()
    with g.as_default():
        variables = {k: fc.Variable(v, name=k) for k, v in params.items()}
        phs = {k: fc.placeholder(fc.as_dtype(v.dtype), v.shape, name=k)
               for k, v in feeds.items()}
        loss = build(variables, phs)
        names = list(params)
        grads = fc.gradients(loss, [variables[k] for k in names])
        assert all(gr is not None for gr in grads), names
        with fc.Session(config=fc.ConfigProto(backend=backend)) as sess:
            sess.run(fc.global_variables_initializer())
            got_loss, got = sess.run([loss, grads], {phs[k]: v for k, v in feeds.items()})
    want_loss, want = jax.value_and_grad(jax_loss)(
        {k: jnp.asarray(v) for k, v in params.items()},
        {k: jnp.asarray(v) for k, v in feeds.items()})
    np.testing.assert_allclose(got_loss, float(want_loss), rtol=1e-10, atol=1e-12)
    for k, gv in zip(names, got):
        np.testing.assert_allclose(gv, np.asarray(want[k]), rtol=1e-8, atol=1e-10,
                                   err_msg=f"gradient of {k}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_softmax_cross_entropy_matches_jax(backend):
    params = {"w1": _rand(6, 8, scale=0.5), "b1": _rand(8, scale=0.1),
              "w2": _rand(8, 5, scale=0.5), "b2": _rand(5, scale=0.1)}
    labels = np.eye(5)[RNG.integers(0, 5, 7)]
    feeds = {"x": _rand(7, 6), "y": labels}

    def build(v, p):
        h = fc.nn.relu(fc.matmul(p["x"], v["w1"]) + v["b1"])
        logits = fc.matmul(h, v["w2"]) + v["b2"]
        xent = fc.nn.softmax_cross_entropy_with_logits_v2(labels=p["y"], logits=logits)
        return fc.reduce_mean(xent) + 1e-3 * fc.nn.l2_loss(v["w1"])

    def ref(v, p):
        h = jax.nn.relu(p["x"] @ v["w1"] + v["b1"])
        logits = h @ v["w2"] + v["b2"]
        xent = -jnp.sum(p["y"] * jax.nn.log_softmax(logits), axis=-1)
        return jnp.mean(xent) + 1e-3 * jnp.sum(v["w1"] ** 2) / 2
    _check(build, ref, params, feeds, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lstm_two_steps_matches_jax(backend):
    depth, units, batch = 3, 4, 5
    params = {"kernel": _rand(depth + units, 4 * units, scale=0.4),
              "bias": _rand(4 * units, scale=0.1)}
    feeds = {"x0": _rand(batch, depth), "x1": _rand(batch, depth)}

    def build(v, p):
        h = c = fc.zeros([batch, units], dtype=fc.float64)
        for x in (p["x0"], p["x1"]):
            z = fc.matmul(fc.concat([x, h], axis=1), v["kernel"]) + v["bias"]
            i, j, f, o = fc.split(z, 4, axis=1)
            c = c * fc.sigmoid(f + 1.0) + fc.sigmoid(i) * fc.tanh(j)
            h = fc.tanh(c) * fc.sigmoid(o)
        return fc.reduce_sum(fc.square(h)) + fc.reduce_mean(c)

    def ref(v, p):
        h = c = jnp.zeros((batch, units))
        for x in (p["x0"], p["x1"]):
            z = jnp.concatenate([x, h], axis=1) @ v["kernel"] + v["bias"]
            i, j, f, o = jnp.split(z, 4, axis=1)
            c = c * jax.nn.sigmoid(f + 1.0) + jax.nn.sigmoid(i) * jnp.tanh(j)
            h = jnp.tanh(c) * jax.nn.sigmoid(o)
        return jnp.sum(h ** 2) + jnp.mean(c)
    _check(build, ref, params, feeds, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_broadcasting_normalization_gather_where_match_jax(backend):
    params = {"scale": _rand(1, 6) + 1.0, "shift": _rand(6, scale=0.2),
              "emb": _rand(10, 6)}
    feeds = {"x": _rand(4, 3, 6), "ids": RNG.integers(0, 10, (4, 3)).astype(np.int64)}

    def build(v, p):
        mean, var = fc.nn.moments(p["x"], axes=[-1], keep_dims=True)
        norm = (p["x"] - mean) * fc.rsqrt(var + 1e-5) * v["scale"] + v["shift"]
        mixed = norm + fc.gather(v["emb"], p["ids"])
        gated = fc.where(mixed > 0.0, fc.exp(-mixed), mixed * mixed)
        return fc.reduce_logsumexp(fc.reduce_max(gated, axis=1) + fc.log1p(fc.abs(mixed[:, 0])))

    def ref(v, p):
        mean = jnp.mean(p["x"], axis=-1, keepdims=True)
        var = jnp.mean((p["x"] - mean) ** 2, axis=-1, keepdims=True)
        norm = (p["x"] - mean) / jnp.sqrt(var + 1e-5) * v["scale"] + v["shift"]
        mixed = norm + v["emb"][p["ids"]]
        gated = jnp.where(mixed > 0.0, jnp.exp(-mixed), mixed * mixed)
        return jax.scipy.special.logsumexp(jnp.max(gated, axis=1)
                                           + jnp.log1p(jnp.abs(mixed[:, 0])))
    _check(build, ref, params, feeds, backend)
