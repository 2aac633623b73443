"""Canned estimators: `LinearRegressor`, `LinearClassifier`, `DNNRegressor`,
`DNNClassifier` (TF1's v1 classes), each an `Estimator` whose model_fn is a network over
`fc.feature_column` inputs plus a *head*: the loss, predictions and metrics of TF1's v1
heads.

- Networks: linear — `feature_column.linear_model` under the variable scope `linear`
  (`linear/linear_model/<column>/weights`, zeros); DNN — `input_layer` under
  `dnn/input_from_feature_columns`, then `dnn/hiddenlayer_<i>` dense layers
  (glorot-uniform kernels, `activation_fn`, dropout with rate `dropout` in TRAIN) and
  `dnn/logits`.
- Default optimizers: linear `Ftrl(min(0.2, 1/sqrt(#columns)))`, DNN `Adagrad(0.05)`; a
  name ('Adagrad', 'Adam', 'Ftrl', 'RMSProp', 'SGD') takes that default rate, an optimizer
  instance or a callable returning one is used as given.
- Heads (`weight_column`: a key or numeric_column of per-example weights):
  regression — loss per element `(logits - labels)²`, predictions `{"predictions"}`,
  metrics `average_loss`, `label/mean`, `prediction/mean`; binary (n_classes=2) — sigmoid
  cross-entropy of one logit, predictions `logits`, `logistic`, `probabilities`,
  `class_ids`, metrics `accuracy`, `accuracy_baseline`, `auc`, `auc_precision_recall`,
  `average_loss`, `label/mean`, `precision`, `prediction/mean`, `recall`; multi-class —
  sparse softmax cross-entropy, predictions `logits`, `probabilities`, `class_ids`,
  metrics `accuracy`, `average_loss`. The training loss is reduced with `loss_reduction`
  (TF1 v1's default: `SUM` over the batch); the `loss` of `evaluate` is its mean over the
  batches. TF1's string `classes` prediction needs string tensors and is left out;
  `label_vocabulary` raises NotImplementedError.
"""

from __future__ import annotations

import math

from ..frontend import feature_column as fcol
from ..frontend import losses, metrics
from ..frontend.core import convert_to_tensor
from ..frontend.layers import dense
from ..frontend.layers import dropout as layer_dropout
from ..frontend.manip_ops import concat, expand_dims, reshape
from ..frontend.math_ops import cast, greater, maximum, sigmoid, subtract
from ..frontend.nn import (
    relu,
    sigmoid_cross_entropy_with_logits,
    softmax,
    sparse_softmax_cross_entropy_with_logits,
)
from ..frontend.reduce_ops import argmax
from ..frontend.variable_scope import variable_scope
from ..ir import dtypes as T
from ..train import adaptive, optimizers
from ..train.global_step import get_global_step
from .estimator import Estimator
from .spec import EstimatorSpec, ModeKeys

__all__ = ["DNNClassifier", "DNNRegressor", "LinearClassifier", "LinearRegressor"]

_OPTIMIZERS = {"Adagrad": adaptive.AdagradOptimizer, "Adam": optimizers.AdamOptimizer,
               "Ftrl": adaptive.FtrlOptimizer, "RMSProp": adaptive.RMSPropOptimizer,
               "SGD": optimizers.GradientDescentOptimizer}


def _optimizer(opt, default_rate):
    if isinstance(opt, str):
        if opt not in _OPTIMIZERS:
            raise ValueError(f"Unsupported optimizer name: {opt}. Supported names are: "
                             f"{sorted(_OPTIMIZERS)}")
        return _OPTIMIZERS[opt](learning_rate=default_rate)
    if callable(opt) and not isinstance(opt, optimizers.Optimizer):
        opt = opt()
    if not isinstance(opt, optimizers.Optimizer):
        raise ValueError(f"The given object is not an Optimizer instance. Given: {opt!r}")
    return opt


def _weights(features, weight_column):
    if weight_column is None:
        return None
    key = weight_column if isinstance(weight_column, str) else weight_column.key
    return reshape(cast(convert_to_tensor(features[key]), T.float32), [-1, 1])


def _linear_logits(features, feature_columns, units):
    with variable_scope("linear"):
        return fcol.linear_model(features, feature_columns, units=units)


def _dnn_logits(features, feature_columns, units, hidden_units, activation_fn, rate, mode):
    with variable_scope("dnn"):
        with variable_scope("input_from_feature_columns"):
            net = fcol.input_layer(features, feature_columns)
        for i, n in enumerate(hidden_units):
            net = dense(net, n, activation=activation_fn, name=f"hiddenlayer_{i}")
            if rate is not None and mode == ModeKeys.TRAIN:
                net = layer_dropout(net, rate=rate, training=True)
        return dense(net, units, name="logits")


def _train_op(mode, loss, optimizer):
    if mode != ModeKeys.TRAIN:
        return None
    return optimizer.minimize(loss, global_step=get_global_step())


def _regression_spec(mode, logits, labels, weights, optimizer, reduction, label_dimension):
    predictions = {"predictions": logits}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions)
    labels = reshape(cast(convert_to_tensor(labels), T.float32), [-1, label_dimension])
    unreduced = (logits - labels) * (logits - labels)
    w = 1.0 if weights is None else weights
    loss = losses.compute_weighted_loss(unreduced, w, reduction=reduction, loss_collection=None)
    eval_metrics = {
        "average_loss": metrics.mean(unreduced, weights=weights),
        "label/mean": metrics.mean(labels, weights=weights),
        "prediction/mean": metrics.mean(logits, weights=weights),
    }
    return EstimatorSpec(mode, predictions=predictions, loss=loss,
                         train_op=_train_op(mode, loss, optimizer()),
                         eval_metric_ops=eval_metrics if mode == ModeKeys.EVAL else None)


def _binary_spec(mode, logits, labels, weights, optimizer, reduction):
    logistic = sigmoid(logits)
    class_ids = cast(greater(logits, 0.0), T.int64)
    predictions = {"logits": logits, "logistic": logistic,
                   "probabilities": concat([subtract(1.0, logistic), logistic], 1),
                   "class_ids": class_ids}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions)
    labels = reshape(cast(convert_to_tensor(labels), T.float32), [-1, 1])
    unreduced = sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    w = 1.0 if weights is None else weights
    loss = losses.compute_weighted_loss(unreduced, w, reduction=reduction, loss_collection=None)
    spec_metrics = None
    if mode == ModeKeys.EVAL:
        label_mean, label_mean_update = metrics.mean(labels, weights=weights)
        spec_metrics = {
            "accuracy": metrics.accuracy(labels, cast(class_ids, T.float32), weights=weights),
            "accuracy_baseline": (maximum(label_mean, subtract(1.0, label_mean)),
                                  maximum(label_mean_update, subtract(1.0, label_mean_update))),
            "auc": metrics.auc(labels, logistic, weights=weights),
            "auc_precision_recall": metrics.auc(labels, logistic, weights=weights, curve="PR",
                                                summation_method="careful_interpolation"),
            "average_loss": metrics.mean(unreduced, weights=weights),
            "label/mean": (label_mean, label_mean_update),
            "precision": metrics.precision(labels, class_ids, weights=weights),
            "prediction/mean": metrics.mean(logistic, weights=weights),
            "recall": metrics.recall(labels, class_ids, weights=weights),
        }
    return EstimatorSpec(mode, predictions=predictions, loss=loss,
                         train_op=_train_op(mode, loss, optimizer()),
                         eval_metric_ops=spec_metrics)


def _multi_class_spec(mode, logits, labels, weights, optimizer, reduction):
    class_ids = expand_dims(argmax(logits, 1), 1)
    predictions = {"logits": logits, "probabilities": softmax(logits), "class_ids": class_ids}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions)
    labels = reshape(cast(convert_to_tensor(labels), T.int64), [-1, 1])
    unreduced = expand_dims(sparse_softmax_cross_entropy_with_logits(
        labels=reshape(labels, [-1]), logits=logits), 1)
    w = 1.0 if weights is None else weights
    loss = losses.compute_weighted_loss(unreduced, w, reduction=reduction, loss_collection=None)
    spec_metrics = None
    if mode == ModeKeys.EVAL:
        spec_metrics = {"accuracy": metrics.accuracy(labels, class_ids, weights=weights),
                        "average_loss": metrics.mean(unreduced, weights=weights)}
    return EstimatorSpec(mode, predictions=predictions, loss=loss,
                         train_op=_train_op(mode, loss, optimizer()),
                         eval_metric_ops=spec_metrics)


def _classifier_fn(n_classes, label_vocabulary):
    if label_vocabulary is not None:
        raise NotImplementedError("label_vocabulary needs string labels, which flowc does not "
                                  "have in graphs; pass integer class ids")
    if n_classes < 2:
        raise ValueError(f"n_classes must be > 1: {n_classes}")
    return n_classes == 2


class _Canned(Estimator):
    def __init__(self, network, head, units, model_dir, config, optimizer, default_rate,
                 weight_column, loss_reduction, warm_start_from):
        def model_fn(features, labels, mode):
            if not isinstance(features, dict):
                raise ValueError(f"{type(self).__name__}: features must be a dict of tensors "
                                 f"keyed by the feature columns' keys, got {features!r}")
            logits = network(features, units, mode)
            return head(mode, logits, labels, _weights(features, weight_column),
                        lambda: _optimizer(optimizer, default_rate), loss_reduction)
        losses.Reduction.validate(loss_reduction)
        super().__init__(model_fn, model_dir=model_dir, config=config,
                         warm_start_from=warm_start_from)


def _linear_rate(feature_columns):
    return min(0.2, 1.0 / math.sqrt(len(list(feature_columns))))


class LinearRegressor(_Canned):
    def __init__(self, feature_columns, model_dir=None, label_dimension=1, weight_column=None,
                 optimizer="Ftrl", config=None, partitioner=None, warm_start_from=None,
                 loss_reduction=losses.Reduction.SUM, sparse_combiner="sum"):
        _linear_options(partitioner, sparse_combiner)
        cols = list(feature_columns)
        super().__init__(lambda f, units, mode: _linear_logits(f, cols, units),
                         _regression_head(label_dimension), label_dimension, model_dir, config,
                         optimizer, _linear_rate(cols), weight_column, loss_reduction,
                         warm_start_from)


class LinearClassifier(_Canned):
    def __init__(self, feature_columns, model_dir=None, n_classes=2, weight_column=None,
                 label_vocabulary=None, optimizer="Ftrl", config=None, partitioner=None,
                 warm_start_from=None, loss_reduction=losses.Reduction.SUM,
                 sparse_combiner="sum"):
        _linear_options(partitioner, sparse_combiner)
        cols = list(feature_columns)
        binary = _classifier_fn(n_classes, label_vocabulary)
        super().__init__(lambda f, units, mode: _linear_logits(f, cols, units),
                         _binary_spec if binary else _multi_class_spec,
                         1 if binary else n_classes, model_dir, config, optimizer,
                         _linear_rate(cols), weight_column, loss_reduction, warm_start_from)


class DNNRegressor(_Canned):
    def __init__(self, hidden_units, feature_columns, model_dir=None, label_dimension=1,
                 weight_column=None, optimizer="Adagrad", activation_fn=relu, dropout=None,
                 input_layer_partitioner=None, config=None, warm_start_from=None,
                 loss_reduction=losses.Reduction.SUM, batch_norm=False):
        _no_batch_norm(batch_norm, input_layer_partitioner)
        cols = list(feature_columns)
        hidden = list(hidden_units)
        super().__init__(
            lambda f, units, mode: _dnn_logits(f, cols, units, hidden, activation_fn,
                                               dropout, mode),
            _regression_head(label_dimension), label_dimension, model_dir, config, optimizer,
            0.05, weight_column, loss_reduction, warm_start_from)


class DNNClassifier(_Canned):
    def __init__(self, hidden_units, feature_columns, model_dir=None, n_classes=2,
                 weight_column=None, label_vocabulary=None, optimizer="Adagrad",
                 activation_fn=relu, dropout=None, input_layer_partitioner=None, config=None,
                 warm_start_from=None, loss_reduction=losses.Reduction.SUM, batch_norm=False):
        _no_batch_norm(batch_norm, input_layer_partitioner)
        cols = list(feature_columns)
        hidden = list(hidden_units)
        binary = _classifier_fn(n_classes, label_vocabulary)
        super().__init__(
            lambda f, units, mode: _dnn_logits(f, cols, units, hidden, activation_fn,
                                               dropout, mode),
            _binary_spec if binary else _multi_class_spec, 1 if binary else n_classes,
            model_dir, config, optimizer, 0.05, weight_column, loss_reduction, warm_start_from)


def _regression_head(label_dimension):
    def head(mode, logits, labels, weights, optimizer, reduction):
        return _regression_spec(mode, logits, labels, weights, optimizer, reduction,
                                label_dimension)
    return head


def _no_batch_norm(batch_norm, partitioner=None):
    if batch_norm:
        raise NotImplementedError("batch_norm=True is not supported")
    if partitioner is not None:
        raise NotImplementedError("partitioners are not supported (flowc does not shard "
                                  "variables)")


def _linear_options(partitioner, sparse_combiner):
    _no_batch_norm(False, partitioner)
    if sparse_combiner != "sum":
        raise NotImplementedError(f"sparse_combiner={sparse_combiner!r}: only 'sum' is "
                                  f"supported")

