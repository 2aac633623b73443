"""Skip-gram word2vec, after the official TF1 tutorial word2vec_basic.py: a dictionary of
the most common words, a skip-gram batch generator with a deque, `tf.nn.embedding_lookup`,
`tf.nn.nce_loss` with 64 negative samples, SGD 1.0, cosine similarity of normalized
embeddings for validation words.

Changed: `import compiler as tf`; the text8 download replaced by a local corpus from a
small Markov chain (local_data.text_corpus); fewer steps. Expects the average NCE loss
of the last 500 steps to fall below 60% of the first step's.
"""

import collections
import math
import random

import local_data
import numpy as np

import compiler as tf

vocabulary = local_data.text_corpus(20000)
vocabulary_size = 40


def build_dataset(words, n_words):
    count = [['UNK', -1]]
    count.extend(collections.Counter(words).most_common(n_words - 1))
    dictionary = dict()
    for word, _ in count:
        dictionary[word] = len(dictionary)
    data = list()
    unk_count = 0
    for word in words:
        index = dictionary.get(word, 0)
        if index == 0:
            unk_count += 1
        data.append(index)
    count[0][1] = unk_count
    reversed_dictionary = dict(zip(dictionary.values(), dictionary.keys()))
    return data, count, dictionary, reversed_dictionary


data, count, dictionary, reverse_dictionary = build_dataset(vocabulary, vocabulary_size + 1)
vocabulary_size = len(dictionary)
del vocabulary
print('Most common words (+UNK)', count[:5])

data_index = 0


def generate_batch(batch_size, num_skips, skip_window):
    global data_index
    assert batch_size % num_skips == 0
    assert num_skips <= 2 * skip_window
    batch = np.ndarray(shape=(batch_size), dtype=np.int32)
    labels = np.ndarray(shape=(batch_size, 1), dtype=np.int32)
    span = 2 * skip_window + 1
    buffer = collections.deque(maxlen=span)
    if data_index + span > len(data):
        data_index = 0
    buffer.extend(data[data_index:data_index + span])
    data_index += span
    for i in range(batch_size // num_skips):
        context_words = [w for w in range(span) if w != skip_window]
        words_to_use = random.sample(context_words, num_skips)
        for j, context_word in enumerate(words_to_use):
            batch[i * num_skips + j] = buffer[skip_window]
            labels[i * num_skips + j, 0] = buffer[context_word]
        if data_index == len(data):
            buffer.extend(data[0:span])
            data_index = span
        else:
            buffer.append(data[data_index])
            data_index += 1
    data_index = (data_index + len(data) - span) % len(data)
    return batch, labels


random.seed(0)
batch_size = 128
embedding_size = 32
skip_window = 1
num_skips = 2
num_sampled = 16

valid_size = 8
valid_examples = np.arange(1, valid_size + 1)

graph = tf.Graph()

with graph.as_default():
    train_inputs = tf.placeholder(tf.int32, shape=[batch_size])
    train_labels = tf.placeholder(tf.int32, shape=[batch_size, 1])
    valid_dataset = tf.constant(valid_examples, dtype=tf.int32)

    with tf.device('/cpu:0'):
        embeddings = tf.Variable(
            tf.random_uniform([vocabulary_size, embedding_size], -1.0, 1.0))
        embed = tf.nn.embedding_lookup(embeddings, train_inputs)
        nce_weights = tf.Variable(
            tf.truncated_normal([vocabulary_size, embedding_size],
                                stddev=1.0 / math.sqrt(embedding_size)))
        nce_biases = tf.Variable(tf.zeros([vocabulary_size]))

    loss = tf.reduce_mean(
        tf.nn.nce_loss(weights=nce_weights, biases=nce_biases, labels=train_labels,
                       inputs=embed, num_sampled=num_sampled, num_classes=vocabulary_size))
    optimizer = tf.train.GradientDescentOptimizer(1.0).minimize(loss)

    norm = tf.sqrt(tf.reduce_sum(tf.square(embeddings), 1, keepdims=True))
    normalized_embeddings = embeddings / norm
    valid_embeddings = tf.nn.embedding_lookup(normalized_embeddings, valid_dataset)
    similarity = tf.matmul(valid_embeddings, normalized_embeddings, transpose_b=True)

    init = tf.global_variables_initializer()

num_steps = 2001

with tf.Session(graph=graph) as session:
    init.run()
    print('Initialized')
    average_loss, first = 0, None
    for step in range(num_steps):
        batch_inputs, batch_labels = generate_batch(batch_size, num_skips, skip_window)
        feed_dict = {train_inputs: batch_inputs, train_labels: batch_labels}
        _, loss_val = session.run([optimizer, loss], feed_dict=feed_dict)
        average_loss += loss_val
        first = loss_val if first is None else first
        if step % 500 == 0:
            if step > 0:
                average_loss /= 500
            print('Average loss at step ', step, ': ', average_loss)
            last = average_loss
            average_loss = 0
    sim = similarity.eval()
    final_embeddings = normalized_embeddings.eval()

print(f"result: average loss {last:.3f}, first step {first:.3f} (expected < 60%)")
raise SystemExit(0 if last < 0.6 * first else 1)
