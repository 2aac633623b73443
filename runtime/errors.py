"""Exceptions raised when running a program (shared by the runtime and the interpreter,
so both raise the same error for the same fault)."""

import math


class FeedError(ValueError):
    """A fed value does not match what the program was compiled for."""


class UninitializedVariableError(RuntimeError):
    """A run reads a variable that has no value yet (TF1's FailedPreconditionError)."""


class ExecutionError(RuntimeError):
    """Generated code reported a fault (e.g. an out-of-range gather index)."""


class ResourceExhaustedError(FeedError, MemoryError):
    """A buffer of a run, sized from the fed shapes, cannot be allocated (TF1's
    ResourceExhaustedError). Both a FeedError (the feeds' dims are the cause) and a
    MemoryError (what numpy would have raised)."""


def resource_exhausted(what: str, shape, dtype, signature=None, feeds=(),
                       dims=None) -> ResourceExhaustedError:
    """The error for a failed allocation of `what` (`dtype`, `shape`). It names the feeds
    whose symbolic dims occur in `dims` (the buffer's shape in the signature's JSON dim
    form), or every feed when none does (static shapes) or `dims` is not given, with
    their shapes."""
    nbytes = math.prod(shape) * getattr(dtype, "itemsize", 1)
    used = _symbols(dims) if dims is not None else None
    pairs = list(zip(getattr(signature, "inputs", ()), feeds))
    named = [(spec, arr) for spec, arr in pairs if used is None or _symbols(spec.shape) & used]
    fed = [f"{spec.name!r} {list(getattr(arr, 'shape', ()))}" for spec, arr in named or pairs]
    cause = f"the fed shapes of {', '.join(fed)}" if fed else "the fed shapes"
    return ResourceExhaustedError(
        f"cannot allocate {nbytes} bytes ({nbytes / 2**30:.1f} GiB) for {what} "
        f"{getattr(dtype, 'name', dtype)}{list(shape)}, whose size comes from {cause}; "
        "feed smaller values")


def _symbols(dims) -> set:
    """The symbol names in a list of dims in the signature's JSON form."""
    out, stack = set(), list(dims or ())
    while stack:
        d = stack.pop()
        if isinstance(d, str):
            out.add(d)
        elif isinstance(d, (list, tuple)):
            stack.extend(d[1:])
    return out
class ForkError(RuntimeError):
    """In a forked child: an object was in use by another thread of the parent at the
    fork, so its state here may be half-updated (runtime/forksafe.py)."""
