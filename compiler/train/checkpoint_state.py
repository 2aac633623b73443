"""The `checkpoint` state file of a checkpoint folder, TF1's CheckpointState in protobuf
text format:

    model_checkpoint_path: "/abs/dir/model-300"
    all_model_checkpoint_paths: "/abs/dir/model-200"
    all_model_checkpoint_paths: "/abs/dir/model-300"

`update_checkpoint_state` writes it (through a temporary file, files.py),
`get_checkpoint_state` reads and checks it, `latest_checkpoint` and `checkpoint_exists`
answer from it. Paths are written absolute, or relative to the folder with
`save_relative_paths`; a relative path read back is taken relative to the folder (TF1).
Fields TF1 writes that flowc does not use (the timestamps) are accepted and ignored; a
file that is not this text format raises `CheckpointError` naming the file.
"""

from __future__ import annotations

import glob
import os
import re
import stat

from . import bundle
from .checkpoint import CheckpointError
from .files import atomic_write

STATE_FILENAME = "checkpoint"
MAX_STATE_BYTES = 1 << 24

__all__ = ["CheckpointState", "checkpoint_exists", "get_checkpoint_mtimes",
           "get_checkpoint_state", "latest_checkpoint", "remove_checkpoint",
           "update_checkpoint_state"]


class CheckpointState:
    """TF1's CheckpointState: `model_checkpoint_path` (the newest) and
    `all_model_checkpoint_paths` (oldest first, the newest last)."""

    def __init__(self, model_checkpoint_path="", all_model_checkpoint_paths=()):
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = list(all_model_checkpoint_paths)

    def __repr__(self):
        return (f"CheckpointState(model_checkpoint_path={self.model_checkpoint_path!r}, "
                f"all_model_checkpoint_paths={self.all_model_checkpoint_paths!r})")

    def __bool__(self):
        return bool(self.model_checkpoint_path)


# ---- text format ------------------------------------------------------------------------------
def _quote(s: str) -> str:
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= ch < 127:
            out.append(c)
        else:
            out.append(f"\\{ch:03o}")
    return '"' + "".join(out) + '"'


_ESCAPES = {"n": 10, "t": 9, "r": 13, '"': 34, "'": 39, "\\": 92, "a": 7, "b": 8, "f": 12,
            "v": 11, "?": 63}
_LINE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$')


def _unquote(text: str) -> str:
    if len(text) < 2 or text[0] != text[-1] or text[0] not in "\"'":
        raise ValueError(f"expected a quoted string, got {text!r}")
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("a string ends in a backslash")
        e = body[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(), 8) & 0xFF)
            i += 1 + len(m.group())
        elif e == "x" and re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2:]):
            m = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2:])
            out.append(int(m.group(), 16))
            i += 2 + len(m.group())
        else:
            raise ValueError(f"unknown escape \\{e}")
    return out.decode("utf-8")


def _parse(text: str) -> CheckpointState:
    state = CheckpointState()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"line {n}: not `field: value`: {line!r}")
        name, value = m.groups()
        if name == "model_checkpoint_path":
            state.model_checkpoint_path = _unquote(value)
        elif name == "all_model_checkpoint_paths":
            state.all_model_checkpoint_paths.append(_unquote(value))
        elif name in ("all_model_checkpoint_timestamps", "last_preserved_timestamp"):
            float(value)
        else:
            raise ValueError(f"line {n}: unknown field {name!r}")
    return state


# ---- the state file ---------------------------------------------------------------------------
def _state_path(checkpoint_dir, latest_filename) -> str:
    return os.path.join(os.fspath(checkpoint_dir), latest_filename or STATE_FILENAME)


def update_checkpoint_state(save_dir, model_checkpoint_path,
                            all_model_checkpoint_paths=None, latest_filename=None,
                            save_relative_paths=False):
    """Write the state file of `save_dir` (the newest checkpoint last in the list)."""
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths = [p for p in paths if p != model_checkpoint_path] + [model_checkpoint_path]
    folder = os.path.abspath(os.fspath(save_dir))

    def spell(p):
        p = os.path.abspath(os.fspath(p))
        return os.path.relpath(p, folder) if save_relative_paths else p

    text = f"model_checkpoint_path: {_quote(spell(model_checkpoint_path))}\n"
    text += "".join(f"all_model_checkpoint_paths: {_quote(spell(p))}\n" for p in paths)
    atomic_write(_state_path(save_dir, latest_filename),
                 lambda fh: fh.write(text.encode("utf-8")), sweep_first=False)


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The folder's CheckpointState (relative paths made relative to the folder), or None
    when it has no state file."""
    path = _state_path(checkpoint_dir, latest_filename)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_STATE_BYTES:
        raise CheckpointError(f"the checkpoint state file {path!r} is not a regular file of "
                              "at most 16 MiB")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_STATE_BYTES + 1)
    try:
        state = _parse(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"the checkpoint state file {path!r} is damaged: {e}") from None
    if not state.model_checkpoint_path:
        raise CheckpointError(f"the checkpoint state file {path!r} has no "
                              "model_checkpoint_path")
    folder = os.fspath(checkpoint_dir)

    def absolute(p):
        return p if os.path.isabs(p) else os.path.join(folder, p)

    state.model_checkpoint_path = absolute(state.model_checkpoint_path)
    state.all_model_checkpoint_paths = [absolute(p) for p in state.all_model_checkpoint_paths]
    return state


def checkpoint_exists(checkpoint_prefix) -> bool:
    """Whether a checkpoint is there: a V2 `PREFIX.index`, or an `.npz` file (`PREFIX`
    itself or `PREFIX.npz`)."""
    prefix = os.fspath(checkpoint_prefix)
    if bundle.exists(prefix):
        return True
    for path in (prefix, prefix + ".npz"):
        if path.endswith(".npz") and _regular(path):
            return True
    return False


def _files_of(prefix) -> list:
    """The data files of the checkpoint `prefix` (V2 or .npz) that exist."""
    if bundle.exists(prefix):
        return [bundle.index_path(prefix), bundle.data_path(prefix)]
    return [p for p in (prefix, prefix + ".npz") if p.endswith(".npz") and _regular(p)]


def get_checkpoint_mtimes(checkpoint_prefixes) -> list:
    """The modification times of the checkpoints that exist (V2: of the .index), in
    order; missing ones are skipped (TF1)."""
    return [os.stat(files[0]).st_mtime
            for files in (_files_of(os.fspath(p)) for p in checkpoint_prefixes) if files]


def remove_checkpoint(checkpoint_prefix, checkpoint_format_version=2,
                      meta_graph_suffix="meta"):
    """Delete the checkpoint's files (V2: .index and .data; or the .npz) and its meta
    graph; missing files are ignored."""
    prefix = os.fspath(checkpoint_prefix)
    stem = prefix[:-4] if prefix.endswith(".npz") else prefix
    names = [bundle.index_path(stem), bundle.data_path(stem), f"{stem}.{meta_graph_suffix}"]
    if prefix.endswith(".npz"):
        names.append(prefix)
    for name in names:
        try:
            os.unlink(name)
        except OSError:
            pass


def _regular(path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The newest checkpoint of the folder: the state file's model_checkpoint_path when
    that checkpoint exists (else None). A folder without a state file (`.npz` files
    written by hand or by an old flowc) gives its newest `*.npz` regular file by
    modification time, or None."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is not None:
        path = state.model_checkpoint_path
        return path if checkpoint_exists(path) else None
    newest, newest_time = None, None
    for path in glob.glob(os.path.join(glob.escape(os.fspath(checkpoint_dir)), "*.npz")):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and (newest_time is None or st.st_mtime > newest_time):
            newest, newest_time = path, st.st_mtime
    return newest
