"""Build, train, compile and run: a LeNet-style convolutional network with batch norm on
scikit-learn's bundled digits, upsampled to 28x28.

1. Data: the 1797 8x8 digit images inside scikit-learn (`load_digits`: no download),
   upsampled to 28x28 with bilinear interpolation written here in numpy, as MNIST-sized
   [N, 28, 28, 1] NHWC images; a stratified 75 / 25 train / test split.
2. Build, as TF1 code is written: two blocks of `tf.layers.conv2d` (5x5, SAME) ->
   `tf.layers.batch_normalization(training=is_training)` -> relu ->
   `tf.layers.max_pooling2d` (2x2), then `tf.layers.flatten`, a dense layer, `tf.layers.
   dropout(training=is_training)` and a 10-way dense layer with softmax cross-entropy.
   The batch norms' moving averages (momentum 0.97, so that they settle within the two
   epochs of --small) are updated by the ops in `tf.GraphKeys.UPDATE_OPS`,
   run with the train op through the TF1 idiom
   `with tf.control_dependencies(update_ops): train_op = optimizer.minimize(loss)`; the
   script checks that they ran (each moving variance at least a quarter of the way from
   its initial 1 to its input's variance over the training images).
3. Train: Adam on mini-batches, each shifted by a random -2..2 pixels along each axis
   (np.roll: the digits' borders are blank), the learning rate fed through a placeholder
   and decayed by 0.8 per epoch; the test
   accuracy (inference mode: moving averages, no dropout) is printed per epoch. Target:
   at least 98.5 % on the 450 test images.
4. Compile: `fc.compile(probs, [x], OUT_DIR, session=sess)` writes a self-contained
   shared object of the inference graph with the trained weights (and moving averages)
   inside; `runtime.load(OUT_DIR)` runs it with numpy and ctypes alone, and its
   predictions must equal the Session's.

The script exits 1 when the accuracy is below the target or the compiled model disagrees.

Run:  python examples/cnn_digits.py [--small] [--epochs N] [--out DIR]
(12 epochs by default; --small, alias --quick: 2 epochs and a 90 % target, for the test
suite; scikit-learn comes with the test extra: pip install -e '.[test]')
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import compiler as tf
import runtime

TARGET = 0.985           # full run; --small (two epochs, for CI) only needs SMALL_TARGET
SMALL_TARGET = 0.90
SIZE = 28
LR, DECAY = 0.002, 0.8   # Adam's learning rate, fed per epoch: LR * DECAY ** (epoch - 1)
SHIFT = 2                # training batches are shifted by up to this many pixels


def upsample_bilinear(images, size=SIZE):
    """[n, h, w] -> [n, size, size] by bilinear interpolation with pixel centres aligned
    (source coordinate (i + 0.5) * h / size - 0.5, clamped to the image)."""
    h = images.shape[1]
    src = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, h - 1)
    f = src - i0
    rows = images[:, i0, :] * (1 - f)[None, :, None] + images[:, i1, :] * f[None, :, None]
    return rows[:, :, i0] * (1 - f) + rows[:, :, i1] * f


def load_data(seed):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    xs = upsample_bilinear(digits.images / 16.0).astype(np.float32)[..., None]
    ys = digits.target.astype(np.int64)
    return train_test_split(xs, ys, test_size=0.25, random_state=seed, stratify=ys)


def conv_block(h, filters, training, name, convs):
    h = tf.layers.conv2d(h, filters, 5, padding="same", use_bias=False, name=name)
    convs.append(h)                      # for the check of the moving averages
    h = tf.layers.batch_normalization(h, momentum=0.97, training=training, name=name + "_bn")
    h = tf.nn.relu(h)
    return tf.layers.max_pooling2d(h, pool_size=2, strides=2)


def moving_variances_updated(sess, x, convs, images):
    """Whether every batch norm's moving variance (initially 1) has moved at least a
    quarter of the way to the variance of its input over the training images, per channel
    (about half after the 84 steps of --small, all of it after a full run; none without
    the UPDATE_OPS). Returns (ok, the largest fraction of the way left)."""
    worst = 0.0
    for conv in convs:
        var = sess.run(conv, {x: images}).var(axis=(0, 1, 2))
        name = conv.name.split("/")[0] + "_bn/moving_variance"
        moving = sess.run([v for v in tf.global_variables() if v.name.startswith(name)][0])
        worst = max(worst, float(np.max(np.abs(moving - var) / np.abs(1.0 - var))))
    return worst < 0.75, worst


def build(seed=0):
    tf.set_random_seed(seed)
    x = tf.placeholder(tf.float32, [None, SIZE, SIZE, 1], name="x")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    is_training = tf.placeholder_with_default(False, [], name="is_training")
    convs = []
    h = conv_block(x, 8, is_training, "conv1", convs)
    h = conv_block(h, 16, is_training, "conv2", convs)
    h = tf.layers.flatten(h)
    h = tf.layers.dense(h, 64, activation=tf.nn.relu, name="dense")
    h = tf.layers.dropout(h, rate=0.3, training=is_training)
    logits = tf.layers.dense(h, 10, name="logits")
    probs = tf.nn.softmax(logits, name="probs")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits), name="loss")
    correct = tf.equal(tf.argmax(logits, axis=1), labels)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32), name="accuracy")
    global_step = tf.train.get_or_create_global_step()
    rate = tf.placeholder(tf.float32, [], name="learning_rate")
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        train_op = tf.train.AdamOptimizer(rate).minimize(loss, global_step=global_step)
    return x, labels, is_training, rate, probs, loss, accuracy, train_op, convs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", "--quick", action="store_true",
                        help="two epochs (for CI)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", default=None, help="where to write the compiled model "
                        "(default: a temporary directory)")
    args = parser.parse_args(argv)
    epochs = args.epochs or (2 if args.small else 12)
    target = SMALL_TARGET if args.small else TARGET

    x_train, x_test, y_train, y_test = load_data(seed=0)
    print(f"digits: {len(x_train)} train, {len(x_test)} test images, upsampled from 8x8 "
          f"to {SIZE}x{SIZE}")
    x, labels, is_training, rate, probs, loss, accuracy, train_op, convs = build()

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(x_train))
            for i in range(0, len(x_train), args.batch):
                idx = order[i:i + args.batch]
                dy, dx = rng.integers(-SHIFT, SHIFT + 1, size=2)
                batch = np.roll(x_train[idx], (dy, dx), axis=(1, 2))
                sess.run(train_op, {x: batch, labels: y_train[idx],
                                    is_training: True, rate: LR * DECAY ** (epoch - 1)})
            test_loss, test_acc = sess.run([loss, accuracy], {x: x_test, labels: y_test})
            print(f"epoch {epoch:3d}  test loss {test_loss:.4f}  "
                  f"test accuracy {100 * test_acc:.2f} %", flush=True)
        train_s = time.perf_counter() - t0
        test_acc = float(sess.run(accuracy, {x: x_test, labels: y_test}))
        session_probs = sess.run(probs, {x: x_test})
        bn_ok, bn_worst = moving_variances_updated(sess, x, convs, x_train)

        t1 = time.perf_counter()
        tmp = None
        if args.out is None:
            tmp = tempfile.TemporaryDirectory(prefix="flowc_cnn_digits_")
        out_dir = args.out or os.path.join(tmp.name, "cnn_digits")
        art = tf.compile(probs, [x], out_dir, name="cnn_digits", session=sess)
        compile_s = time.perf_counter() - t1

    with runtime.load(out_dir) as model:
        compiled_probs = model(x_test)
    if tmp is not None:
        tmp.cleanup()
    agree = np.mean(compiled_probs.argmax(1) == session_probs.argmax(1))
    max_diff = float(np.max(np.abs(compiled_probs - session_probs)))
    compiled_acc = float(np.mean(compiled_probs.argmax(1) == y_test))

    print(f"trained {epochs} epochs in {train_s:.2f} s; test accuracy {100 * test_acc:.2f} % "
          f"(target >= {100 * target:.1f} %)")
    print(f"compiled {os.path.basename(art.library)} in {compile_s:.2f} s; runtime.load on the "
          f"test set: accuracy {100 * compiled_acc:.2f} %, predictions agree with the Session "
          f"on {100 * agree:.1f} %, max |p_so - p_session| = {max_diff:.1e}")
    print(f"batch norm moving variances {'updated' if bn_ok else 'NOT UPDATED'} through "
          f"UPDATE_OPS (at most {100 * bn_worst:.0f} % of the way from 1 to the training "
          f"set's variance left)")
    ok = test_acc >= target and agree == 1.0 and max_diff < 1e-4 and bn_ok
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
