"""SASS of a cubin, for checking the shape of generated GPU code without a GPU.

`disassemble(cubin)` runs `cuobjdump -sass` (pip's `nvidia-cuda-cuobjdump`, which calls
`nvidia-cuda-nvdisasm`; both in the `cuda` and `test` extras) and returns each kernel's
instructions; `resources(cubin)` its registers, stack, shared and local memory
(`cuobjdump -res-usage`). `loops(instrs)` finds the loops (a backward branch and the range
it closes). Tests assert with these what makes a kernel fast (128-bit loads, no branch in
a loop body, tensor-core instructions per k-step, no local-memory spill): statements about
the code's shape, never timings. No CUDA driver or GPU is needed.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass


class SassUnavailable(RuntimeError):
    """cuobjdump/nvdisasm are not installed (pip install nvidia-cuda-cuobjdump
    nvidia-cuda-nvdisasm, or the `cuda` extra)."""


@dataclass(frozen=True)
class Instr:
    """One SASS instruction: its byte address, predicate guard (`@P0`, `@!P1` or ""),
    opcode with modifiers (`LDG.E.128.CONSTANT`) and operand text."""
    addr: int
    guard: str
    opcode: str
    operands: str

    @property
    def op(self) -> str:
        """The opcode without modifiers (`LDG`)."""
        return self.opcode.split(".", 1)[0]

    def branch_target(self):
        """The target address of a BRA, else None."""
        if self.op != "BRA":
            return None
        m = re.search(r"0x([0-9a-f]+)\s*$", self.operands)
        return int(m.group(1), 16) if m else None


def tool(name: str) -> str:
    """The path of `cuobjdump` or `nvdisasm`: pip's nvidia/cu13/bin beside this Python,
    then PATH."""
    for site in sys.path:
        for path in glob.glob(os.path.join(site, "nvidia", "cu*", "bin", name)):
            if os.access(path, os.X_OK):
                return path
    found = shutil.which(name)
    if found:
        return found
    raise SassUnavailable(f"{name} not found: pip install nvidia-cuda-cuobjdump "
                          "nvidia-cuda-nvdisasm (the `cuda` extra)")


def _cuobjdump(cubin: bytes, *flags) -> str:
    cuobjdump = tool("cuobjdump")
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(tool("nvdisasm")) + os.pathsep + env.get("PATH", "")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(bytes(cubin))
        f.flush()
        out = subprocess.run([cuobjdump, *flags, f.name], capture_output=True, text=True,
                             env=env)
    if out.returncode:
        raise RuntimeError(f"cuobjdump {' '.join(flags)} failed: {out.stderr.strip()[:2000]}")
    return out.stdout


_LINE = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z0-9_.]+)\s*([^;]*);")


def disassemble(cubin: bytes) -> dict:
    """{kernel name: [Instr, ...]} in address order."""
    kernels, current = {}, None
    for line in _cuobjdump(cubin, "-sass").splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            current = kernels.setdefault(m.group(1), [])
            continue
        m = _LINE.match(line)
        if m and current is not None:
            current.append(Instr(int(m.group(1), 16), (m.group(2) or "").strip(), m.group(3),
                                 m.group(4).strip()))
    return kernels


def resources(cubin: bytes) -> dict:
    """{kernel name: {"REG": n, "STACK": n, "SHARED": n, "LOCAL": n, ...}} (bytes, except
    REG: registers per thread)."""
    out, current = {}, None
    for line in _cuobjdump(cubin, "-res-usage").splitlines():
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            current = m.group(1)
            continue
        if current is not None and "REG:" in line:
            out[current] = {k: int(v) for k, v in re.findall(r"(\w+(?:\[\d+\])?):(\d+)", line)}
            current = None
    return out


def loops(instrs) -> list:
    """The loops of one kernel as (first address, last address) pairs: each backward
    branch closes the range from its target to itself (the `BRA` to itself that pads the end is
    no loop). Innermost first (shortest)."""
    spans = [(i.branch_target(), i.addr) for i in instrs
             if i.branch_target() is not None and i.branch_target() < i.addr]
    return sorted(spans, key=lambda s: s[1] - s[0])


def within(instrs, span) -> list:
    """The instructions whose address lies in `span` (first, last), both included."""
    return [i for i in instrs if span[0] <= i.addr <= span[1]]


def count(instrs, opcode_prefix: str) -> int:
    """How many instructions have an opcode starting with `opcode_prefix`
    (`"LDG.E.128"`, `"HMMA"`, `"BRA"`)."""
    return sum(1 for i in instrs if i.opcode.startswith(opcode_prefix))
