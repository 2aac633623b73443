"""`tf.app.run` with `tf.app.flags`, as the official TF1 tutorials and models start
(fully_connected_feed.py style): DEFINE_float/integer/string/boolean, FLAGS read in
`main(_)`, a small two-layer network trained with the flags' learning rate and steps,
`tf.logging.info`, `tf.gfile.MakeDirs` for the log directory.

Changed: `import compiler as tf`; local MNIST-shaped data. Expects a test accuracy above
0.9 with the default flags.
"""

import os
import tempfile

import local_data as input_data

import compiler as tf

flags = tf.app.flags
FLAGS = flags.FLAGS
flags.DEFINE_float('learning_rate', 0.5, 'Initial learning rate.')
flags.DEFINE_integer('max_steps', 300, 'Number of steps to run trainer.')
flags.DEFINE_integer('hidden1', 64, 'Number of units in hidden layer 1.')
flags.DEFINE_integer('batch_size', 100, 'Batch size.')
flags.DEFINE_string('log_dir', os.path.join(tempfile.gettempdir(), 'flowc_flags_app'),
                    'Directory to put the log data.')
flags.DEFINE_boolean('fake_data', False, 'If true, uses fake data for unit testing.')


def run_training():
    data_sets = input_data.read_data_sets(FLAGS.log_dir, FLAGS.fake_data)
    with tf.Graph().as_default():
        images_placeholder = tf.placeholder(tf.float32, shape=(None, 784))
        labels_placeholder = tf.placeholder(tf.int32, shape=(None,))
        with tf.name_scope('hidden1'):
            weights = tf.Variable(tf.truncated_normal([784, FLAGS.hidden1], stddev=0.036),
                                  name='weights')
            biases = tf.Variable(tf.zeros([FLAGS.hidden1]), name='biases')
            hidden1 = tf.nn.relu(tf.matmul(images_placeholder, weights) + biases)
        with tf.name_scope('softmax_linear'):
            weights = tf.Variable(tf.truncated_normal([FLAGS.hidden1, 10], stddev=0.125),
                                  name='weights')
            biases = tf.Variable(tf.zeros([10]), name='biases')
            logits = tf.matmul(hidden1, weights) + biases
        loss = tf.losses.sparse_softmax_cross_entropy(labels=labels_placeholder,
                                                      logits=logits)
        tf.summary.scalar('loss', loss)
        global_step = tf.Variable(0, name='global_step', trainable=False)
        train_op = tf.train.GradientDescentOptimizer(FLAGS.learning_rate).minimize(
            loss, global_step=global_step)
        correct = tf.nn.in_top_k(logits, labels_placeholder, 1)
        eval_correct = tf.reduce_sum(tf.cast(correct, tf.int32))
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
        for step in range(FLAGS.max_steps):
            images, labels = data_sets.train.next_batch(FLAGS.batch_size)
            _, loss_value = sess.run([train_op, loss],
                                     feed_dict={images_placeholder: images,
                                                labels_placeholder: labels})
            if step % 100 == 0:
                tf.logging.info('Step %d: loss = %.2f' % (step, loss_value))
        true_count = sess.run(eval_correct, feed_dict={
            images_placeholder: data_sets.test.images,
            labels_placeholder: data_sets.test.labels})
        return true_count / data_sets.test.num_examples


def main(_):
    if tf.gfile.Exists(FLAGS.log_dir):
        tf.gfile.DeleteRecursively(FLAGS.log_dir)
    tf.gfile.MakeDirs(FLAGS.log_dir)
    precision = run_training()
    print(f"result: test precision {precision:.3f} with learning_rate "
          f"{FLAGS.learning_rate} (expected > 0.9)")
    return 0 if precision > 0.9 else 1


if __name__ == '__main__':
    tf.logging.set_verbosity(tf.logging.INFO)
    tf.app.run()
