"""The static HTML viewer: `render_html(model) -> str`, one self-contained page.

The page holds the GraphModel as JSON and its script and style inline (templates/
viewer.html.j2, viewer.js, viewer.css, rendered with jinja2 and `StrictUndefined`), so it
opens from disk with no network. It draws one stage at a time (a slider picks the
stage): name scopes are boxes that expand and collapse on click, collapsed by default,
and the layout is computed in the page for what is visible only (a layered layout per
expanded scope), so a 40,000-node graph starts as its few top-level scopes. Clicking a
node shows its op, shape, dtype, device, file:line, inputs and attrs; in the fused stage
every kernel is a coloured group whose details give its kind and the fusion reasons.
"""

from __future__ import annotations

import colorsys
import json
import os

import jinja2
from markupsafe import Markup  # jinja2's own dependency

_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def kernel_colour(index: int) -> str:
    """A light colour per kernel (golden-angle hues), as #rrggbb."""
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.82, 0.65)
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))


def _shape_text(shape) -> str:
    return "?" if shape is None else "[" + ",".join(map(str, shape)) + "]"


def model_json(model) -> dict:
    """The page's data: per stage, nodes as compact rows [name, op, dtype, shape,
    device, loc, input indices, control input indices, attrs, kernel, reason,
    [placed device, placement reason] or 0, partition or 0 (a graph on several
    devices: compiler/partition.py)]; `devices`: each placed device and its
    colour (the user stage's nodes are coloured by device, with a legend)."""
    stages = []
    for stage in model.stages:
        index = {n.name: i for i, n in enumerate(stage.nodes)}
        rows = [[n.name, n.op, n.dtype, _shape_text(n.shape), n.device, n.loc,
                 [index[s] for s in n.inputs if s in index],
                 [index[s] for s in n.control if s in index],
                 n.attrs or 0, n.kernel, n.reason,
                 [n.placed, n.placement] if n.placed else 0, n.partition or 0]
                for n in stage.nodes]
        stages.append({"name": stage.name, "summary": stage.summary, "nodes": rows})
    kernels = [{"index": k.index, "kind": k.kind, "scope": k.scope, "root": k.root,
                "reason": k.reason, "members": len(k.members),
                "colour": kernel_colour(k.index)} for k in model.kernels]
    placed = sorted({n.placed for st in model.stages for n in st.nodes if n.placed})
    devices = [{"name": d, "colour": device_colour(d)} for d in placed]
    return {"title": model.title, "stages": stages, "kernels": kernels, "devices": devices}


def device_colour(device: str) -> str:
    """A colour per placed device: green hues for CPUs, orange for GPUs, lighter by
    task; stable across pages (from the name, not the page's device list)."""
    from ..frontend.device_spec import DeviceSpec
    spec = DeviceSpec.from_string(device)
    hue = {"CPU": 0.33, "GPU": 0.08}.get(spec.device_type, 0.6)
    hue = (hue + 0.07 * ((spec.task or 0) + 3 * (spec.device_index or 0))) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.78, 0.55)
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))


def _read(name: str) -> str:
    with open(os.path.join(_TEMPLATES, name), encoding="utf-8") as f:
        return f.read()


def render_html(model) -> str:
    """The viewer page of a `compiler.viz.model.GraphModel`."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                             undefined=jinja2.StrictUndefined, autoescape=True)
    data = json.dumps(model_json(model), separators=(",", ":"), allow_nan=False)
    data = data.replace("</", "<\\/")  # never closes the script element early
    return env.get_template("viewer.html.j2").render(
        title=model.title, css=Markup(_read("viewer.css")), js=Markup(_read("viewer.js")),
        data=Markup(data))
