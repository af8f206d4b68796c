"""Receptive field (size, jump, start per spatial axis) against torch: the gradient of one output
position with respect to the input is non-zero exactly inside the predicted window.

Conv weights are all 1 and no bias, pools average, the input is all ones: every path
contributes a positive amount, so no gradient cancels. A dilated kernel, or a stride larger than
its kernel, leaves holes inside the window (the field is the span), so there only the window's
ends are exact. With padding the window is an upper bound: positions that fall in an inner
layer's padding read nothing, so the gradient stays inside the (clipped) window.
"""

from __future__ import annotations

import random

import pytest

import nnshape
from nnshape.registry import GLOBAL, Field

torch = pytest.importorskip("torch")


def _chain(rng: random.Random, ndim: int, padded: bool):
    """A random conv/avg-pool chain: (spec text, torch module, input size per axis, dense?)."""
    sizes = [rng.randint(20, 40) for _ in range(ndim)]
    lines, modules, dense = [f"input 1x{'x'.join(map(str, sizes))}"], [], True
    current = list(sizes)
    for _ in range(rng.randint(1, 4)):
        conv = rng.random() < 0.6
        k = tuple(rng.randint(1, 4) for _ in range(ndim))
        s = tuple(rng.randint(1, 3) for _ in range(ndim))
        d = tuple(rng.randint(1, 2) for _ in range(ndim)) if conv else (1,) * ndim
        p = tuple(rng.randint(0, kk // 2) for kk in k) if padded else (0,) * ndim
        outs = [(c + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for c, kk, ss, pp, dd in zip(current, k, s, p, d)]
        if min(c + 2 * pp - dd * (kk - 1) - 1 for c, kk, pp, dd in zip(current, k, p, d)) < 0:
            break
        current = outs
        dense = dense and all(dd == 1 for dd in d) and all(kk >= ss for kk, ss in zip(k, s))
        t = lambda v: "(" + ", ".join(map(str, v)) + ")" if ndim > 1 else str(v[0])  # noqa: E731
        if conv:
            lines.append(f"conv{ndim}d 1 k={t(k)} s={t(s)} p={t(p)} d={t(d)} bias=false")
            m = getattr(torch.nn, f"Conv{ndim}d")(1, 1, k, s, p, d, bias=False)
            with torch.no_grad():
                m.weight.fill_(1.0)
        else:
            lines.append(f"avgpool{ndim}d k={t(k)} s={t(s)} p={t(p)}")
            m = getattr(torch.nn, f"AvgPool{ndim}d")(k, s, p)
        modules.append(m)
    return "\n".join(lines) + "\n", torch.nn.Sequential(*modules), sizes, dense


def _check(text: str, model, sizes, dense: bool, rng: random.Random, padded: bool) -> None:
    summary = nnshape.summarize(text)
    field = summary.layers[-1].receptive_field if summary.layers else tuple(Field(1, 1, 0) for _ in sizes)
    assert isinstance(field, tuple) and len(field) == len(sizes)
    x = torch.ones((1, 1, *sizes), requires_grad=True)
    y = model(x)
    for _ in range(3):
        pos = tuple(rng.randrange(n) for n in y.shape[2:])
        x.grad = None
        y[(0, 0) + pos].backward(retain_graph=True)
        grad = x.grad[0, 0]
        for axis, (f, o, n) in enumerate(zip(field, pos, sizes)):
            lo, hi = f.start + o * f.jump, f.start + o * f.jump + f.size - 1
            other = tuple(i for i in range(grad.dim()) if i != axis)
            seen = (grad.abs().sum(dim=other) if other else grad.abs()) > 0
            hit = seen.nonzero().flatten().tolist()
            window = list(range(max(lo, 0), min(hi, n - 1) + 1))
            assert hit, (text, pos)
            if padded:
                assert set(hit) <= set(window), (text, axis, pos, f)
                continue
            assert (hit[0], hit[-1]) == (window[0], window[-1]), (text, axis, pos, f)
            if dense:
                assert hit == window, (text, axis, pos, f)


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("padded", [False, True])
def test_random_chains_match_torch_gradients(ndim: int, padded: bool) -> None:
    rng = random.Random(1000 * ndim + padded)
    for _ in range(25):
        text, model, sizes, dense = _chain(rng, ndim, padded)
        _check(text, model, sizes, dense, rng, padded)


def test_resnet_stem_standard_values() -> None:
    # conv 7×7/2 then maxpool 3×3/2: the textbook 11-pixel field with jump 4
    s = nnshape.summarize("input 3x224x224\nconv2d 64 k=7 s=2 p=3\nrelu\nmaxpool 3 s=2 p=1\n")
    assert s.layers[0].receptive_field == (Field(7, 2, -3),) * 2
    assert s.layers[1].receptive_field == s.layers[0].receptive_field  # relu keeps the grid
    assert s.layers[2].receptive_field == (Field(11, 4, -5),) * 2


def test_residual_takes_the_span_over_branches_and_gradients_agree() -> None:
    text = "input 1x20\nresidual:\n  conv1d 1 k=5 p=2 bias=false\nconv1d 1 k=3 bias=false\n"
    s = nnshape.summarize(text)
    assert s.layers[0].receptive_field == (Field(5, 1, -2),)
    assert s.layers[-1].receptive_field == (Field(7, 1, -2),)
    conv5, conv3 = torch.nn.Conv1d(1, 1, 5, padding=2, bias=False), torch.nn.Conv1d(1, 1, 3, bias=False)
    with torch.no_grad():
        conv5.weight.fill_(1.0)
        conv3.weight.fill_(1.0)
    x = torch.ones(1, 1, 20, requires_grad=True)
    y = conv3(conv5(x) + x)
    y[0, 0, 6].backward()
    assert (x.grad[0, 0] > 0).nonzero().flatten().tolist() == list(range(-2 + 6, -2 + 6 + 7))


def test_repeat_collapsed_counts_every_pass() -> None:
    s = nnshape.summarize("input 3x32x32\nrepeat 5:\n  conv 3 k3 p1\n")
    repeat = s.layers[0]
    assert repeat.collapsed == 5
    assert repeat.receptive_field == (Field(11, 1, -5),) * 2
    assert s.layers[1].receptive_field == (Field(3, 1, -1),) * 2  # the listed (first) pass


def test_grid_ends_global_and_unsupported() -> None:
    s = nnshape.summarize(
        "input 3x16x16\nconv 8 k3\nmultiply:\n  branch: identity\n  branch:\n    gap\n    conv 8 k1\n    sigmoid\n"
        "convtranspose2d 4 k2 s2\n"
    )
    by_label = {r.label: r.receptive_field for r in s.layers}
    assert by_label["gap"] == GLOBAL
    assert by_label["multiply"] == GLOBAL  # squeeze-and-excitation: every output sees everything
    t = nnshape.summarize("input 3x16x16\nconvtranspose2d 4 k2 s2\nflatten\n")
    assert t.layers[0].receptive_field is None  # transposed convolution: not supported
    assert t.layers[1].receptive_field is None
    u = nnshape.summarize("input 16\nlinear 4\n")
    assert u.layers[0].receptive_field is None


def test_json_and_column() -> None:
    from nnshape.render import render

    s = nnshape.summarize("input 3x9x9\nconv 4 k=3 s=2\ngap\nflatten\n")
    layers = s.to_dict()["layers"]
    assert layers[0]["receptive_field"] == [{"size": 3, "jump": 2, "start": 0}] * 2
    assert layers[1]["receptive_field"] == "global"
    table = render(s, "table", columns=("rf",), color=False)
    assert "RF size/jump/start" in table and "3/2/0" in table and "global" in table


def test_a_permute_to_channels_last_ends_a_global_field():
    """After a squeeze-excitation (global) and `permute 0 2 3 1`, a linear acts on channels last,
    per position (MaxViT's MLP): no W0421, and the field has ended; `flatten` keeps it global."""
    text = ("input 8x6x6\nmultiply:\n    branch:\n        identity\n    branch:\n        gap\n        conv2d 8 k1\n"
            "permute 0 2 3 1\nlinear 16\n")
    s = nnshape.summarize(text)
    assert not s.warnings
    assert s.layers[-2].receptive_field is None and s.layers[-1].receptive_field is None
    assert nnshape.summarize("input 8x6x6\ngap\nflatten\n").layers[-1].receptive_field == "global"
