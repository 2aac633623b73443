"""Nearest neighbour with L1 distance, after TensorFlow-Examples nearest_neighbor.py.

Changed: `import compiler as tf`; local MNIST-shaped data. Expects an accuracy above 0.9.
"""

import local_data as input_data
import numpy as np

import compiler as tf

mnist = input_data.read_data_sets("/tmp/data/", one_hot=True)

Xtr, Ytr = mnist.train.next_batch(1000)
Xte, Yte = mnist.test.next_batch(100)

xtr = tf.placeholder("float", [None, 784])
xte = tf.placeholder("float", [784])

distance = tf.reduce_sum(tf.abs(tf.add(xtr, tf.negative(xte))), reduction_indices=1)
pred = tf.arg_min(distance, 0)

accuracy = 0.
init = tf.global_variables_initializer()

with tf.Session() as sess:
    sess.run(init)
    for i in range(len(Xte)):
        nn_index = sess.run(pred, feed_dict={xtr: Xtr, xte: Xte[i, :]})
        if i % 20 == 0:
            print("Test", i, "Prediction:", np.argmax(Ytr[nn_index]),
                  "True Class:", np.argmax(Yte[i]))
        if np.argmax(Ytr[nn_index]) == np.argmax(Yte[i]):
            accuracy += 1. / len(Xte)
    print("Done!")
    print("Accuracy:", accuracy)

print(f"result: accuracy {accuracy:.3f} (expected > 0.9)")
raise SystemExit(0 if accuracy > 0.9 else 1)
