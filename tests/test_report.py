"""`nnshape report` and `nnshape diff --format html`: one self-contained, escaped page.

What the page holds is checked here on its HTML and its data; tests/test_browser.py opens the
pages in Chromium. The chart data is checked against the summary: the bars add up to its totals.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main
from nnshape.pictures import analyze_for_picture, charts
from nnshape.pictures import dot as dotmod
from nnshape.pictures import report as reportmod
from nnshape.pictures.page import esc, json_for_script

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
HAVE_DOT = shutil.which("dot") is not None
try:
    reportmod.plotly_js()
    HAVE_PLOTLY = True
except reportmod.PlotlyMissingError:
    HAVE_PLOTLY = False
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
needs_report = pytest.mark.skipif(not (HAVE_DOT and HAVE_PLOTLY), reason="the report needs Graphviz's dot and plotly (pip install 'nnshape[report]')")
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;</textarea>\u2028'


def invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


class Page(HTMLParser):
    """Tags, attributes and script texts of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None
        self._text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script":
            self._script, self._text = attributes, []

    def handle_data(self, data):
        if self._script is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def data(self) -> dict:
        (text,) = [body for attrs, body in self.scripts if attrs.get("id") == "nnshape-data"]
        return json.loads(text)


def external_references(page: Page) -> list[str]:
    """Attributes that would make the browser load something from elsewhere."""
    found = []
    for tag, attrs in page.tags:
        if tag in ("link", "iframe", "object", "embed", "base", "audio", "video", "source"):
            found.append(tag)
        for name, value in attrs.items():
            if name.startswith("xmlns") or value is None:
                continue
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data") and not value.startswith(("#", "data:")):
                found.append(f"{tag} {name}={value}")
            if re.search(r"url\(\s*['\"]?\s*(https?:|//)", value):
                found.append(f"{tag} {name}={value}")
    return found


@pytest.fixture(scope="module")
def resnet_report():
    if not (HAVE_DOT and HAVE_PLOTLY):
        pytest.skip("the report needs Graphviz's dot and plotly")
    summary, plan = analyze_for_picture(EXAMPLES / "resnet18.nn")
    return summary, reportmod.report_html(summary, plan)


# ---------------------------------------------------------------------- the page
@needs_report
def test_report_is_self_contained(resnet_report):
    _, text = resnet_report
    page = Page(text)
    assert external_references(page) == []
    executable = [body for attrs, body in page.scripts if attrs.get("type") != "application/json"]
    assert len(executable) == 2 and all(not attrs.get("src") for attrs, _ in page.scripts)
    assert "plotly.js" in executable[0][:200]
    assert "<style>" in text


@needs_report
def test_policy_allows_exactly_the_inline_scripts(resnet_report):
    _, text = resnet_report
    page = Page(text)
    (policy,) = [attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in policy and "unsafe-eval" not in policy and "script-src 'sha256-" in policy
    allowed = set(re.findall(r"'sha256-([^']+)'", policy))
    executable = [body for attrs, body in page.scripts if attrs.get("type") != "application/json"]
    assert allowed == {base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() for body in executable}


@needs_report
def test_table_rows_and_tree(resnet_report):
    summary, text = resnet_report
    rows = re.findall(r'<tr id="row-(\d+)" class="([^"]*)" data-i="\d+" data-parent="(\d*)" data-depth="(\d+)"', text)
    assert len(rows) == len(summary.layers)
    for index, classes, parent, depth in rows:
        row = summary.layers[int(index)]
        assert int(depth) == row.depth
        assert ("block" in classes.split()) == row.is_block
        if parent:
            assert summary.layers[int(parent)].depth == row.depth - 1 and summary.layers[int(parent)].is_block
        else:
            assert row.depth == 0
    assert text.count('class="toggle"') == sum(r.is_block for r in summary.layers)
    assert 'data-v="9408"' in text  # conv1's parameters, raw, for sorting


@needs_report
def test_table_says_what_a_row_shares():
    """A tied or reused row says what it shares, as the text table does (and shows 0 parameters)."""
    spec = "input ids 16 dtype=int64\nwte: embedding 100 8\nproj: linear 8\nreuse proj\nlm_head: linear 100 tie=wte\n"
    summary, plan = analyze_for_picture(spec)
    text = reportmod.report_html(summary, plan)
    assert esc("lm_head: linear 100 tie=wte  (tied to wte)") in text
    assert esc("reuse proj  (shared with proj)") in text


@needs_report
def test_totals_and_conventions_are_in_the_page(resnet_report):
    summary, text = resnet_report
    assert "<dt>Total params</dt><dd>11,689,512 (11.69 M)</dd>" in text
    assert "<dt>Conventions</dt>" in text and esc("FLOPs = 2 × MACs") in text
    assert 'id="diagram"' in text and "<svg" in text and 'id="nn&#45;n1"' in text  # Graphviz writes - as &#45;


@needs_report
def test_charts_add_up_to_the_totals(resnet_report):
    summary, text = resnet_report
    data = Page(text).data()
    figures = data["charts"]
    assert set(figures) == {"chart-layers", "chart-blocks", "chart-memory"}
    macs, params, memory = figures["chart-layers"]["data"]
    assert sum(macs["y"]) == summary.total_macs
    assert sum(params["y"]) == summary.total_params
    assert len(macs["x"]) == len(summary.leaves)
    block_macs, block_params, _ = figures["chart-blocks"]["data"]
    assert sum(block_macs["y"]) == summary.total_macs and sum(block_params["y"]) == summary.total_params
    assert "layer4" in block_macs["x"]
    parts = figures["chart-memory"]["data"]
    m = summary.memory
    assert sum(p["x"][1] for p in parts) == m.training_bytes
    assert sum(p["x"][0] for p in parts) == m.params_bytes + m.buffers_bytes + m.inference_peak_bytes
    assert data["config"]["displaylogo"] is False


def test_per_layer_chart_is_bounded():
    summary = nnshape.summarize("input 4\n" + "linear 4\n" * 30)
    rows, total = charts.layer_rows(summary, limit=10)
    assert total == 30 and len(rows) == 10
    figure = charts.figures(summary)
    assert len(figure["chart-layers"]["data"][0]["x"]) == 30


def test_symbolic_sizes_leave_gaps_and_no_memory_chart():
    summary = nnshape.summarize("input (L, 8)\nlinear 16\n")
    figures = charts.figures(summary)
    assert figures["chart-layers"]["data"][0]["y"] == [None]
    assert "chart-memory" not in figures


def test_block_chart_goes_inside_a_lone_top_block():
    summary = nnshape.summarize("input 4\nblock all:\n    linear 4\n    relu\n    linear 2\n")
    assert [r.path for r in charts.block_rows(summary)] == ["all.0", "all.1", "all.2"]


# ---------------------------------------------------------------------- escaping
def test_json_for_script_cannot_close_the_element():
    text = json_for_script({"a": "</script><!-- \u2028 & >"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- \u2028 & >"}


@needs_report
def test_hostile_names_stay_text():
    summary, plan = analyze_for_picture(EXAMPLES / "lenet5.nn")
    rows = tuple(r._replace(label=HOSTILE, path=HOSTILE + r.path) for r in summary.layers)
    summary = dataclasses.replace(summary, layers=rows, source=HOSTILE)
    text = reportmod.report_html(summary, plan)
    page = Page(text)
    assert len(page.scripts) == 3  # the data, plotly.js, ours: nothing from the spec
    assert not any(tag == "img" for tag, _ in page.tags)
    assert "window.__pwned=2</script>" not in text
    assert esc(HOSTILE)[:40] in text  # shown as text
    assert external_references(page) == []
    data = page.data()
    assert all("<" not in x for x in data["charts"]["chart-layers"]["data"][0]["x"])  # plotly reads tags in labels


# ---------------------------------------------------------------------- the command
@needs_report
def test_report_command_writes_the_file(tmp_path):
    out = tmp_path / "r.html"
    result = invoke("report", EXAMPLES / "transformer.nn", "-o", out, "--optimizer", "sgd")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "training (sgd)" in text
    result = invoke("report", EXAMPLES / "lenet5.nn", "-o", "-")
    assert result.exit_code == 0 and result.stdout.startswith("<!DOCTYPE html>")


@needs_dot
def test_report_without_plotly_exits_3(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # import plotly fails, find_spec finds nothing
    result = invoke("report", EXAMPLES / "lenet5.nn", "-o", tmp_path / "r.html")
    assert result.exit_code == 3 and "pip install plotly" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_without_dot_exits_3(tmp_path, monkeypatch):
    monkeypatch.setattr(dotmod, "find_dot", lambda: None)
    monkeypatch.setattr(reportmod, "plotly_js", lambda: "/* plotly */")
    result = invoke("report", EXAMPLES / "lenet5.nn", "-o", tmp_path / "r.html")
    assert result.exit_code == 3 and "apt-get install graphviz" in result.stderr


def test_report_spec_error_exits_1(tmp_path):
    result = invoke("report", "-", "-o", tmp_path / "r.html", input="input 3\nconv2d 4 k3\n")
    assert result.exit_code == 1 and "error[" in result.stderr


@needs_report
def test_summary_to_html_matches_the_command(tmp_path):
    s = nnshape.summarize(EXAMPLES / "lenet5.nn", optimizer="momentum")
    html = s.to_html()
    result = invoke("report", EXAMPLES / "lenet5.nn", "-o", tmp_path / "r.html", "--optimizer", "momentum")
    assert result.exit_code == 0
    assert html == (tmp_path / "r.html").read_text().replace(str(EXAMPLES / "lenet5.nn"), s.source)


@needs_report
def test_diagram_folds_to_fit(monkeypatch):
    monkeypatch.setattr(reportmod, "MAX_DRAW_NODES", 30)
    summary, plan = analyze_for_picture(EXAMPLES / "resnet18.nn")
    graph = reportmod.fitting_graph(summary, plan, None)
    assert graph.depth is not None and len(graph.nodes) <= 30
    assert len(reportmod.build_graph(summary, plan, depth=graph.depth + 1).nodes) > 30


def test_table_folds_to_fit(monkeypatch):
    monkeypatch.setattr(reportmod, "MAX_REPORT_ROWS", 20)
    summary = nnshape.summarize(EXAMPLES / "resnet18.nn")
    depth = reportmod.table_depth(summary)
    rows = reportmod.table_rows(summary, depth)
    assert 0 < len(rows) <= 20
    assert len([r for r in summary.layers if r.depth <= depth + 1]) > 20


# ---------------------------------------------------------------------- diff --format html
@needs_dot
def test_diff_html_marks_what_changed(tmp_path):
    new = tmp_path / "new.nn"
    new.write_text((EXAMPLES / "lenet5.nn").read_text().replace("linear 84", "linear 96").replace("avgpool2d 2", "maxpool2d 2", 1))
    result = invoke("diff", EXAMPLES / "lenet5.nn", new, "--format", "html")
    assert result.exit_code == 0, result.output
    text = result.stdout
    page = Page(text)
    assert external_references(page) == []
    assert 'id="diagram-old"' in text and 'id="diagram-new"' in text
    assert text.count('class="st-changed"') >= 2 and 'class="st-added"' in text and 'class="st-removed"' in text
    assert 'class="st-unchanged"' not in text  # only with --all
    assert dotmod.STATUS_COLOR["changed"] in text and dotmod.STATUS_COLOR["added"] in text and dotmod.STATUS_COLOR["removed"] in text
    assert len([b for a, b in page.scripts if a.get("type") != "application/json"]) == 1  # no plotly: no charts
    result = invoke("diff", EXAMPLES / "lenet5.nn", new, "--format", "html", "--all")
    assert 'class="st-unchanged"' in result.stdout


def test_diff_html_without_dot_exits_3(monkeypatch):
    monkeypatch.setattr(dotmod, "find_dot", lambda: None)
    result = invoke("diff", EXAMPLES / "lenet5.nn", EXAMPLES / "lenet5.nn", "--format", "html")
    assert result.exit_code == 3 and "graphviz" in result.stderr.lower()


def test_plotly_missing_is_E0624(monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    with pytest.raises(reportmod.PlotlyMissingError) as info:
        reportmod.plotly_js()
    assert info.value.code == "E0624" and "pip install plotly" in info.value.hint
