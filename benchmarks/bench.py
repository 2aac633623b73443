"""flowc benchmarks: `python benchmarks/bench.py NAME [NAME ...]`.

NAME is a workload (W1 elementwise chain, W3 MLP SGD step, W4 LSTM forward+backward,
W5 row softmax, W6 dispatch overhead, W7 MLP cold compile and warm-cache load in fresh
processes, MM matmul 1024^3, C1 a ResNet basic block forward, C2 its SGD step, C3 a LeNet-5
SGD step, W8 a 28-step static_rnn LSTM classifier's training step, D1 the overhead of a
two-partition step on two Ray workers, D2 an MLP data-parallel step on 2 Ray workers + 1 ps;
both against one process, their Ray lines need the `distributed` extra, O1 ONNX ResNet-50
and SqueezeNet batch-1 inference against onnxruntime) or `all`. Each result
is one JSON line on stdout:
    {"workload", "system", "median_ms", "min_ms", "check", ...optional
     "compile_s", "kernels", "gflops", "gbps", "note"}
(DESIGN.md's contract). `check` is "ok" when the system's result matched the numpy
reference before it was timed, else what differed; peers that are not installed give
"skipped: ..." (install them with `pip install -e '.[bench]'`). Among the peers is the
program's own TF1: `tf1` and `tf1-xla` run the workload's graph-building function with
`tensorflow.compat.v1` (benchmarks/peer_tf1.py). Notes for people go to stderr.

Options: `--quick` runs tiny sizes and few repeats, and only the systems every machine
has (flowc, flowc-out, numpy, ctypes) unless `--systems` names others; `--systems a,b`
runs only those systems; `--report PATH.md` writes, after the run, a markdown report of it
(times with ratios to flowc, compile times, machine, versions, the command) and a PNG bar
chart beside it (benchmarks/report.py; the chart needs matplotlib). The environment is
taken as it is (OPENBLAS_CORETYPE, threads): the numpy lines say which BLAS numpy runs when
threadpoolctl is installed.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import benchlib  # noqa: E402  (after the path setup above)
import report  # noqa: E402
import workload_c1  # noqa: E402
import workload_c2  # noqa: E402
import workload_c3  # noqa: E402
import workload_d1  # noqa: E402
import workload_d2  # noqa: E402
import workload_mm  # noqa: E402
import workload_o1  # noqa: E402
import workload_w1  # noqa: E402
import workload_w3  # noqa: E402
import workload_w4  # noqa: E402
import workload_w5  # noqa: E402
import workload_w6  # noqa: E402
import workload_w7  # noqa: E402
import workload_w8  # noqa: E402

WORKLOADS = {"W1": workload_w1.run, "W3": workload_w3.run, "W4": workload_w4.run,
             "W5": workload_w5.run, "W6": workload_w6.run, "W7": workload_w7.run,
             "MM": workload_mm.run, "C1": workload_c1.run}
WORKLOADS.update({"C2": workload_c2.run, "C3": workload_c3.run})   # issue 15: CNNs
WORKLOADS["W8"] = workload_w8.run   # issue 16: the static_rnn LSTM classifier
WORKLOADS["D1"] = workload_d1.run   # issue 17: a two-partition step on two Ray workers
WORKLOADS["D2"] = workload_d2.run   # issue 17: data-parallel MLP, 2 workers + 1 ps on Ray
WORKLOADS["O1"] = workload_o1.run   # issue 18: ONNX ResNet-50 and SqueezeNet vs onnxruntime
QUICK_SYSTEMS = frozenset({"flowc", "flowc-out", "numpy", "ctypes", "flowc-cold",
                           "flowc-warm-cache", "flowc-load"})


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+", metavar="NAME",
                   help=f"workloads: {', '.join(WORKLOADS)} or all")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and few repeats (a smoke test, not a measurement)")
    p.add_argument("--systems", default="",
                   help="comma-separated systems to run (default: all of each workload)")
    p.add_argument("--report", default="", metavar="PATH.md",
                   help="after the run, write a markdown report there and a PNG chart "
                        "beside it (PATH.png)")
    args = p.parse_args(argv)
    names = []
    for name in args.names:
        if name.lower() == "all":
            names += list(WORKLOADS)
        elif name.upper() in WORKLOADS:
            names.append(name.upper())
        else:
            p.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)} or all")
    systems = frozenset(s for s in args.systems.split(",") if s)
    if args.quick and not systems:
        systems = QUICK_SYSTEMS
    if args.report and not args.report.endswith(".md"):
        p.error(f"--report {args.report!r}: give a path ending in .md (the chart is .png)")
    cfg = benchlib.Config(quick=args.quick, systems=systems)
    return list(dict.fromkeys(names)), cfg, args.report


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names, cfg, report_path = parse_args(argv)
    loads, cores = os.getloadavg(), os.cpu_count()
    load = loads[0]
    benchlib.note(f"load average {load:.2f} on {cores} cores ({benchlib.cpu_model()}) "
                  "before the run"
                  + ("; other work is running, timings will be noisy" if load > 0.5 else ""))
    ok, records = True, []
    for name in names:
        for rec in WORKLOADS[name](cfg):
            benchlib.emit(rec)
            records.append(rec)
            if rec["system"].startswith("flowc") and rec["check"] != "ok":
                ok = False
    if report_path:
        command = " ".join([sys.executable, "benchmarks/bench.py"]
                           + list(argv))
        report.write_report(records, report_path, command, load=loads)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
