"""`fc.estimator.train_and_evaluate(estimator, train_spec, eval_spec)` with `TrainSpec` and
`EvalSpec`: TF1's local (single-process) schedule.

Training runs `estimator.train(train_spec.input_fn, max_steps=train_spec.max_steps,
hooks=train_spec.hooks)` with a checkpoint listener: after each checkpoint save except the
first (the model is not trained yet), when at least `eval_spec.throttle_secs` passed since
the last evaluation, it calls `estimator.evaluate(eval_spec.input_fn, steps=eval_spec.steps,
name=eval_spec.name, hooks=eval_spec.hooks)` on that checkpoint; at the end of training it
evaluates the last checkpoint unless that step was just evaluated. Returns
`(metrics of the last evaluation, [])` (exporters are not supported).
"""

from __future__ import annotations

import collections

from ..train.hooks import CheckpointSaverListener, SecondOrStepTimer
from .estimator import Estimator

__all__ = ["EvalSpec", "TrainSpec", "train_and_evaluate"]


class TrainSpec(collections.namedtuple("TrainSpec", ["input_fn", "max_steps", "hooks"])):
    """`input_fn`, `max_steps` (None: until the input ends), `hooks`."""

    def __new__(cls, input_fn, max_steps=None, hooks=None):
        if not callable(input_fn):
            raise TypeError(f"TrainSpec: input_fn must be callable, got {input_fn!r}")
        if max_steps is not None and max_steps <= 0:
            raise ValueError(f"Must specify max_steps > 0, given: {max_steps}")
        return super().__new__(cls, input_fn, max_steps, tuple(hooks or ()))


class EvalSpec(collections.namedtuple("EvalSpec", [
        "input_fn", "steps", "name", "hooks", "exporters", "start_delay_secs",
        "throttle_secs"])):
    """`input_fn`, `steps` (default 100; None: until the input ends), `name`, `hooks`,
    `throttle_secs` (default 600)."""

    def __new__(cls, input_fn, steps=100, name=None, hooks=None, exporters=None,
                start_delay_secs=120, throttle_secs=600):
        if not callable(input_fn):
            raise TypeError(f"EvalSpec: input_fn must be callable, got {input_fn!r}")
        if steps is not None and steps <= 0:
            raise ValueError(f"Must specify steps > 0, given: {steps}")
        if exporters:
            raise NotImplementedError("EvalSpec: exporters (SavedModel export) are not "
                                      "supported")
        if throttle_secs < 0:
            raise ValueError(f"Must specify throttle_secs >= 0, given: {throttle_secs}")
        return super().__new__(cls, input_fn, steps, name, tuple(hooks or ()), (),
                               start_delay_secs, throttle_secs)


class _EvaluateOnSave(CheckpointSaverListener):
    def __init__(self, estimator, eval_spec):
        self._estimator, self._spec = estimator, eval_spec
        self.result = None

    def begin(self):
        self._timer = SecondOrStepTimer(every_secs=self._spec.throttle_secs)
        self._first = True

    def after_save(self, session, global_step_value):
        if self._first:  # the save at session creation: nothing trained yet
            self._first = False
            return
        if self._timer.should_trigger_for_step(global_step_value):
            self._evaluate(global_step_value)

    def end(self, session, global_step_value):
        if global_step_value != self._timer.last_triggered_step():
            self._evaluate(global_step_value)

    def _evaluate(self, step):
        self._timer.update_last_triggered_step(step)
        spec = self._spec
        self.result = self._estimator.evaluate(spec.input_fn, steps=spec.steps, name=spec.name,
                                               hooks=list(spec.hooks))


def train_and_evaluate(estimator, train_spec, eval_spec):
    """Train and evaluate as the module docstring says; returns (metrics, [])."""
    if not isinstance(estimator, Estimator):
        raise TypeError(f"estimator must be a fc.estimator.Estimator, got {estimator!r}")
    if not isinstance(train_spec, TrainSpec) or not isinstance(eval_spec, EvalSpec):
        raise TypeError("train_and_evaluate needs a TrainSpec and an EvalSpec")
    listener = _EvaluateOnSave(estimator, eval_spec)
    estimator.train(train_spec.input_fn, hooks=list(train_spec.hooks),
                    max_steps=train_spec.max_steps, saving_listeners=[listener])
    if listener.result is None:  # training was skipped: evaluate what is there
        listener.result = estimator.evaluate(eval_spec.input_fn, steps=eval_spec.steps,
                                             name=eval_spec.name, hooks=list(eval_spec.hooks))
    return listener.result, []
