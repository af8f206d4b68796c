"""nnshape/kinds/tensorops.py: slice, pad, squeeze, unsqueeze, roll, pixelshuffle, pixelunshuffle and
channelshuffle beyond tests/test_registry.py's shape, params, buffers, dtype and MACs: what autograd
saves and which outputs are views (against torch's saved_tensors_hooks), the receptive field
(against torch gradients), errors and warnings with their places and hints, symbolic sizes, labels."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.registry import Field

from oracle import check_label_is_spec_text, check_saved_alone, kind_cases

CASES = kind_cases("slice", "pad", "squeeze", "unsqueeze", "roll", "pixelshuffle", "pixelunshuffle", "channelshuffle")


def fails(text: str, code: str) -> nnshape.NNShapeError:
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.summarize(text)
    assert info.value.code == code, str(info.value)
    return info.value


def warnings(text: str) -> list[str]:
    return [w.code for w in nnshape.summarize(text).warnings]


# ------------------------------------------------------------------ memory against torch


@pytest.mark.parametrize("name,example", CASES, ids=[f"{k}:{e}" for k, e in CASES])
def test_saved_for_backward_and_views_match_torch(name, example):
    pytest.importorskip("torch")
    check_saved_alone(example, name)


@pytest.mark.parametrize("name,example", [c for c in CASES if "|" in c[1]], ids=[f"{k}:{e}" for k, e in CASES if "|" in e])
def test_row_labels_are_spec_text(name, example):
    check_label_is_spec_text(example)


NETWORKS = [
    # ShuffleNet-V2 unit: channel split, branch, shuffle
    "input 116x28x28\nconcat:\n    branch:\n        slice 1 0 58\n    branch:\n        slice 1 58\n        conv 58 k1 bias=false\n"
    "        bn\n        relu\n        conv 58 k3 p1 groups=58 bias=false\n        bn\n        conv 58 k1 bias=false\n        relu\n"
    "channelshuffle 2\n",
    # AlexNet's first block with local response normalization
    "input 3x63x63\nconv 16 k11 s4\nrelu\nlrn 5 k=2\nmaxpool 3 s2\n",
    # sub-pixel upsampling, reflect padding, reductions
    "input 3x16x16\nconv 12 k3 p1\npad (1, 1, 2, 2) reflect\nquickgelu\npixelshuffle 2\npad (1, 0, 1, 0) replicate\n"
    "conv 4 k3\namax (2, 3) keepdim=true\nsqueeze (2, 3)\nunsqueeze 1\nsum 1\n",
    "input 8x8x32\nlayernorm\nroll (-2, -2) (1, 2)\nslice 1 0 none 2\nslice 2 1 none 2\nquickgelu\nlinear 16\npixelunshuffle 1\nmean -1\n",
]


@pytest.mark.parametrize("text", NETWORKS)
def test_networks_saved_for_backward_exact(text):
    """Whole networks (the verifier's train step): nnshape's estimate is torch's measurement, byte for byte."""
    pytest.importorskip("torch")
    from nnshape.verifier import verify

    report = verify(text, device="cpu", train_step=True, batch=2)
    assert report.ok, report
    step = report.train_step
    assert step.analytic_saved_bytes == step.saved_for_backward_bytes


# ------------------------------------------------------------------ receptive field against torch


def _model_and_field(text: str):
    """The spec's last receptive field, and its twin network built by the verifier (weights 1, no bias)."""
    torch = pytest.importorskip("torch")
    from nnshape.verifier import analyze_spec
    from nnshape.verifier.builder import build

    summary, plan = analyze_spec(text)
    model = build(summary, plan, device=torch.device("cpu")).model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    return summary.layers[-1].receptive_field, model, summary


@pytest.mark.parametrize(
    "text",
    [
        "input 1x20x24\npad (1, 2, 3, 0)\nconv 1 k3 bias=false\n",
        "input 1x20x24\nconv 1 k3 bias=false\nslice 2 1 none 2\nslice 3 2 none 3\nconv 1 k=(2, 3) bias=false\n",
        "input 1x16x16\nconv 1 k3 p1 bias=false\npixelunshuffle 2\nconv 1 k3 bias=false\n",
        "input 1x20x20\npad (-2, 0, 0, -1)\nconv 1 k3 s2 bias=false\nchannelshuffle 1\nlrn 3\nquickgelu\n",
        "input 1x20x20\npad (2, 2, 2, 2) reflect\nconv 1 k3 bias=false\nroll 1 1\nmean 1 true\nslice -1 -10\n",
    ],
)
def test_receptive_field_matches_gradients(text):
    """Interior outputs: the gradient reaches exactly the predicted window's ends (all weights 1, input ones)."""
    torch = pytest.importorskip("torch")
    field, model, summary = _model_and_field(text)
    assert isinstance(field, tuple), field
    sizes = summary.inputs[0].shape[2:]
    x = torch.ones((1, 1, *sizes), dtype=torch.float64, requires_grad=True)
    y = model(x)
    for pos in [tuple(n // 2 for n in y.shape[2:]), tuple(max(n - 2, 0) for n in y.shape[2:])]:
        x.grad = None
        y[(0, 0) + pos].backward(retain_graph=True)
        grad = x.grad[0, 0]
        for axis, (f, o, n) in enumerate(zip(field, pos, sizes)):
            lo, hi = f.start + o * f.jump, f.start + o * f.jump + f.size - 1
            other = tuple(i for i in range(grad.dim()) if i != axis)
            hit = (grad.abs().sum(dim=other) > 0).nonzero().flatten().tolist()
            if 0 <= lo and hi < n:  # a window inside the input: exact ends
                assert (hit[0], hit[-1]) == (lo, hi), (text, axis, pos, f)
            else:  # reaching into padding: the field is an upper bound
                assert set(hit) <= set(range(lo, hi + 1)), (text, axis, pos, f)


def test_receptive_field_rules():
    def fields(text):
        return [row.receptive_field for row in nnshape.summarize(text).layers]

    base = "input 3x16x16\nconv 8 k3\n"
    assert fields(base + "roll 3 1\n")[-1] == (Field(3, 1, 0),) * 2  # channels only
    assert fields(base + "roll 3 2\n")[-1] is None  # positions wrap around
    assert fields(base + "roll 14 2\n")[-1] == (Field(3, 1, 0),) * 2  # a full turn
    assert fields(base + "pixelshuffle 2\n")[-1] is None
    assert fields(base + "slice 1 0 4\n")[-1] == (Field(3, 1, 0),) * 2
    assert fields(base + "slice -1 1 none 2\n")[-1] == (Field(3, 1, 0), Field(3, 2, 1))
    assert fields(base + "pad (1, 0, 0, 0, 0, 1)\n")[-1] == (Field(3, 1, 0), Field(3, 1, -1))
    assert fields(base + "squeeze\n")[-1] == (Field(3, 1, 0),) * 2  # nothing squeezed (and W0422)
    assert fields(base + "unsqueeze 1\n")[-1] is None


# ------------------------------------------------------------------ shapes and arguments


def test_slice_is_python_slicing():
    for size in (7, 8):
        for start in (-9, -3, 0, 2, 5):
            for end in (None, -2, 3, 6, 12):
                for step in (1, 2, 3):
                    count = len(range(size)[start:end:step])
                    text = f"input {size}x4\nslice 1 {start} {'none' if end is None else end} {step}\n"
                    if count == 0:
                        fails(text, "E0421")
                    else:
                        assert nnshape.summarize(text).output_shape == (1, count, 4)


def test_slice_on_a_symbolic_size():
    s = nnshape.summarize("input (L, 64)\nslice 1 1\n")
    assert str(s.output_shape[1]) == "L - 1"
    assert nnshape.summarize("input (L, 64)\nslice 1 1\n", bindings={"L": 9}).output_shape == (1, 8, 64)
    err = fails("input (L, 64)\nslice 1 0 none 2\n", "E0404")
    assert "--set L=" in err.hint
    assert nnshape.summarize("input (L, 64)\nslice 2 0 32\n").output_shape[2] == 32


def test_pad_rules():
    assert nnshape.summarize("input 3x8x8\npad (1, 2)\n").output_shape == (1, 3, 8, 11)
    assert nnshape.summarize("input 3x8x8\npad (1, 2, 3, 4, 5, 6)\n").output_shape == (1, 14, 15, 11)
    assert nnshape.summarize("input 3x8x8\npad 1x1x1x1 replicate\n").output_shape == (1, 3, 10, 10)
    assert nnshape.summarize("input 3x8\npad (1, 1, 2, 2) reflect\n").output_shape == (1, 7, 10)  # C×L as an unbatched image
    assert nnshape.summarize("input 3x8x8\npad (-3, -4)\n").output_shape == (1, 3, 8, 1)
    assert nnshape.summarize("input (L, 8)\npad (0, 0, 1, 1) replicate\n").output_shape[1].__str__() == "L + 2"
    fails("input 3x8x8\npad (1, 1, 1)\n", "E0422")
    fails("input 3x8x8\npad (1, 1, 1, 1, 1, 1, 1, 1, 1, 1)\n", "E0422")
    fails("input 3x8x8\npad (1, 1) reflect\n", "E0422")  # 1 pair needs a 2-D or 3-D input
    fails("input 3x8x8x8\npad (1, 1, 1, 1) circular\n", "E0422")
    fails("input 3x8x8\npad (-4, -4)\n", "E0422")
    err = fails("input 3x8x8\npad (1, 1, 1, 1, 1, 1, 1, 1)\n", "E0417")
    assert "pad" in err.message
    fails("input 3x8x8\npad (8, 0, 0, 0) reflect\n", "E0423")
    assert nnshape.summarize("input 3x8x8\npad (7, 0, 0, 0) reflect\n").output_shape == (1, 3, 8, 15)
    fails("input 3x8x8\npad (9, 0, 0, 0) circular\n", "E0423")
    assert nnshape.summarize("input 3x8x8\npad (8, 8, 0, 0) circular\n").output_shape == (1, 3, 8, 24)
    assert nnshape.summarize("input 3x8x8\npad (80, 80, 0, 0) replicate\n").output_shape == (1, 3, 8, 168)
    err = fails("input 3x8x8\npad (1, 1, 1, 1) reflect value=2\n", "E0303")
    assert err.col == len("pad (1, 1, 1, 1) reflect value=") + 1
    fails("input 3x8x8\npad (1, 1) mode=mirror\n", "E0303")


def test_pad_matches_torch_on_every_rank_and_mode():
    """Which (mode, pairs, rank) combinations PyTorch accepts, and the shapes it gives."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for mode in ("constant", "reflect", "replicate", "circular"):
        for rank in (2, 3, 4, 5):
            for pairs in (1, 2, 3, 4):
                shape = (2, 3, 4, 5, 6)[:rank]
                pad = (1, 2) * pairs
                text = f"input {'x'.join(map(str, shape[1:]))}\npad {pad} {mode}\n"
                try:
                    want = tuple(F.pad(torch.zeros(shape), pad, mode=mode).shape)
                except (RuntimeError, NotImplementedError):
                    want = None
                try:
                    got = nnshape.summarize(text, batch=2).output_shape
                except nnshape.NNShapeError as err:
                    assert err.code in ("E0422", "E0417", "E0423"), str(err)
                    got = None
                if pairs == rank and want is not None:  # torch pads the batch too; nnshape refuses
                    assert got is None
                    continue
                assert got == want, (mode, rank, pairs)


def test_squeeze_and_unsqueeze():
    assert nnshape.summarize("input 64x1x1\nsqueeze\n").output_shape == (1, 64)  # batch 1 stays
    assert nnshape.summarize("input 64x1x1\nsqueeze\n", batch=1).layers[0].output_shape == (1, 64)
    assert nnshape.summarize("input 1x5x1\nsqueeze -1\n").output_shape == (1, 1, 5)
    assert warnings("input 64x7x7\nsqueeze 2\n") == ["W0422"]
    assert warnings("input 64x7x7\nsqueeze\n") == ["W0422"]
    fails("input 64x1x1\nsqueeze 0\n", "E0417")
    fails("input 64x1x1\nsqueeze 4\n", "E0403")
    fails("input 64x1x1\nsqueeze (2, -2)\n", "E0303")  # the same dim twice
    fails("input (L, 4)\nsqueeze 1\n", "E0404")
    assert nnshape.summarize("input 64\nunsqueeze -1\n").output_shape == (1, 64, 1)
    assert nnshape.summarize("input 64\nunsqueeze 2\n").output_shape == (1, 64, 1)
    assert nnshape.summarize("input 64\nunsqueeze -2\n").output_shape == (1, 1, 64)
    fails("input 64\nunsqueeze 0\n", "E0417")
    fails("input 64\nunsqueeze -3\n", "E0417")  # -3 of a new 3-D tensor is dim 0
    fails("input 64\nunsqueeze 3\n", "E0403")


def test_roll_errors():
    err = fails("input 3x8x8\nroll 2\n", "E0417")
    assert "roll 2 -1" in err.hint
    fails("input 3x8x8\nroll 2 0\n", "E0417")
    fails("input 3x8x8\nroll (1, 2) 2\n", "E0303")
    fails("input 3x8x8\nroll 1 4\n", "E0403")


def test_shuffles():
    fails("input 12x8x8\npixelshuffle 3\n", "E0407")
    err = fails("input 3x9x8\npixelunshuffle 3\n", "E0407")
    assert "W 8" in err.message
    fails("input 10x4x4\nchannelshuffle 3\n", "E0407")
    err = fails("input 16x8\npixelshuffle 2\n", "E0402")
    assert err.hint and "N×C×H×W" in err.hint
    fails("input 16\nchannelshuffle 2\n", "E0402")
    assert nnshape.summarize("input 4x36x5x7\npixelshuffle 3\n").output_shape == (1, 4, 4, 15, 21)
    assert str(nnshape.summarize("input (C, 8, 8)\npixelunshuffle 2\n").output_shape[1]) == "4·C"
    fails("input (C, 8, 8)\nchannelshuffle 2\n", "E0404")


def test_labels_and_explain():
    from nnshape.analysis import analyze
    from nnshape.parser import parse
    from nnshape.source import Source

    text = "input 3x8x8\npad (1, 2, 0, -1) reflect\nslice -1 1 none 2\npixelshuffle 1\nmean (2, 3)\n"
    source = Source("<t>", text)
    rows = analyze(parse(source), source, explain=True).layers
    assert rows[0].explain[:2] == ("dim 3: 8 + 1 + 2 = 11", "dim 2: 8 + 0 − 1 = 7")
    assert rows[1].explain[0] == "dim 3: positions 1, 1 + 2, … of 11 → 5 (a view, no copy)"
    assert rows[3].explain[0] == "mean over dims 2, 3 (7·5 values each), removed"
