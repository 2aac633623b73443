"""A custom `tf.estimator.Estimator`, after the TF1 getting-started guide (custom
estimators) and TensorFlow-Examples neural_network.py (Estimator version): a `model_fn`
returning `EstimatorSpec` for PREDICT / TRAIN / EVAL with `tf.metrics.accuracy`,
`tf.estimator.inputs.numpy_input_fn`, `train`, `evaluate`, `predict`, checkpoints in
`model_dir`.

Changed: `import compiler as tf`; local MNIST-shaped data; a temporary model_dir.
Expects an evaluated accuracy above 0.85.
"""

import tempfile

import local_data as input_data
import numpy as np

import compiler as tf

mnist = input_data.read_data_sets("/tmp/data/", one_hot=False)

learning_rate = 0.1
num_steps = 300
batch_size = 128
n_hidden_1 = 64
num_classes = 10


def neural_net(x_dict):
    x = x_dict['images']
    layer_1 = tf.layers.dense(x, n_hidden_1, activation=tf.nn.relu)
    return tf.layers.dense(layer_1, num_classes)


def model_fn(features, labels, mode):
    logits = neural_net(features)
    pred_classes = tf.argmax(logits, axis=1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=pred_classes)
    loss_op = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        logits=logits, labels=tf.cast(labels, dtype=tf.int32)))
    optimizer = tf.train.GradientDescentOptimizer(learning_rate=learning_rate)
    train_op = optimizer.minimize(loss_op, global_step=tf.train.get_global_step())
    acc_op = tf.metrics.accuracy(labels=labels, predictions=pred_classes)
    return tf.estimator.EstimatorSpec(mode=mode, predictions=pred_classes, loss=loss_op,
                                      train_op=train_op,
                                      eval_metric_ops={'accuracy': acc_op})


model = tf.estimator.Estimator(model_fn, model_dir=tempfile.mkdtemp())
input_fn = tf.estimator.inputs.numpy_input_fn(
    x={'images': mnist.train.images}, y=mnist.train.labels,
    batch_size=batch_size, num_epochs=None, shuffle=True)
model.train(input_fn, steps=num_steps)

input_fn = tf.estimator.inputs.numpy_input_fn(
    x={'images': mnist.test.images}, y=mnist.test.labels,
    batch_size=batch_size, shuffle=False)
e = model.evaluate(input_fn)
print("Testing Accuracy:", e['accuracy'])

input_fn = tf.estimator.inputs.numpy_input_fn(x={'images': mnist.test.images[:5]},
                                              shuffle=False)
preds = list(model.predict(input_fn))
ok = e['accuracy'] > 0.85 and np.array_equal(preds, mnist.test.labels[:5])
print(f"result: accuracy {e['accuracy']:.3f}, predictions {preds} (expected > 0.85, "
      f"{list(mnist.test.labels[:5])})")
raise SystemExit(0 if ok else 1)
