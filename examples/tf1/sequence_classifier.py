"""A stacked GRU/LSTM sequence classifier on variable-length sequences with the static
API TF1 users wrote before dynamic_rnn: `tf.nn.rnn_cell.MultiRNNCell` of a `GRUCell`
and an `LSTMCell` wrapped in `DropoutWrapper`, `tf.nn.static_rnn(...,
sequence_length=lengths)` (zero outputs and copied state past each sequence's end),
the final state's last layer through `tf.layers.dense`,
`tf.losses.sparse_softmax_cross_entropy`, RMSProp with `clip_by_global_norm`.

Changed: `import compiler as tf`; local data (noisy sines of two frequencies).
Expects a test accuracy above 0.9.
"""

import local_data
import numpy as np

import compiler as tf

steps, hidden = 20, 16
x_train, y_train = local_data.sine_sequences(1000, steps, seed=0)
x_test, y_test = local_data.sine_sequences(300, steps, seed=1)
rng = np.random.RandomState(0)
len_train = rng.randint(8, steps + 1, size=len(x_train))
len_test = rng.randint(8, steps + 1, size=len(x_test))

x = tf.placeholder(tf.float32, [None, steps, 1])
y = tf.placeholder(tf.int32, [None])
lengths = tf.placeholder(tf.int32, [None])
keep_prob = tf.placeholder_with_default(1.0, shape=[])

cells = [tf.nn.rnn_cell.GRUCell(hidden),
         tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.LSTMCell(hidden),
                                       output_keep_prob=keep_prob)]
stack = tf.nn.rnn_cell.MultiRNNCell(cells)
inputs = tf.unstack(x, steps, 1)
outputs, state = tf.nn.static_rnn(stack, inputs, dtype=tf.float32, sequence_length=lengths)
logits = tf.layers.dense(state[-1].h, 2)
loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)

tvars = tf.trainable_variables()
grads, _ = tf.clip_by_global_norm(tf.gradients(loss, tvars), 5.0)
train_op = tf.train.RMSPropOptimizer(0.01).apply_gradients(zip(grads, tvars))
accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y),
                                  tf.float32))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(200):
        idx = rng.randint(0, len(x_train), size=64)
        _, l = sess.run([train_op, loss], {x: x_train[idx], y: y_train[idx],
                                           lengths: len_train[idx], keep_prob: 0.9})
        if step % 50 == 0:
            print("step %d loss %.4f" % (step, l))
    acc = sess.run(accuracy, {x: x_test, y: y_test, lengths: len_test})

print(f"result: test accuracy {acc:.3f} (expected > 0.9)")
raise SystemExit(0 if acc > 0.9 else 1)
