"""CIFAR-10 convolutional network, after TensorFlow's tutorial model
(tensorflow/models tutorials/image/cifar10/cifar10.py and cifar10_train.py, TF1):
`inference` with variables made by `tf.get_variable` under `tf.device('/cpu:0')` in
`tf.variable_scope`s, weight decay through `tf.nn.l2_loss` in the 'losses' collection,
`tf.nn.conv2d` + `tf.nn.bias_add` + relu, 3x3 stride-2 SAME `tf.nn.max_pool`,
`tf.nn.lrn` after each pool/conv, two fully connected layers; `loss` as `tf.add_n` of the
collection; `train` with `compute_gradients` / `apply_gradients` and a global step;
precision at 1 with `tf.nn.in_top_k` as in cifar10_eval.py.

Changed: `import compiler as tf`; local CIFAR-10-shaped data (24x24x3 crops, standardized
per image) fed through placeholders instead of the input queues; 16 and 16 filters,
96 and 48 hidden units instead of 64, 64, 384 and 192; 250 steps of batch 64 at the
initial learning rate 0.1, kept constant: train() leaves out `tf.train.exponential_decay`
and the `ExponentialMovingAverage`s of the losses and variables, and inference() the activation
summaries (`tf.nn.zero_fraction`): flowc does not have those yet. Expects a precision at 1
above 0.85.
"""

from __future__ import absolute_import, division, print_function

import local_data

import compiler as tf

NUM_CLASSES = 10
batch_size = 64
max_steps = 250
INITIAL_LEARNING_RATE = 0.1


def _variable_on_cpu(name, shape, initializer):
    """Helper to create a Variable stored on CPU memory."""
    with tf.device('/cpu:0'):
        dtype = tf.float32
        var = tf.get_variable(name, shape, initializer=initializer, dtype=dtype)
    return var


def _variable_with_weight_decay(name, shape, stddev, wd):
    """Helper to create an initialized Variable with weight decay."""
    dtype = tf.float32
    var = _variable_on_cpu(
        name,
        shape,
        tf.truncated_normal_initializer(stddev=stddev, dtype=dtype))
    if wd is not None:
        weight_decay = tf.multiply(tf.nn.l2_loss(var), wd, name='weight_loss')
        tf.add_to_collection('losses', weight_decay)
    return var


def inference(images):
    """Build the CIFAR-10 model."""
    # conv1
    with tf.variable_scope('conv1') as scope:
        kernel = _variable_with_weight_decay('weights',
                                             shape=[5, 5, 3, 16],
                                             stddev=5e-2,
                                             wd=None)
        conv = tf.nn.conv2d(images, kernel, [1, 1, 1, 1], padding='SAME')
        biases = _variable_on_cpu('biases', [16], tf.constant_initializer(0.0))
        pre_activation = tf.nn.bias_add(conv, biases)
        conv1 = tf.nn.relu(pre_activation, name=scope.name)

    # pool1
    pool1 = tf.nn.max_pool(conv1, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1],
                           padding='SAME', name='pool1')
    # norm1
    norm1 = tf.nn.lrn(pool1, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75,
                      name='norm1')

    # conv2
    with tf.variable_scope('conv2') as scope:
        kernel = _variable_with_weight_decay('weights',
                                             shape=[5, 5, 16, 16],
                                             stddev=5e-2,
                                             wd=None)
        conv = tf.nn.conv2d(norm1, kernel, [1, 1, 1, 1], padding='SAME')
        biases = _variable_on_cpu('biases', [16], tf.constant_initializer(0.1))
        pre_activation = tf.nn.bias_add(conv, biases)
        conv2 = tf.nn.relu(pre_activation, name=scope.name)

    # norm2
    norm2 = tf.nn.lrn(conv2, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75,
                      name='norm2')
    # pool2
    pool2 = tf.nn.max_pool(norm2, ksize=[1, 3, 3, 1],
                           strides=[1, 2, 2, 1], padding='SAME', name='pool2')

    # local3
    with tf.variable_scope('local3') as scope:
        # Move everything into depth so we can perform a single matrix multiply.
        reshape = tf.reshape(pool2, [images.get_shape().as_list()[0], -1])
        dim = reshape.get_shape()[1].value
        weights = _variable_with_weight_decay('weights', shape=[dim, 96],
                                              stddev=0.04, wd=0.004)
        biases = _variable_on_cpu('biases', [96], tf.constant_initializer(0.1))
        local3 = tf.nn.relu(tf.matmul(reshape, weights) + biases, name=scope.name)

    # local4
    with tf.variable_scope('local4') as scope:
        weights = _variable_with_weight_decay('weights', shape=[96, 48],
                                              stddev=0.04, wd=0.004)
        biases = _variable_on_cpu('biases', [48], tf.constant_initializer(0.1))
        local4 = tf.nn.relu(tf.matmul(local3, weights) + biases, name=scope.name)

    # linear layer(WX + b),
    with tf.variable_scope('softmax_linear') as scope:
        weights = _variable_with_weight_decay('weights', [48, NUM_CLASSES],
                                              stddev=1 / 48.0, wd=None)
        biases = _variable_on_cpu('biases', [NUM_CLASSES],
                                  tf.constant_initializer(0.0))
        softmax_linear = tf.add(tf.matmul(local4, weights), biases, name=scope.name)

    return softmax_linear


def loss(logits, labels):
    """Add L2Loss to all the trainable variables."""
    # Calculate the average cross entropy loss across the batch.
    labels = tf.cast(labels, tf.int64)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits, name='cross_entropy_per_example')
    cross_entropy_mean = tf.reduce_mean(cross_entropy, name='cross_entropy')
    tf.add_to_collection('losses', cross_entropy_mean)

    # The total loss is defined as the cross entropy loss plus all of the weight
    # decay terms (L2 loss).
    return tf.add_n(tf.get_collection('losses'), name='total_loss')


def train(total_loss, global_step):
    """Train CIFAR-10 model (without the learning-rate decay and moving averages)."""
    lr = INITIAL_LEARNING_RATE
    tf.summary.scalar('learning_rate', lr)

    # Compute gradients.
    opt = tf.train.GradientDescentOptimizer(lr)
    grads = opt.compute_gradients(total_loss)

    # Apply gradients.
    apply_gradient_op = opt.apply_gradients(grads, global_step=global_step)

    # Add histograms for trainable variables.
    for var in tf.trainable_variables():
        tf.summary.histogram(var.op.name, var)

    return apply_gradient_op


train_images, train_labels = local_data.cifar10_like(2000, seed=0)
test_images, test_labels = local_data.cifar10_like(batch_size * 4, seed=1)

global_step = tf.train.get_or_create_global_step()
images = tf.placeholder(tf.float32, [batch_size, 24, 24, 3])
labels = tf.placeholder(tf.int32, [batch_size])
logits = inference(images)
total_loss = loss(logits, labels)
train_op = train(total_loss, global_step)
top_k_op = tf.nn.in_top_k(logits, labels, 1)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(max_steps):
        start = (step * batch_size) % (len(train_images) - batch_size)
        feed = {images: train_images[start:start + batch_size],
                labels: train_labels[start:start + batch_size]}
        _, loss_value = sess.run([train_op, total_loss], feed_dict=feed)
        if step % 50 == 0:
            print('step %d, loss = %.2f' % (step, loss_value))
    true_count = 0
    for i in range(0, len(test_images), batch_size):
        predictions = sess.run(top_k_op, {images: test_images[i:i + batch_size],
                                          labels: test_labels[i:i + batch_size]})
        true_count += int(predictions.sum())
    precision = true_count / len(test_images)
    print('precision @ 1 = %.3f' % precision)

print(f"result: precision @ 1 {precision:.3f} (expected > 0.85)")
raise SystemExit(0 if precision > 0.85 else 1)
