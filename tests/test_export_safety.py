"""`nnshape export` writes code: nothing from a spec may run, and every spec `summary` accepts exports.

The file must compile, import and build for any accepted spec (hostile names, deep def nesting,
odd file names), the class name cannot redirect it, what it writes is bounded, and it is written
without torch. Generated networks (tests/strategies.py) exported and run give the verifier's output.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main
from nnshape.verifier import analyze_spec
from nnshape.verifier.export import class_name_problem, export_source

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
ROOT = Path(nnshape.__file__).parent.parent


def docstring(text: str) -> str:
    """The module docstring exactly as Python reads it (ast.get_docstring would expand tabs)."""
    first = ast.parse(text).body[0]
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    return first.value.value


def run_file(text: str, name: str = "Model"):
    """Execute an exported file in a fresh namespace and return its class."""
    namespace: dict = {"__name__": "exported"}
    exec(compile(text, "<exported>", "exec"), namespace)  # noqa: S102 - the file under test
    return namespace[name]


def built(text: str, device="meta", batch: int = 1):
    import torch

    from nnshape.verifier.builder import build

    summary, plan = analyze_spec(text, batch=batch)
    return summary, plan, build(summary, plan, device=torch.device(device)).model


def layout(model) -> tuple:
    return (
        [name for name, _ in model.named_modules()],
        [(name, tuple(p.shape), p.requires_grad) for name, p in model.named_parameters()],
        [(name, tuple(b.shape)) for name, b in model.named_buffers()],
    )


# ----------------------------------------------------------------------------- code from names


def test_the_audit_reproducer_runs_nothing(tmp_path, monkeypatch):
    """A spec file named x\"\"\";import os;os.system("touch PWNED");\"\"\"y.nn: the name stays text."""
    monkeypatch.chdir(tmp_path)
    name = 'x""";import os;os.system("touch PWNED");"""y.nn'
    (tmp_path / name).write_text("input 4\nlinear 3\n")
    result = CliRunner().invoke(main, ["export", name, "-o", "model.py"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "model.py").read_text()
    tree = ast.parse(text)
    assert name in docstring(text), "the docstring holds the file name as text"
    assert [type(node).__name__ for node in tree.body[1:3]] == ["Import", "ImportFrom"]
    assert not any(isinstance(n, ast.Call) and ast.unparse(n.func) == "os.system" for n in ast.walk(tree))
    if HAS_TORCH:
        model = run_file(text)()
        assert sum(p.numel() for p in model.parameters()) == 15
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("filename", ['a"b.nn', "a\\b.nn", "tab\there.nn", "new\nline.nn", "esc\x1b]0;t\x07.nn", "é×.nn", "'''.nn", 'end".nn'])
def test_file_names_are_escaped_in_the_docstring(filename):
    from nnshape.source import Source

    summary, plan = analyze_spec(Source(filename, "input 4\nlinear 3\n"))
    text = export_source(summary, plan)
    assert filename in docstring(text)
    assert "\x1b" not in text and "\t" not in text


HOSTILE = ["_items", "_inputs", "_output", "_source", "_alias", "_has_shortcut", "_op", "_dim", "_nnshape_items",
           "_nnshape_shortcut", "_modules", "_parameters", "forward", "training", "append", "set_shortcut", "shortcut",
           "T_destination", "__init__", "__class__", "__dict__", "self", "torch", "nn", "Seq", "super", "dict"]


@needs_torch
def test_hostile_layer_names_build_the_same_network():
    import torch

    lines = ["input x 4", "input y 4"]
    for i, name in enumerate(HOSTILE):
        lines.append(f"linear 4 name={name}" if i % 3 else f"block {name}:\n    linear 4 name={name}")
    lines += ["residual:", "    linear 4 name=_nnshape_shortcut", "shortcut:", "    linear 4 name=shortcut"]
    lines += ["from y as _nnshape_alias:", "    linear 4 name=_source", "concat:", "    branch:", "        identity name=_dim", "    branch:", "        identity name=_op"]
    text = "\n".join(lines) + "\n"
    summary, plan, reference = built(text, "cpu")
    model = run_file(export_source(summary, plan))()
    assert layout(model) == layout(reference)
    model.load_state_dict(reference.state_dict())
    x, y = torch.randn(2, 4), torch.randn(2, 4)
    assert torch.equal(model(x, y), reference(x, y))
    assert tuple(model(x, y).shape) == (2, *summary.output_shape[1:])


def _deep_defs(depth: int, nest: int) -> str:
    lines = []
    for i in range(depth):
        lines.append(f"def f{i}():")
        lines.extend(" " * (4 + 4 * j) + "residual:" for j in range(nest))
        lines.append(" " * (4 + 4 * nest) + (f"f{i + 1}" if i + 1 < depth else "linear 4"))
    return "\n".join(lines + ["input 4", "f0", ""])


@pytest.mark.parametrize("depth,nest", [(66, 0), (99, 0), (40, 3)])
def test_deep_def_nesting_exports_flat_code(depth, nest):
    """Python's parser refuses ~100 nested brackets: the file is flat however deep the spec nests."""
    summary, plan = analyze_spec(_deep_defs(depth, nest))
    text = export_source(summary, plan)
    compile(text, "<exported>", "exec")
    body = [line for line in text.splitlines() if line.startswith("        ")]
    assert max(line.count("(") for line in body) <= 4
    if HAS_TORCH:
        import torch

        with torch.device("meta"):
            model = run_file(text)()
        assert sum(p.numel() for p in model.parameters()) == summary.total_params == 20
        if nest == 0:  # a forward through 99 nested Seqs stays within Python's recursion limit
            model = run_file(text)()
            assert tuple(model(torch.randn(2, 4)).shape) == (2, 4)


# ----------------------------------------------------------------------------- the class name


@pytest.mark.parametrize("name", ["super", "dict", "zip", "len", "Exception", "print", "Network", "Seq", "free_name", "nn", "torch",
                                  "class", "None", "__builtins__", "__name__", "ｄｉｃｔ", "Modèle", "1x", "a-b", "", "a b"])
def test_class_names_that_would_break_the_file_are_refused(name, tmp_path):
    assert class_name_problem(name) is not None
    spec = tmp_path / "net.nn"
    spec.write_text("input 4\nconcat:\n    branch:\n        linear 2\n    branch:\n        linear 3\n")
    result = CliRunner().invoke(main, ["export", str(spec), "--class-name", name])
    assert result.exit_code == 2 and "--class-name" in result.output
    with pytest.raises(nnshape.NNShapeError) as info:
        export_source(*analyze_spec(spec.read_text()), class_name=name)
    assert info.value.code == "E0316"


@pytest.mark.parametrize("name", ["Model", "match", "case", "type_", "_", "ResNet_50", "seq_1", "Attention2"])
def test_unusual_but_safe_class_names_work(name):
    text = export_source(*analyze_spec("input 4\nconcat:\n    branch:\n        linear 2\n    branch:\n        linear 3\n"), class_name=name)
    if HAS_TORCH:
        import torch

        assert tuple(run_file(text, name)()(torch.randn(1, 4)).shape) == (1, 5)
    else:
        compile(text, "<exported>", "exec")


# ----------------------------------------------------------------------------- bounds and symbols


def test_the_file_size_is_bounded_with_a_located_error(monkeypatch):
    from nnshape.verifier import export

    monkeypatch.setattr(export, "MAX_EXPORT_BYTES", 3_000)
    summary, plan = analyze_spec("input 4\nrelu\nrepeat 50:\n    linear 4\n")
    with pytest.raises(nnshape.NNShapeError) as info:
        export_source(summary, plan)
    assert info.value.code == "E0603" and info.value.span.line == 4
    assert "4 |     linear 4" in str(info.value)


def test_too_many_copies_of_a_repeat_name_export():
    summary, plan = analyze_spec("input 4\nrepeat 20000:\n    relu\n")
    with pytest.raises(nnshape.NNShapeError) as info:
        export_source(summary, plan)
    assert info.value.code == "E0508" and "repeat 20,000: export writes every copy, at most 10,000" in str(info.value)


def test_symbolic_sizes_export_when_no_constructor_needs_them():
    summary, plan = analyze_spec("input (L, 16)\nlinear 8\nlayernorm\nattention 2\n")
    text = export_source(summary, plan)
    if HAS_TORCH:
        import torch

        model = run_file(text)()
        assert tuple(model(torch.randn(2, 5, 16)).shape) == (2, 5, 8)


def test_a_constructor_that_needs_a_symbol_is_a_located_error(tmp_path):
    summary, plan = analyze_spec("input (3, H, W)\nflatten\nlinear 4\n")
    with pytest.raises(nnshape.NNShapeError) as info:
        export_source(summary, plan)
    assert info.value.code == "E0404" and info.value.span.line == 3 and "H" in info.value.message
    spec = tmp_path / "net.nn"
    spec.write_text("input (3, H, W)\nflatten\nlinear 4\n")
    result = CliRunner().invoke(main, ["export", str(spec), "--set", "H=2", "--set", "W=2"])
    assert result.exit_code == 0 and "in_features=12" in result.output


# ----------------------------------------------------------------------------- without torch


def test_export_needs_no_torch(tmp_path):
    """torch made unimportable: export still writes the file, and with torch that file builds."""
    spec = tmp_path / "net.nn"
    spec.write_text("input 3x16x16\nrandomresizedcrop 8\nconv2d 4 k3 p1\nresidual:\n    conv2d 4 k3 p1\n    droppath 0.1\n"
                    "flatten 2\ntranspose 1 2\nattention 2 rope=true\nlstm 6\nselect 1 0\nlinear 3\n")
    out = tmp_path / "model.py"
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # `import torch` raises ImportError from here on\n"
        "from nnshape.cli import main\n"
        f"main(['export', {str(spec)!r}, '-o', {str(out)!r}])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "class Attention(nn.Module):" in text and "def rotate(" in text and "class SequenceOnly(" in text
    if HAS_TORCH:
        import torch

        summary, plan, reference = built(spec.read_text(), "cpu")
        model = run_file(text)()
        assert layout(model) == layout(reference)
        assert summary.output_shape == (1, 3) and tuple(model.eval()(torch.randn(2, 3, 16, 16)).shape) == (2, 3)


@needs_torch
def test_twins_import_mode_imports_nnshape_modules():
    import torch

    spec = "input 7x16\nposemb 7\nattention 4 kv_heads=2\nscale\nselect 1 0\nlinear 2 trainable=false\n"
    summary, plan, reference = built(spec, "cpu")
    text = export_source(summary, plan, twins="import")
    line = next(line for line in text.splitlines() if line.startswith("from nnshape.twins import"))
    assert {"Attention", "PositionalEmbedding", "Scale", "Select", "Network"} <= set(line.split("import ")[1].split(", "))
    assert "class Attention" not in text
    model = run_file(text)()
    assert layout(model) == layout(reference)
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, 7, 16)
    assert torch.equal(model.eval()(x), reference.eval()(x))


@needs_torch
def test_frozen_layers_come_from_the_plan_and_are_exported_frozen():
    spec = "input 4\nlinear 4 trainable=false\ndef blk():\n    linear 4\n    block inner:\n        linear 4\nblk trainable=false\nblk\nlinear 2\n"
    summary, plan, reference = built(spec)
    frozen = [name for name, p in reference.named_parameters() if not p.requires_grad]
    assert frozen == ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.inner.0.weight", "1.inner.0.bias"]
    assert sum(p.numel() for p in reference.parameters() if p.requires_grad) == summary.trainable_params
    model = run_file(export_source(summary, plan))()
    assert layout(model) == layout(reference)


# ----------------------------------------------------------------------------- generated networks

if HAS_TORCH:
    from hypothesis import HealthCheck, given, settings
    from strategies import specs

    @given(specs())
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def test_generated_networks_export_and_compute_what_verify_runs(text):
        """Export, import, build; with the verifier's weights, one forward equals the verifier's network's."""
        import torch

        from nnshape.verifier.runner import make_inputs

        summary, plan, reference = built(text, "cpu", batch=2)  # as test_verify: torch's groupnorm refuses 1 value per group
        model = run_file(export_source(summary, plan))()
        assert layout(model) == layout(reference)
        model.load_state_dict(reference.state_dict())
        inputs = make_inputs(plan, "cpu", None)
        with torch.no_grad():
            torch.manual_seed(3)
            expected = reference.eval()(*inputs)
            torch.manual_seed(3)
            got = model.eval()(*inputs)
        assert torch.equal(got, expected), text
        assert tuple(got.shape) == tuple(summary.output_shape)
