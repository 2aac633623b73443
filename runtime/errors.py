"""Exceptions raised when running a program (shared by the runtime and the interpreter,
so both raise the same error for the same fault)."""

import math


class OpError(Exception):
    """TF1's `tf.errors.OpError`: the base of the errors a run raises, with TF1's
    `(node_def, op, message)` constructor, `.message`, `.op`, `.node_def` and `.error_code`.
    flowc's own run-time errors also accept a single message (and derive from the matching
    class below, so `except tf.errors.InvalidArgumentError` catches them)."""

    error_code = 2  # UNKNOWN

    def __init__(self, *args):
        if len(args) >= 3:
            node_def, op, message = args[:3]
        else:
            node_def, op, message = None, None, (args[0] if args else "")
        super().__init__(message)
        self.node_def, self.op, self.message = node_def, op, message

    def __reduce__(self):
        return (type(self), (self.message,))


def _op_error(name: str, code: int, doc: str, base=OpError):
    return type(name, (base,), {"error_code": code, "__doc__": doc, "__module__": __name__})


#: TF1's error classes (tensorflow/core/lib/core/error_codes.proto), by code
CancelledError = _op_error("CancelledError", 1, "An operation was cancelled.")
UnknownError = _op_error("UnknownError", 2, "An unknown error.")
InvalidArgumentError = _op_error("InvalidArgumentError", 3,
                                 "An operation received an invalid argument.")
DeadlineExceededError = _op_error("DeadlineExceededError", 4, "A deadline expired.")
NotFoundError = _op_error("NotFoundError", 5, "A requested entity was not found.")
AlreadyExistsError = _op_error("AlreadyExistsError", 6, "An entity already exists.")
PermissionDeniedError = _op_error("PermissionDeniedError", 7, "Permission denied.")
OpResourceExhaustedError = _op_error("ResourceExhaustedError", 8,
                                     "A resource (memory, ...) ran out.")
FailedPreconditionError = _op_error("FailedPreconditionError", 9,
                                    "The system is not in a state to run the operation "
                                    "(e.g. an uninitialized variable is read).")
AbortedError = _op_error("AbortedError", 10, "An operation was aborted.")
OutOfRangeError = _op_error("OutOfRangeError", 11,
                            "An operation iterated past the valid range (the end of "
                            "an input pipeline).")
UnimplementedError = _op_error("UnimplementedError", 12, "An operation is not implemented.")
InternalError = _op_error("InternalError", 13, "An internal invariant was broken.")
UnavailableError = _op_error("UnavailableError", 14, "A service is unavailable.")
DataLossError = _op_error("DataLossError", 15, "Unrecoverable data loss or corruption.")
UnauthenticatedError = _op_error("UnauthenticatedError", 16,
                                 "The request lacks valid authentication.")


class FeedError(ValueError):
    """A fed value does not match what the program was compiled for."""


class UninitializedVariableError(FailedPreconditionError, RuntimeError):
    """A run reads a variable that has no value yet (TF1's FailedPreconditionError)."""


class ExecutionError(InvalidArgumentError, RuntimeError):
    """Generated code reported a fault (e.g. an out-of-range gather index)."""


class ResourceExhaustedError(FeedError, OpResourceExhaustedError, MemoryError):
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
