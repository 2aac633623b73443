"""`fc.nn.embedding_lookup` against TF1's documented partitioning rules in numpy, on
both backends; its gradient is a scatter-add (FD-checked, jax-checked, no one-hot)."""

import numpy as np
import pytest
from autodiff_check import BACKENDS, check_grads

import compiler as tf
from runtime.errors import ExecutionError

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(14)


def config(backend):
    return tf.ConfigProto(backend="interpret") if backend == "interpret" else None


def np_lookup(parts, ids, strategy, max_norm=None):
    """TF1's embedding_lookup, written from its documentation."""
    n = len(parts)
    ids = np.asarray(ids)
    if strategy == "mod":
        owner, local = ids % n, ids // n
    else:
        total = sum(p.shape[0] for p in parts)
        per, extras = divmod(total, n)
        owner = np.maximum(ids // (per + 1), (ids - extras) // per)
        local = np.where(owner < extras, ids % (per + 1), (ids - extras) % per)
    out = np.stack([parts[o][r] for o, r in zip(owner.ravel(), local.ravel())])
    out = out.reshape(ids.shape + parts[0].shape[1:])
    if max_norm is not None:
        axes = tuple(range(ids.ndim, out.ndim))
        norm = np.sqrt((out * out).sum(axis=axes, keepdims=True))
        out = out * max_norm / np.maximum(norm, max_norm)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_partitioned_lookup_matches_tf1_rules(backend, strategy):
    # 11 rows in 3 uneven partitions (4, 4, 3): both strategies' uneven cases
    sizes = [4, 4, 3]
    parts = [RNG.normal(size=(s, 5)).astype(np.float32) for s in sizes]
    ids = RNG.integers(0, 11, size=(3, 7)).astype(np.int64)
    ids[0, :] = [0, 3, 4, 7, 8, 10, 5]
    with tf.variable_scope("emb"):
        tables = [tf.get_variable(f"part_{i}", initializer=p) for i, p in enumerate(parts)]
    x = tf.placeholder(tf.int64, [None, 7])
    out = tf.nn.embedding_lookup(tables, x, partition_strategy=strategy, name="looked")
    clipped = tf.nn.embedding_lookup(tables, x, partition_strategy=strategy, max_norm=1.5)
    assert out.name == "looked:0" and out.shape.as_list() == [None, 7, 5]
    with tf.Session(config=config(backend)) as sess:
        sess.run(tf.global_variables_initializer())
        got, got_clip = sess.run([out, clipped], {x: ids})
    np.testing.assert_allclose(got, np_lookup(parts, ids, strategy), rtol=0, atol=0)
    np.testing.assert_allclose(got_clip, np_lookup(parts, ids, strategy, 1.5), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_table_any_rank_and_max_norm(backend):
    table = RNG.normal(size=(6, 2, 3)).astype(np.float32) * 2
    ids = np.array([[[5, 0], [0, 2]], [[1, 1], [3, 4]]], np.int32)
    params = tf.constant(table)
    x = tf.placeholder(tf.int32, [None, 2, 2])
    scalar = tf.nn.embedding_lookup(params, 4)
    out = tf.nn.embedding_lookup(params, x, max_norm=1.0)
    with tf.Session(config=config(backend)) as sess:
        got, got_scalar = sess.run([out, scalar], {x: ids})
    np.testing.assert_allclose(got, np_lookup([table], ids, "mod", 1.0), rtol=1e-6)
    np.testing.assert_array_equal(got_scalar, table[4])


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_id_is_the_gather_error(backend):
    parts = [tf.constant(np.ones((3, 2), np.float32)) for _ in range(2)]
    x = tf.placeholder(tf.int32, [None])
    single = tf.nn.embedding_lookup(parts[0], x)
    split = tf.nn.embedding_lookup(parts, x, partition_strategy="div")
    with tf.Session(config=config(backend)) as sess:
        for fetch, bad in [(single, [0, 3]), (split, [6]), (split, [-1])]:
            with pytest.raises(ExecutionError, match="gather"):
                sess.run(fetch, {x: np.array(bad, np.int32)})


def test_bad_arguments_name_the_op():
    t = tf.constant(np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="partition_strategy"):
        tf.nn.embedding_lookup(t, [0], partition_strategy="rows")
    with pytest.raises(TypeError, match="embedding_lookup: ids"):
        tf.nn.embedding_lookup(t, tf.constant([0.5]))
    with pytest.raises(ValueError, match="embedding_lookup: the partitions"):
        tf.nn.embedding_lookup([t, tf.constant(np.ones((3, 4), np.float32))], [0])


def _grad_ops(loss, wrt):
    (g,) = tf.gradients(loss, [wrt])
    seen, stack, types = set(), [g.op], set()
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        types.add(op.type)
        stack.extend(t.op for t in op.inputs)
    return g, types


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_is_a_scatter_add(backend):
    table = RNG.normal(size=(5, 3))
    ids = np.array([[1, 4, 1], [0, 1, 3]])
    w = RNG.normal(size=(2, 3, 3))
    params = tf.placeholder(tf.float64, [5, 3])
    loss = tf.reduce_sum(tf.nn.embedding_lookup(params, ids) * w)
    g, types = _grad_ops(loss, params)
    assert "scatter_add" in types and not types & {"matmul", "one_hot"}
    with tf.Session(config=config(backend)) as sess:
        got = sess.run(g, {params: table})
    expect = np.zeros_like(table)
    np.add.at(expect, ids, w)  # the scatter-add TF1 applies (IndexedSlices)
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    jg = jax.grad(lambda p: jnp.sum(p[ids] * w))(table)
    np.testing.assert_allclose(got, np.asarray(jg), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_partitioned_gradients_finite_differences(backend, strategy):
    ids = np.array([[0, 4, 3], [2, 2, 1]], np.int32)

    def build(a, b):
        return tf.nn.embedding_lookup([a, b], ids, partition_strategy=strategy, max_norm=0.8)

    check_grads(build, [((3, 2), -1, 1), ((2, 2), -1, 1)], backend)
