"""runtime.load: a compiled artifact called from Python by position, by name and with out=,
checked like the Session, with variable state, RNG counter parity with the interpreter,
refusal of corrupted, truncated, wrong-ABI, mismatched and wrong-CPU artifacts, and a
process that cannot import the compiler, passes or llvmlite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from aot_models import artifact, has_cc, reference
from compiler_free import run_without_compiler

import compiler as fc
import runtime
import runtime.cpu
from runtime.artifact import ArtifactError
from runtime.errors import ExecutionError, FeedError

pytestmark = pytest.mark.skipif(not has_cc(), reason="no C compiler (cc) to link artifacts")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def basic():
    art, graph, fetches, feeds, _ = artifact("basic")
    with runtime.load(art.directory) as model:
        yield model, graph, fetches, feeds


def _copy(art, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(art.directory, target)
    name = os.path.basename(art.library)[:-3]
    return target, target / f"{name}.so", target / f"{name}.json"


def test_load_by_so_json_or_directory_matches_the_interpreter(basic):
    model, graph, fetches, feeds = basic
    art = artifact("basic")[0]
    x = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    idx = np.array([4, 1], np.int32)
    want = reference(graph, fetches, {feeds[0]: x, feeds[1]: idx})
    for path in (art.library, art.manifest):
        with runtime.load(path) as other:
            for w, g in zip(want, other(x, idx)):
                np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)
    got = model(idx=idx, x=x)
    assert isinstance(got, tuple) and len(got) == 4
    assert [g.dtype for g in got] == [np.float32] * 4 and got[3].shape == ()
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


def test_large_batch_uses_threads_and_matches(basic):
    model, graph, fetches, feeds = basic
    x = np.random.default_rng(4).standard_normal((50000, 3)).astype(np.float32)
    idx = np.array([0, 49999], np.int32)
    want = reference(graph, fetches, {feeds[0]: x, feeds[1]: idx})
    for w, g in zip(want, model(x, idx)):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-5)


def test_out_arrays_are_written(basic):
    model = basic[0]
    x = np.ones((2, 3), np.float32)
    idx = np.array([1], np.int32)
    outs = [np.empty((2, 2), np.float32), np.empty((1, 2), np.float32),
            np.empty((3, 2), np.float32).T, np.empty((), np.float32)]  # one not contiguous
    got = model(x, idx, out=outs)
    assert all(g is o for g, o in zip(got, outs))
    np.testing.assert_allclose(outs[2], 2 * np.tanh(x), rtol=1e-6)
    assert outs[3] == 6.0
    with pytest.raises(ValueError, match="out\\[0\\].*float32 array of shape \\[2, 2\\]"):
        model(x, idx, out=[np.empty((3, 2), np.float32)] + outs[1:])


def test_feeds_are_checked_like_the_session(basic):
    model = basic[0]
    x, idx = np.ones((2, 3), np.float32), np.array([0], np.int32)
    with pytest.raises(FeedError, match="'x'.*expected dtype float32, got float64"):
        model(x.astype(np.float64), idx)
    with pytest.raises(FeedError, match="'x'.*expected shape \\[N0, 3\\]"):
        model(np.ones((2, 4), np.float32), idx)
    with pytest.raises(TypeError, match="missing input\\(s\\) \\['idx'\\]"):
        model(x)
    with pytest.raises(TypeError, match="no input 'z'"):
        model(x, z=idx)
    with pytest.raises(ExecutionError, match="gather 'g' \\(created at aot_models.py:\\d+\\)"):
        model(x, np.array([2], np.int32))


def test_variables_state_and_failed_runs_change_nothing(tmp_path):
    art, graph, fetches, feeds, sess = artifact("stateful")
    with runtime.load(art.manifest) as model:
        assert sorted(model.variables) == ["b", "steps", "w"]
        np.testing.assert_array_equal(model.variables["w"], sess._store.get("w"))
        x = np.ones((3, 4), np.float32)
        y1 = model(x)
        y2 = model(x=x)
        assert model.variables["steps"] == 2 and model.run_counter == 2
        assert not np.allclose(y1, y2)  # b moved between the runs
        model.variables["b"] = [0, 0, 0]
        model.variables["w"] = np.eye(4, 3)
        np.testing.assert_allclose(model(x), np.ones((3, 4)) @ np.eye(4, 3))
        with pytest.raises(ValueError, match="'w' is float32\\[4, 3\\]"):
            model.variables["w"] = np.zeros(3)
        with pytest.raises(KeyError, match="no variable 'nope'"):
            model.variables["nope"]
        with pytest.raises(FeedError):
            model(np.ones((3, 5), np.float32))
        assert model.variables["steps"] == 3
    with pytest.raises(RuntimeError, match="closed"):
        model(x)


def test_failed_run_installs_no_variable_update(tmp_path):
    g = fc.Graph()
    with g.as_default():
        idx = fc.placeholder(fc.int32, [None], name="idx")
        table = fc.Variable(np.arange(4, dtype=np.float32), name="table")
        total = fc.Variable(np.float32(0), name="total")
        picked = fc.gather(table, idx, name="pick")
        upd = fc.assign_add(total, fc.reduce_sum(picked))
    art = fc.compile([picked, upd.op], [idx], str(tmp_path / "m"), name="picker",
                     options=fc.CompileOptions(target_cpu="x86-64-v3", threads=1))
    with runtime.load(art.directory) as model:
        np.testing.assert_array_equal(model(np.array([1, 3], np.int32)), [1, 3])
        assert model.variables["total"] == 4
        with pytest.raises(ExecutionError, match="gather 'pick'"):
            model(np.array([1, 9], np.int32))
        assert model.variables["total"] == 4


def test_random_numbers_follow_the_run_counter_like_the_interpreter():
    art, graph, fetches, feeds, _ = artifact("random")
    sess = fc.Session(graph=graph, config=fc.ConfigProto(backend="interpret"))
    x = np.zeros(5, np.float32)
    with runtime.load(art.directory) as model:
        first, second = model(x), model(x)
        np.testing.assert_array_equal(first, sess.run(fetches[0], {feeds[0]: x}))
        np.testing.assert_array_equal(second, sess.run(fetches[0], {feeds[0]: x}))
        assert not np.array_equal(first, second)
        model.run_counter = 0
        np.testing.assert_array_equal(model(x), first)


def test_host_target_records_host_features(tmp_path):
    graph, fetches, feeds = artifact("random")[1:4]
    art = fc.compile(fetches, feeds, str(tmp_path / "h"), name="hosted",
                     options=fc.CompileOptions(target_cpu="host", threads=1))
    m = json.load(open(art.manifest))
    flags = runtime.cpu.host_flags()
    if flags is not None:
        assert all(runtime.cpu.LINUX_FLAGS[f] in flags for f in m["target"]["features"])
    with runtime.load(art.library) as model:
        assert model(np.zeros(5, np.float32)).shape == (5,)


def test_corrupted_or_truncated_library_is_refused(tmp_path):
    directory, so, _ = _copy(artifact("basic")[0], tmp_path)
    data = bytearray(so.read_bytes())
    data[len(data) // 2] ^= 0xFF
    so.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match its manifest: sha256"):
        runtime.load(directory)
    so.write_bytes(bytes(data[:1000]))
    with pytest.raises(ArtifactError, match="does not match its manifest: 1000 bytes"):
        runtime.load(so)


def test_corrupted_truncated_or_wrong_abi_manifest_is_refused(tmp_path):
    directory, _, manifest = _copy(artifact("basic")[0], tmp_path)
    text = manifest.read_text()
    manifest.write_text(text[: len(text) // 2])
    with pytest.raises(ArtifactError, match="corrupted or truncated"):
        runtime.load(directory)
    m = json.loads(text)
    manifest.write_text(json.dumps({**m, "abi_version": 99}))
    with pytest.raises(ArtifactError, match="ABI version 99.*recompile"):
        runtime.load(manifest)
    manifest.write_text(json.dumps({k: v for k, v in m.items() if k != "inputs"}))
    with pytest.raises(ArtifactError, match="'inputs' is missing"):
        runtime.load(manifest)


def test_mismatched_library_and_manifest_are_refused(tmp_path):
    directory, so, _ = _copy(artifact("basic")[0], tmp_path)
    shutil.copy(artifact("stateful")[0].library, so)
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        runtime.load(so)
    os.remove(so)
    with pytest.raises(ArtifactError, match="is missing"):
        runtime.load(directory)
    shutil.copy(artifact("stateful")[0].manifest, directory)
    with pytest.raises(ArtifactError, match="exactly one model manifest"):
        runtime.load(directory)


def test_missing_cpu_feature_is_refused_before_any_call(monkeypatch):
    art = artifact("basic")[0]
    flags = runtime.cpu.host_flags() or frozenset()
    monkeypatch.setattr(runtime.cpu, "host_flags", lambda: flags - {"avx2"})
    with pytest.raises(ArtifactError, match="compiled for CPU 'x86-64-v3'; this machine lacks "
                                            "avx2"):
        runtime.load(art.directory)


def test_load_runs_without_compiler_passes_or_llvmlite():
    art = artifact("stateful")[0]
    code = (
        "import sys\n"
        "import numpy as np, runtime\n"
        f"m = runtime.load({art.directory!r})\n"
        "y = m(np.ones((2, 4), np.float32))\n"
        "print(y.shape, int(m.variables['steps']))\n"
        "assert not any(k.split('.')[0] in ('compiler', 'passes', 'llvmlite') "
        "for k in sys.modules)\n")
    out = run_without_compiler(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(2, 3) 1"


def test_dtypes_repeated_outputs_fetched_updates_and_empty_batches(tmp_path):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float16, [None, 2], name="x")
        flags = fc.placeholder(fc.bool, [None, 2], name="int64_t")  # a C type name
        i = fc.placeholder(fc.int64, [None], name="i")
        v = fc.Variable(np.zeros(2, np.float16), name="variable")   # clashes with get_variable
        y = fc.where(flags, x * 2, -x)
        upd = fc.assign(v, fc.cast(fc.reduce_max(fc.cast(y, fc.float32), axis=0), fc.float16))
        fetches = [y, y, upd, fc.concat([i, i * 2], axis=0), fc.greater(x, 0.5), upd]
    art = fc.compile(fetches, [x, flags, i], str(tmp_path / "m"), name="dt",
                     options=fc.CompileOptions(target_cpu="x86-64-v3", threads=1))
    header = open(art.header).read()
    assert "const uint16_t *x," in header and "const uint8_t *int64_t_," in header
    assert "void dt_get_variable_2(" in header
    proc = subprocess.run([os.environ.get("CC", "cc"), "-std=c99", "-pedantic", "-Wall",
                           "-Werror", "-fsyntax-only", "-I", art.directory, "-x", "c", "-"],
                          input='#include "dt.h"\n', capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    sess = fc.Session(graph=g, config=fc.ConfigProto(backend="interpret"))
    sess.run(v.initializer)
    rng = np.random.default_rng(5)
    with runtime.load(art.directory) as model:
        for n in (3, 0):
            feed = [rng.random((n, 2)).astype(np.float16), rng.random((n, 2)) > 0.5,
                    np.arange(n, dtype=np.int64)]
            want = sess.run(fetches, dict(zip([x, flags, i], feed)))
            got = model(*feed)
            for w, r in zip(want, got):
                assert (w.dtype, w.shape) == (r.dtype, r.shape)
                np.testing.assert_array_equal(w, r)
            np.testing.assert_array_equal(model.variables["variable"], sess._store.get("variable"))


def test_c_side_checks_shape_constraints_and_negative_extents(tmp_path):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        pairs = fc.reshape(x, [-1, 2]) * 2
        # split's sizes are taken literally (x[1:] clamps, like numpy: issue 13 item 12)
        _, tail = fc.split(x, [1, -1])
    art = fc.compile([pairs, tail], [x], str(tmp_path / "m"), name="rs",
                     options=fc.CompileOptions(target_cpu="x86-64-v3", threads=1))
    assert "(2*(N0//2)) == N0" in open(art.header).read()
    with runtime.load(art.directory) as model:
        np.testing.assert_array_equal(model(np.arange(4, dtype=np.float32))[0], [[0, 2], [4, 6]])
        with pytest.raises(FeedError, match="shape constraint of reshape"):
            model(np.arange(3, dtype=np.float32))
        with pytest.raises(FeedError, match="slice .* negative extent at axis 0: \\(-1\\+N0\\)"):
            model(np.zeros(0, np.float32))
        data, out = np.arange(3, dtype=np.float32), np.empty(8, np.float32)
        args = (data.ctypes.data, out.ctypes.data, out.ctypes.data)
        for n, message in ((3, b"(2*(N0//2)) = 2 but N0 = 3"),
                           (-1, b"symbol N0 (axis 0 of 'x') must be >= 0, got -1")):
            assert model._run(model._inst, args[0], n, *args[1:]) == -1
            assert message in model._last_error(model._inst)
