"""`fc.metrics` (TF1 `tf.metrics`) streamed over several update runs, then read, against
numpy implementations of TF1 1.15's documented formulas, on both backends."""

import numpy as np
import pytest
from autodiff_check import BACKENDS

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

RNG = np.random.default_rng(1415)
N_BATCHES, B = 3, 12


def config(backend):
    return tf.ConfigProto(backend="interpret") if backend == "interpret" else None


def batches():
    out = []
    for _ in range(N_BATCHES):
        out.append({
            "cls_y": RNG.integers(0, 4, B), "cls_p": RNG.integers(0, 4, B),
            "bin_y": RNG.integers(0, 2, B), "bin_p": RNG.integers(0, 2, B),
            "prob": RNG.uniform(0, 1, B).astype(np.float32),
            "real_y": RNG.normal(size=B).astype(np.float32),
            "real_p": RNG.normal(size=B).astype(np.float32),
            "w": np.where(RNG.uniform(size=B) < 0.25, 0.0, RNG.uniform(0.5, 2, B)).astype(
                np.float32),
        })
    return out


def cat(data, key):
    return np.concatenate([d[key] for d in data]).astype(np.float64)


# -- numpy references of TF1's formulas ----------------------------------------------------

def np_div_no_nan(a, b):
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def np_mean(values, w):
    return np_div_no_nan((values * w).sum(), w.sum())


def np_confusion_at(y, p, w, thresholds):
    pos = p[None, :] > np.asarray(thresholds)[:, None]
    lab = (y != 0)[None, :]
    return {"tp": ((lab & pos) * w).sum(1), "fn": ((lab & ~pos) * w).sum(1),
            "tn": ((~lab & ~pos) * w).sum(1), "fp": ((~lab & pos) * w).sum(1)}


def np_thresholds(n):
    return [-1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7]


def np_auc(y, p, w, n=200, curve="ROC", method="trapezoidal"):
    c = np_confusion_at(y, p, w, np_thresholds(n))
    tp, fn, tn, fp = c["tp"], c["fn"], c["tn"], c["fp"]
    if curve == "PR" and method == "careful_interpolation":
        dtp = tp[:-1] - tp[1:]
        pp = tp + fp
        slope = np_div_no_nan(dtp, np.maximum(pp[:-1] - pp[1:], 0))
        icept = tp[1:] - slope * pp[1:]
        ratio = np.where((pp[:-1] > 0) & (pp[1:] > 0),
                         np_div_no_nan(pp[:-1], np.maximum(pp[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            inc = slope * (dtp + icept * np.log(ratio))
        return np_div_no_nan(inc, np.maximum(tp[1:] + fn[1:], 0)).sum()
    eps = 1e-6
    rec = (tp + eps) / (tp + fn + eps)
    if curve == "ROC":
        x, yy = fp / (fp + tn + eps), rec
    else:
        x, yy = rec, (tp + eps) / (tp + fp + eps)
    h = {"minoring": np.minimum(yy[:-1], yy[1:]), "majoring": np.maximum(yy[:-1], yy[1:])}
    height = h.get(method, (yy[:-1] + yy[1:]) / 2)
    return ((x[:-1] - x[1:]) * height).sum()


def np_ratio(a, b):
    return a / (a + b) if a + b > 0 else 0.0


# -- the graph: every metric, fed batch by batch ------------------------------------------

def build():
    ph = {k: tf.placeholder(dt, [None], name=k) for k, dt in (
        ("cls_y", tf.int64), ("cls_p", tf.int64), ("bin_y", tf.int64), ("bin_p", tf.int64),
        ("prob", tf.float32), ("real_y", tf.float32), ("real_p", tf.float32),
        ("w", tf.float32))}
    m = tf.metrics
    w = ph["w"]
    metrics = {
        "accuracy": m.accuracy(ph["cls_y"], ph["cls_p"]),
        "accuracy_w": m.accuracy(ph["cls_y"], ph["cls_p"], weights=w),
        "mean": m.mean(ph["real_y"]),
        "mean_w": m.mean(ph["real_y"], weights=w),
        "mse": m.mean_squared_error(ph["real_y"], ph["real_p"], weights=w),
        "mae": m.mean_absolute_error(ph["real_y"], ph["real_p"]),
        "rmse": m.root_mean_squared_error(ph["real_y"], ph["real_p"]),
        "precision": m.precision(ph["bin_y"], ph["bin_p"], weights=w),
        "recall": m.recall(ph["bin_y"], ph["bin_p"]),
        "tp": m.true_positives(ph["bin_y"], ph["bin_p"]),
        "fp": m.false_positives(ph["bin_y"], ph["bin_p"], weights=w),
        "fn": m.false_negatives(ph["bin_y"], ph["bin_p"]),
        "tn": m.true_negatives(ph["bin_y"], ph["bin_p"]),
        "auc": m.auc(ph["bin_y"], ph["prob"]),
        "auc_w": m.auc(ph["bin_y"], ph["prob"], weights=w, num_thresholds=50),
        "auc_pr": m.auc(ph["bin_y"], ph["prob"], curve="PR"),
        "auc_pr_careful": m.auc(ph["bin_y"], ph["prob"], curve="PR",
                                summation_method="careful_interpolation"),
        "auc_min": m.auc(ph["bin_y"], ph["prob"], summation_method="minoring"),
        "auc_maj": m.auc(ph["bin_y"], ph["prob"], summation_method="majoring"),
        "per_class": m.mean_per_class_accuracy(ph["cls_y"], ph["cls_p"], 4, weights=w),
    }
    return ph, metrics


def expected(data, upto):
    d = data[:upto]
    cy, cp, by, bp = cat(d, "cls_y"), cat(d, "cls_p"), cat(d, "bin_y"), cat(d, "bin_p")
    prob, ry, rp, w = cat(d, "prob"), cat(d, "real_y"), cat(d, "real_p"), cat(d, "w")
    one = np.ones_like(w)
    by_, bp_ = by != 0, bp != 0
    tp = lambda ww: ((by_ & bp_) * ww).sum()  # noqa: E731
    fp = lambda ww: ((~by_ & bp_) * ww).sum()  # noqa: E731
    fn = lambda ww: ((by_ & ~bp_) * ww).sum()  # noqa: E731
    total = np.array([(w * (cy == c)).sum() for c in range(4)])
    right = np.array([(w * (cy == c) * (cp == cy)).sum() for c in range(4)])
    per_class = np_div_no_nan(right, total)
    return {
        "accuracy": np_mean((cy == cp) * 1.0, one), "accuracy_w": np_mean((cy == cp) * 1.0, w),
        "mean": ry.mean(), "mean_w": np_mean(ry, w), "mse": np_mean((rp - ry) ** 2, w),
        "mae": np.abs(rp - ry).mean(), "rmse": np.sqrt(((rp - ry) ** 2).mean()),
        "precision": np_ratio(tp(w), fp(w)), "recall": np_ratio(tp(one), fn(one)),
        "tp": tp(one), "fp": fp(w), "fn": fn(one), "tn": ((~by_ & ~bp_) * 1.0).sum(),
        "auc": np_auc(by, prob, one), "auc_w": np_auc(by, prob, w, n=50),
        "auc_pr": np_auc(by, prob, one, curve="PR"),
        "auc_pr_careful": np_auc(by, prob, one, curve="PR", method="careful_interpolation"),
        "auc_min": np_auc(by, prob, one, method="minoring"),
        "auc_maj": np_auc(by, prob, one, method="majoring"),
        "per_class": (per_class.mean(), per_class),
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_metrics_stream_over_batches(backend):
    data = batches()
    ph, metrics = build()
    values = {k: v for k, (v, _) in metrics.items()}
    updates = {k: u for k, (_, u) in metrics.items()}
    with tf.Session(config=config(backend)) as sess:
        sess.run(tf.local_variables_initializer())
        before = sess.run(values)
        for i, batch in enumerate(data):
            got_up = sess.run(updates, {ph[k]: v for k, v in batch.items()})
            _compare(got_up, expected(data, i + 1), update=True)
        _compare(sess.run(values), expected(data, N_BATCHES), update=False)
        sess.run(tf.local_variables_initializer())  # a reset starts the stream again
        again = sess.run(values)
    for k in ("accuracy", "mean", "precision", "auc"):
        assert before[k] == 0 and again[k] == 0, k


def _compare(got, want, update):
    for key, ref in want.items():
        if key == "per_class":  # value: the mean; update_op: the per-class accuracies
            ref = ref[1] if update else ref[0]
        np.testing.assert_allclose(got[key], ref, rtol=2e-5, atol=2e-6, err_msg=key)


def test_metric_variables_collections_and_names():
    y = tf.placeholder(tf.int64, [None])
    p = tf.placeholder(tf.int64, [None])
    acc, update = tf.metrics.accuracy(y, p, metrics_collections=["mine"],
                                      updates_collections=[tf.GraphKeys.UPDATE_OPS])
    tf.metrics.auc(y, tf.cast(p, tf.float32), num_thresholds=7)
    tf.metrics.accuracy(y, p)
    names = [v.name for v in tf.local_variables()]
    assert names[:2] == ["accuracy/total:0", "accuracy/count:0"]
    assert "auc/true_positives:0" in names and "accuracy_1/total:0" in names
    assert tf.get_collection(tf.GraphKeys.METRIC_VARIABLES) == tf.local_variables()
    assert tf.global_variables() == [] and tf.trainable_variables() == []
    assert tf.get_collection("mine") == [acc]
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == [update]
    assert tf.local_variables()[2].shape.as_list() == [7]
    assert acc.name == "accuracy/value:0" and update.name == "accuracy/update_op:0"


@pytest.mark.parametrize("backend", BACKENDS)
def test_confusion_matrix(backend):
    y = RNG.integers(0, 5, 40)
    p = RNG.integers(0, 5, 40)
    w = RNG.uniform(0, 3, 40)
    want = np.zeros((5, 5))
    np.add.at(want, (y, p), 1)
    want_w = np.zeros((5, 5))
    np.add.at(want_w, (y, p), w)
    yy = tf.placeholder(tf.int32, [None])
    pp = tf.placeholder(tf.int32, [None])
    cm = tf.confusion_matrix(yy, pp, num_classes=5)
    cm_w = tf.confusion_matrix(yy, pp, num_classes=5, weights=w, dtype=tf.float64)
    assert cm.dtype is tf.int32 and cm.shape.as_list() == [5, 5]
    with tf.Session(config=config(backend)) as sess:
        got, got_w = sess.run([cm, cm_w], {yy: y, pp: p})
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-12)


def test_bad_arguments_are_named():
    y = tf.placeholder(tf.int64, [None, 3])
    p = tf.placeholder(tf.int64, [None, 4])
    with pytest.raises(ValueError, match="not compatible"):
        tf.metrics.accuracy(y, p)
    with pytest.raises(ValueError, match="summation_method"):
        tf.metrics.auc(y, tf.cast(y, tf.float32), summation_method="simpson")
    with pytest.raises(ValueError, match="curve"):
        tf.metrics.auc(y, tf.cast(y, tf.float32), curve="DET")
    with pytest.raises(ValueError, match="num_classes"):
        tf.confusion_matrix(y, y)
    with pytest.raises(TypeError, match="integers"):
        tf.metrics.mean_per_class_accuracy(tf.cast(y, tf.float32), y, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_threshold_tensor_and_iou_metrics_stream(backend):
    data = batches()
    th = [0.2, 0.5, 0.8]
    ph = {k: tf.placeholder(dt, [None], name=k) for k, dt in (
        ("cls_y", tf.int64), ("cls_p", tf.int64), ("bin_y", tf.int64), ("prob", tf.float32),
        ("real_y", tf.float32), ("w", tf.float32))}
    tensor_in = tf.reshape(ph["real_y"], [3, 4])
    m = tf.metrics
    metrics = {
        "tp": m.true_positives_at_thresholds(ph["bin_y"], ph["prob"], th, weights=ph["w"]),
        "fp": m.false_positives_at_thresholds(ph["bin_y"], ph["prob"], th),
        "tn": m.true_negatives_at_thresholds(ph["bin_y"], ph["prob"], th),
        "fn": m.false_negatives_at_thresholds(ph["bin_y"], ph["prob"], th),
        "prec": m.precision_at_thresholds(ph["bin_y"], ph["prob"], th),
        "rec": m.recall_at_thresholds(ph["bin_y"], ph["prob"], th, weights=ph["w"]),
        "tensor": m.mean_tensor(tensor_in, weights=tf.reshape(ph["w"], [3, 4])),
        "below": m.percentage_below(ph["real_y"], 0.3, weights=ph["w"]),
        "iou": m.mean_iou(ph["cls_y"], ph["cls_p"], 5, weights=ph["w"]),  # 4: never seen
    }
    scope_vars = [v.name for v in tf.local_variables() if v.name.startswith("precision_at")]
    assert scope_vars == ["precision_at_thresholds/true_positives:0",
                          "precision_at_thresholds/false_positives:0"]
    with tf.Session(config=config(backend)) as sess:
        sess.run(tf.local_variables_initializer())
        for batch in data:
            ups = sess.run({k: u for k, (_, u) in metrics.items()},
                           {ph[k]: batch[k] for k in ph})
        got = sess.run({k: v for k, (v, _) in metrics.items()})
    y, p, w = cat(data, "bin_y"), cat(data, "prob"), cat(data, "w")
    one = np.ones_like(w)
    cw, c1 = np_confusion_at(y, p, w, th), np_confusion_at(y, p, one, th)
    want = {"tp": cw["tp"], "fp": c1["fp"], "tn": c1["tn"], "fn": c1["fn"],
            "prec": c1["tp"] / (c1["tp"] + c1["fp"] + 1e-7),
            "rec": cw["tp"] / (cw["tp"] + cw["fn"] + 1e-7)}
    ry = np.stack([d["real_y"] for d in data]).reshape(N_BATCHES, 3, 4).astype(np.float64)
    ww = np.stack([d["w"] for d in data]).reshape(N_BATCHES, 3, 4).astype(np.float64)
    want["tensor"] = np_div_no_nan((ry * ww).sum(0), ww.sum(0))
    want["below"] = np_mean((cat(data, "real_y") < 0.3) * 1.0, w)
    cm = np.zeros((5, 5))
    np.add.at(cm, (cat(data, "cls_y").astype(int), cat(data, "cls_p").astype(int)), w)
    den = cm.sum(0) + cm.sum(1) - np.diag(cm)
    want["iou"] = (np.diag(cm)[den > 0] / den[den > 0]).mean()
    for key, ref in want.items():
        np.testing.assert_allclose(got[key], ref, rtol=2e-5, atol=2e-6, err_msg=key)
        if key != "iou":
            np.testing.assert_allclose(ups[key], ref, rtol=2e-5, atol=2e-6, err_msg=key)
    np.testing.assert_allclose(ups["iou"], cm, rtol=1e-6)  # TF1: update_op is the matrix


@pytest.mark.parametrize("backend", BACKENDS)
def test_contrib_streaming_metrics_take_predictions_first(backend):
    data = batches()
    y = tf.placeholder(tf.int64, [None])
    p = tf.placeholder(tf.int64, [None])
    prob = tf.placeholder(tf.float32, [None])
    cm = tf.contrib.metrics
    acc, acc_up = cm.streaming_accuracy(p, y)
    auc, auc_up = cm.streaming_auc(prob, y)
    prec, prec_up = cm.streaming_precision(p, y)
    batch_acc = cm.accuracy(p, y)
    assert [v.name for v in tf.local_variables()][:2] == ["accuracy/total:0",
                                                          "accuracy/count:0"]
    with tf.Session(config=config(backend)) as sess:
        sess.run(tf.local_variables_initializer())
        for d in data:
            one = sess.run([acc_up, auc_up, prec_up, batch_acc],
                           {y: d["bin_y"], p: d["bin_p"], prob: d["prob"]})
            np.testing.assert_allclose(one[3], (d["bin_y"] == d["bin_p"]).mean(), rtol=1e-6)
        got = sess.run([acc, auc, prec])
    by, bp = cat(data, "bin_y"), cat(data, "bin_p")
    one = np.ones_like(by)
    np.testing.assert_allclose(got[0], (by == bp).mean(), rtol=1e-6)
    np.testing.assert_allclose(got[1], np_auc(by, cat(data, "prob"), one), rtol=2e-5)
    np.testing.assert_allclose(got[2], ((by == 1) & (bp == 1)).sum() / (bp == 1).sum(),
                               rtol=1e-6)
