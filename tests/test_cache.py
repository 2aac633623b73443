"""The compile cache (compiler/cache.py, docs/cache.md): a second process hits, provenance
never enters the key, an options change misses and `explain` names it, corrupt entries
and unfinished writes are handled, FLOWC_CACHE=0 turns it off, `flowc cache` works."""

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import compiler as fc
from compiler import cache
from compiler.convert import convert
from compiler.ir.verify import verify
from compiler.options import CompileOptions
from compiler.pipeline import build_program
from passes.manager import run_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None,
                                reason="the compile cache needs a C compiler")


@pytest.fixture(autouse=True)
def cache_on(monkeypatch):
    """The suite runs with the cache off (conftest.py); these tests turn it on."""
    monkeypatch.setenv("FLOWC_CACHE", "1")

SCRIPT = """\
import json, sys
import numpy as np
import compiler as fc
from compiler import cache
{padding}
g = fc.Graph()
with g.as_default():
    x = fc.placeholder(fc.float32, [None, 3], name={feed!r})
    y = fc.nn.softmax(fc.exp(x) * 2.0 + 1.0, name={name!r})
sess = fc.Session(graph=g)
out = sess.run(y, {{x: np.arange(6, dtype=np.float32).reshape(2, 3)}})
print(json.dumps({{"out": out.tolist(), "stats": cache.stats}}))
"""


def run_child(tmp_path, name="probs", feed="x", padding="", env=None):
    script = tmp_path / f"child_{name}_{len(padding)}.py"
    script.write_text(SCRIPT.format(name=name, feed=feed, padding=padding))
    environ = {**os.environ, "PYTHONPATH": ROOT, "FLOWC_CACHE_DIR": str(tmp_path / "cache"),
               **(env or {})}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=environ, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def entries(tmp_path):
    root = tmp_path / "cache" / "entries"
    return sorted(root.iterdir()) if root.exists() else []


def test_second_process_hits(tmp_path):
    first = run_child(tmp_path)
    assert first["stats"]["misses"] == 1 and first["stats"]["stores"] == 1
    second = run_child(tmp_path)
    assert second["stats"] == {"hits": 1, "misses": 0, "stores": 0, "corrupt": 0}
    assert second["out"] == first["out"]
    assert len(entries(tmp_path)) == 1


def test_provenance_does_not_enter_the_key(tmp_path):
    first = run_child(tmp_path)
    moved = run_child(tmp_path, name="renamed", feed="inputs", padding="\n\n# moved\n")
    assert moved["stats"]["hits"] == 1 and moved["stats"]["misses"] == 0
    assert moved["out"] == first["out"]


def test_corrupt_entries_are_rebuilt(tmp_path):
    first = run_child(tmp_path)
    (entry,) = entries(tmp_path)
    so = entry / "code.so"
    so.write_bytes(so.read_bytes()[:100])
    again = run_child(tmp_path)
    assert again["stats"]["corrupt"] == 1 and again["stats"]["stores"] == 1
    assert again["out"] == first["out"]
    (entry,) = entries(tmp_path)
    meta = json.loads((entry / "entry.json").read_text())
    meta["outputs"] = [0]
    (entry / "entry.json").write_text(json.dumps(meta)[:-40])  # truncated JSON
    again = run_child(tmp_path)
    assert again["stats"]["corrupt"] == 1 and again["out"] == first["out"]
    assert run_child(tmp_path)["stats"]["hits"] == 1


def test_unfinished_write_is_ignored(tmp_path):
    first = run_child(tmp_path)
    leftover = tmp_path / "cache" / ".tmp-killed"
    leftover.mkdir()
    (leftover / "code.so").write_bytes(b"\0" * 10)
    again = run_child(tmp_path)
    assert again["stats"]["hits"] == 1 and again["out"] == first["out"]


def test_off_switch(tmp_path):
    out = run_child(tmp_path, env={"FLOWC_CACHE": "0"})
    assert out["stats"] == {"hits": 0, "misses": 0, "stores": 0, "corrupt": 0}
    assert entries(tmp_path) == []


def _session_run(options, scale=2.0, name="probs"):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        y = fc.nn.softmax(fc.exp(x) * scale + 1.0, name=name)
        sess = fc.Session(graph=g, config=fc.ConfigProto(compile_options=options))
        return sess.run(y, {x: np.arange(6, dtype=np.float32).reshape(2, 3)})


def test_a_session_hit_runs_no_pass_verification_or_lowering(tmp_path, monkeypatch):
    """A Session's compile is keyed on the converted program: a hit goes from conversion
    straight to the stored entry, while another option or graph still misses."""
    from compiler import pipeline
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    calls = {"passes": 0, "verify": 0, "lower": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper
    monkeypatch.setattr(pipeline, "run_pipeline", counted("passes", pipeline.run_pipeline))
    monkeypatch.setattr(pipeline, "verify", counted("verify", pipeline.verify))
    monkeypatch.setattr(pipeline, "plan_and_lower",
                        counted("lower", pipeline.plan_and_lower))
    options = CompileOptions(threads=1)
    cold = _session_run(options)
    assert calls == {"passes": 1, "verify": 1, "lower": 1}
    before = dict(cache.stats)
    hit = _session_run(options, name="renamed")  # provenance differs: still a hit
    assert calls == {"passes": 1, "verify": 1, "lower": 1}
    assert cache.stats["hits"] == before["hits"] + 1
    np.testing.assert_array_equal(hit, cold)
    _session_run(CompileOptions(threads=2))          # an option changes: a miss
    assert calls == {"passes": 2, "verify": 2, "lower": 2}
    _session_run(CompileOptions(threads=1, disabled_passes=("cse",)))  # a pass option
    assert calls == {"passes": 3, "verify": 3, "lower": 3}
    other = _session_run(options, scale=3.0)          # the graph changes: a miss
    assert calls == {"passes": 4, "verify": 4, "lower": 4}
    assert not np.array_equal(other, cold)
    assert cache.stats["misses"] == before["misses"] + 3


def _program(options):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        y = fc.tanh(x) * 3.0
    program = convert(g, [y], [x])
    verify(program)
    return run_pipeline(program, options)[0]


def test_threads_miss_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    two, four = CompileOptions(threads=2), CompileOptions(threads=4)
    assert cache.explain(_program(two), two) == "the cache is empty"
    exe = build_program(_program(two), two)
    assert "a hit" in cache.explain(_program(two), two)
    assert cache.explain(_program(four), four).startswith("threads 2 -> 4")
    before = dict(cache.stats)
    hit = build_program(_program(two), two)
    assert cache.stats["hits"] == before["hits"] + 1
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    store = fc.Session()._store
    np.testing.assert_array_equal(hit.run([x], store)[0], exe.run([x], store)[0])


def test_a_hit_reads_the_stage_texts_only_when_asked(tmp_path, monkeypatch):
    import glob
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    options = CompileOptions(threads=1)
    cold = build_program(_program(options), options)
    hit = build_program(_program(options), options)
    assert hit is not cold and hit.texts["kernels"] == cold.texts["kernels"]
    assert set(hit.texts) == set(cold.texts) - {"asm"}
    # a damaged texts file costs the texts, not the hit
    (texts,) = glob.glob(str(tmp_path / "cache" / "*" / "*" / "texts.json"))
    with open(texts, "a") as f:
        f.write(" ")
    before = dict(cache.stats)
    again = build_program(_program(options), options)
    assert cache.stats["hits"] == before["hits"] + 1
    assert dict(again.texts) == {}


def test_program_change_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    options = CompileOptions(threads=1)
    build_program(_program(options), options)
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        y = fc.tanh(x) * 5.0
    other = run_pipeline(convert(g, [y], [x]), options)[0]
    assert cache.explain(other, options).startswith("the program differs")


def test_cli_info_explain_clear(tmp_path, monkeypatch):
    from compiler.cli import main
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    run_child(tmp_path)
    model = tmp_path / "model.py"
    model.write_text("import compiler as fc\n\ndef build():\n"
                     "    x = fc.placeholder(fc.float32, [None, 3], name='x')\n"
                     "    return fc.nn.softmax(fc.exp(x) * 2.0 + 1.0), [x]\n")
    out = subprocess.run([sys.executable, "-m", "compiler", "cache", "info"], cwd=ROOT,
                         env={**os.environ, "FLOWC_CACHE_DIR": str(tmp_path / "cache")},
                         capture_output=True, text=True)
    assert "entries: 1" in out.stdout, out.stderr
    assert main(["cache", "explain", f"{model}:build", "-q"]) == 0
    assert main(["cache", "explain", f"{model}:build", "--threads", "3"]) == 0
    assert main(["cache", "clear"]) == 0
    assert entries(tmp_path) == []


def test_cli_explain_output(tmp_path, monkeypatch, capsys):
    from compiler.cli import main
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    run_child(tmp_path)
    model = tmp_path / "model.py"
    model.write_text("import compiler as fc\n\ndef build():\n"
                     "    x = fc.placeholder(fc.float32, [None, 3], name='q')\n"
                     "    return fc.nn.softmax(fc.exp(x) * 2.0 + 1.0), [x]\n")
    threads = CompileOptions().threads
    main(["cache", "explain", f"{model}:build"])
    assert "a hit" in capsys.readouterr().out
    main(["cache", "explain", f"{model}:build", "--threads", str(threads + 1)])
    assert f"threads {threads} -> {threads + 1}" in capsys.readouterr().out


def test_a_miss_is_explained_only_when_the_log_is_on(tmp_path, monkeypatch, caplog):
    """Explaining a miss reads every stored entry's key: only done where the
    "flowc.cache" log takes INFO records (a session compiling many programs otherwise
    read all entries at each miss)."""
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    reads = []
    real = cache._stored_keys
    monkeypatch.setattr(cache, "_stored_keys", lambda: reads.append(1) or real())
    two, four = CompileOptions(threads=2), CompileOptions(threads=4)
    caplog.set_level(logging.WARNING, logger="flowc.cache")
    build_program(_program(two), two)
    assert reads == []
    caplog.set_level(logging.INFO, logger="flowc.cache")
    build_program(_program(four), four)
    assert reads == [1]
    assert any(r.getMessage().startswith("compile cache miss: threads 2 -> 4")
               for r in caplog.records)
def test_an_fc_jit_hit_runs_no_pass(tmp_path, monkeypatch):
    """fc.jit compiles through compile_graph too: a second jit of the same function
    (a new trace) loads the entry without running the passes."""
    from compiler import pipeline
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    runs = []
    inner = pipeline.run_pipeline
    monkeypatch.setattr(pipeline, "run_pipeline", lambda *a, **k: runs.append(1) or
                        inner(*a, **k))

    def f(a):
        return fc.nn.softmax(fc.exp(a) * 2.0)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    first = fc.jit(f)(x)
    before = dict(cache.stats)
    again = fc.jit(f)(x)
    assert len(runs) == 1 and cache.stats["hits"] == before["hits"] + 1
    np.testing.assert_array_equal(again, first)


def test_a_gpu_session_hit_runs_no_pass(tmp_path, monkeypatch):
    """A GPU Session's compile (on tests/cuda_emulator.py) is keyed on the converted
    program too: a second Session of the same graph loads the cubin entry."""
    from cuda_emulator import emulated_gpu

    from compiler import pipeline
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    runs = []
    inner = pipeline.run_pipeline
    monkeypatch.setattr(pipeline, "run_pipeline", lambda *a, **k: runs.append(1) or
                        inner(*a, **k))
    x_val = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    outs = []
    before = dict(cache.stats)
    with emulated_gpu():
        for name in ("a", "b"):
            g = fc.Graph()
            with g.as_default():
                x = fc.placeholder(fc.float32, [None, 3], name="x")
                y = fc.nn.softmax(fc.exp(x) * 2.0, name=name)
                with fc.Session(graph=g, config=fc.ConfigProto(device="gpu")) as sess:
                    outs.append(sess.run(y, {x: x_val}))
    assert len(runs) == 1
    assert cache.stats["hits"] == before["hits"] + 1
    assert cache.stats["stores"] == before["stores"] + 1
    np.testing.assert_array_equal(outs[1], outs[0])
