"""The runtime imports neither `compiler`, `passes` nor llvmlite (except its one JIT
loader module), so a deployed artifact runs with numpy alone."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

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
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('compiler', 'passes', 'llvmlite'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import runtime, runtime.executable, runtime.signature, runtime.variables\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
