"""benchmarks/report.py (the markdown table, compile table and chart of a bench.py run,
from a fixed JSON-lines sample) and the tvm peer's lines when apache-tvm is missing."""

import importlib.util
import json
import os
import re
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "benchmarks")
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

import benchlib  # noqa: E402
import peer_tvm  # noqa: E402
import report  # noqa: E402

SAMPLE = [
    {"workload": "W1", "system": "flowc", "median_ms": 10.0, "min_ms": 9.0, "check": "ok",
     "compile_s": 0.09, "note": "flowc note"},
    {"workload": "W1", "system": "numpy", "median_ms": 40.0, "min_ms": 38.0,
     "check": "ok", "note": "numpy 2.4.6, BLAS openblas"},
    {"workload": "W1", "system": "tvm", "median_ms": 20.0, "min_ms": 18.0, "check": "ok",
     "compile_s": 0.3, "note": "apache-tvm 0.27 untuned"},
    {"workload": "W1", "system": "jax-jit", "median_ms": None, "min_ms": None,
     "check": "skipped: jax not installed"},
    {"workload": "W3", "system": "flowc", "median_ms": 5.0, "min_ms": 4.5, "check": "ok",
     "compile_s": 1.1},
    {"workload": "W3", "system": "numpy", "median_ms": 6.0, "min_ms": 5.5,
     "check": "w0 update: 3 of 9 elements differ"},
    {"workload": "W3", "system": "tvm", "median_ms": 2.5, "min_ms": 2.4, "check": "ok",
     "compile_s": 3.0},
]


def _write_sample(tmp_path):
    path = tmp_path / "run.jsonl"
    lines = ["bench: load average 0.10 on 2 cores before the run"]   # a teed stderr note
    lines += [json.dumps(r) for r in SAMPLE]
    path.write_text("\n".join(lines) + "\n")
    return path


def _md_table(text, heading_line):
    """{(row, column): cell} of the markdown table whose header row is `heading_line`."""
    lines = text.splitlines()
    i = lines.index(heading_line)
    cols = [c.strip() for c in lines[i].strip("|").split("|")][1:]
    cells = {}
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        parts = [c.strip() for c in line.strip("|").split("|")]
        for col, cell in zip(cols, parts[1:]):
            cells[(parts[0], col)] = cell
    return cells


def test_ratios_are_medians_over_flowc_for_checked_results():
    rat = report.ratios(SAMPLE)
    assert rat == {("W1", "flowc"): 1.0, ("W1", "numpy"): 4.0, ("W1", "tvm"): 2.0,
                   ("W3", "flowc"): 1.0, ("W3", "tvm"): 0.5}


def test_columns_put_flowc_then_its_variants_then_peers():
    recs = [dict(SAMPLE[1], workload="MM"), dict(SAMPLE[2], workload="MM"),
            dict(SAMPLE[0], system="flowc-out"), SAMPLE[0], SAMPLE[1]]
    assert report.table(recs)[:2] == (["MM", "W1"], ["flowc", "flowc-out", "numpy", "tvm"])


def test_small_ratios_keep_two_significant_digits():
    recs = [SAMPLE[0], dict(SAMPLE[1], median_ms=0.0123, min_ms=0.012)]
    lines, _ = report.time_table(recs)
    assert lines[2] == "| W1 | 10 (9) ×1.00 | **0.0123 (0.012) ×0.0012** |"


def test_a_repeated_pair_shows_its_first_line_and_says_so():
    text = report.markdown(SAMPLE + [dict(SAMPLE[2], median_ms=1.0)], "cmd")
    assert "| W1 | **10 (9) ×1.00** | 40 (38) ×4.00 | 20 (18) ×2.00 |" in text
    assert "1 more line(s) for a (workload, system) already shown were left out" in text
    assert "left out" not in report.markdown(SAMPLE, "cmd")


def test_no_ratios_when_flowc_failed_its_check():
    recs = [dict(SAMPLE[0], check="1 of 4 elements differ"), SAMPLE[1]]
    assert report.ratios(recs) == {}


def test_report_from_saved_run(tmp_path, capsys):
    out = tmp_path / "r.md"
    assert report.main([str(_write_sample(tmp_path)), "--out", str(out),
                        "--command", "python benchmarks/bench.py W1 W3"]) == 0
    text = out.read_text()
    t = _md_table(text, "| workload | flowc | numpy | tvm | jax-jit |")
    assert t[("W1", "flowc")] == "**10 (9) ×1.00**"
    assert t[("W1", "numpy")] == "40 (38) ×4.00"
    assert t[("W1", "tvm")] == "20 (18) ×2.00"
    assert t[("W1", "jax-jit")] == "skipped [1]"
    assert t[("W3", "flowc")] == "5 (4.5) ×1.00"
    assert t[("W3", "numpy")] == "6 (5.5) check [2]"
    assert t[("W3", "tvm")] == "**2.5 (2.4) ×0.50**"
    assert t[("W3", "jax-jit")] == ""
    assert "[1] W1 jax-jit: skipped: jax not installed" in text
    assert "[2] W3 numpy: w0 update: 3 of 9 elements differ" in text
    c = _md_table(text, "| workload | flowc | tvm |")
    assert (c[("W1", "flowc")], c[("W1", "tvm")]) == ("0.09", "0.3")
    assert (c[("W3", "flowc")], c[("W3", "tvm")]) == ("1.1", "3")
    assert "- numpy (W1): numpy 2.4.6, BLAS openblas" in text
    assert "- tvm (W1): apache-tvm 0.27 untuned" in text
    assert "python benchmarks/bench.py W1 W3" in text
    assert re.search(r"^- flowc checkout: (commit [0-9a-f]{12}( \+ local changes)?|git commit "
                     r"unknown)$", text, re.M)
    assert "- load average (1, 5, 15 min): " in text
    assert "- vector width: " in text
    png = tmp_path / "r.png"
    if importlib.util.find_spec("matplotlib") is not None:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
        assert "![time relative to flowc](r.png)" in text
    else:
        assert not png.exists()
        assert report.CHART_NEEDS in capsys.readouterr().err
        assert f"Chart not written: {report.CHART_NEEDS}." in text


def test_report_without_matplotlib_still_writes_markdown(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)    # import raises ImportError
    out = tmp_path / "r.md"
    assert report.write_report(SAMPLE, str(out), "cmd") is None
    assert not (tmp_path / "r.png").exists()
    text = out.read_text()
    assert f"Chart not written: {report.CHART_NEEDS}." in text
    assert "| W1 | **10 (9) ×1.00** |" in text
    assert "needs matplotlib" in capsys.readouterr().err


def test_report_of_a_file_without_results_is_an_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("bench: nothing\n")
    with pytest.raises(SystemExit):
        report.main([str(path), "--out", str(tmp_path / "r.md")])


@pytest.fixture
def no_tvm(monkeypatch):
    """apache-tvm made unimportable, peer_tvm's cached import forgotten."""
    monkeypatch.setitem(sys.modules, "tvm", None)
    monkeypatch.setattr(peer_tvm, "_STATE", {})
    monkeypatch.delenv("TVM_NUM_THREADS", raising=False)


@pytest.mark.parametrize("name", ["W1", "W5", "MM", "W3", "W4"])
def test_tvm_lines_are_skipped_without_tvm(no_tvm, name):
    workload = __import__(f"workload_{name.lower()}")
    cfg = benchlib.Config(quick=True, systems=frozenset({"tvm"}))
    records = list(workload.run(cfg))
    assert records == [{"workload": name, "system": "tvm", "median_ms": None,
                        "min_ms": None, "check": "skipped: tvm not installed"}]


def test_bench_report_option_writes_the_run(tmp_path):
    import subprocess
    out = tmp_path / "run.md"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(BENCH))
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "bench.py"), "--quick",
                           "--systems", "numpy,tvm", "W5", "--report", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert [r["system"] for r in records] == ["numpy", "tvm"]
    text = out.read_text()
    numpy_cell = _md_table(text, "| workload | numpy | tvm |")[("W5", "numpy")]
    assert numpy_cell.startswith(report._ms(records[0]["median_ms"]) + " (")
    assert "benchmarks/bench.py --quick --systems numpy,tvm W5 --report" in text


def test_bench_report_path_must_be_markdown():
    import bench
    with pytest.raises(SystemExit):
        bench.parse_args(["W5", "--report", "run.txt"])
