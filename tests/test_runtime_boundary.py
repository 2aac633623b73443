"""The runtime imports neither `compiler`, `passes` nor llvmlite (except its one JIT
loader module), so a deployed artifact runs with numpy alone."""

from __future__ import annotations

import ast
import pathlib

from compiler_free import run_without_compiler

ROOT = pathlib.Path(__file__).resolve().parents[1]
JIT_LOADER = "llvm_jit.py"


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


def test_runtime_sources_import_no_compiler_passes_or_llvmlite():
    for path in (ROOT / "runtime").glob("*.py"):
        banned = {"compiler", "passes"} | (set() if path.name == JIT_LOADER else {"llvmlite"})
        found = banned & set(_imports(path))
        assert not found, f"runtime/{path.name} imports {sorted(found)}"


def test_runtime_imports_in_a_process_that_blocks_the_compiler():
    out = run_without_compiler(
        "import runtime, runtime.executable, runtime.cpu_executable, runtime.signature, "
        "runtime.variables\n"
        "print('ok')\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
