"""TF1's V2 checkpoint format (docs/checkpoints.md): what flowc's Saver writes is read back
by an independent reader of the format written here from the spec (LevelDB table format +
tensor_bundle.proto field numbers; no code shared with compiler/), and checkpoints this
test writes by hand the way TensorFlow does (other block sizes and restart intervals,
shortened index separators, Snappy-compressed blocks, TF1 names) restore into flowc
variables. Also: round trips on both backends, global_step paths, the `checkpoint` state
file, max_to_keep, var_list dicts, the readers, format detection, and damage."""

from __future__ import annotations

import os
import random
import struct

import numpy as np
import pytest

import compiler as fc
from compiler.train.checkpoint import CheckpointError
from compiler.train.saver import RUN_COUNTER_KEY

BACKENDS = ["llvm", "interpret"]
MAGIC = 0xDB4775248B80FB57
DT = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_, 19: np.float16}
DT_CODE = {np.dtype(v): k for k, v in DT.items()}


def _session(backend, graph=None):
    cfg = fc.ConfigProto(backend="interpret") if backend == "interpret" else None
    return fc.Session(graph=graph, config=cfg)


# ---- an independent reader and writer of the format ------------------------------------------
def _crc32c(data) -> int:
    crc = 0xFFFFFFFF
    for b in bytes(data):
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _unmask(m):
    rot = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _uvarint(data, pos):
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _pb(data) -> dict:
    """{field: [values]} of a protobuf message (varint, fixed64, bytes, fixed32)."""
    out, pos = {}, 0
    while pos < len(data):
        key, pos = _uvarint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = _uvarint(data, pos)
        elif wire == 1:
            v, pos = struct.unpack_from("<Q", data, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _uvarint(data, pos)
            v, pos = bytes(data[pos:pos + n]), pos + n
        elif wire == 5:
            v, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        else:
            raise AssertionError(f"wire type {wire}")
        out.setdefault(field, []).append(v)
    return out


def _field(fields, n, default=0):
    return fields.get(n, [default])[-1]


def _block(data, offset, size):
    contents = data[offset:offset + size]
    kind = data[offset + size]
    crc = struct.unpack_from("<I", data, offset + size + 1)[0]
    assert _unmask(crc) == _crc32c(contents + bytes([kind])), "block CRC"
    assert kind == 0, "flowc writes uncompressed blocks"
    return contents


def _entries(block, stats=None):
    (count,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * count
    restarts = set(struct.unpack_from(f"<{count}I", block, limit))
    out, key, pos = [], b"", 0
    while pos < limit:
        start = pos
        shared, pos = _uvarint(block, pos)
        unshared, pos = _uvarint(block, pos)
        n, pos = _uvarint(block, pos)
        assert (start in restarts) == (shared == 0) or shared == 0
        if stats is not None:
            stats["shared"] = stats.get("shared", 0) + shared
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + n]))
        pos += n
    return out


def read_sstable(data, stats=None):
    assert struct.unpack_from("<Q", data, len(data) - 8)[0] == MAGIC
    footer = data[len(data) - 48:]
    meta_off, p = _uvarint(footer, 0)
    meta_size, p = _uvarint(footer, p)
    index_off, p = _uvarint(footer, p)
    index_size, p = _uvarint(footer, p)
    assert _entries(_block(data, meta_off, meta_size)) == []
    items = []
    index = _entries(_block(data, index_off, index_size))
    for sep, handle in index:
        off, q = _uvarint(handle, 0)
        size, _ = _uvarint(handle, q)
        block = _entries(_block(data, off, size), stats)
        assert block and block[-1][0] <= sep
        items += block
    if stats is not None:
        stats["blocks"] = len(index)
    keys = [k for k, _ in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    return items


def read_bundle(prefix) -> tuple:
    """(header fields, {key: ndarray}) of a V2 checkpoint, every CRC checked."""
    with open(prefix + ".index", "rb") as f:
        items = read_sstable(f.read())
    with open(prefix + ".data-00000-of-00001", "rb") as f:
        data = f.read()
    assert items[0][0] == b""
    header = _pb(items[0][1])
    tensors = {}
    for key, value in items[1:]:
        e = _pb(value)
        dims = [_field(_pb(d), 1) for d in _pb(_field(e, 2, b"")).get(2, [])]
        off, size = _field(e, 4), _field(e, 5)
        assert _field(e, 3) == 0 and 7 not in e
        raw = data[off:off + size]
        assert _unmask(_field(e, 6)) == _crc32c(raw), key
        dtype = np.dtype(DT[_field(e, 1)]).newbyteorder("<")
        tensors[key.decode()] = np.frombuffer(raw, dtype).reshape(dims)
    return header, tensors


def _snappy(data: bytes) -> bytes:
    """Snappy raw format: literals and 2-byte-offset copies (greedy 4-byte matches)."""
    out = bytearray(_varint(len(data)))

    def literal(a, b):
        while a < b:
            n = min(60, b - a)
            out.append((n - 1) << 2)
            out.extend(data[a:a + n])
            a += n

    i = lit = 0
    seen = {}
    while i + 4 <= len(data):
        j = seen.get(data[i:i + 4])
        seen[data[i:i + 4]] = i
        if j is not None and i - j < 65536:
            literal(lit, i)
            m = 4
            while i + m < len(data) and m < 64 and data[j + m] == data[i + m]:
                m += 1
            out.append(((m - 1) << 2) | 2)
            out += struct.pack("<H", i - j)
            i += m
            lit = i
        else:
            i += 1
    literal(lit, len(data))
    return bytes(out)


def write_sstable(items, block_size=64, restart=3, snappy=False, short_separators=True):
    """A table the way TensorFlow's writer may make one."""
    out = bytearray()

    def block(entries, interval):
        b, restarts, prev = bytearray(), [], b""
        for i, (k, v) in enumerate(entries):
            shared = 0
            if i % interval == 0:
                restarts.append(len(b))
            else:
                while shared < min(len(k), len(prev)) and k[shared] == prev[shared]:
                    shared += 1
            b += _varint(shared) + _varint(len(k) - shared) + _varint(len(v))
            b += k[shared:] + v
            prev = k
        restarts = restarts or [0]
        return bytes(b) + struct.pack(f"<{len(restarts)}I", *restarts) + \
            struct.pack("<I", len(restarts))

    def emit(contents, compress):
        kind = 0
        if compress:
            contents, kind = _snappy(contents), 1
        handle = _varint(len(out)) + _varint(len(contents))
        out.extend(contents + bytes([kind]))
        out.extend(struct.pack("<I", _mask(_crc32c(contents + bytes([kind])))))
        return handle

    index, pending = [], []
    for n, (k, v) in enumerate(items):
        pending.append((k, v))
        if sum(len(a) + len(b) for a, b in pending) >= block_size or n == len(items) - 1:
            handle = emit(block(pending, restart), snappy)
            nxt = items[n + 1][0] if n + 1 < len(items) else None
            sep = k
            if short_separators and nxt is not None:  # a shortest key in [k, next)
                p = 0
                while p < min(len(k), len(nxt)) and k[p] == nxt[p]:
                    p += 1
                if p < len(k) and k[p] < 0xFF and k[p] + 1 < nxt[p]:
                    sep = k[:p] + bytes([k[p] + 1])
            index.append((sep, handle))
            pending = []
    meta = emit(block([], 1), False)
    idx = emit(block(index, 1), snappy)
    footer = meta + idx
    out += footer + bytes(40 - len(footer)) + struct.pack("<Q", MAGIC)
    return bytes(out)


def write_tf_checkpoint(prefix, tensors, **table_options):
    """A V2 checkpoint written from the spec the way TensorFlow does it."""
    data, entries = bytearray(), []
    for key in sorted(tensors, key=str.encode):
        arr = np.array(tensors[key], order="C")
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        shape = b"".join(b"\x12" + _varint(len(_varint(d)) + 1) + b"\x08" + _varint(d)
                         for d in arr.shape)
        entry = (b"\x08" + _varint(DT_CODE[arr.dtype]) + b"\x12" + _varint(len(shape)) + shape
                 + b"\x20" + _varint(len(data)) + b"\x28" + _varint(len(raw))
                 + b"\x35" + struct.pack("<I", _mask(_crc32c(raw))))
        entries.append((key.encode(), entry))
        data += raw
    header = b"\x08\x01" + b"\x1a\x02\x08\x01"  # num_shards 1, version {producer 1}
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data)
    with open(prefix + ".index", "wb") as f:
        f.write(write_sstable([(b"", header)] + entries, **table_options))


# ---- flowc writes, the independent reader reads --------------------------------------------------
VALUES = {
    "layer/w": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    "layer/b": np.array([-1.5, 2.25], np.float64),
    "count": np.array(7, np.int64),
    "ids": np.array([[1, -2], [3, 4]], np.int32),
    "mask": np.array([True, False, True]),
    "half": np.array([0.5, -2.0], np.float16),
}


def _graph_of(values):
    g = fc.Graph()
    with g.as_default():
        variables = {k: fc.Variable(v, name=k) for k, v in values.items()}
        init = fc.global_variables_initializer()
    return g, variables, init


def test_flowc_checkpoint_reads_through_an_independent_reader(tmp_path):
    many = dict(VALUES, **{f"stack/cell_{i:03d}/kernel": np.full((2,), i, np.float32)
                           for i in range(150)})   # several data blocks, shared prefixes
    g, variables, init = _graph_of(many)
    with g.as_default():
        saver = fc.train.Saver()
    with fc.Session(graph=g) as sess:
        sess.run(init)
        sess._run_counter = 12
        prefix = saver.save(sess, str(tmp_path / "model"))
    assert prefix == str(tmp_path / "model")
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "model.data-00000-of-00001",
                                            "model.index", "model.meta"]
    header, tensors = read_bundle(prefix)
    assert _field(header, 1) == 1 and _field(header, 2) == 0      # 1 shard, little-endian
    assert _field(_pb(_field(header, 3, b"")), 1) == 1             # producer version 1
    assert tensors.pop(RUN_COUNTER_KEY) == 12
    assert sorted(tensors) == sorted(many)
    for key, value in many.items():
        assert tensors[key].dtype == value.dtype and tensors[key].shape == value.shape, key
        np.testing.assert_array_equal(tensors[key], value)
    stats = {}
    with open(prefix + ".index", "rb") as f:
        read_sstable(f.read(), stats)
    assert stats["blocks"] > 1 and stats["shared"] > 0


# ---- TF-style checkpoints restore into flowc --------------------------------------------------
@pytest.mark.parametrize("options", [
    dict(block_size=64, restart=3, snappy=False),
    dict(block_size=4096, restart=16, snappy=True),
    dict(block_size=1, restart=1, snappy=True, short_separators=False),
], ids=["small-blocks", "snappy", "one-per-block"])
def test_a_checkpoint_written_the_tensorflow_way_restores(tmp_path, options):
    kernel = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    stored = {"dense/kernel": kernel, "dense/bias": np.zeros(4, np.float32) + 0.25,
              "global_step": np.array(1000, np.int64),
              "dense/kernel/Adam": np.ones((3, 4), np.float32),   # not restored
              "zz_repeated": np.tile(np.arange(8, dtype=np.float32), 64)}
    prefix = str(tmp_path / "model.ckpt-1000")
    write_tf_checkpoint(prefix, stored, **options)
    g = fc.Graph()
    with g.as_default():
        k = fc.Variable(np.zeros((3, 4), np.float32), name="my/k")
        b = fc.Variable(np.zeros(4, np.float32), name="my/b")
        step = fc.Variable(np.array(0, np.int64), name="step")
        rep = fc.Variable(np.zeros(512, np.float32), name="rep")
        x = fc.placeholder(fc.float32, [None, 3])
        y = fc.matmul(x, k) + b
        saver = fc.train.Saver({"dense/kernel": k, "dense/bias": b, "global_step": step,
                                "zz_repeated": rep})
    for backend in BACKENDS:
        with _session(backend, g) as sess:
            saver.restore(sess, prefix)
            out = sess.run(y, {x: np.eye(3, dtype=np.float32)})
            np.testing.assert_array_equal(out, kernel + 0.25)
            assert sess.run(step) == 1000
            np.testing.assert_array_equal(sess.run(rep), stored["zz_repeated"])
    reader = fc.train.NewCheckpointReader(prefix)
    assert reader.get_variable_to_shape_map()["dense/kernel/Adam"] == [3, 4]
    np.testing.assert_array_equal(reader.get_tensor("dense/kernel"), kernel)


# ---- round trips, the state file, max_to_keep ------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip_global_step_and_state_file(tmp_path, backend):
    g, v, _ = _graph_of(VALUES)
    with g.as_default():
        gs = fc.train.get_or_create_global_step()
        bump = gs.assign_add(5)
        init = fc.global_variables_initializer()
        saver = fc.train.Saver()
    with _session(backend, g) as sess:
        sess.run(init)
        sess.run([bump, v["layer/w"].assign(v["layer/w"] * 3.0)])
        counter = sess._run_counter
        path = saver.save(sess, str(tmp_path / "ckpt"), global_step=gs)
        saved = sess.run([v["layer/w"], gs])
    assert path == str(tmp_path / "ckpt-5")
    assert fc.train.latest_checkpoint(str(tmp_path)) == path
    state = fc.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == path and state.all_model_checkpoint_paths == [path]
    assert fc.train.checkpoint_exists(path) and not fc.train.checkpoint_exists(path + "x")
    with _session(backend, g) as sess:     # restore is the initialization
        saver.restore(sess, path)
        # the counter as saved: after the run that read global_step for the path
        assert sess._run_counter == counter + 1 == read_bundle(path)[1][RUN_COUNTER_KEY]
        np.testing.assert_array_equal(sess.run(v["layer/w"]), saved[0])
        assert sess.run(gs) == 5
        for key, value in VALUES.items():
            if key != "layer/w":
                np.testing.assert_array_equal(sess.run(v[key]), value)


def test_max_to_keep_deletes_old_checkpoints_and_updates_the_state_file(tmp_path):
    g, v, init = _graph_of({"w": np.zeros(3, np.float32)})
    with g.as_default():
        saver = fc.train.Saver(max_to_keep=2)
        keep_all = fc.train.Saver(max_to_keep=None, format="npz")
    with fc.Session(graph=g) as sess:
        sess.run(init)
        paths = [saver.save(sess, str(tmp_path / "m"), global_step=i) for i in range(5)]
        assert saver.last_checkpoints == paths[-2:]
        assert sorted(os.listdir(tmp_path)) == sorted(
            ["checkpoint"] + [f"m-{i}{ext}" for i in (3, 4)
                              for ext in (".index", ".data-00000-of-00001", ".meta")])
        state = fc.train.get_checkpoint_state(str(tmp_path))
        assert state.all_model_checkpoint_paths == paths[-2:]
        assert state.model_checkpoint_path == paths[-1]
        saver.save(sess, str(tmp_path / "m"), global_step=3)   # saved again: newest, kept
        assert saver.last_checkpoints == [paths[4], paths[3]]
        sub = tmp_path / "all"
        npz = [keep_all.save(sess, str(sub / "n"), global_step=i) for i in range(7)]
        assert all(os.path.exists(p) for p in npz) and npz[0].endswith("n-0.npz")
        assert fc.train.latest_checkpoint(str(sub)) == npz[-1]
        assert fc.train.get_checkpoint_state(str(sub)).all_model_checkpoint_paths == npz


def test_var_list_dict_maps_names_and_formats_are_detected(tmp_path):
    g, v, init = _graph_of({"a": np.arange(4, dtype=np.float32), "b": np.ones(2, np.int32)})
    with g.as_default():
        by_name = fc.train.Saver({"tf1/name": v["a"]})
        other = fc.Variable(np.zeros(4, np.float32), name="other")
        into_other = fc.train.Saver({"tf1/name": other})
        npz_saver = fc.train.Saver([v["a"], v["b"]], format="npz")
        plain = fc.train.Saver([v["a"], v["b"]])
    with fc.Session(graph=g) as sess:
        sess.run(init)
        p = by_name.save(sess, str(tmp_path / "named"), write_meta_graph=False)
        assert [k for k, _ in fc.train.list_variables(p)] == ["tf1/name"]
        into_other.restore(sess, p)
        np.testing.assert_array_equal(sess.run(other), np.arange(4))
        npz = npz_saver.save(sess, str(tmp_path / "old"))
        sess.run(v["a"].assign(np.zeros(4, np.float32)))
        plain.restore(sess, npz[:-4])              # the .npz is found from the prefix
        np.testing.assert_array_equal(sess.run(v["a"]), np.arange(4))
        reader = fc.train.NewCheckpointReader(npz)
        assert reader.get_variable_to_shape_map() == {"a": [4], "b": [2]}
        assert reader.get_variable_to_dtype_map()["b"] is fc.int32
        np.testing.assert_array_equal(fc.train.load_variable(npz, "b:0"), np.ones(2))
        assert reader.has_tensor("a") and not reader.has_tensor(RUN_COUNTER_KEY)
    with pytest.raises(ValueError, match="V1"):
        fc.train.Saver([v["a"]], write_version=fc.train.SaverDef.V1)
    with pytest.raises(ValueError, match="format"):
        fc.train.Saver([v["a"]], format="hdf5")


def test_state_files_written_by_tensorflow_are_read_and_bad_ones_refused(tmp_path):
    g, v, init = _graph_of({"w": np.ones(2, np.float32)})
    with g.as_default():
        saver = fc.train.Saver()
    with fc.Session(graph=g) as sess:
        sess.run(init)
        saver.save(sess, str(tmp_path / "model.ckpt-9"), write_state=False)
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "model.ckpt-9"\n'
        'all_model_checkpoint_paths: "model.ckpt-9"\n'
        "all_model_checkpoint_timestamps: 1565000000.5\n"
        "last_preserved_timestamp: 1564999999.25\n")
    assert fc.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-9")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "gone"\n')
    assert fc.train.latest_checkpoint(str(tmp_path)) is None
    for bad in ('model_checkpoint_path: model\n', 'weird_field: "x"\n', "\xff\xfe",
                'all_model_checkpoint_paths: "a"\n'):
        (tmp_path / "checkpoint").write_text(bad, encoding="latin-1")
        with pytest.raises(CheckpointError, match="checkpoint state file"):
            fc.train.latest_checkpoint(str(tmp_path))


# ---- damage: every bad file is refused before any variable changes ------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("v2")
    g, v, init = _graph_of({"layer/w": VALUES["layer/w"], "ids": VALUES["ids"]})
    with g.as_default():
        saver = fc.train.Saver()
    sess = fc.Session(graph=g)
    sess.run(init)
    prefix = saver.save(sess, str(folder / "good"), write_meta_graph=False)
    files = {ext: open(prefix + ext, "rb").read()
             for ext in (".index", ".data-00000-of-00001")}
    sentinel = {"layer/w": np.full((3, 4), -1, np.float32), "ids": np.full((2, 2), 9, np.int32)}
    for k, value in sentinel.items():
        sess._store.set(v[k].op.attrs["var"], value)
    yield dict(sess=sess, saver=saver, v=v, files=files, sentinel=sentinel)
    sess.close()


def _restore_damaged(saved, tmp_path, index=None, data=None):
    """True when restored (the values are the saved ones), False when refused cleanly."""
    prefix = str(tmp_path / "bad")
    for ext, content in ((".index", index), (".data-00000-of-00001", data)):
        if content is None:
            content = saved["files"][ext]
        with open(prefix + ext, "wb") as f:
            f.write(content)
    sess, v = saved["sess"], saved["v"]
    try:
        saved["saver"].restore(sess, prefix)
    except CheckpointError as e:
        assert prefix in str(e), str(e)
        for k, value in saved["sentinel"].items():
            np.testing.assert_array_equal(sess.run(v[k]), value)
        return False
    np.testing.assert_array_equal(sess.run(v["layer/w"]), VALUES["layer/w"])
    np.testing.assert_array_equal(sess.run(v["ids"]), VALUES["ids"])
    for k, value in saved["sentinel"].items():
        sess._store.set(v[k].op.attrs["var"], value)
    return True


def test_the_good_files_restore(saved, tmp_path):
    assert _restore_damaged(saved, tmp_path)


def test_truncated_files_are_refused(saved, tmp_path):
    index, data = saved["files"][".index"], saved["files"][".data-00000-of-00001"]
    for cut in range(0, len(index), max(1, len(index) // 60)):
        assert not _restore_damaged(saved, tmp_path, index=index[:cut]), cut
    for cut in (0, 1, len(data) // 2, len(data) - 1):
        assert not _restore_damaged(saved, tmp_path, data=data[:cut]), cut


def test_every_flipped_bit_that_is_read_is_refused(saved, tmp_path):
    index, data = saved["files"][".index"], saved["files"][".data-00000-of-00001"]
    # the footer's zero padding (after the two block handles) is the one region nothing
    # reads (TensorFlow does not check it either)
    footer = len(index) - 48
    _, p = _uvarint(index, footer)
    for _ in range(3):
        _, p = _uvarint(index, p)
    padding = range(p, len(index) - 8)
    for pos in range(len(index)):
        target = bytearray(index)
        target[pos] ^= 1 << (pos % 8)
        assert _restore_damaged(saved, tmp_path, index=bytes(target)) == (pos in padding), pos
    rng = random.Random(5)
    for pos in rng.sample(range(len(data)), 40):
        target = bytearray(data)
        target[pos] ^= 1 << rng.randrange(8)
        assert not _restore_damaged(saved, tmp_path, data=bytes(target)), pos


def test_wrong_shape_dtype_missing_and_unsupported_entries_name_the_variable(saved, tmp_path):
    cases = {
        "shape": ({"layer/w": VALUES["layer/w"].reshape(4, 3), "ids": VALUES["ids"]},
                  r"'layer/w:0'.*float32\[4, 3\].*\[3, 4\]"),
        "dtype": ({"layer/w": VALUES["layer/w"].astype(np.float64), "ids": VALUES["ids"]},
                  r"'layer/w:0'.*float64"),
        "missing": ({"ids": VALUES["ids"]}, r"'layer/w:0'.*not in the checkpoint"),
    }
    for name, (tensors, message) in cases.items():
        prefix = str(tmp_path / name)
        write_tf_checkpoint(prefix, tensors)
        with pytest.raises(CheckpointError, match=message):
            saved["saver"].restore(saved["sess"], prefix)
        np.testing.assert_array_equal(saved["sess"].run(saved["v"]["ids"]),
                                      saved["sentinel"]["ids"])
    # two shards: refused with the reason
    prefix = str(tmp_path / "sharded")
    write_tf_checkpoint(prefix, {"ids": VALUES["ids"], "layer/w": VALUES["layer/w"]})
    with open(prefix + ".index", "rb") as f:
        items = read_sstable(f.read())
    items[0] = (b"", b"\x08\x02" + items[0][1][2:])
    with open(prefix + ".index", "wb") as f:
        f.write(write_sstable(items))
    with pytest.raises(CheckpointError, match="2 shards"):
        saved["saver"].restore(saved["sess"], prefix)
    os.remove(prefix + ".data-00000-of-00001")
    os.remove(prefix + ".index")
    with pytest.raises(CheckpointError, match="not found"):
        saved["saver"].restore(saved["sess"], prefix)
