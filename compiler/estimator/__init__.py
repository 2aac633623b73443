"""`fc.estimator` (TF1's `tf.estimator`): `Estimator` over a `model_fn` (estimator.py),
`EstimatorSpec`, `ModeKeys`, `RunConfig` (spec.py), `inputs.numpy_input_fn` (inputs.py),
`train_and_evaluate` with `TrainSpec`/`EvalSpec` (training.py), the canned
`LinearRegressor`, `LinearClassifier`, `DNNRegressor`, `DNNClassifier` (canned.py)
and TF1's aliases of the session-run hooks of `fc.train`. See docs/tf1_api.md
"Estimators"."""

import types as _types

from ..train.hooks import (
    CheckpointSaverHook,
    CheckpointSaverListener,
    FeedFnHook,
    FinalOpsHook,
    LoggingTensorHook,
    NanLossDuringTrainingError,
    NanTensorHook,
    SecondOrStepTimer,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)
from .canned import DNNClassifier, DNNRegressor, LinearClassifier, LinearRegressor
from .estimator import Estimator
from .inputs import numpy_input_fn
from .spec import EstimatorSpec, ModeKeys, RunConfig
from .training import EvalSpec, TrainSpec, train_and_evaluate
from .warm_start import WarmStartSettings

inputs = _types.SimpleNamespace(numpy_input_fn=numpy_input_fn)

__all__ = [
    "DNNClassifier", "DNNRegressor", "LinearClassifier", "LinearRegressor",
    "CheckpointSaverHook", "CheckpointSaverListener", "Estimator", "EstimatorSpec", "EvalSpec",
    "FeedFnHook", "FinalOpsHook", "inputs", "LoggingTensorHook", "ModeKeys",
    "NanLossDuringTrainingError", "NanTensorHook", "RunConfig", "SecondOrStepTimer",
    "SessionRunArgs", "SessionRunContext", "SessionRunHook", "SessionRunValues", "StepCounterHook",
    "StopAtStepHook", "SummarySaverHook", "TrainSpec", "train_and_evaluate", "WarmStartSettings",
]
