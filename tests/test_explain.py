"""Worked formulas (`Kind.explain`, `nnshape explain`, `summary --explain`).

The pinned numbers come from PyTorch (the output sizes, parameter counts and unread rows are
checked against torch modules here) or from the issue's worked conv example."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import nnshape
from nnshape import registry
from nnshape.cli import main
from tests.oracle import example_source

torch = pytest.importorskip("torch")


def explained(text: str, batch: int = 1):
    from nnshape.analysis import analyze
    from nnshape.parser import parse
    from nnshape.source import Source

    source = Source("<test>", text)
    return analyze(parse(source), source, batch=batch, explain=True)


def lines_of(text: str, index: int = 0, batch: int = 1) -> tuple[str, ...]:
    return explained(text, batch).leaves[index].explain


def test_conv_worked_example_from_the_issue() -> None:
    lines = lines_of("input 3x224x224\nconv2d 64 k=7 s=2 p=3 bias=false\n")
    assert lines == (
        "H_out = ⌊(224 + 2·3 − 1·(7−1) − 1) / 2⌋ + 1 = 112",
        "W_out = ⌊(224 + 2·3 − 1·(7−1) − 1) / 2⌋ + 1 = 112",
        "params = 64·3·7·7 + 0 = 9,408",
        "MACs = 64·112·112 · 3·7·7 = 118,013,952",
    )
    conv = torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False)
    assert sum(p.numel() for p in conv.parameters()) == 9408
    assert conv(torch.zeros(1, 3, 224, 224)).shape[-1] == 112


def test_pooling_floor_drops_a_row_and_torch_never_reads_it() -> None:
    lines = lines_of("input 1x7x6\navgpool2d 2\n")
    assert lines[0] == "H_out = ⌊(7 + 2·0 − 1·(2−1) − 1) / 2⌋ + 1 = 3 (3.5 → 3: 1 input row (the last) is never read)"
    assert lines[1] == "W_out = ⌊(6 + 2·0 − 1·(2−1) − 1) / 2⌋ + 1 = 3"
    assert lines[-2:] == ("params = 0", "MACs = 0")
    x = torch.ones(1, 1, 7, 6, requires_grad=True)
    torch.nn.AvgPool2d(2)(x).sum().backward()
    assert x.grad[0, 0, 6].abs().sum() == 0 and x.grad[0, 0, 5].abs().sum() > 0
    several = lines_of("input 1x12\nmaxpool1d 3 s=4\n")
    assert several[0].endswith("(3.25 → 3: 1 input row (the last) is never read)")
    ceil = lines_of("input 3x5x5\nmaxpool2d 2 s=2 p=1 ceil=true\n")
    assert ceil[0] == "H_out = ⌈(5 + 2·1 − 1·(2−1) − 1) / 2⌉ + 1 = 4 → 3 (the last window would start in the right padding)"
    assert torch.nn.MaxPool2d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 3, 5, 5)).shape[-1] == 3


def test_linear() -> None:
    assert lines_of("input 16\nlinear 8\n") == (
        "shape: 1×16 → 1×8 (last dim 16 → 8, y = x·Wᵀ + b)",
        "params = 16·8 + 8 = 136",
        "MACs = 16·8 = 128",
    )
    assert lines_of("input 5x12\nlinear 7 bias=false\n", batch=2)[1:] == ("params = 12·7 + 0 = 84", "MACs = 2·5 · 12·7 = 840")


def test_attention_scale_and_score_shape() -> None:
    lines = lines_of("input 10x16\nmha 4\n")
    assert "head_dim = D / H = 16 / 4 = 4" in lines
    assert "d_k = head_dim = 4; scale = 1/√d_k = 1/√4 = 0.5" in lines
    assert "scores = softmax(Q·Kᵀ · 1/√4): N×H×Lq×Lk = 1×4×10×10 (10×10 per head)" in lines
    assert lines[-2] == "params = 16·16 (W_q) + 2·16·16 (W_k, W_v) + 16·16 (W_o) + 4·16 (biases) = 1,088"
    assert sum(p.numel() for p in torch.nn.MultiheadAttention(16, 4).parameters()) == 1088


def test_lstm_gates() -> None:
    lines = lines_of("input 5x10\nlstm 20\n")
    assert lines[0] == "gates: 4 (input, forget, cell, output) × H = 4·20 = 80 rows in W_ih and W_hh"
    assert lines[-2] == "params = 80·10 + 80·20 + 2·80 = 2,560"
    assert lines[-1] == "MACs = N·L · (80·10 + 80·20) = 1·5 · (80·10 + 80·20) = 12,000"
    assert sum(p.numel() for p in torch.nn.LSTM(10, 20).parameters()) == 2560
    gru = lines_of("input 5x10\ngru 8\n")
    assert gru[0] == "gates: 3 (reset, update, new) × H = 3·8 = 24 rows in W_ih and W_hh"


def test_batchnorm_and_layernorm() -> None:
    bn = lines_of("input 64x8x8\nbatchnorm2d\n")
    assert bn[1:] == (
        "params = 2·C = 2·64 = 128 (γ weight, β bias)",
        "buffers = 2·C + 1 = 2·64 + 1 = 129 (running_mean, running_var, num_batches_tracked)",
        "MACs = 0",
    )
    m = torch.nn.BatchNorm2d(64)
    assert sum(p.numel() for p in m.parameters()) == 128 and sum(b.numel() for b in m.buffers()) == 129
    ln = lines_of("input 10x32\nlayernorm\n")
    assert ln[1:] == ("params = 2·32 = 64 (γ weight, β bias)", "MACs = 0")
    assert lines_of("input 10x32\nlayernorm bias=false\n")[1] == "params = 1·32 = 32 (γ weight, bias=false)"


def _final(lines: tuple[str, ...], key: str) -> int | None:
    found = [line for line in lines if line.startswith(f"{key} = ")]
    assert len(found) == 1, (key, lines)
    value = found[0].rsplit("= ", 1)[1].split(" ", 1)[0].replace(",", "")
    return int(value) if value.lstrip("-").isdigit() else None


@pytest.mark.parametrize("kind", registry.all_kinds(), ids=lambda k: k.name)
def test_every_explanation_agrees_with_the_summary(kind) -> None:
    """For every example of every kind, at batch 1 and 3: the final `= N` of the params and MACs
    lines (and buffers, when shown) is the row's own value."""
    for example in kind.examples:
        text = example_source(example) if "|" in example and "\n" not in example else example
        for batch in (1, 3):
            for row in explained(text, batch).leaves:
                assert row.explain, row.label
                assert _final(row.explain, "params") == row.params, (example, row.explain)
                assert _final(row.explain, "MACs") == row.macs, (example, row.explain)
                buffers = [line for line in row.explain if line.startswith("buffers = ")]
                if buffers:
                    assert _final(row.explain, "buffers") == row.buffers


def test_explain_is_off_by_default() -> None:
    assert all(row.explain == () for row in nnshape.summarize("input 3x8x8\nconv 4 k3\n").layers)


def test_cli_explain_and_line(tmp_path) -> None:
    spec = tmp_path / "net.nn"
    spec.write_text("input 3x224x224\nconv2d 64 k=7 s=2 p=3 bias=false\nrelu\nmaxpool 3 s=2 p=1\n")
    runner = CliRunner()
    out = runner.invoke(main, ["explain", str(spec)])
    assert out.exit_code == 0, out.output
    assert "MACs = 64·112·112 · 3·7·7 = 118,013,952" in out.output and "maxpool" in out.output
    only = runner.invoke(main, ["explain", str(spec), "--line", "4"])
    assert only.exit_code == 0 and "maxpool" in only.output and "conv2d" not in only.output
    missing = runner.invoke(main, ["explain", str(spec), "--line", "1"])
    assert missing.exit_code == 2 and "no layer on line 1" in missing.output
    summary = runner.invoke(main, ["summary", str(spec), "--explain", "-c", "rf"])
    assert summary.exit_code == 0 and "Worked formulas" in summary.output and "11/4/-5" in summary.output
    data = runner.invoke(main, ["summary", str(spec), "--explain", "-f", "json"])
    assert re.search(r'"explain": \[\s*"H_out = ', data.output)


def test_explain_block_line_brings_its_layers(tmp_path) -> None:
    spec = tmp_path / "net.nn"
    spec.write_text("input 8x8x8\nresidual:\n  conv 8 k3 p1\n  relu\n")
    out = CliRunner().invoke(main, ["explain", str(spec), "--line", "2"])
    assert out.exit_code == 0 and "conv 8" in out.output and "relu" in out.output


def test_merges_are_explained_after_their_branches():
    """concat, add, multiply and residual rows get formulas too; their `params = … = N` and
    `MACs = … = N` end in the row's values (the branches' totals), like every explanation."""
    import nnshape
    from nnshape.render.explain import explain_text, explained_rows

    spec = (
        "input 3x8x8\nconcat:\n    branch:\n        conv2d 4 k1\n    branch:\n        conv2d 4 k3 p1\n"
        "residual:\n    conv2d 8 k1\nadd:\n    branch:\n        identity\n    branch:\n        gap\n"
    )
    s = nnshape.summarize(spec, explain=True)
    rows = explained_rows(s)
    kinds = [r.kind for r in rows]
    assert kinds == ["conv2d", "conv2d", "concat", "conv2d", "residual", "identity", "gap", "add"]
    concat = next(r for r in rows if r.kind == "concat")
    assert concat.explain[0] == "concat along dim 1: 4 + 4 = 8 → 1×8×8×8"
    assert concat.explain[-2] == f"params = 16 + 112 = {concat.params:,} (the branches')"
    assert concat.explain[-1].startswith(f"MACs = 768 + 6,912 = {concat.macs:,} ")
    add = next(r for r in rows if r.kind == "add")
    assert add.explain[0] == "add: 1×8×8×8 + 1×8×1×1 → 1×8×8×8 (element by element, PyTorch broadcasting)"
    assert "512 element-wise additions" in add.explain[-1]
    residual = next(r for r in rows if r.kind == "residual")
    assert residual.explain[0] == "residual: body 1×8×8×8 + input 1×8×8×8 → 1×8×8×8 (equal shapes)"
    text = explain_text(s)
    assert text.index("0.1.0  conv2d") < text.index("0  concat  (line 2)")  # the merge comes after its branches
    import re

    for row in rows:  # `params = … N` and `MACs = … N` (then an optional remark in brackets)
        assert re.fullmatch(rf"params = (.* = )?{row.params:,}( \(.*\))?", row.explain[-2]), row.explain[-2]
        assert re.fullmatch(rf"MACs = (.* = )?{row.macs:,}( \(.*\))?", row.explain[-1]), row.explain[-1]


def test_symbolic_numbers_in_explanations_have_separators():
    lines = lines_of("input (L, 768)\nlinear 3072\n")
    assert lines[-1] == "MACs = L · 768·3072 = 2,359,296·L"
