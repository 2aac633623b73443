"""The cyclic garbage collector is paused while a program is planned, lowered and built
(compiler/gcpause.py): off during the build, back on after it (also after a failed
build), left off for a process that runs with it off, and nestable across threads."""

import gc
import threading

import numpy as np
import pytest

import compiler as fc
from compiler import pipeline
from compiler.gcpause import gc_paused


@pytest.fixture(autouse=True)
def cache_off(monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE", "0")


def compile_once(monkeypatch, fail=False):
    seen = []
    real = pipeline.plan_and_lower

    def spy(program, options, report=None):
        seen.append(gc.isenabled())
        if fail:
            raise RuntimeError("lowering failed")
        return real(program, options, report)
    monkeypatch.setattr(pipeline, "plan_and_lower", spy)
    x = fc.placeholder(fc.float32, [3], name="x")
    y = fc.exp(x) * 2.0 + float(len(seen) + 7 * fail)   # a program of its own each time
    with fc.Session() as sess:
        out = sess.run(y, {x: np.ones(3, np.float32)})
    return seen, out


def test_collector_paused_during_build_and_restored(monkeypatch):
    assert gc.isenabled()
    seen, out = compile_once(monkeypatch)
    assert seen == [False]
    assert gc.isenabled()
    np.testing.assert_allclose(out, 2 * np.exp(np.ones(3, np.float32)), rtol=1e-6)


def test_collector_restored_after_failed_build(monkeypatch):
    with pytest.raises(RuntimeError, match="lowering failed"):
        compile_once(monkeypatch, fail=True)
    assert gc.isenabled()


def test_collector_left_off_when_it_was_off(monkeypatch):
    gc.disable()
    try:
        seen, _ = compile_once(monkeypatch)
        assert seen == [False] and not gc.isenabled()
    finally:
        gc.enable()


def test_nested_pauses_across_threads():
    inside, release, states = threading.Event(), threading.Event(), []

    def other():
        with gc_paused():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with gc_paused():
        states.append(gc.isenabled())
    states.append(gc.isenabled())      # the other thread's pause still holds
    release.set()
    t.join()
    states.append(gc.isenabled())
    assert states == [False, False, True]


def test_child_forked_during_a_pause_collects():
    import os
    with gc_paused():
        pid = os.fork()
        if pid == 0:
            os._exit(0 if gc.isenabled() else 1)
        _, status = os.waitpid(pid, 0)
        assert not gc.isenabled()
    assert os.WEXITSTATUS(status) == 0
    assert gc.isenabled()


def test_collector_paused_while_fc_compile_lowers_and_builds(monkeypatch, tmp_path):
    from compiler import aot
    seen = []
    real = aot.lower_and_emit

    def spy(program, options):
        seen.append(gc.isenabled())
        return real(program, options)
    monkeypatch.setattr(aot, "lower_and_emit", spy)
    x = fc.placeholder(fc.float32, [3], name="x")
    fc.compile(fc.exp(x) * 3.0, [x], str(tmp_path / "m"), name="m")
    assert seen == [False]
    assert gc.isenabled()
