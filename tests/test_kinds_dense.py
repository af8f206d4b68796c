"""nnshape/kinds/dense.py: the linear layer's warning W0421 (a linear fed straight from a conv or pool
acts on the map's last dim): where it warns, where it must not (sequences, channels-last maps), and
that the examples stay free of it. Shapes and counts are tests/test_registry.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

import nnshape


def warnings(text: str) -> list[str]:
    return [w.code for w in nnshape.summarize(text).warnings]


NO_WARNING = [
    "input 197x768\nlayernorm\nlinear 3072\ngelu\nlinear 768\n",  # a ViT block's MLP on a sequence
    "input 3x224x224\nconv 96 k4 s4\npermute 0 2 3 1\nlayernorm\nlinear 384\ngelu\nlinear 96\n",  # ConvNeXt
    "input 56x56x96\nlayernorm\nroll (-3, -3) (1, 2)\nlinear 288\n",  # Swin (channels last)
    "input 3x32x32\nconv 16 k3\nflatten\nlinear 10\n",
    "input 3x32x32\nconv 16 k3\ngap\nflatten\nlinear 10\n",
    "input 768x7x7\nmean (2, 3)\nlayernorm\nlinear 1000\n",
    "input 3x32x32\nconv 16 k1\nlinear 10\n",  # a 1×1 conv leaves no trace in the field: not flagged
    "input 16x100\nconv1d 32 k3\ntranspose 1 2\nlinear 8\n",
]
WARNING = [
    "input 3x32x32\nconv 16 k3 p1\nrelu\nlinear 10\n",
    "input 3x32x32\nconv 16 k3\nmaxpool 2\nbn\nlinear 10\n",
    "input 3x32x32\nconv 16 k3\ngap\nlinear 10\n",  # gap keeps N×C×1×1
    "input 16x100\nconv1d 32 k3\nlinear 8\n",
    "input 3x8x16x16\nconv3d 4 k3\nlinear 2\n",
]


@pytest.mark.parametrize("text", NO_WARNING)
def test_linear_on_sequences_and_channels_last_does_not_warn(text):
    assert "W0421" not in warnings(text)


@pytest.mark.parametrize("text", WARNING)
def test_linear_on_a_conv_map_warns(text):
    s = nnshape.summarize(text)
    (w,) = [w for w in s.warnings if w.code == "W0421"]
    assert w.line == text.count("\n") and "flatten" in w.hint
    assert s.output_shape[-1] in (10, 8, 2)  # the numbers are still PyTorch's


def test_linear_warning_follows_the_input_not_the_shared_inference():
    # two linears with equal arguments on equal shapes share one inference; only the second input is a map
    text = "input a 16x8x8\ninput b 16x8x8\nfrom a:\n    linear 4\nfrom b:\n    conv 16 k3 p1\n    linear 4\n"
    assert [(w.code, w.line) for w in nnshape.summarize(text).warnings] == [("W0421", 7)]


def test_examples_stay_warning_free():
    for spec in sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.nn")):
        assert "W0421" not in warnings(spec.read_text()), spec.name
