"""The official TF1 tutorial mnist_softmax.py (tensorflow/examples/tutorials/mnist):
argparse flags, `tf.app.run(main=main, argv=...)`, softmax regression with
`softmax_cross_entropy_with_logits_v2`, GradientDescent 0.5, 1000 steps of 100.

Changed: `import compiler as tf`; `input_data` reads local data of MNIST's shape.
Expects a test accuracy above 0.9.
"""

import argparse
import sys

import local_data as input_data

import compiler as tf

FLAGS = None
RESULT = {}


def main(_):
    mnist = input_data.read_data_sets(FLAGS.data_dir)

    x = tf.placeholder(tf.float32, [None, 784])
    W = tf.Variable(tf.zeros([784, 10]))
    b = tf.Variable(tf.zeros([10]))
    y = tf.matmul(x, W) + b

    y_ = tf.placeholder(tf.int64, [None])

    cross_entropy = tf.losses.sparse_softmax_cross_entropy(labels=y_, logits=y)
    train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)

    sess = tf.InteractiveSession()
    tf.global_variables_initializer().run()
    for _ in range(1000):
        batch_xs, batch_ys = mnist.train.next_batch(100)
        sess.run(train_step, feed_dict={x: batch_xs, y_: batch_ys})

    correct_prediction = tf.equal(tf.argmax(y, 1), y_)
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    RESULT["acc"] = sess.run(accuracy, feed_dict={x: mnist.test.images,
                                                  y_: mnist.test.labels})
    print(RESULT["acc"])
    acc = RESULT["acc"]
    print(f"result: test accuracy {acc:.3f} (expected > 0.9)")
    return 0 if acc > 0.9 else 1


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--data_dir', type=str, default='/tmp/tensorflow/mnist/input_data',
                        help='Directory for storing input data')
    FLAGS, unparsed = parser.parse_known_args()
    tf.app.run(main=main, argv=[sys.argv[0]] + unparsed)
