"""The benchmark's TF1 peers (benchmarks/peer_tf1.py) run the very graph-building function
that flowc's system of the same workload runs, handed the TF1 module instead of
`compiler` (issue 16, item 3: no second hand-written copy of a workload's graph).

TensorFlow is not part of the test environment, so the TF1 module is stood in for by
`compiler` itself (its TF1 API is the point of the project): `peer_tf1.load` returns it and
the TensorFlow-only facts of the note (the traced step's op types, oneDNN) are stubbed.
Each workload's builder is wrapped in a spy; its flowc system and its tf1 system each run
(quick sizes) and must call the spy, and the tf1 line's result must pass the workload's
own check against the numpy reference, so a tf1 system that built its graph some other
way, or from a copy, fails here.
"""

from __future__ import annotations

import importlib
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")

# workload module -> the name of its graph-building function
BUILDERS = {"workload_w1": "build", "workload_w3": "build", "workload_w4": "build",
            "workload_w5": "build", "workload_mm": "build", "workload_w8": "build_w8",
            "workload_c2": "build", "workload_c3": "build"}


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import benchlib
    import peer_tf1

    import compiler
    monkeypatch.setattr(peer_tf1, "load", lambda: compiler)
    monkeypatch.setattr(peer_tf1, "traced_ops", lambda tf, sess, fetches, feed: (set(), 0))
    monkeypatch.setattr(peer_tf1, "onednn_on", lambda: "stubbed")
    return benchlib


@pytest.mark.parametrize("module", sorted(BUILDERS))
def test_tf1_system_runs_the_graph_function_of_flowc(bench, monkeypatch, module):
    import compiler
    mod = importlib.import_module(module)
    name = BUILDERS[module]
    real = getattr(mod, name)
    calls = []

    def spy(tf, *args, **kwargs):
        calls.append(tf)
        return real(tf, *args, **kwargs)
    monkeypatch.setattr(mod, name, spy)

    def run(system):
        calls.clear()
        recs = list(mod.run(bench.Config(quick=True, systems=frozenset({system}))))
        assert [r["system"] for r in recs] == [system]
        return recs[0], list(calls)

    flowc, flowc_calls = run("flowc")
    assert flowc["check"] == "ok", flowc
    assert flowc_calls and all(tf is compiler for tf in flowc_calls)
    tf1, tf1_calls = run("tf1")
    assert tf1["check"] == "ok", tf1
    assert tf1_calls == [compiler], tf1   # once, with the module load() gave
    assert tf1["gflops" if "gflops" in flowc else "gbps"] > 0
    assert tf1["median_ms"] > 0 and tf1["compile_s"] > 0
    assert "intra/inter-op threads" in tf1["note"] and "CPU " in tf1["note"]


def test_tf1_lines_say_skipped_without_tensorflow(bench, monkeypatch):
    import peer_tf1
    monkeypatch.setattr(peer_tf1, "load", lambda: None)
    mod = importlib.import_module("workload_w1")
    recs = list(mod.run(bench.Config(quick=True, systems=frozenset({"tf1", "tf1-xla"}))))
    assert [r["system"] for r in recs] == ["tf1", "tf1-xla"]
    for rec in recs:
        assert rec["check"].startswith("skipped: tensorflow not installed"), rec
        assert rec["median_ms"] is None


def test_tf1_xla_check_fails_when_no_cluster_ran(bench, monkeypatch):
    """The tf1-xla line does not assume XLA ran: no `_XlaRun` node in the traced step makes
    its check fail (and one in the plain tf1 session does too)."""
    import peer_tf1

    import compiler
    monkeypatch.setattr(peer_tf1, "session",
                        lambda tf, graph, xla: compiler.Session(graph=graph))
    mod = importlib.import_module("workload_w5")
    recs = list(mod.run(bench.Config(quick=True, systems=frozenset({"tf1-xla"}))))
    assert recs[0]["check"] == "XLA did not run: no _XlaRun node in the traced step", recs
    monkeypatch.setattr(peer_tf1, "traced_ops", lambda tf, sess, fetches, feed: (set(), 2))
    recs = list(mod.run(bench.Config(quick=True, systems=frozenset({"tf1"}))))
    assert recs[0]["check"] == "XLA ran in the plain tf1 session (2 _XlaRun nodes)", recs


def test_missing_names_the_tf1_attribute():
    sys.path.insert(0, BENCH)
    try:
        import peer_tf1

        import compiler
    finally:
        sys.path.remove(BENCH)
    assert peer_tf1.missing(compiler, "nn.rnn_cell.BasicLSTMCell") is None
    why = peer_tf1.missing(compiler, "nn.rnn_cell.NoSuchCell")
    assert why.startswith("tf.compat.v1.nn.rnn_cell.NoSuchCell is not available"), why
