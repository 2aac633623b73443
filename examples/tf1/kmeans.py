"""K-means written with plain ops (the classic pre-contrib TF1 version): assignments by
argmin of squared distances, centroid updates by one-hot sums and `tf.assign`.

Changed: `import compiler as tf`; local data (three Gaussian blobs). Expects every
centroid within 0.3 of a true centre.
"""

import numpy as np

import compiler as tf

rng = np.random.RandomState(1)
centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 6.0]], np.float32)
points = np.concatenate([c + 0.5 * rng.standard_normal((200, 2)) for c in centres])
points = points.astype(np.float32)
k = 3

X = tf.placeholder(tf.float32, [None, 2])
centroids = tf.Variable(points[[0, 250, 450]], name="centroids")

expanded_points = tf.expand_dims(X, 0)
expanded_centroids = tf.expand_dims(centroids, 1)
distances = tf.reduce_sum(tf.square(tf.subtract(expanded_points, expanded_centroids)), 2)
assignments = tf.argmin(distances, 0)

one_hot = tf.one_hot(assignments, k, dtype=tf.float32)
sums = tf.matmul(one_hot, X, transpose_a=True)
counts = tf.reduce_sum(one_hot, 0)
new_centroids = sums / tf.expand_dims(tf.maximum(counts, 1.0), 1)
update = tf.assign(centroids, new_centroids)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(10):
        c = sess.run(update, feed_dict={X: points})
    print("centroids:", c.tolist())

err = max(np.min(np.linalg.norm(c - t, axis=1)) for t in centres)
print(f"result: worst centroid error {err:.3f} (expected < 0.3)")
raise SystemExit(0 if err < 0.3 else 1)
