"""`nnshape export`: the written file imports only torch and rebuilds the same network."""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
EXAMPLES = Path(__file__).parent.parent / "examples"
EXPORTABLE = ["lenet5", "alexnet", "vgg16", "resnet18", "resnet50", "googlenet", "lstm", "transformer", "seed_fc"]


def load(path: Path):
    """Run the exported file in a fresh namespace; it may import nothing but torch."""
    text = path.read_text()
    imports = {line.split()[1] for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"torch"}, imports
    return runpy.run_path(str(path))


@pytest.mark.parametrize("name", EXPORTABLE)
def test_exported_examples_match_the_summary(name, tmp_path):
    import torch

    spec = EXAMPLES / f"{name}.nn"
    out = tmp_path / f"{name}.py"
    result = CliRunner().invoke(main, ["export", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = nnshape.summarize(str(spec))
    with torch.device("meta"):
        model = load(out)["Model"]()
    assert sum(p.numel() for p in model.parameters()) == summary.total_params
    assert sum(b.numel() for b in model.buffers()) == summary.total_buffers
    rows = {row.path for row in summary.layers}
    assert rows <= {n for n, _ in model.named_modules()}, "submodule names follow the summary's rows"
    inputs = [torch.zeros(tuple(i.shape), dtype=getattr(torch, i.dtype), device="meta") for i in summary.inputs]
    model.eval()
    assert tuple(model(*inputs).shape) == tuple(summary.output_shape)


def test_exported_small_network_runs_for_real(tmp_path):
    import torch

    spec = tmp_path / "net.nn"
    spec.write_text("input 3x8x8\nconv2d 4 k3 name=stem\nresidual:\n    conv2d 4 k3 p1\n    relu\nconcat:\n    branch:\n        identity\n    branch:\n        maxpool2d 3 s1 p1\npermute 0 2 3 1\nflatten\nlinear 5 name=head\n")
    text = CliRunner().invoke(main, ["export", str(spec)]).output
    path = tmp_path / "model.py"
    path.write_text(text)
    model = load(path)["Model"]()
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)
    assert isinstance(model.head, torch.nn.Linear) and isinstance(model.stem, torch.nn.Conv2d)


def test_unsupported_kind_is_a_clear_error(tmp_path):
    spec = tmp_path / "net.nn"
    spec.write_text("input 4x8\nposemb 4\n")
    result = CliRunner().invoke(main, ["export", str(spec)])
    assert result.exit_code == 1 and "posemb" in result.output
