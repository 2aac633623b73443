"""Differential fuzzing: random graphs compiled (passes + LLVM) against the interpreter.

    python benchmarks/fuzz.py --minutes 10 [--seed 1]

The generator is tests/graphgen.py (also run, with a fixed seed, by tests/test_fuzz.py).
Prints one JSON line per mismatch ({"mismatch": ...}) and a final summary line
{"graphs": G, "cases": C, "mismatches": M, "seconds": S}; a case is one graph run at one
size of the symbolic dim. Exits 1 when anything mismatched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import numpy as np  # noqa: E402
from graphgen import random_case, run_case  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-graphs", type=int, default=0, help="stop after this many graphs")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start, graphs, cases, mismatches = time.time(), 0, 0, 0
    while time.time() - start < args.minutes * 60:
        if args.max_graphs and graphs >= args.max_graphs:
            break
        case = random_case(rng)
        try:
            runs, bad = run_case(case, rng)
        except Exception as e:  # noqa: BLE001  (a crash of the compiler is a finding too)
            runs, bad = 1, [{"crash": repr(e), "graph": case.text}]
        graphs, cases, mismatches = graphs + 1, cases + runs, mismatches + len(bad)
        for m in bad:
            print(json.dumps({"mismatch": m, "graph_index": graphs - 1}, default=str),
                  flush=True)
    print(json.dumps({"graphs": graphs, "cases": cases, "mismatches": mismatches,
                      "seconds": round(time.time() - start, 1), "seed": args.seed}),
          flush=True)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
