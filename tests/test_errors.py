"""Every user error of the foundation gets a clear Python exception that names the culprit
(placeholder, node, variable), says expected vs. got and where the op was created —
on the compiled path and, with the same exception type, on the interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as fc
from compiler.convert import CompileError
from compiler.frontend.core import make
from compiler.frontend.graph import GraphError
from compiler.ir.dims import ShapeError
from runtime.errors import ExecutionError, FeedError, UninitializedVariableError

BACKENDS = ["llvm", "interpret"]


@pytest.fixture(params=BACKENDS)
def env(request):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        y = fc.placeholder(fc.float32, [None, 3], name="y")
        w = fc.Variable(np.ones((3, 2), np.float32), name="w")
        ns = dict(g=g, x=x, y=y, w=w, z=fc.add(x, y), m=fc.matmul(x, w))
        with fc.Session(config=fc.ConfigProto(backend=request.param)) as sess:
            ns["sess"] = sess
            yield ns


def test_unconvertible_feed_names_the_placeholder(env):
    with pytest.raises(FeedError, match=r"placeholder 'x' \(created at test_errors.py:\d+\)"
                       r".*float32"):
        env["sess"].run(env["z"], {env["x"]: "abc", env["y"]: np.ones((2, 3))})


def test_wrong_shape_says_expected_and_got(env):
    with pytest.raises(FeedError, match=r"'x'.*expected shape \[N\d+, 3\], got \[2, 4\]"):
        env["sess"].run(env["z"], {env["x"]: np.ones((2, 4)), env["y"]: np.ones((2, 3))})


def test_wrong_rank(env):
    with pytest.raises(FeedError, match=r"'y'.*expected rank 2"):
        env["sess"].run(env["z"], {env["x"]: np.ones((2, 3)), env["y"]: np.ones(3)})


def test_inconsistent_batch_dims_name_both_placeholders_and_the_op(env):
    with pytest.raises(FeedError) as info:
        env["sess"].run(env["z"], {env["x"]: np.ones((2, 3)), env["y"]: np.ones((5, 3))})
    msg = str(info.value)
    assert "'x'" in msg and "'y'" in msg and "5" in msg and "2" in msg
    assert "test_errors.py" in msg and "dd" in msg.lower()  # the add op where they met


def test_extent_one_does_not_broadcast_against_a_symbol(env):
    with pytest.raises(FeedError, match="does not broadcast"):
        env["sess"].run(env["z"], {env["x"]: np.ones((4, 3)), env["y"]: np.ones((1, 3))})


def test_missing_feed(env):
    with pytest.raises(CompileError, match=r"placeholder 'y' \(created at test_errors.py"):
        env["sess"].run(env["z"], {env["x"]: np.ones((2, 3))})


def test_unfeedable_tensor(env):
    init = env["w"].initializer
    with pytest.raises(FeedError, match="may not be fed"):
        env["sess"].run(init, {init.outputs[0]: np.ones((3, 2))})
    with pytest.raises(FeedError, match="cannot feed the operation"):
        env["sess"].run(env["z"], {env["x"].op: np.ones((1, 3))})


def test_unknown_fetch(env):
    with pytest.raises(KeyError, match="no tensor named 'nope:0'"):
        env["sess"].run("nope:0")
    with pytest.raises(KeyError, match="no operation named 'nope'"):
        env["sess"].run("nope")


def test_tensor_from_another_graph(env):
    other = fc.Graph()
    with other.as_default():
        q = fc.placeholder(fc.float32, [3], name="q")
    with pytest.raises(GraphError, match="another graph"):
        env["sess"].run(q, {q: np.ones(3)})
    with pytest.raises(GraphError, match="another graph"):
        fc.add(env["x"], q)


def test_uninitialized_variable(env):
    with pytest.raises(UninitializedVariableError, match=r"'w'.*test_errors.py.*initializer"):
        env["sess"].run(env["m"], {env["x"]: np.ones((2, 3))})


def test_out_of_range_gather_names_the_node(env):
    idx = fc.placeholder(fc.int32, [None], name="idx")
    g = make("gather", [env["w"].value(), idx], name="lookup", axis=0)
    env["sess"].run(fc.global_variables_initializer())
    with pytest.raises(ExecutionError, match=r"gather 'lookup' \(created at test_errors.py"):
        env["sess"].run(g, {idx: [0, 3]})
    with pytest.raises(ExecutionError, match="out of range"):
        env["sess"].run(g, {idx: [-1]})
    np.testing.assert_array_equal(env["sess"].run(g, {idx: [2, 0]}), np.ones((2, 2)))


def test_failed_run_leaves_variables_untouched(env):
    idx = fc.placeholder(fc.int32, [None], name="idx")
    w = env["w"]
    rows = make("gather", [w.value(), idx], axis=0)
    step = w.assign(make("slice", [make("add", [rows, fc.constant(5.0)])], begin=(0, 0),
                         size=(3, 2), stride=(1, 1)))
    env["sess"].run(fc.global_variables_initializer())
    with pytest.raises(ExecutionError):
        env["sess"].run(step, {idx: [0, 1, 7]})
    np.testing.assert_array_equal(env["sess"].run(w), np.ones((3, 2)))


def test_cycle_is_reported(env):
    a = fc.add(env["x"], 1.0)
    b = fc.add(a, 1.0)
    a.op.control_inputs.append(b.op)
    with pytest.raises(GraphError, match="cycle"):
        env["sess"].run(b, {env["x"]: np.ones((1, 3))})


def test_build_time_shape_errors_name_the_op_and_line():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        with pytest.raises(ShapeError, match=r"'mm' \(created at test_errors.py:\d+\).*inner"):
            fc.matmul(x, fc.constant(np.ones((4, 2)), dtype=fc.float32), name="mm")
        with pytest.raises(ShapeError, match=r"test_errors.py.*broadcast"):
            fc.add(x, fc.constant(np.ones(4), dtype=fc.float32))
        w = fc.constant(np.ones((3, 2)), dtype=fc.float32)
        with pytest.raises(ShapeError, match="6 elements"):
            make("reshape", [w], shape=(4, 2))
        with pytest.raises(ShapeError, match="6 elements"):
            make("reshape", [w], shape=(4, -1))


def test_dtype_mismatch_at_build_time():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3])
        i = fc.placeholder(fc.int32, [3])
        with pytest.raises(TypeError, match="float32 and int32"):
            fc.add(x, i)


def test_unordered_assigns_to_one_variable_are_rejected(env):
    w = env["w"]
    a = w.assign(np.zeros((3, 2), np.float32))
    b = w.assign(np.ones((3, 2), np.float32))
    with pytest.raises(CompileError, match="assigned more than once"):
        env["sess"].run([a, b])


def test_symbolic_slice_out_of_bounds_is_caught_before_the_call(env):
    x = env["x"]
    s = make("slice", [x], name="first4", begin=(0, 0), size=(4, 3), stride=(1, 1))
    np.testing.assert_array_equal(env["sess"].run(s, {x: np.ones((5, 3))}), np.ones((4, 3)))
    with pytest.raises(FeedError, match=r"slice 'first4'.*test_errors.py"):
        env["sess"].run(s, {x: np.ones((3, 3))})
