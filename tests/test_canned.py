"""`fc.feature_column` (dense forms vs numpy, both backends) and the canned estimators
(`DNNClassifier`, `LinearClassifier`, `LinearRegressor`) in the TF1 idiom: they train,
their evaluate metrics match numpy on their own predictions, and the variables have
TF1's names."""

import numpy as np
import pytest
from autodiff_check import BACKENDS

import compiler as tf

fcol = tf.feature_column
RNG = np.random.default_rng(9)
N = 120
X = RNG.normal(size=(N, 2)).astype(np.float32)
CAT = RNG.integers(0, 4, N)
Y_BIN = ((X @ np.array([1.0, -1.0]) + 1.5 * (CAT == 2) - 0.3) > 0).astype(np.int64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_input_layer_and_linear_model_match_numpy(backend):
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 2])
    ids = tf.placeholder(tf.int64, [None, 2])
    table = RNG.normal(size=(5, 3)).astype(np.float32)
    cat = fcol.categorical_column_with_identity("ids", 5)
    cols = [fcol.numeric_column("x", shape=(2,), normalizer_fn=lambda t: t * 2.0),
            fcol.bucketized_column(fcol.numeric_column("x", shape=(2,)), [-0.5, 0.0, 0.5]),
            fcol.indicator_column(cat),
            fcol.embedding_column(cat, 3, combiner="mean",
                                  initializer=tf.constant_initializer(table))]
    features = {"x": x, "ids": ids}
    dense = fcol.input_layer(features, cols)
    linear = fcol.linear_model(features, cols[:3], units=2)
    names = sorted(v.name for v in tf.global_variables())
    assert "input_layer/ids_embedding/embedding_weights:0" in names
    assert "linear_model/x/weights:0" in names and "linear_model/bias_weights:0" in names
    xv = RNG.normal(size=(6, 2)).astype(np.float32)
    iv = RNG.integers(0, 5, size=(6, 2))
    iv[0, 1] = 7  # out of range, no default: counts as no id
    config = tf.ConfigProto(backend="interpret") if backend == "interpret" else None
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        got, lin = sess.run([dense, linear], {x: xv, ids: iv})
    bucket = (xv[:, :, None] >= np.array([-0.5, 0.0, 0.5])).sum(2)
    buck = np.zeros((6, 8))
    for j in range(2):
        buck[np.arange(6), j * 4 + bucket[:, j]] = 1
    valid = iv < 5
    multi = np.zeros((6, 5))
    emb = np.zeros((6, 3))
    for r in range(6):
        for k in range(2):
            if valid[r, k]:
                multi[r, iv[r, k]] += 1
                emb[r] += table[iv[r, k]]
    emb /= valid.sum(1, keepdims=True)
    # the columns in name order: ids_embedding, ids_indicator, x, x_bucketized
    want = np.concatenate([emb, multi, 2 * xv, buck], 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(lin, np.zeros((6, 2)))  # zero-initialized weights


def np_sigmoid_xent(y, z):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


class VariableNames(tf.train.SessionRunHook):
    def begin(self):
        self.names = sorted(v.name for v in tf.global_variables())


def test_dnn_classifier_trains_and_its_metrics_match_numpy(tmp_path):
    cat = fcol.categorical_column_with_identity("c", 4)
    cols = [fcol.numeric_column("x", shape=(2,)), fcol.embedding_column(cat, 2)]
    est = tf.estimator.DNNClassifier(hidden_units=[8, 4], feature_columns=cols,
                                     model_dir=str(tmp_path),
                                     config=tf.estimator.RunConfig(tf_random_seed=3,
                                                                   log_step_count_steps=0))
    est.train(tf.estimator.inputs.numpy_input_fn({"x": X, "c": CAT}, Y_BIN, batch_size=20,
                                                  num_epochs=None, shuffle=True), steps=300)
    eval_in = tf.estimator.inputs.numpy_input_fn({"x": X, "c": CAT}, Y_BIN, batch_size=40,
                                                  shuffle=False)
    m = est.evaluate(eval_in)
    names = VariableNames()
    preds = list(est.predict(eval_in, hooks=[names]))
    assert "dnn/hiddenlayer_0/kernel:0" in names.names and "dnn/logits/bias:0" in names.names
    assert ("dnn/input_from_feature_columns/input_layer/c_embedding/embedding_weights:0"
            in names.names)
    assert m["accuracy"] > 0.9 and m["global_step"] == 300
    z = np.array([p["logits"][0] for p in preds], np.float64)
    p1 = np.array([p["logistic"][0] for p in preds], np.float64)
    cls = np.array([p["class_ids"][0] for p in preds])
    np.testing.assert_array_equal(cls, (z > 0).astype(np.int64))
    np.testing.assert_allclose([p["probabilities"][1] for p in preds], p1, rtol=1e-6)
    xent = np_sigmoid_xent(Y_BIN, z)
    np.testing.assert_allclose(m["accuracy"], (cls == Y_BIN).mean(), rtol=1e-6)
    np.testing.assert_allclose(m["average_loss"], xent.mean(), rtol=1e-4)
    # the training loss is summed over a batch (TF1 v1's Reduction.SUM); `loss` is its mean
    np.testing.assert_allclose(m["loss"], np.mean([xent[i:i + 40].sum() for i in (0, 40, 80)]),
                               rtol=1e-4)
    np.testing.assert_allclose(m["label/mean"], Y_BIN.mean(), rtol=1e-6)
    np.testing.assert_allclose(m["accuracy_baseline"], max(Y_BIN.mean(), 1 - Y_BIN.mean()),
                               rtol=1e-6)
    np.testing.assert_allclose(m["prediction/mean"], p1.mean(), rtol=1e-4)
    tp = ((cls == 1) & (Y_BIN == 1)).sum()
    np.testing.assert_allclose(m["precision"], tp / (cls == 1).sum(), rtol=1e-6)
    np.testing.assert_allclose(m["recall"], tp / (Y_BIN == 1).sum(), rtol=1e-6)
    assert 0.9 < m["auc"] <= 1.0 and 0.9 < m["auc_precision_recall"] <= 1.0


def test_linear_regressor_and_multiclass_classifier(tmp_path):
    y = (X @ np.array([2.0, -1.0]) + 0.5).astype(np.float32)
    reg = tf.estimator.LinearRegressor([fcol.numeric_column("x", shape=(2,))],
                                       model_dir=str(tmp_path / "reg"),
                                       config=tf.estimator.RunConfig(log_step_count_steps=0))
    reg.train(tf.estimator.inputs.numpy_input_fn({"x": X}, y, batch_size=20, num_epochs=None,
                                                 shuffle=True), steps=300)
    eval_in = tf.estimator.inputs.numpy_input_fn({"x": X}, y, batch_size=N, shuffle=False)
    m = reg.evaluate(eval_in)
    pred = np.array([p["predictions"][0] for p in reg.predict(eval_in)])
    np.testing.assert_allclose(pred, y, atol=1e-2)
    np.testing.assert_allclose(m["average_loss"], ((pred - y) ** 2).mean(), rtol=1e-3,
                               atol=1e-9)
    np.testing.assert_allclose(m["prediction/mean"], pred.mean(), rtol=1e-5, atol=1e-6)
    labels3 = np.digitize(X[:, 0], [-0.5, 0.5])
    clf = tf.estimator.LinearClassifier([fcol.numeric_column("x", shape=(2,))], n_classes=3,
                                        model_dir=str(tmp_path / "clf"), optimizer="Adam",
                                        config=tf.estimator.RunConfig(log_step_count_steps=0))
    clf.train(tf.estimator.inputs.numpy_input_fn({"x": X}, labels3, batch_size=20,
                                                 num_epochs=None, shuffle=True), steps=300)
    ev = tf.estimator.inputs.numpy_input_fn({"x": X}, labels3, batch_size=N, shuffle=False)
    m = clf.evaluate(ev)
    cls = np.array([p["class_ids"][0] for p in clf.predict(ev)])
    assert m["accuracy"] > 0.85
    np.testing.assert_allclose(m["accuracy"], (cls == labels3).mean(), rtol=1e-6)
    with pytest.raises(ValueError, match="n_classes"):
        tf.estimator.DNNClassifier([4], [fcol.numeric_column("x")], n_classes=1)
    with pytest.raises(ValueError, match="Unsupported optimizer"):
        bad = tf.estimator.LinearRegressor([fcol.numeric_column("x", shape=(2,))],
                                           model_dir=str(tmp_path / "bad"), optimizer="Nope")
        bad.train(tf.estimator.inputs.numpy_input_fn({"x": X}, y, shuffle=False), steps=1)
    with pytest.raises(ValueError, match="no such key"):
        tf.reset_default_graph()
        fcol.input_layer({"z": tf.constant([[1.0]])}, [fcol.numeric_column("x")])
