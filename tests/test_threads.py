"""Parallel kernels: outer loops split into chunks run by the thread pool that the
generated code starts itself (pthreads, compiler/backends/llvm/pool.py), checked against
the interpreter above the parallel threshold and for thread counts that do not divide the
extent; the pool under concurrent callers, beside busy processes, after fork, and when
its library goes away."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import REDUCE_TOL, TOL, Compiled, assert_close, prim

from compiler.backends.llvm.emit import MIN_PARALLEL_WORK
from compiler.ir import dtypes as T
from compiler.options import CompileOptions

CASES = {
    "elementwise": (lambda g, x: prim(g, "tanh", [x]), [("float32", (None, 7))], TOL),
    "reduce": (lambda g, x: prim(g, "reduce_sum", [x], axes=(1,), keepdims=False),
               [("float32", (None, 7))], REDUCE_TOL),
    "argmax": (lambda g, x: prim(g, "argmax", [x], axis=1, dtype=T.int64),
               [("float32", (None, 7))], TOL),
    "matmul": (lambda g, x: prim(g, "matmul", [x, prim(g, "transpose", [x], perm=(1, 0))],
                                 transpose_a=False, transpose_b=False),
               [("float32", (None, 7))], REDUCE_TOL),
}


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_parallel_kernels_match_the_interpreter(name, threads):
    build, specs, tol = CASES[name]
    c = Compiled(build, specs, CompileOptions(threads=threads))
    rows = MIN_PARALLEL_WORK // 7 + 5 if name != "matmul" else 400
    for n in (rows, 1, 0, 2):
        x = np.random.default_rng(n).standard_normal((n, 7)).astype(np.float32)
        ref, got = c.run_both([x])
        assert_close(got[0], ref[0], tol=tol)
    assert "parallel" in c.exe.texts["kernels"]
    assert "pthread_create" in c.exe.texts["llvm"]
    assert "flowc_pool_run" in c.exe.texts["llvm"]


def _pool_program(threads=2):
    return Compiled(CASES["elementwise"][0], [("float32", (None, 7))],
                    CompileOptions(threads=threads))


def _big(seed):
    return np.random.default_rng(seed).standard_normal(
        (MIN_PARALLEL_WORK // 7 + 100, 7)).astype(np.float32)


def test_concurrent_callers_share_the_pool_or_run_their_own_chunks():
    # a caller that finds the pool busy runs its region itself: no deadlock, same results
    import threading
    c = _pool_program(3)
    xs = [_big(s) for s in range(4)]
    want = [np.tanh(x) for x in xs]
    errors = []

    def work(k):
        from runtime.variables import VariableStore
        try:
            for _ in range(30):
                got = c.exe.run([xs[k]], VariableStore(), 0)[0]
                np.testing.assert_allclose(got, want[k], rtol=2e-6, atol=1e-6)
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a parallel region hung"
    assert not errors, errors


def test_the_pool_under_busy_processes_gives_the_results_and_finishes():
    # two processes that never sleep hold both cores: the workers get the CPU late,
    # in the middle of a region or after it, and every region must still wait for all
    # of its chunks (results checked) and end (a thread with a deadline, never a hang)
    import subprocess
    import sys
    import threading
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    try:
        progs = {3: _pool_program(3), 2: Compiled(CASES["reduce"][0], [("float32", (None, 7))],
                                                  CompileOptions(threads=2))}
        xs = [_big(s) for s in range(3)]
        errors = []

        def work():
            from runtime.variables import VariableStore
            try:
                for i in range(60):
                    x = xs[i % len(xs)]
                    got = progs[3].exe.run([x], VariableStore(), 0)[0]
                    np.testing.assert_allclose(got, np.tanh(x), rtol=2e-6, atol=1e-6)
                    got = progs[2].exe.run([x], VariableStore(), 0)[0]
                    np.testing.assert_allclose(got, x.sum(axis=1), rtol=1e-5, atol=1e-5)
            except Exception as e:  # noqa: BLE001  (reported below)
                errors.append(e)
        t = threading.Thread(target=work, daemon=True)
        t.start()
        t.join(timeout=120)
        assert not t.is_alive(), "a parallel region hung beside busy processes"
        assert not errors, errors
    finally:
        for p in busy:
            p.kill()
            p.wait()


_FORK_SCRIPT = """
import os, sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from oracle import Compiled, prim
from compiler.options import CompileOptions
c = Compiled(lambda g, x: prim(g, "tanh", [x]), [("float32", (None, 7))],
             CompileOptions(threads=2))
x = np.random.default_rng(1).standard_normal((20000, 7)).astype(np.float32)
c.run_both([x])  # the parent's workers are running now
pid = os.fork()
if pid == 0:  # the child: the parent's workers do not exist here
    ref, got = c.run_both([x])
    os._exit(0 if np.allclose(got[0], ref[0], rtol=2e-6, atol=1e-6) else 2)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    sys.exit("the forked child hung in a parallel region")
c.run_both([x])  # and the parent's pool still works
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_starts_its_own_workers():
    # in a fresh interpreter: this process has other libraries' threads (fork + threads
    # is only safe when the child touches nothing they hold)
    import os
    import subprocess
    import sys
    tests = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", _FORK_SCRIPT.format(tests=tests)],
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(tests))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_closing_the_library_stops_the_workers():
    import os

    def os_threads():
        return len(os.listdir("/proc/self/task"))
    c = _pool_program(threads=3)
    c.run_both([_big(2)])
    running = os_threads()
    lib = c.exe._keepalive
    lib.close()
    assert os_threads() == running - 2  # its two workers were joined
    lib.close()  # idempotent
