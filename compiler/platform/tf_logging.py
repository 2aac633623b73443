"""`tf.logging`: TF1's logging functions on Python's `logging`, logger "tensorflow".

`DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL` are Python's levels; `set_verbosity(level)` /
`get_verbosity()` set and read the logger's level (WARN until set, as TF1);
`debug`, `info`, `warn`/`warning`, `error`, `fatal`, `log(level, msg, *args)` log
%-formatted messages; `log_every_n(level, msg, n, *args)` logs on the 1st, n+1th, ...
call from one line, `log_first_n(level, msg, n, *args)` the first n. The logger gets
one handler of its own, writing to the current `sys.stderr` (so messages show without
`logging.basicConfig`), and does not propagate to the root logger, as TF1's.
"""

from __future__ import annotations

import logging as _logging
import sys

__all__ = [
    "DEBUG", "ERROR", "FATAL", "INFO", "WARN", "debug", "error", "fatal", "get_logger",
    "get_verbosity", "info", "log", "log_every_n", "log_first_n", "set_verbosity", "warn",
    "warning",
]

DEBUG, INFO, WARN, ERROR, FATAL = (_logging.DEBUG, _logging.INFO, _logging.WARN,
                                   _logging.ERROR, _logging.FATAL)



class _StderrHandler(_logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the call (redirections and
    captures made after import are honoured)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


_logger = _logging.getLogger("tensorflow")
if not _logger.handlers:
    _handler = _StderrHandler()
    _handler.setFormatter(_logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    _logger.addHandler(_handler)
_logger.propagate = False
if _logger.level == _logging.NOTSET:
    _logger.setLevel(WARN)

_counts: dict = {}


def get_logger():
    return _logger


def set_verbosity(v):
    _logger.setLevel(v)


def get_verbosity():
    return _logger.getEffectiveLevel()


def log(level, msg, *args, **kwargs):
    _logger.log(level, msg, *args, **kwargs)


def debug(msg, *args, **kwargs):
    _logger.debug(msg, *args, **kwargs)


def info(msg, *args, **kwargs):
    _logger.info(msg, *args, **kwargs)


def warning(msg, *args, **kwargs):
    _logger.warning(msg, *args, **kwargs)


warn = warning


def error(msg, *args, **kwargs):
    _logger.error(msg, *args, **kwargs)


def fatal(msg, *args, **kwargs):
    _logger.fatal(msg, *args, **kwargs)


def _caller_key():
    frame = sys._getframe(2)
    return frame.f_code.co_filename, frame.f_lineno


def log_every_n(level, msg, n, *args):
    """Log on the first call from a source line and every `n`th after it."""
    key = _caller_key()
    count = _counts.get(key, 0)
    _counts[key] = count + 1
    if count % max(int(n), 1) == 0:
        _logger.log(level, msg, *args)


def log_first_n(level, msg, n, *args):
    """Log only the first `n` calls from a source line."""
    key = _caller_key()
    count = _counts.get(key, 0)
    _counts[key] = count + 1
    if count < n:
        _logger.log(level, msg, *args)
