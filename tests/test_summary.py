"""fc.summary: summary ops run by the Session, FileWriter event files, read back with
TensorBoard's own reader (EventFileLoader) and protos, and served by a real TensorBoard.

The protos from tensorboard.compat.proto are used here only, to check what flowc's
hand-written encoder (compiler/summary/proto.py) produced."""

import glob
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto import graph_pb2, summary_pb2
from tensorboard.util import tensor_util

import compiler as fc
from compiler.summary import proto
from compiler.summary.records import crc32c, masked_crc32c, record


def build_regression():
    """The seed's model with name scopes, a device, a control dependency and summaries."""
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        y = fc.placeholder(fc.float32, [None, 1], name="y")
        with fc.name_scope("model"), fc.device("/cpu:0"):
            w = fc.Variable(np.zeros((3, 1), np.float32), name="w")
            b = fc.Variable(0.0, name="b")
            y_hat = fc.tanh(fc.matmul(x, w) + b, name="y_hat")
        with fc.name_scope("loss"):
            loss = fc.reduce_mean(fc.square(y_hat - y), name="mse")
        train = fc.train.GradientDescentOptimizer(0.5).minimize(loss)
        with fc.control_dependencies([train]):
            done = fc.no_op(name="done")
        with fc.name_scope("summaries"):
            fc.summary.scalar("loss", loss)
            fc.summary.histogram("w", w)
        merged = fc.summary.merge_all()
    return g, dict(x=x, y=y, w=w, b=b, loss=loss, train=train, done=done, merged=merged)


def data(n=16):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((n, 3)).astype(np.float32)
    return xs, np.tanh(xs @ np.array([[0.5], [-0.3], [0.2]], np.float32)).astype(np.float32)


def events(path):
    files = sorted(glob.glob(os.path.join(path, "events.out.tfevents.*")))
    assert len(files) == 1, files
    return list(EventFileLoader(files[0]).Load())


def graph_of(evs) -> graph_pb2.GraphDef:
    graphs = [e.graph_def for e in evs if e.WhichOneof("what") == "graph_def"]
    assert len(graphs) == 1
    return graph_pb2.GraphDef.FromString(graphs[0])


def scalars(evs, tag):
    out = []
    for e in evs:
        for v in e.summary.value:
            if v.tag == tag:
                out.append((e.step, float(tensor_util.make_ndarray(v.tensor))))
    return out


# ---- the wire format -------------------------------------------------------------------------
def test_crc32c_and_record_framing():
    assert crc32c(b"123456789") == 0xE3069283          # the CRC-32C check value
    assert crc32c(b"") == 0
    payload = b"hello"
    rec = record(payload)
    assert struct.unpack("<Q", rec[:8])[0] == 5
    assert struct.unpack("<I", rec[8:12])[0] == masked_crc32c(rec[:8])
    assert rec[12:17] == payload
    assert struct.unpack("<I", rec[17:])[0] == masked_crc32c(payload)


def test_proto_encoder_matches_the_real_messages():
    shape = graph_pb2.GraphDef.FromString(proto.graph_def([proto.node_def(
        "a/b", "add", ["x", "^c"], "/cpu:0",
        {"T": proto.attr_type("int64"), "_output_shapes": proto.attr_shapes([[-1, 3], None]),
         "axes": proto.attr_ints([0, -1]), "keep": proto.attr_bool(True),
         "f": proto.attr_float(0.5), "s": proto.attr_string("π")})]))
    node = shape.node[0]
    assert (node.name, node.op, list(node.input), node.device) == \
        ("a/b", "add", ["x", "^c"], "/cpu:0")
    assert node.attr["T"].type == 9                       # DT_INT64
    shapes = node.attr["_output_shapes"].list.shape
    assert [d.size for d in shapes[0].dim] == [-1, 3] and shapes[1].unknown_rank
    assert list(node.attr["axes"].list.i) == [0, -1]
    assert node.attr["keep"].b and node.attr["f"].f == 0.5
    assert node.attr["s"].s.decode() == "π"
    assert shape.versions.producer == 22


# ---- summary ops in the Session ------------------------------------------------------------------
def test_session_returns_summary_bytes_built_on_the_host():
    g, t = build_regression()
    xs, ys = data()
    with fc.Session(graph=g) as sess:
        sess.run(fc.global_variables_initializer())
        merged, loss = sess.run([t["merged"], t["loss"]], {t["x"]: xs, t["y"]: ys})
        assert isinstance(merged, bytes)
        summary = summary_pb2.Summary.FromString(merged)
        assert [v.tag for v in summary.value] == ["summaries/loss", "summaries/w"]
        assert summary.value[0].simple_value == pytest.approx(float(loss), rel=1e-6)
        histo = summary.value[1].histo
        assert (histo.num, histo.min, histo.max, histo.sum) == (3, 0, 0, 0)
        # the summaries compile to the program of their numeric inputs
        count = sess.compile_count
        sess.run([t["loss"], t["w"]], {t["x"]: xs, t["y"]: ys})
        assert sess.compile_count == count
        # a scalar summary of its own, from make_callable, in a nest
        scalar_op = g.get_tensor_by_name("summaries/loss:0")
        call = sess.make_callable({"s": scalar_op, "l": [t["loss"]]}, [t["x"], t["y"]])
        out = call(xs, ys)
        assert summary_pb2.Summary.FromString(out["s"]).value[0].simple_value == \
            pytest.approx(float(out["l"][0]), rel=1e-6)


def test_summary_ops_stay_out_of_the_compiler_ir():
    g, t = build_regression()
    with g.as_default():
        text = fc.dump(t["loss"], stages=["input"])["input"]
    assert "Summary" not in text
    assert g.get_operation_by_name("summaries/loss").type == "ScalarSummary"
    assert g.get_operation_by_name("Merge/MergeSummary").type == "MergeSummary"


def test_histogram_values_and_merge_all_edge_cases():
    g = fc.Graph()
    with g.as_default():
        assert fc.summary.merge_all() is None
        v = fc.constant(np.arange(10, dtype=np.float32))
        h = fc.summary.histogram("values", v)
        with pytest.raises(ValueError, match="one element"):
            fc.summary.scalar("bad", v)
        with pytest.raises(TypeError, match="summary tensors"):
            fc.summary.merge([v])
        with fc.Session() as sess:
            histo = summary_pb2.Summary.FromString(sess.run(h)).value[0].histo
    assert (histo.min, histo.max, histo.num, histo.sum) == (0, 9, 10, 45)
    assert histo.sum_squares == 285 and sum(histo.bucket) == 10
    assert histo.bucket_limit[-1] == 9


# ---- event files -------------------------------------------------------------------------------
def train_and_write(logdir, steps=5):
    g, t = build_regression()
    xs, ys = data()
    with fc.Session(graph=g) as sess:
        sess.run(fc.global_variables_initializer())
        with fc.summary.FileWriter(str(logdir), sess.graph) as writer:
            for step in range(steps):
                summary, _ = sess.run([t["merged"], t["train"]], {t["x"]: xs, t["y"]: ys})
                writer.add_summary(summary, step)
            writer.add_compiled_graph([t["loss"], t["train"]])
    return g


def test_file_writer_graph_and_scalars_read_by_tensorboard(tmp_path):
    g = train_and_write(tmp_path)
    evs = events(str(tmp_path))
    assert evs[0].file_version == "brain.Event:2"
    graph = graph_of(evs)
    nodes = {n.name: n for n in graph.node}
    assert len(nodes) == len(g.get_operations())
    mm = nodes["model/MatMul"]
    assert mm.op == "matmul" and list(mm.input) == ["x", "model/w"]
    assert mm.device == "/cpu:0"
    assert mm.attr["T"].type == 1                                     # DT_FLOAT
    assert [d.size for d in mm.attr["_output_shapes"].list.shape[0].dim] == [-1, 1]
    assert mm.attr["loc"].s.decode().startswith("test_summary.py:")
    assert nodes["x"].attr["dtype"].type == 1
    assert list(nodes["done"].input) == ["^" + t for t in
                                         [op.name for op in
                                          g.get_operation_by_name("done").control_inputs]]
    assert nodes["summaries/loss"].op == "ScalarSummary"
    assert nodes["summaries/loss"].attr["T"].type == 7               # DT_STRING
    losses = scalars(evs, "summaries/loss")
    assert [s for s, _ in losses] == list(range(5))
    assert losses[-1][1] < losses[0][1]


def test_compiled_graph_run_groups_nodes_by_kernel(tmp_path):
    train_and_write(tmp_path)
    graph = graph_of(events(str(tmp_path / "compiled")))
    names = [n.name for n in graph.node]
    kernels = {n.split("/")[0] for n in names if n.startswith("kernel_")}
    assert len(kernels) >= 3
    assert any(k.endswith("_matmul") for k in kernels)
    by_name = {n.name: n for n in graph.node}
    for n in graph.node:
        for i in n.input:
            assert i.lstrip("^") in by_name, (n.name, i)
        if n.name.startswith("kernel_"):
            assert n.attr["kernel"].i == int(n.name.split("_")[1])
            assert n.attr["fusion_reason"].s
    assert "x" in by_name and by_name["x"].op == "placeholder"


def test_file_writer_api(tmp_path):
    writer = fc.summary.FileWriter(str(tmp_path / "run"), filename_suffix=".v2")
    assert writer.get_logdir() == str(tmp_path / "run")
    assert writer.path.endswith(".v2") and "tfevents" in writer.path
    writer.add_summary(proto.summary_scalar("a", 1.5), global_step=7)
    writer.flush()
    with pytest.raises(TypeError, match="bytes"):
        writer.add_summary(3.0)
    writer.close()
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.add_summary(proto.summary_scalar("a", 1.0))
    assert scalars(events(str(tmp_path / "run")), "a") == [(7, 1.5)]


# ---- a real TensorBoard server ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def test_tensorboard_server_serves_graph_and_scalars(tmp_path):
    logdir = tmp_path / "logs"
    train_and_write(logdir)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
         "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 15   # it answers in ~1.5 s on an idle machine
        runs = []
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"tensorboard exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                runs = json.loads(_get(base + "/data/runs", 1.0))
                tags = json.loads(_get(base + "/data/plugin/scalars/tags", 1.0))
                if "compiled" in runs and "summaries/loss" in tags.get(".", {}):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert "." in runs and "compiled" in runs, runs
        graph = _get(base + "/data/plugin/graphs/graph?run=.&conceptual=false").decode()
        assert 'name: "model/MatMul"' in graph and 'device: "/cpu:0"' in graph
        compiled = _get(base + "/data/plugin/graphs/graph?run=compiled").decode()
        assert 'name: "kernel_0_' in compiled
        points = json.loads(_get(base + "/data/plugin/scalars/scalars?run=.&tag=summaries/loss"))
        assert [p[1] for p in points] == list(range(5))
        assert points[-1][2] < points[0][2]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        proc.stderr.close()


def test_regression_example_writes_what_tensorboard_shows(tmp_path):
    """The seed's example with --logdir: the graph with scopes, the loss per epoch, the
    compiled run and the HTML viewer; its output is otherwise the plain run's."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, os.path.join(root, "examples", "regression.py"),
                           "--small", "--epochs", "3", "--logdir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "learned" in proc.stdout or "NOT LEARNED" in proc.stdout
    evs = events(str(tmp_path))
    names = {n.name for n in graph_of(evs).node}
    assert {"model/w", "model/MatMul", "mse", "x", "y"} <= names
    assert any(n.startswith("gradients/") for n in names)
    losses = scalars(evs, "loss")
    assert [s for s, _ in losses] == [0, 1, 2, 3] and losses[-1][1] < losses[0][1]
    printed = [float(line.split()[-1]) for line in proc.stdout.splitlines()
               if line.startswith("epoch")]
    assert [v for _, v in losses] == pytest.approx(printed, abs=1e-6)   # printed "%.6f"
    assert any(n.startswith("kernel_") for n in
               (m.name for m in graph_of(events(str(tmp_path / "compiled"))).node))
    assert (tmp_path / "graph.html").read_text().startswith("<!DOCTYPE html>")


def test_summaries_of_fed_values_and_dump_of_a_summary():
    g = fc.Graph()
    with g.as_default():
        p = fc.placeholder(fc.float32, [], name="p")
        s = fc.summary.scalar("p", p)
        with fc.Session() as sess:
            assert summary_pb2.Summary.FromString(sess.run(s, {p: 3.0})).value[0] \
                .simple_value == 3.0
        assert "placeholder" in fc.dump(s, stages="input")["input"]


def test_a_summary_as_a_control_dependency_orders_nothing_compiled():
    # it only builds a string on the host when fetched, so compiled code ignores it
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None])
        s = fc.summary.scalar("m", fc.reduce_mean(x))
        with fc.control_dependencies([s]):
            y = x * 2.0
        with fc.Session() as sess:
            got, summary = sess.run([y, s], {x: np.ones(3, np.float32)})
    np.testing.assert_array_equal(got, [2.0, 2.0, 2.0])
    parsed = summary_pb2.Summary.FromString(summary)
    assert parsed.value[0].tag == "m" and parsed.value[0].simple_value == 1.0
