"""Finite-difference checks of `fc.gradients` (used by tests/test_autodiff*.py).

`check_grads(build, specs, backend, order=1)` builds a graph with one placeholder per
spec, takes `out = build(*placeholders)`, and checks, for a random direction v, that the
central difference d/de L(x + e v) matches <grad L(x), v>, where L = sum(out * W) with a
random fed weight W. `order=2` checks the gradient of L's gradient the same way (the
gradient graph itself is differentiated). A spec is `(shape, low, high)` or a dict with
`shape` (None = symbolic dim; `shape=None`: unknown rank), `feed` (the fed shape), `low`,
`high`, `dtype`. `session(graph, backend)`: the Session of a backend name.
"""

from __future__ import annotations

import numpy as np

import compiler as fc

# per dtype: finite-difference step, relative and absolute tolerance
TOLERANCES = {
    "float64": (1e-6, 1e-5, 1e-7),
    "float32": (1e-2, 5e-2, 5e-3),
}

BACKENDS = ("interpret", "llvm")


def _spec(s):
    if isinstance(s, dict):
        shape = None if s["shape"] is None else tuple(s["shape"])
        return dict(shape=shape, feed=tuple(s.get("feed", shape)), low=s.get("low", -1.0),
                    high=s.get("high", 1.0), dtype=s.get("dtype", "float64"))
    shape, low, high = s
    return dict(shape=tuple(shape), feed=tuple(shape), low=low, high=high, dtype="float64")


def _weight_placeholder(out):
    if not out.shape.known_rank:
        return fc.placeholder(out.dtype, name="W")
    dims = [d if isinstance(d, int) else None for d in out.shape]
    return fc.placeholder(out.dtype, dims, name="W")


def session(graph, backend):
    """A Session on `graph` for the backend "llvm" (the default compiled one) or
    "interpret" (the tests' shared spelling)."""
    config = fc.ConfigProto(backend="interpret") if backend == "interpret" else None
    return fc.Session(graph=graph, config=config)


def build_check(build, specs, order=1):
    """(graph, placeholders, W placeholders, scalar L, gradients of L) for `order`."""
    specs = [_spec(s) for s in specs]
    graph = fc.Graph()
    with graph.as_default():
        xs = [fc.placeholder(s["dtype"], s["shape"], name=f"x{i}")
              for i, s in enumerate(specs)]
        out = build(*xs)
        weights = [_weight_placeholder(out)]
        loss = fc.reduce_sum(out * weights[0])
        grads = fc.gradients(loss, xs)
        for _ in range(order - 1):
            first = next(g for g in grads if g is not None)
            weights.append(_weight_placeholder(first))
            loss = fc.reduce_sum(first * weights[-1])
            grads = fc.gradients(loss, xs)
    return graph, specs, xs, weights, loss, grads


def check_grads(build, specs, backend, order=1, seed=0):
    graph, specs, xs, weights, loss, grads = build_check(build, specs, order)
    rng = np.random.default_rng(seed)
    values = [rng.uniform(s["low"], s["high"], s["feed"]).astype(s["dtype"]) for s in specs]
    eps, rtol, atol = TOLERANCES[specs[0]["dtype"]]
    with session(graph, backend) as sess:
        w_feed = _weight_feeds(sess, graph, specs, xs, weights, values, rng)
        dirs = [rng.standard_normal(v.shape).astype(v.dtype) for v in values]
        fetch = [loss] + [g for g in grads if g is not None]
        base = sess.run(fetch, {**w_feed, **dict(zip(xs, values))})
        plus = sess.run(loss, {**w_feed, **_shifted(xs, values, dirs, eps)})
        minus = sess.run(loss, {**w_feed, **_shifted(xs, values, dirs, -eps)})
    analytic = sum(float(np.sum(np.asarray(g, np.float64) * d))
                   for g, d in zip(_full(grads, base[1:], values), dirs))
    numeric = (float(plus) - float(minus)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol * max(1, abs(numeric)),
                               err_msg=f"backend={backend} order={order}")
    return base[1:]


def _full(grads, fetched, values):
    it = iter(fetched)
    return [np.zeros_like(v) if g is None else next(it) for g, v in zip(grads, values)]


def _shifted(xs, values, dirs, eps):
    return {x: (v + eps * d).astype(v.dtype) for x, v, d in zip(xs, values, dirs)}


def _weight_feeds(sess, graph, specs, xs, weights, values, rng):
    """Random weights shaped like each weighted tensor at these feeds."""
    feeds = dict(zip(xs, values))
    out = {}
    for w in weights:
        target = w.op.outputs[0].consumers()[0].inputs[0]
        shape = np.shape(sess.run(target, {**feeds, **out}))
        out[w] = rng.standard_normal(shape).astype(w.dtype.np)
    return out
