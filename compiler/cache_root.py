"""Where the compile cache lives and whether this process may trust it
(compiler/cache.py is the one user).

`cache_dir()`: $FLOWC_CACHE_DIR, else $XDG_CACHE_HOME/flowc, else ~/.cache/flowc;
`enabled()`: FLOWC_CACHE is not 0/off/false/no. `usable_root()` refuses (one warning per
process and folder) a cache folder, or its entries/, owned by another user or writable
by other users: a hit runs the code found there. `claim_root(root)` creates the folder
(mode 0700) with the cache's marker `CACHEDIR.TAG`, and will not adopt an entries/
folder flowc did not make; `sweep_temps(root)` removes the temp folders of killed
compiles (older than STALE_TEMP_S). Never reads an entry.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import time

log = logging.getLogger("flowc.cache")


def enabled() -> bool:
    """False when FLOWC_CACHE is 0/off/false/no."""
    return os.environ.get("FLOWC_CACHE", "1").strip().lower() not in ("0", "off", "false",
                                                                      "no")


def cache_dir() -> str:
    """$FLOWC_CACHE_DIR, else $XDG_CACHE_HOME/flowc, else ~/.cache/flowc."""
    root = os.environ.get("FLOWC_CACHE_DIR")
    if root:
        return os.path.abspath(root)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "flowc")


def entries_dir() -> str:
    return os.path.join(cache_dir(), "entries")


def kernels_dir() -> str:
    """The kernel library's folder (compiler/kernel_cache.py)."""
    return os.path.join(cache_dir(), "kernels")


#: the cache's own marker in its root (the Cache Directory Tagging format, so backup
#: tools skip it too): `clear` removes only a folder that carries it
MARKER = "CACHEDIR.TAG"
MARKER_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
               "# This file is a cache directory tag created by flowc (its compile cache).\n")
#: a temp folder older than this is a killed compile's (a live one is written in seconds)
STALE_TEMP_S = 15 * 60
_refused: set = set()  # roots already warned about (one warning per process)


def _unsafe(path) -> str:
    """Why the folder `path` must not be trusted ("" when it may): owned by another user,
    or writable by other users (a hit runs the code found there)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ""
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{path} is owned by uid {st.st_uid}, not by this user ({os.getuid()})"
    if st.st_mode & 0o022:
        return (f"{path} is writable by other users (mode {stat.filemode(st.st_mode)}); "
                f"chmod go-w it")
    return ""


def usable_root() -> bool:
    """False (one warning per process and folder) when the cache folder, its entries/ or
    its kernels/ may be written by another user: the cache is then off, as ssh refuses
    such keys."""
    root = cache_dir()
    why = (_unsafe(root) or _unsafe(os.path.join(root, "entries"))
           or _unsafe(os.path.join(root, "kernels")))
    if not why:
        return True
    if root not in _refused:
        _refused.add(root)
        log.warning("compile cache off: %s; a cached entry is code this process would run",
                    why)
    return False


def claim_root(root) -> bool:
    """Create the cache folder (mode 0700) with its marker; False when the folder is not
    safe, or holds an entries/ folder that flowc did not make (no marker, and names that
    are not entry keys)."""
    if not usable_root():
        return False
    entries = os.path.join(root, "entries")
    # the root itself 0700 too (makedirs gives only the leaf `mode`; a umask of 0 would
    # otherwise leave it world-writable, and then refused)
    os.makedirs(root, mode=0o700, exist_ok=True)
    if os.path.isfile(os.path.join(root, MARKER)):
        os.makedirs(entries, mode=0o700, exist_ok=True)
        return True
    if os.path.isdir(entries) and not all(_KEY.fullmatch(n) for n in os.listdir(entries)):
        if root not in _refused:
            _refused.add(root)
            log.warning("compile cache off: %s has an entries/ folder that flowc did not "
                        "make (no %s); choose another FLOWC_CACHE_DIR", root, MARKER)
        return False
    os.makedirs(entries, mode=0o700, exist_ok=True)
    with open(os.path.join(root, MARKER), "w") as f:
        f.write(MARKER_TEXT)
    return True


_KEY = re.compile(r"[0-9a-f]{64}")


def sweep_temps(root, age=STALE_TEMP_S) -> int:
    """Remove the temp folders of killed compiles (older than `age` seconds); returns
    how many."""
    now, count = time.time(), 0
    for name in os.listdir(root):
        path = os.path.join(root, name)
        try:
            old = name.startswith(".tmp-") and now - os.lstat(path).st_mtime > age
        except OSError:
            continue
        if old:
            shutil.rmtree(path, ignore_errors=True)
            count += 1
    return count


