"""Issue 13 items 2 and 4: `runtime.load` trusts neither NAME.json nor the files' owners,
and `fc.compile` refuses model names whose exported symbols collide with the system's.

Manifests are damaged by MUTATION of every field (a digit, a dtype name, the type of a
value, a deleted or added key, the library path ...): every variant must raise
`ArtifactError` (a ValueError) naming what is wrong, in a subprocess so that a segfault
or an abort fails the test instead of killing pytest. Damaged libraries (truncated with a
matching manifest, another model's library, a non-flowc library, a library whose own
description was edited) are refused the same way, before any call into them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from aot_models import artifact, has_cc

import compiler as fc
import runtime
from runtime.artifact import ArtifactError

pytestmark = pytest.mark.skipif(not has_cc(), reason="no C compiler (cc) to link artifacts")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _copy(name, tmp_path):
    art = artifact(name)[0]
    target = tmp_path / "model"
    shutil.copytree(art.directory, target)
    os.chmod(target, 0o755)
    return target, target / f"{name}.so", target / f"{name}.json"


def _rehash(manifest_path, so_path):
    m = json.loads(manifest_path.read_text())
    data = so_path.read_bytes()
    m["library_bytes"], m["library_sha256"] = len(data), hashlib.sha256(data).hexdigest()
    manifest_path.write_text(json.dumps(m))


# ---- mutations of the manifest -----------------------------------------------------------
def _replacements(value, key):
    """Damaged versions of one JSON value."""
    out = [None, [], {}, "x", True, 1.5]
    if isinstance(value, bool):
        out += [not value, int(value)]
    elif isinstance(value, int):
        out += [value + 1, value - 1, value * 10 + 7, -value - 1, float(value), str(value),
                2**63, -(2**63) - 1]
    elif isinstance(value, float):
        out += [value + 1, int(value)]
    elif isinstance(value, str):
        out += [value + "1", value[:-1], "", value.upper(), "float64" if value != "float64"
                else "int32", "N9", "../" + value, "/" + value, value + "\0"]
        if value and value[-1].isdigit():
            out.append(value[:-1] + str((int(value[-1]) + 1) % 10))
        if key == "library":
            out += ["/lib/x86_64-linux-gnu/libc.so.6", "libc.so.6", "../model/" + value,
                    "./" + value]
        if key == "name":
            out += ["pthread_key", "pthread", "flowc", "timer", "__x"]
    elif isinstance(value, list):
        out += [value + value[-1:], value[:-1], value[::-1], [value], value + [None]]
    elif isinstance(value, dict):
        out += [{**value, "extra": 1}, [value], list(value)]
        out += [{k: v for k, v in value.items() if k != drop} for drop in value]
    return out


def _mutants(m):
    """(description, damaged manifest) for every path of the JSON tree."""
    def walk(value, path):
        yield path, value
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, path + [k])
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, path + [i])

    original = json.dumps(m, sort_keys=True)
    seen = set()
    for path, value in walk(m, []):
        if not path:
            continue
        for new in _replacements(value, path[-1]):
            damaged = json.loads(original)
            parent = damaged
            for p in path[:-1]:
                parent = parent[p]
            parent[path[-1]] = new
            text = json.dumps(damaged, sort_keys=True)
            if text != original and text not in seen:
                seen.add(text)
                yield f"{path} = {new!r:.40}", damaged
        damaged = json.loads(original)  # and the key deleted
        parent = damaged
        for p in path[:-1]:
            parent = parent[p]
        del parent[path[-1]]
        yield f"del {path}", damaged
    for top in (None, [], "x", 3, {}):
        yield f"manifest = {top!r}", top


_LOADER = r"""
import json, sys, runtime
from runtime.artifact import ArtifactError
directory, cases = sys.argv[1], json.load(open(sys.argv[2]))
manifest = directory + "/" + sys.argv[3]
ok = 0
for what, damaged in cases:
    with open(manifest, "w") as f:
        json.dump(damaged, f)
    try:
        runtime.load(directory)
    except ArtifactError as e:
        assert isinstance(e, ValueError) and str(e), what
        ok += 1
    except Exception as e:
        print("WRONG", what, type(e).__name__, e)
    else:
        print("ACCEPTED", what)
print("REFUSED", ok)
"""


def test_every_mutated_manifest_is_refused_in_a_subprocess(tmp_path):
    directory, so, manifest = _copy("stateful", tmp_path)
    m = json.loads(manifest.read_text())
    cases = list(_mutants(m))
    assert len(cases) > 500
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    proc = subprocess.run([sys.executable, "-c", _LOADER, str(directory), str(cases_file),
                           manifest.name], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    bad = [line for line in proc.stdout.splitlines() if line.startswith(("WRONG", "ACCEPTED"))]
    assert not bad, bad[:20]
    assert f"REFUSED {len(cases)}" in proc.stdout
    manifest.write_text(json.dumps(m))  # the undamaged manifest still loads and runs
    with runtime.load(directory) as model:
        assert model(np.ones((2, 4), np.float32)).shape == (2, 3)


def test_a_field_that_disagrees_with_the_library_is_named(tmp_path):
    directory, _, manifest = _copy("stateful", tmp_path)
    m = json.loads(manifest.read_text())
    m["outputs"][0]["shape"] = ["N0", 4]
    manifest.write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match=r"field 'outputs' does not match the library's "
                                            r"own description"):
        runtime.load(directory)
    m = json.loads(manifest.read_text())
    m["variables"][0]["shape"] = [4, 30]
    m["outputs"][0]["shape"] = ["N0", 3]
    manifest.write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="field 'variables'"):
        runtime.load(directory)
    m["variables"][0]["shape"] = [4, 3]
    m["functions"]["create"] = "abort"
    manifest.write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="field 'functions'"):
        runtime.load(directory)


# ---- damaged libraries ---------------------------------------------------------------------
def test_damaged_or_foreign_libraries_with_matching_hashes_are_refused(tmp_path):
    directory, so, manifest = _copy("stateful", tmp_path)
    good = so.read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "another model's library": open(artifact("basic")[0].library, "rb").read(),
        "not a flowc library": open("/lib/x86_64-linux-gnu/libm.so.6", "rb").read()
        if os.path.exists("/lib/x86_64-linux-gnu/libm.so.6") else b"\x7fELF",
        "its description edited": _edit_description(good),
    }
    for what, data in cases.items():
        so.write_bytes(data)
        _rehash(manifest, so)
        code = ("import runtime, sys\nfrom runtime.artifact import ArtifactError\n"
                "try:\n    runtime.load(sys.argv[1])\nexcept ArtifactError as e:\n"
                "    print('REFUSED', e)\n")
        proc = subprocess.run([sys.executable, "-c", code, str(directory)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "REFUSED" in proc.stdout, (what, proc.stdout,
                                                                   proc.stderr)


def _edit_description(data: bytes) -> bytes:
    """The library with one digit of its embedded description changed (hash now wrong)."""
    at = data.index(b'"shape":[4,3]')
    return data[:at] + b'"shape":[4,5]' + data[at + len(b'"shape":[4,3]'):]


def test_library_outside_the_model_directory_is_refused(tmp_path):
    directory, so, manifest = _copy("stateful", tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.replace(so, other / so.name)
    os.symlink(other / so.name, so)
    with pytest.raises(ArtifactError, match="outside the model directory"):
        runtime.load(directory)
    os.remove(so)
    m = json.loads(manifest.read_text())
    m["library"] = "../elsewhere/stateful.so"
    manifest.write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="field 'library'"):
        runtime.load(directory)


def test_files_other_users_may_write_or_own_are_refused(tmp_path):
    directory, so, manifest = _copy("stateful", tmp_path)
    runtime.load(directory).close()
    for path, mode in ((directory, 0o775), (directory, 0o757), (manifest, 0o664),
                       (so, 0o757)):
        old = os.stat(path).st_mode & 0o777
        os.chmod(path, mode)
        with pytest.raises(ArtifactError, match=r"writable by .*chmod go-w"):
            runtime.load(directory)
        os.chmod(path, old)
    if os.geteuid() == 0:  # as root, hand the library to another user
        os.chown(so, 1, 1)
        with pytest.raises(ArtifactError, match="owned by uid 1"):
            runtime.load(directory)
        os.chown(so, 0, 0)
    runtime.load(directory).close()


def test_variable_accessors_check_the_return_code(tmp_path):
    directory, _, _ = _copy("stateful", tmp_path)
    with runtime.load(directory) as model:
        model.variables._specs["w"] = (99, np.dtype(np.float32), (4, 3))
        with pytest.raises(ArtifactError, match="get_variable.*failed"):
            model.variables["w"]
        with pytest.raises(ArtifactError, match="set_variable.*failed"):
            model.variables["w"] = np.zeros((4, 3), np.float32)


# ---- exported names --------------------------------------------------------------------------
def _tiny():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        v = fc.Variable(np.float32(1), name="v")
        y = x * v
    return g, y, x


@pytest.mark.parametrize("name, culprit", [
    ("pthread_key", "pthread_key_create"), ("pthread", "pthread_create"),
    ("timer", "timer_create"), ("flowc", "flowc_"), ("__m", "reserved"),
    ("_Model", "reserved"), ("argz", "argz_create is defined by libc"),
])
def test_names_whose_symbols_clash_are_refused(name, culprit, tmp_path):
    g, y, x = _tiny()
    with pytest.raises(ValueError, match=f"model name {name!r} cannot be used.*{culprit}"):
        fc.compile(y, [x], str(tmp_path), name=name)
    assert not os.path.exists(tmp_path / f"{name}.so")


def test_an_ordinary_name_still_compiles_and_loads(tmp_path):
    g, y, x = _tiny()
    fc.compile(y, [x], str(tmp_path), name="pthread_keys_model")
    with runtime.load(tmp_path) as model:
        np.testing.assert_allclose(model(np.array([2.0], np.float32)), [2.0])


def test_compiling_into_a_directory_others_may_write_warns(tmp_path):
    g, y, x = _tiny()
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o775)
    with pytest.warns(UserWarning, match="writable by other users"):
        fc.compile(y, [x], str(shared), name="tiny")
    with pytest.raises(ArtifactError, match="writable by its group"):
        runtime.load(shared)
    os.chmod(shared, 0o755)
    with runtime.load(shared) as model:  # the files themselves were written go-w
        np.testing.assert_allclose(model(np.array([3.0], np.float32)), [3.0])


def test_only_the_librarys_own_functions_are_bound(tmp_path):
    import ctypes

    from runtime.aot_model import _bind
    directory, so, _ = _copy("stateful", tmp_path)
    lib, real = ctypes.CDLL(str(so)), os.path.realpath(so)
    assert _bind(lib, "stateful_abi_version", ctypes.c_int32, [], path=real)() == 2
    with pytest.raises(ArtifactError, match="'malloc' is not defined by"):
        _bind(lib, "malloc", ctypes.c_void_p, [ctypes.c_size_t], path=real)
