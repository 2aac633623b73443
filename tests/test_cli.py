"""The `flowc` command line, run as `python -m compiler` in a subprocess on small modules
written to tmp_path: dump (stdout and files, stage selection, the user's file:line),
compile + inspect, errors and exit statuses, the console-script entry, the progress line."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import runtime
from compiler.cli import Progress, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL = textwrap.dedent("""\
    import numpy as np
    import compiler as fc


    def build():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        w = fc.Variable(np.full((4, 3), 0.5, np.float32), name="w")
        y = fc.nn.softmax(fc.matmul(x, w), name="probs")
        return y, [x]


    def plain():
        a = fc.placeholder(fc.float32, [3], name="a")
        b = fc.placeholder(fc.float32, [3], name="b")
        return fc.exp(a) * b


    def broken():
        a = fc.placeholder(fc.float32, [3], name="a")
        return a + fc.placeholder(fc.float32, [4], name="b")


    def crashes():
        raise RuntimeError("the user's own bug")


    def trained():
        x = fc.placeholder(fc.float32, [None, 2], name="x")
        w = fc.Variable(np.zeros((2, 2), np.float32), name="w")
        sess = fc.Session()
        sess.run(fc.global_variables_initializer())
        sess.run(fc.assign(w, np.eye(2, dtype=np.float32) * 3))
        return fc.matmul(x, w), [x], sess
""")


def line_of(text, needle) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def flowc(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "compiler", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_help_lists_the_commands_and_examples():
    proc = flowc("--help")
    assert proc.returncode == 0
    for word in ("dump", "compile", "inspect", "examples:", "(fetches, feeds)"):
        assert word in proc.stdout
    sub = flowc("dump", "--help")
    assert "--stages" in sub.stdout and "--pipeline" in sub.stdout and "-o DIR" in sub.stdout
    assert flowc().returncode == 2  # no command: the help, exit status 2


def test_dump_prints_every_stage_with_the_users_lines(model):
    proc = flowc("dump", f"{model}:plain")
    assert proc.returncode == 0, proc.stderr
    names = re.findall(r"^==== (\w+(?:\.\d+)?) ====$", proc.stdout, re.M)
    assert names[:2] == ["graph", "input"] and names[-5:] == ["fusion", "kernels", "llvm",
                                                              "llvm_opt", "asm"]
    exp_line = line_of(MODEL, "fc.exp(a) * b")
    a_line = line_of(MODEL, 'name="a")')
    assert f"a = placeholder() : float32[3]  # model.py:{a_line}" in proc.stdout
    assert f"kernel 0 [loop] -> mul 'Mul' (created at model.py:{exp_line})" in proc.stdout
    assert f"# computes: mul 'Mul' (created at model.py:{exp_line})" in proc.stdout


def test_dump_writes_selected_stages_to_a_directory(model, tmp_path):
    out = tmp_path / "dumps"
    proc = flowc("dump", "model.py:build", "-o", out, "--stages", "graph,fusion,kernels",
                 "--pipeline", "O0", cwd=model.parent)
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["00_graph.txt", "01_fusion.txt", "02_kernels.txt"]
    assert proc.stdout.split() == [str(out / f) for f in files]
    softmax_line = line_of(MODEL, "fc.nn.softmax")
    assert f"model.py:{softmax_line}" in (out / "02_kernels.txt").read_text()
    # an importable module name works as well as a path
    proc = flowc("dump", "model:plain", "--stages", "fusion", cwd=model.parent)
    assert proc.returncode == 0 and "==== fusion ====" in proc.stdout


def test_errors_have_exit_statuses_and_messages(model):
    proc = flowc("dump", "model.py")
    assert proc.returncode == 2 and "expected MODULE:FUNCTION" in proc.stderr
    proc = flowc("dump", f"{model}:nope")
    assert proc.returncode == 2 and "has no attribute 'nope'" in proc.stderr
    proc = flowc("dump", f"{model}:plain", "--stages", "bogus")
    assert proc.returncode == 2 and "unknown stage(s) bogus" in proc.stderr
    assert "fusion" in proc.stderr  # the stages there are
    proc = flowc("dump", f"{model}:broken")  # a flowc error: one line naming the user's line
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"model.py:{line_of(MODEL, 'return a + fc.placeholder')}" in proc.stderr
    proc = flowc("dump", f"{model}:crashes")  # the user's own exception: the traceback
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert "the user's own bug" in proc.stderr and "model.py" in proc.stderr


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")
def test_compile_then_inspect(model, tmp_path):
    out = tmp_path / "art"
    proc = flowc("compile", f"{model}:build", "-o", out, "--name", "mlp", "--target-cpu",
                 "x86-64")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(out / n) for n in ("mlp.so", "mlp.h", "mlp.json")]
    proc = flowc("inspect", out / "mlp.so")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "model 'mlp'" in text and "cpu x86-64" in text
    assert re.search(r"x: float32\[N0, 4\].*# model\.py:\d+", text)
    assert "probs:0: float32[N0, 3]" in text and "w: float32[4, 3]" in text
    assert "symbols: N0 = x.shape[0]" in text and "loads on this machine: yes" in text
    manifest = json.loads(flowc("inspect", out, "--json").stdout)
    assert manifest["name"] == "mlp" and manifest["inputs"][0]["name"] == "x"
    with open(out / "mlp.so", "ab") as f:
        f.write(b"\0")  # no longer the library the manifest describes
    proc = flowc("inspect", out / "mlp.json")
    assert proc.returncode == 1 and "loads on this machine: NO" in proc.stdout
    assert "does not match its manifest" in proc.stdout
    proc = flowc("inspect", tmp_path)
    assert proc.returncode == 1 and "exactly one model manifest" in proc.stderr


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")
def test_compile_default_feeds_and_a_sessions_values_in_process(model, tmp_path,
                                                                  monkeypatch, capsys):
    monkeypatch.chdir(model.parent)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        assert main(["compile", "model.py:plain", "-o", str(tmp_path / "p"), "-q"]) == 0
        assert main(["compile", "model.py:trained", "-o", str(tmp_path / "t"), "-q"]) == 0
    finally:
        sys.modules.pop("model", None)  # the user's module, loaded by the command
    manifest = json.loads((tmp_path / "p" / "model.json").read_text())
    assert [a["name"] for a in manifest["inputs"]] == ["a", "b"]  # creation order
    with runtime.load(tmp_path / "t") as trained:  # w = 3 I, assigned in the session
        np.testing.assert_array_equal(trained(np.ones((5, 2), np.float32)),
                                      np.full((5, 2), 3.0, np.float32))
    capsys.readouterr()


def test_console_script_entry_point():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        text = f.read()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^flowc = "compiler\.cli:main"$', section, re.M)
    assert callable(main)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_only_for_slow_work_on_a_terminal():
    term = FakeTerminal()
    with Progress("compiling", stream=term, delay=0.05, interval=0.02):
        time.sleep(0.2)
    text = term.getvalue()
    assert re.search(r"\rcompiling… 0\.\d s", text) and text.endswith("\r\033[K")
    quick = FakeTerminal()
    with Progress("compiling", stream=quick, delay=5):
        pass
    assert quick.getvalue() == ""
    piped = io.StringIO()  # not a terminal: nothing
    with Progress("compiling", stream=piped, delay=0.0, interval=0.01):
        time.sleep(0.05)
    assert piped.getvalue() == ""
