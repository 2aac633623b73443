"""An input pipeline with tf.data, in the style of the TF1 tf.data guide and
TensorFlow-Examples build_an_image_dataset/tf.data examples:
`tf.data.Dataset.from_tensor_slices((images, labels))`, `.shuffle(buffer_size,
seed=...)`, `.batch(batch_size)`, `.repeat()`, `.prefetch(1)`, a one-shot iterator's
`get_next()` feeding a softmax classifier directly (no feed_dict), then an initializable
iterator over the test set read until `tf.errors.OutOfRangeError`.

Changed: `import compiler as tf`; local MNIST-shaped data. Expects a test accuracy
above 0.85, computed over every test example exactly once.
"""

import local_data as input_data
import numpy as np

import compiler as tf

mnist = input_data.read_data_sets("/tmp/data/", one_hot=True)

batch_size = 100
num_steps = 300

train = tf.data.Dataset.from_tensor_slices((mnist.train.images, mnist.train.labels))
train = train.shuffle(buffer_size=1000, seed=1).batch(batch_size).repeat().prefetch(1)
X, Y = train.make_one_shot_iterator().get_next()

W = tf.Variable(tf.zeros([784, 10]))
b = tf.Variable(tf.zeros([10]))
logits = tf.matmul(X, W) + b
loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
train_op = tf.train.GradientDescentOptimizer(0.5).minimize(loss_op)

test = tf.data.Dataset.from_tensor_slices((mnist.test.images, mnist.test.labels))
test_iter = test.batch(64).make_initializable_iterator()
tx, ty = test_iter.get_next()
test_logits = tf.matmul(tx, W) + b
correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(test_logits, 1), tf.argmax(ty, 1)),
                                tf.float32))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(1, num_steps + 1):
        _, loss = sess.run([train_op, loss_op])
        if step % 100 == 0:
            print("Step %d, loss %.4f" % (step, loss))
    sess.run(test_iter.initializer)
    total, seen = 0.0, 0
    while True:
        try:
            c, labels = sess.run([correct, ty])
        except tf.errors.OutOfRangeError:
            break
        total += c
        seen += len(labels)

acc = total / max(seen, 1)
ok = seen == len(mnist.test.labels) and acc > 0.85
print(f"result: test accuracy {acc:.3f} over {seen} examples (expected > 0.85 over "
      f"{len(mnist.test.labels)})")
raise SystemExit(0 if ok and np.isfinite(loss) else 1)
