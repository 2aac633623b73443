"""`tf.Print` and `tf.print` on the host: the line format (message, `[v1 v2 v3...]`
summaries, strings), `first_n`, `summarize`, printing through control dependencies, on
both backends; the printed tensor's value is unchanged and nothing is printed for a
failed step or a run that does not depend on the print."""

from __future__ import annotations

import io

import numpy as np
import pytest

import compiler as tf

BACKENDS = [None, tf.ConfigProto(backend="interpret")]


@pytest.mark.parametrize("config", BACKENDS, ids=["llvm", "interpret"])
def test_print_lines_first_n_and_values(config, capsys):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        total = tf.reduce_sum(x)
        y = tf.Print(x * 2.0, [x, total, tf.constant("tag")], message="x, sum: ", first_n=2)
        z = y + 1.0
        other = x - 1.0                      # does not depend on the print
        with tf.Session(config=config) as sess:
            for _ in range(3):
                np.testing.assert_array_equal(sess.run(z, {x: [1.0, 2.5, 3.0, 4.0]}),
                                              [3.0, 6.0, 7.0, 9.0])
            sess.run(other, {x: [1.0]})
            sess.run(tf.Print(x, [x], summarize=5), {x: [1.0, 2.0]})
    err = capsys.readouterr().err.splitlines()
    assert err == ["x, sum: [1 2.5 3...][10.5][tag]"] * 2 + ["[1 2]"]


@pytest.mark.parametrize("config", BACKENDS, ids=["llvm", "interpret"])
def test_tf_print_op_through_control_dependencies(config, capsys):
    out = io.StringIO()
    with tf.Graph().as_default():
        x = tf.placeholder(tf.int32, [None], name="x")
        p = tf.print("mean:", tf.reduce_mean(x), x, tf.constant(["a", "b"]), sep="|",
                     output_stream=out)
        with tf.control_dependencies([p]):
            y = tf.identity(x * 3)
        q = tf.print("to stderr", summarize=1)
        with tf.Session(config=config) as sess:
            np.testing.assert_array_equal(sess.run(y, {x: [2, 4, 6, 8]}), [6, 12, 18, 24])
            sess.run(p, {x: [1]})
            sess.run(q)
    assert out.getvalue() == "mean:|5|[2 4 6...]|[a b]\nmean:|1|[1]|[a b]\n"
    assert capsys.readouterr().err == "to stderr\n"


def test_a_failed_step_prints_nothing(capsys):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None])
        check = tf.assert_positive(x)
        with tf.control_dependencies([check]):
            y = tf.Print(x, [x], message="ran: ")
        with tf.Session() as sess:
            with pytest.raises(tf.errors.InvalidArgumentError):
                sess.run(y, {x: [-1.0]})
            sess.run(y, {x: [1.0]})
    assert capsys.readouterr().err.splitlines() == ["ran: [1]"]
