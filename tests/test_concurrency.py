"""Threads sharing one Session or one runtime.load'ed model (runtime/variables.py, "The
Session" in docs/architecture.md): runs that assign variables take turns, so concurrent
steps never lose an update; runs that only read share the store and see every variable
as it was before a writer's commit or after it, never a torn mix; read-only runs are not
serialized. Every thread is joined with a timeout, so a deadlock fails instead of hanging."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from aot_models import artifact

import compiler as fc
import runtime
from runtime.variables import READ, WRITE, WRITE_IN_PLACE

BACKENDS = ["llvm", "interpret"]
JOIN_S = 30


@pytest.fixture(autouse=True)
def _switch_often():
    """Switch threads often, so that a race shows up within a few hundred runs."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _in_threads(work, n=2):
    """Run work(k) in n threads at once; re-raise the first error."""
    errors = []
    start = threading.Barrier(n)

    def body(k):
        try:
            start.wait(timeout=JOIN_S)
            work(k)
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)
    threads = [threading.Thread(target=body, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_S)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    if errors:
        raise errors[0]


def _session(backend):
    return fc.Session(config=fc.ConfigProto(backend=backend))


@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_assign_add_loses_no_update(backend, in_place):
    with fc.Graph().as_default():
        c = fc.Variable(np.int64(0), name="c")
        big = fc.Variable(np.zeros(50_000, np.float64), name="big")
        # a step with some work between reading `c` and committing it
        inc = fc.group(c.assign_add(np.int64(1)), big.assign_add(fc.sin(big.value()) + 1.0))
        if not in_place:  # the old values fetched too: the new ones are committed after
            inc = [inc, c, big]
        with _session(backend) as sess:
            sess.run(fc.global_variables_initializer())
            n = 150

            def work(_):
                for _ in range(n):
                    sess.run(inc)
            _in_threads(work)
            assert sess.run(c) == 2 * n


def _adam_graph():
    x = fc.placeholder(fc.float32, [None, 3], name="x")
    y = fc.placeholder(fc.float32, [None, 1], name="y")
    w = fc.Variable(np.full((3, 1), 0.1, np.float32), name="w")
    b = fc.Variable(np.float32(0.0), name="b")
    loss = fc.reduce_mean(fc.square(fc.tanh(fc.matmul(x, w) + b) - y))
    step = fc.train.get_or_create_global_step()
    train_op = fc.train.AdamOptimizer(0.01).minimize(loss, global_step=step)
    return x, y, w, b, step, train_op


def _adam_state(backend, steps, threads):
    """(global_step, w, b) after `steps` Adam steps split among `threads` threads."""
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((32, 3)).astype(np.float32)
    ys = rng.standard_normal((32, 1)).astype(np.float32)
    with fc.Graph().as_default():
        x, y, w, b, step, train_op = _adam_graph()
        with _session(backend) as sess:
            sess.run(fc.global_variables_initializer())

            def work(_):
                for _ in range(steps // threads):
                    sess.run(train_op, {x: xs, y: ys})
            _in_threads(work, threads)
            return sess.run([step, w, b])


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_adam_steps_equal_the_same_steps_in_turn(backend):
    # every step sees the same feeds, so any order of n whole steps gives the state of n
    # steps in one thread, bit for bit; a lost or torn update does not
    n = 200 if backend == "llvm" else 80
    step1, w1, b1 = _adam_state(backend, n, 1)
    step2, w2, b2 = _adam_state(backend, n, 2)
    assert step1 == step2 == n
    np.testing.assert_array_equal(w2, w1)
    np.testing.assert_array_equal(b2, b1)


@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_reader_never_sees_a_torn_state(backend, in_place):
    # the writer adds 1 to every element of a and b in one step (in place, or into new
    # arrays committed after the run); a reader must see a == b, all elements equal
    size = 1_000_000
    with fc.Graph().as_default():
        a = fc.Variable(np.zeros(size, np.float32), name="a")
        b = fc.Variable(np.zeros(size, np.float32), name="b")
        ones = np.ones(size, np.float32)
        step = fc.group(a.assign_add(ones), b.assign_add(ones))
        if not in_place:  # fetching the old values too keeps the new ones apart until commit
            step = [step, a, b]
        with _session(backend) as sess:
            sess.run(fc.global_variables_initializer())
            sess.run(step)
            want = WRITE_IN_PLACE if in_place and backend == "llvm" else WRITE
            assert _access(sess) == want
            sess.run([a, b])  # compiled before the threads start
            seen = []

            def work(k):
                for _ in range(40):
                    if k == 0:
                        sess.run(step)
                    else:
                        got_a, got_b = sess.run([a, b])
                        assert got_a.min() == got_a.max() == got_b.min() == got_b.max(), \
                            (got_a.min(), got_a.max(), got_b.min(), got_b.max())
                        seen.append(got_a[0])
            _in_threads(work)
            assert sorted(seen) == seen  # and time only moves forward
            assert sess.run(a)[0] == 41 and seen


def _access(sess):
    return list(sess._cache.values())[-1].variable_access


def test_saver_copies_every_variable_from_one_moment(tmp_path):
    size = 1_000_000
    with fc.Graph().as_default():
        a = fc.Variable(np.zeros(size, np.float32), name="a")
        b = fc.Variable(np.zeros(size, np.float32), name="b")
        ones = np.ones(size, np.float32)
        step = fc.group(a.assign_add(ones, read_value=False),
                        b.assign_add(ones, read_value=False))
        saver = fc.train.Saver([a, b])
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            sess.run(step)  # compiled before the threads start
            saved = threading.Event()

            def work(k):
                if k == 0:  # train until the saves are done
                    for _ in range(5000):
                        if saved.is_set():
                            break
                        sess.run(step)
                    return
                try:
                    for i in range(4):
                        path = saver.save(sess, str(tmp_path / f"ck{i}"))
                        got = np.concatenate([fc.train.load_variable(path, "a"),
                                              fc.train.load_variable(path, "b")])
                        assert got.min() == got.max(), (got.min(), got.max())
                finally:
                    saved.set()
            _in_threads(work)


def _blocked(run, release, wait_s=0.3):
    """Start run() in a thread; True when it is still running after wait_s, then
    release() and join it."""
    done = threading.Event()
    errors = []

    def body():
        try:
            run()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        done.set()
    t = threading.Thread(target=body, daemon=True)
    t.start()
    finished_early = done.wait(wait_s)
    release()
    t.join(timeout=JOIN_S)
    assert not t.is_alive(), "the run hung after the release"
    assert not errors, errors
    return not finished_early


def test_readers_share_writers_take_turns():
    # deterministic: this thread holds a side of the store's lock as an in-flight run
    # would, and a run of each kind in another thread is blocked by it or not
    with fc.Graph().as_default():
        v = fc.Variable(np.float32(1.0), name="v")
        read = v.value() * 2.0
        inc_in_place = v.assign_add(1.0, read_value=False)
        inc_new = [v.assign_add(1.0).op, v]  # v's old value too: a new array for v
        with fc.Session() as sess:
            sess.run(v.initializer)
            for fetch, want in ((read, READ), (inc_in_place, WRITE_IN_PLACE),
                                (inc_new, WRITE)):
                sess.run(fetch)
                assert _access(sess) == want
            lock = sess._store.lock
            nothing = lambda: None  # noqa: E731

            def hold(side):
                side.__enter__()
                return lambda: side.__exit__(None, None, None)

            # a reader in flight: other readers go on; writers wait for it (an in-place
            # one for its whole run, another one for its commit)
            release = hold(lock.reading)
            assert not _blocked(lambda: sess.run(read), nothing)
            release()
            for writer in (inc_in_place, inc_new):
                assert _blocked(lambda w=writer: sess.run(w), hold(lock.reading))
            # a writer computing (not in place): readers go on, other writers wait
            release = hold(lock.writing)
            assert not _blocked(lambda: sess.run(read), nothing)
            assert _blocked(lambda: sess.run(inc_new), release)
            # a writer changing arrays in place: readers and writers wait
            assert _blocked(lambda: sess.run(read), hold(lock.writing_in_place))
            assert _blocked(lambda: sess.run(inc_in_place), hold(lock.writing_in_place))
            # host writes are writers too
            assert _blocked(lambda: v.load(5.0, sess), hold(lock.reading))
            assert sess.run(v) == 5.0


def test_concurrent_runs_draw_distinct_random_numbers():
    with fc.Graph().as_default():
        r = fc.random_uniform([4], seed=1)
        with fc.Session() as sess:
            draws = [[], []]

            def work(k):
                for _ in range(200):
                    draws[k].append(tuple(sess.run(r)))
            _in_threads(work)
            everything = draws[0] + draws[1]
            assert len(set(everything)) == len(everything) == 400
            assert sess._run_counter == 400


def test_threads_sharing_a_loaded_model_lose_no_update():
    art, graph, fetches, feeds, sess = artifact("stateful")
    model = runtime.load(art.directory)
    x = np.ones((3, 4), np.float32)
    before = int(model.variables["steps"])
    n = 300

    def work(k):
        for i in range(n):
            model(x)
            if i % 50 == 0:
                assert model.variables["steps"] >= before
    _in_threads(work, 3)
    assert model.variables["steps"] == before + 3 * n
    assert model.run_counter >= 3 * n
    model.close()


def test_threads_sharing_a_gpu_session_lose_no_update():
    # the CUDA executable through the CPU emulator (tests/cuda_emulator.py): runs of one
    # executable take turns on its temporaries and error slot; writers take turns
    from cuda_emulator import emulated_gpu
    with emulated_gpu(), fc.Graph().as_default():
        with fc.device("/gpu:0"):
            v = fc.Variable(np.zeros(64, np.float32), name="v")
            w = fc.Variable(np.zeros(64, np.float32), name="w")
            step = fc.group(v.assign_add(np.ones(64, np.float32)),
                            w.assign_add(np.ones(64, np.float32)))
            read = fc.reduce_sum(fc.abs(v - w) + fc.tanh(v) * 0.0, axis=0)
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            sess.run(step)
            assert _access(sess) in (WRITE, WRITE_IN_PLACE)
            sess.run(read)

            def work(k):
                for _ in range(12):
                    if k < 2:  # two writers, two readers
                        sess.run(step)
                    else:
                        assert sess.run(read) == 0.0
            _in_threads(work, 4)
            np.testing.assert_array_equal(sess.run(v), np.full(64, 1 + 2 * 12, np.float32))


def test_threads_hammering_one_gpu_executable_get_their_own_results():
    # one CudaExecutable (through the CPU emulator, one launch at a time as on one stream)
    # run from 4 threads with different feeds and shapes: a kept temporary (the column
    # means between two kernels) and the error slot are shared, so each run's result and
    # its error (an out-of-range gather in one thread only) must be its own
    from cuda_emulator import emulated_gpu

    from compiler.convert import convert
    from compiler.pipeline import build_program
    from passes.manager import run_pipeline
    from runtime.errors import ExecutionError
    from runtime.variables import VariableStore
    gpu = fc.CompileOptions(device="gpu")
    with emulated_gpu(), fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None, 8], name="x")
        i = fc.placeholder(fc.int32, [None], name="i")
        centered = fc.exp(x - fc.reduce_mean(x, axis=0)) * 2.0
        program, _ = run_pipeline(convert(g, [centered, fc.gather(x, i)], [x, i]), gpu)
        exe = build_program(program, gpu)
        assert exe._internal and exe._can_fail and len(exe._launches) >= 3

        def work(k):
            rng = np.random.default_rng(k)
            rows = (5, 5, 37, 300)[k]            # two threads share a shape (and temps)
            for step in range(10):
                xv = rng.standard_normal((rows, 8)).astype(np.float32)
                iv = rng.integers(0, rows, 40).astype(np.int32)
                if k == 3 and step % 2:          # this thread's gathers fail every other run
                    iv[7] = rows + 3
                    with pytest.raises(ExecutionError, match="out of range|index"):
                        exe.run([xv, iv], VariableStore())
                    continue
                got, gathered = exe.run([xv, iv], VariableStore())
                want = np.exp(xv - xv.mean(axis=0, dtype=np.float64)) * 2.0
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
                np.testing.assert_array_equal(gathered, xv[iv])
        _in_threads(work, 4)
