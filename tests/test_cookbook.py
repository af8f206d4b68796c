"""docs/cookbook.md: every recipe is exact against PyTorch (each row built as torch modules by
`nnshape verify`), and the blocks torchvision has give torchvision's numbers.

The torchvision numbers below were counted with torchvision 0.29.1 (torch 2.14.1) the way the
verifier counts (parameters and buffers of the module, FlopCounterMode FLOPs / 2 at batch 1);
``test_against_torchvision`` recounts them where torchvision is installed (not in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

import nnshape
from test_docs import _blocks

BLOCKS = [(line, code) for line, words, code, _ in _blocks("cookbook.md") if "error" not in words]


def test_the_cookbook_has_its_recipes():
    assert len(BLOCKS) == 8


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_recipe_against_torch(line, code):
    pytest.importorskip("torch")
    report = nnshape.verify(code, device="cpu")
    bad = [(c.path, c.label, c.mismatches, c.error) for c in report.layers if c.mismatches or c.error]
    assert report.ok, (line, bad, report.error)


# recipe (by its first words) -> (torchvision module, input shape, output shape, params, buffers, MACs)
TORCHVISION = {
    "def cna": ("mobilenet_v3 InvertedResidual ×5", (16, 112, 112), (1, 160, 7, 7), 454_032, 4_878, 62_144_864),
    "def unit": ("shufflenet_v2_x1_0().stage2", (24, 56, 56), (1, 116, 28, 28), 30_192, 1_570, 25_724_608),
    "let dim": ("convnext_tiny().features[1]", (96, 56, 56), (1, 96, 56, 56), 237_888, 0, 737_888_256),
    "def pick": ("PatchMerging(96)", (56, 56, 96), (1, 28, 28, 192), 74_496, 0, 57_802_752),
}


def _recipe(start: str) -> str:
    return next(code for _, code in BLOCKS if code.startswith(start))


@pytest.mark.parametrize("start", sorted(TORCHVISION))
def test_recipe_gives_torchvisions_numbers(start):
    _, _, shape, params, buffers, macs = TORCHVISION[start]
    s = nnshape.summarize(_recipe(start))
    assert (s.output_shape, s.total_params, s.total_buffers, s.total_macs) == (shape, params, buffers, macs)


def _torchvision_module(start: str):
    import torchvision
    from functools import partial
    from torch import nn

    if start == "def cna":
        from torchvision.models.mobilenetv3 import InvertedResidual, InvertedResidualConfig

        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        configs = [(16, 3, 16, 16, False, "RE", 1, 1), (16, 3, 64, 24, False, "RE", 2, 1), (24, 5, 72, 40, True, "RE", 2, 1),
                   (40, 3, 240, 80, False, "HS", 2, 1), (80, 5, 672, 160, True, "HS", 2, 1)]
        return nn.Sequential(*[InvertedResidual(InvertedResidualConfig(*c, width_mult=1.0), norm) for c in configs])
    if start == "def unit":
        return torchvision.models.shufflenet_v2_x1_0().stage2
    if start == "let dim":
        return torchvision.models.convnext_tiny().features[1]
    from torchvision.models.swin_transformer import PatchMerging

    return PatchMerging(96)


@pytest.mark.parametrize("start", sorted(TORCHVISION))
def test_against_torchvision(start):
    pytest.importorskip("torchvision")
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    _, shape, out, params, buffers, macs = TORCHVISION[start]
    module = _torchvision_module(start).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module(torch.randn(1, *shape))
    measured = (tuple(y.shape), sum(p.numel() for p in module.parameters()), sum(b.numel() for b in module.buffers()),
                counter.get_total_flops() // 2)
    assert measured == (out, params, buffers, macs)
