"""A bench.py run as a report a reader can take in at a glance: a markdown file and a PNG
bar chart.

    python benchmarks/report.py results.jsonl --out report.md [--command "..."]

reads the JSON lines of a saved run (`python benchmarks/bench.py all | tee results.jsonl`;
lines that are not JSON objects, e.g. bench's stderr notes when `2>&1` was teed, are
ignored) and writes `report.md` and `report.png` next to it. `bench.py --report PATH.md`
calls `write_report` on the records of the run it just made.

The markdown holds: the time table (rows workloads, columns systems; a cell is
"median (min) ms" and the median's ratio to flowc's, ×1.00 for flowc itself; skipped,
failed and mis-checked cells say so and list the reason below), the compile_s table, the
machine (CPU model, cores, vector width and SIMD flags, load average, described where the
report is written), the versions of every system (installed packages, and each system's
own note: its BLAS, threads, target) and the command. The PNG is a grouped bar chart of
each workload's median time relative to flowc's (log scale when the ratios span more than
20×). With matplotlib missing (it comes with the `bench` extra) the markdown is still
written and the message says the chart needs it.

This module reads records and writes files; it runs no benchmark.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys

CHART_NEEDS = ("the chart needs matplotlib, which comes with the bench extra "
               "(pip install -e '.[bench]')")
PACKAGES = ("flowc", "numpy", "llvmlite", "jax", "jaxlib", "torch", "onnxruntime", "apache-tvm",
            "tensorflow", "tensorflow-cpu", "matplotlib", "threadpoolctl")
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
              "avx512_vnni", "avx512_bf16", "amx_tile")


def load_records(path):
    """The result records (dicts with "workload" and "system") of a JSON-lines file."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if isinstance(rec, dict) and "workload" in rec and "system" in rec:
                records.append(rec)
    return records


def reference_system(systems):
    """The system ratios are taken against: "flowc", else the first "flowc-*" one."""
    if "flowc" in systems:
        return "flowc"
    return next((s for s in systems if s.startswith("flowc")), None)


def table(records):
    """`(workloads, systems, cells)`: workloads in first-seen order, systems with flowc
    first, then its variants, then the peers in first-seen order, and a dict
    (workload, system) -> record (the first record of a pair)."""
    workloads, systems, cells = [], [], {}
    for rec in records:
        w, s = rec["workload"], rec["system"]
        if w not in workloads:
            workloads.append(w)
        if s not in systems:
            systems.append(s)
        cells.setdefault((w, s), rec)
    flowc_first = sorted(range(len(systems)), key=lambda i: (
        0 if systems[i] == "flowc" else 1 if systems[i].startswith("flowc") else 2, i))
    return workloads, [systems[i] for i in flowc_first], cells


def ratios(records):
    """{(workload, system): median / the workload's reference median} for every timed,
    checked ("ok") record whose workload has a timed reference."""
    workloads, _, cells = table(records)
    out = {}
    for w in workloads:
        ref = reference_system([s for (w2, s) in cells if w2 == w])
        base_rec = cells.get((w, ref), {})
        base = base_rec.get("median_ms") if base_rec.get("check") == "ok" else None
        if not base:
            continue
        for (w2, s), rec in cells.items():
            if w2 == w and rec.get("median_ms") and rec.get("check") == "ok":
                out[(w, s)] = rec["median_ms"] / base
    return out


def _ms(v):
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _cell(rec, ratio, notes):
    """One time-table cell; a skipped, failed or mis-checked record adds its reason to
    `notes` and shows its number."""
    if rec is None:
        return ""
    check = rec.get("check", "")
    if check != "ok":
        notes.append(f"{rec['workload']} {rec['system']}: {check}")
        word = check.split(":")[0] if check.startswith(("skipped", "failed")) else "check"
        mark = f"{word} [{len(notes)}]"
        if not rec.get("median_ms"):
            return mark
        return f"{_ms(rec['median_ms'])} ({_ms(rec['min_ms'])}) {mark}"
    text = f"{_ms(rec['median_ms'])} ({_ms(rec['min_ms'])})"
    if ratio is None:
        return text
    return f"{text} ×{ratio:.2f}" if ratio >= 0.1 else f"{text} ×{ratio:.2g}"


def time_table(records):
    """The markdown time table and its list of footnotes."""
    workloads, systems, cells = table(records)
    rat = ratios(records)
    notes = []
    lines = ["| workload | " + " | ".join(systems) + " |",
             "| --- |" + " --- |" * len(systems)]
    for w in workloads:
        row = [_cell(cells.get((w, s)), rat.get((w, s)), notes) for s in systems]
        timed = {s: cells[(w, s)]["median_ms"] for s in systems if (w, s) in rat}
        if timed:
            best = systems.index(min(timed, key=timed.get))
            row[best] = f"**{row[best]}**"
        lines.append(f"| {w} | " + " | ".join(row) + " |")
    return lines, notes


def compile_table(records):
    """The markdown compile_s table (only systems that report compile_s)."""
    workloads, systems, cells = table(records)
    systems = [s for s in systems if any("compile_s" in cells.get((w, s), {})
                                         for w in workloads)]
    if not systems:
        return ["(no system reported compile_s)"]
    lines = ["| workload | " + " | ".join(systems) + " |",
             "| --- |" + " --- |" * len(systems)]
    for w in workloads:
        row = []
        for s in systems:
            v = cells.get((w, s), {}).get("compile_s")
            row.append("" if v is None else f"{v:.3g}")
        if any(row):
            lines.append(f"| {w} | " + " | ".join(row) + " |")
    return lines


def machine(load=None):
    """Lines describing this machine: CPU model, cores, vector width and flags, load."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    width = 512 if "avx512f" in flags else 256 if "avx2" in flags or "avx" in flags \
        else 128 if "sse2" in flags else None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count()
    loads = os.getloadavg() if load is None else load
    out = [f"- CPU: {model} ({platform.machine()}), {cores} core(s) usable, "
           f"{os.cpu_count()} online",
           "- vector width: " + (f"{width}-bit" if width else "unknown")
           + "; SIMD flags: " + (", ".join(f for f in SIMD_FLAGS if f in flags) or "none"),
           f"- load average (1, 5, 15 min{', before the run' if load else ''}): "
           + ", ".join(f"{v:.2f}" for v in loads)]
    try:
        import llvmlite.binding as llvm
        out.append(f"- LLVM host CPU name: {llvm.get_host_cpu_name()}")
    except ImportError:
        pass
    out.append(f"- Python {platform.python_version()}, {platform.platform()}")
    return out


def flowc_revision() -> str:
    """The git commit of the flowc checkout these benchmarks sit in (with "+ local
    changes" when the tree differs from it), or "git commit unknown"."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "git commit unknown"
    return f"commit {head.stdout.strip()}" + (" + local changes" if dirty.stdout.strip()
                                              else "")


def versions(records):
    """Lines: the installed version of each known package, then each system's note (the
    first note a system printed, with its workload: its version, BLAS, threads, target)."""
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    out = [f"- flowc checkout: {flowc_revision()}", "- installed: " + ", ".join(found)]
    _, systems, cells = table(records)
    for s in systems:
        first = next((rec for (_, s2), rec in cells.items()
                      if s2 == s and rec.get("note")), None)
        if first:
            out.append(f"- {s} ({first['workload']}): {first['note']}")
    return out


def markdown(records, command, chart_name=None, chart_message=None, load=None):
    """The whole report as markdown text."""
    times, notes = time_table(records)
    parts = ["# flowc benchmark report", "",
             "Median (min) time per call in ms; ×r is the median relative to flowc's "
             "(below 1: faster than flowc; only for results that passed their check); "
             "bold: the fastest checked system of the workload.", ""]
    parts += times
    parts += [""] + [f"[{i}] {n}" for i, n in enumerate(notes, 1)] + ([""] if notes else [])
    extra = len(records) - len(table(records)[2])
    if extra:
        parts += [f"{extra} more line(s) for a (workload, system) already shown were left "
                  "out (the first line of each pair is shown; was the file appended to "
                  "twice?).", ""]
    if chart_name:
        parts += [f"![time relative to flowc]({chart_name})", ""]
    if chart_message:
        parts += [f"Chart not written: {chart_message}.", ""]
    parts += ["## Compile time (compile_s, seconds)", ""] + compile_table(records)
    parts += ["", "## Machine (where this report was written)", ""] + machine(load)
    parts += ["", "## Versions and each system's setup", ""] + versions(records)
    parts += ["", "## Command", "", "```", command, "```", ""]
    return "\n".join(parts)


def _ratio_label(y):
    """A bar's label: two significant digits, whole numbers from 100 on (no 6.7e+02)."""
    return f"{y:.0f}" if y >= 100 else f"{y:.2g}"


def _bar_slots(workloads, systems, rat):
    """Bar positions: each workload's bars side by side in system order (only the systems
    it has), a gap between workloads. Returns ({(workload, system): x}, [group centres])."""
    xs, centres, x = {}, [], 0.0
    for w in workloads:
        keys = [(w, s) for s in systems if (w, s) in rat]
        for i, k in enumerate(keys):
            xs[k] = x + i
        centres.append(x + (len(keys) - 1) / 2)
        x += len(keys) + 1.5
    return xs, centres


def chart(records, path):
    """Write the grouped bar chart to `path`; returns None, or the message saying why
    there is no chart (matplotlib missing, nothing to plot)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return CHART_NEEDS
    workloads, systems, cells = table(records)
    refs = {(w, reference_system([s for (w2, s) in cells if w2 == w])) for w in workloads}
    rat = {k: v for k, v in ratios(records).items() if k not in refs}   # refs: the line
    if not rat:
        return "no workload has a timed flowc result and a timed peer to compare"
    workloads = [w for w in workloads if any(k[0] == w for k in rat)]
    systems = [s for s in systems if any(k[1] == s for k in rat)]
    slots = _bar_slots(workloads, systems, rat)
    extent = max(slots[0].values()) + 1.0          # bars and gaps, in bar widths
    fig_w = min(24.0, max(6.0, 1.5 + 0.5 * extent))
    fig, ax = plt.subplots(figsize=(fig_w, 5.0), dpi=120)
    colors = plt.get_cmap("tab10" if len(systems) <= 10 else "tab20")
    for j, s in enumerate(systems):
        keys = [k for k in slots[0] if k[1] == s]
        ys = [rat[k] for k in keys]
        # bars grow from flowc's 1.0: up is slower than flowc, down is faster
        bars = ax.bar([slots[0][k] for k in keys], [y - 1.0 for y in ys], 0.9, bottom=1.0,
                      label=s, color=colors(j % colors.N))
        ax.bar_label(bars, labels=[_ratio_label(y) for y in ys], fontsize=7, padding=2)
    values = list(rat.values())
    if max(values) / min(values) > 20:
        ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--", label="flowc (= 1)")
    ax.set_xticks(slots[1], workloads)
    ax.set_ylabel("median time / flowc's median" + (" (log scale)"
                                                    if ax.get_yscale() == "log" else ""))
    ax.set_title("time relative to flowc: above the dashed line slower, below faster",
                 fontsize=10)
    ax.margins(y=0.15)
    ax.legend(fontsize=8, ncols=max(1, min(len(systems) + 1, int(fig_w / 1.7))),
              loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return None


def write_report(records, md_path, command, load=None):
    """Write `md_path` and the chart beside it (`md_path` with .png). Returns the chart's
    path, or None when there is none (the message went to stderr and into the report)."""
    png_path = os.path.splitext(md_path)[0] + ".png"
    message = chart(records, png_path)
    if message:
        print(f"report: no chart: {message}", file=sys.stderr)
    text = markdown(records, command, None if message else os.path.basename(png_path),
                    message, load)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"report: wrote {md_path}" + ("" if message else f" and {png_path}"),
          file=sys.stderr)
    return None if message else png_path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", help="JSON lines of a bench.py run")
    p.add_argument("--out", default="report.md", help="markdown path; the chart is .png")
    p.add_argument("--command", default=None,
                   help="the bench.py command that made the run (for the report)")
    args = p.parse_args(argv)
    records = load_records(args.results)
    if not records:
        p.error(f"{args.results}: no bench.py result lines (JSON objects with workload "
                "and system)")
    command = args.command or f"(the run saved in {args.results})"
    write_report(records, args.out,
                 command + f"\n# report: python benchmarks/report.py {args.results} "
                 f"--out {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
