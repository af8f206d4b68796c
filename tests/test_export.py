"""`nnshape export`: the written file imports only torch and rebuilds the same network.

Every example in examples/ and every example of every kind in the registry is exported, run, and
compared with the Summary and with the verifier's own built network (same parameter names and
shapes, module for module).
"""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape import registry
from nnshape.cli import main

from oracle import example_source

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.nn"))
CASES = [(kind.name, example) for kind in registry.all_kinds() for example in kind.examples]


def check_imports(text: str) -> None:
    imports = {line.split()[1] for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"torch"}, imports


def load(path: Path):
    """Run the exported file in a fresh namespace; it may import nothing but torch."""
    check_imports(path.read_text())
    return runpy.run_path(str(path))


def exported_class(text: str, name: str = "Model"):
    check_imports(text)
    namespace: dict = {"__name__": "exported"}
    exec(compile(text, "<exported>", "exec"), namespace)
    return namespace[name]


def analyze(text_or_path):
    from nnshape.verifier import analyze_spec

    return analyze_spec(text_or_path)


def built_model(summary, plan, device="meta"):
    import torch

    from nnshape.verifier.builder import build

    return build(summary, plan, device=torch.device(device)).model


def layout(model) -> tuple:
    """Module names, and parameter and buffer names with shapes: what must match the verifier's network."""
    return (
        [name for name, _ in model.named_modules()],
        [(name, tuple(p.shape)) for name, p in model.named_parameters()],
        [(name, tuple(b.shape)) for name, b in model.named_buffers()],
    )


def inputs(summary, plan, device="cpu"):
    from nnshape.verifier.runner import make_inputs

    return make_inputs(plan, device, None)  # token ids drawn below every embedding's size


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_exports_and_matches(spec, tmp_path):
    import torch

    out = tmp_path / f"{spec.stem}.py"
    result = CliRunner().invoke(main, ["export", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary, plan = analyze(str(spec))
    with torch.device("meta"):
        model = load(out)["Model"]()
    assert sum(p.numel() for p in model.parameters()) == summary.total_params
    assert sum(b.numel() for b in model.buffers()) == summary.total_buffers
    assert layout(model) == layout(built_model(summary, plan)), "same modules, parameter and buffer names as verify builds"
    assert {row.path for row in summary.layers} <= {n for n, _ in model.named_modules()}, "names follow the summary's rows"
    model.eval()
    out = model(*inputs(summary, plan, "meta"))
    outs = out if isinstance(out, tuple) else (out,)  # `output a, b`: a tuple, in order
    assert [tuple(t.shape) for t in outs] == [tuple(o.shape) for o in summary.outputs]


@pytest.mark.parametrize("kind_name,example", CASES, ids=[f"{k}:{e}" for k, e in CASES])
def test_every_kind_example_exports_and_runs(kind_name, example):
    """Each kind's examples, run for real on CPU: output shape, parameters and buffers as the Summary,
    and, with the verifier network's weights, exactly the verifier network's output."""
    import torch

    from nnshape.verifier.export import export_source

    torch.manual_seed(0)
    summary, plan = analyze(example_source(example))
    assert any(row.kind == kind_name for row in summary.layers)
    model = exported_class(export_source(summary, plan))()
    assert layout(model) == layout(built_model(summary, plan))
    assert sum(p.numel() for p in model.parameters()) == summary.total_params
    assert sum(b.numel() for b in model.buffers()) == summary.total_buffers
    reference = built_model(summary, plan, "cpu").eval()
    model.load_state_dict(reference.state_dict())
    model.eval()
    args = inputs(summary, plan)
    with torch.no_grad():
        torch.manual_seed(1)
        out = model(*args)
        torch.manual_seed(1)
        expected = reference(*args)
    assert tuple(out.shape) == tuple(summary.output_shape)
    assert str(out.dtype) == f"torch.{summary.output_dtype}"
    assert torch.equal(out, expected), "the exported module computes what the verifier runs (random kinds: same draws)"


SAME_VALUES = [
    "input 10x16\nposemb 12\nattention 4 kv_heads=2 rope=true causal=true\nscale init=0.5\ndroppath 0.3\nlayernorm\n",
    "input 9x12\nclstoken 2\nposenc\nattn 3 head_dim=8 bias=false\nselect 1 0\nlinear 5\n",
    "input x 7x16\nfrom x as mem:\n    linear 24\nfrom x:\n    attention 4 kv_heads=1 kv=mem rope=true\nmha 2\n",
    "input 3x20x24\ncentercrop (12, 14)\nresize 10 max_size=14\nresize (6, 8) interpolation=bicubic\nscale dim=1\nconv2d 4 k3\n",
    "input img 3x30x20 dtype=uint8\nresize 16 interpolation=nearest antialias=false\ncentercrop 20\n",
    # random layers draw the same random numbers in the same order as their twins
    "input 3x12x10\nrandomcrop (8, 9) padding=(1, 2) padding_mode=reflect\nhflip\nvflip 0.7\npcacolor 0.5\n",
    "input 3x10x12\nrandomcrop 14 padding=(1, 2, 3, 4) padding_mode=symmetric\nrandomcrop 16 pad_if_needed=true padding_mode=edge fill=2\n",
]


@pytest.mark.parametrize("text", SAME_VALUES)
def test_exported_network_computes_the_same_values(text):
    """With the verifier network's weights loaded, the exported network gives the same output (eval mode)."""
    import torch

    from nnshape.verifier.export import export_source

    torch.manual_seed(0)
    summary, plan = analyze(text)
    reference = built_model(summary, plan, "cpu").eval()
    model = exported_class(export_source(summary, plan))().eval()
    model.load_state_dict(reference.state_dict())
    args = inputs(summary, plan)
    with torch.no_grad():
        torch.manual_seed(1)
        expected = reference(*args)
        torch.manual_seed(1)
        got = model(*args)
    assert got.dtype == expected.dtype
    assert torch.equal(got, expected)


def test_the_first_input_is_the_current_tensor():
    """As in the analysis: later `input` statements declare tensors read by name, they do not switch."""
    import torch

    from nnshape.verifier.export import export_source

    summary, plan = analyze("input a 4\nlinear 3\ninput b 5\nlinear 2\n")
    model = exported_class(export_source(summary, plan))()
    assert tuple(model(torch.randn(1, 4), torch.randn(1, 5)).shape) == tuple(summary.output_shape) == (1, 2)


def test_random_augmentations_keep_their_shapes_for_many_draws():
    """The random windows and flips change values, never the shape."""
    import torch

    from nnshape.verifier.export import export_source

    text = "input 3x40x30\nrandomcrop 24 padding=(2, 1, 3, 4) padding_mode=symmetric\nhflip\nvflip 0.5\nrandomresizedcrop (12, 16) scale=(0.02, 1.0) ratio=(0.2, 5)\npcacolor\n"
    summary, plan = analyze(text)
    model = exported_class(export_source(summary, plan))()
    x = torch.randn(1, 3, 40, 30)
    for seed in range(30):
        torch.manual_seed(seed)
        assert tuple(model(x).shape) == tuple(summary.output_shape) == (1, 3, 12, 16)


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


def test_layer_names_that_look_like_container_attributes():
    """Spec names such as `inputs`, `output`, `items` or `shortcut` are plain submodule names in the file."""
    import torch

    from nnshape.verifier.export import export_source

    text = "input 4\nlinear 4 name=inputs\nlinear 4 name=output\nblock dim:\n    linear 4 name=items\nresidual:\n    linear 4 name=shortcut\nresidual:\n    linear 4 name=_op\nshortcut:\n    linear 4 name=source\n"
    summary, plan = analyze(text)
    model = exported_class(export_source(summary, plan))()
    assert layout(model) == layout(built_model(summary, plan))
    assert isinstance(model.output, torch.nn.Linear) and isinstance(model.dim.items, torch.nn.Linear)
    assert tuple(model(torch.randn(2, 4)).shape) == (2, 4)


def test_class_name_option(tmp_path):
    spec = tmp_path / "net.nn"
    spec.write_text("input 4x8\nposemb 4\nlinear 2\n")
    result = CliRunner().invoke(main, ["export", str(spec), "--class-name", "Tiny"])
    assert result.exit_code == 0 and "class Tiny(Network):" in result.output
    taken = CliRunner().invoke(main, ["export", str(spec), "--class-name", "PositionalEmbedding"])
    assert taken.exit_code == 2 and "--class-name" in taken.output
    assert CliRunner().invoke(main, ["export", str(spec), "--class-name", "not-python"]).exit_code != 0


def test_a_twin_that_twins_py_lacks_is_a_clear_error(monkeypatch, tmp_path):
    from nnshape.twinspec import Twin

    kind = registry.get("posemb")
    monkeypatch.setattr(type(kind), "twin", lambda self, call: Twin.own("NoSuchModule", max_len=4))
    spec = tmp_path / "net.nn"
    spec.write_text("input 4x8\nposemb 4\n")
    result = CliRunner().invoke(main, ["export", str(spec)])
    assert result.exit_code == 1 and "NoSuchModule" in result.output and "E0602" in result.output


def test_summary_numbers_in_the_docstring():
    from nnshape.verifier.export import export_source

    summary, plan = analyze("input 4\nlinear 3\n")
    text = export_source(summary, plan)
    assert "Parameters: 15;" in text and nnshape.summarize("input 4\nlinear 3\n").total_params == 15


def test_dash_output_is_stdout(tmp_path, monkeypatch):
    """`-o -` prints the module, as draw and import do, instead of writing a file named `-`."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["export", "-", "-o", "-"], input="input 4\nlinear 2\n")
    assert result.exit_code == 0, result.output
    assert "class " in result.output and "nn.Module" in result.output
    assert not (tmp_path / "-").exists()
