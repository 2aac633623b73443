"""The TF1 coverage table (docs/tf1_coverage.md) is what docs/coverage.py makes now from
docs/tf1_api_names.txt, so it stays true; the script resolves names without TensorFlow."""

import os
import runpy
import sys

import compiler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = runpy.run_path(os.path.join(ROOT, "docs", "coverage.py"))


def test_checked_in_table_is_current():
    with open(os.path.join(ROOT, "docs", "tf1_coverage.md"), encoding="utf-8") as f:
        checked_in = f.read()
    made = SCRIPT["render"](SCRIPT["read_names"](), compiler)
    assert checked_in == made, "docs/tf1_coverage.md is stale: run python docs/coverage.py"


def test_names_resolve_by_attribute_lookup():
    resolves = SCRIPT["resolves"]
    assert resolves(compiler, "tf.nn.softmax") and resolves(compiler, "tf.train.Saver")
    assert resolves(compiler, "tf.contrib.rnn.LSTMStateTuple")
    assert not resolves(compiler, "tf.nn.no_such_function")
    assert not resolves(compiler, "tf.no_such_module.softmax")
    names = SCRIPT["read_names"]()
    assert len(names) > 1000 and "tf.placeholder" in names
    assert "tensorflow" not in sys.modules


def test_render_groups_by_module_deterministically():
    names = ["tf.nn.relu", "tf.nn.no_such", "tf.placeholder"]
    text = SCRIPT["render"](names, compiler)
    assert text == SCRIPT["render"](names, compiler)
    assert "| `tf.nn` | 1 | 1 |" in text and "| `tf` | 1 | 0 |" in text
    assert "Missing (1): `no_such`." in text
