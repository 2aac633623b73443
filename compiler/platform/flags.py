"""`tf.flags` / `tf.app.flags`: TF1's command-line flags (absl's API, without absl).

    flags = tf.app.flags
    flags.DEFINE_integer("batch_size", 128, "examples per step")
    FLAGS = flags.FLAGS
    ... FLAGS.batch_size ...      # parses sys.argv on this first access

Contract:

- `DEFINE_string/integer/float/boolean(=DEFINE_bool)(name, default, help)` add a flag to
  `FLAGS` (a `FlagValues`); defining a name twice is a `DuplicateFlagError`.
- Parsing takes `--name=value`, `--name value`, a single dash alike, and for booleans
  `--name`, `--noname`, `--name=true|false|1|0|yes|no`; `--` ends the flags. Flags that are
  not defined are left in the returned argv (TF1's `tf.app.run` tolerates them the same
  way), as are positional arguments; `argv[0]` is the program and is kept.
- `FLAGS(argv)` parses and returns the remaining argv. The first attribute read of a flag
  on an unparsed `FLAGS` parses `sys.argv` (TF1's wrapper does the same), so scripts that
  never call `tf.app.run` still see their command line.
- A value that does not convert is an `IllegalFlagValueError` (a ValueError) naming the
  flag and the value; reading an undefined flag is an AttributeError naming it.
- `FLAGS.name = value` sets a flag (converted like a command-line value when a string).
- `DEFINE_integer`/`DEFINE_float` take `lower_bound`/`upper_bound` (inclusive); a value
  outside them, default included, is an `IllegalFlagValueError`.
"""

from __future__ import annotations

import sys

__all__ = [
    "DEFINE_bool", "DEFINE_boolean", "DEFINE_float", "DEFINE_integer", "DEFINE_string",
    "DuplicateFlagError", "Error", "FLAGS", "Flag", "FlagValues", "IllegalFlagValueError",
    "UnrecognizedFlagError",
]


class Error(Exception):
    """Base class of the flag errors."""


class DuplicateFlagError(Error):
    """A flag name defined twice."""


class IllegalFlagValueError(Error, ValueError):
    """A flag value that does not convert to the flag's type."""


class UnrecognizedFlagError(Error, AttributeError):
    """A flag read or set that was never defined."""


_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


def _to_bool(text):
    if isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false/1/0/yes/no)")


_PARSERS = {"string": str, "integer": int, "float": float, "bool": _to_bool}


class Flag:
    """One flag: name, kind ("string", "integer", "float", "bool"), default, help, value."""

    def __init__(self, name, kind, default, help_text, lower=None, upper=None):
        self.name, self.kind, self.help = name, kind, help_text
        self.lower, self.upper = lower, upper
        self.default = None if default is None else self.convert(default)
        self.value = self.default
        self.present = False

    def convert(self, raw):
        value = self._parse(raw)
        if value is not None and ((self.lower is not None and value < self.lower)
                                  or (self.upper is not None and value > self.upper)):
            raise IllegalFlagValueError(f"flag --{self.name}={raw}: outside the bounds "
                                        f"[{self.lower}, {self.upper}]")
        return value

    def _parse(self, raw):
        if self.kind != "string" and not isinstance(raw, str):
            if self.kind == "bool" and not isinstance(raw, bool) and raw not in (0, 1):
                raise IllegalFlagValueError(f"flag --{self.name}: {raw!r} is not a boolean")
            return _PARSERS[self.kind](raw)
        try:
            return _PARSERS[self.kind](raw)
        except ValueError as e:
            raise IllegalFlagValueError(
                f"flag --{self.name}={raw}: not a valid {self.kind} ({e})") from None


class FlagValues:
    """The set of defined flags and their values (`FLAGS` is the process-wide one)."""

    def __init__(self):
        object.__setattr__(self, "_flags", {})
        object.__setattr__(self, "_parsed", False)

    # definition -----------------------------------------------------------------------
    def _define(self, name, kind, default, help_text, lower=None, upper=None):
        if not isinstance(name, str) or not name or name.startswith("-"):
            raise Error(f"invalid flag name {name!r}")
        if name in self._flags:
            raise DuplicateFlagError(f"the flag {name!r} is defined twice")
        self._flags[name] = Flag(name, kind, default, help_text, lower, upper)

    def __contains__(self, name):
        return name in self._flags

    def __iter__(self):
        return iter(self._flags)

    def __getitem__(self, name):
        return self._flags[name]

    # values ---------------------------------------------------------------------------
    def __getattr__(self, name):
        flags = object.__getattribute__(self, "_flags")
        if name not in flags:
            raise UnrecognizedFlagError(f"no flag named {name!r} is defined")
        if not object.__getattribute__(self, "_parsed"):
            self(sys.argv)
        return flags[name].value

    def __setattr__(self, name, value):
        if name not in self._flags:
            raise UnrecognizedFlagError(f"cannot set {name!r}: no flag of that name is defined")
        flag = self._flags[name]
        flag.value = None if value is None else flag.convert(value)
        flag.present = True

    def is_parsed(self):
        return self._parsed

    def mark_as_parsed(self):
        object.__setattr__(self, "_parsed", True)

    def unparse_flags(self):
        """Every flag back to its default; the next read parses sys.argv again."""
        for flag in self._flags.values():
            flag.value, flag.present = flag.default, False
        object.__setattr__(self, "_parsed", False)

    def flag_values_dict(self):
        return {name: flag.value for name, flag in self._flags.items()}

    # parsing --------------------------------------------------------------------------
    def __call__(self, argv, known_only=True):
        """Parse `argv` (argv[0] is the program); returns [argv[0]] + what was not a
        defined flag."""
        argv = list(argv)
        if not argv:
            raise Error("argv must hold at least the program name")
        rest = [argv[0]]
        args = argv[1:]
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                rest.extend(args[i:])
                break
            used = self._parse_one(arg, args[i] if i < len(args) else None)
            if used is None:
                rest.append(arg)
            elif used == 2:
                i += 1
        self.mark_as_parsed()
        return rest

    def _parse_one(self, arg, following):
        """1 or 2 (arguments used) when `arg` sets a defined flag, else None."""
        if not arg.startswith("-") or arg in ("-", "--"):
            return None
        name, eq, value = arg.lstrip("-").partition("=")
        flag = self._flags.get(name)
        if flag is None and name.startswith("no") and not eq:
            negated = self._flags.get(name[2:])
            if negated is not None and negated.kind == "bool":
                negated.value, negated.present = False, True
                return 1
        if flag is None:
            return None
        if eq:
            flag.value = flag.convert(value)
        elif flag.kind == "bool":
            flag.value = True
        elif following is None:
            raise IllegalFlagValueError(f"flag --{name} needs a value")
        else:
            flag.value = flag.convert(following)
            flag.present = True
            return 2
        flag.present = True
        return 1


FLAGS = FlagValues()


def DEFINE_string(name, default, help, flag_values=FLAGS):  # noqa: N802, A002  (TF1 names)
    """A string flag."""
    flag_values._define(name, "string", default, help)


def DEFINE_integer(name, default, help, lower_bound=None, upper_bound=None,  # noqa: N802, A002
                   flag_values=FLAGS):
    """An integer flag, optionally bounded (inclusive)."""
    flag_values._define(name, "integer", default, help, lower_bound, upper_bound)


def DEFINE_float(name, default, help, lower_bound=None, upper_bound=None,  # noqa: N802, A002
                 flag_values=FLAGS):
    """A float flag, optionally bounded (inclusive)."""
    flag_values._define(name, "float", default, help, lower_bound, upper_bound)


def DEFINE_boolean(name, default, help, flag_values=FLAGS):  # noqa: N802, A002
    """A boolean flag (`--name`, `--noname`, `--name=false`)."""
    flag_values._define(name, "bool", default, help)


DEFINE_bool = DEFINE_boolean
