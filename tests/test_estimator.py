"""`fc.estimator` in the TF1 idiom: a model_fn trained with numpy_input_fn, evaluated
(metrics checked against numpy on the predictions) and used to predict; resuming from
model_dir; numpy_input_fn's batching; the errors TF1 raises. Both backends."""

import numpy as np
import pytest
from autodiff_check import BACKENDS

import compiler as tf

RNG = np.random.default_rng(2024)
N = 96
X = RNG.normal(size=(N, 3)).astype(np.float32)
TRUE_W = np.array([1.5, -2.0, 0.5], np.float32)
Y_REG = (X @ TRUE_W + 0.25).astype(np.float32)
Y_CLS = (X @ TRUE_W + 0.3 * RNG.normal(size=N) > 0).astype(np.int64)


def run_config(backend, **kw):
    session = tf.ConfigProto(backend="interpret") if backend == "interpret" else None
    return tf.estimator.RunConfig(tf_random_seed=7, session_config=session,
                                  log_step_count_steps=0, save_summary_steps=0, **kw)


def linear_model_fn(features, labels, mode, params):
    w = tf.get_variable("w", [3, 1], initializer=tf.zeros_initializer())
    b = tf.get_variable("b", [], initializer=tf.zeros_initializer())
    pred = tf.squeeze(tf.matmul(features["x"], w), [1]) + b
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={"y": pred})
    loss = tf.losses.mean_squared_error(labels, pred)
    metrics = {"mae": tf.metrics.mean_absolute_error(labels, pred)}
    train_op = tf.train.GradientDescentOptimizer(params["lr"]).minimize(
        loss, global_step=tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      eval_metric_ops=metrics)


def classifier_model_fn(features, labels, mode, params):
    logits = tf.layers.dense(features, 2, name="logits")
    probs = tf.nn.softmax(logits)
    classes = tf.argmax(logits, 1)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={"class": classes, "prob": probs})
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    metrics = {"accuracy": tf.metrics.accuracy(labels, classes),
               "auc": tf.metrics.auc(labels, probs[:, 1]),
               "precision": tf.metrics.precision(labels, classes)}
    train_op = tf.train.AdamOptimizer(0.1).minimize(loss, tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                      eval_metric_ops=metrics)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_regression_trains_resumes_and_predicts(backend, tmp_path):
    est = tf.estimator.Estimator(linear_model_fn, model_dir=str(tmp_path),
                                 config=run_config(backend, save_checkpoints_steps=40),
                                 params={"lr": 0.1})
    train_in = tf.estimator.inputs.numpy_input_fn({"x": X}, Y_REG, batch_size=32,
                                                   num_epochs=None, shuffle=True)
    est.train(train_in, steps=100)
    eval_in = tf.estimator.inputs.numpy_input_fn({"x": X}, Y_REG, batch_size=40,
                                                  shuffle=False)
    first = est.evaluate(eval_in)
    assert first["global_step"] == 100
    assert first["loss"] < 1e-3, first
    # a second Estimator on the same model_dir resumes at the saved global step
    again = tf.estimator.Estimator(linear_model_fn, model_dir=str(tmp_path),
                                   config=run_config(backend, save_checkpoints_steps=40),
                                   params={"lr": 0.1})
    again.train(train_in, steps=20)
    assert again.evaluate(eval_in, steps=1)["global_step"] == 120
    again.train(train_in, max_steps=110)  # already past: nothing runs
    assert again.evaluate(eval_in, steps=1)["global_step"] == 120
    again.train(train_in, max_steps=130)
    final = again.evaluate(eval_in)
    assert final["global_step"] == 130
    predict_in = tf.estimator.inputs.numpy_input_fn({"x": X}, batch_size=25, shuffle=False)
    preds = list(again.predict(predict_in))
    assert len(preds) == N and set(preds[0]) == {"y"}
    got = np.array([p["y"] for p in preds])
    np.testing.assert_allclose(got, Y_REG, atol=0.05)
    # evaluate's metrics against numpy over the same predictions: mean of the batch losses
    batches = [slice(0, 40), slice(40, 80), slice(80, 96)]
    losses = [np.mean((got[s] - Y_REG[s]) ** 2) for s in batches]
    np.testing.assert_allclose(final["loss"], np.mean(losses), rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(final["mae"], np.abs(got - Y_REG).mean(), rtol=1e-3, atol=1e-6)
    assert again.latest_checkpoint() is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_classifier_evaluate_matches_numpy(backend, tmp_path):
    est = tf.estimator.Estimator(classifier_model_fn, model_dir=str(tmp_path / "m"),
                                 config=run_config(backend))
    est.train(tf.estimator.inputs.numpy_input_fn(X, Y_CLS, batch_size=16, num_epochs=8,
                                                  shuffle=True))
    results = est.evaluate(tf.estimator.inputs.numpy_input_fn(X, Y_CLS, batch_size=N,
                                                              shuffle=False))
    assert results["global_step"] == 8 * N // 16  # the input's end stops training
    assert results["accuracy"] > 0.85
    preds = list(est.predict(tf.estimator.inputs.numpy_input_fn(X, batch_size=50,
                                                                shuffle=False),
                             predict_keys=["class", "prob"]))
    classes = np.array([p["class"] for p in preds])
    prob = np.array([p["prob"][1] for p in preds], np.float64)
    np.testing.assert_allclose(results["accuracy"], (classes == Y_CLS).mean(), rtol=1e-6)
    tp = ((classes == 1) & (Y_CLS == 1)).sum()
    np.testing.assert_allclose(results["precision"], tp / (classes == 1).sum(), rtol=1e-6)
    np.testing.assert_allclose(results["auc"], np_roc_auc(Y_CLS, prob), rtol=1e-4)
    p = np.clip(np.array([q["prob"] for q in preds], np.float64), 1e-30, 1)
    xent = -np.log(p[np.arange(N), Y_CLS]).mean()
    np.testing.assert_allclose(results["loss"], xent, rtol=1e-4)
    only = next(est.predict(tf.estimator.inputs.numpy_input_fn(X, batch_size=4, shuffle=False),
                            predict_keys="class"))
    assert set(only) == {"class"}


def np_roc_auc(y, p, n=200):
    """TF1's 200-threshold trapezoidal ROC AUC, from its documentation."""
    th = np.array([-1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7])
    pos = p[None, :] > th[:, None]
    lab = (y == 1)[None, :]
    tp, fn = (lab & pos).sum(1), (lab & ~pos).sum(1)
    fp, tn = (~lab & pos).sum(1), (~lab & ~pos).sum(1)
    rec = (tp + 1e-6) / (tp + fn + 1e-6)
    fpr = fp / (fp + tn + 1e-6)
    return ((fpr[:-1] - fpr[1:]) * (rec[:-1] + rec[1:]) / 2).sum()


def test_numpy_input_fn_batches_across_epochs_and_ends():
    tf.reset_default_graph()
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    features, labels = tf.estimator.inputs.numpy_input_fn(
        {"a": x}, np.arange(10), batch_size=4, num_epochs=2, shuffle=False)()
    assert features["a"].shape.as_list() == [None, 1] and labels.dtype is tf.int64
    got = []
    with tf.Session() as sess, pytest.raises(tf.errors.OutOfRangeError):
        while True:
            a, lab = sess.run([features["a"], labels])
            got.append((a[:, 0].tolist(), lab.tolist()))
    assert [g[1] for g in got] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5],
                                   [6, 7, 8, 9]]
    assert all(a == b for a, b in got)


def test_numpy_input_fn_shuffle_is_a_permutation_per_epoch_and_seeded():
    def order(seed):
        tf.reset_default_graph()
        tf.set_random_seed(seed)
        feats = tf.estimator.inputs.numpy_input_fn(np.arange(12), batch_size=12, num_epochs=2,
                                                   shuffle=True)()
        with tf.Session() as sess:
            return [sess.run(feats).tolist() for _ in range(2)]
    a, b, c = order(3), order(3), order(4)
    assert a == b and a != c
    assert sorted(a[0]) == list(range(12)) and sorted(a[1]) == list(range(12))
    assert a[0] != a[1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_input_fn_in_a_plain_session_loop(backend):
    """TF1's own idiom without an Estimator: call the input_fn, build the model on its
    tensors, run until OutOfRangeError. The weights match plain SGD in numpy over TF1's
    batch stream (3 passes in order, batches of 40 spanning passes, the last one smaller)."""
    tf.reset_default_graph()
    features, labels = tf.estimator.inputs.numpy_input_fn(
        {"x": X}, {"y": Y_REG}, batch_size=40, num_epochs=3, shuffle=False)()
    assert set(features) == {"x"} and set(labels) == {"y"}
    w = tf.Variable(tf.zeros([3]))
    b = tf.Variable(0.0)
    pred = tf.reduce_sum(features["x"] * w, axis=1) + b
    loss = tf.reduce_mean(tf.square(pred - labels["y"]))
    train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    config = tf.ConfigProto(backend="interpret") if backend == "interpret" else None
    steps = 0
    with tf.Session(config=config) as sess:
        sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        try:
            while not coord.should_stop():
                sess.run(train_op)
                steps += 1
        except tf.errors.OutOfRangeError:
            pass
        finally:
            coord.request_stop()
        coord.join(threads)
        got_w, got_b = sess.run([w, b])
        with pytest.raises(tf.errors.OutOfRangeError):  # the input stays at its end
            sess.run(loss)
    stream = np.tile(np.arange(N), 3)
    ref_w, ref_b = np.zeros(3), 0.0
    for i in range(0, len(stream), 40):
        idx = stream[i:i + 40]
        err = X[idx].astype(np.float64) @ ref_w + ref_b - Y_REG[idx]
        ref_w = ref_w - 0.1 * 2 * X[idx].T @ err / len(idx)
        ref_b = ref_b - 0.1 * 2 * err.mean()
    assert steps == -(-3 * N // 40)
    np.testing.assert_allclose(got_w, ref_w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_b, ref_b, rtol=1e-4, atol=1e-5)


def test_numpy_input_fn_forever_gives_full_static_batches():
    tf.reset_default_graph()
    feats = tf.estimator.inputs.numpy_input_fn(np.arange(5, dtype=np.float64), batch_size=3,
                                               num_epochs=None, shuffle=False)()
    assert feats.shape.as_list() == [3] and feats.dtype is tf.float64  # TF1's dequeue_many
    with tf.Session() as sess:
        got = [sess.run(feats).tolist() for _ in range(4)]
    assert got == [[0, 1, 2], [3, 4, 0], [1, 2, 3], [4, 0, 1]]


def test_numpy_input_fn_shuffle_buffer_smaller_than_the_data():
    """queue_capacity bounds the shuffle buffer; each pass is still a permutation."""
    tf.reset_default_graph()
    tf.set_random_seed(11)
    feats = tf.estimator.inputs.numpy_input_fn({"i": np.arange(50)}, batch_size=25,
                                               num_epochs=3, shuffle=True,
                                               queue_capacity=8)()
    with tf.Session() as sess:
        passes = [np.concatenate([sess.run(feats)["i"] for _ in range(2)]) for _ in range(3)]
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(feats)
    for p in passes:
        assert sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))
        # a buffer of 8 lets row k out no earlier than output k - 7
        assert all(p[k] <= k + 7 for k in range(50))
    assert passes[0].tolist() != passes[1].tolist()


def test_numpy_input_fn_errors():
    with pytest.raises(ValueError, match="shuffle must be provided"):
        tf.estimator.inputs.numpy_input_fn(X, Y_CLS)
    with pytest.raises(ValueError, match="different lengths"):
        tf.estimator.inputs.numpy_input_fn({"x": X}, Y_CLS[:5], shuffle=False)
    with pytest.raises(ValueError, match="batch_size"):
        tf.estimator.inputs.numpy_input_fn(X, batch_size=0, shuffle=False)
    with pytest.raises(ValueError, match="num_threads"):
        tf.estimator.inputs.numpy_input_fn(X, num_threads=0, shuffle=False)
    with pytest.raises(ValueError, match="queue_capacity"):
        tf.estimator.inputs.numpy_input_fn(X, queue_capacity=-1, shuffle=True)
    with pytest.raises(ValueError, match="num_epochs"):
        tf.estimator.inputs.numpy_input_fn(X, num_epochs=0, shuffle=False)
    with pytest.raises(ValueError, match="y cannot be an empty dict"):
        tf.estimator.inputs.numpy_input_fn(X, {}, shuffle=False)
    with pytest.raises(ValueError, match=r"x\['a'\] has no rows"):
        tf.estimator.inputs.numpy_input_fn({"a": np.zeros((0, 2))}, shuffle=False)
    with pytest.raises(ValueError, match=r"share the keys \['k'\]"):
        tf.estimator.inputs.numpy_input_fn({"k": X}, {"k": Y_REG}, shuffle=False)
    with pytest.raises(TypeError, match=r"x\['s'\] has dtype object"):
        tf.estimator.inputs.numpy_input_fn({"s": np.array([{}, {}])}, shuffle=False)
    assert tf.compat.v1.estimator.inputs.numpy_input_fn is tf.estimator.inputs.numpy_input_fn


def test_spec_and_estimator_errors(tmp_path):
    M = tf.estimator.ModeKeys
    assert (M.TRAIN, M.EVAL, M.PREDICT) == ("train", "eval", "infer")
    tf.reset_default_graph()
    loss = tf.constant(1.0)
    with pytest.raises(ValueError, match="train_op"):
        tf.estimator.EstimatorSpec(M.TRAIN, loss=loss)
    with pytest.raises(ValueError, match="loss"):
        tf.estimator.EstimatorSpec(M.EVAL)
    with pytest.raises(ValueError, match="predictions"):
        tf.estimator.EstimatorSpec(M.PREDICT)
    with pytest.raises(ValueError, match="scalar"):
        tf.estimator.EstimatorSpec(M.EVAL, loss=tf.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="features"):
        tf.estimator.Estimator(lambda x, labels: None, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="params"):
        tf.estimator.Estimator(lambda features, labels: None, model_dir=str(tmp_path),
                               params={"a": 1})
    with pytest.raises(ValueError, match="both"):
        tf.estimator.RunConfig(save_checkpoints_steps=1, save_checkpoints_secs=1)
    est = tf.estimator.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"lr": 0.1})
    with pytest.raises(ValueError, match="both steps and max_steps"):
        est.train(lambda: None, steps=1, max_steps=2)
    with pytest.raises(TypeError, match="SessionRunHook"):
        est.train(lambda: None, steps=1, hooks=[object()])


def test_predict_leaves_the_callers_default_graph_alone(tmp_path):
    tf.reset_default_graph()
    mine = tf.get_default_graph()
    est = tf.estimator.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"lr": 0.1},
                                 config=run_config("llvm"))
    gen = est.predict(tf.estimator.inputs.numpy_input_fn({"x": X}, batch_size=8,
                                                         shuffle=False))
    first = next(gen)
    assert tf.get_default_graph() is mine
    c = tf.constant(1.0)  # the caller's graph is not the estimator's finalized one
    assert c.graph is mine and first["y"] == 0.0  # no checkpoint: initialized (zeros)
    assert len(list(gen)) == N - 1
    gen.close()


class CountBegins(tf.train.SessionRunHook):
    def __init__(self):
        self.begins = 0

    def begin(self):
        self.begins += 1


def test_train_and_evaluate_evaluates_each_new_checkpoint(tmp_path):
    est = tf.estimator.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"lr": 0.1},
                                 config=run_config("llvm", save_checkpoints_steps=10))
    train_in = tf.estimator.inputs.numpy_input_fn({"x": X}, Y_REG, batch_size=16,
                                                   num_epochs=None, shuffle=True)
    eval_in = tf.estimator.inputs.numpy_input_fn({"x": X}, Y_REG, batch_size=32, shuffle=False)
    evals = CountBegins()
    metrics, exports = tf.estimator.train_and_evaluate(
        est, tf.estimator.TrainSpec(train_in, max_steps=30),
        tf.estimator.EvalSpec(eval_in, steps=None, hooks=[evals], throttle_secs=0))
    assert exports == [] and metrics["global_step"] == 30
    assert evals.begins == 3  # after the saves at steps 10, 20, 30 (not the one at 0)
    assert metrics["loss"] == est.evaluate(eval_in)["loss"]
    with pytest.raises(ValueError, match="max_steps"):
        tf.estimator.TrainSpec(train_in, max_steps=0)


def test_warm_start_from_another_model_dir(tmp_path):
    cfg = run_config("llvm")
    train_in = tf.estimator.inputs.numpy_input_fn({"x": X}, Y_REG, batch_size=32,
                                                   num_epochs=None, shuffle=False)
    pred_in = tf.estimator.inputs.numpy_input_fn({"x": X}, batch_size=N, shuffle=False)
    first = tf.estimator.Estimator(linear_model_fn, model_dir=str(tmp_path / "a"), config=cfg,
                                   params={"lr": 0.1})
    first.train(train_in, steps=30)
    want = [p["y"] for p in first.predict(pred_in)]
    # lr 0: the warm-started weights stay as loaded; the global step is not warm-started
    for warm in (str(tmp_path / "a"),
                 tf.estimator.WarmStartSettings(first.latest_checkpoint(),
                                                vars_to_warm_start=["w", "b"])):
        target = tmp_path / f"b{isinstance(warm, str)}"
        second = tf.estimator.Estimator(linear_model_fn, model_dir=str(target), config=cfg,
                                        params={"lr": 0.0}, warm_start_from=warm)
        second.train(train_in, steps=1)
        assert second.evaluate(train_in, steps=1)["global_step"] == 1
        np.testing.assert_allclose([p["y"] for p in second.predict(pred_in)], want, rtol=1e-6)
    cold = tf.estimator.Estimator(linear_model_fn, model_dir=str(tmp_path / "c"), config=cfg,
                                  params={"lr": 0.0},
                                  warm_start_from=tf.estimator.WarmStartSettings(
                                      str(tmp_path / "a"), vars_to_warm_start="nothing"))
    cold.train(train_in, steps=1)
    assert all(p["y"] == 0.0 for p in cold.predict(pred_in))  # zeros: nothing warm-started
