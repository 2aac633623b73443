"""`fc.train.Supervisor`: TF1's older training wrapper (`managed_session`, `should_stop`).

`Supervisor(logdir=..., ...)` fills TF1's defaults (`init_op`: the global variables
initializer, `local_init_op`: the local one, `saver`: `Saver()` when the graph has global
variables, `global_step`: the graph's, `summary_op`: `fc.summary.merge_all()`, a
`FileWriter` on `logdir`) and finalizes the graph. `managed_session()` (or
`prepare_or_wait_for_session()`) makes a `Session`, restores the latest checkpoint of
`logdir` (`fc.train.latest_checkpoint` + `Saver.restore`) or runs `init_op`,
`init_feed_dict` and `init_fn`, runs `local_init_op`, and starts the standard services:
background threads that save a checkpoint `logdir/model.ckpt-STEP` at once and then every
`save_model_secs` seconds, and that run `summary_op` every `save_summaries_secs` and
write it (a summary op that needs feeds fails there, as in TF1: pass `summary_op=None`
and call `summary_computed` yourself). Passing None for any of these disables it.

Leaving `managed_session` stops the services (`stop()`: request a stop, join the
threads) and closes the Session; an `OutOfRangeError` raised in the block ends it
cleanly, any other exception (also one raised in a service thread) propagates.
`sv.coord` is a `tf.train.Coordinator`; `managed_session` starts the graph's queue
runners under it (TF1's `start_standard_services`).
"""

from __future__ import annotations

import contextlib
import os
import threading

from ..data.queues import Coordinator, start_queue_runners
from ..frontend.graph import get_default_graph
from ..frontend.variables import (
    global_variables,
    global_variables_initializer,
    local_variables_initializer,
)
from ..platform import tf_logging as logging
from ..session import Session
from .global_step import get_global_step
from .saver import Saver, latest_checkpoint

__all__ = ["Supervisor"]


class Supervisor:
    """See the module docstring."""

    USE_DEFAULT = 0

    def __init__(self, graph=None, ready_op=USE_DEFAULT, is_chief=True, init_op=USE_DEFAULT,
                 init_feed_dict=None, local_init_op=USE_DEFAULT, logdir=None,
                 summary_op=USE_DEFAULT, saver=USE_DEFAULT, global_step=USE_DEFAULT,
                 save_summaries_secs=120, save_model_secs=600, recovery_wait_secs=30,
                 stop_grace_secs=120, checkpoint_basename="model.ckpt", session_manager=None,
                 summary_writer=USE_DEFAULT, init_fn=None, local_init_run_options=None):
        if not is_chief:
            raise NotImplementedError("Supervisor: flowc runs one worker; is_chief must be "
                                      "True")
        self._graph = graph or get_default_graph()
        with self._graph.as_default():
            default = self.USE_DEFAULT
            self.init_op = global_variables_initializer() if init_op is default else init_op
            self.local_init_op = local_variables_initializer() \
                if local_init_op is default else local_init_op
            if saver is default:
                savers = self._graph.get_collection("savers")
                saver = savers[0] if savers else (Saver() if global_variables() else None)
            self.saver = saver
            self.global_step = get_global_step(self._graph) \
                if global_step is default else global_step
            if summary_op is default:
                from ..summary import merge_all
                summary_op = merge_all()
            self.summary_op = summary_op
        self.init_feed_dict, self.init_fn, self.ready_op = init_feed_dict, init_fn, ready_op
        self._logdir = logdir
        self.save_path = os.path.join(logdir, checkpoint_basename) if logdir else None
        if summary_writer is default:
            summary_writer = None
            if logdir:
                from ..summary import FileWriter
                summary_writer = FileWriter(logdir)
        self.summary_writer = summary_writer
        self.save_summaries_secs, self.save_model_secs = save_summaries_secs, save_model_secs
        self.is_chief = True
        self._stop_grace_secs = stop_grace_secs
        self.coord = Coordinator()
        self._threads = []
        self._writer_closed = False
        self._graph.finalize()

    @property
    def logdir(self):
        return self._logdir

    # sessions --------------------------------------------------------------------------
    def prepare_or_wait_for_session(self, master="", config=None, wait_for_checkpoint=False,
                                    max_wait_secs=7200, start_standard_services=True):
        """A Session restored from `logdir` or initialized, with the services started."""
        self.coord.clear_stop()
        sess = Session(master, graph=self._graph, config=config)  # "" or "ray://…"
        path = latest_checkpoint(self._logdir) if self._logdir else None
        if path and self.saver is not None:
            self.saver.restore(sess, path)
            logging.info(f"Restored from {path}")
        else:
            if self.init_op is not None:
                sess.run(self.init_op, feed_dict=self.init_feed_dict)
            if self.init_fn is not None:
                self.init_fn(sess)
        if self.local_init_op is not None:
            sess.run(self.local_init_op)
        if start_standard_services:
            self.start_standard_services(sess)
            self.start_queue_runners(sess)
        return sess

    @contextlib.contextmanager
    def managed_session(self, master="", config=None, start_standard_services=True,
                        close_summary_writer=True):
        """A Session for a `with` block (see the module docstring)."""
        sess = self.prepare_or_wait_for_session(master, config,
                                                start_standard_services=start_standard_services)
        try:
            yield sess
        except Exception as e:  # noqa: BLE001  (recorded; stop() re-raises all but the end)
            self.request_stop(e)
        finally:
            try:
                self.stop(close_summary_writer=close_summary_writer)
            finally:
                sess.close()

    def start_standard_services(self, sess):
        """Start the checkpoint and summary threads; returns them."""
        threads = []
        if self.summary_writer is not None:
            if self._writer_closed:
                self.summary_writer.reopen()
                self._writer_closed = False
            self.summary_writer.add_graph(self._graph)
        if self.saver is not None and self.save_path and self.save_model_secs:
            threads.append(self._looper(self.save_model_secs, self._save, sess))
        if self.summary_op is not None and self.summary_writer is not None and \
                self.save_summaries_secs:
            threads.append(self._looper(self.save_summaries_secs, self._summarize, sess))
        self._threads += threads
        return threads

    def _looper(self, interval, fn, sess):
        # the first run happens as the service starts, before the caller's first step (a
        # checkpoint of the starting state, as TF1 users expect); then every `interval`
        with self.coord.stop_on_exception():
            fn(sess)

        def loop():
            with self.coord.stop_on_exception():
                while not self.coord.wait_for_stop(interval):
                    fn(sess)
        thread = threading.Thread(target=loop, name=f"supervisor-{fn.__name__}", daemon=True)
        thread.start()
        return thread

    def _save(self, sess):
        step = self.global_step if self.global_step is not None else None
        self.saver.save(sess, self.save_path, global_step=step)

    def _summarize(self, sess):
        step = int(sess.run(self.global_step)) if self.global_step is not None else None
        self.summary_computed(sess, sess.run(self.summary_op), step)

    def summary_computed(self, sess, summary, global_step=None):
        """Write `summary` (the bytes of a summary op) at `global_step` (default: the
        global step's current value)."""
        if self.summary_writer is None:
            raise RuntimeError("Writing a summary requires a summary writer.")
        if global_step is None and self.global_step is not None:
            global_step = int(sess.run(self.global_step))
        self.summary_writer.add_summary(summary, global_step)

    # stopping --------------------------------------------------------------------------
    def should_stop(self):
        return self.coord.should_stop()

    def request_stop(self, ex=None):
        self.coord.request_stop(ex)

    def stop(self, threads=None, close_summary_writer=True, ignore_live_threads=False):
        """Request a stop, join the service threads (and `threads`), re-raise the first
        exception reported, close the summary writer."""
        self.coord.request_stop()
        try:
            self.coord.join(self._threads + list(threads or []), self._stop_grace_secs,
                            ignore_live_threads=ignore_live_threads)
        finally:
            self._threads = []
            if close_summary_writer and self.summary_writer is not None:
                self.summary_writer.close()
                self._writer_closed = True

    def wait_for_stop(self):
        self.coord.wait_for_stop()

    def start_queue_runners(self, sess, queue_runners=None):
        """Start the graph's queue runners on `sess` under `sv.coord`; returns the threads."""
        if queue_runners is None:
            threads = start_queue_runners(sess, self.coord)
        else:
            threads = [t for qr in queue_runners
                       for t in qr.create_threads(sess, coord=self.coord, daemon=True,
                                                  start=True)]
        self._threads += threads
        return threads
