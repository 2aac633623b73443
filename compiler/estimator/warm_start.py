"""`fc.estimator.WarmStartSettings` and the warm start of `Estimator.train`.

`Estimator(warm_start_from=PATH or WarmStartSettings(ckpt_to_initialize_from,
vars_to_warm_start=".*", var_name_to_prev_var_name=None))`: when `train` finds no
checkpoint in `model_dir` (so the variables are initialized, not restored), the selected
variables are then restored from the warm-start checkpoint (a checkpoint path, or a
folder: its latest checkpoint) through `Saver(var_list={name in the old checkpoint:
variable}).restore`. As in TF1, a string regex selects among the *trainable* variables
(`re.match` on the variable's name), a list of regexes among all global variables, and
`var_name_to_prev_var_name` maps new names to the names in the old checkpoint. A
missing or mismatched variable raises the Saver's CheckpointError before any value
changes. Vocabulary remapping (`var_name_to_vocab_info`) is not supported.
"""

from __future__ import annotations

import collections
import os
import re

from ..frontend.variables import global_variables, trainable_variables
from ..train.saver import Saver, latest_checkpoint

__all__ = ["WarmStartSettings"]


class WarmStartSettings(collections.namedtuple("WarmStartSettings", [
        "ckpt_to_initialize_from", "vars_to_warm_start", "var_name_to_vocab_info",
        "var_name_to_prev_var_name"])):
    """Where to warm-start from and which variables (see the module docstring)."""

    def __new__(cls, ckpt_to_initialize_from, vars_to_warm_start=".*",
                var_name_to_vocab_info=None, var_name_to_prev_var_name=None):
        if not ckpt_to_initialize_from:
            raise ValueError("WarmStartSettings: ckpt_to_initialize_from is required")
        if var_name_to_vocab_info:
            raise NotImplementedError("WarmStartSettings: var_name_to_vocab_info (vocabulary "
                                      "remapping) is not supported")
        return super().__new__(cls, os.fspath(ckpt_to_initialize_from), vars_to_warm_start,
                               {}, dict(var_name_to_prev_var_name or {}))


def settings_of(warm_start_from):
    """None, or WarmStartSettings from a path or WarmStartSettings."""
    if warm_start_from is None or isinstance(warm_start_from, WarmStartSettings):
        return warm_start_from
    if isinstance(warm_start_from, (str, os.PathLike)):
        return WarmStartSettings(warm_start_from)
    raise ValueError(f"warm_start_from must be a string path or a WarmStartSettings, got "
                     f"{warm_start_from!r}")


def init_fn(settings):
    """A Scaffold init_fn that restores the selected variables of the current graph."""
    wanted = _selected(settings.vars_to_warm_start)
    names = {v.op.name: settings.var_name_to_prev_var_name.get(v.op.name, v.op.name)
             for v in wanted}
    saver = Saver({names[v.op.name]: v for v in wanted}) if wanted else None
    path = settings.ckpt_to_initialize_from
    if os.path.isdir(path):
        path = latest_checkpoint(path)
        if path is None:
            raise ValueError(f"warm start: no checkpoint in {settings.ckpt_to_initialize_from!r}")

    def restore(scaffold, sess):
        if saver is not None:
            saver.restore(sess, path)
    return restore


def _selected(spec):
    if spec is None:
        return []
    if isinstance(spec, str):
        return [v for v in trainable_variables() if re.match(spec, v.op.name)]
    if isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec):
        return [v for v in global_variables() if any(re.match(s, v.op.name) for s in spec)]
    if isinstance(spec, (list, tuple)):
        return list(spec)  # Variables
    raise ValueError(f"vars_to_warm_start must be a regex, a list of regexes or a list of "
                     f"Variables, got {spec!r}")
