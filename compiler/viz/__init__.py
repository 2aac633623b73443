"""Views of a graph and of what the compiler made of it: the graph model (model.py:
user graph, IR per pass, fused kernels), the static HTML viewer (render.py, templates/)
and DOT export (dot.py). TensorBoard's GraphDef of the same model is in
compiler/summary/graphdef.py."""

from .dot import to_dot
from .model import GraphModel, Kernel, Stage, VNode, analyze, fused_stage, ir_stage, user_stage
from .render import kernel_colour, model_json, render_html

__all__ = ["GraphModel", "Kernel", "Stage", "VNode", "analyze", "fused_stage", "ir_stage",
           "kernel_colour", "model_json", "render_html", "to_dot", "user_stage"]
