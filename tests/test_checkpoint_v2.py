"""TF1's V2 checkpoint format (docs/checkpoints.md): what flowc's Saver writes is read back
by an independent reader of the format written here from the spec (LevelDB table format +
tensor_bundle.proto field numbers; no code shared with compiler/), and checkpoints this
test writes by hand the way TensorFlow does (other block sizes and restart intervals,
shortened index separators, Snappy-compressed blocks, TF1 names) restore into flowc
variables (the reader and writer: tests/bundle_spec.py). Also: round trips on both
backends, global_step paths, the `checkpoint` state file, max_to_keep, var_list dicts,
the readers, format detection. Damage: tests/test_checkpoint_damage.py."""

from __future__ import annotations

import os

import numpy as np
import pytest
from bundle_spec import crc32c, field, pb, read_bundle, read_sstable, write_tf_checkpoint

import compiler as fc
from compiler.summary import records
from compiler.train.checkpoint import CheckpointError
from compiler.train.saver import RUN_COUNTER_KEY

BACKENDS = ["llvm", "interpret"]


def _session(backend, graph=None):
    cfg = fc.ConfigProto(backend="interpret") if backend == "interpret" else None
    return fc.Session(graph=graph, config=cfg)


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
    assert field(header, 1) == 1 and field(header, 2) == 0      # 1 shard, little-endian
    assert field(pb(field(header, 3, b"")), 1) == 1             # producer version 1
    assert tensors.pop(RUN_COUNTER_KEY) == 12
    assert sorted(tensors) == sorted(many)
    for key, value in many.items():
        assert tensors[key].dtype == value.dtype and tensors[key].shape == value.shape, key
        np.testing.assert_array_equal(tensors[key], value)
    stats = {}
    with open(prefix + ".index", "rb") as f:
        read_sstable(f.read(), stats)
    assert stats["blocks"] > 1 and stats["shared"] > 0


def test_crc32c_of_long_inputs_matches_the_byte_loop(tmp_path):
    """records.crc32c runs inputs of 64 KiB and more chunked with numpy."""
    assert records.crc32c(b"123456789") == crc32c(b"123456789") == 0xE3069283
    rng = np.random.RandomState(3)
    for n in (65535, 65536, 65536 + 1023, 1 << 17, 300_007):
        data = rng.randint(0, 256, n).astype(np.uint8).tobytes()
        assert records.crc32c(data) == crc32c(data), n
    big = rng.rand(50_000).astype(np.float32)   # a 200 KB variable through the writer
    g, v, init = _graph_of({"big": big})
    with g.as_default():
        saver = fc.train.Saver()
    with fc.Session(graph=g) as sess:
        sess.run(init)
        prefix = saver.save(sess, str(tmp_path / "big"), write_meta_graph=False)
    np.testing.assert_array_equal(read_bundle(prefix)[1]["big"], big)


# ---- TF-style checkpoints restore into flowc --------------------------------------------------
@pytest.mark.parametrize("options", [
    dict(block_size=64, restart=3, snappy=False),
    dict(block_size=4096, restart=16, snappy=True),
    dict(block_size=1, restart=1, snappy=True, short_separators=False),
    dict(shards=3),
], ids=["small-blocks", "snappy", "one-per-block", "three-shards"])
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
        # keep_checkpoint_every_n_hours: a checkpoint older than the period is kept on disk
        # when it leaves the list (0 hours: every one)
        with g.as_default():
            hourly = fc.train.Saver(max_to_keep=1, keep_checkpoint_every_n_hours=0)
        kept = [hourly.save(sess, str(tmp_path / "h" / "k"), global_step=i) for i in range(3)]
        assert hourly.last_checkpoints == kept[-1:]
        assert all(fc.train.checkpoint_exists(p) for p in kept)
        mtimes = fc.train.get_checkpoint_mtimes([paths[4], paths[0], paths[3]])
        assert len(mtimes) == 2                    # paths[0] is gone
        fc.train.remove_checkpoint(paths[4])
        assert not fc.train.checkpoint_exists(paths[4])
        assert not os.path.exists(paths[4] + ".meta")
        sub = tmp_path / "all"
        npz = [keep_all.save(sess, str(sub / "n"), global_step=i) for i in range(7)]
        assert all(os.path.exists(p) for p in npz) and npz[0].endswith("n-0.npz")
        assert fc.train.latest_checkpoint(str(sub)) == npz[-1]
        assert fc.train.get_checkpoint_state(str(sub)).all_model_checkpoint_paths == npz
        fc.train.remove_checkpoint(npz[0])
        assert not os.path.exists(npz[0]) and os.path.exists(npz[1])


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
        empty = fc.train.Saver([], allow_empty=True)
        assert empty.save(sess, str(tmp_path / "empty")) is None
        empty.restore(sess, str(tmp_path / "absent"))
        assert not os.path.exists(tmp_path / "empty.index")
    with pytest.raises(ValueError, match="No variables to save"):
        fc.train.Saver([])
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
