"""Candidate samplers and the sampled losses of TF1: `log_uniform_candidate_sampler`,
`uniform_candidate_sampler`, `fixed_unigram_candidate_sampler`, `nce_loss`,
`sampled_softmax_loss`, as composites of
primitives (the samples come from the Philox `random_uniform` primitive, so they are the
same on every backend).

Sampling (TF1's samplers): a log-uniform class is `floor(exp(u * log(range_max + 1))) - 1`
for a uniform u, so `P(c) = log((c + 2) / (c + 1)) / log(range_max + 1)`; a uniform class
is `floor(u * range_max)`, `P(c) = 1 / range_max`; a fixed-unigram class inverts the
cumulative distribution of its weights at u (TF1's FixedUnigramSampler: reserved ids
weigh 0, the others `unigram ** distortion`; with `num_shards` only the shard's ids are
kept, in order, a draw of index i is the id `i * num_shards + shard`, and `P(c)` is the
weight at index c over their sum, 0 past the end, as TF1's `Probability`). With
`unique=False` the `num_sampled` draws are kept as they come and a class's expected count
is `P(c) * num_sampled`. With `unique=True` flowc
draws as TF1's RangeSampler: one class per iteration of a `while_loop` until
`num_sampled` distinct classes are kept, in draw order, `num_tries` counting every draw
(each iteration's draw uses the run counter folded with the iteration, so iterations and
runs draw afresh); the expected count is TF1's ExpectedCountHelper: `P(c) * num_sampled`
when `num_tries == num_sampled` (no draw repeated), else
`-expm1(num_tries * log1p(-P(c)))`. Asking for more distinct classes than can be drawn
is an error when the graph is built (the loop would not end).

The losses follow TF1's `_compute_sampled_logits`: the true and sampled classes' rows of
`weights` and `biases` are looked up with `embedding_lookup` (so their gradients are
scatter-adds), `log(expected count)` is subtracted from every logit, and with
`remove_accidental_hits` a sampled class equal to one of a row's true classes gets the
logit `-FLT_MAX` in that row.
"""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as T
from .control_flow import while_loop
from .core import constant, convert_to_tensor, known_shape, make, op_scope
from .embedding import embedding_lookup
from .reduce_ops import reduce_any


def _draws(n, seed):
    from .random_ops import _draw, get_seed
    graph_seed, op_seed = get_seed(seed)
    return _draw("random_uniform", (n,), T.float64, graph_seed, op_seed)


def _log_uniform_ids(u, range_max):
    log_range = constant(float(np.log(range_max + 1.0)), T.float64)
    v = make("sub", [make("floor", [make("exp", [make("mul", [u, log_range])])]),
                     constant(1.0, T.float64)])
    return make("minimum", [make("maximum", [v, constant(0.0, T.float64)]),
                            constant(float(range_max - 1), T.float64)])


def _uniform_ids(u, range_max):
    v = make("floor", [make("mul", [u, constant(float(range_max), T.float64)])])
    return make("minimum", [v, constant(float(range_max - 1), T.float64)])


def _log_uniform_prob(ids, range_max):
    c = make("cast", [ids], dtype=T.float64)
    ratio = make("div", [make("add", [c, constant(2.0, T.float64)]),
                         make("add", [c, constant(1.0, T.float64)])])
    return make("div", [make("log", [ratio]),
                        constant(float(np.log(range_max + 1.0)), T.float64)])


def _uniform_prob(ids, range_max):
    c = make("cast", [ids], dtype=T.float64)
    return make("add", [make("mul", [c, constant(0.0, T.float64)]),
                        constant(1.0 / range_max, T.float64)])


def _unique_draws(ids_of, range_max, num_sampled, seed):
    """TF1's unique sampling as a `while_loop`: draw one class per iteration until
    `num_sampled` distinct classes are kept, in draw order. Returns the float64 values
    [num_sampled] and the number of draws (float64 scalar). A draw of iteration k uses the
    run counter folded with k, so every iteration and every run draws afresh."""
    from .random_ops import _draw, get_seed
    graph_seed, op_seed = get_seed(seed)
    slots = make("iota", [], shape=(num_sampled,), axis=0, dtype=T.int32)

    def more(picks, tries, values):
        return make("less", [picks, constant(num_sampled, T.int32)])

    def draw(picks, tries, values):
        u = _draw("random_uniform", (1,), T.float64, graph_seed, op_seed)
        v = make("reshape", [ids_of(u, range_max)], shape=())
        kept = make("less", [slots, picks])
        dup = reduce_any(make("logical_and", [kept, make("equal", [values, v])]), axis=0)
        fresh = make("logical_not", [dup])
        here = make("logical_and", [make("equal", [slots, picks]), fresh])
        values = make("select", [here, make("broadcast", [v], shape=(num_sampled,)), values])
        picks = make("add", [picks, make("cast", [fresh], dtype=T.int32)])
        return picks, make("add", [tries, constant(1.0, T.float64)]), values

    start = (constant(0, T.int32), constant(0.0, T.float64),
             constant(np.zeros(num_sampled), T.float64))
    _, tries, values = while_loop(more, draw, start, back_prop=False,
                                  name="unique_sampling")
    return values, tries


def _sampler(kind, true_classes, num_true, num_sampled, unique, range_max, seed, name,
             ids_of=None, prob_of=None, distinct=None):
    range_max, num_sampled, num_true = int(range_max), int(num_sampled), int(num_true)
    opname = f"{kind}_candidate_sampler"
    if range_max < 1 or num_sampled < 1:
        raise ValueError(f"{opname}: range_max and num_sampled must be positive, got "
                         f"{range_max} and {num_sampled}")
    if unique and num_sampled > (range_max if distinct is None else distinct):
        raise ValueError(f"{opname}: unique sampling of {num_sampled} classes needs "
                         f"that many classes that can be drawn, got "
                         f"{range_max if distinct is None else distinct}")
    labels = convert_to_tensor(true_classes)
    shape = known_shape(labels, opname)
    if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != num_true):
        raise ValueError(f"{opname}: true_classes must be [batch, num_true={num_true}], got "
                         f"{list(shape)}")
    ids_of = ids_of or (_log_uniform_ids if kind == "log_uniform" else _uniform_ids)
    prob_of = prob_of or (_log_uniform_prob if kind == "log_uniform" else _uniform_prob)
    with op_scope(name, opname.title().replace("_", ""), [labels]):
        if unique:
            values, tries = _unique_draws(ids_of, range_max, num_sampled, seed)
        else:
            values = ids_of(_draws(num_sampled, seed), range_max)
            tries = None
        sampled = make("cast", [values], dtype=T.int64, name="sampled_candidates")

        def expected(ids, out_name):
            p = prob_of(ids, range_max)
            if tries is None:
                count = make("mul", [p, constant(float(num_sampled), T.float64)])
            else:  # TF1's ExpectedCountHelper: p * num_sampled when no draw repeated
                log_miss = make("log1p", [make("neg", [p])])
                count = make("select", [
                    make("equal", [tries, constant(float(num_sampled), T.float64)]),
                    make("mul", [p, constant(float(num_sampled), T.float64)]),
                    make("neg", [make("expm1", [make("mul", [tries, log_miss])])])])
            return make("cast", [count], dtype=T.float32, name=out_name)

        return (sampled, expected(labels, "true_expected_count"),
                expected(sampled, "sampled_expected_count"))


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                  seed=None, name=None):
    """`(sampled_candidates [num_sampled] int64, true_expected_count [batch, num_true],
    sampled_expected_count [num_sampled])` for classes drawn from the log-uniform (Zipf)
    distribution over [0, range_max) (see the module docstring)."""
    return _sampler("log_uniform", true_classes, num_true, num_sampled, unique, range_max,
                    seed, name)


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                              seed=None, name=None):
    """Like `log_uniform_candidate_sampler` with every class equally likely."""
    return _sampler("uniform", true_classes, num_true, num_sampled, unique, range_max, seed,
                    name)


def fixed_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                    vocab_file="", distortion=1.0, num_reserved_ids=0,
                                    num_shards=1, shard=0, unigrams=(), seed=None,
                                    name=None):
    """Like `log_uniform_candidate_sampler`, with classes drawn in proportion to the
    given `unigrams` (or the last comma-separated field of each line of `vocab_file`)
    raised to `distortion`; ids below `num_reserved_ids` are never drawn and `range_max`
    must be `num_reserved_ids + len(unigrams)`. `P(c)` is TF1's `Probability(c)`: the
    shard's weight at index c over their sum, 0 past the shard's entries."""
    weights = _shard_weights(_unigrams("fixed_unigram_candidate_sampler", vocab_file,
                                       unigrams), range_max, distortion, num_reserved_ids,
                             num_shards, shard)
    total = float(weights.sum())
    probs = weights / total
    cdf = np.cumsum(probs)
    last = int(np.flatnonzero(weights)[-1])

    def ids_of(u, _range_max):
        below = make("cast", [make("greater_equal", [
            make("reshape", [u], shape=(-1, 1)),
            constant(cdf.reshape(1, -1), T.float64)])], dtype=T.float64)
        index = make("minimum", [make("reduce_sum", [below], axes=(1,), keepdims=False),
                                 constant(float(last), T.float64)])
        return make("add", [make("mul", [index, constant(float(num_shards), T.float64)]),
                            constant(float(shard), T.float64)])

    def prob_of(ids, _range_max):
        i = make("cast", [ids], dtype=T.int64)
        size = len(probs)
        inside = make("logical_and", [make("greater_equal", [i, constant(0, T.int64)]),
                                      make("less", [i, constant(size, T.int64)])])
        safe = make("minimum", [make("maximum", [i, constant(0, T.int64)]),
                                constant(size - 1, T.int64)])
        p = make("gather", [constant(probs, T.float64), safe], axis=0)
        return make("select", [inside, p, make("mul", [p, constant(0.0, T.float64)])])

    return _sampler("fixed_unigram", true_classes, num_true, num_sampled, unique, range_max,
                    seed, name, ids_of=ids_of, prob_of=prob_of,
                    distinct=int(np.count_nonzero(weights)))


def _unigrams(opname, vocab_file, unigrams):
    """The unigram counts: the `unigrams` list, or the last field of each line of the
    CSV `vocab_file` (validated before use)."""
    unigrams = list(unigrams or ())
    if bool(vocab_file) == bool(unigrams):
        raise ValueError(f"{opname}: give exactly one of vocab_file and unigrams")
    if unigrams:
        values = np.asarray(unigrams, dtype=np.float64)
        if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"{opname}: unigrams must be a list of finite counts >= 0")
        return values
    values = []
    with open(vocab_file, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            field = line.rstrip("\n").rsplit(",", 1)[-1].strip()
            try:
                v = float(field)
            except ValueError:
                raise ValueError(f"{opname}: {vocab_file}:{n}: the last field {field!r} is "
                                 "not a count") from None
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{opname}: {vocab_file}:{n}: count {v} is not a finite "
                                 "number >= 0")
            values.append(v)
    return np.asarray(values, dtype=np.float64)


def _shard_weights(unigrams, range_max, distortion, num_reserved_ids, num_shards, shard):
    """The weights of the shard's ids in id order (TF1's FixedUnigramSampler)."""
    opname = "fixed_unigram_candidate_sampler"
    num_reserved_ids, num_shards, shard = int(num_reserved_ids), int(num_shards), int(shard)
    if num_reserved_ids < 0 or num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"{opname}: need num_reserved_ids >= 0 and 0 <= shard < "
                         f"num_shards, got {num_reserved_ids}, {shard}, {num_shards}")
    if num_reserved_ids + len(unigrams) != int(range_max):
        raise ValueError(f"{opname}: range_max ({range_max}) must be num_reserved_ids "
                         f"({num_reserved_ids}) + the number of unigrams ({len(unigrams)})")
    all_weights = np.concatenate([np.zeros(num_reserved_ids),
                                  np.power(unigrams, float(distortion))])
    weights = all_weights[shard::num_shards]
    if not np.any(weights > 0):
        raise ValueError(f"{opname}: every class of shard {shard} has weight 0")
    return weights


FLT_MAX = float(np.finfo(np.float32).max)


def _sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                    sampled_values, remove_accidental_hits, partition_strategy, seed, opname):
    x = convert_to_tensor(inputs)
    y = convert_to_tensor(labels)
    if y.dtype.kind != "int":
        raise TypeError(f"{opname}: labels must be integer class ids, got {y.dtype.name}")
    y = make("cast", [y], dtype=T.int64) if y.dtype is not T.int64 else y
    xs = known_shape(x, opname)
    if len(xs) != 2:
        raise ValueError(f"{opname}: inputs must be [batch, dim], got {list(xs)}")
    dim = xs[1]
    y = _labels_2d(y, num_true, opname)
    if sampled_values is None:
        sampled_values = log_uniform_candidate_sampler(y, num_true, num_sampled, True,
                                                       num_classes, seed=seed)
    sampled, true_count, sampled_count = (make("stop_gradient", [convert_to_tensor(v)])
                                          for v in sampled_values)
    sampled = make("cast", [sampled], dtype=T.int64) if sampled.dtype is not T.int64 else sampled
    true_w = embedding_lookup(weights, y, partition_strategy=partition_strategy)  # [b, t, d]
    sampled_w = embedding_lookup(weights, sampled, partition_strategy=partition_strategy)
    true_b = embedding_lookup(biases, y, partition_strategy=partition_strategy)  # [b, t]
    sampled_b = embedding_lookup(biases, sampled, partition_strategy=partition_strategy)
    rows = make("reshape", [x], shape=(-1, 1, dim))
    true_logits = make("add", [make("reduce_sum", [make("mul", [rows, true_w])], axes=(2,),
                                    keepdims=False), true_b])
    sampled_logits = make("add", [make("matmul", [x, sampled_w], transpose_a=False,
                                       transpose_b=True), sampled_b])
    if remove_accidental_hits:
        hit = make("equal", [make("reshape", [y], shape=(-1, num_true, 1)),
                             make("reshape", [sampled], shape=(1, 1, num_sampled))])
        hits = reduce_any(hit, axis=1)
        sampled_logits = make("add", [sampled_logits, make("select", [
            hits, constant(-FLT_MAX, x.dtype), constant(0.0, x.dtype)])])
    true_logits = make("sub", [true_logits, make("log", [_as(true_count, x.dtype)])])
    sampled_logits = make("sub", [sampled_logits, make("log", [_as(sampled_count, x.dtype)])])
    logits = make("concat", [true_logits, sampled_logits], axis=1)
    ones = make("add", [make("mul", [true_logits, constant(0, x.dtype)]),
                        constant(1.0 / num_true, x.dtype)])
    zeros = make("mul", [sampled_logits, constant(0, x.dtype)])
    return logits, make("stop_gradient", [make("concat", [ones, zeros], axis=1)])


def _logistic_loss(x, z):
    """`max(x, 0) - x z + log1p(exp(-|x|))`, as `fc.nn.sigmoid_cross_entropy_with_logits`
    (written here: this module sits below nn.py, which re-exports it)."""
    relu = make("maximum", [x, constant(0, x.dtype)])
    soft = make("log1p", [make("exp", [make("neg", [make("abs", [x])])])])
    return make("add", [make("sub", [relu, make("mul", [x, z])]), soft])


def _log_softmax(x):
    """`log_softmax` over axis 1, shifted by the row maximum as `fc.nn.log_softmax`."""
    z = make("sub", [x, make("reduce_max", [x], axes=(1,), keepdims=True)])
    total = make("reduce_sum", [make("exp", [z])], axes=(1,), keepdims=True)
    return make("sub", [z, make("log", [total])])


def _as(t, dtype):
    return t if t.dtype is dtype else make("cast", [t], dtype=dtype)


def _labels_2d(y, num_true, opname):
    shape = known_shape(y, opname)
    if len(shape) == 1 and num_true == 1:
        return make("reshape", [y], shape=(shape[0], 1))
    if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != num_true):
        raise ValueError(f"{opname}: labels must be [batch, num_true={num_true}], got "
                         f"{list(shape)}")
    return y


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, partition_strategy="mod",
             name="nce_loss"):
    """Noise-contrastive estimation loss per example ([batch]): the logistic loss of the
    true classes (label 1/num_true) and the sampled classes (label 0), logits corrected
    by `log(expected count)`. Default sampler: log-uniform, unique, as TF1."""
    with op_scope(name, "nce_loss", [inputs]) as scope:
        logits, targets = _sampled_logits(weights, biases, labels, inputs, num_sampled,
                                          num_classes, num_true, sampled_values,
                                          remove_accidental_hits, partition_strategy, None,
                                          "nce_loss")
        return make("reduce_sum", [_logistic_loss(logits, targets)], axes=(1,),
                    keepdims=False, name=scope)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                         num_true=1, sampled_values=None, remove_accidental_hits=True,
                         partition_strategy="mod", name="sampled_softmax_loss", seed=None):
    """Softmax cross-entropy over the true and the sampled classes, per example
    ([batch]), logits corrected by `log(expected count)`; accidental hits removed by
    default, as TF1."""
    with op_scope(name, "sampled_softmax_loss", [inputs]) as scope:
        logits, targets = _sampled_logits(weights, biases, labels, inputs, num_sampled,
                                          num_classes, num_true, sampled_values,
                                          remove_accidental_hits, partition_strategy, seed,
                                          "sampled_softmax_loss")
        return make("neg", [make("reduce_sum", [make("mul", [targets, _log_softmax(logits)])],
                                 axes=(1,), keepdims=False)], name=scope)
