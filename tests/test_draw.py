"""`nnshape draw` and the graph behind it: clusters, repeats, skips, merges, named tensors,
folding, shading, escaping, and what happens without Graphviz.

Structure is checked on the Graph (what is drawn) and on the DOT text (how); tests that need
Graphviz's `dot` to lay out skip when it is not installed (CI installs it: .ci/run).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main
from nnshape.pictures import PictureError, analyze_for_picture, diagram
from nnshape.pictures import dot as dotmod
from nnshape.pictures.graph import DiagramTooLarge, build_graph

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
HOSTILE = '<script>alert("x")</script> & \\N \\G "q" ]; n0 -> n1 [label=<<B>b</B>>] \x00\x1b[31m \u202e'


def graph_of(spec: str, **options):
    summary, plan = analyze_for_picture(spec)
    return summary, build_graph(summary, plan, **options)


def invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def edges_into(graph, node_id):
    return [e for e in graph.edges if e.dst == node_id]


def titles(graph, role=None):
    return [n.title for n in graph.nodes if role is None or n.role == role]


# ---------------------------------------------------------------------- structure
def test_layers_are_nodes_and_edges_carry_shapes():
    summary, graph = graph_of(ROOT / "examples" / "lenet5.nn")
    layers = [n for n in graph.nodes if n.role == "layer"]
    assert [n.title for n in layers] == [row.label for row in summary.layers]
    assert titles(graph, "input") == ["input"] and titles(graph, "output") == ["output"]
    first = layers[0]
    (into,) = edges_into(graph, first.id)
    assert into.label == "1×1×32×32"
    assert layers[0].lines == ("params 156 · MACs 117.60 k",)  # exact below 100,000, short above
    (out,) = [e for e in graph.edges if e.dst == graph.nodes[-1].id]
    assert out.label == "1×10"
    assert len(graph.edges) == len(layers) + 1  # a chain
    assert not graph.clusters


def test_residual_identity_skip_and_plus_node():
    _, graph = graph_of("input 8x4x4\nresidual:\n    conv2d 8 k3 p1\n    relu\nrelu\n")
    (plus,) = [n for n in graph.nodes if n.role == "op"]
    assert plus.title == "+"
    into = edges_into(graph, plus.id)
    assert sorted(e.kind for e in into) == ["data", "skip"]
    skip = next(e for e in into if e.kind == "skip")
    assert graph.node(skip.src).role == "input" and skip.label == "1×8×4×4"
    (cluster,) = graph.clusters
    assert cluster.kind == "residual" and plus.cluster == cluster.id
    dot = dotmod.to_dot(graph)
    assert 'color="#2b7bba", penwidth=1.6' in dot  # the skip edge is drawn apart


def test_shortcut_is_a_cluster_fed_by_a_skip_edge():
    spec = (ROOT / "docs" / "images" / "resnet_block.nn").read_text()
    _, graph = graph_of(spec)
    kinds = {c.kind: c for c in graph.clusters}
    assert set(kinds) == {"residual", "shortcut"}
    assert kinds["shortcut"].parent == kinds["residual"].id
    in_shortcut = [n for n in graph.nodes if n.cluster == kinds["shortcut"].id]
    assert [n.title for n in in_shortcut] == ["conv2d 128 k=1 s=2 bias=false", "batchnorm2d"]
    (first_edge,) = edges_into(graph, in_shortcut[0].id)
    assert first_edge.kind == "skip" and graph.node(first_edge.src).role == "input"
    (plus,) = [n for n in graph.nodes if n.role == "op"]
    assert {graph.node(e.src).title for e in edges_into(graph, plus.id)} == {"batchnorm2d"}
    assert {e.kind for e in edges_into(graph, plus.id)} == {"data", "skip"}


def test_concat_merge_takes_every_branch():
    summary, graph = graph_of(ROOT / "examples" / "googlenet.nn")
    merges = [n for n in graph.nodes if n.role == "op"]
    assert len(merges) == 9 and {n.title for n in merges} == {"concat dim=1"}
    first = merges[0]
    into = edges_into(graph, first.id)
    assert [e.label for e in into] == ["1×64×28×28", "1×128×28×28", "1×32×28×28", "1×32×28×28"]  # inception3a's branches
    branches = [c for c in graph.clusters if c.kind == "branch"]
    assert len(branches) == 36
    merge_clusters = [c for c in graph.clusters if c.kind == "merge"]
    assert all(c.title == "concat dim=1" for c in merge_clusters)


def test_add_and_multiply_merges():
    spec = "input 4x6\nadd:\n    branch:\n        linear 6\n    branch:\n        identity\nmultiply:\n    branch:\n        sigmoid\n    branch:\n        tanh\n"
    _, graph = graph_of(spec)
    assert [n.title for n in graph.nodes if n.role == "op"] == ["+", "×"]


def test_collapsed_repeat_is_drawn_once_with_its_count():
    summary, graph = graph_of("input 3x16x16\nconv2d 8 k3 p1\nrepeat 12:\n    conv2d 8 k3 p1\n    relu\n")
    (repeat,) = [c for c in graph.clusters if c.kind == "repeat"]
    assert repeat.title == "× 12  (repeat 12)"
    inside = [n for n in graph.nodes if n.cluster == repeat.id]
    assert [n.title for n in inside] == ["conv2d 8 k=3 p=1", "relu"]
    assert inside[0].metrics["macs"] == 12 * summary.layers[2].macs  # all copies


def test_repeat_whose_first_pass_changes_shape_shows_both_passes():
    _, graph = graph_of("input 3x16x16\nrepeat 4:\n    conv2d 8 k3 p1\n    relu\n")
    passes = [c.title for c in graph.clusters if c.kind == "pass"]
    assert passes == ["pass 1", "passes 2–4 (× 3, same shapes)"]


def test_unrolled_repeat_lists_every_pass():
    _, graph = graph_of("input 8x16x16\nrepeat 3:\n    conv2d 8 k3 s2 p1\n")
    assert [c.title for c in graph.clusters if c.kind == "pass"] == ["pass 1", "pass 2", "pass 3"]
    assert [e.label for e in graph.edges][:4] == ["1×8×16×16", "1×8×8×8", "1×8×4×4", "1×8×2×2"]


def test_blocks_and_def_calls_are_clusters():
    _, graph = graph_of(ROOT / "examples" / "resnet18.nn")
    top = [c for c in graph.clusters if c.parent is None]
    assert [c.title for c in top] == ["block layer1", "block layer2", "block layer3", "block layer4"]
    assert {c.kind for c in graph.clusters} == {"block", "call", "repeat", "residual", "shortcut"}
    assert sum(1 for c in graph.clusters if c.kind == "shortcut") == 3
    assert sum(1 for n in graph.nodes if n.title == "+") == 7  # 2 + 8 basic blocks, layer1's pair drawn once


def test_named_tensors_are_dashed_edges():
    _, graph = graph_of(ROOT / "examples" / "transformer.nn")
    named = [e for e in graph.edges if e.kind == "named"]
    labels = sorted(e.label for e in named)
    assert labels == ["memory: 1×10×512", "src: 1×10×512", "tgt: 1×20×512"]
    memory = next(e for e in named if e.label.startswith("memory"))
    assert graph.node(memory.dst).title.startswith("decoderlayer")
    assert graph.node(memory.src).title == "layernorm"  # the end of `from src as memory`
    assert titles(graph, "input") == ["input src", "input tgt"]
    assert 'style=dashed' in dotmod.to_dot(graph)


def test_output_names_its_tensor():
    spec = "input x 4\nfrom x as h:\n    linear 8\nlinear 2\noutput h\n"
    _, graph = graph_of(spec)
    (out,) = [n for n in graph.nodes if n.role == "output"]
    assert out.title == "output h"
    (into,) = edges_into(graph, out.id)
    assert graph.node(into.src).title == "linear 8"


# ---------------------------------------------------------------------- --depth
def test_depth_folds_blocks_into_one_node_with_totals():
    summary, graph = graph_of(ROOT / "examples" / "resnet18.nn", depth=0)
    assert not graph.clusters
    folded = [n for n in graph.nodes if n.role == "block"]
    assert [n.title for n in folded] == ["block layer1", "block layer2", "block layer3", "block layer4"]
    layer2 = summary.layer("layer2")
    assert folded[1].metrics == {"macs": layer2.macs, "params": layer2.params, "memory": layer2.activation_bytes}
    assert folded[1].lines == ("params 525.57 k · MACs 411.04 M",)
    assert len(graph.nodes) == 2 + 4 + 4 + 3  # input, output, 4 layers before, 4 blocks, 3 after
    dot = dotmod.to_dot(graph)
    assert "peripheries=2" in dot and "subgraph" not in dot


def test_depth_one_shows_the_repeat_folded_with_its_count():
    _, graph = graph_of(ROOT / "examples" / "resnet18.nn", depth=1)
    assert [c.title for c in graph.clusters] == ["block layer1", "block layer2", "block layer3", "block layer4"]
    folded = [n.title for n in graph.nodes if n.role == "block"]
    assert folded[0] == "repeat 2  × 2"
    assert folded[1:] == ["basic_down 128", "basic 128", "basic_down 256", "basic 256", "basic_down 512", "basic 512"]


def test_folded_blocks_keep_their_named_tensor_edges():
    _, graph = graph_of(ROOT / "examples" / "transformer.nn", depth=0)
    folded = [n for n in graph.nodes if n.role == "block"]
    assert [n.title for n in folded] == ["from src as memory", "from tgt"]
    into_decoder = sorted(e.label for e in edges_into(graph, folded[1].id))
    assert into_decoder == ["memory: 1×10×512", "tgt: 1×20×512"]


def test_depth_matches_the_table_everywhere():
    """Every example at every depth: a node per row the table shows at that depth, leaf or folded."""
    for path in EXAMPLES:
        summary, plan = analyze_for_picture(path)
        deepest = max(r.depth for r in summary.layers)
        for depth in range(deepest + 1):
            graph = build_graph(summary, plan, depth=depth)
            drawn = [n.path for n in graph.nodes if n.role in ("layer", "block")]
            shown = [r.path for r in summary.layers if r.depth <= depth and (not r.is_block or r.depth == depth)]
            assert drawn == shown, (path, depth)


CONTROL = """\
def up(c, skip):
    concat:
        branch: identity
        branch: from skip
    conv c k1 as y
    from y
input 4x8x8
conv 8 k3 p1 as e1
repeat 3 as i:
    residual:
        conv 8 k3 p1
        droppath 0.1 * i
matmul:
    branch: identity
    branch: transpose -2 -1
up 4 e1
relu
"""


def test_depth_matches_the_table_with_the_languages_control(tmp_path):
    """`as`/`from` edges, a repeat whose passes fold, a matmul's product row: still a node per row shown."""
    spec = tmp_path / "control.nn"
    spec.write_text(CONTROL)
    summary, plan = analyze_for_picture(spec)
    for depth in range(max(r.depth for r in summary.layers) + 1):
        graph = build_graph(summary, plan, depth=depth)
        drawn = [n.path for n in graph.nodes if n.role in ("layer", "block")]
        shown = [r.path for r in summary.layers if r.depth <= depth and (not r.is_block or r.depth == depth)]
        assert drawn == shown, depth
    graph = build_graph(summary, plan)
    named = sorted(e.label.split(":")[0] for e in graph.edges if e.kind == "named")
    assert named == ["e1", "y"]


# ---------------------------------------------------------------------- shading and colours
def test_shade_by_macs_darkens_the_costliest_node():
    _, graph = graph_of(ROOT / "examples" / "lenet5.nn")
    dot = dotmod.to_dot(graph, shade_by="macs")
    fills = dict(re.findall(r'(n\d+) \[id="nn-n\d+", fillcolor="(#[0-9a-f]{6})"', dot))
    heaviest = max((n for n in graph.nodes if n.role == "layer"), key=lambda n: n.metrics["macs"])
    assert fills[heaviest.id] == dotmod.shade(1.0) == "#990000"
    relu = next(n for n in graph.nodes if n.title == "tanh")
    assert fills[relu.id] == dotmod.shade(0.0) == "#fff7ec"
    assert "shade: MACs of each node, all copies (darkest 240.00 k)" in dot
    params = dotmod.to_dot(graph, shade_by="params")
    fc = next(n for n in graph.nodes if n.title == "linear 120")
    assert f'{fc.id} [id="nn-{fc.id}", fillcolor="#990000"' in params


def test_colours_by_family_without_shading():
    _, graph = graph_of(ROOT / "examples" / "lenet5.nn")
    dot = dotmod.to_dot(graph)
    conv = next(n for n in graph.nodes if n.title.startswith("conv2d"))
    assert f'fillcolor="{dotmod.FAMILY_FILL["conv"]}"' in dot.split(f"{conv.id} [", 1)[1].split("\n", 1)[0]


def test_direction():
    _, graph = graph_of(ROOT / "examples" / "lenet5.nn")
    assert "rankdir=LR" in dotmod.to_dot(graph, direction="LR")
    with pytest.raises(ValueError):
        dotmod.to_dot(graph, direction="BT; evil")


# ---------------------------------------------------------------------- escaping
def hostile_summary():
    summary, plan = analyze_for_picture(ROOT / "docs" / "images" / "resnet_block.nn")
    rows = tuple(r._replace(label=HOSTILE) for r in summary.layers)
    return dataclasses.replace(summary, layers=rows, source=HOSTILE), plan


def test_hostile_text_never_leaves_a_label():
    summary, plan = hostile_summary()
    dot = diagram(summary, plan, "dot", title=HOSTILE).decode()
    assert "<script>" not in dot and "\x00" not in dot and "\x1b" not in dot and "\u202e" not in dot
    for line in dot.splitlines():  # spec text appears only inside label=<...> (HTML-like labels)
        if "&lt;script" in line:
            assert re.search(r"label=<", line)
    assert dot.count("{") == dot.count("}")  # nothing closed a subgraph early


@needs_dot
def test_hostile_text_survives_layout_as_text():
    summary, plan = hostile_summary()
    svg = diagram(summary, plan, "svg").decode()
    tree = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert not tree.findall(".//s:script", ns)
    texts = "".join(t.text or "" for t in tree.iter("{http://www.w3.org/2000/svg}text"))
    assert '<script>alert("x")</script>' in texts  # shown, as text


def test_wrap_and_text_helpers():
    assert dotmod.text('<a href="x">&</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
    assert dotmod.wrap("x" * 100, width=40) == ["x" * 40, "x" * 40, "x" * 20]
    assert len(dotmod.wrap("a " * 200, width=10, lines=4)) == 4


# ---------------------------------------------------------------------- limits
def test_too_many_nodes_is_a_located_error():
    summary, plan = analyze_for_picture("input 4\n" + "relu\n" * 50)
    with pytest.raises(DiagramTooLarge) as info:
        build_graph(summary, plan, max_nodes=20)
    assert info.value.code == "E0622" and "--depth" in info.value.hint
    build_graph(summary, plan, max_nodes=52)  # input + 50 + output


def test_cli_refuses_a_huge_diagram_but_depth_folds_it(tmp_path):
    spec = tmp_path / "big.nn"
    spec.write_text("input 4\nblock a:\n" + "    relu\n" * 3_100)
    result = invoke("draw", spec, "-o", tmp_path / "big.dot")
    assert result.exit_code == 1 and "E0622" in result.stderr
    result = invoke("draw", spec, "-o", tmp_path / "big.dot", "--depth", "0")
    assert result.exit_code == 0
    assert (tmp_path / "big.dot").read_text().count("->") == 2


# ---------------------------------------------------------------------- the command
def test_draw_dot_for_every_example(tmp_path):
    for path in EXAMPLES:
        out = tmp_path / (path.stem + ".dot")
        result = invoke("draw", path, "-o", out)
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert text.startswith("digraph nnshape {") and text.count("{") == text.count("}")
        defined = set(re.findall(r"^\s*(n\d+) \[", text, re.M))
        used = set(re.findall(r"(n\d+) -> (n\d+)", text))
        assert {a for a, _ in used} | {b for _, b in used} <= defined


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_draw_renders_with_graphviz(tmp_path, fmt):
    out = tmp_path / f"net.{fmt}"
    result = invoke("draw", ROOT / "examples" / "resnet18.nn", "-o", out, "--depth", "2", "--shade", "macs")
    assert result.exit_code == 0, result.output
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF"}[fmt]
    assert out.read_bytes().startswith(magic)


@needs_dot
def test_every_example_lays_out_as_svg():
    for path in EXAMPLES:
        summary, plan = analyze_for_picture(path)
        svg = diagram(summary, plan, "svg").decode()
        tree = ET.fromstring(svg)
        groups = [g for g in tree.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
        assert len(groups) == len(build_graph(summary, plan).nodes), path


def test_format_comes_from_the_name_or_the_option(tmp_path):
    result = invoke("draw", ROOT / "examples" / "lenet5.nn", "-o", tmp_path / "net.txt")
    assert result.exit_code == 2 and "--format" in result.stderr
    result = invoke("draw", ROOT / "examples" / "lenet5.nn", "-o", tmp_path / "net.txt", "--format", "dot")
    assert result.exit_code == 0 and (tmp_path / "net.txt").read_text().startswith("digraph")
    result = invoke("draw", ROOT / "examples" / "lenet5.nn", "-o", "-")
    assert result.exit_code == 2
    result = invoke("draw", ROOT / "examples" / "lenet5.nn", "-o", "-", "--format", "dot")
    assert result.exit_code == 0 and result.stdout.startswith("digraph")


def test_spec_errors_exit_1(tmp_path):
    result = invoke("draw", "-", "-o", tmp_path / "x.dot", input="input 3x8x8\nconv2d 4 k9\n")
    assert result.exit_code == 1 and "error[E04" in result.stderr


def test_without_dot_svg_exits_3_and_dot_still_works(tmp_path, monkeypatch):
    monkeypatch.setattr(dotmod, "find_dot", lambda: None)
    result = invoke("draw", ROOT / "examples" / "lenet5.nn", "-o", tmp_path / "net.svg")
    assert result.exit_code == 3
    assert "apt-get install graphviz" in result.stderr and "brew install graphviz" in result.stderr
    assert not (tmp_path / "net.svg").exists()
    result = invoke("draw", ROOT / "examples" / "lenet5.nn", "-o", tmp_path / "net.dot")
    assert result.exit_code == 0


def test_without_dot_on_path_for_real(tmp_path):
    """A process whose PATH has no `dot`: the exit status and message users see."""
    env = {"PATH": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "nnshape", "draw", str(ROOT / "examples" / "lenet5.nn"), "-o", str(tmp_path / "n.png")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "Graphviz" in proc.stderr and "apt-get install graphviz" in proc.stderr


def test_summary_draw_from_python(tmp_path, monkeypatch):
    s = nnshape.summarize(ROOT / "examples" / "lenet5.nn", batch=4)
    path = s.draw(tmp_path / "lenet.dot")
    assert path == tmp_path / "lenet.dot"
    assert "4×1×32×32" in path.read_text()  # the summary's own options (batch 4)
    with pytest.raises(PictureError) as info:
        s.draw(tmp_path / "lenet.bmp")
    assert info.value.code == "E0621"
    monkeypatch.setattr(dotmod, "find_dot", lambda: None)
    with pytest.raises(dotmod.DotMissingError) as info:
        s.draw(tmp_path / "lenet.svg")
    assert info.value.code == "E0620"


def test_summary_draw_keeps_bindings(tmp_path):
    s = nnshape.summarize("input (L, 16)\nlinear 8\n", L=5)
    text = s.draw(tmp_path / "x.dot", depth=0).read_text()
    assert "1×5×8" in text


def test_symbolic_sizes_draw_without_shading_numbers():
    summary, plan = analyze_for_picture("input (L, 16)\nlinear 8\nrelu\n")
    graph = build_graph(summary, plan)
    layer = next(n for n in graph.nodes if n.title == "linear 8")
    assert layer.metrics["macs"] is None
    dot = dotmod.to_dot(graph, shade_by="macs")
    assert "1×L×16" in dot and 'fillcolor="#ffffff"' in dot


def test_drawing_imports_nothing_heavy():
    code = (
        "import sys, nnshape\n"
        "s = nnshape.summarize('input 3\\nlinear 2')\n"
        "from nnshape.pictures import analyze_for_picture, diagram\n"
        "diagram(*analyze_for_picture('input 3\\nlinear 2'), 'dot')\n"
        "print(sorted(m for m in ('torch', 'rich', 'plotly') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_summary_command_does_not_load_pictures():
    code = (
        "import sys\nfrom nnshape.cli import main\n"
        "try:\n    main(['summary', 'examples/lenet5.nn'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED:' + ','.join(m for m in ('nnshape.pictures', 'plotly', 'selenium') if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert "LOADED:\n" in proc.stderr or proc.stderr.rstrip().endswith("LOADED:"), proc.stderr


def test_dot_failure_is_E0623(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: <stdin>: syntax error \x1b[31m' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(dotmod, "find_dot", lambda: str(fake))
    with pytest.raises(dotmod.DotFailedError) as info:
        dotmod.render("digraph { }", "svg")
    assert info.value.code == "E0623" and "status 1" in info.value.message and "\x1b" not in info.value.message
    result = invoke("draw", ROOT / "examples" / "lenet5.nn", "-o", tmp_path / "n.svg")
    assert result.exit_code == 1 and "E0623" in result.stderr


def test_kv_tensor_is_a_dashed_edge_from_its_input():
    _, graph = graph_of("input x 5x16\ninput ctx 7x16\nattention heads=2 kv=ctx\n")
    (attention,) = [n for n in graph.nodes if n.role == "layer"]
    into = sorted((e.kind, e.label, graph.node(e.src).title) for e in edges_into(graph, attention.id))
    assert into == [("data", "1×5×16", "input x"), ("named", "ctx: 1×7×16", "input ctx")]
