"""fc.compile: the files it writes, the .so's dependencies, the header compiled by a C
program that links the .so and runs it (compared with the interpreter), state and a
symbolic batch dim from C, and the manifest."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from aot_models import artifact, build_basic, build_c_program, elf_needed, has_cc, reference

import compiler as fc
from compiler.convert import CompileError

pytestmark = pytest.mark.skipif(not has_cc(), reason="no C compiler (cc) to link artifacts")

ALLOWED_NEEDED = {"libc.so.6", "libm.so.6", "libpthread.so.0", "ld-linux-x86-64.so.2"}


def test_compile_writes_so_header_and_manifest():
    art = artifact("basic")[0]
    for path in (art.library, art.header, art.manifest):
        assert os.path.isfile(path)
    assert sorted(os.listdir(art.directory)) == ["basic.h", "basic.json", "basic.so"]


def test_so_needs_only_libc_libm_libpthread():
    needed = elf_needed(artifact("basic")[0].library)
    assert "libc.so.6" in needed and set(needed) <= ALLOWED_NEEDED, needed
    needed = elf_needed(artifact("stateful")[0].library)
    assert set(needed) <= ALLOWED_NEEDED, needed


def test_so_exports_only_the_c_api():
    art = artifact("stateful")[0]
    # nm comes with binutils, which linking the .so (cc -shared) already needed
    proc = subprocess.run(["nm", "-D", "--defined-only", art.library], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[-1] for line in proc.stdout.splitlines() if line.strip()}
    assert names and all(n.startswith("stateful_") for n in names), names
    assert {"stateful_create", "stateful_run", "stateful_get_w", "stateful_set_steps"} <= names


def test_header_documents_arguments_symbols_and_temporaries():
    text = open(artifact("basic")[0].header).read()
    assert "#ifndef FLOWC_BASIC_H" in text and "#include <stdint.h>" in text
    assert re.search(r"const float \*x,\s+/\* input 'x' \(created at aot_models\.py:\d+\): "
                     r"float32\[N0, 3\] \*/", text)
    assert "const int32_t *idx," in text and "int64_t N0," in text
    assert "N0: axis 0 of input 'x'" in text and "N1: axis 0 of input 'idx'" in text
    assert "Temporaries per instance" in text and "align64(" in text
    assert "int32_t basic_run(" in text and "basic_output_shapes(" in text
    assert "basic_last_error(" in text


def test_c_program_matches_the_interpreter(tmp_path):
    art, graph, fetches, feeds, _ = artifact("basic")
    exe = build_c_program("basic.c", art, str(tmp_path))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    idx = np.array([5, 0, 2, 2], np.int32)
    x.tofile(tmp_path / "x.bin")
    idx.tofile(tmp_path / "idx.bin")
    proc = subprocess.run([exe, "6", "4", str(tmp_path / "x.bin"), str(tmp_path / "idx.bin"),
                           str(tmp_path / "out.bin")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok") and "counter=1" in proc.stdout
    got = np.fromfile(tmp_path / "out.bin", np.float32)
    want = reference(graph, fetches, {feeds[0]: x, feeds[1]: idx})
    flat = np.concatenate([np.ravel(w) for w in want])
    np.testing.assert_allclose(got, flat, rtol=2e-6, atol=1e-6)


def test_c_program_reports_a_fault_with_the_node_and_line(tmp_path):
    art = artifact("basic")[0]
    exe = build_c_program("basic.c", art, str(tmp_path))
    np.zeros((2, 3), np.float32).tofile(tmp_path / "x.bin")
    np.array([7], np.int32).tofile(tmp_path / "idx.bin")
    proc = subprocess.run([exe, "2", "1", str(tmp_path / "x.bin"), str(tmp_path / "idx.bin"),
                           str(tmp_path / "out.bin")], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert re.search(r"error 1: gather 'g' \(created at aot_models\.py:\d+\): gather index "
                     r"out of range", proc.stdout), proc.stdout


def test_c_program_keeps_state_across_two_batch_sizes(tmp_path):
    art, graph, fetches, feeds, sess = artifact("stateful")
    exe = build_c_program("stateful.c", art, str(tmp_path))
    rng = np.random.default_rng(2)
    xa = rng.standard_normal((2, 4)).astype(np.float32)
    xb = rng.standard_normal((5, 4)).astype(np.float32)
    xa.tofile(tmp_path / "xa.bin")
    xb.tofile(tmp_path / "xb.bin")
    proc = subprocess.run([exe, str(tmp_path / "xa.bin"), "2", str(tmp_path / "xb.bin"), "5",
                           str(tmp_path / "out.bin")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    raw = (tmp_path / "out.bin").read_bytes()
    floats = np.frombuffer(raw[:(2 * 3 + 5 * 3 + 12 + 3) * 4], np.float32)
    steps, counter = np.frombuffer(raw[(2 * 3 + 5 * 3 + 12 + 3) * 4:], np.int64)
    # the reference continues in the Session whose values were compiled in
    ref_session = fc.Session(graph=graph, config=fc.ConfigProto(backend="interpret"))
    for name in ("w", "b", "steps"):
        ref_session._store.set(name, sess._store.get(name))
    ya = reference(graph, fetches, {feeds[0]: xa}, ref_session)[0]
    yb = reference(graph, fetches, {feeds[0]: xb}, ref_session)[0]
    want = np.concatenate([ya.ravel(), yb.ravel(), ref_session._store.get("w").ravel(),
                           ref_session._store.get("b").ravel()])
    np.testing.assert_allclose(floats, want, rtol=1e-5, atol=1e-6)
    assert steps == 2 and counter == 2
    assert not np.allclose(ref_session._store.get("b"), [0.5, -1.0, 2.0])  # state moved


def test_manifest_records_the_contract():
    art = artifact("stateful")[0]
    m = json.load(open(art.manifest))
    assert m["format"] == "flowc-model" and m["abi_version"] == 2 and m["name"] == "stateful"
    assert m["library_bytes"] == os.path.getsize(art.library)
    assert re.fullmatch(r"[0-9a-f]{64}", m["library_sha256"])
    assert m["target"]["cpu"] == "x86-64-v3"
    assert {"avx", "avx2", "fma", "bmi", "bmi2", "f16c", "movbe"} <= set(m["target"]["features"])
    assert [(a["name"], a["dtype"], a["shape"]) for a in m["inputs"]] == \
        [("x", "float32", ["N0", 4])]
    assert [(a["dtype"], a["shape"]) for a in m["outputs"]] == [("float32", ["N0", 3])]
    assert sorted((v["name"], v["dtype"], tuple(v["shape"])) for v in m["variables"]) == \
        [("b", "float32", (3,)), ("steps", "int64", ()), ("w", "float32", (4, 3))]
    assert m["symbols"] == [{"name": "N0", "input": "x", "axis": 0}]
    assert m["flowc_version"] and m["threads"] == 2


def test_compile_without_session_uses_initial_values(tmp_path):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [2], name="x")
        v = fc.Variable(np.array([1.0, 2.0], np.float32), name="v")
        y = x * v
    art = fc.compile(y, [x], str(tmp_path / "m"), name="scaled", options=fc.CompileOptions(
        target_cpu="x86-64-v3", threads=1))
    import runtime
    with runtime.load(art.directory) as model:
        np.testing.assert_array_equal(model(np.array([3, 4], np.float32)), [3, 8])
        np.testing.assert_array_equal(model.variables["v"], [1, 2])


def test_compile_errors_are_clear(tmp_path, monkeypatch):
    graph, fetches, feeds, _ = build_basic()
    with pytest.raises(ValueError, match="C identifier"):
        fc.compile(fetches, feeds, str(tmp_path), name="not-a-name")
    with pytest.raises(ValueError, match="cannot tell which CPU features"):
        fc.compile(fetches, feeds, str(tmp_path), options=fc.CompileOptions(
            target_cpu="skylake"))
    monkeypatch.setenv("CC", "/nonexistent/flowc-cc")
    with pytest.raises(CompileError, match="C compiler.*'/nonexistent/flowc-cc' was not found"):
        fc.compile(fetches, feeds, str(tmp_path))


def test_the_documented_example_compiles_links_and_runs(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out_dir = str(tmp_path / "mlp_out")
    proc = subprocess.run([sys.executable, os.path.join(root, "examples", "aot",
                                                        "compile_mlp.py"), out_dir],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reference_probs = re.findall(r"\d\.\d{6}", proc.stdout.split("probs", 1)[1])
    exe = str(tmp_path / "main")
    cmd = [os.environ.get("CC", "cc"), "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror",
           "-I", out_dir, os.path.join(root, "examples", "aot", "main.c"),
           os.path.join(out_dir, "mlp.so"), f"-Wl,-rpath,{out_dir}", "-o", exe]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    batch2 = run.stdout.split("batch of 3")[0]
    got = re.findall(r"\d\.\d{6}", batch2)
    assert len(got) == 6 and all(abs(float(a) - float(b)) <= 2e-6
                                 for a, b in zip(got, reference_probs[:6])), (got, proc.stdout)
    assert "examples seen: 5, runs: 2" in run.stdout
