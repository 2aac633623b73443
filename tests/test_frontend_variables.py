"""variable_scope / get_variable, initializers, and the scoping context managers."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")


def test_get_variable_names_and_reuse():
    with fc.variable_scope("layer"):
        w = fc.get_variable("w", [3, 2])
        with fc.variable_scope("inner"):
            b = fc.get_variable("b", [2], initializer=fc.zeros_initializer())
    assert w.name == "layer/w:0" and b.name == "layer/inner/b:0"
    with fc.variable_scope("layer", reuse=True):
        assert fc.get_variable("w", [3, 2]) is w
        with fc.variable_scope("inner"):  # reuse is inherited
            assert fc.get_variable("b") is b
    with fc.variable_scope("layer") as scope:
        scope.reuse_variables()
        assert fc.get_variable("w") is w
    assert w in fc.global_variables() and w in fc.trainable_variables()


def test_reuse_errors_name_the_variable():
    with fc.variable_scope("s"):
        fc.get_variable("v", [1])
    with pytest.raises(ValueError, match="Variable s/v already exists"):
        with fc.variable_scope("s"):
            fc.get_variable("v", [1])
    with pytest.raises(ValueError, match="Variable s/u does not exist"):
        with fc.variable_scope("s", reuse=True):
            fc.get_variable("u", [1])
    with pytest.raises(ValueError, match="Trying to share variable s/v.*shape"):
        with fc.variable_scope("s", reuse=True):
            fc.get_variable("v", [2])
    with pytest.raises(ValueError, match="Trying to share variable s/v.*dtype"):
        with fc.variable_scope("s", reuse=True):
            fc.get_variable("v", [1], dtype=fc.float64)
    with pytest.raises(ValueError, match="fully defined"):
        fc.get_variable("nope")
    with pytest.raises(ValueError, match="fully defined"):
        fc.get_variable("nope2", [None, 2])


def test_auto_reuse_and_reuse_stickiness():
    def layer():
        with fc.variable_scope("shared", reuse=fc.AUTO_REUSE):
            return fc.get_variable("k", [2])
    assert layer() is layer()
    with fc.variable_scope("outer", reuse=True):
        with fc.variable_scope("inner", reuse=False):
            assert fc.get_variable_scope().reuse is True
    with fc.variable_scope(None, default_name="block") as s1:
        pass
    with fc.variable_scope(None, default_name="block") as s2:
        pass
    assert (s1.name, s2.name) == ("block", "block_1")


def test_name_scope_does_not_affect_get_variable_but_names_ops():
    with fc.name_scope("ns"):
        v = fc.get_variable("v", [1])
        c = fc.constant(1.0, name="c")
    assert v.name == "v:0" and c.name == "ns/c:0"
    with fc.variable_scope("vs") as scope:
        op = fc.add(v, 1.0, name="plus")
    assert op.name == "vs/plus:0"
    with fc.variable_scope(scope):
        again = fc.add(v, 1.0, name="plus2")
    assert again.name == "vs/plus2:0"
    with fc.variable_scope("vs"):
        assert fc.add(v, 1.0, name="plus3").name == "vs_1/plus3:0"


def test_initializers_values(interp):
    specs = {
        "z": (fc.zeros_initializer(), np.zeros((2, 3))),
        "o": (fc.ones_initializer(), np.ones((2, 3))),
        "c": (fc.constant_initializer(2.5), np.full((2, 3), 2.5)),
        "l": (fc.constant_initializer([1, 2, 3, 4]), np.array([[1, 2, 3], [4, 4, 4]])),
        "a": (fc.constant_initializer(np.arange(6)), np.arange(6).reshape(2, 3)),
    }
    variables = {k: fc.get_variable(k, [2, 3], initializer=init) for k, (init, _) in
                 specs.items()}
    iv = fc.get_variable("iv", [2], dtype=fc.int32)
    given = fc.get_variable("given", initializer=np.array([1.0, 2.0]), dtype=fc.float64)
    got = interp([variables[k] for k in specs] + [iv, given], init=True)
    for g, (_, want) in zip(got, list(specs.values()), strict=False):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, want)
    np.testing.assert_array_equal(got[-2], [0, 0])
    np.testing.assert_array_equal(got[-1], [1.0, 2.0])
    with pytest.raises(ValueError, match="do not fit"):
        fc.constant_initializer([1, 2, 3])([2])
    with pytest.raises(ValueError, match="do not specify shape"):
        fc.get_variable("bad", [1], initializer=fc.constant([1.0]))


def test_random_initializers(interp):
    fc.set_random_seed(1)
    shape = [200, 300]
    inits = [fc.random_normal_initializer(1.0, 0.5), fc.truncated_normal_initializer(0.0, 2.0),
             fc.random_uniform_initializer(-3.0, -1.0), fc.glorot_uniform_initializer(),
             fc.glorot_normal_initializer(), fc.initializers.variance_scaling(2.0)]
    vs = [fc.get_variable(f"r{k}", shape, initializer=init) for k, init in enumerate(inits)]
    default = fc.get_variable("default", shape)
    rn, tn, ru, gu, gn, vsc, d = interp(vs + [default], init=True)
    assert abs(rn.mean() - 1.0) < 0.01 and abs(rn.std() - 0.5) < 0.01
    assert np.abs(tn).max() <= 4.0
    assert -3.0 <= ru.min() and ru.max() < -1.0
    limit = np.sqrt(6.0 / (200 + 300))
    for u in (gu, d):  # glorot_uniform is the default for floats
        assert np.abs(u).max() <= limit and abs(u.std() - limit / np.sqrt(3)) < 0.01 * limit
    assert np.abs(gn).max() <= 2 * np.sqrt(2.0 / 500) / 0.8796 * 1.0001
    assert abs(gn.std() - np.sqrt(2.0 / 500)) < 0.05 * np.sqrt(2.0 / 500)
    assert abs(vsc.std() - np.sqrt(2.0 / 200)) < 0.05 * np.sqrt(2.0 / 200)


def test_scope_initializer_and_regularizer(interp):
    reg = []

    def l2(v):
        loss = fc.nn.l2_loss(v)
        reg.append(loss)
        return loss
    with fc.variable_scope("s", initializer=fc.ones_initializer(), regularizer=l2):
        v = fc.get_variable("v", [3])
    assert fc.get_collection(fc.GraphKeys.REGULARIZATION_LOSSES) == reg
    value, loss = interp([v, reg[0]], init=True)
    np.testing.assert_array_equal(value, np.ones(3))
    assert loss == 1.5


def test_variable_helpers(interp):
    v = fc.Variable([1.0, 2.0], name="v")
    with fc.Session(config=fc.ConfigProto(backend="interpret")) as sess:
        sess.run(fc.global_variables_initializer())
        sess.run(fc.assign(v, [3.0, 4.0]))
        sess.run(fc.assign_add(v, [1.0, 1.0]))
        sess.run(fc.assign_sub(v, [0.5, 0.5]))
        np.testing.assert_array_equal(sess.run(v), [3.5, 4.5])
        sess.run(fc.local_variables_initializer())
    assert fc.local_variables() == []


def test_name_scope_device_control_dependencies(interp):
    with fc.name_scope("a") as scope:
        x = fc.constant(1.0, name="x")
        with fc.name_scope("b"):
            y = fc.constant(2.0, name="y")
        with fc.name_scope(None):
            top = fc.constant(0.0, name="top")
    assert scope == "a/" and x.name == "a/x:0" and y.name == "a/b/y:0"
    assert top.name == "top:0"
    with fc.name_scope("a"):
        assert fc.constant(3.0, name="x").name == "a_1/x:0"
    with fc.device("/cpu:0"):
        d = fc.add(x, y)
    assert d.device == "/cpu:0" and x.device == ""
    v = fc.Variable(0.0)
    inc = v.assign_add(1.0)
    with fc.control_dependencies([inc]):
        after = fc.identity(v)
        with fc.control_dependencies(None):
            free = fc.identity(v)
    assert inc.op in after.op.control_inputs and not free.op.control_inputs
    with fc.Session(config=fc.ConfigProto(backend="interpret")) as sess:
        sess.run(fc.global_variables_initializer())
        assert sess.run(after) == 1.0
        assert sess.run(free) == 1.0
        assert sess.run(after) == 2.0


def test_group_and_no_op(interp):
    v = fc.Variable(0)
    g = fc.group(v.assign_add(1), [v.assign_add(2)])
    assert g.type == "NoOp" and len(g.control_inputs) == 2
    assert fc.no_op().type == "NoOp"


def test_public_namespace():
    assert fc.compat.v1.placeholder is fc.placeholder
    assert fc.dtypes.float32 is fc.float32 and fc.bool is fc.bool_
    assert fc.newaxis is None and repr(fc.AUTO_REUSE) == "AUTO_REUSE"
    assert fc.initializers.zeros is fc.zeros_initializer
    for name in fc.__all__:
        assert hasattr(fc, name), name


def test_reentering_a_scope_by_name_restarts_its_default_names(fresh_default_graph):
    """TF1's PTB tutorial: the training and validation models are built in
    variable_scope("Model") and variable_scope("Model", reuse=True); the default-named
    scopes inside (`rnn/multi_rnn_cell`, made unique by default_name) must get the
    same names the second time, so the second model reuses the first one's variables."""
    def build():
        with fc.variable_scope(None, default_name="cell"):
            return fc.get_variable("w", [2])

    with fc.variable_scope("Model"):
        first = build()
        sibling = build()
    with fc.variable_scope("Model", reuse=True):
        again = build()
    assert first.name == "Model/cell/w:0" and sibling.name == "Model/cell_1/w:0"
    assert again is first
    with fc.variable_scope("Model"):                 # without reuse: the names are taken
        with pytest.raises(ValueError, match="already exists"):
            build()
