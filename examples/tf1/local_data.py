"""Local stand-ins for the datasets the TF1 tutorials download (no network here).

`read_data_sets(train_dir, one_hot=False)` returns an object shaped like
`tensorflow.examples.tutorials.mnist.input_data.read_data_sets(...)`: `.train`,
`.validation`, `.test`, each with `.images` (float32 [n, 784] in [0, 1]), `.labels`
([n] ints, or [n, 10] one-hot), `.num_examples` and `next_batch(batch_size)` (shuffled
epochs). The images are noisy copies of ten random 28x28 binary prototypes, so the
tutorials' models learn them the way they learn MNIST. `text_corpus(n_words)` is a list of
words from a small Markov chain (for word2vec and language models); `sine_sequences` makes
sequence-classification data; `cifar10_like(n)` makes CIFAR-10-shaped [n, 24, 24, 3]
colour images (cifar10_input's crop size) of ten smooth random prototypes, each shifted by
up to 2 pixels and noised. Everything is deterministic (fixed seeds).
"""

import numpy as np


class DataSet:
    def __init__(self, images, labels, seed):
        self.images = images
        self.labels = labels
        self.num_examples = len(images)
        self._rng = np.random.RandomState(seed)
        self._order = self._rng.permutation(self.num_examples)
        self._pos = 0

    def next_batch(self, batch_size, shuffle=True):
        if self._pos + batch_size > self.num_examples:
            self._order = self._rng.permutation(self.num_examples)
            self._pos = 0
        idx = self._order[self._pos:self._pos + batch_size]
        self._pos += batch_size
        return self.images[idx], self.labels[idx]


class Datasets:
    def __init__(self, train, validation, test):
        self.train, self.validation, self.test = train, validation, test


def _digits(n, prototypes, rng):
    classes = rng.randint(0, 10, size=n)
    images = prototypes[classes].copy()
    flip = rng.uniform(size=images.shape) < 0.15
    images[flip] = 1.0 - images[flip]
    images = np.clip(images + 0.1 * rng.standard_normal(images.shape), 0.0, 1.0)
    return images.astype(np.float32), classes


def read_data_sets(train_dir=None, one_hot=False, n_train=3000, n_test=500, seed=0, **_):
    rng = np.random.RandomState(seed)
    prototypes = (rng.uniform(size=(10, 784)) < 0.3).astype(np.float32)
    parts = []
    for k, n in enumerate((n_train, n_test, n_test)):
        images, classes = _digits(n, prototypes, rng)
        labels = np.eye(10, dtype=np.float32)[classes] if one_hot else classes.astype(np.int64)
        parts.append(DataSet(images, labels, seed + k))
    return Datasets(*parts)


def text_corpus(n_words=20000, vocab=40, seed=0):
    """Words 'w0'..'w{vocab-1}' from a Markov chain where each word has 3 likely
    successors: a language model can learn it, word2vec finds the neighbours."""
    rng = np.random.RandomState(seed)
    succ = rng.randint(0, vocab, size=(vocab, 3))
    words, w = [], 0
    for _ in range(n_words):
        words.append(f"w{w}")
        w = succ[w, rng.randint(3)] if rng.uniform() < 0.9 else rng.randint(vocab)
    return words


def sine_sequences(n, steps=20, seed=0):
    """[n, steps, 1] noisy sines; label 1 when the frequency is high, else 0."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 2, size=n)
    freq = np.where(labels == 1, 0.9, 0.3) + 0.05 * rng.standard_normal(n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    t = np.arange(steps)
    x = np.sin(freq[:, None] * t[None, :] + phase[:, None])
    x = x + 0.1 * rng.standard_normal(x.shape)
    return x[:, :, None].astype(np.float32), labels


def cifar10_like(n, size=24, seed=0):
    """([n, size, size, 3] float32 images, [n] int32 labels): ten smooth colour prototypes
    (the same for every seed), each copy rolled by -2..2 pixels and noised, then
    standardized per image as cifar10_input's `per_image_standardization`."""
    proto_rng = np.random.RandomState(1234)
    coarse = proto_rng.uniform(size=(10, 6, 6, 3))
    protos = coarse.repeat(size // 6, axis=1).repeat(size // 6, axis=2)
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 10, size=n)
    images = np.empty((n, size, size, 3))
    for i, c in enumerate(labels):
        dy, dx = rng.randint(-2, 3, size=2)
        images[i] = np.roll(protos[c], (dy, dx), axis=(0, 1))
    images += 0.3 * rng.standard_normal(images.shape)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(images.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(images[0].size))
    return ((images - mean) / std).astype(np.float32), labels.astype(np.int32)
