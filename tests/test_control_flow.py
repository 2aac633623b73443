"""tf.while_loop, tf.cond and tf.case in the TF1 idiom, compiled as structured regions:
results against numpy transcriptions of TF1's semantics on each backend, nests of loop
variables and branch results, data-dependent trip counts, nested loops, symbolic dims,
the errors TF1 programs meet, and the IR (text round trip, verifier, passes in bodies)."""

import collections

import numpy as np
import pytest

import compiler as tf
from compiler.convert import convert
from compiler.errors import CompileError
from compiler.ir import dtypes as T
from compiler.ir.const import Const
from compiler.ir.nodes import NodeCache, Program, new_token
from compiler.ir.regions import Region, program_nodes
from compiler.ir.text import parse_program, print_program
from compiler.ir.types import TensorType, TupleType
from compiler.ir.verify import VerifyError, verify
from compiler.options import CompileOptions
from compiler.pipeline import optimize

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]


def _run(backend, fetches, feeds=None):
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(fetches, feeds)


# ---- while_loop ----------------------------------------------------------------------------
def ref_while(cond, body, state):
    while cond(*state):
        state = body(*state)
    return state


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_data_dependent_trip_count_over_symbolic_dims(backend):
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.placeholder(tf.int32, [])
    i, acc = tf.while_loop(lambda i, acc: i < n,
                           lambda i, acc: (i + 1, acc * 0.5 + tf.tanh(x)),
                           [tf.constant(0), tf.zeros_like(x)])
    rng = np.random.default_rng(0)
    for rows, trips in ((2, 0), (4, 3), (1, 7)):
        xv = rng.standard_normal((rows, 3)).astype(np.float32)
        got_i, got = _run(backend, [i, acc], {x: xv, n: trips})
        want_i, want = ref_while(lambda i, a, t=trips: i < t,
                                 lambda i, a, x=xv: (i + 1, a * np.float32(0.5) + np.tanh(x)),
                                 (0, np.zeros_like(xv)))
        assert got_i == want_i and got.shape == (rows, 3)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_collatz_steps(backend):
    """A trip count that depends on the data in a way no formula gives."""
    n0 = tf.placeholder(tf.int64, [])
    _, steps = tf.while_loop(
        lambda n, s: n > 1,
        lambda n, s: (tf.where(tf.equal(n % 2, 0), n // 2, 3 * n + 1), s + 1),
        (n0, tf.constant(0, tf.int64)))

    def ref(n):
        s = 0
        while n > 1:
            n, s = (n // 2 if n % 2 == 0 else 3 * n + 1), s + 1
        return s
    for start in (1, 6, 27):
        assert _run(backend, steps, {n0: start}) == ref(start)


LoopState = collections.namedtuple("LoopState", ["total", "terms"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_nests_namedtuples_dicts_and_lstm_state(backend):
    x = tf.placeholder(tf.float64, [4])
    state = tf.nn.rnn_cell.LSTMStateTuple(tf.zeros([4], tf.float64), tf.ones([4], tf.float64))
    init = (tf.constant(0), {"s": LoopState(tf.zeros([], tf.float64), x), "st": state})

    def body(i, d):
        s, st = d["s"], d["st"]
        new_c = st.c + st.h * s.terms
        return i + 1, {"s": LoopState(s.total + tf.reduce_sum(s.terms), s.terms * 0.5),
                       "st": tf.nn.rnn_cell.LSTMStateTuple(new_c, tf.tanh(new_c))}

    i, d = tf.while_loop(lambda i, d: i < 3, body, init)
    assert isinstance(d["s"], LoopState) and isinstance(d["st"], tf.nn.rnn_cell.LSTMStateTuple)
    xv = np.array([1.0, -2.0, 0.5, 3.0])
    got = _run(backend, [d["s"].total, d["s"].terms, d["st"].c, d["st"].h], {x: xv})
    total, terms, c, h = 0.0, xv, np.zeros(4), np.ones(4)
    for _ in range(3):
        c = c + h * terms
        total, terms, h = total + terms.sum(), terms * 0.5, np.tanh(c)
    for g, w in zip(got, [total, terms, c, h]):
        np.testing.assert_allclose(g, w, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_single_tensor_and_one_element_list(backend):
    single = tf.while_loop(lambda v: v < 100, lambda v: v * 3, tf.constant(1))
    listed = tf.while_loop(lambda v: v < 100, lambda v: [v * 2], [tf.constant(1)])
    kept = tf.while_loop(lambda v: v < 100, lambda v: [v * 2], [tf.constant(1)],
                         return_same_structure=True)
    assert isinstance(single, tf.Tensor) and isinstance(listed, tf.Tensor)
    assert isinstance(kept, list) and len(kept) == 1
    assert _run(backend, [single, listed, kept[0]]) == [243, 128, 128]


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_maximum_iterations_and_accepted_options(backend):
    limit = tf.placeholder(tf.int32, [])
    forever = tf.while_loop(lambda v: True, lambda v: v + 2.0, [tf.constant(0.0)],
                            maximum_iterations=limit, parallel_iterations=32,
                            back_prop=False, swap_memory=True, name="capped")
    static = tf.while_loop(lambda v: v < 10.0, lambda v: v + 1.0, [tf.constant(0.0)],
                           maximum_iterations=4,
                           shape_invariants=[tf.TensorShape([])])
    assert forever.name.startswith("capped")
    assert _run(backend, [forever, static], {limit: 5}) == [10.0, 4.0]
    assert _run(backend, forever, {limit: 0}) == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_loops(backend):
    """sum_{i<n} sum_{j<=i} (x[j] * i): the inner loop's trip count is the outer
    counter, and the inner body uses a value captured two levels up."""
    x = tf.placeholder(tf.float32, [None])
    n = tf.shape(x)[0]

    def outer(i, total):
        def inner(j, acc):
            return j + 1, acc + x[j] * tf.cast(i, tf.float32)
        _, s = tf.while_loop(lambda j, acc: j <= i, inner, [tf.constant(0), tf.constant(0.0)])
        return i + 1, total + s

    _, total = tf.while_loop(lambda i, t: i < n, outer, [tf.constant(0), tf.constant(0.0)])
    xv = np.array([1.0, 2.0, -0.5, 4.0, 0.25], np.float32)
    want = sum(xv[j] * i for i in range(5) for j in range(i + 1))
    np.testing.assert_allclose(_run(backend, total, {x: xv}), want, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loop_reads_variables_with_state_within_one_run(backend):
    w = tf.Variable([1.0, 2.0], name="w")
    bump = tf.assign_add(w, [10.0, 10.0])
    with tf.control_dependencies([bump]):
        after = tf.while_loop(lambda i, a: i < 2, lambda i, a: (i + 1, a + w),
                              [tf.constant(0), tf.zeros([2])])[1]
    before = tf.while_loop(lambda i, a: i < 2, lambda i, a: (i + 1, a + w),
                           [tf.constant(0), tf.zeros([2])])[1]
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        sess.run(w.initializer)
        np.testing.assert_allclose(sess.run(before), [2.0, 4.0])
        np.testing.assert_allclose(sess.run(after), [22.0, 24.0])
        np.testing.assert_allclose(sess.run(w), [11.0, 12.0])


# ---- cond and case ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_runs_only_the_taken_branch(backend):
    x = tf.placeholder(tf.float32, [None])
    idx = tf.placeholder(tf.int32, [])
    # the false branch gathers out of range when idx is bad: it must not run
    y = tf.cond(idx < tf.shape(x)[0], lambda: tf.gather(x, idx) * 2.0, lambda: -1.0)
    xv = np.array([1.0, 5.0, 7.0], np.float32)
    assert _run(backend, y, {x: xv, idx: 1}) == 10.0
    assert _run(backend, y, {x: xv, idx: 9}) == -1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_nests_strict_and_python_bool(backend):
    a = tf.placeholder(tf.float64, [2])
    p = tf.placeholder(tf.bool, [])
    out = tf.cond(p, lambda: {"s": a + 1.0, "t": (a * 2.0, tf.reduce_sum(a))},
                  lambda: {"s": a - 1.0, "t": (-a, tf.constant(0.0, tf.float64))})
    one = tf.cond(p, lambda: [a], lambda: [a * 0.0])
    strict = tf.cond(p, lambda: [a], lambda: [a * 0.0], strict=True)
    fixed = tf.cond(False, lambda: a, lambda: a * 3.0)
    assert isinstance(one, tf.Tensor) and isinstance(strict, list)
    av = np.array([1.5, -2.0])
    for pv in (True, False):
        got = _run(backend, [out["s"], out["t"][0], out["t"][1], one, strict[0], fixed],
                   {a: av, p: pv})
        want = ([av + 1, av * 2, av.sum(), av, av] if pv
                else [av - 1, -av, 0.0, av * 0, av * 0]) + [av * 3]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w)


def ref_case(preds, values, default):
    for p, v in zip(preds, values):
        if p:
            return v
    return default


@pytest.mark.parametrize("backend", BACKENDS)
def test_case(backend):
    x = tf.placeholder(tf.int32, [])
    y = tf.case([(tf.less(x, 0), lambda: tf.constant(-1)),
                 (tf.equal(x, 0), lambda: tf.constant(0))],
                default=lambda: x * 10)
    ordered = collections.OrderedDict([(x > 5, lambda: tf.constant(100)),
                                       (x > 2, lambda: tf.constant(50))])
    z = tf.case(ordered, default=lambda: tf.constant(1), exclusive=False)
    no_default = tf.case([(x > 0, lambda: tf.constant(7)), (x <= 0, lambda: tf.constant(8))])
    for v in (-3, 0, 3, 9):
        got = _run(backend, [y, z, no_default], {x: v})
        assert got[0] == ref_case([v < 0, v == 0], [-1, 0], v * 10)
        assert got[1] == ref_case([v > 5, v > 2], [100, 50], 1)
        assert got[2] == (7 if v > 0 else 8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cond_inside_a_loop(backend):
    x = tf.placeholder(tf.float32, [None])

    def body(i, v):
        return i + 1, tf.cond(tf.equal(i % 2, 0), lambda: v * 2.0, lambda: v - 1.0)
    _, out = tf.while_loop(lambda i, v: i < 5, body, [tf.constant(0), x])
    xv = np.array([1.0, -3.0], np.float32)
    want = xv.copy()
    for i in range(5):
        want = want * 2 if i % 2 == 0 else want - 1
    np.testing.assert_allclose(_run(backend, out, {x: xv}), want)


# ---- errors a TF1 program meets ----------------------------------------------------------------
def test_loop_variable_that_changes_shape_is_named():
    x = tf.placeholder(tf.float32, [3])
    with pytest.raises(ValueError, match=r"loop variable 0 .*shape.*\[3\].*\[4\]"):
        tf.while_loop(lambda v: True, lambda v: tf.concat([v, [1.0]], 0), [x])


def test_loop_variable_that_changes_dtype_is_named():
    with pytest.raises(TypeError, match="loop variable 0.*float32.*int32"):
        tf.while_loop(lambda v: v < 3, lambda v: tf.cast(v, tf.float32), [tf.constant(0)])


def test_incompatible_shape_invariant_is_named():
    with pytest.raises(ValueError, match="shape invariant.*loop variable 0"):
        tf.while_loop(lambda v: True, lambda v: v, [tf.zeros([3])],
                      shape_invariants=[tf.TensorShape([4])])


def test_assign_in_a_body_is_an_error():
    w = tf.Variable(1.0)
    with pytest.raises(tf.GraphError, match="assigns a variable inside the body"):
        tf.while_loop(lambda i: i < 3, lambda i: i + tf.cast(tf.assign(w, 2.0), tf.int32),
                      [tf.constant(0)])


def test_random_draws_in_a_loop_body_differ_per_iteration_and_match_across_backends():
    tf.set_random_seed(7)
    n = tf.placeholder(tf.int32, [])
    draws = tf.zeros([4, 3])

    def body(i, d):
        row = tf.random_uniform([3]) + tf.cast(i, tf.float32) * 0.0
        return i + 1, tf.concat([d[1:], tf.reshape(row, [1, 3])], 0)
    _, out = tf.while_loop(lambda i, d: i < n, body, [tf.constant(0), draws])
    got = {}
    for backend in BACKENDS:
        with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
            got[backend] = [sess.run(out, {n: 4}), sess.run(out, {n: 4})]
    first, second = got["interpret"]
    assert len({tuple(r) for r in first}) == 4      # a new row each iteration
    assert not np.array_equal(first, second)         # and a new run, new rows
    for backend in BACKENDS:                         # identical bits on every backend
        for a, b in zip(got[backend], got["interpret"]):
            np.testing.assert_array_equal(a, b)


def test_a_body_value_cannot_escape():
    leaked = []

    def body(v):
        leaked.append(v * 2.0)
        return leaked[-1]
    tf.while_loop(lambda v: v < 3.0, body, [tf.constant(1.0)])
    with pytest.raises(tf.GraphError, match="inside the body of 'while'"):
        tf.identity(leaked[0]) + 1.0


def test_cond_branches_must_agree():
    p = tf.placeholder(tf.bool, [])
    with pytest.raises(TypeError, match="result 0 is float32 in true_fn and int32"):
        tf.cond(p, lambda: tf.constant(1.0), lambda: tf.constant(1))
    with pytest.raises(ValueError, match="structures differ"):
        tf.cond(p, lambda: (tf.constant(1.0), tf.constant(2.0)), lambda: tf.constant(1.0))
    with pytest.raises(ValueError, match=r"shape \[2\] in true_fn and \[3\]"):
        tf.cond(p, lambda: tf.zeros([2]), lambda: tf.zeros([3]))
    with pytest.raises(ValueError, match="pred must be a bool scalar"):
        tf.cond(tf.placeholder(tf.bool, [2]), lambda: 1.0, lambda: 2.0)


def test_cond_result_must_be_a_bool_scalar():
    with pytest.raises(TypeError, match="cond must return a bool scalar"):
        tf.while_loop(lambda v: v, lambda v: v + 1, [tf.constant(0)])


# ---- the IR ------------------------------------------------------------------------------------
def _loop_program():
    x = tf.placeholder(tf.float32, [None], name="x")
    n = tf.placeholder(tf.int32, [], name="n")
    _, acc = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * (0.5 * 4.0) + x),
                           [tf.constant(0), tf.zeros_like(x)])
    y = tf.cond(tf.reduce_sum(acc) > 0.0, lambda: acc, lambda: -acc)
    return convert(tf.get_default_graph(), [y], [x, n])


def test_regions_print_nested_and_round_trip():
    program = _loop_program()
    verify(program)
    text = print_program(program)
    assert "region @r0(" in text and "    yield (" in text and "while(" in text
    assert "cond(" in text and ": tuple<int32[], float32[N0]>" in text
    parsed = parse_program(text)
    assert print_program(parsed) == text
    verify(parsed)
    assert {n.op for n in program_nodes(parsed)} >= {"param", "while", "cond", "get"}


def test_provenance_free_text_numbers_tokens_by_position():
    """The compile cache hashes this text: the same loop built again (new tokens) must
    give the same text, so a second process hits the cache."""
    first = print_program(_loop_program(), provenance=False)
    tf.reset_default_graph()
    second = _loop_program()
    assert print_program(second, provenance=False) == first
    assert "token=1\n" in first and print_program(second) != first


def test_passes_fold_inside_bodies():
    optimized, _ = optimize(_loop_program(), CompileOptions())
    text = print_program(optimized)
    assert "dense<float32[]>2.0" in text and "dense<float32[]>0.5" not in text
    verify(optimized)


def test_verifier_rejects_a_region_that_is_not_closed():
    cache = NodeCache()
    f32 = TensorType(T.float32, (3,))
    x = cache.make("placeholder", (), {"name": "x:0", "dtype": T.float32, "shape": (3,)}, f32)
    p = cache.make("param", (), {"index": 0, "dtype": T.float32, "shape": (3,)}, f32,
                   new_token())
    leaky = Region([p], [cache.make("add", [p, x], {}, f32)])    # uses the outer x
    q = cache.make("param", (), {"index": 0, "dtype": T.float32, "shape": (3,)}, f32,
                   new_token())
    fine = Region([q], [q])
    pred = cache.make("constant", (), {"value": Const(np.array(True))}, TensorType(T.bool_, ()))
    node = cache.make("cond", [pred, x], {"then": leaky, "else": fine}, TupleType((f32,)))
    out = cache.make("get", [node], {"index": 0}, f32)
    with pytest.raises(VerifyError, match="then region is not closed"):
        verify(Program([x], [out], {}, []))


@pytest.mark.parametrize("backend", BACKENDS)
def test_loop_variables_swapped_kept_and_assigned_after(backend):
    """A body that swaps two loop variables and returns one unchanged; a variable
    assigned from the loop's result in the same run."""
    a = tf.placeholder(tf.float32, [2])
    b = tf.placeholder(tf.float32, [2])
    acc = tf.Variable([0.0, 0.0])
    i, x, y, same = tf.while_loop(lambda i, x, y, s: i < 3,
                                  lambda i, x, y, s: (i + 1, y, x + s, s),
                                  [tf.constant(0), a, b, a * 10.0])
    update = tf.assign_add(acc, x)
    av, bv = np.array([1.0, 2.0], np.float32), np.array([-1.0, 5.0], np.float32)
    x_, y_, s_ = av, bv, av * 10
    for _ in range(3):
        x_, y_ = y_, x_ + s_
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        sess.run(acc.initializer)
        got = sess.run([i, x, y, same, update], {a: av, b: bv})
    for g, w in zip(got, [3, x_, y_, s_, x_]):
        np.testing.assert_allclose(g, w)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_rank_loop_variables_and_conds_nested_in_conds(backend):
    x = tf.placeholder("float")                      # no shape: compiled per fed rank
    grown = tf.while_loop(lambda v: tf.reduce_sum(v) < 100.0, lambda v: v * 2.0, [x])
    w = tf.Variable(3.0)
    p = tf.placeholder(tf.bool, [])
    z = tf.cond(p, lambda: tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a + w),
                                         [0, 0.0])[1],
                lambda: tf.cond(tf.logical_not(p), lambda: w * 10.0, lambda: w))
    from_variable = tf.while_loop(lambda v: v < 5.0, lambda v: v + 1.0, [w])
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        sess.run(w.initializer)
        np.testing.assert_allclose(sess.run(grown, {x: [[1.0, 2.0], [3.0, 4.0]]}),
                                   [[16.0, 32.0], [48.0, 64.0]])
        assert sess.run(grown, {x: 1.0}) == 128.0
        assert sess.run([z, from_variable], {p: True}) == [9.0, 5.0]
        assert sess.run(z, {p: False}) == 30.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_control_dependencies_inside_a_body_on_outer_ops(backend):
    """An op in the body that depends on an outer assign: the loop runs after it."""
    v = tf.Variable(1.0)
    bump = tf.assign_add(v, 5.0)

    def body(i, a):
        with tf.control_dependencies([bump]):
            return i + 1, a + tf.identity(v)
    _, total = tf.while_loop(lambda i, a: i < 2, body, [tf.constant(0), tf.constant(0.0)])
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        sess.run(v.initializer)
        assert sess.run(total) == 12.0            # reads 6.0 twice, after the bump
        assert sess.run(v) == 6.0


def test_fetching_a_value_from_inside_a_body_is_an_error():
    inside = []

    def body(a):
        inside.append(a * 3.0)
        return inside[-1]
    tf.while_loop(lambda a: a < 10.0, body, [tf.constant(1.0)])
    with tf.Session() as sess:
        with pytest.raises(CompileError, match="inside the body of 'while'"):
            sess.run(inside[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_loop_variables_of_every_dtype(backend):
    h = tf.placeholder(tf.float16, [3])
    outs = tf.while_loop(
        lambda i, b, a, f, d: i < 4,
        lambda i, b, a, f, d: (i + 1, tf.logical_not(b), a * 3, f * 1.5, d + 0.25),
        [tf.constant(0, tf.int64), tf.constant([True, False]),
         tf.constant([1, -2], tf.int32), h, tf.constant(1.0, tf.float64)])
    hv = np.array([1.0, -2.0, 0.5], np.float16)
    got = _run(backend, list(outs), {h: hv})
    f = hv
    for _ in range(4):
        f = (f.astype(np.float32) * np.float32(1.5)).astype(np.float16)
    want = [4, [True, False], [81, -162], f, 2.0]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert [g.dtype for g in got] == [np.int64, np.bool_, np.int32, np.float16, np.float64]


_BAD_REGION_TEXTS = {
    "yield outside a region": ("  yield (%0)\n", "'yield' outside a region"),
    "region never closed": ("  region @r0(%1) {\n"
                            "    %1 = param() {dtype=float32, index=0, shape=[3]} : "
                            "float32[3] token=1\n    yield (%1)\n",
                            "'return' inside region @r0"),
    "unknown label": ("  region @r0(%1) {\n"
                      "    %1 = param() {dtype=float32, index=0, shape=[3]} : float32[3] "
                      "token=1\n    yield (%1)\n  }\n"
                      "  %2 = cond(%9, %0) {else=@r0, then=@r7} : tuple<float32[3]>\n",
                      None),
    "return inside a region": ("  region @r0(%1) {\n    return (%0)\n  }\n",
                               "'return' inside region @r0"),
    "param that is not a param": ("  region @r0(%0) {\n    yield (%0)\n  }\n",
                                  "is not a param node"),
}


@pytest.mark.parametrize("case", sorted(_BAD_REGION_TEXTS))
def test_region_text_errors_name_the_line(case):
    from compiler.ir.textvalues import ParseError
    body, message = _BAD_REGION_TEXTS[case]
    text = ('program @main(%0: float32[3]) {\n'
            '  %0 = placeholder() {dtype=float32, name="x:0", shape=[3]} : float32[3]\n'
            + body + "  return (%0)\n}\n")
    with pytest.raises(ParseError, match=message or "line"):
        parse_program(text)


def test_body_results_must_match_the_loop_variables():
    with pytest.raises(ValueError, match="body returned 3 values for 2 loop variables"):
        tf.while_loop(lambda a, b: a < 3, lambda a, b: (a + 1, b, b), [0, 1.0])
    with pytest.raises(ValueError, match="the body's result and loop_vars.*structures"):
        tf.while_loop(lambda a, b: a < 3, lambda a, b: ((a + 1, b),), [0, 1.0])
    with pytest.raises(TypeError, match="loop variable 1.*returned an operation"):
        tf.while_loop(lambda a, b: a < 3, lambda a, b: (a + 1, tf.no_op()), [0, 1.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_values_that_read_old_ones_in_any_order(backend):
    """Body results computed in place into their loop variables must not clobber an old
    value a later kernel still reads: (a, b) -> (a + 1, a * 2 + b), and an LSTM-like
    step where the new c feeds the new h and the old h feeds the matmul."""
    a0 = tf.placeholder(tf.float32, [3])
    x = tf.placeholder(tf.float32, [2, 4])
    wv = np.linspace(-1, 1, 32).reshape(8, 4).astype(np.float32)
    w = tf.constant(wv)

    def lstm(i, c, h):
        z = tf.matmul(tf.concat([x, h], 1), w)
        c2 = tf.sigmoid(z) * c + tf.tanh(z) * 0.5
        return i + 1, c2, tf.tanh(c2) * tf.sigmoid(z + 1.0)

    ab = tf.while_loop(lambda i, a, b: i < 4, lambda i, a, b: (i + 1, a + 1.0, a * 2.0 + b),
                       [tf.constant(0), a0, tf.zeros([3])])
    ch = tf.while_loop(lambda i, c, h: i < 5, lstm,
                       [tf.constant(0), tf.zeros([2, 4]), tf.ones([2, 4])])
    av = np.array([1.0, -2.0, 0.5], np.float32)
    xv = np.random.default_rng(4).standard_normal((2, 4)).astype(np.float32)
    sq = tf.while_loop(lambda i, m: i < 3, lambda i, m: (i + 1, tf.transpose(m) * 2.0 + 1.0),
                       [tf.constant(0), tf.reshape(tf.range(16.0), [4, 4])])[1]
    got = _run(backend, [ab[1], ab[2], ch[1], ch[2], sq], {a0: av, x: xv})
    m = np.arange(16.0).reshape(4, 4)
    for _ in range(3):
        m = m.T * 2 + 1
    a, b = av, np.zeros(3, np.float32)
    for _ in range(4):
        a, b = a + 1, a * 2 + b
    c, h = np.zeros((2, 4)), np.ones((2, 4))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for _ in range(5):
        z = np.concatenate([xv, h], 1) @ wv
        c = sig(z) * c + np.tanh(z) * 0.5
        h = np.tanh(c) * sig(z + 1)
    for g, want in zip(got, [a, b, c, h, m]):
        np.testing.assert_allclose(g, want, rtol=2e-5, atol=2e-6)
