"""`fc.contrib.factorization`: TF1's `KMeans` graph builder (tf.contrib.factorization,
TF 1.15's clustering_ops), as composites of existing primitives.

`KMeans(inputs, num_clusters, ...).training_graph()` returns TF1's six-tuple
`(all_scores, cluster_idx, scores, cluster_centers_initialized, init_op, training_op)`;
the first three are tuples with one entry per input tensor, as TF1 (hence the idiom
`cluster_idx = cluster_idx[0]`). Semantics followed (TF 1.15):

- distances: squared Euclidean `all_scores = |x|^2 - 2 x c^T + |c|^2`; cosine: the
  inputs are l2-normalized first and `all_scores = 1 - x c^T`. `cluster_idx` (int64) is
  the nearest center, `scores` its distance (squared Euclidean, or `1 - x . c/|c|` for
  cosine, i.e. half the squared distance to the normalized center), clamped at 0.
- variables: `clusters` [num_clusters, dim] (zeros until `init_op` runs), `initialized`
  (bool), and with `use_mini_batch` a per-cluster int64 count `Variable` (starting at
  ones; at zeros with `mini_batch_steps_per_iteration > 1`, which also makes
  `clusters_updated` and `update_in_steps`); none is trainable.
- `init_op` chooses the centers once (a no-op after `initialized` is set): RANDOM_INIT
  gathers `num_clusters` rows at uniformly drawn indices (with replacement, as TF 1.15's
  `_random`); KMEANS_PLUS_PLUS_INIT picks the first row uniformly, then each further center
  as the best (lowest total distance) of `1 + kmeans_plus_plus_num_retries` rows drawn in
  proportion to their squared distance to the centers so far (an exponential race, which
  draws exactly in proportion); a tensor, an array or a callable `f(inputs, k)` gives the
  centers directly. Cosine centers are l2-normalized.
- `training_op`, full batch (Lloyd): `clusters = sums / (counts + 1e-6)` over the
  assigned points (an empty cluster becomes 0, as TF1), l2-normalized for cosine.
  Mini-batch: per cluster with old count n and k new points of sum s,
  `c += (s - k c) / (n + k)` and `n += k` (TF1's `_mini_batch_training_op`). With
  `mini_batch_steps_per_iteration = m > 1` that update moves `clusters_updated`, and each
  step first runs TF1's sync: when `update_in_steps <= 0` the copy (normalized for
  cosine) becomes `clusters`, the counts restart at 0 and `update_in_steps` at m - 1,
  else `update_in_steps -= 1`. The scores of a step use `clusters` as it was before the
  step (flowc's rule for reads within one run).

Not here: KMC2 initialization (NotImplementedError naming it). The `KMeansClustering`
estimator over this graph is compiler/estimator/kmeans.py. The per-center loop of k-means++
is a `tf.while_loop` (one iteration per center; a draw in iteration j uses the run
counter folded with j).
"""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as T
from .array_ops import one_hot, shape
from .array_ops import range as range_
from .control_flow import group, name_scope, while_loop
from .core import constant, convert_to_tensor, known_shape, stack
from .manip_ops import broadcast_to, concat, gather, reshape, where_v2
from .math_ops import cast, equal, floor, less_equal, log, matmul, maximum, minimum, negative
from .nn import l2_normalize
from .random_ops import random_uniform
from .reduce_ops import argmax, argmin, reduce_max, reduce_min, reduce_sum
from .variables import Variable, assign, assign_add

SQUARED_EUCLIDEAN_DISTANCE = "squared_euclidean"
COSINE_DISTANCE = "cosine"
RANDOM_INIT = "random"
KMEANS_PLUS_PLUS_INIT = "kmeans_plus_plus"
KMC2_INIT = "kmc2"
CLUSTERS_VAR_NAME = "clusters"


class KMeans:
    """TF1's `tf.contrib.factorization.KMeans`: builds the graph of k-means clustering
    over `inputs` (a [num_points, dim] tensor or a list of them with one static `dim`)."""

    def __init__(self, inputs, num_clusters, initial_clusters=RANDOM_INIT,
                 distance_metric=SQUARED_EUCLIDEAN_DISTANCE, use_mini_batch=False,
                 mini_batch_steps_per_iteration=1, random_seed=0,
                 kmeans_plus_plus_num_retries=2, kmc2_chain_length=200):
        self._inputs = [convert_to_tensor(x) for x in
                        (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
        self._dim = _check_inputs(self._inputs)
        if distance_metric not in (SQUARED_EUCLIDEAN_DISTANCE, COSINE_DISTANCE):
            raise ValueError(f"KMeans: distance_metric must be {SQUARED_EUCLIDEAN_DISTANCE!r} "
                             f"or {COSINE_DISTANCE!r}, got {distance_metric!r}")
        if isinstance(initial_clusters, str) and initial_clusters == KMC2_INIT:
            raise NotImplementedError("KMeans: initial_clusters=KMC2_INIT is not supported; "
                                      "use RANDOM_INIT, KMEANS_PLUS_PLUS_INIT or a tensor")
        if isinstance(initial_clusters, str) and initial_clusters not in (
                RANDOM_INIT, KMEANS_PLUS_PLUS_INIT):
            raise ValueError(f"KMeans: initial_clusters must be {RANDOM_INIT!r}, "
                             f"{KMEANS_PLUS_PLUS_INIT!r}, a callable or a tensor of centers, "
                             f"got {initial_clusters!r}")
        if int(mini_batch_steps_per_iteration) < 1:
            raise ValueError("KMeans: mini_batch_steps_per_iteration must be >= 1, got "
                             f"{mini_batch_steps_per_iteration}")
        self._initial = initial_clusters
        self._num_clusters = _num_clusters(num_clusters, initial_clusters, self._dim)
        self._metric = distance_metric
        self._mini_batch = bool(use_mini_batch)
        self._steps = int(mini_batch_steps_per_iteration) if use_mini_batch else 1
        self._seed = random_seed
        retries = int(kmeans_plus_plus_num_retries)
        if retries < 0:
            retries = 2 + int(np.log(self._num_clusters))
        self._retries = retries

    def training_graph(self):
        """`(all_scores, cluster_idx, scores, cluster_centers_initialized, init_op,
        training_op)`, as TF1 (see the module docstring)."""
        k, d = self._num_clusters, self._dim
        dtype = self._inputs[0].dtype
        inputs = self._inputs
        if self._metric == COSINE_DISTANCE:
            inputs = [l2_normalize(x, axis=1) for x in inputs]
        clusters = Variable(np.zeros((k, d), dtype.np), trainable=False,
                            name=CLUSTERS_VAR_NAME)
        initialized = Variable(False, trainable=False, name="initialized")
        updated = steps = None
        if self._steps > 1:  # TF1: a working copy, synced every `steps` training steps
            updated = Variable(np.zeros((k, d), dtype.np), trainable=False,
                               name="clusters_updated")
            steps = Variable(np.int64(self._steps), trainable=False, name="update_in_steps")
        counts = (Variable(np.full((k,), int(self._steps == 1), np.int64), trainable=False)
                  if self._mini_batch else None)
        with name_scope("kmeans_init"):
            chosen = self._initial_centers(inputs, dtype)
            kept = where_v2(initialized, clusters, chosen)
            assigns = [assign(clusters, kept), assign(initialized, True)]
            if updated is not None:
                assigns.append(assign(updated, where_v2(initialized, updated, chosen)))
            init_op = group(*assigns)
        all_scores, cluster_idx, scores = [], [], []
        for x in inputs:
            a, i, s = self._assign(x, clusters)
            all_scores.append(a)
            cluster_idx.append(i)
            scores.append(s)
        with name_scope("kmeans_train"):
            if updated is None:
                training_op = self._training_op(inputs, cluster_idx, clusters, counts)
            else:
                training_op = self._synced_training_op(inputs, cluster_idx, clusters,
                                                       updated, steps, counts)
        return (tuple(all_scores), tuple(cluster_idx), tuple(scores), initialized, init_op,
                training_op)

    def _assign(self, x, clusters):
        """(all_scores [n, k], nearest index [n] int64, its distance [n]) of x."""
        if self._metric == COSINE_DISTANCE:
            all_scores = 1.0 - matmul(x, clusters, transpose_b=True)
            near = matmul(x, l2_normalize(clusters, axis=1), transpose_b=True)
            idx = argmax(near, axis=1)
            score = maximum(1.0 - reduce_max(near, axis=1), 0.0)
            return all_scores, idx, score
        all_scores = _squared_distances(x, clusters)
        return all_scores, argmin(all_scores, axis=1), maximum(reduce_min(all_scores, axis=1),
                                                               0.0)

    def _synced_training_op(self, inputs, cluster_idx, clusters, updated, steps, counts):
        """TF1's `_mini_batch_sync_updates_op` then `_mini_batch_training_op` on the
        working copy: when `update_in_steps <= 0` the copy (normalized for cosine) becomes
        `clusters`, the counts restart at 0 and `update_in_steps` at steps - 1; else
        `update_in_steps -= 1`. The mini-batch update then moves the copy."""
        sync = less_equal(steps, 0)
        copy = l2_normalize(updated, axis=1) if self._metric == COSINE_DISTANCE else updated
        counts_now = where_v2(sync, counts * 0, counts)
        total, added = self._batch_sums(inputs, cluster_idx)
        k, dtype = self._num_clusters, inputs[0].dtype
        n = cast(counts_now, dtype) + added
        step = (total - reshape(added, [k, 1]) * updated) / reshape(maximum(n, 1.0), [k, 1])
        return group(assign(steps, where_v2(sync, steps * 0 + (self._steps - 1), steps - 1)),
                     assign(clusters, where_v2(sync, copy, clusters)),
                     assign(counts, counts_now + cast(added, T.int64)),
                     assign(updated, updated + step))

    def _batch_sums(self, inputs, cluster_idx):
        """(per-cluster sums of the assigned points [k, dim], their counts [k])."""
        k = self._num_clusters
        dtype = inputs[0].dtype
        sums, new = [], []
        for x, idx in zip(inputs, cluster_idx):
            hot = one_hot(idx, k, dtype=dtype)  # [n, k]
            sums.append(matmul(hot, x, transpose_a=True))
            new.append(reduce_sum(hot, axis=0))
        total, added = sums[0], new[0]
        for s, c in zip(sums[1:], new[1:]):
            total, added = total + s, added + c
        return total, added

    def _training_op(self, inputs, cluster_idx, clusters, counts):
        k = self._num_clusters
        dtype = inputs[0].dtype
        total, added = self._batch_sums(inputs, cluster_idx)
        if not self._mini_batch:
            centers = total / (reshape(added, [k, 1]) + 1e-6)
            if self._metric == COSINE_DISTANCE:
                centers = l2_normalize(centers, axis=1)
            return assign(clusters, centers)
        step = (total - reshape(added, [k, 1]) * clusters) / reshape(
            cast(counts, dtype) + added, [k, 1])
        return group(assign_add(counts, cast(added, T.int64)), assign_add(clusters, step))

    def _initial_centers(self, inputs, dtype):
        k = self._num_clusters
        points = inputs[0] if len(inputs) == 1 else concat(inputs, 0)
        init = self._initial
        if callable(init):
            centers = convert_to_tensor(init(points, k), dtype)
        elif isinstance(init, str) and init == RANDOM_INIT:
            centers = gather(points, _uniform_indices(points, [k], self._seed))
        elif isinstance(init, str):
            centers = self._kmeans_plus_plus(points)
        else:
            centers = convert_to_tensor(init, dtype)
        if tuple(known_shape(centers, "KMeans")) not in ((k, self._dim),):
            raise ValueError(f"KMeans: the initial clusters must have shape [{k}, "
                             f"{self._dim}], got {list(known_shape(centers, 'KMeans'))}")
        if self._metric == COSINE_DISTANCE:
            centers = l2_normalize(centers, axis=1)
        return centers

    def _kmeans_plus_plus(self, points):
        """TF1's k-means++ (see the module docstring): one `while_loop` iteration per
        center after the first, each drawing afresh."""
        k, m, d = self._num_clusters, 1 + self._retries, self._dim
        n = shape(points)[0]
        first = gather(points, _uniform_indices(points, [1], self._seed))  # [1, d]
        slots = reshape(range_(k), [k, 1])
        start_centers = where_v2(equal(slots, 0), broadcast_to(first, [k, d]),
                                 0.0 * broadcast_to(first, [k, d]))
        best = cast(reduce_min(_squared_distances(points, first), axis=1), T.float64)
        seed = self._seed + 1

        def body(j, centers, best):
            u = random_uniform(stack([m, n]), dtype=T.float64, seed=seed)
            # exponential race: argmax(w / -log u) is distributed in proportion to w
            keys = reshape(best, [1, -1]) / negative(log(maximum(u, 1e-300)))  # [m, n]
            pick = gather(points, argmax(keys, axis=1))  # [m, d]
            dist = cast(_squared_distances(points, pick), T.float64)  # [n, m]
            pot = reduce_sum(minimum(dist, reshape(best, [-1, 1])), axis=0)  # [m]
            win = argmin(pot, axis=0)
            center = broadcast_to(reshape(gather(pick, win), [1, d]), [k, d])
            centers = where_v2(equal(slots, j), center, centers)
            return j + 1, centers, minimum(best, gather(dist, win, axis=1))

        _, centers, _ = while_loop(lambda j, c, b: j < k, body,
                                   (constant(1, T.int32), start_centers, best),
                                   back_prop=False, name="kmeans_plus_plus")
        return centers


def _squared_distances(x, c):
    """`|x|^2 - 2 x c^T + |c|^2`: [n, k] (TF1's `_compute_euclidean_distance`)."""
    x2 = reduce_sum(x * x, axis=1, keepdims=True)
    c2 = reshape(reduce_sum(c * c, axis=1), [1, -1])
    return x2 - 2.0 * matmul(x, c, transpose_b=True) + c2


def _uniform_indices(points, dims, seed):
    """int64 indices drawn uniformly from [0, rows of points)."""
    n = cast(shape(points)[0], T.float64)
    u = random_uniform(dims, dtype=T.float64, seed=seed)
    return cast(minimum(floor(u * n), n - 1.0), T.int64)


def _check_inputs(inputs):
    dims = set()
    for x in inputs:
        s = known_shape(x, "KMeans")
        if len(s) != 2 or not isinstance(s[1], int):
            raise ValueError(f"KMeans: inputs must be [num_points, dim] with a static dim, got "
                             f"shape {list(s)} for {x.name!r}")
        if not x.dtype.is_float:
            raise TypeError(f"KMeans: inputs must be float, got {x.dtype.name} for {x.name!r}")
        dims.add(s[1])
    if len(dims) != 1:
        raise ValueError(f"KMeans: every input must have the same dim, got {sorted(dims)}")
    return dims.pop()


def _num_clusters(num_clusters, initial_clusters, dim):
    if not isinstance(initial_clusters, str) and not callable(initial_clusters):
        s = known_shape(convert_to_tensor(initial_clusters), "KMeans")
        if len(s) != 2 or s[1] != dim or not isinstance(s[0], int):
            raise ValueError(f"KMeans: initial_clusters must be [num_clusters, {dim}], got "
                             f"{list(s)}")
        return s[0]
    if isinstance(num_clusters, bool) or not isinstance(num_clusters, (int, np.integer)) \
            or num_clusters < 1:
        raise ValueError(f"KMeans: num_clusters must be a positive int, got {num_clusters!r}")
    return int(num_clusters)


__all__ = ["KMeans", "SQUARED_EUCLIDEAN_DISTANCE", "COSINE_DISTANCE", "RANDOM_INIT",
           "KMEANS_PLUS_PLUS_INIT", "KMC2_INIT", "CLUSTERS_VAR_NAME"]
