"""The distributed benchmarks D1 and D2 (benchmarks/workload_d1.py, workload_d2.py) check
what they time: their one-process lines pass the workloads' own checks (D2's two-tower
program against numpy's whole-batch SGD trajectory, one tower's gradients against numpy's
of its half), the checks catch a wrong result, and without Ray the Ray lines say
`skipped` (they never fail the run). No Ray runtime is started here: the Ray lines'
checks are the same functions, run by `python benchmarks/bench.py D1 D2`."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "benchmarks")


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)
    import benchlib
    return benchlib


def _lines(module, bench, systems):
    cfg = bench.Config(quick=True, systems=frozenset(systems))
    return {r["system"]: r for r in module.run(cfg)}


def test_d2_one_process_and_tower_lines_pass_their_numpy_checks(bench):
    import workload_d2
    lines = _lines(workload_d2, bench, {"flowc", "flowc-tower"})
    assert lines["flowc"]["check"] == "ok", lines["flowc"]
    assert lines["flowc-tower"]["check"] == "ok", lines["flowc-tower"]
    assert lines["flowc"]["median_ms"] > 0 and "p90 " in lines["flowc"]["note"]


def test_d2_check_catches_a_wrong_step(bench):
    import workload_d2 as d2
    ws0, bs0, x, y = d2._data(16, d2.SIZES)
    want = d2.reference(ws0, bs0, x, y, 2)
    assert d2.check(want[0], want[1], want) == "ok"
    # one tower's gradient alone (not averaged): the weights after the steps differ
    half = d2.reference(ws0, bs0, x[:8], y[:8], 2)
    assert "parameter" in d2.check(want[0], half[1], want)
    assert "loss of step 1" in d2.check([want[0][0], want[0][1] * 1.01], want[1], want)


def test_d1_one_process_line_and_its_check(bench):
    import workload_d1 as d1
    lines = _lines(d1, bench, {"flowc"})
    assert lines["flowc"]["check"] == "ok", lines["flowc"]
    want = np.arange(d1.SIZE, dtype=np.float32)
    assert d1.check(want.copy(), want) == "ok"
    bad = want.copy()
    bad[3] += 1
    assert "index 3" in d1.check(bad, want)
    assert "float64" in d1.check(want.astype(np.float64), want)


def test_without_ray_the_ray_lines_are_skipped(bench, monkeypatch):
    import workload_d1
    import workload_d2
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    d1 = _lines(workload_d1, bench, {"flowc-ray", "flowc-plan", "ray-cgraph"})
    d2 = _lines(workload_d2, bench, {"flowc-ray"})
    for rec in list(d1.values()) + list(d2.values()):
        assert rec["check"].startswith("skipped: ray not installed"), rec
        assert rec["median_ms"] is None
