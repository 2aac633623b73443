"""String constants as host values: `tf.constant("text")` / `tf.string` tensors fetched
as TF1 returns them (bytes, or numpy object arrays of bytes), next to compiled fetches on
both backends; a string tensor reaching a compiled op is a clear error naming the op."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as tf
from compiler.convert import CompileError

BACKENDS = [None, tf.ConfigProto(backend="interpret")]


@pytest.mark.parametrize("config", BACKENDS, ids=["llvm", "interpret"])
def test_string_constants_are_fetched_as_bytes(config):
    with tf.Graph().as_default():
        s = tf.constant("héllo")
        grid = tf.constant([["a", "b"], [b"c", b"\xff"]])
        filled = tf.constant("x", dtype=tf.string, shape=[3])
        x = tf.placeholder(tf.float32, [2])
        assert s.dtype is tf.string and tf.as_dtype("string") is tf.string
        assert grid.shape.as_list() == [2, 2] and filled.shape.as_list() == [3]
        with tf.Session(config=config) as sess:
            got = sess.run({"s": s, "grid": grid, "y": x * 2.0, "f": filled, "again": s},
                           {x: [1.0, 2.0]})
            only = sess.run(s)
    assert got["s"] == "héllo".encode() and got["again"] == got["s"] and only == got["s"]
    assert got["grid"].dtype == object and got["grid"].tolist() == [[b"a", b"b"],
                                                                     [b"c", b"\xff"]]
    assert got["f"].tolist() == [b"x"] * 3
    np.testing.assert_array_equal(got["y"], [2.0, 4.0])
    assert tf.compat.as_str(got["s"]) == "héllo"


def test_string_tensors_never_reach_compiled_ops():
    with tf.Graph().as_default():
        s = tf.constant(["a", "b"], name="names")
        with pytest.raises(TypeError, match=r"reshape 'Reshape' .*input 'names:0' is a "
                                            r"string tensor"):
            tf.reshape(s, [2, 1])
        with pytest.raises(TypeError, match="add 'Add'.*string tensor"):
            tf.add(s, s)
        ident = tf.identity(s, name="same")
        with tf.Session() as sess, pytest.raises(CompileError,
                                                 match="names.*host string tensor.*'same'"):
            sess.run(ident)
        names_in = tf.placeholder(tf.string, [2], name="names_in")  # host-only (handles)
        with pytest.raises(TypeError, match=r"add 'Add_1'.*input 'names_in:0' is a string"):
            tf.add(names_in, names_in)
        fed = tf.identity(names_in, name="fed_same")
        with tf.Session() as sess, pytest.raises(CompileError, match="fed_same"):
            sess.run(fed, {names_in: [b"a", b"b"]})
        with pytest.raises(TypeError, match="string tensor"):
            tf.Variable("text")
        with pytest.raises(TypeError, match="not str or bytes"):
            tf.constant(["a", 1])
        with pytest.raises(ValueError, match="do not fill shape"):
            tf.constant(["a", "b"], shape=[3])
