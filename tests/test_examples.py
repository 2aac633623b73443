"""The main example runs and checks itself; the training examples (regression, MLP and CNN on
digits with AOT compile and runtime.load, LSTM on the adding problem) run at their --small
size and check themselves (exit 0); the benchmark script runs (quick mode) and
prints JSON lines in the contract's form with flowc's results (Session.run, and
make_callable with out= buffers: "flowc-out") checked "ok"."""

import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED = {"workload", "system", "median_ms", "min_ms", "check"}
OPTIONAL = {"compile_s", "kernels", "gflops", "gbps", "note"}


def _run(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_main_example_runs_and_matches_numpy():
    proc = _run(os.path.join("examples", "basics.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all results match numpy" in proc.stdout
    assert "MISMATCH" not in proc.stdout


def test_regression_example_learns_w():
    proc = _run(os.path.join("examples", "regression.py"), "--small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "learned" in proc.stdout and "NOT LEARNED" not in proc.stdout
    assert "epoch  1  loss" in proc.stdout          # the loss is printed per epoch


def test_mlp_digits_example_trains_compiles_and_runs():
    proc = _run(os.path.join("examples", "mlp_digits.py"), "--small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agree with the Session on 100.0 %" in proc.stdout
    assert proc.stdout.rstrip().endswith("ok")


def test_cnn_digits_example_trains_compiles_and_runs():
    """Two epochs of the LeNet-style net with batch norm (conv2d, batch_normalization with
    UPDATE_OPS, max_pooling2d, dropout): the test accuracy with the moving averages must
    reach 90 %, and the compiled .so must give the Session's predictions."""
    proc = _run(os.path.join("examples", "cnn_digits.py"), "--small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agree with the Session on 100.0 %" in proc.stdout
    assert proc.stdout.rstrip().endswith("ok")


def test_lstm_adding_example_loss_falls():
    proc = _run(os.path.join("examples", "lstm_adding.py"), "--small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "learned" in proc.stdout and "NOT LEARNED" not in proc.stdout


def test_bench_quick_prints_checked_json_lines():
    proc = _run(os.path.join("benchmarks", "bench.py"), "--quick", "all")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]
    assert {r["workload"] for r in records} == {"W1", "W3", "W4", "W5", "W6", "W7", "MM",
                                                "C1", "C2", "C3", "W8", "D1", "D2",
                                                "O1-squeezenet"}
    for rec in records:
        assert REQUIRED <= set(rec) and set(rec) <= REQUIRED | OPTIONAL, rec
        if not rec["check"].startswith("skipped"):
            assert rec["median_ms"] > 0 and rec["min_ms"] <= rec["median_ms"], rec
    flowc = [r for r in records if r["system"] == "flowc"]
    assert sorted(r["workload"] for r in flowc) == ["C1", "C2", "C3", "D1", "D2", "MM",
                                                    "O1-squeezenet", "W1", "W3", "W4", "W5",
                                                    "W6", "W8"]
    flowc_out = [r for r in records if r["system"] == "flowc-out"]
    assert sorted(r["workload"] for r in flowc_out) == ["W1", "W5"]
    for rec in flowc + flowc_out:
        assert rec["check"] == "ok", rec
        if rec["workload"] in ("D1", "D2"):  # Session steps: no compile figures
            continue
        assert rec["compile_s"] > 0, rec
        assert isinstance(rec["kernels"], int) and rec["kernels"] >= 1, rec
    assert {r["workload"] for r in records if r["system"] == "numpy"} == {
        "W1", "W3", "W4", "W5", "W6", "MM", "C2", "C3", "W8"}
    assert any(r["system"] == "ctypes" and r["check"] == "ok" for r in records)


def test_estimator_digits_example_trains_both_estimators():
    proc = _run(os.path.join("examples", "estimator_digits.py"), "--small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "targets met" in proc.stdout
    assert proc.stdout.count("predict agrees with evaluate") == 2


def test_dynamic_lstm_example_learns_with_one_compile():
    proc = _run(os.path.join("examples", "dynamic_lstm.py"), "--small")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "learned" in proc.stdout and "NOT LEARNED" not in proc.stdout
    assert "RECOMPILED" not in proc.stdout


def test_inception_example_quick_trains_infers_and_matches_the_interpreter(tmp_path):
    """The reduced Inception-v3 (one block of each kind): a training step and a batch-1
    inference agree with the interpreter, the graph is written for TensorBoard and the
    viewer, and the figures are printed."""
    proc = _run(os.path.join("examples", "inception.py"), "--quick", "--logdir",
                str(tmp_path), timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.rstrip().endswith("ok") and "MISMATCH" not in out
    assert out.count(" ok\n") == 5        # loss, three updates, probs
    for line in ("user-graph nodes", "kernel calls of", "compile (cold, training step)",
                 "compile (from the cache, new Session)", "step time"):
        assert line in out, line
    assert glob.glob(str(tmp_path / "events.out.tfevents.*"))
    assert (tmp_path / "inception.html").stat().st_size > 10000
