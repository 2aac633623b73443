"""Dataset.map on whole blocks (compiler/data/vectorize.py): which functions run batched,
and for every case, batched or not, the stream equals a per-element numpy reference."""

import numpy as np
import pytest

import compiler as tf
from compiler.data import vectorize
from compiler.ops import table

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((7, 3, 3, 3)).astype(np.float32)
IDX = RNG.integers(0, 5, 7).astype(np.int32)
TABLE = RNG.standard_normal((5, 2)).astype(np.float32)
W = RNG.standard_normal((3, 4)).astype(np.float32)

# (name, fn of (x [3,3,3], i []), numpy reference per element, runs batched)
CASES = [
    ("elementwise", lambda x, i: tf.tanh(x) * 2.0 + 1.0, lambda x, i: np.tanh(x) * 2 + 1, True),
    ("reshape_one_hot", lambda x, i: (tf.reshape(x, [9, 3]), tf.one_hot(i, 5)),
     lambda x, i: (x.reshape(9, 3), np.eye(5, dtype=np.float32)[i]), True),
    ("reduce_middle_axis", lambda x, i: tf.reduce_max(x, axis=1),
     lambda x, i: x.max(axis=1), True),  # square dims: the axis must shift, not match
    ("normalize", lambda x, i: x / tf.reduce_sum(tf.abs(x), axis=[0, 2], keepdims=True),
     lambda x, i: x / np.abs(x).sum(axis=(0, 2), keepdims=True), True),
    ("transpose_slice", lambda x, i: tf.transpose(x, [2, 0, 1])[1:, :, ::2],
     lambda x, i: np.transpose(x, (2, 0, 1))[1:, :, ::2], True),
    ("gather_table", lambda x, i: tf.gather(tf.constant(TABLE), i),
     lambda x, i: TABLE[i], True),
    ("matmul", lambda x, i: tf.matmul(tf.reshape(x, [9, 3]), tf.constant(W)),
     lambda x, i: x.reshape(9, 3) @ W, True),
    ("argmax", lambda x, i: tf.argmax(x, axis=2), lambda x, i: np.argmax(x, axis=2), True),
    ("reduce_all_axes", lambda x, i: tf.reduce_sum(x) * tf.cast(i, tf.float32),
     lambda x, i: x.sum() * i, True),
    ("concat_constant", lambda x, i: tf.concat([x[0], tf.ones([1, 3])], axis=0),
     lambda x, i: np.concatenate([x[0], np.ones((1, 3), np.float32)]), True),
    ("scalar_times_vector", lambda x, i: tf.cast(i, tf.float32) * tf.constant([1.0, 2.0]),
     lambda x, i: i * np.array([1.0, 2.0], np.float32), True),
    ("gather_by_element", lambda x, i: tf.gather(x, i % 3),
     lambda x, i: x[i % 3], False),
]


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
@pytest.mark.parametrize("name,fn,ref,batched", CASES, ids=[c[0] for c in CASES])
def test_map_batched_equals_per_element(name, fn, ref, batched, backend):
    ds = tf.data.Dataset.from_tensor_slices((X, IDX)).map(fn)
    assert ds.vectorized is batched
    nxt = ds.batch(3).make_one_shot_iterator().get_next()
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        got = []
        while True:
            try:
                got.append(sess.run(nxt))
            except tf.errors.OutOfRangeError:
                break
    want = [ref(x, i) for x, i in zip(X, IDX)]
    if isinstance(want[0], tuple):
        for k in range(len(want[0])):
            np.testing.assert_allclose(np.concatenate([g[k] for g in got]),
                                       np.stack([w[k] for w in want]), rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(np.concatenate(got), np.stack(want), rtol=1e-5, atol=1e-5)


def test_random_draws_are_per_element():
    ds = tf.data.Dataset.from_tensor_slices(np.zeros(64, np.float32))
    ds = ds.map(lambda v: v + tf.random_uniform([]))
    assert not ds.vectorized  # one batched draw would serve every element
    nxt = ds.batch(64).make_one_shot_iterator().get_next()
    with tf.Session() as sess:
        vals = sess.run(nxt)
    assert len(np.unique(vals)) == 64


def test_every_op_type_is_classified_for_batching():
    missing = set(table.names()) - set(vectorize.RULES) - vectorize._NEVER - vectorize.NO_RULE
    assert not missing, f"op types without a batching decision in data/vectorize.py: {missing}"
