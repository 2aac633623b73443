"""Exceptions raised when running a program (shared by the runtime and the interpreter,
so both raise the same error for the same fault)."""


class FeedError(ValueError):
    """A fed value does not match what the program was compiled for."""


class UninitializedVariableError(RuntimeError):
    """A run reads a variable that has no value yet (TF1's FailedPreconditionError)."""


class ExecutionError(RuntimeError):
    """Generated code reported a fault (e.g. an out-of-range gather index)."""


class ForkError(RuntimeError):
    """In a forked child: an object was in use by another thread of the parent at the
    fork, so its state here may be half-updated (runtime/forksafe.py)."""
