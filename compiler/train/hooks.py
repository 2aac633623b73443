"""Session-run hooks (TF1's `tf.train.SessionRunHook` family) for `MonitoredSession`.

A hook sees a monitored session's life: `begin()` (the graph may still change),
`after_create_session(session, coord)` (variables initialized or restored),
`before_run(run_context)` returning `SessionRunArgs(fetches, feed_dict)` to add to the
caller's run, `after_run(run_context, run_values)` with those fetches' results, and
`end(session)` at a clean close (also after `OutOfRangeError`). `run_context.session` is
the plain `Session` (a hook's own `session.run` calls no hooks) and
`run_context.request_stop()` makes `should_stop()` true.

The hooks here: `StopAtStepHook`, `LoggingTensorHook`, `NanTensorHook`,
`CheckpointSaverHook` (through `Saver.save` and `latest_checkpoint` only),
`StepCounterHook` (logs global steps per second), `SummarySaverHook` (fetches a summary
op with the caller's run every N steps and writes it with `fc.summary.FileWriter`),
`FinalOpsHook` (runs ops at the end) and `FeedFnHook` (adds `feed_fn()`'s feeds to every
run).
"""

from __future__ import annotations

import collections
import os
import time

import numpy as np

from ..frontend.graph import get_default_graph
from ..platform import tf_logging as logging
from .global_step import get_global_step

__all__ = [
    "CheckpointSaverHook", "CheckpointSaverListener", "FeedFnHook", "FinalOpsHook",
    "LoggingTensorHook", "NanLossDuringTrainingError", "NanTensorHook", "SecondOrStepTimer",
    "SessionRunArgs", "SessionRunContext", "SessionRunHook", "SessionRunValues", "StepCounterHook",
    "StopAtStepHook", "SummarySaverHook",
]


class SessionRunArgs(collections.namedtuple("SessionRunArgs",
                                            ["fetches", "feed_dict", "options"])):
    """What a hook adds to a run: fetches (any nest), feeds, run options."""

    def __new__(cls, fetches, feed_dict=None, options=None):
        return super().__new__(cls, fetches, feed_dict, options)


SessionRunValues = collections.namedtuple("SessionRunValues",
                                          ["results", "options", "run_metadata"])


class SessionRunContext:
    """The run being made: `original_args` (the caller's SessionRunArgs), `session` (the
    plain Session) and `request_stop()`."""

    def __init__(self, original_args, session):
        self.original_args = original_args
        self.session = session
        self._stop_requested = False

    @property
    def stop_requested(self):
        return self._stop_requested

    def request_stop(self):
        self._stop_requested = True


class SessionRunHook:
    """The base class: every method does nothing."""

    def begin(self):
        pass

    def after_create_session(self, session, coord):
        pass

    def before_run(self, run_context):
        return None

    def after_run(self, run_context, run_values):
        pass

    def end(self, session):
        pass


class SecondOrStepTimer:
    """Triggers every `every_secs` seconds or every `every_steps` steps (one of the two)."""

    def __init__(self, every_secs=None, every_steps=None):
        if (every_secs is None) == (every_steps is None):
            raise ValueError("exactly one of every_secs and every_steps must be given, got "
                             f"every_secs={every_secs!r}, every_steps={every_steps!r}")
        self._every_secs, self._every_steps = every_secs, every_steps
        self.reset()

    def reset(self):
        self._last_time = self._last_step = None

    def should_trigger_for_step(self, step):
        if self._last_step is None:
            return True
        if self._last_step == step:
            return False
        if self._every_secs is not None:
            return time.time() >= self._last_time + self._every_secs
        return step >= self._last_step + self._every_steps

    def update_last_triggered_step(self, step):
        """Record a trigger at `step`; returns (seconds, steps) since the previous one."""
        now = time.time()
        elapsed = None if self._last_time is None else (now - self._last_time,
                                                        step - self._last_step)
        self._last_time, self._last_step = now, step
        return elapsed

    def last_triggered_step(self):
        return self._last_step


def _require_global_step(hook):
    step = get_global_step()
    if step is None:
        raise RuntimeError(f"Global step should be created to use {hook}: call "
                           "fc.train.get_or_create_global_step() first")
    return step.value()


class StopAtStepHook(SessionRunHook):
    """Requests a stop once the global step reaches `last_step`, or `num_steps` steps
    after the session was created (exactly one of the two)."""

    def __init__(self, num_steps=None, last_step=None):
        if num_steps is None and last_step is None:
            raise ValueError("One of num_steps or last_step must be specified.")
        if num_steps is not None and last_step is not None:
            raise ValueError("Only one of num_steps or last_step can be specified.")
        self._num_steps, self._last_step = num_steps, last_step

    def begin(self):
        self._step = _require_global_step("StopAtStepHook")

    def after_create_session(self, session, coord):
        if self._last_step is None:
            self._last_step = int(session.run(self._step)) + self._num_steps

    def before_run(self, run_context):
        return SessionRunArgs(self._step)

    def after_run(self, run_context, run_values):
        # the fetched step is the value before this run's increment
        if int(run_values.results) + 1 >= self._last_step:
            if int(run_context.session.run(self._step)) >= self._last_step:
                run_context.request_stop()


def _as_tensor_dict(tensors):
    if isinstance(tensors, dict):
        return dict(tensors), list(tensors)
    graph = get_default_graph()
    out = {}
    for t in tensors:
        t = graph.get_tensor_by_name(t) if isinstance(t, str) else t
        out[t.name] = t
    return out, list(out)


class LoggingTensorHook(SessionRunHook):
    """Logs `tensors` (a dict tag -> tensor, or a list of tensors or names) with
    `fc.logging.info` every `every_n_iter` runs or `every_n_secs` seconds, and at the end
    when `at_end`; `formatter(values_dict) -> str` replaces the default format."""

    def __init__(self, tensors, every_n_iter=None, every_n_secs=None, at_end=False,
                 formatter=None):
        if not at_end and (every_n_iter is None) == (every_n_secs is None):
            raise ValueError("either at_end and/or exactly one of every_n_iter and "
                             "every_n_secs should be provided.")
        if every_n_iter is not None and every_n_iter <= 0:
            raise ValueError(f"invalid every_n_iter={every_n_iter}.")
        self._tensors, self._tags = _as_tensor_dict(tensors)
        self._timer = None if (every_n_iter is None and every_n_secs is None) else \
            SecondOrStepTimer(every_secs=every_n_secs, every_steps=every_n_iter)
        self._at_end, self._formatter = at_end, formatter

    def begin(self):
        self._iter = 0
        if self._timer:
            self._timer.reset()

    def before_run(self, run_context):
        self._trigger = self._timer is not None and \
            self._timer.should_trigger_for_step(self._iter)
        return SessionRunArgs(self._tensors) if self._trigger else None

    def after_run(self, run_context, run_values):
        if self._trigger:
            elapsed = self._timer.update_last_triggered_step(self._iter)
            self._log(run_values.results, elapsed)
        self._iter += 1

    def end(self, session):
        if self._at_end:
            self._log(session.run(self._tensors), None)

    def _log(self, values, elapsed):
        if self._formatter:
            logging.info(self._formatter(values))
            return
        text = ", ".join(f"{tag} = {values[tag]}" for tag in self._tags)
        if elapsed is not None:
            text += f" ({elapsed[0]:.3f} sec)"
        logging.info(text)


class NanLossDuringTrainingError(RuntimeError):
    def __str__(self):
        return "NaN loss during training."


class NanTensorHook(SessionRunHook):
    """Raises NanLossDuringTrainingError (or, with `fail_on_nan_loss=False`, logs and
    requests a stop) when `loss_tensor` is NaN after a run."""

    def __init__(self, loss_tensor, fail_on_nan_loss=True):
        self._loss, self._fail = loss_tensor, fail_on_nan_loss

    def before_run(self, run_context):
        return SessionRunArgs(self._loss)

    def after_run(self, run_context, run_values):
        if np.isnan(run_values.results):
            if self._fail:
                logging.error("Model diverged with loss = NaN.")
                raise NanLossDuringTrainingError
            logging.warning("Model diverged with loss = NaN.")
            run_context.request_stop()


class CheckpointSaverListener:
    """Called by CheckpointSaverHook around each save: `begin()`,
    `before_save(session, step)`, `after_save(session, step)` (True requests a stop),
    `end(session, step)`."""

    def begin(self):
        pass

    def before_save(self, session, global_step_value):
        pass

    def after_save(self, session, global_step_value):
        pass

    def end(self, session, global_step_value):
        pass


class CheckpointSaverHook(SessionRunHook):
    """Saves a checkpoint `checkpoint_dir/checkpoint_basename-STEP` when the session is
    created, every `save_secs` seconds or `save_steps` steps, and at the end (unless the
    last step was saved already). The saver is `saver`, the scaffold's, or a new
    `fc.train.Saver()`."""

    def __init__(self, checkpoint_dir, save_secs=None, save_steps=None, saver=None,
                 checkpoint_basename="model.ckpt", scaffold=None, listeners=None):
        if saver is not None and scaffold is not None:
            raise ValueError("You cannot provide both saver and scaffold.")
        self._dir = checkpoint_dir
        self._path = os.path.join(checkpoint_dir, checkpoint_basename)
        self._saver, self._scaffold = saver, scaffold
        self._timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        self._listeners = list(listeners or [])

    def begin(self):
        self._step = _require_global_step("CheckpointSaverHook")
        for listener in self._listeners:
            listener.begin()

    def after_create_session(self, session, coord):
        step = int(session.run(self._step))
        self._save(session, step)
        self._timer.update_last_triggered_step(step)

    def before_run(self, run_context):
        return SessionRunArgs(self._step)

    def after_run(self, run_context, run_values):
        if self._timer.should_trigger_for_step(int(run_values.results) + 1):
            step = int(run_context.session.run(self._step))
            if self._timer.should_trigger_for_step(step):
                self._timer.update_last_triggered_step(step)
                if self._save(run_context.session, step):
                    run_context.request_stop()

    def end(self, session):
        step = int(session.run(self._step))
        if step != self._timer.last_triggered_step():
            self._save(session, step)
        for listener in self._listeners:
            listener.end(session, step)

    def _get_saver(self):
        if self._saver is not None:
            return self._saver
        if self._scaffold is not None and self._scaffold.saver is not None:
            return self._scaffold.saver
        from .saver import Saver
        self._saver = Saver()
        return self._saver

    def _save(self, session, step):
        """Save; True when a listener asks to stop."""
        logging.info(f"Saving checkpoints for {step} into {self._path}.")
        for listener in self._listeners:
            listener.before_save(session, step)
        self._get_saver().save(session, self._path, global_step=step)
        return any(listener.after_save(session, step) for listener in self._listeners)


class StepCounterHook(SessionRunHook):
    """Logs `global_step/sec` every `every_n_steps` steps (or `every_n_secs` seconds)."""

    def __init__(self, every_n_steps=100, every_n_secs=None, output_dir=None,
                 summary_writer=None):
        if every_n_secs is not None:
            every_n_steps = None
        self._timer = SecondOrStepTimer(every_secs=every_n_secs, every_steps=every_n_steps)

    def begin(self):
        self._step = _require_global_step("StepCounterHook")

    def before_run(self, run_context):
        return SessionRunArgs(self._step)

    def after_run(self, run_context, run_values):
        step = int(run_values.results) + 1
        if self._timer.should_trigger_for_step(step):
            elapsed = self._timer.update_last_triggered_step(step)
            if elapsed is not None and elapsed[0] > 0:
                logging.info(f"global_step/sec: {elapsed[1] / elapsed[0]:g}")


class SummarySaverHook(SessionRunHook):
    """Every `save_steps` steps (or `save_secs` seconds) fetches `summary_op` (default:
    `fc.summary.merge_all()`) with the caller's run, so it sees the caller's feeds, and
    writes it at the global step to `output_dir` (or `summary_writer`)."""

    def __init__(self, save_steps=None, save_secs=None, output_dir=None, summary_writer=None,
                 scaffold=None, summary_op=None):
        self._timer = SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
        self._dir, self._writer, self._scaffold = output_dir, summary_writer, scaffold
        self._summary_op = summary_op

    def begin(self):
        from ..summary import FileWriter, merge_all
        self._step = _require_global_step("SummarySaverHook")
        if self._summary_op is None:
            self._summary_op = (self._scaffold.summary_op if self._scaffold else None) \
                or merge_all()
        if self._writer is None and self._dir is not None:
            self._writer = FileWriter(self._dir, get_default_graph())
            self._own_writer = True
        else:
            self._own_writer = False

    def after_create_session(self, session, coord):
        self._next_step = int(session.run(self._step))

    def before_run(self, run_context):
        self._trigger = self._summary_op is not None and self._writer is not None and \
            self._timer.should_trigger_for_step(self._next_step)
        fetches = {"step": self._step}
        if self._trigger:
            fetches["summary"] = self._summary_op
        return SessionRunArgs(fetches)

    def after_run(self, run_context, run_values):
        step = int(run_values.results["step"])
        if self._trigger:
            self._timer.update_last_triggered_step(step)
            self._writer.add_summary(run_values.results["summary"], step)
        self._next_step = step + 1

    def end(self, session):
        if self._writer is not None:
            self._writer.flush()
            if self._own_writer:
                self._writer.close()


class FeedFnHook(SessionRunHook):
    """Adds `feed_fn()` (a feed dict) to every run."""

    def __init__(self, feed_fn):
        self.feed_fn = feed_fn

    def before_run(self, run_context):
        return SessionRunArgs(fetches=None, feed_dict=self.feed_fn())


class FinalOpsHook(SessionRunHook):
    """Runs `final_ops` (any nest of tensors) at `end(session)`; their values are then
    `final_ops_values`."""

    def __init__(self, final_ops, final_ops_feed_dict=None):
        self._final_ops, self._feed = final_ops, final_ops_feed_dict
        self.final_ops_values = None

    def end(self, session):
        if self._final_ops is not None:
            self.final_ops_values = session.run(self._final_ops, feed_dict=self._feed)
