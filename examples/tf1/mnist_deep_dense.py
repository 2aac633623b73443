"""mnist_deep.py's training loop without the convolutions (those have an issue of their
own): a two-layer ReLU network with `tf.nn.dropout(h, keep_prob)`, where
`keep_prob = tf.placeholder(tf.float32)` and `x = tf.placeholder("float")` have no
shape, as TF1-era code writes them; Adam 1e-4 -> 1e-3, accuracy with `.eval`.

Changed: `import compiler as tf`; local data of MNIST's shape. Expects a test accuracy
above 0.9.
"""

import local_data as input_data

import compiler as tf


def weight_variable(shape):
    initial = tf.truncated_normal(shape, stddev=0.1)
    return tf.Variable(initial)


def bias_variable(shape):
    initial = tf.constant(0.1, shape=shape)
    return tf.Variable(initial)


mnist = input_data.read_data_sets("MNIST_data/", one_hot=True)

x = tf.placeholder("float")
y_ = tf.placeholder("float")
keep_prob = tf.placeholder(tf.float32)

x_image = tf.reshape(x, [-1, 784])
W_fc1 = weight_variable([784, 512])
b_fc1 = bias_variable([512])
h_fc1 = tf.nn.relu(tf.matmul(x_image, W_fc1) + b_fc1)
h_fc1_drop = tf.nn.dropout(h_fc1, keep_prob)

W_fc2 = weight_variable([512, 10])
b_fc2 = bias_variable([10])
y_conv = tf.matmul(h_fc1_drop, W_fc2) + b_fc2

cross_entropy = tf.reduce_mean(
    tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
train_step = tf.train.AdamOptimizer(1e-3).minimize(cross_entropy)
correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for i in range(300):
        batch = mnist.train.next_batch(50)
        if i % 100 == 0:
            train_accuracy = accuracy.eval(feed_dict={
                x: batch[0], y_: batch[1], keep_prob: 1.0})
            print('step %d, training accuracy %g' % (i, train_accuracy))
        train_step.run(feed_dict={x: batch[0], y_: batch[1], keep_prob: 0.5})
    acc = accuracy.eval(feed_dict={
        x: mnist.test.images, y_: mnist.test.labels, keep_prob: 1.0})
    print('test accuracy %g' % acc)

print(f"result: test accuracy {acc:.3f} (expected > 0.9)")
raise SystemExit(0 if acc > 0.9 else 1)
