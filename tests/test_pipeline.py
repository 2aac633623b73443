"""The compile pipeline (compiler/pipeline.py): its stages in order, fusion as a named stage
of the pass report, the backend registry, the executables' one interface."""

from __future__ import annotations

import numpy as np

import compiler as fc
from compiler import pipeline
from compiler.backends import BACKENDS
from compiler.backends.cuda.nests import lower_group
from compiler.backends.llvm.target import cpu_schedule
from compiler.interpret import InterpretedProgram
from runtime.executable import Executable
from runtime.variables import VariableStore


def _softmax():
    x = fc.placeholder(fc.float32, [None, 4], name="x")
    return x, fc.nn.softmax(x * 2.0, name="probs")


def test_fusion_is_a_stage_of_the_pass_report_when_dumping():
    with fc.Graph().as_default() as g:
        x, y = _softmax()
        options = fc.CompileOptions(threads=1)
        compiled = pipeline.compile_graph(g, [y], [x], options, dump=True)
    stages = list(compiled.report.stages())
    assert stages[0] == "input" and stages[-1] == "fusion"
    assert "probs" in compiled.report.stages()["fusion"]
    assert "==== fusion ====" in compiled.report.text()
    texts = pipeline.stage_texts(compiled.report, compiled.executable)
    assert list(texts)[len(stages) - 1:] == ["fusion", "kernels", "llvm", "llvm_opt", "asm"]


def test_without_dumping_the_report_has_only_the_passes():
    with fc.Graph().as_default() as g:
        x, y = _softmax()
        compiled = pipeline.compile_graph(g, [y], [x], fc.CompileOptions(threads=1))
    assert "fusion" not in compiled.report.stages()
    out = compiled.executable.run([np.zeros((2, 4), np.float32)], VariableStore(), 0)
    np.testing.assert_allclose(out[0], np.full((2, 4), 0.25, np.float32))


def test_session_dump_dir_files_follow_the_pipeline_order(tmp_path):
    with fc.Graph().as_default():
        x, y = _softmax()
        options = fc.CompileOptions(dump_dir=str(tmp_path), threads=1)
        with fc.Session(config=fc.ConfigProto(compile_options=options)) as sess:
            sess.run(y, {x: np.ones((1, 4), np.float32)})
            assert list(sess.last_pass_report.stages())[-1] == "fusion"
    names = sorted(p.name for p in (tmp_path / "program_001").iterdir())
    tail = [n.split("_", 1)[1] for n in names[-5:]]
    assert tail == ["fusion.txt", "kernels.txt", "llvm.txt", "llvm_opt.txt", "asm.txt"]


def test_backends_registry_carries_each_schedule():
    assert set(BACKENDS) == {"cpu", "gpu"}
    v3 = fc.CompileOptions(target_cpu="x86-64-v3")
    assert BACKENDS["cpu"].schedule(v3) == cpu_schedule("x86-64-v3")
    assert BACKENDS["cpu"].schedule(v3).group_rule is None
    gpu = fc.CompileOptions(device="gpu")
    assert BACKENDS["gpu"].schedule(gpu).group_rule is lower_group
    assert BACKENDS["gpu"].device == "gpu" and BACKENDS["cpu"].device == "cpu"


def test_every_executable_has_the_one_interface():
    with fc.Graph().as_default() as g:
        x, y = _softmax()
        compiled = pipeline.compile_graph(g, [y], [x], fc.CompileOptions(threads=1))
        interpreted = pipeline.compile_graph(g, [y], [x], fc.CompileOptions(),
                                             interpret=True).executable
    for exe in (compiled.executable, interpreted):
        assert isinstance(exe, Executable) and exe.device == "cpu"
    assert isinstance(interpreted, InterpretedProgram) and interpreted.fast_run([]) is None
    assert interpreted.signature.inputs[0].name == "x"
