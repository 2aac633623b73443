"""Monitored sessions: TF1's `tf.train.MonitoredSession`, `MonitoredTrainingSession`,
`SingularMonitoredSession`, `Scaffold` and `ChiefSessionCreator`.

A monitored session wraps a plain `Session`:

- creation: every hook's `begin()`, the scaffold is finalized (default `init_op`: the
  global variables initializer, `local_init_op`: the local variables initializer,
  `saver`: a `Saver` of the global variables when there are any; then the graph is
  finalized, so an op made inside the training loop is a GraphError, as in TF1), a
  `Session` is made,
  the latest checkpoint of `checkpoint_dir` is restored (`fc.train.latest_checkpoint` +
  `Saver.restore`) or else `init_op` (and `init_fn`) run, then `local_init_op` runs, then
  the graph's queue runners start under a `tf.train.Coordinator` (`coord`), then every
  hook's `after_create_session(session, coord)`;
- `run(fetches, feed_dict)`: the hooks' `before_run` fetches and feeds join the caller's
  in one `Session.run` (a tensor fed twice is a RuntimeError), then `after_run`; a hook's
  `request_stop()` makes `should_stop()` true;
- `close()` / leaving the `with` block: every hook's `end(session)` unless an exception
  other than `OutOfRangeError`/`StopIteration` is propagating (those two end the `with`
  block cleanly, as in TF1), then the coordinator stops and joins the queue-runner
  threads and the Session closes. `should_stop()` is also true once the coordinator
  stopped.
"""

from __future__ import annotations

from ..data.queues import Coordinator, start_queue_runners
from ..frontend.graph import get_default_graph
from ..frontend.variables import (
    global_variables,
    global_variables_initializer,
    local_variables_initializer,
)
from ..session import Session
from .hooks import (
    CheckpointSaverHook,
    SessionRunArgs,
    SessionRunContext,
    SessionRunValues,
    StepCounterHook,
    SummarySaverHook,
)
from .saver import Saver, latest_checkpoint

__all__ = ["ChiefSessionCreator", "MonitoredSession", "MonitoredTrainingSession", "Scaffold",
           "SingularMonitoredSession"]


class Scaffold:
    """The ops a monitored session needs; None fields get defaults in `finalize()`."""

    def __init__(self, init_op=None, init_feed_dict=None, init_fn=None, ready_op=None,
                 ready_for_local_init_op=None, local_init_op=None, summary_op=None,
                 saver=None, copy_from_scaffold=None):
        base = copy_from_scaffold
        pick = (lambda mine, name: mine if mine is not None or base is None  # noqa: E731
                else getattr(base, name))
        self.init_op = pick(init_op, "init_op")
        self.init_feed_dict = pick(init_feed_dict, "init_feed_dict")
        self._init_fn = pick(init_fn, "_init_fn")
        self.ready_op = pick(ready_op, "ready_op")
        self.ready_for_local_init_op = ready_for_local_init_op
        self.local_init_op = pick(local_init_op, "local_init_op")
        self.summary_op = pick(summary_op, "summary_op")
        self.saver = pick(saver, "saver")
        self._finalized = False

    @property
    def init_fn(self):
        return self._init_fn

    def finalize(self):
        """Fill the defaults (once) and finalize the graph; returns self."""
        if self._finalized:
            return self
        if self.init_op is None:
            self.init_op = global_variables_initializer()
        if self.local_init_op is None:
            self.local_init_op = local_variables_initializer()
        if self.summary_op is None:
            from ..summary import merge_all
            self.summary_op = merge_all()
        if self.saver is None:
            savers = get_default_graph().get_collection("savers")
            if savers:
                self.saver = savers[0]
            elif global_variables():
                self.saver = Saver()
        get_default_graph().finalize()  # as TF1: ops made later are an error
        self._finalized = True
        return self


class ChiefSessionCreator:
    """Makes the Session: restore from `checkpoint_dir` (or `checkpoint_filename_with_path`)
    when a checkpoint is there, else run the scaffold's init_op and init_fn; then the
    local init op."""

    def __init__(self, scaffold=None, master="", config=None, checkpoint_dir=None,
                 checkpoint_filename_with_path=None):
        self._scaffold = scaffold or Scaffold()
        self._master, self._config, self._dir = master, config, checkpoint_dir
        self._path = checkpoint_filename_with_path

    def create_session(self):
        scaffold = self._scaffold.finalize()
        # master: "" (this process) or a distributed target ("ray://…", docs/execution.md)
        sess = Session(self._master, graph=get_default_graph(), config=self._config)
        path = self._path or (latest_checkpoint(self._dir) if self._dir else None)
        if path and scaffold.saver is not None:
            scaffold.saver.restore(sess, path)
        else:
            sess.run(scaffold.init_op, feed_dict=scaffold.init_feed_dict)
            if scaffold.init_fn is not None:
                scaffold.init_fn(scaffold, sess)
        sess.run(scaffold.local_init_op)
        return sess


class MonitoredSession:
    """A Session that runs hooks around every `run` (see the module docstring)."""

    def __init__(self, session_creator=None, hooks=None, stop_grace_period_secs=120):
        self.graph = get_default_graph()
        self._hooks = list(hooks or [])
        for hook in self._hooks:
            hook.begin()
        creator = session_creator or ChiefSessionCreator()
        self._sess = creator.create_session()
        self._should_stop = False
        self._closed = False
        self._coord = Coordinator()
        self._grace = stop_grace_period_secs
        try:
            self._threads = start_queue_runners(self._sess, self._coord)
            for hook in self._hooks:
                hook.after_create_session(self._sess, self._coord)
        except BaseException:
            self._coord.request_stop()
            self._sess.close()
            raise

    # TF1 surface -----------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        if self._closed:
            raise RuntimeError("Run called on a closed MonitoredSession.")
        if self._should_stop:
            raise RuntimeError("Run called even after should_stop requested.")
        context = SessionRunContext(SessionRunArgs(fetches, feed_dict, options), self._sess)
        merged_fetches = {"caller": fetches}
        feeds = dict(feed_dict or {})
        wanted = []
        for i, hook in enumerate(self._hooks):
            args = hook.before_run(context)
            wanted.append(args is not None and args.fetches is not None)
            if args is None:
                continue
            if args.fetches is not None:
                merged_fetches[i] = args.fetches
            for key, value in (args.feed_dict or {}).items():
                if key in feeds:
                    raise RuntimeError(f"Same tensor is fed by a SessionRunHook and the caller "
                                       f"or another hook: {getattr(key, 'name', key)!r}")
                feeds[key] = value
        results = self._sess.run(merged_fetches, feed_dict=feeds, options=options,
                                 run_metadata=run_metadata)
        for i, hook in enumerate(self._hooks):
            value = results[i] if wanted[i] else None
            hook.after_run(context, SessionRunValues(value, options, run_metadata))
        self._should_stop = self._should_stop or context.stop_requested
        return results["caller"]

    def should_stop(self):
        return self._should_stop or self._closed or self._coord.should_stop()

    def close(self):
        self._close(clean=True)

    def _close(self, clean):
        if self._closed:
            return
        self._closed = True
        try:
            if clean:
                for hook in self._hooks:
                    hook.end(self._sess)
        finally:
            self._coord.request_stop()
            try:
                self._coord.join(self._threads, self._grace, ignore_live_threads=True)
            finally:
                self._sess.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        from ..frontend.tf_errors import OutOfRangeError
        clean = exc_type is None or issubclass(exc_type, (OutOfRangeError, StopIteration))
        self._close(clean)
        return exc_type is not None and clean

    def _tf_sess(self):
        return self._sess


class SingularMonitoredSession(MonitoredSession):
    """A MonitoredSession made from a scaffold and checkpoint dir; `raw_session()` is the
    plain Session."""

    def __init__(self, hooks=None, scaffold=None, master="", config=None, checkpoint_dir=None,
                 stop_grace_period_secs=120, checkpoint_filename_with_path=None):
        creator = ChiefSessionCreator(scaffold, master, config, checkpoint_dir,
                                      checkpoint_filename_with_path)
        super().__init__(creator, hooks, stop_grace_period_secs)

    def raw_session(self):
        return self._sess


_USE_DEFAULT = object()


def MonitoredTrainingSession(master="", is_chief=True, checkpoint_dir=None,  # noqa: N802
                             scaffold=None, hooks=None, chief_only_hooks=None,
                             save_checkpoint_secs=_USE_DEFAULT,
                             save_summaries_steps=_USE_DEFAULT,
                             save_summaries_secs=_USE_DEFAULT, config=None,
                             stop_grace_period_secs=120, log_step_count_steps=100,
                             max_wait_secs=7200, save_checkpoint_steps=_USE_DEFAULT,
                             summary_dir=None):
    """TF1's training session: a MonitoredSession that restores from or initializes into
    `checkpoint_dir`, and (as chief) saves a checkpoint there every
    `save_checkpoint_secs` (default 600) or `save_checkpoint_steps`, writes summaries every
    `save_summaries_steps` (default 100) to `summary_dir` (default `checkpoint_dir`) and
    logs the steps per second every `log_step_count_steps`."""
    if not is_chief:
        raise NotImplementedError("MonitoredTrainingSession: flowc runs one worker; "
                                  "is_chief must be True")
    scaffold = scaffold or Scaffold()
    save_checkpoint_secs, save_checkpoint_steps = _defaults(
        save_checkpoint_secs, save_checkpoint_steps, 600)
    save_summaries_steps, save_summaries_secs = _defaults(
        save_summaries_steps, save_summaries_secs, 100)
    all_hooks = list(chief_only_hooks or [])
    summary_dir = summary_dir or checkpoint_dir
    if log_step_count_steps and log_step_count_steps > 0:
        all_hooks.append(StepCounterHook(every_n_steps=log_step_count_steps))
    if summary_dir and (save_summaries_steps or save_summaries_secs):
        steps = save_summaries_steps or None
        all_hooks.append(SummarySaverHook(save_steps=steps,
                                          save_secs=None if steps else save_summaries_secs,
                                          output_dir=summary_dir, scaffold=scaffold))
    if checkpoint_dir and (save_checkpoint_secs or save_checkpoint_steps):
        steps = save_checkpoint_steps or None
        all_hooks.append(CheckpointSaverHook(checkpoint_dir, save_steps=steps,
                                             save_secs=None if steps else save_checkpoint_secs,
                                             scaffold=scaffold))
    all_hooks += list(hooks or [])
    creator = ChiefSessionCreator(scaffold, master, config, checkpoint_dir)
    return MonitoredSession(creator, all_hooks, stop_grace_period_secs)


def _defaults(first, second, default_first):
    """TF1's rule for a (secs, steps)-like pair: both unset -> (default, None); one set ->
    the other None."""
    if first is _USE_DEFAULT and second is _USE_DEFAULT:
        return default_first, None
    return (None if first is _USE_DEFAULT else first,
            None if second is _USE_DEFAULT else second)
