"""The TF1 program corpus (examples/tf1, run by examples/tf1/run_all.py): the programs
that run today, each in its own process as a user runs it, must reach the result it
checks itself (its exit status and its `result:` line). A program that needs pieces not
built yet is not listed; run_all.py shows it with its first error. The slower programs
(RNNs including dynamic_rnn, autoencoders, GAN, PTB, word2vec, the CIFAR-10 CNN) are left
to run_all.py, to keep each test here under about 10 s."""

import os
import runpy

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = runpy.run_path(os.path.join(ROOT, "examples", "tf1", "run_all.py"))

PASSING_TODAY = ["linear_regression", "logistic_regression", "nearest_neighbor", "kmeans",
                 "mnist_softmax", "flags_app", "tensorboard_basic", "basic_operations",
                 "control_flow", "estimator_linear", "tf_data_pipeline"]
PASSING_TODAY += ["kmeans_contrib"]  # tf.contrib.factorization.KMeans
# issue 15: conv2d + max_pool + dropout + dense, its tf.layers + tf.estimator version, and
# TensorFlow's Deep MNIST tutorial
PASSING_TODAY += ["convolutional_network", "convolutional_network_layers", "mnist_deep"]


@pytest.mark.parametrize("name", PASSING_TODAY)
def test_tf1_program_reaches_its_result(name):
    row = RUNNER["run_program"](name, timeout=120)
    assert row["status"] == "yes", f"{name}: {row['status']}: {row['detail']}"
    assert row["detail"].startswith("result:")


def test_runner_lists_every_program_and_reports_errors():
    names = RUNNER["programs"]()
    assert len(names) >= 20 and set(PASSING_TODAY) <= set(names)
    assert "run_all" not in names and "local_data" not in names
    trace = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n"
             "    tf.nn.dynamic_rnn(cell)\nAttributeError: module has no attribute 'x'\n")
    assert RUNNER["first_error"](trace) == "AttributeError: module has no attribute 'x'"
    rows = [dict(name="a", status="yes", seconds=1.0, detail="result: ok"),
            dict(name="bb", status="error", seconds=0.2, detail="TypeError: x | y")]
    assert "| bb | error | 0 s | TypeError: x / y |" in RUNNER["table"](rows, markdown=True)
