"""`tf.summary.image` and `tf.summary.text`: the event file is read back with
TensorBoard's own protobufs and record reader, each PNG is decoded by PIL, and the pixels
are compared with numpy code of TF1's ImageSummary rules written here (max_outputs,
tags, per-image float rescaling, red for non-finite pixels); the text summary's tensor
and plugin metadata are TensorBoard's text plugin format."""

from __future__ import annotations

import glob
import io
import os

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

import compiler as tf
from compiler.summary import png


def _tf1_float_to_uint8(img):
    """TF1's NormalizeFloatImage, written independently of compiler/summary/ops.py."""
    img = img.astype(np.float32)
    h, w, c = img.shape
    out = np.zeros((h, w, c), np.uint8)
    ok = [[all(np.isfinite(img[i, j])) for j in range(w)] for i in range(h)]
    vals = [img[i, j, k] for i in range(h) for j in range(w) if ok[i][j] for k in range(c)]
    lo, hi = (min(vals), max(vals)) if vals else (np.inf, -np.inf)
    if lo < 0:
        m = max(abs(lo), abs(hi))
        scale, offset = (0.0 if m < 1e-6 else 127.0 / m), 128.0
    else:
        scale, offset = (0.0 if hi < 1e-6 else 255.0 / hi), 0.0
    for i in range(h):
        for j in range(w):
            for k in range(c):
                if ok[i][j]:
                    out[i, j, k] = int(np.float32(img[i, j, k]) * np.float32(scale)
                                       + np.float32(offset))
                else:
                    out[i, j, k] = [255, 0, 0, 255][k]
    return out


def _values(logdir):
    (path,) = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    out = []
    for raw in RawEventFileLoader(path).Load():
        ev = event_pb2.Event.FromString(raw)
        if ev.WhichOneof("what") == "summary":
            out += [(ev.step, v) for v in ev.summary.value]
    return out


def _decode(png_bytes):
    img = Image.open(io.BytesIO(png_bytes))
    img.load()
    arr = np.asarray(img)
    return arr[:, :, None] if arr.ndim == 2 else arr


@pytest.mark.parametrize("config", [None, tf.ConfigProto(backend="interpret")],
                         ids=["llvm", "interpret"])
def test_image_summaries_decode_to_tf1_pixels(tmp_path, config):
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (3, 4, 5, 3)).astype(np.uint8)
    pos = (rng.random((2, 3, 2, 1)) * 7).astype(np.float32)
    mixed = rng.standard_normal((2, 2, 3, 4)).astype(np.float32)
    mixed[0, 1, 2, 1] = np.nan            # a non-finite channel: the pixel becomes red
    mixed[1, 0, 0, 3] = -np.inf
    zeros = np.zeros((1, 2, 2, 1), np.float32)
    with tf.Graph().as_default():
        a = tf.placeholder(tf.uint8, [None, 4, 5, 3], name="a")
        b = tf.placeholder(tf.float32, [None, 3, 2, 1], name="b")
        c = tf.placeholder(tf.float32, [None, 2, 3, 4], name="c")
        d = tf.placeholder(tf.float32, [None, 2, 2, 1], name="d")
        with tf.name_scope("imgs"):
            tf.summary.image("rgb", a, max_outputs=2)
            tf.summary.image("gray", b * 1.0, max_outputs=1)
        tf.summary.image("rgba", c, max_outputs=5)
        tf.summary.image("flat", d)
        merged = tf.summary.merge_all()
        with tf.Session(config=config) as sess:
            blob = sess.run(merged, {a: u8, b: pos, c: mixed, d: zeros})
        writer = tf.summary.FileWriter(str(tmp_path))
        writer.add_summary(blob, 7)
        writer.close()
    values = {v.tag: (step, v) for step, v in _values(str(tmp_path))}
    want = {"imgs/rgb/image/0": u8[0], "imgs/rgb/image/1": u8[1],
            "imgs/gray/image": _tf1_float_to_uint8(pos[0]),
            "rgba/image/0": _tf1_float_to_uint8(mixed[0]),
            "rgba/image/1": _tf1_float_to_uint8(mixed[1]),
            "flat/image/0": np.zeros((2, 2, 1), np.uint8)}
    assert set(values) == set(want)
    for tag, pixels in want.items():
        step, v = values[tag]
        assert step == 7 and v.WhichOneof("value") == "image"
        assert (v.image.height, v.image.width, v.image.colorspace) == pixels.shape
        np.testing.assert_array_equal(_decode(v.image.encoded_image_string), pixels,
                                      err_msg=tag)
    assert list(_decode(values["rgba/image/0"][1].image.encoded_image_string)[1, 2]) == \
        [255, 0, 0, 255]


def test_text_summary_is_a_string_tensor_for_the_text_plugin(tmp_path):
    with tf.Graph().as_default():
        note = tf.summary.text("notes", tf.constant([["lr", "0.1"], ["é", "b"]]))
        single = tf.summary.text("title", tf.constant("run 1"))
        with tf.Session() as sess:
            blobs = sess.run([note, single])
        writer = tf.summary.FileWriter(str(tmp_path))
        for i, blob in enumerate(blobs):
            writer.add_summary(blob, i)
        writer.close()
    values = {v.tag: v for _, v in _values(str(tmp_path))}
    assert values["notes"].metadata.plugin_data.plugin_name == "text"
    arr = tensor_util.make_ndarray(values["notes"].tensor)
    assert arr.shape == (2, 2) and arr.tolist() == [[b"lr", b"0.1"], ["é".encode(), b"b"]]
    assert tensor_util.make_ndarray(values["title"].tensor).item() == b"run 1"


def test_bad_image_and_text_inputs_are_refused():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match=r"expected \[batch, height, width, 1\|3\|4\]"):
            tf.summary.image("x", tf.placeholder(tf.float32, [2, 3, 3]))
        with pytest.raises(ValueError, match="expected"):
            tf.summary.image("x", tf.placeholder(tf.float32, [2, 3, 3, 2]))
        with pytest.raises(TypeError, match="images are uint8"):
            tf.summary.image("x", tf.placeholder(tf.int32, [2, 3, 3, 1]))
        with pytest.raises(TypeError, match="takes a string tensor"):
            tf.summary.text("x", tf.constant(1.0))
    with pytest.raises(ValueError, match="uint8"):
        png.encode_png(np.zeros((2, 2, 3), np.float32))


def test_png_chunks_and_crcs_are_valid():
    img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = png.encode_png(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    verified = Image.open(io.BytesIO(data))
    verified.verify()               # PIL checks every chunk's CRC
    np.testing.assert_array_equal(_decode(data), img)
