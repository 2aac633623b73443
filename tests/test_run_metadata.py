"""`RunOptions(trace_level=FULL_TRACE)` / `RunMetadata`: a traced step records one timed
entry per kernel call (LLVM: the timed entry's CLOCK_MONOTONIC stamps; the interpreter:
per node; the CUDA executable on the emulator: per launch), named after the user ops;
an untraced step never calls the timed entry; the RunMetadata protobuf, the tagged event
of `FileWriter.add_run_metadata` (read back with TensorBoard's protos) and the Chrome
trace of `timeline.Timeline`."""

from __future__ import annotations

import glob
import json
import os
import time

import numpy as np
import pytest
from cuda_emulator import emulated_gpu
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto import config_pb2, event_pb2

import compiler as tf

FULL = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)


def _model():
    x = tf.placeholder(tf.float32, [None, 16], name="x")
    w = tf.Variable(np.full((16, 8), 0.1, np.float32), name="w")
    hidden = tf.nn.relu(tf.matmul(x, w), name="hidden")
    loss = tf.reduce_sum(hidden * hidden, name="loss")
    step = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    return x, loss, step


def _traced_run(config=None):
    with tf.Graph().as_default() as g:
        x, loss, step = _model()
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            md = tf.RunMetadata()
            feeds = {x: np.ones((4, 16), np.float32)}
            before = time.monotonic_ns()
            sess.run([loss, step], feeds, options=FULL, run_metadata=md)
            after = time.monotonic_ns()
            exe = sess._cache[next(iter(k for k in sess._cache if x in k[2]))]
        names = {op.name for op in g.get_operations()}
    return md, exe, names, (before, after)


def test_llvm_step_records_each_kernel_call_in_order():
    md, exe, names, (before, after) = _traced_run()
    (dev,) = md.step_stats.dev_stats
    assert dev.device == "/job:localhost/replica:0/task:0/device:CPU:0"
    stats = dev.node_stats
    assert [(n.node_name, n.timeline_label.split(" = ")[1]) for n in stats] == \
        list(exe.call_labels)
    assert len(stats) >= 4 and {n.node_name for n in stats} <= names
    assert {"hidden", "loss"} <= {n.node_name for n in stats}
    ends = before
    for n in stats:       # sequential calls: each starts where the previous one ended
        assert n.all_start_nanos >= ends and n.all_end_rel_nanos >= 0
        ends = n.all_start_nanos + n.all_end_rel_nanos
        assert n.op_end_rel_micros == n.all_end_rel_micros == n.all_end_rel_nanos // 1000
    assert ends <= after


def test_untraced_runs_never_call_the_timed_entry():
    with tf.Graph().as_default():
        x, loss, step = _model()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(loss, {x: np.ones((2, 16), np.float32)})
            exe = next(e for k, e in sess._cache.items() if x in k[2])
            calls = []
            real = exe._timed_entry
            exe._timed_entry = lambda *a: calls.append(1) or real(*a)
            md = tf.RunMetadata()
            sess.run(loss, {x: np.ones((2, 16), np.float32)})
            sess.run(loss, {x: np.ones((2, 16), np.float32)},
                     options=tf.RunOptions(), run_metadata=md)   # NO_TRACE
            assert calls == [] and md.step_stats.dev_stats == []
            sess.run(loss, {x: np.ones((2, 16), np.float32)}, options=FULL, run_metadata=md)
            assert calls == [1] and len(md.step_stats.dev_stats[0].node_stats) >= 1


def test_interpreter_times_each_node():
    md, _, names, (before, after) = _traced_run(tf.ConfigProto(backend="interpret"))
    stats = md.step_stats.dev_stats[0].node_stats
    labels = [n.timeline_label for n in stats]
    assert "hidden = maximum" in labels and "loss = reduce_sum" in labels
    assert all(before <= n.all_start_nanos <= after for n in stats)


def test_cuda_executable_times_each_launch_on_the_emulator():
    gpu = tf.ConfigProto(device="gpu")
    with emulated_gpu():
        md, exe, names, _ = _traced_run(gpu)
    (dev,) = md.step_stats.dev_stats
    assert dev.device.endswith("device:GPU:0")
    assert [n.node_name for n in dev.node_stats] == [c["node"] for c in exe.schedule]
    assert "hidden" in [n.node_name for n in dev.node_stats]


def test_run_metadata_protobuf_event_and_chrome_trace(tmp_path):
    md, _, _, _ = _traced_run()
    parsed = config_pb2.RunMetadata.FromString(md.SerializeToString())
    (dev,) = parsed.step_stats.dev_stats
    ours = md.step_stats.dev_stats[0].node_stats
    assert dev.device == md.step_stats.dev_stats[0].device
    assert [(n.node_name, n.all_start_micros, n.all_end_rel_micros, n.op_end_rel_micros,
             n.timeline_label, n.all_start_nanos, n.all_end_rel_nanos)
            for n in dev.node_stats] == \
        [(n.node_name, n.all_start_micros, n.all_end_rel_micros, n.op_end_rel_micros,
          n.timeline_label, n.all_start_nanos, n.all_end_rel_nanos) for n in ours]
    writer = tf.summary.FileWriter(str(tmp_path))
    writer.add_run_metadata(md, "step_3", global_step=3)
    writer.close()
    (path,) = glob.glob(os.path.join(str(tmp_path), "events.out.tfevents.*"))
    tagged = [e for e in map(event_pb2.Event.FromString, RawEventFileLoader(path).Load())
              if e.WhichOneof("what") == "tagged_run_metadata"]
    assert len(tagged) == 1 and tagged[0].step == 3
    assert tagged[0].tagged_run_metadata.tag == "step_3"
    again = config_pb2.RunMetadata.FromString(tagged[0].tagged_run_metadata.run_metadata)
    assert again == parsed
    trace = json.loads(tf.timeline.Timeline(md.step_stats).generate_chrome_trace_format())
    ops = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert [e["name"] for e in ops] == [n.node_name for n in ours]
    assert all(e["dur"] >= 0 and e["ts"] > 0 for e in ops)
    with pytest.raises(TypeError, match="RunMetadata"):
        writer.add_run_metadata(b"x", "t")


def test_llvm_trace_of_a_loop_has_one_record_per_call_slot_summing_its_iterations():
    """A while loop's body kernels run once per iteration; the trace keeps one record per
    call of the host schedule (kir.flat_calls order): its first start and its durations
    summed over the iterations, so a 300-trip loop's body records take longer than a
    3-trip loop's and a branch not taken has no record."""
    with tf.Graph().as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        x = tf.placeholder(tf.float32, [None], name="x")
        _, total = tf.while_loop(lambda i, acc: i < n,
                                 lambda i, acc: (i + 1, tf.sin(acc) * 1.0001 + 1.0),
                                 (tf.constant(0), x), name="loop")
        other = tf.cond(n > 100000, lambda: tf.exp(total, name="never"),
                        lambda: tf.cos(total, name="taken"))
        with tf.Session() as sess:
            spans = {}
            for trips in (3, 3000):
                md = tf.RunMetadata()
                feeds = {n: trips, x: np.ones(20000, np.float32)}
                got = sess.run(other, feeds, options=FULL, run_metadata=md)
                np.testing.assert_allclose(got, sess.run(other, feeds), rtol=1e-6)
                stats = md.step_stats.dev_stats[0].node_stats
                names = [s.node_name for s in stats]
                assert "never" not in " ".join(names) and len(names) == len(set(
                    (s.node_name, s.timeline_label) for s in stats))
                starts = [s.all_start_nanos for s in stats]
                assert starts == sorted(starts) and all(s > 0 for s in starts)
                spans[trips] = sum(s.all_end_rel_nanos for s in stats
                                   if s.node_name.startswith("loop/"))
            assert sess.compile_count == 1
    assert spans[3000] > 10 * spans[3]
