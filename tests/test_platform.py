"""Host-side TF1 modules: tf.app.run, tf.flags / tf.app.flags, tf.gfile, tf.logging —
in the TF1 idiom (scripts run as programs), plus their edge cases."""

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

import compiler as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent('''
    import json
    import sys
    import compiler as tf

    flags = tf.app.flags
    flags.DEFINE_string("data_dir", "/tmp/data", "Directory for storing input data")
    flags.DEFINE_integer("max_steps", 10, "Number of steps to run trainer.")
    flags.DEFINE_float("learning_rate", 0.01, "Initial learning rate.")
    flags.DEFINE_boolean("fake_data", False, "If true, uses fake data for unit testing.")
    flags.DEFINE_bool("log_device_placement", True, "Log placement.")
    FLAGS = flags.FLAGS


    def main(argv):
        print(json.dumps({"argv": argv[1:], "data_dir": FLAGS.data_dir,
                          "max_steps": FLAGS.max_steps, "lr": FLAGS.learning_rate,
                          "fake": FLAGS.fake_data, "ldp": FLAGS.log_device_placement}))
        return int(sys.stdin.read() or 0)


    if __name__ == "__main__":
        tf.app.run()
''')


def _run_script(tmp_path, text, args, stdin=""):
    path = tmp_path / "prog.py"
    path.write_text(text)
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, str(path), *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)


def test_app_run_parses_flags_and_exits_with_mains_return(tmp_path):
    args = ["--max_steps", "5", "--learning_rate=0.5", "--fake_data", "-data_dir=/x",
            "--nolog_device_placement", "extra", "--unknown=1", "--", "--max_steps=9"]
    proc = _run_script(tmp_path, SCRIPT, args, stdin="3")
    assert proc.returncode == 3, proc.stderr
    got = json.loads(proc.stdout)
    assert got == {"argv": ["extra", "--unknown=1", "--max_steps=9"], "data_dir": "/x",
                   "max_steps": 5, "lr": 0.5, "fake": True, "ldp": False}
    defaults = _run_script(tmp_path, SCRIPT, [])
    assert defaults.returncode == 0, defaults.stderr
    assert json.loads(defaults.stdout) == {"argv": [], "data_dir": "/tmp/data",
                                           "max_steps": 10, "lr": 0.01, "fake": False,
                                           "ldp": True}


def test_app_run_bad_flag_value_names_the_flag(tmp_path):
    proc = _run_script(tmp_path, SCRIPT, ["--max_steps=ten"])
    assert proc.returncode != 0
    assert "IllegalFlagValueError" in proc.stderr and "--max_steps=ten" in proc.stderr


def test_flags_parsed_lazily_from_sys_argv(tmp_path):
    script = textwrap.dedent('''
        import compiler as tf
        tf.flags.DEFINE_integer("batch_size", 100, "batch")
        FLAGS = tf.flags.FLAGS
        print(FLAGS.batch_size)
    ''')
    proc = _run_script(tmp_path, script, ["--batch_size=7"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "7"


def test_flag_values_parsing_rules(monkeypatch):
    fv = tf.flags.FlagValues()
    tf.flags.DEFINE_string("name", "a", "h", flag_values=fv)
    tf.flags.DEFINE_integer("n", 1, "h", lower_bound=0, flag_values=fv)
    tf.flags.DEFINE_float("x", 0.5, "h", flag_values=fv)
    tf.flags.DEFINE_boolean("on", True, "h", flag_values=fv)
    monkeypatch.setattr(sys, "argv", ["prog", "--n=4", "--on=false"])
    assert not fv.is_parsed()
    assert fv.n == 4 and fv.on is False and fv.name == "a"  # the first read parsed sys.argv
    assert fv.is_parsed()
    rest = fv(["prog", "--name", "--n=2", "pos", "--x", "1e-3", "--on"])
    assert rest == ["prog", "pos"] and fv.name == "--n=2" and fv.x == 1e-3 and fv.on is True
    fv.n = "12"
    assert fv.n == 12
    assert fv.flag_values_dict() == {"name": "--n=2", "n": 12, "x": 1e-3, "on": True}
    with pytest.raises(tf.flags.IllegalFlagValueError, match="--n=-1"):
        fv(["prog", "--n=-1"])
    with pytest.raises(tf.flags.IllegalFlagValueError, match="--on=maybe"):
        fv(["prog", "--on=maybe"])
    with pytest.raises(tf.flags.IllegalFlagValueError, match="--x needs a value"):
        fv(["prog", "--x"])
    with pytest.raises(tf.flags.DuplicateFlagError, match="'n'"):
        tf.flags.DEFINE_integer("n", 3, "again", flag_values=fv)
    with pytest.raises(AttributeError, match="'missing'"):
        _ = fv.missing
    fv.unparse_flags()
    monkeypatch.setattr(sys, "argv", ["prog"])
    assert fv.n == 1 and fv.name == "a"


def test_app_flags_is_tf_flags():
    assert tf.app.flags is tf.flags and tf.app.flags.FLAGS is tf.flags.FLAGS


def test_app_run_in_process_exit_code():
    with pytest.raises(SystemExit) as info:
        tf.app.run(main=lambda argv: len(argv), argv=["prog", "a", "b"])
    assert info.value.code == 3
    with pytest.raises(SystemExit) as info:
        tf.app.run(main=lambda argv: None, argv=["prog"])
    assert info.value.code is None  # sys.exit(None): status 0


def test_gfile_tf1_idioms(tmp_path):
    log_dir = str(tmp_path / "logs" / "run1")
    if tf.gfile.Exists(log_dir):
        tf.gfile.DeleteRecursively(log_dir)
    tf.gfile.MakeDirs(log_dir)
    tf.gfile.MakeDirs(log_dir)  # existing: fine
    assert tf.gfile.IsDirectory(log_dir)
    with tf.gfile.GFile(os.path.join(log_dir, "vocab.txt"), "w") as f:
        f.write("the\nof\n")
    with tf.gfile.Open(os.path.join(log_dir, "vocab.txt")) as f:
        assert f.read().splitlines() == ["the", "of"]
    with tf.gfile.FastGFile(os.path.join(log_dir, "b.bin"), "wb") as f:
        f.write(b"\x00\x01")
    assert sorted(tf.gfile.ListDirectory(log_dir)) == ["b.bin", "vocab.txt"]
    assert sorted(os.path.basename(p) for p in tf.gfile.Glob(os.path.join(log_dir, "*.txt"))) \
        == ["vocab.txt"]
    assert len(tf.gfile.Glob([os.path.join(log_dir, "*.txt"), os.path.join(log_dir, "*.bin")])) \
        == 2
    src, dst = os.path.join(log_dir, "vocab.txt"), os.path.join(log_dir, "copy.txt")
    tf.gfile.Copy(src, dst)
    with pytest.raises(FileExistsError, match="copy.txt"):
        tf.gfile.Copy(src, dst)
    tf.gfile.Copy(os.path.join(log_dir, "b.bin"), dst, overwrite=True)
    assert tf.gfile.Stat(dst).length == 2 and not tf.gfile.Stat(dst).is_directory
    with pytest.raises(FileExistsError, match="copy.txt"):
        tf.gfile.Rename(src, dst)
    tf.gfile.Rename(src, os.path.join(log_dir, "moved.txt"))
    assert not tf.gfile.Exists(src)
    tf.gfile.Remove(dst)
    with pytest.raises(FileNotFoundError, match="copy.txt"):
        tf.gfile.Remove(dst)
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        tf.gfile.GFile(os.path.join(log_dir, "nothing.txt"))
    with pytest.raises(FileExistsError, match="run1"):
        tf.gfile.MkDir(log_dir)
    tf.gfile.MkDir(os.path.join(log_dir, "sub"))
    walked = list(tf.gfile.Walk(str(tmp_path / "logs")))
    assert walked[0][1] == ["run1"] and "sub" in walked[1][1]
    tf.gfile.DeleteRecursively(str(tmp_path / "logs"))
    assert not tf.gfile.Exists(str(tmp_path / "logs"))


def test_logging_levels_and_messages(capsys):
    old = tf.logging.get_verbosity()
    try:
        tf.logging.set_verbosity(tf.logging.INFO)
        assert tf.logging.get_verbosity() == logging.INFO == tf.logging.INFO
        assert (tf.logging.DEBUG, tf.logging.WARN, tf.logging.ERROR) == (10, 30, 40)
        tf.logging.info("step %d: loss = %.2f", 3, 0.5)
        tf.logging.debug("hidden")
        tf.logging.warn("careful")
        tf.logging.warning("careful too")
        tf.logging.error("bad %s", "thing")
        for _ in range(5):
            tf.logging.log_every_n(tf.logging.INFO, "every %d", 2, 2)
        for _ in range(5):
            tf.logging.log_first_n(tf.logging.INFO, "first", 1)
        tf.logging.set_verbosity(tf.logging.ERROR)
        tf.logging.info("quiet now")
    finally:
        tf.logging.set_verbosity(old)
    err = capsys.readouterr().err
    assert "INFO:tensorflow:step 3: loss = 0.50" in err
    assert "hidden" not in err and "quiet now" not in err
    assert "WARNING:tensorflow:careful\n" in err and "careful too" in err
    assert "ERROR:tensorflow:bad thing" in err
    assert err.count("every 2") == 3 and err.count("first") == 1
