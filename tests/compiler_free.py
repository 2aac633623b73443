"""Run Python code in a subprocess where `compiler`, `passes` and llvmlite cannot be
imported: what a deployed artifact's process looks like."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCKED = ("compiler", "passes", "llvmlite")

_BLOCKER = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    f"        if name.split('.')[0] in {BLOCKED!r}:\n"
    "            raise ImportError('blocked: ' + name)\n"
    "sys.meta_path.insert(0, Block())\n")


def run_without_compiler(code: str) -> subprocess.CompletedProcess:
    """Run `code` from the repository root with the blocker installed first."""
    return subprocess.run([sys.executable, "-c", _BLOCKER + code], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
