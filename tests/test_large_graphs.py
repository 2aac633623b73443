"""Compile time of large graphs (docs/architecture.md, "Compile time of large graphs"):
the LLVM entry point splits long runs of kernel calls into segment functions, and kernel
functions are never inlined into the entry. Here `SEGMENT_CALLS` is made tiny so a small
graph takes the segmented path: its results, its faults and its traced timings must be
those of the plain entry (the interpreter is the oracle)."""

import numpy as np
import pytest

import compiler as tf
from compiler import memo
from compiler.backends.llvm import entry
from runtime.errors import ExecutionError

FULL = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)


@pytest.fixture
def tiny_segments(monkeypatch):
    """Segments of 3 calls, every compile fresh (no cache on disk, no memo)."""
    monkeypatch.setattr(entry, "SEGMENT_CALLS", 3)
    monkeypatch.setenv("FLOWC_CACHE", "0")
    monkeypatch.setattr(memo, "MAX_ENTRIES", 0)


def _graph():
    """A chain of row normalizations (a reduce and a loop kernel each), a gather that
    faults on a bad index in the middle of the chain, and a while loop whose body makes
    several calls."""
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    idx = tf.placeholder(tf.int32, [3], name="idx")
    h = x
    for i in range(5):
        h = h / (tf.reduce_sum(h * h, axis=1, keepdims=True) + 1.0) + 0.1 * i
    h = tf.gather(h, idx, name="pick") * 2.0
    for i in range(4):
        h = tf.tanh(h - tf.reduce_max(h, axis=0, keepdims=True)) + float(i)

    def body(j, a):
        a = a / (tf.reduce_sum(tf.abs(a)) + 1.0)
        return j + 1, tf.sin(a) + tf.reduce_mean(a, axis=1, keepdims=True)
    _, out = tf.while_loop(lambda j, a: j < 3, body, [tf.constant(0), h])
    return x, idx, out


def test_segmented_entry_matches_the_interpreter_faults_and_traces(tiny_segments):
    x, idx, out = _graph()
    llvm = tf.dump(out, feeds=[x, idx], stages="llvm")["llvm"]
    assert '@"flowc_main.seg1"' in llvm and '@"flowc_main_timed.seg1"' in llvm
    kernels = [ln for ln in llvm.splitlines() if ln.startswith('define internal void @"k')
               and ".range" not in ln and ".chunk" not in ln]
    assert kernels and all(ln.rstrip(" {").endswith("noinline") for ln in kernels)

    feeds = {x: np.linspace(-2, 2, 20, dtype=np.float32).reshape(5, 4),
             idx: np.array([4, 0, 2], np.int32)}
    want = tf.Session(config=tf.ConfigProto(backend="interpret")).run(out, feeds)
    sess = tf.Session()
    np.testing.assert_allclose(sess.run(out, feeds), want, rtol=1e-5, atol=1e-6)

    md = tf.RunMetadata()
    np.testing.assert_allclose(sess.run(out, feeds, options=FULL, run_metadata=md), want,
                               rtol=1e-5, atol=1e-6)
    stats = md.step_stats.dev_stats[0].node_stats
    (exe,) = sess._cache.values()
    assert len(stats) == len(exe.call_labels) > 3 * entry.SEGMENT_CALLS
    starts = [s.all_start_nanos for s in stats]
    assert starts == sorted(starts) and all(s > 0 for s in starts)

    bad = {x: feeds[x], idx: np.array([4, 9, 2], np.int32)}   # 9 is out of range
    with pytest.raises(ExecutionError, match="pick"):
        sess.run(out, bad)
    with pytest.raises(ExecutionError, match="pick"):
        sess.run(out, bad, options=FULL, run_metadata=tf.RunMetadata())
    np.testing.assert_allclose(sess.run(out, feeds), want, rtol=1e-5, atol=1e-6)


def _greedy_arena(sizes, lifetimes, align):
    """The arena plan written out plainly (a scan of every placed buffer per placement)."""
    placed, offsets = [], {}
    for i in sorted(sizes, key=lambda j: (-sizes[j], j)):
        first, last = lifetimes.get(i, (0, 1 << 30))
        size = -(-sizes[i] // align) * align
        offset = 0
        for o, e in sorted((o, e) for o, e, f, lst in placed if not (lst < first or last < f)):
            if offset + size <= o:
                break
            offset = max(offset, e)
        offsets[i] = offset
        placed.append((offset, offset + size, first, last))
    return offsets, max((e for _, e, _, _ in placed), default=0)


def test_arena_plan_is_the_greedy_plan_and_live_buffers_never_overlap():
    from runtime.cpu_executable import ALIGN, plan_arena
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(0, 40))
        sizes = {i: int(rng.choice([1, 7, 64, 100, 4096, int(rng.integers(1, 10000))]))
                 for i in range(n)}
        lifetimes = {i: (a, a + int(rng.integers(0, 10))) for i in range(n)
                     if rng.random() < 0.9 for a in [int(rng.integers(0, 30))]}
        offsets, total = plan_arena(sizes, lifetimes)
        assert (offsets, total) == _greedy_arena(sizes, lifetimes, ALIGN), trial
        for i in sizes:
            for j in sizes:
                fi, li = lifetimes.get(i, (0, 1 << 30))
                fj, lj = lifetimes.get(j, (0, 1 << 30))
                if i < j and not (li < fj or lj < fi):
                    assert (offsets[i] + sizes[i] <= offsets[j]
                            or offsets[j] + sizes[j] <= offsets[i]), (trial, i, j)
