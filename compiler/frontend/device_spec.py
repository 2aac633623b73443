"""TF1's device names: `DeviceSpec` (job, replica, task, device type, device index),
parsed from "/job:worker/replica:0/task:1/device:GPU:0", "/gpu:0", "/cpu:*", "GPU:0"
and merged as TF1's nested `tf.device` scopes merge them (inner fields override,
unset fields are inherited from the enclosing scopes); `merge_device_scopes` applies a
graph's device stack (strings, `None`, device functions) to a new op."""

from __future__ import annotations

from dataclasses import dataclass, replace

_EXPECTED = ("expected '/job:NAME/replica:N/task:N/device:TYPE:N' or a part of it, "
             "e.g. '/gpu:0', '/cpu:*', 'GPU:0', '/job:ps/task:1'")


def _index(text, spec, what):
    if text == "*":
        return None
    if not text.isdigit():
        raise ValueError(f"device {spec!r}: {what} {text!r} is not a number or '*'; "
                         f"{_EXPECTED}")
    return int(text)


@dataclass(frozen=True)
class DeviceSpec:
    """A (possibly partial) device name; None fields are unset."""
    job: str | None = None
    replica: int | None = None
    task: int | None = None
    device_type: str | None = None
    device_index: int | None = None

    @classmethod
    def from_string(cls, spec) -> DeviceSpec:
        if isinstance(spec, DeviceSpec):
            return spec
        if spec is None:
            return cls()
        if not isinstance(spec, str):
            raise TypeError(f"a device must be a string or a DeviceSpec, got {spec!r}")
        fields = {}
        for part in spec.strip().split("/"):
            if not part:
                continue
            y = part.split(":")
            key = y[0].lower()
            if len(y) == 2 and key == "job" and y[1]:
                fields["job"] = y[1]
            elif len(y) == 2 and key in ("replica", "task"):
                fields[key] = _index(y[1], spec, key)
            elif len(y) in (1, 2) and key in ("cpu", "gpu"):
                fields["device_type"] = key.upper()
                fields["device_index"] = _index(y[1], spec, "device index") \
                    if len(y) == 2 else None
            elif len(y) == 3 and key == "device" and y[1]:
                fields["device_type"] = y[1].upper() if y[1].lower() in ("cpu", "gpu") \
                    else y[1]
                fields["device_index"] = _index(y[2], spec, "device index")
            else:
                raise ValueError(f"device {spec!r}: cannot parse {part!r}; {_EXPECTED}")
        return cls(**fields)

    parse_from_string = from_string

    def to_string(self) -> str:
        out = ""
        if self.job is not None:
            out += f"/job:{self.job}"
        if self.replica is not None:
            out += f"/replica:{self.replica}"
        if self.task is not None:
            out += f"/task:{self.task}"
        if self.device_type is not None:
            index = "*" if self.device_index is None else self.device_index
            out += f"/device:{self.device_type}:{index}"
        return out

    def __str__(self):
        return self.to_string()

    def merge_from(self, dev) -> DeviceSpec:
        """This spec with the set fields of `dev` overriding (TF1's `merge_from`; a
        new spec, since DeviceSpecs are immutable here as in TF2's DeviceSpec)."""
        dev = DeviceSpec.from_string(dev)
        fields = {k: getattr(dev, k) for k in ("job", "replica", "task")
                  if getattr(dev, k) is not None}
        if dev.device_type is not None:
            fields["device_type"] = dev.device_type
            fields["device_index"] = dev.device_index
        return replace(self, **fields)

    make_merged_spec = merge_from

    def replace(self, **fields) -> DeviceSpec:
        return replace(self, **fields)


def canonical(spec) -> str:
    """The full string of a device (a string or DeviceSpec); "" for none."""
    return DeviceSpec.from_string(spec).to_string()


def merge_device_scopes(stack, op) -> str:
    """The device string of the new op `op` under the device stack `stack` (outermost
    first): TF1 applies the scopes innermost first, each filling the fields the inner
    ones left unset; a `None` scope (`tf.device(None)`) stops the outer ones; a device
    function's result (fn(op) -> string or DeviceSpec) replaces the op's device (the
    function sees the device the inner scopes chose in `op.device`). An op under one
    string scope keeps that string as written. `op.device` may start set (a
    colocate_with block's device)."""
    for entry in reversed(stack):
        if entry is None:
            break
        if callable(entry):
            result = entry(op)
            op.device = result.to_string() if isinstance(result, DeviceSpec) \
                else (result or "")
            DeviceSpec.from_string(op.device)  # a bad string from a function: ValueError
        else:
            spec = DeviceSpec.from_string(entry)
            if not op.device:
                op.device = entry if isinstance(entry, str) else spec.to_string()
            else:
                merged = spec.merge_from(op.device)
                if merged != DeviceSpec.from_string(op.device):
                    op.device = merged.to_string()
    return op.device
