"""`tf.errors`: TF1's exception classes and error codes.

The classes live in `runtime/errors.py` (the runtime raises them and must not import the
compiler); this module is their TF1 namespace. flowc's own run-time errors derive from
them: `ExecutionError` (a fault reported by generated code) is an `InvalidArgumentError`,
`UninitializedVariableError` a `FailedPreconditionError`, the allocation failure a
`ResourceExhaustedError`.
"""

from runtime.errors import (  # noqa: F401  (re-exported as tf.errors.*)
    AbortedError,
    AlreadyExistsError,
    CancelledError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    OpError,
    OutOfRangeError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    UnknownError,
)
from runtime.errors import OpResourceExhaustedError as ResourceExhaustedError  # noqa: F401

OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16
