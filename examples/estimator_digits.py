"""A TF1 Estimator program, unchanged but for the import: scikit-learn's bundled digits
classified by a custom `model_fn` Estimator and by the canned `DNNClassifier`.

The program is written as the TF1 tutorials wrote it: `tf.app.run(main)` with `tf.flags`,
`tf.estimator.inputs.numpy_input_fn` for the input, `tf.metrics.accuracy` in the
`EstimatorSpec`, `train` / `evaluate` / `predict`, checkpoints in `--model_dir` (a second
run on the same directory resumes from the saved global step). Both models must reach
the target test accuracy (0.93; 0.85 with --small), and predict's classes must give
the accuracy that evaluate reports; otherwise the script exits 1.

Run:  python examples/estimator_digits.py [--small] [--model_dir DIR]
(scikit-learn comes with the test extra: pip install -e '.[test]')
"""

import os
import sys
import tempfile

import numpy as np

import compiler as tf

flags = tf.flags
flags.DEFINE_string("model_dir", None, "where the checkpoints go (default: a new temp dir)")
flags.DEFINE_integer("steps", 600, "training steps of each model")
flags.DEFINE_boolean("small", False, "a short run for CI")
FLAGS = flags.FLAGS


def load_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    xs = (digits.data / 16.0).astype(np.float32)
    ys = digits.target.astype(np.int64)
    return train_test_split(xs, ys, test_size=0.25, random_state=0, stratify=ys)


def model_fn(features, labels, mode, params):
    """A 64-64-10 perceptron with dropout, trained by Adam."""
    net = tf.layers.dense(features["pixels"], params["hidden"], activation=tf.nn.relu)
    net = tf.layers.dropout(net, rate=0.2, training=mode == tf.estimator.ModeKeys.TRAIN)
    logits = tf.layers.dense(net, 10)
    classes = tf.argmax(logits, axis=1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={
            "class": classes, "probabilities": tf.nn.softmax(logits)})
    loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    metrics = {"accuracy": tf.metrics.accuracy(labels=labels, predictions=classes)}
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
    optimizer = tf.train.AdamOptimizer(learning_rate=params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def run(name, estimator, data, steps):
    x_train, x_test, y_train, y_test = data
    train_input = tf.estimator.inputs.numpy_input_fn(
        x={"pixels": x_train}, y=y_train, batch_size=64, num_epochs=None, shuffle=True)
    test_input = tf.estimator.inputs.numpy_input_fn(
        x={"pixels": x_test}, y=y_test, batch_size=128, num_epochs=1, shuffle=False)
    estimator.train(input_fn=train_input, steps=steps)
    result = estimator.evaluate(input_fn=test_input)
    classes = np.array([p["class_ids"][0] if "class_ids" in p else p["class"]
                        for p in estimator.predict(input_fn=test_input)])
    agree = abs((classes == y_test).mean() - result["accuracy"]) < 1e-6
    print(f"{name}: step {result['global_step']}  loss {result['loss']:.4f}  "
          f"test accuracy {result['accuracy']:.4f}  "
          f"predict {'agrees' if agree else 'DISAGREES'} with evaluate")
    return result["accuracy"], agree


def main(_):
    tf.logging.set_verbosity(tf.logging.WARN)
    steps = 150 if FLAGS.small else FLAGS.steps
    target = 0.85 if FLAGS.small else 0.93
    model_dir = FLAGS.model_dir or tempfile.mkdtemp(prefix="estimator_digits_")
    data = load_data()
    config = tf.estimator.RunConfig(tf_random_seed=1, save_checkpoints_steps=100)
    custom = tf.estimator.Estimator(model_fn, model_dir=os.path.join(model_dir, "custom"),
                                    config=config,
                                    params={"hidden": 64, "learning_rate": 0.003})
    canned = tf.estimator.DNNClassifier(
        hidden_units=[64], n_classes=10, optimizer="Adam",
        feature_columns=[tf.feature_column.numeric_column("pixels", shape=(64,))],
        model_dir=os.path.join(model_dir, "dnn"), config=config)
    ok = True
    for name, est in (("custom model_fn", custom), ("DNNClassifier", canned)):
        accuracy, agree = run(name, est, data, steps)
        ok = ok and agree and accuracy >= target
    print("targets met" if ok else f"TARGET MISSED (accuracy >= {target} wanted)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    tf.app.run(main)
