"""Word-level language model in the style of the TF1 PTB tutorial (ptb_word_lm.py,
"small" config scaled down): a `PTBModel` class with an embedding, `MultiRNNCell` of
`BasicLSTMCell`s with `DropoutWrapper` when training, `static_rnn` over `num_steps`,
`tf.contrib.seq2seq.sequence_loss`, a learning-rate variable assigned through a
placeholder, `clip_by_global_norm` and GradientDescent; `run_epoch` feeds the final
state back as the next initial state and reports perplexity.

Changed: `import compiler as tf`; the PTB reader replaced by a local corpus from a
small Markov chain (vocabulary 41). Expects the validation perplexity to fall below 12
(a uniform model has 41).
"""

import time

import local_data
import numpy as np

import compiler as tf


class SmallConfig(object):
    init_scale = 0.1
    learning_rate = 1.0
    max_grad_norm = 5
    num_layers = 2
    num_steps = 10
    hidden_size = 48
    max_epoch = 2
    max_max_epoch = 3
    keep_prob = 1.0
    lr_decay = 0.5
    batch_size = 20
    vocab_size = 41


def ptb_producer_numpy(raw_data, batch_size, num_steps):
    """The batches ptb_producer yields: (x, y) of [batch_size, num_steps], y = x shifted."""
    data = np.array(raw_data, dtype=np.int32)
    batch_len = len(data) // batch_size
    data = data[:batch_size * batch_len].reshape(batch_size, batch_len)
    epoch_size = (batch_len - 1) // num_steps
    for i in range(epoch_size):
        x = data[:, i * num_steps:(i + 1) * num_steps]
        y = data[:, i * num_steps + 1:(i + 1) * num_steps + 1]
        yield x, y


class PTBModel(object):
    def __init__(self, is_training, config):
        self.batch_size = batch_size = config.batch_size
        self.num_steps = num_steps = config.num_steps
        size = config.hidden_size
        vocab_size = config.vocab_size

        self.input_data = tf.placeholder(tf.int32, [batch_size, num_steps])
        self.targets = tf.placeholder(tf.int32, [batch_size, num_steps])

        def lstm_cell():
            cell = tf.contrib.rnn.BasicLSTMCell(size, forget_bias=0.0, state_is_tuple=True)
            if is_training and config.keep_prob < 1:
                cell = tf.contrib.rnn.DropoutWrapper(cell, output_keep_prob=config.keep_prob)
            return cell

        cell = tf.contrib.rnn.MultiRNNCell([lstm_cell() for _ in range(config.num_layers)],
                                           state_is_tuple=True)
        self.initial_state = cell.zero_state(batch_size, tf.float32)

        with tf.device("/cpu:0"):
            embedding = tf.get_variable("embedding", [vocab_size, size], dtype=tf.float32)
            inputs = tf.nn.embedding_lookup(embedding, self.input_data)

        inputs = tf.unstack(inputs, num=num_steps, axis=1)
        outputs, state = tf.contrib.rnn.static_rnn(cell, inputs,
                                                   initial_state=self.initial_state)
        output = tf.reshape(tf.concat(outputs, 1), [-1, size])
        softmax_w = tf.get_variable("softmax_w", [size, vocab_size], dtype=tf.float32)
        softmax_b = tf.get_variable("softmax_b", [vocab_size], dtype=tf.float32)
        logits = tf.nn.xw_plus_b(output, softmax_w, softmax_b)
        logits = tf.reshape(logits, [batch_size, num_steps, vocab_size])
        loss = tf.contrib.seq2seq.sequence_loss(
            logits, self.targets, tf.ones([batch_size, num_steps], dtype=tf.float32),
            average_across_timesteps=False, average_across_batch=True)
        self.cost = cost = tf.reduce_sum(loss)
        self.final_state = state

        if not is_training:
            return

        self.lr = tf.Variable(0.0, trainable=False)
        tvars = tf.trainable_variables()
        grads, _ = tf.clip_by_global_norm(tf.gradients(cost, tvars), config.max_grad_norm)
        optimizer = tf.train.GradientDescentOptimizer(self.lr)
        self.train_op = optimizer.apply_gradients(
            zip(grads, tvars), global_step=tf.train.get_or_create_global_step())
        self.new_lr = tf.placeholder(tf.float32, shape=[], name="new_learning_rate")
        self.lr_update = tf.assign(self.lr, self.new_lr)

    def assign_lr(self, session, lr_value):
        session.run(self.lr_update, feed_dict={self.new_lr: lr_value})


def run_epoch(session, model, data, eval_op=None, verbose=False):
    start_time = time.time()
    costs = 0.0
    iters = 0
    state = session.run(model.initial_state)
    fetches = {"cost": model.cost, "final_state": model.final_state}
    if eval_op is not None:
        fetches["eval_op"] = eval_op
    for step, (x, y) in enumerate(ptb_producer_numpy(data, model.batch_size,
                                                     model.num_steps)):
        feed_dict = {model.input_data: x, model.targets: y}
        for i, (c, h) in enumerate(model.initial_state):
            feed_dict[c] = state[i].c
            feed_dict[h] = state[i].h
        vals = session.run(fetches, feed_dict)
        costs += vals["cost"]
        state = vals["final_state"]
        iters += model.num_steps
    if verbose:
        print("%.0f wps" % (iters * model.batch_size / (time.time() - start_time)))
    return np.exp(costs / iters)


words = local_data.text_corpus(30000)
word_to_id = {w: i for i, w in enumerate(sorted(set(words)))}
ids = [word_to_id[w] for w in words]
train_data, valid_data = ids[:24000], ids[24000:]

config = SmallConfig()
with tf.Graph().as_default():
    initializer = tf.random_uniform_initializer(-config.init_scale, config.init_scale)
    with tf.variable_scope("Model", reuse=None, initializer=initializer):
        m = PTBModel(is_training=True, config=config)
    with tf.variable_scope("Model", reuse=True, initializer=initializer):
        mvalid = PTBModel(is_training=False, config=config)

    with tf.Session() as session:
        session.run(tf.global_variables_initializer())
        for i in range(config.max_max_epoch):
            lr_decay = config.lr_decay ** max(i + 1 - config.max_epoch, 0.0)
            m.assign_lr(session, config.learning_rate * lr_decay)
            train_perplexity = run_epoch(session, m, train_data, eval_op=m.train_op)
            print("Epoch: %d Train Perplexity: %.3f" % (i + 1, train_perplexity))
            valid_perplexity = run_epoch(session, mvalid, valid_data)
            print("Epoch: %d Valid Perplexity: %.3f" % (i + 1, valid_perplexity))

print(f"result: validation perplexity {valid_perplexity:.2f} (expected < 12; uniform 41)")
raise SystemExit(0 if valid_perplexity < 12 else 1)
