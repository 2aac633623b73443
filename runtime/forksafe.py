"""Locks and state that survive `os.fork()`.

A forked child has one thread: the one that called fork. A lock another thread held at
that moment stays held forever in the child (the next `acquire` hangs), and data that
thread was changing stays half-changed. This module owns the runtime's one set of
`os.register_at_fork` hooks:

    lock()          a `threading.Lock` that a forked child gets released. For locks that
                    guard nothing that outlives a call (a compile lock, an executable's
                    scratch tables): the child simply starts over.
    register(obj)   `obj` guards state that a fork must not copy half-changed (a
                    variable store during an in-place update, a model instance during a
                    call). It has `_fork_prepare(deadline)`, called in the parent before
                    the fork: wait (until `deadline`, a `time.monotonic()` value) for the
                    change in flight to finish and hold off new ones across the fork;
                    `_fork_parent()` lets them go again; `_fork_child()` (called for
                    every registered object, prepared or made during the wait)
                    re-creates the locks and, where a change was still in flight, marks
                    the state unusable (its next use raises `ForkError`). Held weakly.
    register_last(obj)   the same for a process-wide foreign lock (llvmlite's), held
                    strongly and prepared after every `register`ed object, so a thread
                    that owns one of ours never waits for it while we wait for ours.
    gate()          called by a thread before it takes a lock that a fork waits for:
                    while a fork is being prepared it waits for the fork to be done, so
                    a thread that calls in a loop cannot keep the fork waiting (a plain
                    lock is not fair: the releasing thread takes it again first).

The wait is bounded (`FORK_WAIT_S` in all): a fork is delayed at most that long, never
hangs, and a child that could not get a clean copy gets a clear error instead of a hang.
`os.fork()` and `multiprocessing`'s fork start method run the hooks; a fork made behind
Python's back (C code calling fork()) does not. This module never imports the compiler.
"""

from __future__ import annotations

import os
import threading
import time
import weakref

from .errors import ForkError

#: seconds a fork waits, in all, for in-place updates and model calls in flight
FORK_WAIT_S = 10.0

_locks: "weakref.WeakSet" = weakref.WeakSet()
_objects: "weakref.WeakSet" = weakref.WeakSet()
_last: list = []
_prepared: list = []  # the objects prepared for the fork in progress, in order
pending = False       # a fork is being prepared (read on hot paths: a plain global)
_done = threading.Event()
_done.set()


def lock() -> threading.Lock:
    """A new lock that is released in a forked child (see the module docstring)."""
    new = threading.Lock()
    _locks.add(new)
    return new


def register(obj) -> None:
    _objects.add(obj)


def register_last(obj) -> None:
    _last.append(obj)


def gate() -> None:
    """Let a fork being prepared go first (see the module docstring)."""
    if pending:
        _done.wait(FORK_WAIT_S)


class LockHeldAcrossFork:
    """For `register`ed objects guarded by one lock, `self._lock` (None: nothing to
    hold): `_fork_prepare` waits for it until the deadline and holds it across the fork,
    `_fork_parent` lets it go; `_held` says, in the child, whether the wait succeeded.
    Each object writes its own `_fork_child`."""

    _held = False

    def _fork_prepare(self, deadline):
        if self._lock is not None:
            self._held = self._lock.acquire(timeout=max(0.0, deadline - time.monotonic()))

    def _fork_parent(self):
        if self._held:
            self._held = False
            self._lock.release()


def broken_message(what: str) -> str:
    """The text of the `ForkError` for `what` (e.g. "model 'm'") in a forked child."""
    return (f"{what} was in use by another thread when this process forked (the wait "
            f"for it ended after {FORK_WAIT_S:g} s), so its state in this child process "
            "may be half-updated; use it in the parent, or load or build it again here")


def _before_fork():
    global pending
    deadline = time.monotonic() + FORK_WAIT_S
    _done.clear()
    pending = True
    _prepared[:] = list(_objects) + _last
    for obj in _prepared:
        obj._fork_prepare(deadline)


def _after_fork_parent():
    global pending
    for obj in reversed(_prepared):
        obj._fork_parent()
    _prepared.clear()
    pending = False
    _done.set()


def _after_fork_child():
    global pending, _done
    pending = False
    _done = threading.Event()
    _done.set()
    for held in list(_locks):
        held._at_fork_reinit()
    # objects made while the parent waited were not prepared: they judge their own state
    for obj in dict.fromkeys(_prepared + list(_objects)):
        obj._fork_child()
    _prepared.clear()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_parent,
                    after_in_child=_after_fork_child)

__all__ = ["FORK_WAIT_S", "ForkError", "broken_message", "gate", "lock", "register",
           "register_last"]
