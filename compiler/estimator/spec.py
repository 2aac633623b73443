"""`ModeKeys`, `EstimatorSpec` and `RunConfig`: what a `model_fn` receives and returns,
and how an Estimator runs (TF1 1.15's fields and validation)."""

from __future__ import annotations

import collections

from ..frontend.graph import Operation, Tensor


class ModeKeys:
    """The three modes a `model_fn` is called in."""

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


_SPEC_FIELDS = ["mode", "predictions", "loss", "train_op", "eval_metric_ops", "export_outputs",
                "training_chief_hooks", "training_hooks", "scaffold", "evaluation_hooks",
                "prediction_hooks"]


class EstimatorSpec(collections.namedtuple("EstimatorSpec", _SPEC_FIELDS)):
    """What `model_fn` returns: TRAIN needs `loss` and `train_op`, EVAL `loss`, PREDICT
    `predictions` (a tensor or a dict of tensors); `eval_metric_ops` maps names to
    `(value, update_op)` pairs such as `fc.metrics.*` return."""

    def __new__(cls, mode, predictions=None, loss=None, train_op=None, eval_metric_ops=None,
                export_outputs=None, training_chief_hooks=None, training_hooks=None,
                scaffold=None, evaluation_hooks=None, prediction_hooks=None):
        if mode not in (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT):
            raise ValueError(f"EstimatorSpec: mode must be one of ModeKeys, got {mode!r}")
        if mode == ModeKeys.TRAIN and train_op is None:
            raise ValueError("EstimatorSpec: missing train_op (mode TRAIN).")
        if mode in (ModeKeys.TRAIN, ModeKeys.EVAL) and loss is None:
            raise ValueError(f"EstimatorSpec: missing loss (mode {mode.upper()}).")
        if mode == ModeKeys.PREDICT and predictions is None:
            raise ValueError("EstimatorSpec: missing predictions (mode PREDICT).")
        if loss is not None:
            _check_tensor("loss", loss)
            if loss.shape.ndims not in (None, 0) and \
                    not (loss.shape.ndims == 1 and loss.shape[0] == 1):
                raise ValueError(f"EstimatorSpec: loss must be a scalar, got {loss.name!r} of "
                                 f"shape {loss.shape}")
        if train_op is not None and not isinstance(train_op, (Tensor, Operation)):
            raise TypeError(f"EstimatorSpec: train_op must be an Operation or Tensor, got "
                            f"{train_op!r}")
        predictions = {} if predictions is None else predictions
        items = predictions.items() if isinstance(predictions, dict) else [("", predictions)]
        for key, t in items:
            _check_tensor(f"predictions[{key!r}]" if key else "predictions", t)
        eval_metric_ops = dict(eval_metric_ops or {})
        for key, pair in eval_metric_ops.items():
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"EstimatorSpec: eval_metric_ops[{key!r}] must be a "
                                f"(value, update_op) tuple, got {pair!r}")
        return super().__new__(
            cls, mode, predictions, loss, train_op, eval_metric_ops, export_outputs or {},
            tuple(training_chief_hooks or ()), tuple(training_hooks or ()), scaffold,
            tuple(evaluation_hooks or ()), tuple(prediction_hooks or ()))


def _check_tensor(what, t):
    if not isinstance(t, Tensor):
        raise TypeError(f"EstimatorSpec: {what} must be a Tensor, got {t!r}")


class RunConfig:
    """How an Estimator runs: `model_dir`, `tf_random_seed` (the graph seed of every graph
    it builds), `save_summary_steps` (default 100), `save_checkpoints_steps` or
    `save_checkpoints_secs` (default 600 s when neither is given), `session_config` (a
    `fc.ConfigProto`, e.g. the backend), `keep_checkpoint_max` (5),
    `keep_checkpoint_every_n_hours`, `log_step_count_steps` (100)."""

    _DEFAULT_SECS = 600

    def __init__(self, model_dir=None, tf_random_seed=None, save_summary_steps=100,
                 save_checkpoints_steps=None, save_checkpoints_secs=None, session_config=None,
                 keep_checkpoint_max=5, keep_checkpoint_every_n_hours=10000,
                 log_step_count_steps=100, train_distribute=None, device_fn=None,
                 protocol=None, eval_distribute=None, experimental_distribute=None,
                 experimental_max_worker_delay_secs=None, session_creation_timeout_secs=7200):
        if save_checkpoints_steps is not None and save_checkpoints_secs is not None:
            raise ValueError("RunConfig: can not provide both save_checkpoints_steps and "
                             "save_checkpoints_secs.")
        if train_distribute is not None or eval_distribute is not None or device_fn is not None:
            raise NotImplementedError("RunConfig: distribution strategies and device_fn are "
                                      "not supported (flowc runs one worker)")
        if save_checkpoints_steps is None and save_checkpoints_secs is None:
            save_checkpoints_secs = self._DEFAULT_SECS
        for name, value in (("save_checkpoints_steps", save_checkpoints_steps),
                            ("log_step_count_steps", log_step_count_steps),
                            ("keep_checkpoint_max", keep_checkpoint_max)):
            if value is not None and value < 0:
                raise ValueError(f"RunConfig: {name} must be >= 0, got {value}")
        self.model_dir = None if model_dir is None else str(model_dir)
        self.tf_random_seed = tf_random_seed
        self.save_summary_steps = save_summary_steps
        self.save_checkpoints_steps = save_checkpoints_steps
        self.save_checkpoints_secs = save_checkpoints_secs
        self.session_config = session_config
        self.keep_checkpoint_max = keep_checkpoint_max
        self.keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self.log_step_count_steps = log_step_count_steps
        self.is_chief = True
        self.num_worker_replicas = 1
        self.num_ps_replicas = 0
        self.task_type, self.task_id, self.master, self.cluster_spec = "worker", 0, "", None

    def replace(self, **kwargs):
        """A copy with the given fields changed."""
        fields = dict(model_dir=self.model_dir, tf_random_seed=self.tf_random_seed,
                      save_summary_steps=self.save_summary_steps,
                      save_checkpoints_steps=self.save_checkpoints_steps,
                      save_checkpoints_secs=self.save_checkpoints_secs,
                      session_config=self.session_config,
                      keep_checkpoint_max=self.keep_checkpoint_max,
                      keep_checkpoint_every_n_hours=self.keep_checkpoint_every_n_hours,
                      log_step_count_steps=self.log_step_count_steps)
        unknown = set(kwargs) - set(fields)
        if unknown:
            raise ValueError(f"RunConfig.replace: unknown fields {sorted(unknown)}")
        if "save_checkpoints_steps" in kwargs and kwargs["save_checkpoints_steps"] is not None \
                and "save_checkpoints_secs" not in kwargs:
            fields["save_checkpoints_secs"] = None
        fields.update(kwargs)
        return RunConfig(**fields)

    def __repr__(self):
        return (f"RunConfig(model_dir={self.model_dir!r}, tf_random_seed={self.tf_random_seed},"
                f" save_checkpoints_steps={self.save_checkpoints_steps}, save_checkpoints_secs="
                f"{self.save_checkpoints_secs}, log_step_count_steps="
                f"{self.log_step_count_steps})")
