"""The toolchain around the generated code: the system C compiler that links shared
objects, and the compiler's own version fingerprint.

`find_c_compiler()` is the path of $CC (else `cc`) on PATH, or None; `c_compiler()` the
same, raising `ToolchainError` (a `CompileError`) when there is none. `link_shared(objects,
cc, so_path)` links position-independent object code into a shared object (used by
`fc.compile` and by the compile cache). `flowc_version()` is the installed version (or
"0.1.0+checkout"); `compiler_fingerprint()` is the version plus a fingerprint of the
sources of the three packages, which keys the compile cache. Nothing here generates code
or knows a program.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from .errors import CompileError

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("compiler", "passes", "runtime")


def find_c_compiler():
    """The path of the C compiler driver ($CC, else `cc`) on PATH, or None."""
    return shutil.which(os.environ.get("CC", "cc"))


def c_compiler() -> str:
    """`find_c_compiler()`, or a CompileError saying how to get one."""
    cc = os.environ.get("CC", "cc")
    found = find_c_compiler()
    if found is None:
        raise CompileError(f"fc.compile links the shared object with the system C compiler, "
                           f"and {cc!r} was not found on PATH: install one (e.g. gcc or clang) "
                           "or set CC to its path")
    return found


def link_shared(objects, cc, so_path):
    """Link object code (bytes, or a list of bytes) into the shared object `so_path` with
    `cc -shared` (libm, libpthread); the file appears atomically (built in a temp dir,
    then renamed). Raises CompileError when the link fails."""
    objects = [objects] if isinstance(objects, (bytes, bytearray)) else list(objects)
    directory = os.path.dirname(os.path.abspath(so_path))
    with tempfile.TemporaryDirectory(dir=directory, prefix=".flowc-") as tmp:
        paths = []
        for i, data in enumerate(objects):
            paths.append(os.path.join(tmp, f"model{i}.o"))
            with open(paths[-1], "wb") as f:
                f.write(data)
        out = os.path.join(tmp, os.path.basename(so_path))
        cmd = [cc, "-shared", "-o", out, *paths, f"-Wl,-soname,{os.path.basename(so_path)}",
               "-Wl,--as-needed", "-lm", "-lpthread"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CompileError(f"linking {so_path!r} failed ({' '.join(cmd)}):\n"
                               f"{proc.stderr.strip()}")
        os.replace(out, so_path)


def flowc_version() -> str:
    """The installed distribution's version, or "0.1.0+checkout" in a checkout."""
    try:
        from importlib.metadata import version
        return version("flowc")
    except Exception:  # noqa: BLE001  (not installed: running from a checkout)
        return "0.1.0+checkout"


@functools.lru_cache(maxsize=None)
def compiler_fingerprint() -> str:
    """The version from a checkout's pyproject.toml (fast), else the installed one
    (importlib.metadata scans every distribution: ~20 ms, too slow for a warm start),
    plus a fingerprint of the code generator's sources, so that editing the compiler in a
    checkout never reuses code an older compiler generated."""
    version = None
    try:
        with open(os.path.join(_ROOT, "pyproject.toml")) as f:
            found = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.MULTILINE)
        if found:
            version = found.group(1) + "+checkout"
    except OSError:
        pass
    if version is None:
        version = flowc_version()
    return version + "+" + sources_fingerprint(_ROOT)


def sources_fingerprint(root) -> str:
    """sha256 over (path, size, mtime) of every .py file of the three packages: a stat
    per file (about a millisecond), not a read."""
    h = hashlib.sha256()
    for pkg in PACKAGES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, pkg)):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]
