"""The in-process memo of compiled CPU programs (compiler/memo.py, docs/cache.md): with
the compile cache on disk off, compiling one program again in a process runs LLVM once
(each LLVM optimization leaks inside llvmlite), a hit is a new executable with its own
engine and constants, names and locations are part of the key, threads compile once,
the memo is bounded and works in a forked child."""

import gc
import os
import signal
import threading
import time

import numpy as np
import pytest

import compiler as fc
from compiler import memo
from compiler.frontend.core import make
from runtime.errors import ExecutionError


@pytest.fixture(autouse=True)
def cache_off(monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE", "0")


FEED = np.linspace(-2, 2, 32, dtype=np.float32).reshape(4, 8)


def graph(scale):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 8], name="x")
        y = fc.reduce_sum(fc.nn.softmax(fc.tanh(x) * scale + 1.0), axis=1)
    return g, x, y


def run_once(scale):
    g, x, y = graph(scale)
    with fc.Session(graph=g) as sess:
        return sess.run(y, {x: FEED})


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maps():
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def test_repeated_compiles_keep_memory_threads_and_mappings_flat():
    """150 compiles of one graph in new Sessions: without the memo each runs LLVM and
    leaks about 0.4 MiB in llvmlite (60 MiB); with it the process stays flat."""
    first = run_once(3.0)
    for _ in range(10):
        run_once(3.0)
    gc.collect()
    rss, maps, threads = _rss_mib(), _maps(), threading.active_count()
    tasks = len(os.listdir("/proc/self/task"))
    before = dict(memo.stats)
    for _ in range(150):
        np.testing.assert_array_equal(run_once(3.0), first)
    gc.collect()
    assert _rss_mib() - rss < 8, f"RSS grew {_rss_mib() - rss:.1f} MiB over 150 compiles"
    assert memo.stats["hits"] - before["hits"] == 150
    assert _maps() <= maps + 8 and threading.active_count() == threads
    assert len(os.listdir("/proc/self/task")) == tasks


def test_a_hit_is_a_fresh_executable_with_its_own_constants():
    from compiler.options import CompileOptions
    from compiler.pipeline import build_program, optimized_program
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        y = x * fc.constant(np.array([1.0, 2.0, 3.0], np.float32)) + 0.5
    options = CompileOptions(threads=1)
    cold = build_program(optimized_program(y, [x], options)[0], options)
    before = dict(memo.stats)
    hit = build_program(optimized_program(y, [x], options)[0], options)
    assert memo.stats["hits"] == before["hits"] + 1
    assert hit is not cold and hit.entry_address != cold.entry_address
    assert hit.texts["kernels"] == cold.texts["kernels"]
    consts = [(a.source, b.source) for a, b in zip(cold.buffers, hit.buffers)
              if a.kind == "const"]
    assert consts and all(not np.shares_memory(a, b) for a, b in consts)
    store = fc.Session()._store
    feed = np.array([1.0, -1.0, 2.0], np.float32)
    want = cold.run([feed], store)[0]
    del cold
    gc.collect()  # the first executable's engine is gone; the hit has its own
    np.testing.assert_array_equal(hit.run([feed], store)[0], want)


def test_names_and_locations_are_part_of_the_key():
    """Two programs that differ only in names compile apart: each one's run-time errors
    name its own node."""
    for name in ("first_lookup", "second_lookup"):
        g = fc.Graph()
        with g.as_default():
            w = fc.constant(np.ones((3, 2), np.float32))
            idx = fc.placeholder(fc.int32, [None], name="idx")
            out = make("gather", [w, idx], name=name, axis=0)
        with fc.Session(graph=g) as sess:
            for _ in range(2):  # the second Session of each is a memo hit
                with pytest.raises(ExecutionError, match=f"'{name}'"):
                    sess.run(out, {idx: [0, 3]})
                sess = fc.Session(graph=g)


def test_threads_compile_one_program_once():
    g, x, y = graph(7.25)
    sessions = [fc.Session(graph=g) for _ in range(8)]
    barrier = threading.Barrier(8)
    before = dict(memo.stats)
    results, errors = [], []

    def run(sess):
        try:
            barrier.wait(timeout=30)
            results.append(sess.run(y, {x: FEED}))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(results) == 8
    assert memo.stats["stores"] - before["stores"] == 1
    assert memo.stats["hits"] - before["hits"] == 7
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_bounded_least_recently_used(monkeypatch):
    monkeypatch.setattr(memo, "MAX_ENTRIES", 2)
    memo.clear()
    for scale in (11.0, 12.0, 13.0):
        run_once(scale)
    assert memo.info()["entries"] == 2
    before = dict(memo.stats)
    run_once(11.0)  # evicted: compiled again
    run_once(13.0)  # kept: a hit
    assert memo.stats["misses"] - before["misses"] == 1
    assert memo.stats["hits"] - before["hits"] == 1


def test_bounded_by_bytes(monkeypatch):
    memo.clear()
    run_once(14.0)
    size = memo.info()["bytes"]
    assert size > 0
    monkeypatch.setattr(memo, "MAX_BYTES", size + size // 2)
    run_once(15.0)  # two do not fit: the older goes
    assert memo.info()["entries"] == 1 and memo.info()["bytes"] <= memo.MAX_BYTES
    monkeypatch.setattr(memo, "MAX_BYTES", size // 2)
    before = dict(memo.stats)
    run_once(16.0)  # larger than the bound alone: not kept
    assert memo.stats["stores"] == before["stores"] and memo.info()["entries"] == 1


def test_disk_cache_on_leaves_the_memo_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWC_CACHE", "1")
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    from compiler import cache
    if cache.find_c_compiler() is None:  # no C compiler: the disk cache is off anyway
        monkeypatch.setenv("FLOWC_CACHE", "0")
    before = dict(memo.stats)
    run_once(17.0)
    run_once(17.0)
    used = memo.stats["stores"] - before["stores"]
    assert used == (0 if os.environ["FLOWC_CACHE"] == "1" else 1)


@pytest.mark.filterwarnings("ignore:.*fork:RuntimeWarning",
                            "ignore:.*fork:DeprecationWarning")
def test_a_forked_child_compiles_while_the_parent_held_the_lock():
    run_once(19.0)
    held = threading.Event()
    release = threading.Event()

    def hold():
        with memo._lock:
            held.set()
            release.wait(timeout=30)
    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(timeout=30)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the lock's holder does not exist here
            code = 1
            try:
                run_once(19.0)
                run_once(21.0)
                code = 0
            finally:
                os._exit(code)
    finally:
        release.set()
        holder.join(timeout=30)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_loop_built_again_hits_the_memo():
    """Region params (and random draws) carry fresh tokens in every build; the memo's key
    numbers tokens by position, so rebuilding the same loop does not run LLVM again."""
    def run():
        g = fc.Graph()
        with g.as_default():
            fc.set_random_seed(5)
            x = fc.placeholder(fc.float32, [None, 8], name="x")
            _, y = fc.while_loop(lambda i, v: i < 3,
                                 lambda i, v: (i + 1, fc.tanh(v) + fc.random_uniform([8])),
                                 [0, x])
        with fc.Session(graph=g) as sess:
            return sess.run(y, {x: FEED})
    first = run()
    before = dict(memo.stats)
    np.testing.assert_array_equal(run(), first)
    assert memo.stats["hits"] - before["hits"] == 1
