"""Differential fuzz test (issue 13): random graphs over the op table, compiled through
the default pipeline and LLVM, against the interpreter, with a fixed seed so a failure
replays. tests/graphgen.py generates and compares (bitwise for elementwise graphs);
benchmarks/fuzz.py runs the same generator for minutes (`--minutes N`)."""

from __future__ import annotations

import json

import numpy as np
from graphgen import random_case, run_case

GRAPHS = 120


def test_random_graphs_match_the_interpreter():
    rng = np.random.default_rng(20261205)
    found, cases, modes = [], 0, set()
    for _ in range(GRAPHS):
        case = random_case(rng)
        modes.add(case.mode)
        runs, bad = run_case(case, rng)
        cases += runs
        found.extend(bad)
    assert modes == {"exact", "approx", "reduce"}
    assert cases >= GRAPHS * 6
    assert not found, json.dumps(found[:3], default=str, indent=1)[:4000]


def test_the_fuzzer_sees_a_signed_zero_bug(monkeypatch):
    """The comparison is bitwise: a compiled result that differs only in the sign of a
    zero is a mismatch (this is what the generator found before issue 13's fixes)."""
    from graphgen import Case, compare
    case = Case(None, [], [], "exact", np.float32)
    got = [np.array([0.0, 1.0, np.nan], np.float32)]
    assert compare(case, got, [np.array([-0.0, 1.0, np.nan], np.float32)], []) != []
    assert compare(case, got, [np.array([0.0, 1.0, -np.nan], np.float32)], []) == []
