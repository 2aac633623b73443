"""Memory, threads and mapped regions over many compiles in one process:
`python benchmarks/compile_memory.py [--compiles N] [--distinct] [--no-memo] [--rows R]`.

Each compile is a new `fc.Session` of a small softmax graph run once on an (R, 8)
float32 feed, with the compile cache on disk off (`FLOWC_CACHE=0`), so every compile
goes through the in-process memo (compiler/memo.py, docs/cache.md). `--distinct` makes
every graph different (each then runs LLVM: the llvmlite leak of docs/toolchain.md);
`--no-memo` sets `memo.MAX_ENTRIES = 0` (every compile runs LLVM). After 20 warm-up
compiles it prints one JSON line: compiles, seconds, threads / mapped regions / RSS (MiB)
before and after (once the Sessions are gone), the peak thread count seen, and the
memo's statistics. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

os.environ["FLOWC_CACHE"] = "0"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import compiler as fc  # noqa: E402
from compiler import memo  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def mapped_regions() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def snapshot() -> dict:
    gc.collect()
    return {"threads": threads(), "maps": mapped_regions(), "rss_mib": round(rss_mib(), 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compiles", type=int, default=1000)
    ap.add_argument("--distinct", action="store_true", help="a different graph per compile")
    ap.add_argument("--no-memo", action="store_true", help="memo.MAX_ENTRIES = 0")
    ap.add_argument("--rows", type=int, default=4, help="rows of the feed")
    args = ap.parse_args(argv)
    if args.no_memo:
        memo.MAX_ENTRIES = 0
    feed = np.linspace(-2, 2, args.rows * 8, dtype=np.float32).reshape(args.rows, 8)
    peak = [0]

    def once(scale):
        g = fc.Graph()
        with g.as_default():
            x = fc.placeholder(fc.float32, [None, 8], name="x")
            y = fc.reduce_sum(fc.nn.softmax(fc.tanh(x) * scale + 1.0), axis=1)
        with fc.Session(graph=g) as sess:
            sess.run(y, {x: feed})
            peak[0] = max(peak[0], threads())

    for i in range(20):
        once(1e6 + i)
    before, start = snapshot(), time.perf_counter()
    for i in range(args.compiles):
        once(float(i) if args.distinct else 2.0)
    seconds = time.perf_counter() - start
    after = snapshot()
    print(json.dumps({"compiles": args.compiles, "distinct": args.distinct,
                      "memo": not args.no_memo, "rows": args.rows,
                      "seconds": round(seconds, 1), "before": before, "after": after,
                      "rss_growth_mib": round(after["rss_mib"] - before["rss_mib"], 1),
                      "peak_threads": peak[0], "memo_stats": dict(memo.stats)}))


if __name__ == "__main__":
    main()
