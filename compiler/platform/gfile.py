"""`tf.gfile`: TF1's file API on the local filesystem (no remote filesystems).

`Exists`, `IsDirectory`, `MakeDirs` (parents too; an existing directory is fine),
`MkDir` (FileExistsError when it exists), `ListDirectory` (entry names, unsorted like
TF1), `Glob` (a pattern or a list of patterns), `Remove`, `Rename(old, new,
overwrite=False)` and `Copy(old, new, overwrite=False)` (FileExistsError when `new`
exists and overwrite is False), `DeleteRecursively`, `Stat` (`.length`, `.mtime_nsec`,
`.is_directory`), `Walk`, and `GFile(name, mode="r")` (= `Open`, `FastGFile`), a Python
file object: text in "r"/"w", bytes in "rb"/"wb". Missing paths raise FileNotFoundError
naming the path (TF1 raises its NotFoundError); nothing is deleted or overwritten
before every check has passed.
"""

from __future__ import annotations

import glob as _glob
import os
import shutil
from dataclasses import dataclass

__all__ = [
    "Copy", "DeleteRecursively", "Exists", "FastGFile", "GFile", "Glob", "IsDirectory",
    "ListDirectory", "MakeDirs", "MkDir", "Open", "Remove", "Rename", "Stat", "Walk",
]


def _path(name):
    return os.fspath(name.decode() if isinstance(name, bytes) else name)


def _must_exist(path, what):
    if not os.path.lexists(path):
        raise FileNotFoundError(f"gfile.{what}: {path!r} does not exist")


def _must_be_free(path, overwrite, what):
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"gfile.{what}: {path!r} exists (pass overwrite=True)")


def GFile(name, mode="r"):  # noqa: N802  (TF1 name)
    """`name` opened in `mode`; FileNotFoundError naming it when reading a missing file."""
    path = _path(name)
    if "r" in mode:
        _must_exist(path, "GFile")
    return open(path, mode)  # noqa: SIM115  (the caller owns the file, as with TF1's)


Open = FastGFile = GFile


def Exists(filename):  # noqa: N802
    return os.path.exists(_path(filename))


def IsDirectory(dirname):  # noqa: N802
    return os.path.isdir(_path(dirname))


def MakeDirs(dirname):  # noqa: N802
    os.makedirs(_path(dirname), exist_ok=True)


def MkDir(dirname):  # noqa: N802
    path = _path(dirname)
    if os.path.lexists(path):
        raise FileExistsError(f"gfile.MkDir: {path!r} exists")
    os.mkdir(path)


def ListDirectory(dirname):  # noqa: N802
    path = _path(dirname)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"gfile.ListDirectory: {path!r} is not a directory")
    return os.listdir(path)


def Glob(filename):  # noqa: N802
    patterns = [filename] if isinstance(filename, (str, bytes, os.PathLike)) else filename
    out = []
    for p in patterns:
        out.extend(_glob.glob(_path(p)))
    return out


def Remove(filename):  # noqa: N802
    path = _path(filename)
    _must_exist(path, "Remove")
    os.remove(path)


def Rename(oldname, newname, overwrite=False):  # noqa: N802
    old, new = _path(oldname), _path(newname)
    _must_exist(old, "Rename")
    _must_be_free(new, overwrite, "Rename")
    os.replace(old, new)


def Copy(oldpath, newpath, overwrite=False):  # noqa: N802
    old, new = _path(oldpath), _path(newpath)
    _must_exist(old, "Copy")
    _must_be_free(new, overwrite, "Copy")
    shutil.copyfile(old, new)


def DeleteRecursively(dirname):  # noqa: N802
    path = _path(dirname)
    _must_exist(path, "DeleteRecursively")
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


@dataclass(frozen=True)
class FileStatistics:
    length: int
    mtime_nsec: int
    is_directory: bool


def Stat(filename):  # noqa: N802
    path = _path(filename)
    _must_exist(path, "Stat")
    st = os.stat(path)
    return FileStatistics(st.st_size, st.st_mtime_ns, os.path.isdir(path))


def Walk(top, in_order=True):  # noqa: N802
    """(dirname, subdirectory names, file names) for `top` and below (`os.walk`)."""
    yield from os.walk(_path(top), topdown=in_order)
