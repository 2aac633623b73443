"""Fork while another thread is inside flowc (a runtime.load'ed model call, a training
step, a compile, an fc.jit compile, a parallel region), then use flowc in the child:
every path works in the child, or raises ForkError where the parent's copy cannot be
trusted (runtime/forksafe.py) — never a hang. Each scenario runs in a fresh interpreter
(tests/fork_scenarios.py) under a timeout, so a hang fails the test, not the suite."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fork_scenarios import SCENARIOS

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fork_while_another_thread_is_busy(name, tmp_path):
    # a fresh compile cache: the compiles in flight are real LLVM work
    env = {**os.environ, "FLOWC_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, os.path.join(HERE, "fork_scenarios.py"), name],
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=os.path.dirname(HERE))
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), \
        proc.stdout[-3000:] + proc.stderr[-6000:]
