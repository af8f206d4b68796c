"""examples/mobilenet_v3_large.nn and examples/efficientnet_v2_s.nn are torchvision's networks:
recounted against torchvision's own models where torchvision is installed (CI has none: there the
numbers pinned in tests/test_examples.py stand, from the same count), and written with the
language's control (each under 60 lines that are not comments)."""

from __future__ import annotations

from pathlib import Path

import pytest

import nnshape

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MODELS = {"mobilenet_v3_large.nn": ("mobilenet_v3_large", 224), "efficientnet_v2_s.nn": ("efficientnet_v2_s", 384)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_short_and_written_with_the_new_constructs(name):
    text = (EXAMPLES / name).read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(lines) < 60
    for construct in ("if ", "in[1]", "def ", "act"):
        assert construct in text
    if name == "efficientnet_v2_s.nn":
        assert " as i:" in text


@pytest.mark.parametrize("name", sorted(MODELS))
def test_against_torchvision(name):
    torchvision = pytest.importorskip("torchvision")
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    factory, size = MODELS[name]
    model = getattr(torchvision.models, factory)().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.randn(1, 3, size, size))
    s = nnshape.summarize(EXAMPLES / name)
    assert s.output_shape == tuple(out.shape)
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert s.total_buffers == sum(b.numel() for b in model.buffers())
    assert 2 * s.total_macs == counter.get_total_flops()
