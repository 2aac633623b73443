"""The wire format of a registered partition (compiler/distributed/wire.py), without Ray:
a described executable loads on the worker's end and computes what the original does;
every damage or mismatch is refused with a RegistrationError naming the task and
partition; GPU/interpreter executables are refused as unsupported."""

import copy
import json

import numpy as np
import pytest

import compiler as fc
from compiler import pipeline
from compiler.distributed import wire
from runtime.variables import VariableStore

WHERE = "task /job:worker/replica:0/task:1, partition 'p1'"


@pytest.fixture(scope="module")
def compiled():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        w = fc.Variable(np.ones(3, np.float32), name="w")
        table = fc.constant(np.arange(12, dtype=np.float32).reshape(4, 3), name="table")
        y = fc.reduce_sum(fc.matmul(table, fc.transpose(x * 2.0 + w)), axis=0, name="y")
    opts = fc.CompileOptions(threads=1)
    return g, x, y, opts, pipeline.compile_graph(g, [y], [x], opts).executable


def _run(exe, feed):
    store = VariableStore()
    store.set("w", np.full(3, 0.5, np.float32))
    return exe.run([feed], store, 0)[0]


def test_described_partition_loads_and_computes_the_same(compiled, tmp_path):
    *_, opts, exe = compiled
    meta, blobs = wire.describe(exe, opts.target_cpu, opts.opt_level, WHERE)
    assert meta["code_kind"] == "objects"
    assert any(b["kind"] == "const" for b in meta["buffers"])  # a constant travels too
    loaded = wire.load(meta, blobs, WHERE, {}, str(tmp_path))
    feed = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run(loaded, feed), _run(exe, feed))


def test_a_linked_partition_ships_one_shared_object(compiled, tmp_path):
    """What Cluster.register ships: the objects linked on the master (MCJIT maps code
    and constant pools apart; a worker aborted on their 32-bit offsets)."""
    *_, opts, exe = compiled
    meta, blobs = wire.describe(exe, opts.target_cpu, opts.opt_level, WHERE, linked=True)
    assert meta["code_kind"] == "shared" and meta["code"] == ["code_0"]
    assert blobs["code_0"][:4] == b"\x7fELF"
    loaded = wire.load(meta, blobs, WHERE, {}, str(tmp_path))
    assert not getattr(loaded, "objects", None)
    feed = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run(loaded, feed), _run(exe, feed))


def _tampered(compiled, change):
    *_, opts, exe = compiled
    meta, blobs = wire.describe(exe, opts.target_cpu, opts.opt_level, WHERE)
    meta, blobs = copy.deepcopy(meta), dict(blobs)
    change(meta, blobs)
    return meta, blobs


def _flip_code(meta, blobs):
    code = bytearray(blobs["code_0"])
    code[len(code) // 2] ^= 1
    blobs["code_0"] = bytes(code)


def _flip_const(meta, blobs):
    name = next(b["source"] for b in meta["buffers"] if b["kind"] == "const")
    blobs[name] = blobs[name] + 1


def _set_buffer_dtype(meta, blobs):
    next(b for b in meta["buffers"] if b["kind"] == "input")["dtype"] = "float64"


def _drop_blob(meta, blobs):
    blobs.pop("code_0")


def _foreign_cpu(meta, blobs):
    meta["target"] = {"cpu": "some-other-cpu", "features": "+x"}


def _bad_output_index(meta, blobs):
    meta["outputs"] = [len(meta["buffers"]) + 3]


def _not_a_format(meta, blobs):
    meta["format"] = "pickle"


@pytest.mark.parametrize("change, words", [
    (_flip_code, "does not match its sha256"),
    (_flip_const, "does not match its sha256"),
    (_set_buffer_dtype, "has dtype float64"),
    (_drop_blob, "files list"),
    (_foreign_cpu, "compiled for CPU 'some-other-cpu'"),
    (_bad_output_index, "outputs[0]"),
    (_not_a_format, "format"),
])
def test_a_damaged_description_is_refused_naming_task_and_partition(compiled, tmp_path,
                                                                    change, words):
    meta, blobs = _tampered(compiled, change)
    with pytest.raises(wire.RegistrationError) as info:
        wire.load(meta, blobs, WHERE, {}, str(tmp_path))
    assert WHERE in str(info.value) and words in str(info.value)


def test_a_variable_declared_otherwise_on_the_worker_is_refused(compiled, tmp_path):
    *_, opts, exe = compiled
    meta, blobs = wire.describe(exe, opts.target_cpu, opts.opt_level, WHERE)
    with pytest.raises(wire.RegistrationError, match="variable 'w' is float32"):
        wire.load(meta, blobs, WHERE, {"w": ("float32", (4,))}, str(tmp_path))


def test_interpreted_executables_are_not_shipped(compiled):
    g, x, y, opts, _ = compiled
    exe = pipeline.compile_graph(g, [y], [x], opts, interpret=True).executable
    with pytest.raises(wire.UnsupportedPartition, match=r"task /job:worker.*partition 'p1'"):
        wire.describe(exe, opts.target_cpu, opts.opt_level, WHERE)


def test_a_compile_cache_hit_ships_its_shared_object(compiled, tmp_path, monkeypatch):
    g, x, y, opts, exe = compiled
    monkeypatch.setenv("FLOWC_CACHE", "1")
    monkeypatch.setenv("FLOWC_CACHE_DIR", str(tmp_path / "cache"))
    pipeline.compile_graph(g, [y], [x], opts)            # stores the entry
    hit = pipeline.compile_graph(g, [y], [x], opts).executable
    if getattr(hit, "objects", None):
        pytest.fail("expected a compile-cache hit (no C compiler?)")
    meta, blobs = wire.describe(hit, opts.target_cpu, opts.opt_level, WHERE)
    assert meta["code_kind"] == "shared"
    loaded = wire.load(meta, blobs, WHERE, {}, str(tmp_path))
    feed = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(_run(loaded, feed), _run(exe, feed))


def test_a_registration_crosses_as_json_and_npy_bytes_only(compiled, tmp_path):
    """What a worker receives is bytes: the meta as JSON, constants as .npy streams (no
    object arrays); it decodes to what describe made, and anything else is refused."""
    import io
    *_, opts, exe = compiled
    meta, blobs = wire.describe(exe, opts.target_cpu, opts.opt_level, WHERE)
    sent_meta, sent = wire.encode(meta, blobs)
    assert isinstance(sent_meta, bytes) and all(isinstance(v, bytes) for v in sent.values())
    got_meta, got = wire.decode(sent_meta, sent, WHERE)
    assert got_meta == json.loads(json.dumps(meta))
    loaded = wire.load(got_meta, got, WHERE, {}, str(tmp_path))
    feed = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(_run(loaded, feed), _run(exe, feed))
    const = next(b["source"] for b in meta["buffers"] if b["kind"] == "const")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([object()], dtype=object), allow_pickle=True)
    for bad_meta, bad in ((sent_meta, {**sent, const: buf.getvalue()}),  # a pickled array
                          (b"\x80\x04K\x01.", sent),                     # a pickle stream
                          (meta, blobs)):                                # objects, not bytes
        with pytest.raises(wire.RegistrationError, match="task /job:worker/replica:0/task:1"):
            wire.decode(bad_meta, bad, WHERE)
