"""Control flow compiled as loops and branches: one compile and a fixed set of kernels
whatever the trip count, fusion inside loop bodies, the host schedule in the dumps,
faults inside a body, ahead-of-time `.so` models with loops, and the compiled results
against the interpreter on random inputs."""

import numpy as np
import pytest

import compiler as tf
import runtime
from runtime.errors import ExecutionError

pytestmark = pytest.mark.usefixtures("fresh_default_graph")


def _power_loop(trips):
    """x -> (tanh(x*0.9+0.1)) applied `trips` times (a tensor or an int)."""
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    _, y = tf.while_loop(lambda i, v: i < trips,
                         lambda i, v: (i + 1, tf.tanh(v * 0.9 + 0.1)),
                         [tf.constant(0), x])
    return x, y


def _ref_power(xv, trips):
    v = xv.astype(np.float32)
    for _ in range(trips):
        v = np.tanh(v * np.float32(0.9) + np.float32(0.1))
    return v


def test_one_compile_serves_every_trip_count():
    n = tf.placeholder(tf.int32, [], name="n")
    x, y = _power_loop(n)
    xv = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    with tf.Session() as sess:
        for trips in (3, 300, 0, 17):
            np.testing.assert_allclose(sess.run(y, {x: xv, n: trips}), _ref_power(xv, trips),
                                       rtol=2e-6, atol=2e-6)
        assert sess.compile_count == 1


def _kernel_count(trips) -> int:
    tf.reset_default_graph()
    x, y = _power_loop(trips)
    text = tf.dump(y, feeds=[x], stages="kernels")["kernels"]
    return sum(line.startswith("kernel ") for line in text.splitlines())


def test_kernel_count_does_not_depend_on_the_trip_count():
    # init constant, two copies in, cond, two body kernels (copies back are shared)
    assert _kernel_count(3) == _kernel_count(300) == 6


def test_the_loop_body_fuses_into_one_kernel():
    x, y = _power_loop(5)
    stages = tf.dump(y, feeds=[x], stages=["input", "fusion", "kernels"])
    assert "region @r0(" in stages["input"] and "while(" in stages["input"]
    fusion = stages["fusion"]
    assert "[control] -> while" in fusion and "region body:" in fusion
    # tanh(v*0.9+0.1) is one loop kernel computing mul and add inside it
    body = fusion.split("region body:")[1]
    assert "[loop] -> tanh" in body and "computes mul" in body
    kernels = stages["kernels"]
    assert "host schedule:" in kernels and "loop:" in kernels and "while b" in kernels


def test_cond_dump_shows_the_branches():
    p = tf.placeholder(tf.bool, [])
    x = tf.placeholder(tf.float32, [3])
    y = tf.cond(p, lambda: tf.exp(x), lambda: x * 2.0)
    kernels = tf.dump(y, feeds=[p, x], stages="kernels")["kernels"]
    assert "if b" in kernels and "else:" in kernels


def test_a_fault_inside_a_loop_body_names_the_op():
    x = tf.placeholder(tf.float32, [4])
    idx = tf.placeholder(tf.int32, [])
    _, out = tf.while_loop(lambda i, s: i < 3,
                           lambda i, s: (i + 1, s + tf.gather(x, idx + i, name="pick")),
                           [tf.constant(0), tf.constant(0.0)])
    for backend in ("interpret", "llvm"):
        with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
            xv = np.arange(4, dtype=np.float32)
            assert sess.run(out, {x: xv, idx: 1}) == 6.0
            with pytest.raises(ExecutionError, match="pick"):
                sess.run(out, {x: xv, idx: 2})


def test_aot_model_runs_the_loop(tmp_path):
    n = tf.placeholder(tf.int32, [], name="n")
    x, y = _power_loop(n)
    art = tf.compile(y, [x, n], str(tmp_path / "m"), name="power",
                     options=tf.CompileOptions(target_cpu="x86-64-v3", threads=1))
    xv = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    with runtime.load(art.directory) as model:
        for trips in (0, 4, 50):
            np.testing.assert_allclose(model(xv, np.int32(trips)), _ref_power(xv, trips),
                                       rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("seed", range(4))
def test_compiled_matches_interpreter_on_random_programs(seed):
    """Loops with a data-dependent trip count, a cond inside, a matmul by a captured
    weight and a nested reduction: the compiled run equals the interpreter's."""
    rng = np.random.default_rng(seed)
    x = tf.placeholder(tf.float32, [None, 3])
    w = tf.constant(rng.standard_normal((3, 3)).astype(np.float32))
    limit = tf.placeholder(tf.float32, [])

    def body(i, h, total):
        h2 = tf.cond(tf.equal(i % 2, 0), lambda: tf.tanh(tf.matmul(h, w)),
                     lambda: tf.nn.softmax(h) - 0.25)
        return i + 1, h2, total + tf.reduce_sum(tf.abs(h2))

    outs = tf.while_loop(lambda i, h, t: tf.logical_and(t < limit, i < 50), body,
                         [tf.constant(0), x, tf.constant(0.0)])
    feeds = {x: rng.standard_normal((int(rng.integers(1, 6)), 3)).astype(np.float32),
             limit: float(rng.uniform(1.0, 30.0))}
    got = {}
    for backend in ("interpret", "llvm"):
        with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
            got[backend] = sess.run(list(outs), feeds)
    assert got["llvm"][0] == got["interpret"][0]
    for a, b in zip(got["llvm"][1:], got["interpret"][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_graph_viewers_and_summaries_take_loops(tmp_path):
    x, y = _power_loop(3)
    z = tf.cond(tf.reduce_sum(y) > 0.0, lambda: y, lambda: -y)
    writer = tf.summary.FileWriter(str(tmp_path), tf.get_default_graph())
    model = writer.add_compiled_graph(z, [x])
    writer.close()
    assert any(n.op == "while" for stage in model.stages for n in stage.nodes)
    html = tf.dump(z, feeds=[x], format="html")["html"]
    assert "while" in html
    graph = tf.dump(z, feeds=[x], stages="graph")["graph"]
    assert "= While(" in graph and "= If(" in graph


def test_loop_slots_are_static_allocas_in_the_entry_block():
    """An alloca inside a loop block would grow the stack every iteration (a crash after
    a few million iterations of an outer loop)."""
    x = tf.placeholder(tf.float32, [2])

    def outer(i, t):
        _, s = tf.while_loop(lambda j, a: j < 3, lambda j, a: (j + 1, a + x),
                             [0, tf.zeros([2])])
        return i + 1, t + s
    _, y = tf.while_loop(lambda i, t: i < 3, outer, [0, tf.zeros([2])])
    text = tf.dump(y, feeds=[x], stages="llvm")["llvm"]
    entry = text[text.index('define i32 @"flowc_main"'):].split("\n}\n")[0]
    blocks = entry.split("\nwhile_cond", 1)
    assert blocks[0].count("alloca") == 3 and "alloca" not in blocks[1]


def _random_value(rng, depth, vals):
    """A random [N, 3] value over `vals` with conds and loops nested up to depth 3."""
    kind = int(rng.integers(0, 6 if depth < 3 else 3))
    a, b = vals[rng.integers(len(vals))], vals[rng.integers(len(vals))]
    if kind == 0:
        return tf.tanh(a * 0.7 + b * 0.3)
    if kind == 1:
        return tf.nn.softmax(a - b)
    if kind == 2:
        return a * tf.reduce_mean(b, axis=1, keepdims=True)
    if kind == 3:
        return tf.cond(tf.reduce_sum(a) > tf.reduce_sum(b),
                       lambda: _random_value(rng, depth + 1, vals + [a]),
                       lambda: _random_value(rng, depth + 1, [b, a * 0.5]))
    if kind == 4:
        trips = int(rng.integers(0, 4))

        def body(i, v, w):
            new = _random_value(rng, depth + 1, [v, w, a])
            return i + 1, new, w * 0.9 + new * 0.1
        return tf.while_loop(lambda i, v, w: i < trips, body,
                             [tf.constant(0), a, b])[1 + int(rng.integers(2))]
    return tf.while_loop(   # a trip count that depends on the values
        lambda i, v: tf.logical_and(i < 5, tf.reduce_sum(tf.abs(v)) > 0.5),
        lambda i, v: (i + 1, tf.tanh(v + _random_value(rng, depth + 1, [v, b]))),
        [tf.constant(0), a])[1]


@pytest.mark.parametrize("seed", range(12))
def test_random_nested_control_flow_matches_interpreter(seed):
    rng = np.random.default_rng(seed)
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.placeholder(tf.float32, [None, 3])
    outs = [_random_value(rng, 0, [x, y]) for _ in range(2)]
    rows = int(rng.integers(1, 5))
    feeds = {x: rng.standard_normal((rows, 3)).astype(np.float32),
             y: rng.standard_normal((rows, 3)).astype(np.float32)}
    got = {}
    for backend in ("interpret", "llvm"):
        with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
            got[backend] = sess.run(outs, feeds)
    for a, b in zip(got["llvm"], got["interpret"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
