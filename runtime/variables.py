"""Variable storage of one worker: name -> numpy array (C-contiguous, owned), and the lock
that makes concurrent runs against it safe.

A run reads the arrays and, after it succeeds, `commit`s the new values of the
variables it assigned, so a failing run leaves every variable as it was.

Concurrent runs (threads sharing a Session): `access(exe)` is the context a run takes,
from the executable's `variable_access` (`access_of`):
    None             reads no variable: nothing to take
    READ             shares the store with other readers; sees every variable as it was
                     before a concurrent writer's commit or after it, never a mix
    WRITE            writers exclude each other for the whole read-compute-commit, so no
                     update is lost; readers run on during the computation, and the
                     commit waits for the readers in flight and holds new ones off while
                     it installs the new arrays
    WRITE_IN_PLACE   a writer whose assigns overwrite variables' arrays in place also
                     excludes readers for its whole run (they would see a torn array)
A host `set` or a `commit` made outside a run is a writer of its own. See "The Session"
in docs/architecture.md.

GPU programs keep variables on the device: `get_device` returns a variable's device
value (uploading the host value once), `commit_device` installs new device values. A
variable's host value is copied back only when the host asks for it (`get`, `snapshot`);
a host `set` or `commit` makes the device copy stale (it is dropped).
"""

from __future__ import annotations

import threading
import time
from threading import get_ident

import numpy as np

from . import forksafe
from .errors import ForkError, UninitializedVariableError

READ, WRITE, WRITE_IN_PLACE = "read", "write", "write_in_place"


def access_of(buffers, updates: dict):
    """The `variable_access` of an executable with these `BufferSpec`s and updates
    (variable name -> buffer index): None, READ, WRITE or WRITE_IN_PLACE."""
    if any(buffers[i].kind == "variable" for i in updates.values()):
        return WRITE_IN_PLACE
    if updates:
        return WRITE
    return READ if any(b.kind == "variable" for b in buffers) else None


class StateLock:
    """Readers share, writers take turns, in-place writers and commits exclude readers
    (the module docstring). `reading`, `writing` and `writing_in_place` are context
    managers made once; `exclusive()` is the section of a commit or a host `set`."""

    def __init__(self):
        self._mutex = threading.Lock()      # guards the counts below; held briefly
        self._changed = threading.Condition(self._mutex)
        self._writer = threading.Lock()     # held by one writer for its whole run
        self._writer_thread = None
        self._readers = 0
        self._exclusive = 0                 # nesting depth of exclusive sections
        self._mutating = False              # an exclusive section is changing arrays
        self._forking = False               # a fork waits for the change in flight
        self._broken = None                 # set in a forked child: ForkError's text
        self.reading = _Reading(self)
        self.writing = _Writing(self, in_place=False)
        self.writing_in_place = _Writing(self, in_place=True)
        self._nested = _Section(self, own_write=False)
        self._own = _Section(self, own_write=True)
        forksafe.register(self)

    def check(self):
        if self._broken is not None:
            raise ForkError(self._broken)

    # ---- writers -------------------------------------------------------------------
    def write_begin(self, in_place: bool):
        self.check()
        self._writer.acquire()
        self._writer_thread = get_ident()
        if in_place:
            self.exclusive_begin()

    def write_end(self, in_place: bool):
        if in_place:
            self.exclusive_end()
        self._writer_thread = None
        self._writer.release()

    def exclusive_begin(self):
        """Wait for the readers in flight; hold new ones off. Only the writer calls it."""
        with self._mutex:
            while self._forking and not self._exclusive:  # a fork goes first (a section
                self._changed.wait()                       # nested in one in flight: not)
            self._exclusive += 1
            while self._readers:
                self._changed.wait()
            self._mutating = True

    def exclusive_end(self):
        with self._mutex:
            self._exclusive -= 1
            if not self._exclusive:
                self._mutating = False
                self._changed.notify_all()

    def exclusive(self):
        """The context of one change (a commit, a host `set`): a section of the current
        writer's run, or a write of its own when this thread is not the writer."""
        return self._nested if self._writer_thread == get_ident() else self._own

    def in_exclusive(self) -> bool:
        """True in this thread's own exclusive section (readers drained)."""
        return self._mutating and self._writer_thread == get_ident()

    # ---- fork (runtime/forksafe.py) ------------------------------------------------
    _held = False

    def _fork_prepare(self, deadline):
        """Wait until no change is in flight (new ones wait for the fork), then hold
        the counts' mutex until the fork is done."""
        self._held = self._mutex.acquire(timeout=max(0.0, deadline - time.monotonic()))
        if not self._held:
            return
        self._forking = True
        while self._mutating:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._changed.wait(left)

    def _fork_parent(self):
        if self._held:
            self._held = self._forking = False
            self._changed.notify_all()
            self._mutex.release()

    def _fork_child(self):
        """Fresh locks; the store is unusable here if a change was in flight (the
        thread making it does not exist in this process)."""
        if self._mutating:
            self._broken = forksafe.broken_message("this Session's variables")
        self._mutex = threading.Lock()
        self._changed = threading.Condition(self._mutex)
        self._writer = threading.Lock()
        self._writer_thread = None
        self._readers = self._exclusive = 0
        self._mutating = self._held = self._forking = False


class _Reading:
    """A reader's side of a StateLock (inlined: it is on every reading run's path)."""
    __slots__ = ("_lock",)

    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        lock = self._lock
        if lock._broken is not None:
            raise ForkError(lock._broken)
        with lock._mutex:
            while lock._exclusive:
                lock._changed.wait()
            lock._readers += 1

    def __exit__(self, *exc):
        lock = self._lock
        with lock._mutex:
            lock._readers -= 1
            if not lock._readers and lock._exclusive:
                lock._changed.notify_all()


class _Writing:
    __slots__ = ("_lock", "_in_place")

    def __init__(self, lock, in_place):
        self._lock, self._in_place = lock, in_place

    def __enter__(self):
        self._lock.write_begin(self._in_place)

    def __exit__(self, *exc):
        self._lock.write_end(self._in_place)


class _Section:
    __slots__ = ("_lock", "_own")

    def __init__(self, lock, own_write):
        self._lock, self._own = lock, own_write

    def __enter__(self):
        if self._own:
            self._lock.write_begin(in_place=False)
        self._lock.exclusive_begin()

    def __exit__(self, *exc):
        self._lock.exclusive_end()
        if self._own:
            self._lock.write_end(in_place=False)


class _Nothing:
    __slots__ = ()

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


_NOTHING = _Nothing()


class VariableStore:
    def __init__(self):
        self._values: dict[str, np.ndarray] = {}
        self._specs: dict[str, tuple] = {}  # name -> (numpy dtype, shape)
        self._device: dict = {}  # name -> device value (has .numpy()), when current
        self.lock = StateLock()
        self._contexts = {None: _NOTHING, READ: self.lock.reading,
                          WRITE: self.lock.writing,
                          WRITE_IN_PLACE: self.lock.writing_in_place}

    def access(self, exe):
        """The context one run of `exe` takes (the module docstring)."""
        return self._contexts[exe.variable_access]

    def declare(self, name: str, dtype, shape):
        self._specs[name] = (np.dtype(dtype), tuple(shape))

    def __contains__(self, name):
        return name in self._values or name in self._device

    def names(self):
        return list(dict.fromkeys(list(self._values) + list(self._device)))

    def get(self, name: str, describe: str = "") -> np.ndarray:
        """The variable's array (the store's own: callers outside a run hold `reading`
        while they use it, or copy it under `reading`)."""
        if name not in self._values and name in self._device:
            self._values[name] = self._device[name].numpy()
        try:
            return self._values[name]
        except KeyError:
            where = f" ({describe})" if describe else ""
            raise UninitializedVariableError(
                f"attempting to use uninitialized variable {name!r}{where}; run "
                "fc.global_variables_initializer() (or the variable's initializer) "
                "first") from None

    def set(self, name: str, value):
        spec = self._specs.get(name)
        arr = np.asarray(value)
        if spec is not None:
            dtype, shape = spec
            if arr.dtype != dtype or arr.shape != shape:
                try:
                    arr = np.asarray(value, dtype=dtype)
                except (TypeError, ValueError):
                    arr = None
                if arr is None or arr.shape != shape:
                    raise ValueError(f"variable {name!r} is {dtype}{list(shape)}; cannot "
                                     f"set it to a value of shape {np.shape(value)}")
        arr = np.array(arr, order="C", copy=True)
        with self.lock.exclusive():
            self._install({name: arr})

    def commit(self, updates: dict):
        """Install new values produced by a run (arrays the run owns; not copied), all
        in one exclusive section: a reader, or a child forked meanwhile, sees all of
        them or none."""
        if not updates:
            return
        if self.lock.in_exclusive():  # an in-place writer's run: readers are out already
            self._install(updates)
            return
        with self.lock.exclusive():
            self._install(updates)

    def _install(self, updates):
        for name, arr in updates.items():
            self._values[name] = arr
            self._device.pop(name, None)

    def get_device(self, name: str, upload, describe: str = ""):
        """The variable's device value; `upload(host array)` makes it when the device
        has no current copy."""
        value = self._device.get(name)
        if value is None:
            value = self._device[name] = upload(self.get(name, describe))
        return value

    def commit_device(self, updates: dict):
        """Install new device values produced by a GPU run (owned by the store now)."""
        if not updates:
            return
        with self.lock.exclusive():
            for name, value in updates.items():
                self._device[name] = value
                self._values.pop(name, None)

    def snapshot(self) -> dict:
        """Copies of every variable's value, all from one moment (between commits)."""
        with self.lock.reading:
            return {name: np.array(self.get(name)) for name in self.names()}
