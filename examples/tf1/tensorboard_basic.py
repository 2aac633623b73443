"""TensorBoard, after TensorFlow-Examples tensorboard_basic.py: name scopes ('Model',
'Loss', 'SGD', 'Accuracy'), `tf.summary.scalar`, `tf.summary.merge_all`, a
`tf.summary.FileWriter` with the graph, `add_summary` every step.

Changed: `import compiler as tf`; local MNIST-shaped data; the log directory is
temporary. Expects an event file with the graph and one summary per step, and a test
accuracy above 0.85.
"""

import os
import tempfile

import local_data as input_data

import compiler as tf

mnist = input_data.read_data_sets("/tmp/data/", one_hot=True)

learning_rate = 0.01
training_epochs = 3
batch_size = 100
display_epoch = 1
logs_path = tempfile.mkdtemp()

x = tf.placeholder(tf.float32, [None, 784], name='InputData')
y = tf.placeholder(tf.float32, [None, 10], name='LabelData')

W = tf.Variable(tf.zeros([784, 10]), name='Weights')
b = tf.Variable(tf.zeros([10]), name='Bias')

with tf.name_scope('Model'):
    pred = tf.nn.softmax(tf.matmul(x, W) + b)
with tf.name_scope('Loss'):
    cost = tf.reduce_mean(-tf.reduce_sum(y * tf.log(pred), reduction_indices=1))
with tf.name_scope('SGD'):
    optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)
with tf.name_scope('Accuracy'):
    acc = tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1))
    acc = tf.reduce_mean(tf.cast(acc, tf.float32))

init = tf.global_variables_initializer()
tf.summary.scalar("loss", cost)
tf.summary.scalar("accuracy", acc)
merged_summary_op = tf.summary.merge_all()

steps = 0
with tf.Session() as sess:
    sess.run(init)
    summary_writer = tf.summary.FileWriter(logs_path, graph=tf.get_default_graph())
    for epoch in range(training_epochs):
        avg_cost = 0.
        total_batch = int(mnist.train.num_examples / batch_size)
        for i in range(total_batch):
            batch_xs, batch_ys = mnist.train.next_batch(batch_size)
            _, c, summary = sess.run([optimizer, cost, merged_summary_op],
                                     feed_dict={x: batch_xs, y: batch_ys})
            summary_writer.add_summary(summary, epoch * total_batch + i)
            steps += 1
            avg_cost += c / total_batch
        if (epoch + 1) % display_epoch == 0:
            print("Epoch:", '%04d' % (epoch + 1), "cost=", "{:.9f}".format(avg_cost))
    summary_writer.close()
    accuracy = acc.eval({x: mnist.test.images, y: mnist.test.labels})
    print("Accuracy:", accuracy)

events = [f for f in os.listdir(logs_path) if f.startswith("events.out.tfevents")]
size = os.path.getsize(os.path.join(logs_path, events[0])) if events else 0
ok = len(events) == 1 and size > 100 * steps and accuracy > 0.85
print(f"result: {len(events)} event file of {size} bytes for {steps} steps, accuracy "
      f"{accuracy:.3f} (expected one file, > 100 bytes a step, accuracy > 0.85)")
raise SystemExit(0 if ok else 1)
