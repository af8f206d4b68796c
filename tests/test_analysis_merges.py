"""nnshape.analysis.merges and merge_rules: the `matmul:` block against torch.matmul (shapes,
broadcasting, MACs as FlopCounterMode counts them, what autograd saves), and its errors."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.analysis import merge_rules
from nnshape.errors import NNShapeError
from nnshape.source import Span
from nnshape.tensor import TensorInfo


def rule(a: tuple, b: tuple):
    return merge_rules.matmul([(TensorInfo(a, "float32"), Span(1, 1)), (TensorInfo(b, "float32"), Span(2, 1))], Span(1, 1))


SHAPES = [
    ((2, 5, 4), (2, 4, 3)), ((2, 3, 5, 4), (2, 3, 4, 6)), ((2, 3, 5, 4), (2, 1, 4, 6)), ((2, 3, 5, 4), (1, 1, 4, 6)),
    ((1, 5, 4), (2, 4, 3)), ((2, 5, 4), (1, 4, 3)), ((2, 2, 5, 4), (1, 2, 4, 3)), ((1, 2, 5, 4), (2, 1, 4, 3)),
    ((2, 3, 5, 4), (3, 4, 6)), ((2, 5, 4), (4, 3)), ((2, 4), (4, 3)), ((3, 4), (4,)), ((4,), (2, 4, 3)),
]


@pytest.mark.parametrize("a,b", SHAPES, ids=[f"{a}@{b}" for a, b in SHAPES])
def test_rule_against_torch_matmul(a, b):
    """Shape, MACs (FlopCounterMode FLOPs / 2) and the bytes saved for backward."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    info, macs, copies = rule(a, b)
    x = torch.randn(*a, requires_grad=True) * 1
    y = torch.randn(*b, requires_grad=True) * 1
    saved: dict[int, int] = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with FlopCounterMode(display=False) as counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = torch.matmul(x, y)
    assert tuple(out.shape) == info.shape
    if len(a) >= 2 and len(b) >= 2:  # what a spec can make (the batch dim is always there)
        assert counter.get_total_flops() == 2 * macs
        expected = sum(4 * (c if c is not None else t.numel()) for c, t in zip(copies, (x, y)))
        assert sum(saved.values()) == expected


def test_matmul_block_against_torch_and_the_memory_rule():
    pytest.importorskip("torch")
    from nnshape.verifier import verify

    text = "input 10x16\nmatmul:\n    branch: linear 16 bias=false\n    branch:\n        linear 16 bias=false\n        transpose -2 -1\nsoftmax dim=-1\n"
    s = nnshape.summarize(text, batch=2)
    assert s.output_shape == (2, 10, 10)
    assert s.layers[0].macs == 2 * (10 * 16 * 16) * 2 + 2 * 10 * 10 * 16  # two projections + QKᵀ
    product = next(r for r in s.layers if r.kind == "matmul" and not r.is_block)
    assert (product.path, product.macs, product.input_shapes) == ("0.2", 2 * 10 * 10 * 16, ((2, 10, 16), (2, 16, 10)))
    assert sum(r.macs * r.repeat for r in s.layers if not r.is_block) == s.total_macs  # rows add up (json-schema.md)
    report = verify(text, device="cpu", batch=2, train_step=True)
    assert report.ok
    assert report.train_step.saved_for_backward_bytes == report.train_step.analytic_saved_bytes


def test_attention_written_with_two_matmuls_counts_as_the_attention_kind():
    """softmax(Q Kᵀ / √d) V by hand: the MACs of QKᵀ and AV are the attention kind's."""
    by_hand = """\
input 12x32
matmul:
    branch:
        matmul:
            branch: linear 32 bias=false
            branch:
                linear 32 bias=false
                transpose -2 -1
        softmax dim=-1
    branch: linear 32 bias=false
linear 32 bias=false
"""
    kind = nnshape.summarize("input 12x32\nattention heads=1 bias=false\n")
    hand = nnshape.summarize(by_hand)
    assert hand.total_macs == kind.total_macs and hand.total_params == kind.total_params


@pytest.mark.parametrize("text,code", [
    ("input 6x8\nmatmul:\n    branch: linear 4\n    branch: linear 4\n", "E0461"),
    ("input 2x6x8\nmatmul:\n    branch: identity\n    branch:\n        pad (0, 0, 0, 0, 0, 1)\n        transpose -2 -1\n", "E0461"),
    ("input 10x8\nmatmul:\n    branch: identity\n", "E0153"),
    ("input 10x8\nmatmul:\n    branch: identity\n    branch: identity\n    branch: identity\n", "E0153"),
    ("input ids 8 dtype=int64\nmatmul:\n    branch: identity\n    branch: identity\n", "E0461"),
])
def test_matmul_errors(text, code):
    with pytest.raises(NNShapeError) as info:
        nnshape.summarize(text)
    assert info.value.code == code


def test_broadcast_batch_dims():
    s = nnshape.summarize("input 3x5x4\nmatmul:\n    branch: identity\n    branch:\n        mean 1 keepdim=true\n        transpose -2 -1\n")
    assert s.output_shape == (1, 3, 5, 5)


def test_symbolic_sizes():
    s = nnshape.summarize("input (L, 8)\nmatmul:\n    branch: identity\n    branch:\n        transpose -2 -1\n")
    assert str(s.output_shape[1]) == "L" and str(s.total_macs) == "8·L^2"
