"""`fc.estimator.Estimator`: TF1's train / evaluate / predict loops over a `model_fn`.

Each call builds a fresh `Graph` (seeded with `RunConfig.tf_random_seed`), creates the
global step, calls `input_fn` and `model_fn(features, labels, mode, params, config)`
(passing the arguments it declares), and runs a `MonitoredSession`
(compiler/train/monitored.py) on the `EstimatorSpec`:

- `train(input_fn, hooks, steps, max_steps, saving_listeners)`: restores the latest
  checkpoint of `model_dir` (or initializes, then warm-starts from `warm_start_from`,
  warm_start.py), runs `train_op` until the input ends
  (`OutOfRangeError`), `steps` more steps are done, or the global step reaches
  `max_steps` (when it is there already, nothing runs); checkpoints
  `model_dir/model.ckpt-STEP` at the start, every `save_checkpoints_steps`/`_secs` and at
  the end (`Saver(max_to_keep=keep_checkpoint_max)`); logs the loss and steps/sec every
  `log_step_count_steps`; writes a `loss` summary every `save_summary_steps`; a NaN loss
  raises `NanLossDuringTrainingError`.
- `evaluate(input_fn, steps, hooks, checkpoint_path, name)`: restores the checkpoint
  (initializes when there is none, as TF1 1.15), runs every metric's update op once per
  batch until the input ends or `steps` batches, and returns a dict of the metric values,
  `loss` (the mean of the loss over the batches) and `global_step`; the values are also
  written as summaries to `model_dir/eval` (or `eval_NAME`).
- `predict(input_fn, predict_keys, hooks, checkpoint_path, yield_single_examples)`: a
  generator of one dict (or array) per example.

Checkpoints go only through `fc.train.Saver` (save/restore) and
`fc.train.latest_checkpoint`, so the Estimator follows whatever format the Saver writes.
"""

from __future__ import annotations

import inspect
import os
import tempfile

import numpy as np

from ..frontend.control_flow import group
from ..frontend.graph import Graph
from ..frontend.metrics import mean as metric_mean
from ..frontend.random_ops import set_random_seed
from ..platform import tf_logging as logging
from ..summary import FileWriter, scalar
from ..summary import proto as summary_proto
from ..train.global_step import get_or_create_global_step
from ..train.hooks import (
    CheckpointSaverHook,
    FinalOpsHook,
    LoggingTensorHook,
    NanTensorHook,
    SessionRunHook,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)
from ..train.monitored import ChiefSessionCreator, MonitoredSession, Scaffold
from ..train.saver import Saver, latest_checkpoint
from .spec import EstimatorSpec, ModeKeys, RunConfig
from .warm_start import init_fn as warm_start_init_fn
from .warm_start import settings_of

__all__ = ["Estimator"]

_MODEL_FN_ARGS = ("features", "labels", "mode", "params", "config")


class Estimator:
    """TF1's Estimator (see the module docstring)."""

    def __init__(self, model_fn, model_dir=None, config=None, params=None,
                 warm_start_from=None):
        self._warm_start = settings_of(warm_start_from)
        if config is not None and not isinstance(config, RunConfig):
            raise ValueError(f"Estimator: config must be a fc.estimator.RunConfig, got "
                             f"{config!r}")
        config = config or RunConfig()
        if model_dir is not None and config.model_dir is not None and \
                os.path.abspath(model_dir) != os.path.abspath(config.model_dir):
            raise ValueError(f"model_dir are set both in constructor and RunConfig, but with "
                             f"different values. In constructor: '{model_dir}', in RunConfig: "
                             f"'{config.model_dir}'")
        model_dir = model_dir or config.model_dir
        if model_dir is None:
            model_dir = tempfile.mkdtemp()
            logging.warning(f"Using temporary folder as model directory: {model_dir}")
        self._model_dir = os.fspath(model_dir)
        self._config = config.replace(model_dir=self._model_dir)
        self._params = dict(params or {})
        self._model_fn_args = _check_model_fn(model_fn, params)
        self._model_fn = model_fn

    # TF1 surface -----------------------------------------------------------------------
    @property
    def model_dir(self):
        return self._model_dir

    @property
    def config(self):
        return self._config

    @property
    def params(self):
        return dict(self._params)

    @property
    def model_fn(self):
        return self._model_fn

    def latest_checkpoint(self):
        """The newest checkpoint of `model_dir`, or None."""
        return latest_checkpoint(self._model_dir)

    def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
        """Train (see the module docstring); returns self."""
        if steps is not None and max_steps is not None:
            raise ValueError("Can not provide both steps and max_steps.")
        if steps is not None and steps <= 0:
            raise ValueError(f"Must specify steps > 0, given: {steps}")
        if max_steps is not None and max_steps <= 0:
            raise ValueError(f"Must specify max_steps > 0, given: {max_steps}")
        _check_hooks(hooks)
        if max_steps is not None:
            done = self._checkpointed_step()
            if done is not None and done >= max_steps:
                logging.info("Skipping training since max_steps has already saved.")
                return self
        with self._graph() as (graph, global_step):
            features, labels = self._input(input_fn, ModeKeys.TRAIN)
            spec = self._call_model_fn(features, labels, ModeKeys.TRAIN)
            scalar("loss", spec.loss)
            scaffold = self._scaffold(spec)
            if self._warm_start is not None and scaffold.init_fn is None:
                # runs only when the variables are initialized, not restored from model_dir
                scaffold = Scaffold(init_fn=warm_start_init_fn(self._warm_start),
                                    copy_from_scaffold=scaffold)
            cfg = self._config
            every = cfg.log_step_count_steps
            all_hooks = [NanTensorHook(spec.loss)]
            if every:
                all_hooks += [LoggingTensorHook({"loss": spec.loss, "step": global_step},
                                                every_n_iter=every),
                              StepCounterHook(every_n_steps=every)]
            if steps is not None or max_steps is not None:
                all_hooks.append(StopAtStepHook(num_steps=steps, last_step=max_steps))
            all_hooks += list(hooks or []) + list(spec.training_hooks)
            all_hooks += list(spec.training_chief_hooks)
            if cfg.save_summary_steps:
                all_hooks.append(SummarySaverHook(save_steps=cfg.save_summary_steps,
                                                  output_dir=self._model_dir,
                                                  scaffold=scaffold))
            all_hooks.append(CheckpointSaverHook(
                self._model_dir, save_secs=cfg.save_checkpoints_secs,
                save_steps=cfg.save_checkpoints_steps, scaffold=scaffold,
                listeners=saving_listeners))
            creator = ChiefSessionCreator(scaffold, config=cfg.session_config,
                                          checkpoint_dir=self._model_dir)
            loss = None
            with MonitoredSession(creator, all_hooks) as sess:
                while not sess.should_stop():
                    _, loss = sess.run([spec.train_op, spec.loss])
            logging.info(f"Loss for final step: {loss}.")
        return self

    def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None, name=None):
        """Evaluate the metrics (see the module docstring); returns a dict."""
        if steps is not None and steps <= 0:
            raise ValueError(f"Must specify steps > 0, given: {steps}")
        _check_hooks(hooks)
        path = self._checkpoint_to_load(checkpoint_path, "evaluate")
        with self._graph() as (graph, global_step):
            features, labels = self._input(input_fn, ModeKeys.EVAL)
            spec = self._call_model_fn(features, labels, ModeKeys.EVAL)
            if "loss" in spec.eval_metric_ops:
                raise ValueError('Metric with name "loss" is not allowed, because Estimator '
                                 'already defines a default metric with the same name.')
            metrics = {"loss": metric_mean(spec.loss), **spec.eval_metric_ops}
            update = group(*[u for _, u in metrics.values()])
            final = FinalOpsHook({**{k: v for k, (v, _) in metrics.items()},
                                  "global_step": global_step})
            all_hooks = list(hooks or []) + list(spec.evaluation_hooks) + [final]
            if steps is not None:
                all_hooks.append(_StopAfterNRunsHook(steps))
            creator = ChiefSessionCreator(self._scaffold(spec), config=self._config.session_config,
                                          checkpoint_filename_with_path=path)
            with MonitoredSession(creator, all_hooks) as sess:
                while not sess.should_stop():
                    sess.run(update)
        results = {k: _scalar(v) for k, v in final.final_ops_values.items()}
        self._write_eval_summaries(results, name)
        logging.info("Saving dict for global step %d: %s", results["global_step"],
                     ", ".join(f"{k} = {v}" for k, v in sorted(results.items())))
        return results

    def predict(self, input_fn, predict_keys=None, hooks=None, checkpoint_path=None,
                yield_single_examples=True):
        """Yield the predictions (see the module docstring)."""
        _check_hooks(hooks)
        path = self._checkpoint_to_load(checkpoint_path, "predict")
        # the session is made inside the estimator's graph context, which is left before
        # the first yield: the caller's default graph is its own between examples
        with self._graph():
            features, _labels = self._input(input_fn, ModeKeys.PREDICT)
            spec = self._call_model_fn(features, None, ModeKeys.PREDICT)
            predictions = _select(spec.predictions, predict_keys)
            all_hooks = list(hooks or []) + list(spec.prediction_hooks)
            creator = ChiefSessionCreator(self._scaffold(spec), config=self._config.session_config,
                                          checkpoint_filename_with_path=path)
            sess = MonitoredSession(creator, all_hooks)
        with sess:
            while not sess.should_stop():
                values = sess.run(predictions)
                if not yield_single_examples:
                    yield values
                    continue
                yield from _examples(values, predictions)

    # the pieces ------------------------------------------------------------------------
    def _graph(self):
        estimator = self

        class _Ctx:
            def __enter__(self):
                self._graph = Graph()
                self._ctx = self._graph.as_default()
                self._ctx.__enter__()
                set_random_seed(estimator._config.tf_random_seed)
                return self._graph, get_or_create_global_step(self._graph).value()

            def __exit__(self, *exc):
                return self._ctx.__exit__(*exc)
        return _Ctx()

    def _input(self, input_fn, mode):
        kwargs = {}
        accepted = _arg_names(input_fn)
        for key, value in (("mode", mode), ("params", self._params), ("config", self._config)):
            if key in accepted:
                kwargs[key] = value
        result = input_fn(**kwargs)
        if hasattr(result, "make_one_shot_iterator"):  # a tf.data Dataset
            result = result.make_one_shot_iterator().get_next()
        if isinstance(result, (tuple, list)):
            if len(result) != 2:
                raise ValueError(f"input_fn must return features or (features, labels), got "
                                 f"a {type(result).__name__} of {len(result)} items")
            return result[0], result[1]
        return result, None

    def _call_model_fn(self, features, labels, mode):
        kwargs = {"features": features}
        if "labels" in self._model_fn_args:
            kwargs["labels"] = labels
        elif labels is not None:
            raise ValueError("model_fn does not take labels, but input_fn returns labels.")
        for key, value in (("mode", mode), ("params", self._params), ("config", self._config)):
            if key in self._model_fn_args:
                kwargs[key] = value
        spec = self._model_fn(**kwargs)
        if not isinstance(spec, EstimatorSpec):
            raise ValueError(f"model_fn should return an EstimatorSpec, got {spec!r}")
        return spec

    def _scaffold(self, spec):
        scaffold = spec.scaffold or Scaffold()
        if scaffold.saver is None:
            scaffold.saver = Saver(max_to_keep=self._config.keep_checkpoint_max)
        return scaffold

    def _checkpoint_to_load(self, checkpoint_path, what):
        """`checkpoint_path`, else the latest checkpoint, else None (logged: the model is
        initialized to `what`)."""
        path = checkpoint_path or self.latest_checkpoint()
        if path is None:
            logging.info(f"Could not find trained model in model_dir: {self._model_dir}, "
                         f"running initialization to {what}.")
        return path

    def _checkpointed_step(self):
        """The global step of the latest checkpoint, read by restoring it into a graph
        with only the global step (Saver's public API); None without a checkpoint."""
        path = self.latest_checkpoint()
        if path is None:
            return None
        with self._graph() as (graph, step):
            from ..session import Session
            with Session(graph=graph, config=self._config.session_config) as sess:
                Saver([graph.get_collection("global_step")[0]]).restore(sess, path)
                return int(sess.run(step))

    def _write_eval_summaries(self, results, name):
        folder = os.path.join(self._model_dir, "eval" if not name else f"eval_{name}")
        values = b"".join(summary_proto.summary_scalar(k, float(v))
                          for k, v in results.items()
                          if k != "global_step" and np.ndim(v) == 0)
        with FileWriter(folder) as writer:
            writer.add_summary(values, int(results["global_step"]))

    def export_saved_model(self, *args, **kwargs):
        raise NotImplementedError("Estimator.export_saved_model: SavedModel export is not "
                                  "supported by flowc (checkpoints are in model_dir)")

    export_savedmodel = export_saved_model


class _StopAfterNRunsHook(SessionRunHook):
    def __init__(self, n):
        self._n, self._done = n, 0

    def after_run(self, run_context, run_values):
        self._done += 1
        if self._done >= self._n:
            run_context.request_stop()


def _arg_names(fn):
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def _check_model_fn(model_fn, params):
    if not callable(model_fn):
        raise TypeError(f"model_fn must be callable, got {model_fn!r}")
    args = _arg_names(model_fn)
    if "features" not in args:
        raise ValueError(f"model_fn ({model_fn}) must include features argument.")
    unknown = args - set(_MODEL_FN_ARGS) - {"self"}
    if unknown:
        raise ValueError(f"model_fn ({model_fn}) has following not expected args: "
                         f"{sorted(unknown)}")
    if params is not None and "params" not in args:
        raise ValueError(f"model_fn ({model_fn}) does not include params argument, but "
                         f"params ({params}) is passed to Estimator.")
    return args


def _check_hooks(hooks):
    for hook in hooks or ():
        if not isinstance(hook, SessionRunHook):
            raise TypeError(f"All hooks must be SessionRunHook instances, given: {hook!r}")


def _select(predictions, keys):
    if keys is None:
        return predictions
    if not isinstance(predictions, dict):
        raise ValueError("predict_keys argument is not valid in case of non-dict predictions.")
    keys = [keys] if isinstance(keys, str) else list(keys)
    missing = [k for k in keys if k not in predictions]
    if missing:
        raise ValueError(f"Expected to run at least one output from {sorted(predictions)}, "
                         f"provided {missing}.")
    return {k: predictions[k] for k in keys}


def _examples(values, predictions):
    if not isinstance(values, dict):
        yield from values
        return
    sizes = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in values.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(f"Batch length of predictions should be same: {sizes}")
    for i in range(next(iter(sizes.values()))):
        yield {k: v[i] for k, v in values.items()}


def _scalar(value):
    """A 0-d result as a numpy scalar (TF1's evaluate returns np.float32, np.int64)."""
    value = np.asarray(value)
    return value[()] if value.ndim == 0 else value
