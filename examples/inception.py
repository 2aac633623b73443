"""Inception-v3 at the seed's scale: build the training graph with the TF1 API, compile it,
run a training step and a batch-1 inference, and write the graph for TensorBoard and the
HTML viewer.

1. Build: Inception-v3 as in TF-slim's `inception_v3` (299x299x3 input; the stem convs
   Conv2d_1a_3x3 .. Conv2d_4a_3x3 with max pools; Mixed_5b..Mixed_5d, Mixed_6a..Mixed_6e
   with their 1x7/7x1 factorized branches, Mixed_7a..Mixed_7c with their split 1x3/3x1
   branches; every conv without bias and followed by batch norm and relu; average pooling
   to logits through a 1x1 conv), written with `tf.layers.conv2d`,
   `tf.layers.batch_normalization(training=...)`, `tf.layers.max_pooling2d` /
   `average_pooling2d` and `tf.concat`, as a TF1 user writes it. The training tower
   (training=True) and an inference tower (training=False, batch 1) share the variables
   (`reuse=True`). Loss: softmax cross-entropy on random labels; optimizer:
   `tf.train.MomentumOptimizer` under `tf.control_dependencies(UPDATE_OPS)` (the batch
   norms' moving averages).
2. Compile and run: one training step (cold compile, then the step time of the next
   steps), the same program again in a new Session from the compile cache, a batch-1
   inference, each checked against the interpreter
   (`tf.Session(config=tf.ConfigProto(backend="interpret"))`) on the same random weights.
3. Write: the graph as TensorBoard events (`tf.summary.FileWriter`) and as the HTML viewer
   (`tf.dump(..., format="html")`).
4. Print: user-graph node count (`len(tf.get_default_graph().get_operations())`, as TF
   counts), kernel count, compile time cold and from the cache, step time.

`--quick` builds a reduced net (107x107 input, batch 2, a quarter of the channels, one
block of each kind) so a test runs it in seconds; the full mode is what the figures in
docs/architecture.md ("Compile time of large graphs") were measured with. The cache goes
to a fresh temporary folder unless FLOWC_CACHE_DIR is set, so the first compile is cold.

Run:  python examples/inception.py [--quick] [--batch N] [--logdir DIR]
The script exits 1 when a compiled result disagrees with the interpreter.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

if "FLOWC_CACHE_DIR" not in os.environ:   # a fresh cache: the first compile is cold
    os.environ["FLOWC_CACHE_DIR"] = tempfile.mkdtemp(prefix="flowc-inception-cache-")

import numpy as np  # noqa: E402

import compiler as tf  # noqa: E402

NUM_CLASSES = 1001


class Net:
    """Inception-v3's layers; `depth(n)` scales channel counts (slim's depth_multiplier)."""

    def __init__(self, training, multiplier=1.0, full=True):
        self.training, self.multiplier, self.full = training, multiplier, full

    def depth(self, n):
        return max(int(n * self.multiplier), 8)

    def conv(self, x, n, k, stride=1, padding="same", name=None):
        with tf.variable_scope(name):
            x = tf.layers.conv2d(x, self.depth(n), k, strides=stride, padding=padding,
                                 use_bias=False, name="conv")
            x = tf.layers.batch_normalization(x, momentum=0.9997, epsilon=0.001,
                                              scale=False, training=self.training,
                                              name="BatchNorm")
            return tf.nn.relu(x)

    def stem(self, x):
        x = self.conv(x, 32, 3, 2, "valid", "Conv2d_1a_3x3")
        x = self.conv(x, 32, 3, 1, "valid", "Conv2d_2a_3x3")
        x = self.conv(x, 64, 3, 1, "same", "Conv2d_2b_3x3")
        x = tf.layers.max_pooling2d(x, 3, 2, "valid", name="MaxPool_3a_3x3")
        x = self.conv(x, 80, 1, 1, "valid", "Conv2d_3b_1x1")
        x = self.conv(x, 192, 3, 1, "valid", "Conv2d_4a_3x3")
        return tf.layers.max_pooling2d(x, 3, 2, "valid", name="MaxPool_5a_3x3")

    def mixed_5(self, x, pool_depth, name):
        with tf.variable_scope(name):
            b0 = self.conv(x, 64, 1, name="Branch_0/Conv2d_0a_1x1")
            b1 = self.conv(x, 48, 1, name="Branch_1/Conv2d_0a_1x1")
            b1 = self.conv(b1, 64, 5, name="Branch_1/Conv2d_0b_5x5")
            b2 = self.conv(x, 64, 1, name="Branch_2/Conv2d_0a_1x1")
            b2 = self.conv(b2, 96, 3, name="Branch_2/Conv2d_0b_3x3")
            b2 = self.conv(b2, 96, 3, name="Branch_2/Conv2d_0c_3x3")
            b3 = tf.layers.average_pooling2d(x, 3, 1, "same", name="Branch_3/AvgPool_0a_3x3")
            b3 = self.conv(b3, pool_depth, 1, name="Branch_3/Conv2d_0b_1x1")
            return tf.concat([b0, b1, b2, b3], axis=3)

    def mixed_6a(self, x):
        with tf.variable_scope("Mixed_6a"):
            b0 = self.conv(x, 384, 3, 2, "valid", "Branch_0/Conv2d_1a_1x1")
            b1 = self.conv(x, 64, 1, name="Branch_1/Conv2d_0a_1x1")
            b1 = self.conv(b1, 96, 3, name="Branch_1/Conv2d_0b_3x3")
            b1 = self.conv(b1, 96, 3, 2, "valid", "Branch_1/Conv2d_1a_1x1")
            b2 = tf.layers.max_pooling2d(x, 3, 2, "valid", name="Branch_2/MaxPool_1a_3x3")
            return tf.concat([b0, b1, b2], axis=3)

    def mixed_6(self, x, mid, name):
        with tf.variable_scope(name):
            b0 = self.conv(x, 192, 1, name="Branch_0/Conv2d_0a_1x1")
            b1 = self.conv(x, mid, 1, name="Branch_1/Conv2d_0a_1x1")
            b1 = self.conv(b1, mid, [1, 7], name="Branch_1/Conv2d_0b_1x7")
            b1 = self.conv(b1, 192, [7, 1], name="Branch_1/Conv2d_0c_7x1")
            b2 = self.conv(x, mid, 1, name="Branch_2/Conv2d_0a_1x1")
            b2 = self.conv(b2, mid, [7, 1], name="Branch_2/Conv2d_0b_7x1")
            b2 = self.conv(b2, mid, [1, 7], name="Branch_2/Conv2d_0c_1x7")
            b2 = self.conv(b2, mid, [7, 1], name="Branch_2/Conv2d_0d_7x1")
            b2 = self.conv(b2, 192, [1, 7], name="Branch_2/Conv2d_0e_1x7")
            b3 = tf.layers.average_pooling2d(x, 3, 1, "same", name="Branch_3/AvgPool_0a_3x3")
            b3 = self.conv(b3, 192, 1, name="Branch_3/Conv2d_0b_1x1")
            return tf.concat([b0, b1, b2, b3], axis=3)

    def mixed_7a(self, x):
        with tf.variable_scope("Mixed_7a"):
            b0 = self.conv(x, 192, 1, name="Branch_0/Conv2d_0a_1x1")
            b0 = self.conv(b0, 320, 3, 2, "valid", "Branch_0/Conv2d_1a_3x3")
            b1 = self.conv(x, 192, 1, name="Branch_1/Conv2d_0a_1x1")
            b1 = self.conv(b1, 192, [1, 7], name="Branch_1/Conv2d_0b_1x7")
            b1 = self.conv(b1, 192, [7, 1], name="Branch_1/Conv2d_0c_7x1")
            b1 = self.conv(b1, 192, 3, 2, "valid", "Branch_1/Conv2d_1a_3x3")
            b2 = tf.layers.max_pooling2d(x, 3, 2, "valid", name="Branch_2/MaxPool_1a_3x3")
            return tf.concat([b0, b1, b2], axis=3)

    def mixed_7(self, x, name):
        with tf.variable_scope(name):
            b0 = self.conv(x, 320, 1, name="Branch_0/Conv2d_0a_1x1")
            b1 = self.conv(x, 384, 1, name="Branch_1/Conv2d_0a_1x1")
            b1 = tf.concat([self.conv(b1, 384, [1, 3], name="Branch_1/Conv2d_0b_1x3"),
                            self.conv(b1, 384, [3, 1], name="Branch_1/Conv2d_0b_3x1")], 3)
            b2 = self.conv(x, 448, 1, name="Branch_2/Conv2d_0a_1x1")
            b2 = self.conv(b2, 384, 3, name="Branch_2/Conv2d_0b_3x3")
            b2 = tf.concat([self.conv(b2, 384, [1, 3], name="Branch_2/Conv2d_0c_1x3"),
                            self.conv(b2, 384, [3, 1], name="Branch_2/Conv2d_0d_3x1")], 3)
            b3 = tf.layers.average_pooling2d(x, 3, 1, "same", name="Branch_3/AvgPool_0a_3x3")
            b3 = self.conv(b3, 192, 1, name="Branch_3/Conv2d_0b_1x1")
            return tf.concat([b0, b1, b2, b3], axis=3)

    def logits(self, images):
        """Logits [batch, NUM_CLASSES] of `images` [batch, H, W, 3]."""
        x = self.stem(images)
        x = self.mixed_5(x, 32, "Mixed_5b")
        for name in (("Mixed_5c", "Mixed_5d") if self.full else ()):
            x = self.mixed_5(x, 64, name)
        x = self.mixed_6a(x)
        for mid, name in (((128, "Mixed_6b"), (160, "Mixed_6c"), (160, "Mixed_6d"),
                           (192, "Mixed_6e")) if self.full else ((128, "Mixed_6b"),)):
            x = self.mixed_6(x, mid, name)
        x = self.mixed_7a(x)
        for name in (("Mixed_7b", "Mixed_7c") if self.full else ("Mixed_7b",)):
            x = self.mixed_7(x, name)
        k = [min(8, int(d)) for d in x.shape[1:3]]   # slim's reduced kernel for small inputs
        x = tf.layers.average_pooling2d(x, k, 1, "valid", name="Logits/AvgPool_1a")
        x = tf.layers.conv2d(x, NUM_CLASSES, 1, name="Logits/Conv2d_1c_1x1")
        return tf.layers.flatten(x, name="Logits/SpatialSqueeze")


def build(size, batch, multiplier, full, lr=0.01):
    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [batch, size, size, 3], name="images")
    labels = tf.placeholder(tf.int64, [batch], name="labels")
    with tf.variable_scope("InceptionV3"):
        logits = Net(True, multiplier, full).logits(images)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits), name="loss")
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.MomentumOptimizer(lr, 0.9).minimize(loss)
    image = tf.placeholder(tf.float32, [1, size, size, 3], name="image")
    with tf.variable_scope("InceptionV3", reuse=True):
        probs = tf.nn.softmax(Net(False, multiplier, full).logits(image), name="probs")
    return images, labels, loss, train_op, image, probs


def kernel_count(sess, fetches, feeds):
    """(kernel calls, distinct kernels) of a traced run (TF1's RunMetadata: one node stat
    per kernel call, labelled "node = kernel")."""
    md = tf.RunMetadata()
    sess.run(fetches, feeds, options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE),
             run_metadata=md)
    stats = md.step_stats.dev_stats[0].node_stats
    return len(stats), len({s.timeline_label.split(" = ")[1] for s in stats})


def close(name, got, want, rtol, atol) -> bool:
    ok = np.allclose(got, want, rtol=rtol, atol=atol)
    err = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    print(f"  {name}: max |compiled - interpreted| = {err:.2e}  {'ok' if ok else 'MISMATCH'}")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced net (for CI)")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--logdir", default=None, help="TensorBoard events and the HTML "
                        "viewer go here (default: a temporary folder)")
    args = parser.parse_args(argv)
    size, multiplier = (107, 0.25) if args.quick else (299, 1.0)
    batch = args.batch or (2 if args.quick else 8)
    logdir = args.logdir or tempfile.mkdtemp(prefix="flowc-inception-")

    t0 = time.perf_counter()
    images, labels, loss, train_op, image, probs = build(size, batch, multiplier,
                                                         full=not args.quick)
    graph = tf.get_default_graph()
    print(f"Inception-v3 {'(quick) ' if args.quick else ''}{size}x{size}, batch {batch}: "
          f"{len(graph.get_operations())} user-graph nodes (training + inference towers), "
          f"built in {time.perf_counter() - t0:.1f} s")

    rng = np.random.default_rng(0)
    feeds = {images: rng.standard_normal((batch, size, size, 3)).astype(np.float32),
             labels: rng.integers(0, NUM_CLASSES, batch)}
    one = {image: rng.standard_normal((1, size, size, 3)).astype(np.float32)}
    init = tf.global_variables_initializer()
    ok = True
    interp = tf.Session(config=tf.ConfigProto(backend="interpret"))
    interp.run(init)
    weights = {v: interp.run(v) for v in tf.global_variables()}

    sess = tf.Session()
    sess.run(init)
    for v, value in weights.items():   # the same random weights in both sessions
        v.load(value, sess)
    t0 = time.perf_counter()
    got_loss, _ = sess.run([loss, train_op], feeds)
    cold = time.perf_counter() - t0
    want_loss, _ = interp.run([loss, train_op], feeds)
    print("training step vs the interpreter:")
    ok &= close("loss", got_loss, want_loss, 1e-4, 1e-4)
    trainable = tf.trainable_variables()
    for var, tol in ((trainable[0], 5e-2), (trainable[-2], 1e-3), (trainable[-1], 1e-3)):
        # the step's update of the first layer's and the logits' variables, relative to
        # its largest entry. The first layer's is loose: rounding differences of the
        # forward pass flip a few relu masks, and batch norm's backward subtracts nearly
        # equal terms; at 299x299 both backends differ there by about 3 % of the largest
        # entry, at --quick by about 5e-5
        step = interp.run(var) - weights[var]
        ok &= close(f"update of {var.op.name}", (sess.run(var) - weights[var]) / abs(
            step).max(), step / abs(step).max(), 0, tol)
    calls, kernels = kernel_count(sess, [loss, train_op], feeds)

    steps = []
    for _ in range(3):
        t0 = time.perf_counter()
        sess.run([loss, train_op], feeds)
        steps.append(time.perf_counter() - t0)

    for v in tf.global_variables():   # the trained state, moving averages included
        v.load(sess.run(v), interp)
    t0 = time.perf_counter()
    got = sess.run(probs, one)
    infer_compile = time.perf_counter() - t0
    print("batch-1 inference (after the steps) vs the interpreter:")
    ok &= close("probs", got, interp.run(probs, one), 1e-3, 1e-6)

    cached_sess = tf.Session()     # a new Session: the compile cache on disk
    cached_sess.run(init)
    t0 = time.perf_counter()
    cached_sess.run([loss, train_op], feeds)
    cached = time.perf_counter() - t0

    writer = tf.summary.FileWriter(logdir, graph)
    writer.close()
    html = os.path.join(logdir, "inception.html")
    with open(html, "w") as f:
        f.write(tf.dump([loss, train_op], feeds=list(feeds), format="html")["html"])

    print(f"training step: {calls} kernel calls of {kernels} distinct kernels")
    print(f"compile (cold, training step): {cold:.1f} s")
    print(f"compile (from the cache, new Session): {cached:.2f} s, its first training step "
          f"included (a step alone: {min(steps) * 1e3:.0f} ms)")
    print(f"compile + first run (batch-1 inference): {infer_compile:.1f} s")
    print(f"step time: {min(steps) * 1e3:.0f} ms (best of {len(steps)})")
    print(f"TensorBoard events and {os.path.basename(html)} in {logdir}")
    print("ok" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
