"""compiler/timings.py: the phase timer (own times that add up to the block's total, the
phase names of a real compile, per-thread records, `bind` into workers), `flowc compile
--timings` parsed, `RunMetadata.compile_timings`, and the progress line (drawn on a fake
terminal with the delay at 0; never on a pipe, with FLOWC_PROGRESS=0 or
`ConfigProto(progress=False)`, or before the delay)."""

from __future__ import annotations

import gc
import io
import itertools
import re
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import compiler as fc
from compiler import kernel_cache, timings
from compiler.cli import main

# one constant per graph, so no two compiles of this file are the same program (the
# in-process memo would skip LLVM for the second)
_unique = itertools.count(1)

LLVM_PHASES = {"convert", "verify", "pass.fold_constants", "pass.cse", "pass.simplify",
               "fusion", "lower", "llvm.emit_ir", "llvm.ir_text", "llvm.parse",
               "llvm.optimize", "llvm.opt_text", "llvm.codegen", "llvm.load"}


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _train_graph(scale=None):
    """A dense layer's SGD step in a new graph: (graph, init, step, x)."""
    scale = float(next(_unique)) if scale is None else scale
    graph = fc.Graph()
    with graph.as_default():
        x = fc.placeholder(fc.float32, [None, 16], name="x")
        w = fc.Variable(np.full((16, 8), scale, np.float32), name="w")  # init unique too
        loss = fc.reduce_sum(fc.nn.relu(fc.matmul(x, w) * scale))
        step = fc.train.GradientDescentOptimizer(0.01).minimize(loss)
        init = fc.global_variables_initializer()
    return graph, init, step, x


def _compile_in_session(graph, init, step, x, config=None):
    with fc.Session(graph=graph, config=config) as sess:
        sess.run(init)
        sess.run(step, {x: np.ones((4, 16), np.float32)})


def _counts(rec, gc_runs=True) -> dict:
    """{phase: count}; without the collections (`gc_runs=False`: they come when they do)."""
    return {name: n for name, _, n in rec.table() if gc_runs or name != "gc"}


# ---- the timer --------------------------------------------------------------------------
def test_nobody_listening_is_a_shared_no_op():
    assert not timings.listening()
    first, second = timings.phase("a"), timings.phase("b")
    assert first is second  # the one null context: nothing allocated, nothing timed
    with first:
        timings.stage("lower")
        timings.kernels(1, 2)


def test_nested_phases_own_time_adds_up_to_the_total():
    with timings.record() as rec:
        with timings.phase("outer"):
            time.sleep(0.02)
            with timings.phase("inner"):
                time.sleep(0.03)
        with timings.phase("inner"):
            time.sleep(0.01)
    rows = {name: (s, n) for name, s, n in rec.table()}
    assert [name for name, _, _ in rec.table()] == ["outer", "inner"]  # order entered
    assert rows["inner"][1] == 2 and rows["outer"][1] == 1
    assert rows["inner"][0] >= 0.04 and rows["outer"][0] >= 0.02
    # the outer phase's own time excludes the nested one: the parts add up to the total
    assert rows["outer"][0] < rec.total - rows["inner"][0] + 1e-6
    assert sum(s for s, _ in rows.values()) + rec.other() == pytest.approx(rec.total)
    assert 0 <= rec.other() < 0.01


def test_a_garbage_collection_is_its_own_phase():
    with timings.record() as rec:
        with timings.phase("work"):
            junk = [[] for _ in range(20000)]
            for a, b in zip(junk, junk[1:]):  # cycles only the collector frees
                a.append(b)
                b.append(a)
            del junk, a, b
            start = time.perf_counter()
            gc.collect()
            collect = time.perf_counter() - start
    counts, seconds = _counts(rec), rec.seconds()
    assert counts["gc"] >= 1 and counts["work"] == 1
    assert seconds["gc"] >= 0.5 * collect  # the collection is gc's, not work's
    assert seconds["work"] + seconds["gc"] + rec.other() == pytest.approx(rec.total)


def test_a_compile_records_its_phases_summing_to_the_total():
    graph, init, step, x = _train_graph()
    with timings.record() as rec:
        _compile_in_session(graph, init, step, x)
    names = set(rec.seconds())
    assert LLVM_PHASES <= names, LLVM_PHASES - names
    assert "session" in names
    own = sum(rec.seconds().values())
    # every phase's own time is disjoint: they sum to the total less the untimed rest
    # (the Session's run of the step, which is small next to an LLVM compile)
    assert own <= rec.total + 1e-6
    assert own >= 0.8 * rec.total, rec.format()
    assert all(s >= 0 for s in rec.seconds().values()), rec.format()
    table = rec.format("test")
    assert table.splitlines()[-1].startswith("total (test)")


def test_two_threads_compiling_at_once_get_their_own_records():
    with timings.record() as alone:  # what one compile of such a graph records
        _compile_in_session(*_train_graph())
    results, errors = {}, []
    barrier = threading.Barrier(2)

    def work(tag):
        try:
            graph, init, step, x = _train_graph()
            barrier.wait()
            with timings.record() as rec:
                _compile_in_session(graph, init, step, x)
            results[tag] = rec
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    with timings.record() as main_rec:  # this thread's record sees neither thread
        threads = [threading.Thread(target=work, args=(t,)) for t in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert _counts(main_rec, False) == {}
    assert sorted(results) == ["a", "b"]
    for rec in results.values():  # each saw its own compiles, as many as one alone does
        assert _counts(rec, False) == _counts(alone, False), rec.format()
        assert _counts(rec)["llvm.optimize"] >= 1


def test_bind_carries_the_listeners_into_a_worker_thread():
    def work():
        with timings.phase("worker"):
            timings.kernels(1, 1)

    sink = timings.Progress("x", stream=io.StringIO())
    with timings.record() as rec, timings.progress(sink):
        with timings.phase("caller"):
            bound = threading.Thread(target=timings.bind(work))
            unbound = threading.Thread(target=work)
            for t in (bound, unbound):
                t.start()
                t.join()
    counts = {name: n for name, _, n in rec.table()}
    assert counts == {"caller": 1, "worker": 1}  # the unbound thread reported nowhere
    assert sink.text().startswith("x: worker 1/1 kernels, ")


# ---- the command line and RunMetadata ---------------------------------------------------
def test_flowc_compile_timings_prints_a_table_summing_to_the_total(tmp_path, capsys):
    model = tmp_path / "timed_model.py"
    model.write_text(textwrap.dedent(f"""\
        import numpy as np
        import compiler as fc

        def build():
            x = fc.placeholder(fc.float32, [None, 8], name="x")
            w = fc.Variable(np.full((8, 3), {next(_unique)}.0, np.float32), name="w")
            return fc.nn.softmax(fc.matmul(x, w)), [x]
        """))
    status = main(["compile", f"{model}:build", "-o", str(tmp_path / "out"), "--timings"])
    out, err = capsys.readouterr()
    assert status == 0 and out.strip().endswith("model.json")
    lines = err.strip().splitlines()
    assert lines[0].split() == ["phase", "seconds", "share", "cpu", "s", "count"]
    row = re.compile(r"^(\S.*?)\s+(\d+\.\d{4})\s+(\d+\.\d)%\s+(-?\d+\.\d{4})\s*(\d*)$")
    parsed = [row.match(line) for line in lines[1:]]
    assert all(parsed), lines
    rows = {m.group(1): (float(m.group(2)), m.group(5)) for m in parsed}
    total = rows.pop("total (flowc compile)")[0]
    for name in ("build_graph", "convert", "lower", "llvm.emit_ir", "llvm.ir_text",
                 "llvm.optimize", "llvm.codegen", "link", "other"):
        assert name in rows, (name, lines)
    # one optimization per LLVM module: the entry's and one per batch of kernels the
    # kernel library did not hold (compiler/backends/llvm/kernlib.py)
    assert int(rows["llvm.optimize"][1]) >= 1 and rows["other"][1] == ""
    assert sum(s for s, _ in rows.values()) == pytest.approx(total, abs=5e-4 * len(rows))


def test_no_table_without_timings(tmp_path, capsys):
    model = tmp_path / "plain_model.py"
    model.write_text("import compiler as fc\n\ndef build():\n"
                     "    a = fc.placeholder(fc.float32, [3], name='a')\n"
                     f"    return fc.exp(a) * {next(_unique)}.0\n")
    assert main(["compile", f"{model}:build", "-o", str(tmp_path / "out")]) == 0
    assert "phase" not in capsys.readouterr().err


def test_traced_run_metadata_holds_the_compile_timings():
    graph, init, step, x = _train_graph()
    traced = fc.RunOptions(trace_level=fc.RunOptions.FULL_TRACE)
    with fc.Session(graph=graph) as sess:
        sess.run(init)
        md = fc.RunMetadata()
        sess.run(step, {x: np.ones((4, 16), np.float32)}, options=traced, run_metadata=md)
        assert LLVM_PHASES <= set(md.compile_timings.seconds())
        assert "llvm.optimize" in md.compile_timings.format()
        sess.run(step, {x: np.ones((4, 16), np.float32)}, options=traced, run_metadata=md)
        assert md.compile_timings is None  # this run compiled nothing
        assert md.step_stats.dev_stats[0].node_stats


# ---- progress ---------------------------------------------------------------------------
def test_progress_line_shows_stage_and_kernels_on_a_terminal():
    term = FakeTerminal()
    line = timings.Progress("flowc: compiling m", stream=term, delay=0.0, interval=0.01)
    with timings.progress(line):
        with timings.phase("lower"):
            timings.kernels(0, 5)
        timings.kernels(2, 5)
        time.sleep(0.1)
    text = term.getvalue()
    assert re.search(r"\rflowc: compiling m: lower 2/5 kernels, 0\.\d s\033\[K", text), text
    assert text.endswith("\r\033[K") and line.lines >= 1


def test_progress_line_never_on_a_pipe_nor_before_the_delay():
    piped = io.StringIO()
    with timings.progress(timings.Progress("p", stream=piped, delay=0.0, interval=0.01)):
        time.sleep(0.05)
    assert piped.getvalue() == ""
    quick = FakeTerminal()
    line = timings.Progress("q", stream=quick, delay=5.0)
    with timings.progress(line):
        timings.stage("lower")
    assert quick.getvalue() == "" and line.lines == 0


def _fake_stderr(monkeypatch):
    """stderr a terminal, the progress delay 0, FLOWC_PROGRESS unset (in the test's body:
    pytest's capture rebinds sys.stderr between a fixture's setup and the test)."""
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(timings, "DELAY", 0.0)
    monkeypatch.delenv(timings.ENV_PROGRESS, raising=False)
    return term


def test_session_compile_shows_progress_on_a_terminal(monkeypatch):
    term = _fake_stderr(monkeypatch)
    graph, init, step, x = _train_graph()
    _compile_in_session(graph, init, step, x)
    text = term.getvalue()
    assert re.search(r"\rflowc: compiling GradientDescent: \S+ \d+/\d+ kernels, \d+\.\d s",
                     text), text
    assert text.endswith("\r\033[K")


def test_cli_compile_shows_progress_on_a_terminal_unless_quiet(tmp_path, monkeypatch):
    term = _fake_stderr(monkeypatch)
    model = tmp_path / "progress_model.py"
    model.write_text("import compiler as fc\n\ndef build():\n"
                     "    a = fc.placeholder(fc.float32, [3], name='a')\n"
                     f"    return fc.exp(a) * {next(_unique)}.0\n")
    args = ["compile", f"{model}:build", "--name", "tiny"]
    assert main(args + ["-o", str(tmp_path / "a"), "-q"]) == 0
    assert term.getvalue() == ""
    kernel_cache.clear_memo()   # compile the kernels again: a compile, not a link of them
    # redraw often: this compile can end within the default 0.1 s interval (the entry
    # module is compiled lightly), before a second drawing would show its stage
    monkeypatch.setattr(timings.Progress.__init__, "__defaults__", (None, None, 0.001, True))
    assert main(args + ["-o", str(tmp_path / "b")]) == 0
    text = term.getvalue()
    assert re.search(r"\rflowc: compiling tiny: \S+.*, \d+\.\d s", text), text
    assert text.endswith("\r\033[K")


def test_session_progress_off_by_config_or_environment(monkeypatch):
    term = _fake_stderr(monkeypatch)
    graph, init, step, x = _train_graph()
    _compile_in_session(graph, init, step, x, fc.ConfigProto(progress=False))
    assert term.getvalue() == ""
    monkeypatch.setenv(timings.ENV_PROGRESS, "0")
    graph, init, step, x = _train_graph()
    _compile_in_session(graph, init, step, x)
    assert term.getvalue() == ""
