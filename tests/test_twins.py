"""The nnshape/twins package (the one home of nnshape's torch modules) and nnshape/twinspec.py (a twin as data).

export copies definitions out of nnshape/twins as text, so its files keep a few rules: they import
only torch, nn and each other, their helpers are top-level without decorators, names are unique
across the package, and no top-level name looks like the exported file's local variables
(`name_<digits>`).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
import re
from pathlib import Path

import pytest

import nnshape
from nnshape.twinspec import NotLiteral, Twin, literal

PACKAGE = Path(nnshape.__file__).parent / "twins"
FILES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
HAS_TORCH = importlib.util.find_spec("torch") is not None


def top_level(path: Path):
    return ast.parse(path.read_text(encoding="utf-8")).body


def definitions():
    """(file, node) of every top-level function and class of the package."""
    return [(path, node) for path in FILES for node in top_level(path) if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_twins_import_only_torch_nn_and_each_other(path):
    for node in top_level(path):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            text = ast.unparse(node)
            assert text in ("import torch", "from torch import nn") or (isinstance(node, ast.ImportFrom) and node.level == 1), text
    nested = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert len(nested) == sum(isinstance(n, (ast.Import, ast.ImportFrom)) for n in top_level(path)), "no imports inside functions"


def test_the_package_init_only_gathers_its_files():
    init = ast.parse((PACKAGE / "__init__.py").read_text())
    stars = {n.module for n in init.body if isinstance(n, ast.ImportFrom) and n.level == 1 and [a.name for a in n.names] == ["*"]}
    assert stars == {p.stem for p in FILES}, "each file is gathered by `from .NAME import *`"
    assert all(isinstance(n, (ast.ImportFrom, ast.Expr)) for n in init.body)


def test_twins_top_level_names_are_plain_and_unique():
    names = [node.name for _, node in definitions()]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    for path in FILES:
        for node in top_level(path):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                assert not node.decorator_list, f"{node.name}: no decorators (export copies the definition's text)"
                assert not re.search(r"_\d+$", node.name), f"{node.name}: names ending in _<digits> are the exported file's locals"
                assert not node.name.startswith("_"), f"{node.name}: `from .x import *` would skip it"
            else:
                assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)), f"{path.name}:{node.lineno}: only imports, functions and classes"


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_source_text_is_what_inspect_sees():
    """export reads definitions with ast (no torch); they are exactly inspect.getsource's text,
    and each is importable from nnshape.twins."""
    from nnshape import twins
    from nnshape.verifier.export import twin_sources

    sources = twin_sources()
    assert set(sources) == {node.name for _, node in definitions()}
    for name, (text, _) in sources.items():
        assert text == inspect.getsource(getattr(twins, name)).rstrip("\n")


def test_export_orders_bases_first():
    from nnshape.verifier.export import twin_sources

    order = list(twin_sources())
    assert order.index("Seq") < min(order.index(n) for n in ("Residual", "Merge", "From", "Network"))


def test_twin_names_its_class_and_module():
    t = Twin.nn("Linear", in_features=4, out_features=2, bias=True)
    assert (t.name, t.is_own, t.source()) == ("Linear", False, "nn.Linear(in_features=4, out_features=2, bias=True)")
    wrapped = Twin.own("SequenceOnly", inner=Twin.nn("GRU", input_size=3, hidden_size=5))
    assert wrapped.source() == "SequenceOnly(inner=nn.GRU(input_size=3, hidden_size=5))"
    assert wrapped.own_names() == ["SequenceOnly"]
    for bad in ("os.system", "torch.nn.Linear; import os", "nnshape.twins.", "torch.nn.a.b"):
        with pytest.raises(ValueError):
            Twin(bad, {})
    with pytest.raises(ValueError):
        Twin.nn("Linear", **{"a=1, b": 2})


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -7, 2**63 - 1, 1.5, -0.0, 1e-300, float("inf"), float("-inf"), "", "a'b\"c", '"""', "\\", "\n\x1b]0;x\x07",
     "é×", (), (1,), (1, (2, "x")), [1, 2], ("same", None)],
)
def test_literals_evaluate_back_to_the_value(value):
    text = literal(value)
    assert eval(text, {"__builtins__": {"float": float}}) == value  # noqa: S307 - literals only
    assert "\n" not in text


def test_nan_and_non_literals():
    assert math.isnan(eval(literal(float("nan")), {"__builtins__": {"float": float}}))  # noqa: S307
    from nnshape.symbolic import Poly

    for value in [object(), {1: 2}, Poly.symbol("L"), (1, Poly.symbol("L"))]:
        with pytest.raises(NotLiteral):
            literal(value)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_build_calls_the_constructor():
    import torch

    module = Twin.own("SequenceOnly", inner=Twin.nn("GRU", input_size=3, hidden_size=5, batch_first=True)).build()
    assert type(module).__module__.startswith("nnshape.twins.") and isinstance(module.inner, torch.nn.GRU)
    assert tuple(module(torch.zeros(2, 4, 3)).shape) == (2, 4, 5)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_random_resized_crop_crops_then_resizes_like_torchvision():
    """torchvision's RandomResizedCrop: a random window (area fraction in `scale`, aspect in `ratio`,
    inside the image) is cut out, then resized to `size` (not the whole image resized)."""
    import torch

    from nnshape.twins import RandomResizedCrop, resize

    h, w = 40, 60
    rows = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    image = rows.expand(1, 3, h, w).contiguous()  # each pixel holds its row index
    twin = RandomResizedCrop((8, 8), scale=(0.05, 0.2), ratio=(0.5, 2.0), antialias=False)
    for seed in range(50):
        torch.manual_seed(seed)
        top, left, ch, cw = twin.window(h, w)
        assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w
        assert 0.05 * h * w * 0.8 <= ch * cw <= 0.2 * h * w * 1.25  # rounding of the side lengths
        assert 0.5 * 0.8 <= cw / ch <= 2.0 * 1.25
        torch.manual_seed(seed)
        out = twin(image)
        assert tuple(out.shape) == (1, 3, 8, 8)
        assert torch.equal(out, resize(image[..., top : top + ch, left : left + cw], (8, 8), "bilinear", False))
        assert top - 1e-4 <= out.min() and out.max() <= top + ch - 1 + 1e-4  # only the crop's rows
    whole = RandomResizedCrop((8, 8), scale=(1.0, 1.0), ratio=(1.5, 1.5))  # 40x60 has aspect 1.5: the whole image
    torch.manual_seed(0)
    assert whole.window(h, w) == (0, 0, h, w)
    fallback = RandomResizedCrop((8, 8), scale=(1.0, 1.0), ratio=(1.0, 1.0))  # no square window of full area fits
    assert fallback.window(h, w) == (0, 10, 40, 40)  # torchvision's fallback: the central crop, aspect clamped


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_pcacolor_makes_its_tensors_on_the_input_device():
    """The twin builds its noise on x.device (a `verify --device cuda` of pcacolor needs it); on meta
    it would fail at once if any tensor were made on the CPU."""
    import torch

    from nnshape.twins import PCAColor

    out = PCAColor(0.1)(torch.zeros(2, 3, 4, 4, device="meta"))
    assert out.device.type == "meta" and tuple(out.shape) == (2, 3, 4, 4)
