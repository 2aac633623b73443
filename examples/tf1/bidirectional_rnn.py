"""Bidirectional LSTM classifier, after TensorFlow-Examples bidirectional_rnn.py: a
forward and a backward `rnn.BasicLSTMCell`, `rnn.static_bidirectional_rnn`, the last
output (2 * num_hidden wide) through a dense layer; `rnn = tf.contrib.rnn`.

Changed: `import compiler as tf`; local MNIST-shaped data; fewer steps and units.
Expects a test accuracy above 0.8.
"""

import local_data as input_data

import compiler as tf

rnn = tf.contrib.rnn

mnist = input_data.read_data_sets("/tmp/data/", one_hot=True)

learning_rate = 0.01
training_steps = 120
batch_size = 64
display_step = 40

num_input = 28
timesteps = 28
num_hidden = 24
num_classes = 10

X = tf.placeholder("float", [None, timesteps, num_input])
Y = tf.placeholder("float", [None, num_classes])

weights = {'out': tf.Variable(tf.random_normal([2 * num_hidden, num_classes]))}
biases = {'out': tf.Variable(tf.random_normal([num_classes]))}


def BiRNN(x, weights, biases):
    x = tf.unstack(x, timesteps, 1)
    lstm_fw_cell = rnn.BasicLSTMCell(num_hidden, forget_bias=1.0)
    lstm_bw_cell = rnn.BasicLSTMCell(num_hidden, forget_bias=1.0)
    outputs, _, _ = rnn.static_bidirectional_rnn(lstm_fw_cell, lstm_bw_cell, x,
                                                 dtype=tf.float32)
    return tf.matmul(outputs[-1], weights['out']) + biases['out']


logits = BiRNN(X, weights, biases)
prediction = tf.nn.softmax(logits)

loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
optimizer = tf.train.GradientDescentOptimizer(learning_rate=learning_rate * 50)
train_op = optimizer.minimize(loss_op)

correct_pred = tf.equal(tf.argmax(prediction, 1), tf.argmax(Y, 1))
accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))

init = tf.global_variables_initializer()

with tf.Session() as sess:
    sess.run(init)
    for step in range(1, training_steps + 1):
        batch_x, batch_y = mnist.train.next_batch(batch_size)
        batch_x = batch_x.reshape((batch_size, timesteps, num_input))
        sess.run(train_op, feed_dict={X: batch_x, Y: batch_y})
        if step % display_step == 0 or step == 1:
            loss, acc = sess.run([loss_op, accuracy], feed_dict={X: batch_x, Y: batch_y})
            print("Step " + str(step) + ", Minibatch Loss= " + "{:.4f}".format(loss)
                  + ", Training Accuracy= " + "{:.3f}".format(acc))
    test_len = 256
    test_data = mnist.test.images[:test_len].reshape((-1, timesteps, num_input))
    test_label = mnist.test.labels[:test_len]
    acc = sess.run(accuracy, feed_dict={X: test_data, Y: test_label})
    print("Testing Accuracy:", acc)

print(f"result: test accuracy {acc:.3f} (expected > 0.8)")
raise SystemExit(0 if acc > 0.8 else 1)
