"""Session-run hooks, `MonitoredTrainingSession` and `Supervisor` in the TF1 idioms of
the official examples: the hook protocol, checkpoints in checkpoint_dir/logdir, resuming,
the end of the input, and the errors."""

import logging as pylogging
import os

import numpy as np
import pytest

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(77)
X = RNG.normal(size=(64, 2)).astype(np.float32)
Y = (X @ np.array([2.0, -1.0], np.float32) + 0.5).astype(np.float32)


def model():
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    y = tf.placeholder(tf.float32, [None], name="y")
    w = tf.Variable(tf.zeros([2]), name="w")
    b = tf.Variable(0.0, name="b")
    loss = tf.reduce_mean(tf.square(tf.reduce_sum(x * w, 1) + b - y))
    step = tf.train.get_or_create_global_step()
    train = tf.train.GradientDescentOptimizer(0.2).minimize(loss, global_step=step)
    return x, y, w, loss, step, train


class Recorder(tf.train.SessionRunHook):
    """Records the calls of the hook protocol and what its fetch returned."""

    def __init__(self, fetch=None, stop_after=None):
        self.calls, self.values = [], []
        self._fetch, self._stop_after = fetch, stop_after

    def begin(self):
        self.calls.append("begin")

    def after_create_session(self, session, coord):
        self.calls.append("after_create_session")

    def before_run(self, run_context):
        self.calls.append("before_run")
        return tf.train.SessionRunArgs(self._fetch) if self._fetch is not None else None

    def after_run(self, run_context, run_values):
        self.calls.append("after_run")
        self.values.append(run_values.results)
        if self._stop_after and len(self.values) >= self._stop_after:
            run_context.request_stop()

    def end(self, session):
        self.calls.append("end")


def test_hook_protocol_and_fetch_merging(tmp_path):
    x, y, w, loss, step, train = model()
    rec = Recorder(fetch={"s": step}, stop_after=3)
    with tf.train.MonitoredTrainingSession(hooks=[rec], log_step_count_steps=0) as sess:
        n = 0
        while not sess.should_stop():
            got = sess.run(train, {x: X, y: Y})
            n += 1
        with pytest.raises(RuntimeError, match="should_stop"):
            sess.run(train, {x: X, y: Y})
    assert got is None and n == 3
    assert rec.calls == ["begin", "after_create_session"] + ["before_run", "after_run"] * 3 \
        + ["end"]
    assert [v["s"] for v in rec.values] == [0, 1, 2]  # each run's step before its update
    with pytest.raises(tf.GraphError, match="finalized"):
        tf.constant(1.0)


def test_mts_checkpoints_resume_and_stop_at_step(tmp_path):
    ckpt = str(tmp_path)
    for last in (20, 35):
        tf.reset_default_graph()
        x, y, w, loss, step, train = model()
        hooks = [tf.train.StopAtStepHook(last_step=last)]
        with tf.train.MonitoredTrainingSession(checkpoint_dir=ckpt, hooks=hooks,
                                               save_checkpoint_steps=10,
                                               save_summaries_steps=None,
                                               log_step_count_steps=0) as sess:
            start = sess.run(step)
            while not sess.should_stop():
                sess.run(train, {x: X, y: Y})
            end = sess._tf_sess().run(step)
        assert end == last
        if last == 35:
            assert start == 20  # restored from checkpoint_dir
    assert tf.train.latest_checkpoint(ckpt) is not None
    names = os.listdir(ckpt)
    for saved in (0, 10, 20, 30, 35):
        assert any(f"model.ckpt-{saved}" in n for n in names), (saved, names)
    assert not any("model.ckpt-5." in n for n in names)
    # the same 35 steps in one plain Session give the same weights
    tf.reset_default_graph()
    x, y, w, loss, step, train = model()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(35):
            sess.run(train, {x: X, y: Y})
        want = sess.run(w)
    tf.reset_default_graph()
    x, y, w, loss, step, train = model()
    with tf.train.MonitoredTrainingSession(checkpoint_dir=ckpt, log_step_count_steps=0,
                                           save_summaries_steps=None) as sess:
        np.testing.assert_allclose(sess.run(w), want, rtol=1e-5)


def test_numpy_input_end_closes_cleanly_and_runs_end_hooks(tmp_path):
    feats, labels = tf.estimator.inputs.numpy_input_fn(X, Y, batch_size=16, num_epochs=2,
                                                       shuffle=False)()
    w = tf.Variable(tf.zeros([2]))
    loss = tf.reduce_mean(tf.square(tf.reduce_sum(feats * w, 1) - labels))
    step = tf.train.get_or_create_global_step()
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    rec = Recorder()
    final = tf.train.FinalOpsHook(step)
    with tf.train.MonitoredTrainingSession(checkpoint_dir=str(tmp_path), hooks=[rec, final],
                                           log_step_count_steps=0) as sess:
        while not sess.should_stop():
            sess.run(train)
    assert rec.calls[-1] == "end" and final.final_ops_values == 8  # 2 epochs x 64/16
    assert "model.ckpt-8" in tf.train.latest_checkpoint(str(tmp_path))


def test_logging_nan_and_feed_conflict_hooks(caplog):
    x, y, w, loss, step, train = model()
    log = tf.train.LoggingTensorHook({"loss": loss, "step": step}, every_n_iter=2)
    nan = tf.train.NanTensorHook(tf.sqrt(loss - 1e9))
    caplog.set_level(pylogging.INFO, logger="tensorflow")
    with pytest.raises(tf.train.NanLossDuringTrainingError):
        with tf.train.MonitoredSession(hooks=[log, nan]) as sess:
            sess.run(train, {x: X, y: Y})
    caplog.clear()
    tf.reset_default_graph()
    x, y, w, loss, step, train = model()
    log = tf.train.LoggingTensorHook({"loss": loss, "step": step}, every_n_iter=2)
    with tf.train.MonitoredSession(hooks=[log]) as sess:
        for _ in range(5):
            sess.run(train, {x: X, y: Y})
    steps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loss = ")]
    assert [s.split("step = ")[1].split(" ")[0] for s in steps] == ["0", "2", "4"]
    tf.reset_default_graph()
    x, y, w, loss, step, train = model()
    feeder = tf.train.FeedFnHook(lambda: {x: X})
    with tf.train.MonitoredSession(hooks=[feeder]) as sess:
        with pytest.raises(RuntimeError, match="fed by a SessionRunHook"):
            sess.run(train, {x: X, y: Y})
        assert sess.run(loss, {y: Y}) > 0
    with pytest.raises(ValueError, match="One of num_steps"):
        tf.train.StopAtStepHook()
    with pytest.raises(ValueError, match="every_n_iter"):
        tf.train.LoggingTensorHook([loss])


def test_supervisor_managed_session(tmp_path):
    logdir = str(tmp_path)
    x, y, w, loss, step, train = model()
    tf.summary.scalar("loss", loss)
    merged = tf.summary.merge_all()
    sv = tf.train.Supervisor(logdir=logdir, summary_op=None, save_model_secs=3600)
    with sv.managed_session() as sess:
        for _ in range(12):
            if sv.should_stop():
                break
            _, summary = sess.run([train, merged], {x: X, y: Y})
        sv.summary_computed(sess, summary)
        sv.saver.save(sess, sv.save_path, global_step=sv.global_step)
    names = os.listdir(logdir)
    assert any(n.startswith("model.ckpt-0") for n in names)  # saved when the service started
    assert any(n.startswith("model.ckpt-12") for n in names)
    assert any(n.startswith("events.out.tfevents") for n in names)
    tf.reset_default_graph()
    x, y, w, loss, step, train = model()
    sv = tf.train.Supervisor(logdir=logdir, summary_op=None, save_model_secs=3600)
    with sv.managed_session() as sess:
        assert sess.run(step) == 12  # restored
        raise tf.errors.OutOfRangeError(None, None, "end of input")  # ends the block cleanly
    assert sv.should_stop()
    tf.reset_default_graph()
    x, y, w, loss, step, train = model()
    sv = tf.train.Supervisor(logdir=None)
    with pytest.raises(ZeroDivisionError):
        with sv.managed_session() as sess:
            assert sess.run(step) == 0  # no logdir: initialized
            raise ZeroDivisionError("user error")


def test_supervisor_service_error_is_raised_at_stop(tmp_path):
    x, y, w, loss, step, train = model()
    tf.summary.scalar("loss", loss)  # needs feeds: the summary service cannot run it
    sv = tf.train.Supervisor(logdir=str(tmp_path), save_model_secs=0, save_summaries_secs=60)
    with pytest.raises(Exception, match="'x'|x:0|placeholder"):
        with sv.managed_session() as sess:
            assert sv.coord.wait_for_stop(30)  # the service thread failed and asked to stop
            assert sess.run(step) == 0


def _scalars(folder, tag):
    import glob

    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for e in EventFileLoader(path).Load():
            for v in e.summary.value:
                if v.tag == tag:
                    out.append((e.step, float(tensor_util.make_ndarray(v.tensor))))
    return out


def test_summaries_of_mts_and_estimator_evaluate_read_by_tensorboard(tmp_path):
    x, y, w, loss, step, train = model()
    tf.summary.scalar("loss", loss)
    losses = []
    with tf.train.MonitoredTrainingSession(checkpoint_dir=str(tmp_path / "mts"),
                                           save_summaries_steps=2,
                                           log_step_count_steps=0) as sess:
        for _ in range(5):
            losses.append(sess.run([train, loss], {x: X, y: Y})[1])
    got = _scalars(str(tmp_path / "mts"), "loss")
    assert [s for s, _ in got] == [0, 2, 4]  # every 2 steps, fetched with the caller's run
    np.testing.assert_allclose([v for _, v in got], [losses[0], losses[2], losses[4]],
                               rtol=1e-6)

    def model_fn(features, labels, mode):
        pred = tf.squeeze(tf.layers.dense(features, 1), [1])
        mse = tf.losses.mean_squared_error(labels, pred)
        opt = tf.train.GradientDescentOptimizer(0.1)
        return tf.estimator.EstimatorSpec(
            mode, loss=mse, train_op=opt.minimize(mse, tf.train.get_global_step()),
            eval_metric_ops={"mae": tf.metrics.mean_absolute_error(labels, pred)})
    est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / "est"),
                                 config=tf.estimator.RunConfig(log_step_count_steps=0,
                                                               save_summary_steps=5))
    est.train(tf.estimator.inputs.numpy_input_fn(X, Y, batch_size=16, num_epochs=None,
                                                 shuffle=False), steps=12)
    assert [s for s, _ in _scalars(str(tmp_path / "est"), "loss")] == [0, 5, 10]
    result = est.evaluate(tf.estimator.inputs.numpy_input_fn(X, Y, batch_size=64,
                                                             shuffle=False), name="test")
    evs = _scalars(str(tmp_path / "est" / "eval_test"), "mae")
    assert evs == [(12, pytest.approx(float(result["mae"]), rel=1e-6))]


def test_queue_runners_under_mts_and_supervisor_and_a_dataset_estimator(tmp_path):
    x1, y1 = tf.train.slice_input_producer([X, Y], num_epochs=2, shuffle=False)
    xb, yb = tf.train.batch([x1, y1], batch_size=16, allow_smaller_final_batch=True)
    w = tf.Variable(tf.zeros([2]))
    loss = tf.reduce_mean(tf.square(tf.reduce_sum(xb * w, 1) - yb))
    step = tf.train.get_or_create_global_step()
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=step)
    n = 0
    with tf.train.MonitoredTrainingSession(log_step_count_steps=0) as sess:
        while not sess.should_stop():
            sess.run(train)
            n += 1
    assert n == 2 * 64 // 16
    tf.reset_default_graph()
    x1, y1 = tf.train.slice_input_producer([X, Y], num_epochs=1, shuffle=False)
    xb, yb = tf.train.batch([x1, y1], batch_size=16)
    total = tf.Variable(0.0)
    add = total.assign_add(tf.reduce_sum(yb))
    sv = tf.train.Supervisor(logdir=None, summary_op=None)
    with sv.managed_session() as sess:
        while not sv.should_stop():
            got = sess.run(add)
    np.testing.assert_allclose(got, Y.sum(), rtol=1e-5)

    def model_fn(features, labels, mode):
        pred = tf.squeeze(tf.layers.dense(features["x"], 1), [1])
        if mode == tf.estimator.ModeKeys.PREDICT:
            return tf.estimator.EstimatorSpec(mode, predictions=pred)
        mse = tf.losses.mean_squared_error(labels, pred)
        opt = tf.train.GradientDescentOptimizer(0.1)
        return tf.estimator.EstimatorSpec(mode, loss=mse, train_op=opt.minimize(
            mse, tf.train.get_global_step()))
    est = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path),
                                 config=tf.estimator.RunConfig(log_step_count_steps=0))
    est.train(lambda: tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).repeat().batch(16),
              steps=150)
    result = est.evaluate(lambda: tf.data.Dataset.from_tensor_slices(({"x": X}, Y)).batch(40))
    assert result["global_step"] == 150 and result["loss"] < 1e-4
    preds = list(est.predict(lambda: tf.data.Dataset.from_tensor_slices({"x": X}).batch(7)))
    np.testing.assert_allclose(preds, Y, atol=0.02)
