"""`fc.contrib.factorization.KMeansClustering`: TF1's k-means Estimator (TF 1.15's
`KMeansClustering`, also `tf.estimator.experimental.KMeans`) over
`fc.contrib.factorization.KMeans.training_graph()`.

Its `model_fn` is TF1's: the loss is the sum of the batch's `scores`, the train op runs
the k-means training op and increments the global step, a training hook runs `init_op`
right after the session is made until the centers are initialized (that run consumes a
batch of the input, as in TF1), and with `relative_tolerance` training stops once the loss
changes by less than that fraction between steps. Predictions are `all_distances` and
`cluster_index`; `evaluate` reports `score` (the mean of the loss over the batches).
`features` is a tensor or a dict of tensors (concatenated along axis 1 in key order);
`feature_columns` is not supported (a clear error).
"""

from __future__ import annotations

from ..frontend.control_flow import control_dependencies
from ..frontend.core import convert_to_tensor, identity
from ..frontend.factorization import (
    CLUSTERS_VAR_NAME,
    COSINE_DISTANCE,
    KMC2_INIT,
    KMEANS_PLUS_PLUS_INIT,
    RANDOM_INIT,
    SQUARED_EUCLIDEAN_DISTANCE,
    KMeans,
)
from ..frontend.manip_ops import concat
from ..frontend.metrics import mean as metric_mean
from ..frontend.reduce_ops import reduce_sum
from ..frontend.variables import assign_add
from ..summary import scalar
from ..train.checkpoint_utils import load_variable
from ..train.global_step import get_global_step
from ..train.hooks import SessionRunArgs, SessionRunHook
from .estimator import Estimator
from .spec import EstimatorSpec, ModeKeys


class _InitializeClustersHook(SessionRunHook):
    """Runs `init_op` until `is_initialized` (TF1's hook of the same name)."""

    def __init__(self, init_op, is_initialized):
        self._init_op, self._is_initialized = init_op, is_initialized

    def after_create_session(self, session, coord):
        while not session.run(self._is_initialized):
            session.run(self._init_op)


class _LossRelativeChangeHook(SessionRunHook):
    """Stops training once `|loss - previous| / (1 + |previous|) < tolerance`."""

    def __init__(self, loss, tolerance):
        self._loss, self._tolerance, self._previous = loss, float(tolerance), None

    def before_run(self, run_context):
        return SessionRunArgs(fetches={"loss": self._loss}, feed_dict=None, options=None)

    def after_run(self, run_context, run_values):
        loss = float(run_values.results["loss"])
        if self._previous is not None and (
                abs(loss - self._previous) / (1 + abs(self._previous)) < self._tolerance):
            run_context.request_stop()
        self._previous = loss


class KMeansClustering(Estimator):
    """TF1's k-means Estimator (see the module docstring)."""

    SCORE = "score"
    CLUSTER_CENTERS_VAR_NAME = CLUSTERS_VAR_NAME
    CLUSTER_INDEX = "cluster_index"
    ALL_DISTANCES = "all_distances"
    RANDOM_INIT = RANDOM_INIT
    KMEANS_PLUS_PLUS_INIT = KMEANS_PLUS_PLUS_INIT
    KMC2_INIT = KMC2_INIT
    SQUARED_EUCLIDEAN_DISTANCE = SQUARED_EUCLIDEAN_DISTANCE
    COSINE_DISTANCE = COSINE_DISTANCE

    def __init__(self, num_clusters, model_dir=None, initial_clusters=RANDOM_INIT,
                 distance_metric=SQUARED_EUCLIDEAN_DISTANCE, seed=None, use_mini_batch=True,
                 mini_batch_steps_per_iteration=1, kmeans_plus_plus_num_retries=2,
                 relative_tolerance=None, config=None, feature_columns=None):
        if feature_columns is not None:
            raise NotImplementedError("KMeansClustering: feature_columns is not supported; "
                                      "give the features as a tensor or a dict of tensors")
        if relative_tolerance is not None and use_mini_batch:
            raise ValueError("KMeansClustering: relative_tolerance needs use_mini_batch="
                             "False (as TF1)")
        kmeans_args = dict(num_clusters=num_clusters, initial_clusters=initial_clusters,
                           distance_metric=distance_metric, use_mini_batch=use_mini_batch,
                           mini_batch_steps_per_iteration=mini_batch_steps_per_iteration,
                           random_seed=0 if seed is None else seed,
                           kmeans_plus_plus_num_retries=kmeans_plus_plus_num_retries)

        def model_fn(features, mode, config):
            return _model_fn(features, mode, kmeans_args, relative_tolerance)

        super().__init__(model_fn, model_dir=model_dir, config=config)

    def cluster_centers(self):
        """The cluster centers of the latest checkpoint."""
        return load_variable(self.model_dir, CLUSTERS_VAR_NAME)

    def predict_cluster_index(self, input_fn):
        """Yields the index of the nearest cluster of each example."""
        for row in self.predict(input_fn, predict_keys=[self.CLUSTER_INDEX]):
            yield row[self.CLUSTER_INDEX]

    def score(self, input_fn):
        """The sum of the distances of the examples (one batch) to their nearest center."""
        return self.evaluate(input_fn=input_fn, steps=1)[self.SCORE]

    def transform(self, input_fn):
        """Yields each example's distances to every center."""
        for row in self.predict(input_fn, predict_keys=[self.ALL_DISTANCES]):
            yield row[self.ALL_DISTANCES]


def _features(features):
    if isinstance(features, dict):
        return concat([convert_to_tensor(features[k]) for k in sorted(features)], 1)
    return convert_to_tensor(features)


def _model_fn(features, mode, kmeans_args, relative_tolerance):
    (all_distances, model_predictions, losses, is_initialized, init_op,
     training_op) = KMeans(_features(features), **kmeans_args).training_graph()
    loss = reduce_sum(losses[0])
    scalar("loss/raw", loss)
    incr_step = assign_add(get_global_step(), 1)
    with control_dependencies([training_op, incr_step]):
        train_op = identity(loss)
    hooks = [_InitializeClustersHook(init_op, is_initialized)]
    if relative_tolerance is not None:
        hooks.append(_LossRelativeChangeHook(loss, relative_tolerance))
    return EstimatorSpec(mode=mode, loss=loss, train_op=train_op,
                         predictions={KMeansClustering.ALL_DISTANCES: all_distances[0],
                                      KMeansClustering.CLUSTER_INDEX: model_predictions[0]},
                         eval_metric_ops={KMeansClustering.SCORE: metric_mean(loss)},
                         training_hooks=hooks if mode == ModeKeys.TRAIN else ())


__all__ = ["KMeansClustering"]
