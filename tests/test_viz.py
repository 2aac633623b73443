"""The graph model (user graph, IR per pass, fused kernels), DOT export, the HTML
viewer's page (self-contained, data escaped), fc.dump(format="html"/"dot") and
`flowc view`. The page is opened in a browser in tests/test_viz_browser.py."""

import json
import os
import re
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

import compiler as fc
from compiler.cli import main
from compiler.viz import GraphModel, Stage, VNode, analyze, render_html, to_dot
from compiler.viz.model import simple_attrs


def build():
    x = fc.placeholder(fc.float32, [None, 4], name="x")
    with fc.name_scope("dense"):
        w = fc.Variable(np.full((4, 3), 0.5, np.float32), name="w")
        b = fc.Variable(np.zeros(3, np.float32), name="b")
        h = fc.nn.relu(fc.matmul(x, w) + b, name="act")
    probs = fc.nn.softmax(h, name="probs")
    loss = fc.reduce_mean(-fc.log(probs), name="loss")
    return [probs, loss], [x]


@pytest.fixture
def model():
    with fc.Graph().as_default():
        fetches, feeds = build()
        return analyze(fetches, feeds, title="dense model")


def test_stages_follow_the_pipeline(model):
    names = [s.name for s in model.stages]
    assert names[:2] == ["graph", "input"] and names[-1] == "fusion"
    assert "fold_constants" in names and "dce" in names
    user = {n.name: n for n in model.stages[0].nodes}
    assert user["dense/MatMul"].op == "matmul"
    assert user["dense/MatMul"].inputs == ["x", "dense/w"]
    assert user["dense/MatMul"].loc.startswith("test_viz.py:")
    assert user["x"].shape == ["N0", 4] or user["x"].shape[1] == 4
    matmul = next(k for k in model.kernels if k.kind == "matmul")   # where each op ends up
    assert user["dense/MatMul"].kernel == matmul.index
    assert user["dense/MatMul"].reason.startswith(f"ends up in kernel {matmul.index}: ")
    assert user["x"].kernel == -1                                    # a buffer, no kernel
    for stage in model.stages:
        names = {n.name for n in stage.nodes}
        assert len(names) == len(stage.nodes), stage.name
        for n in stage.nodes:
            assert set(n.inputs) <= names, (stage.name, n.name)


def test_fused_stage_groups_nodes_by_kernel(model):
    fused = model.stages[-1]
    assert model.kernels and {k.kind for k in model.kernels} >= {"matmul", "row"}
    by_name = {n.name: n for n in fused.nodes}
    for k in model.kernels:
        assert k.scope == f"kernel_{k.index}_{k.kind}" and k.reason
        assert k.root in k.members
        for name in k.members:
            assert name.startswith(k.scope + "/") and by_name[name].kernel == k.index
    matmul = next(k for k in model.kernels if k.kind == "matmul")
    assert any(by_name[m].op == "matmul" for m in matmul.members)
    row = next(k for k in model.kernels if k.root.endswith("/probs"))
    assert {f"{row.scope}/dense/act", f"{row.scope}/probs/reduce_sum"} <= set(row.members)
    log_copies = [n for n in by_name if n.endswith("/Log")]   # recomputed in two kernels
    assert len(log_copies) == 2 and len({by_name[n].kernel for n in log_copies}) == 2
    buffers = [n for n in fused.nodes if n.kernel < 0 and n.op in ("placeholder", "variable")]
    assert {n.name for n in buffers} == {"x", "dense/w", "dense/b"}
    assert all(n.reason for n in fused.nodes if n.kernel >= 0 or n in buffers)


def test_dot_export(model, tmp_path):
    text = to_dot(model.stages[-1], model.kernels)
    assert text.startswith('digraph "fusion" {')
    assert 'subgraph "cluster_kernel_0_' in text and "fillcolor=\"#" in text
    assert '"x" -> ' in text
    user = to_dot(model.stages[0])
    assert 'subgraph "cluster_dense"' in user
    if shutil.which("dot"):  # Graphviz is optional; when present it must accept the text
        for t in (text, user):
            out = subprocess.run(["dot", "-Tsvg"], input=t, capture_output=True, text=True,
                                 timeout=60)
            assert out.returncode == 0, out.stderr
            assert "<svg" in out.stdout


def test_html_page_is_self_contained(model):
    page = render_html(model)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    data = re.search(r'<script id="flowc-data" type="application/json">(.*?)</script>', page,
                     re.S).group(1)
    parsed = json.loads(data)
    assert [s["name"] for s in parsed["stages"]] == [s.name for s in model.stages]
    assert len(parsed["kernels"]) == len(model.kernels)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", k["colour"]) for k in parsed["kernels"])
    assert "<title>dense model — flowc viewer</title>" in page


def test_html_data_cannot_close_the_script():
    node = VNode("a", "constant", "float32", [],
                 attrs=simple_attrs({"note": "</script><b>x", "lo": float("-inf")}))
    assert node.attrs["lo"] == "-inf"
    page = render_html(GraphModel("t<i>", [Stage("graph", "s", [node])]))
    assert "</script><b>" not in page and "<\\/script><b>x" in page
    assert "t&lt;i&gt;" in page


def test_dump_html_and_dot(tmp_path):
    with fc.Graph().as_default():
        fetches, feeds = build()
        out = fc.dump(fetches, feeds, dir=str(tmp_path / "h"), format="html")
        assert list(out) == ["html"]
        with open(tmp_path / "h" / "graph.html") as f:
            assert f.read() == out["html"]
        dots = fc.dump(fetches, dir=str(tmp_path / "d"), format="dot")
        assert list(dots) == ["graph", "fusion"]
        assert sorted(os.listdir(tmp_path / "d")) == ["fusion.dot", "graph.dot"]
        with pytest.raises(ValueError, match="'text', 'html', 'dot'"):
            fc.dump(fetches, format="svg")


def test_flowc_view_command(tmp_path, capsys):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent("""\
        import numpy as np
        import compiler as fc

        def build():
            x = fc.placeholder(fc.float32, [None, 4], name="x")
            with fc.name_scope("layer"):
                w = fc.Variable(np.ones((4, 2), np.float32), name="w")
                return fc.nn.softmax(fc.matmul(x, w)), [x]
        """))
    assert main(["view", f"{path}:build", "-o", str(tmp_path / "v"), "-q"]) == 0
    page = (tmp_path / "v" / "graph.html").read_text()
    assert "layer/MatMul" in page and f"{path}:build" in page
    assert capsys.readouterr().out.strip() == str(tmp_path / "v" / "graph.html")
    assert main(["view", f"{path}:build", "-o", str(tmp_path / "v"), "--format", "dot",
                 "-q"]) == 0
    assert "cluster_kernel_" in (tmp_path / "v" / "fusion.dot").read_text()
