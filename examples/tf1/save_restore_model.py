"""Saving and restoring a model, after TensorFlow-Examples save_restore_model.py: train
an MLP, `saver.save(sess, model_path)`, then a new Session restores it with
`saver.restore` and trains on; the restored model's accuracy must equal the saved one's.

Changed: `import compiler as tf`; local MNIST-shaped data; the model path is a temporary
directory. Expects equal accuracies before and after the restore, above 0.85, and the
`checkpoint` state file naming the saved model.
"""

import os
import tempfile

import local_data as input_data

import compiler as tf

mnist = input_data.read_data_sets("/tmp/data/", one_hot=True)

learning_rate = 0.001
batch_size = 100
model_path = os.path.join(tempfile.mkdtemp(), "model.ckpt")

n_hidden_1 = 256
n_input = 784
n_classes = 10

x = tf.placeholder("float", [None, n_input])
y = tf.placeholder("float", [None, n_classes])

weights = {
    'h1': tf.Variable(tf.random_normal([n_input, n_hidden_1])),
    'out': tf.Variable(tf.random_normal([n_hidden_1, n_classes]))
}
biases = {
    'b1': tf.Variable(tf.random_normal([n_hidden_1])),
    'out': tf.Variable(tf.random_normal([n_classes]))
}


def multilayer_perceptron(x, weights, biases):
    layer_1 = tf.nn.relu(tf.add(tf.matmul(x, weights['h1']), biases['b1']))
    return tf.matmul(layer_1, weights['out']) + biases['out']


pred = multilayer_perceptron(x, weights, biases)
cost = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=pred, labels=y))
optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate).minimize(cost)
correct_prediction = tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1))
accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))

init = tf.global_variables_initializer()
saver = tf.train.Saver()

print("Starting 1st session...")
with tf.Session() as sess:
    sess.run(init)
    for epoch in range(3):
        for i in range(int(mnist.train.num_examples / batch_size)):
            batch_x, batch_y = mnist.train.next_batch(batch_size)
            sess.run([optimizer, cost], feed_dict={x: batch_x, y: batch_y})
    acc1 = accuracy.eval({x: mnist.test.images, y: mnist.test.labels})
    print("Accuracy:", acc1)
    save_path = saver.save(sess, model_path)
    print("Model saved in file: %s" % save_path)

print("Starting 2nd session...")
with tf.Session() as sess:
    sess.run(init)
    saver.restore(sess, model_path)
    print("Model restored from file: %s" % save_path)
    acc2 = accuracy.eval({x: mnist.test.images, y: mnist.test.labels})
    print("Accuracy:", acc2)
    for i in range(50):
        batch_x, batch_y = mnist.train.next_batch(batch_size)
        sess.run([optimizer, cost], feed_dict={x: batch_x, y: batch_y})

latest = tf.train.latest_checkpoint(os.path.dirname(model_path))
ok = acc1 == acc2 and acc1 > 0.85 and latest is not None
print(f"result: accuracy saved {acc1:.3f}, restored {acc2:.3f}, latest {latest} "
      "(expected equal, > 0.85)")
raise SystemExit(0 if ok else 1)
