"""Run the TF1-style programs of examples/tf1 and print a table of what runs.

    python examples/tf1/run_all.py [--timeout SECONDS] [--markdown] [NAME ...]

Each program (every `*.py` here but this runner and `local_data.py`, or the NAMEs given)
runs in its own subprocess with the repository on PYTHONPATH and a timeout (default
300 s). A program checks its own expected result, prints it on its last line as
`result: ...` and exits 0 when it was met. The table lists each program, whether it ran
to its expected result ("yes"; "no" when it ran but missed it; "error" when it raised;
"timeout"), its time, and the result line or the first line of its error (the exception
the traceback ends with). The exit status is 0 when every program ran to its result.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NOT_PROGRAMS = {"run_all.py", "local_data.py"}


def programs() -> list:
    return sorted(f[:-3] for f in os.listdir(HERE)
                  if f.endswith(".py") and f not in NOT_PROGRAMS)


def run_program(name: str, timeout: float) -> dict:
    """{name, status, seconds, detail} of running examples/tf1/NAME.py."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    start = time.time()
    try:
        proc = subprocess.run([sys.executable, os.path.join(HERE, name + ".py")], cwd=HERE,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(name=name, status="timeout", seconds=time.time() - start,
                    detail=f"no result within {timeout:.0f} s")
    seconds = time.time() - start
    result = [ln for ln in proc.stdout.splitlines() if ln.startswith("result:")]
    if proc.returncode == 0 and result:
        return dict(name=name, status="yes", seconds=seconds, detail=result[-1])
    if result:
        return dict(name=name, status="no", seconds=seconds, detail=result[-1])
    return dict(name=name, status="error", seconds=seconds,
                detail=first_error(proc.stderr) or f"exit status {proc.returncode}")


def first_error(stderr: str) -> str:
    """The exception line a Python traceback ends with ('AttributeError: ...')."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if not ln.startswith((" ", "\t")) and ":" in ln and not ln.startswith("Traceback"):
            return ln.strip()
    return lines[-1].strip() if lines else ""


def table(rows, markdown=False) -> str:
    if markdown:
        out = ["| program | runs | time | result or first error |", "| --- | --- | --- | --- |"]
        out += [f"| {r['name']} | {r['status']} | {r['seconds']:.0f} s | "
                f"{r['detail'].replace('|', '/')} |" for r in rows]
        return "\n".join(out)
    width = max(len(r["name"]) for r in rows)
    out = [f"{'program':<{width}}  runs     time  result or first error"]
    out += [f"{r['name']:<{width}}  {r['status']:<7} {r['seconds']:4.0f} s  {r['detail']}"
            for r in rows]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="programs to run (default: all)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    names = args.names or programs()
    unknown = sorted(set(names) - set(programs()))
    if unknown:
        parser.error(f"no such program(s): {', '.join(unknown)}")
    rows = []
    for name in names:
        rows.append(run_program(name, args.timeout))
        print(f"{name}: {rows[-1]['status']}", file=sys.stderr, flush=True)
    print(table(rows, args.markdown))
    ok = sum(r["status"] == "yes" for r in rows)
    print(f"{ok} of {len(rows)} programs ran to their expected result")
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
