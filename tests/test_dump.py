"""fc.dump: every stage in pipeline order, provenance (the user's file:line) in the IR
and kernel stages, files written per stage, the fusion plan with reasons."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as fc


def test_dump_gives_every_stage_in_order_with_provenance(tmp_path):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        w = fc.Variable(np.ones((4, 3), np.float32), name="w")
        y = fc.nn.softmax(fc.matmul(x, w) * 1.0, name="probs")
        stages = fc.dump(y, dir=str(tmp_path))
    names = list(stages)
    assert names[:3] == ["graph", "input", "fold_constants"]
    assert names[-5:] == ["fusion", "kernels", "llvm", "llvm_opt", "asm"]
    assert "simplify" in names and "dce" in names
    assert "x = placeholder()" in stages["graph"] and "test_dump.py" in stages["graph"]
    assert "pass simplify:" in stages["simplify"] and "removed 2" in stages["simplify"]  # mul, 1.0
    assert "probs" in stages["fusion"] and "test_dump.py:" in stages["fusion"]
    assert "# computes: div 'probs' (created at test_dump.py:" in stages["kernels"]
    assert "define" in stages["llvm"] and "flowc_main" in stages["llvm_opt"]
    assert "ret" in stages["asm"]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == "00_graph.txt" and len(files) == len(stages)
    assert (tmp_path / files[1]).read_text().startswith("pipeline default")


def test_dump_selects_stages_and_rejects_unknown_ones():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        y = fc.exp(x)
        assert list(fc.dump(y, stages=["fusion", "kernels"])) == ["fusion", "kernels"]
        assert list(fc.dump(y, feeds=[x], stages="input")) == ["input"]
        with pytest.raises(ValueError, match="unknown stage"):
            fc.dump(y, stages=["nope"])
        with pytest.raises(ValueError, match="format"):
            fc.dump(y, format="pdf")


def test_o0_pipeline_runs_no_pass():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [3], name="x")
        stages = fc.dump(x * 1.0, options=fc.CompileOptions(pipeline="O0"))
        assert "simplify" not in stages and "mul" in stages["kernels"]


def test_session_dump_dir_writes_every_compile(tmp_path):
    opts = fc.CompileOptions(dump_dir=str(tmp_path))
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        with fc.Session(config=fc.ConfigProto(compile_options=opts)) as sess:
            sess.run(fc.exp(x) * 1.0, {x: [1.0]})
    files = sorted(p.name for p in (tmp_path / "program_001").iterdir())
    assert files[0] == "00_input.txt" and any(f.endswith("_fusion.txt") for f in files)
    assert any(f.endswith("_asm.txt") for f in files)
