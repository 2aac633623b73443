"""Fork while another thread is busy inside flowc, then use flowc in the child
(runtime/forksafe.py). Run by tests/test_fork.py, one scenario per fresh interpreter:

    python tests/fork_scenarios.py NAME

Each scenario starts a thread that keeps doing one thing (calling a runtime.load'ed
model, running training steps, compiling, running a parallel region), forks several
times while it runs, and checks in each child that the same things work (or, where the
parent's copy cannot be trusted, raise ForkError) within CHILD_S seconds; a child that
does not finish in time is killed and reported as a hang. Exit status 0: all passed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import compiler as fc  # noqa: E402
import runtime  # noqa: E402
from runtime import forksafe  # noqa: E402
from runtime.errors import ForkError  # noqa: E402

CHILD_S = 30
TRIALS = 4


def fork_and_check(child, what):
    """Fork; run child() in the child; fail when it fails or runs past CHILD_S."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child()
            code = 0
        except BaseException:  # noqa: BLE001  (reported on stderr)
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + CHILD_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.waitstatus_to_exitcode(status) != 0:
                raise AssertionError(f"{what}: the child failed "
                                     f"(exit {os.waitstatus_to_exitcode(status)})")
            return
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError(f"{what}: the child hung (killed after {CHILD_S} s)")


class Busy:
    """A thread calling step() until stopped; `count` says how often it ran."""

    def __init__(self, step):
        self.count, self._stop, self.error = 0, threading.Event(), None
        self._thread = threading.Thread(target=self._loop, args=(step,), daemon=True)

    def _loop(self, step):
        try:
            while not self._stop.is_set():
                step()
                self.count += 1
        except BaseException as e:  # noqa: BLE001  (re-raised by stop)
            self.error = e

    def __enter__(self):
        self._thread.start()
        while self.count < 2 and self.error is None:
            time.sleep(0.005)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the busy thread hung"
        if self.error is not None and exc[0] is None:
            raise self.error


def _model(name):
    from aot_models import artifact
    return runtime.load(artifact(name)[0].directory)


def model_call():
    model = _model("stateful")
    x = np.ones((64, 4), np.float32)
    with Busy(lambda: model(x)):
        for trial in range(TRIALS):
            def child():
                steps = int(model.variables["steps"])
                model(x)
                assert model.variables["steps"] == steps + 1
            fork_and_check(child, f"model call, trial {trial}")
    model(x)  # and the parent's model still works


def _in_place_pair(size=300_000):
    a = fc.Variable(np.zeros(size, np.float32), name="a")
    b = fc.Variable(np.zeros(size, np.float32), name="b")
    ones = np.ones(size, np.float32)
    return a, b, fc.group(a.assign_add(ones, read_value=False),
                          b.assign_add(ones, read_value=False))


def session_step():
    a, b, step = _in_place_pair()
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        sess.run([a, b])
        with Busy(lambda: sess.run(step)):
            for trial in range(TRIALS):
                def child():
                    got_a, got_b = sess.run([a, b])
                    assert got_a.min() == got_a.max() == got_b.min() == got_b.max()
                    sess.run(step)
                    assert sess.run(a)[0] == got_a[0] + 1
                fork_and_check(child, f"session step, trial {trial}")


def _graph(k):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 8], name="x")
        h = x
        for i in range(4):
            w = np.full((8, 8), 0.01 * (k % 97) + i, np.float32)
            h = fc.tanh(fc.matmul(h, fc.constant(w)))
        y = fc.reduce_sum(h)
    return g, x, y


def _compile_and_run(k):
    g, x, y = _graph(k)
    with fc.Session(graph=g) as sess:
        got = sess.run(y, {x: np.ones((2, 8), np.float32)})
    ref = fc.Session(graph=g, config=fc.ConfigProto(backend="interpret"))
    np.testing.assert_allclose(got, ref.run(y, {x: np.ones((2, 8), np.float32)}),
                               rtol=1e-5)


def compile_():
    counter = iter(range(1, 10**6))
    with Busy(lambda: _compile_and_run(next(counter))):
        for trial in range(TRIALS):
            time.sleep(0.05)
            fork_and_check(lambda t=trial: _compile_and_run(10**6 + t),
                           f"compile, trial {trial}")


def jit_compile():
    @fc.jit
    def f(x):
        return fc.reduce_sum(fc.tanh(x) * 2.0)
    sizes = iter(range(1, 10**6))
    with Busy(lambda: f(np.ones((next(sizes), 3), np.float32))):
        for trial in range(TRIALS):
            def child(t=trial):
                x = np.ones((10**6 + t, 1), np.float32)  # a new rank-2 shape: compiles
                assert np.isclose(f(x), 2 * np.tanh(1.0) * x.size, rtol=1e-3)
            fork_and_check(child, f"jit compile, trial {trial}")


def pool_region():
    # the busy thread is inside a parallel region (the pool claimed) at most forks
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 7])
        y = fc.tanh(x)
        options = fc.CompileOptions(threads=3)
        with fc.Session(config=fc.ConfigProto(compile_options=options)) as sess:
            big = np.random.default_rng(1).standard_normal((400_000, 7)).astype(np.float32)
            want = sess.run(y, {x: big})
            with Busy(lambda: sess.run(y, {x: big})):
                for trial in range(TRIALS):
                    def child():
                        got = sess.run(y, {x: big})
                        np.testing.assert_array_equal(got, want)
                        threads = len(os.listdir("/proc/self/task"))
                        assert threads == 3, f"{threads} thread(s): the pool did not start"
                    fork_and_check(child, f"parallel region, trial {trial}")


def _hold(lock, holding, release):
    with lock:
        holding.set()
        release.wait(60)


def timeouts():
    """A change that does not finish within the fork's wait: the child raises
    ForkError for that object (not a hang) and the rest works."""
    import llvmlite.binding.ffi as llvm_ffi
    forksafe.FORK_WAIT_S = 0.3
    model = _model("stateful")
    a, b, step = _in_place_pair(10)
    sess = fc.Session()
    sess.run(fc.global_variables_initializer())
    sess.run(step)
    calls = {"model": lambda: model(np.ones((1, 4), np.float32)),
             "session": lambda: sess.run(step),
             "llvm": lambda: _compile_and_run(7)}
    held = {"model": model._lock, "session": sess._store.lock.writing_in_place,
            "llvm": llvm_ffi.lib._lock._lock}
    for what, lock in held.items():
        holding, release = threading.Event(), threading.Event()

        t = threading.Thread(target=_hold, args=(lock, holding, release), daemon=True)
        t.start()
        holding.wait(10)

        def child(what=what):
            for name, call in calls.items():
                if name != what:
                    call()
                    continue
                try:
                    call()
                except ForkError as e:
                    assert "forked" in str(e), e
                else:
                    raise AssertionError(f"{name}: no ForkError")
        try:
            fork_and_check(child, f"{what} held past the fork's wait")
        finally:
            release.set()
            t.join(10)
    for call in calls.values():  # the parent carries on
        call()


SCENARIOS = {"model_call": model_call, "session_step": session_step, "compile": compile_,
             "jit_compile": jit_compile, "pool_region": pool_region, "timeouts": timeouts}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
    print("ok")
