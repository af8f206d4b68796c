"""`nnshape import torch`: modules in the styles of the torchvision zoo (tests/torch_nets.py),
nn.Transformer, an LSTM and transformers models import exactly, with the blocks a person would
write; what cannot be mapped is reported with its module path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import nnshape  # noqa: E402
from nnshape.importers.errors import ImportFailure  # noqa: E402

import torch_nets as T  # noqa: E402
from oracle import counting_flags  # noqa: E402

TESTS = Path(__file__).parent


def oracle(module, inputs):
    """The module's own numbers, measured here independently of the importer's check."""
    from torch.utils.flop_counter import FlopCounterMode

    module.eval()
    counter = FlopCounterMode(display=False)
    with counting_flags(), torch.no_grad(), counter:
        out = module(*inputs)
    return {
        "params": sum(p.numel() for p in module.parameters()),
        "buffers": sum(b.numel() for b in module.buffers()),
        "macs": counter.get_total_flops() // 2,
        "shape": tuple(out.shape),
    }


def numbers(spec: str, batch: int) -> dict:
    s = nnshape.summarize(spec, batch=batch)
    return {"params": s.total_params, "buffers": s.total_buffers, "macs": s.total_macs, "shape": tuple(s.output_shape)}


NETS = {
    # name: (constructor, inputs, lines the spec must have)
    "resnet": (T.ResNetStyle, lambda: (torch.randn(2, 3, 64, 64),),
               ["block layer1:", "repeat 3:", "residual:", "shortcut:", "block downsample:", "name=conv1"]),
    "inception": (T.InceptionStyle, lambda: (torch.randn(2, 3, 33, 33),),
                  ["concat:", "block branch3x3_1:", "conv2d 8 k=1x3 p=0x1 bias=false", "avgpool2d 3 s=1 p=1"]),
    "mobilenet": (T.MobileNetStyle, lambda: (torch.randn(2, 3, 32, 32),),
                  ["multiply:", "hardsigmoid name=scale_activation", "groups=32", "residual:"]),
    "densenet": (T.DenseStyle, lambda: (torch.randn(2, 3, 16, 16),), ["concat:", "branch: identity"]),
    "shufflenet": (T.ShuffleStyle, lambda: (torch.randn(2, 3, 16, 16),), ["branch: slice 1 0 8", "slice 1 8 16", "repeat 2:"]),
    "vit": (T.ViTStyle, lambda: (torch.randn(2, 3, 32, 32),), ["clstoken", "posemb 17", "mha 4 name=self_attention", "select dim=1 index=0"]),
    "convnext": (T.ConvNeXtStyle, lambda: (torch.randn(2, 3, 32, 32),), ["scale dim=1", "permute 0 2 3 1", "mean (-2, -1)"]),
    "lstm": (T.LSTMTagger, lambda: (torch.zeros(2, 9, dtype=torch.long),), ["input ids 9 dtype=int64", "lstm 24 num_layers=2 bidirectional=true"]),
    "transformer": (T.transformer, lambda: (torch.randn(2, 10, 32), torch.randn(2, 7, 32)),
                    ["input src 10x32", "input tgt 7x32", "from src as encoder:", "decoderlayer 4 ff=64 memory=encoder"]),
    "functional": (T.FunctionalConvs, lambda: (torch.randn(2, 3, 4, 12, 12),),
                   ["conv3d 4 k=1x3x3 s=1x2x2 p=0x1x1", "conv3d 6 k=3 s=1x2x2 p=1 bias=false name=sub", "linear 5 bias=false"]),
    "swin_merge": (T.SwinStyle, lambda: (torch.randn(2, 3, 36, 36),),
                   ["pad (0, 0, 0, 1, 0, 1)", "concat dim=-1:", "slice -3 1 none 2"]),
    "video_swin": (T.VideoSwinStyle, lambda: (torch.randn(2, 3, 5, 18, 18),),
                   ["pad 0x2x0x2x0x1", "permute 0 2 3 4 1", "attention heads=2 window=2x3x3 shift=1 rel_pos=true",
                    "pad (0, 0, 0, 1, 0, 1)", "adaptiveavgpool3d 1"]),
    "swin_v2": (T.SwinV2Style, lambda: (torch.randn(2, 3, 36, 36),),
                ["attention heads=2 window=4 cosine=true cpb=64 name=attn", "attention heads=2 window=4 shift=2 cosine=true cpb=64",
                 "attention heads=4 window=4 shift=2 cosine=true cpb=32", "linear 32 bias=false name=reduction\n"]),
    "tied": (T.TiedLM, lambda: (torch.zeros(2, 7, dtype=torch.long),),
             ["embedding 50 16 name=shared_emb", "reuse shared_block_0", "linear 50 bias=false tie=shared_emb name=out"]),
    "skip": (T.SkipAcross, lambda: (torch.randn(2, 3, 16, 16),), ["multiply:", "concat:", "upsample size=16"]),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_import_is_exact(name):
    make, inputs, expected_lines = NETS[name]
    torch.manual_seed(0)
    module, x = make(), inputs()
    spec = nnshape.import_torch(module, x)
    assert numbers(spec, batch=x[0].shape[0]) == oracle(module, x), spec
    for line in expected_lines:
        assert line in spec, (line, spec)
    assert spec.isascii()


def test_the_written_spec_verifies_in_torch():
    """nnshape's own verifier rebuilds the imported spec layer by layer and agrees."""
    spec = nnshape.import_torch(T.ResNetStyle(), torch.randn(2, 3, 32, 32))
    assert nnshape.verify(spec).ok


def test_transformers_module_goes_through_its_config():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2)
    cfg._attn_implementation = "eager"
    model = transformers.LlamaForCausalLM(cfg)
    spec = nnshape.import_torch(model, torch.zeros(1, 6, dtype=torch.long))
    assert "attention heads=4 kv_heads=2" in spec
    assert nnshape.summarize(spec, L=6).total_params == sum(p.numel() for p in model.parameters())


def test_module_state_is_kept():
    module = T.ResNetStyle().train()
    nnshape.import_torch(module, torch.randn(2, 3, 32, 32))
    assert module.training


# ----------------------------------------------------------------------------- what cannot be mapped


def test_data_dependent_control_flow_is_E0722():
    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(T.DataDependent(), torch.randn(2, 8))
    assert info.value.code == "E0722"


def test_custom_op_is_reported_with_its_path():
    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(T.CustomOp(), torch.randn(2, 8))
    assert info.value.code == "E0723"
    assert "bil: Bilinear" in info.value.message


def test_shared_weights_are_reuse_and_tie():
    """A module applied twice is `reuse`; a weight two modules hold is `tie=` (counted once)."""
    spec = nnshape.import_torch(T.Shared(), torch.randn(2, 8))
    assert "linear 8 name=shared_fc" in spec and "reuse shared_fc" in spec
    assert numbers(spec, 2) == oracle(T.Shared(), (torch.randn(2, 8),))


def test_allow_partial_writes_the_mapped_part():
    spec = nnshape.import_torch(T.CustomOp(), torch.randn(2, 8), allow_partial=True)
    assert spec.startswith("# PARTIAL")
    assert "# NOT MAPPED: bil" in spec
    assert "linear 8 name=fc" in spec
    nnshape.summarize(spec)  # what is written analyzes


def test_unused_parameters_are_reported():
    class Unused(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.used = torch.nn.Linear(4, 4)
            self.aux = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(Unused(), torch.randn(2, 4))
    assert "aux.weight" in info.value.message


def test_verification_catches_a_wrong_rule(monkeypatch):
    from helpers import break_conv2d_macs

    break_conv2d_macs(monkeypatch)
    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(T.ResNetStyle(), torch.randn(2, 3, 32, 32))
    assert info.value.code == "E0724" and "MACs" in info.value.message
    spec = nnshape.import_torch(T.ResNetStyle(), torch.randn(2, 3, 32, 32), verify=False)
    assert "residual:" in spec


# ----------------------------------------------------------------------------- the command line


def run_cli(*args):
    from click.testing import CliRunner

    from nnshape.cli import main

    sys.path.insert(0, str(TESTS))
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        sys.path.remove(str(TESTS))


def test_cli_import_torch(tmp_path):
    out = tmp_path / "resnet.nn"
    result = run_cli("import", "torch", "torch_nets:ResNetStyle", "--input", "3x32x32", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert nnshape.summarize(out).total_params == sum(p.numel() for p in T.ResNetStyle().parameters())


def test_cli_torch_transformer_with_arguments():
    result = run_cli("import", "torch", "torch.nn:Transformer", "--arg", "d_model=32", "--arg", "nhead=4",
                     "--arg", "num_encoder_layers=1", "--arg", "num_decoder_layers=1", "--arg", "dim_feedforward=64",
                     "--arg", "batch_first=true", "--input", "10x32", "--input", "7x32")
    assert result.exit_code == 0, result.output
    assert "decoderlayer 4 ff=64 memory=encoder" in result.output


@pytest.mark.parametrize("args,code", [
    (["no_such_module_xyz:f"], "E0720"),
    (["torch_nets"], "E0720"),
    (["torch_nets:nothing_here"], "E0720"),
    (["torch_nets:NETS_DO_NOT_EXIST.x"], "E0720"),
    (["torch.nn.functional:relu"], "E0721"),
    (["torch_nets:ResNetStyle", "--input", "3xx2"], "E0725"),
    (["torch_nets:ResNetStyle", "--input", "3x8x8:complex"], "E0725"),
    (["torch_nets:ResNetStyle", "--input", "0x8x8"], "E0725"),
])
def test_cli_errors(args, code):
    result = run_cli("import", "torch", *args)
    assert result.exit_code == 1
    assert f"[{code}]" in result.output, result.output


def test_hf_cli(tmp_path):
    fixture = TESTS / "fixtures" / "hf" / "pythia-160m.json"
    result = run_cli("import", "hf", str(fixture))
    assert result.exit_code == 0
    assert nnshape.summarize(result.output, L=8).total_params == 162_322_944
    assert run_cli("import", "hf", "--list").output.count("\n") >= 15


def test_docs_example_is_real():
    import re

    doc = (TESTS.parent / "docs" / "importers.md").read_text()
    shown = re.search(r"A ResNet-style network.*?```text\n(.*?)```", doc, re.S).group(1)
    spec = nnshape.import_torch(T.ResNetStyle(), torch.randn(2, 3, 64, 64))
    assert spec.split("\n", 2)[2] == shown


def test_shape_dependent_control_flow_falls_back_to_torch_export():
    module, x = T.ShapeDependent(), torch.randn(2, 3, 16, 16)
    spec = nnshape.import_torch(module, x)
    assert "traced with torch.export" in spec and "maxpool2d 2" in spec and "residual:" in spec
    assert numbers(spec, batch=2) == oracle(module, (x,))
    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(module, x, tracer="fx")
    assert info.value.code == "E0722"


@pytest.mark.parametrize("name", ["resnet", "inception", "densenet", "vit", "convnext", "lstm", "skip", "tied"])
def test_torch_export_path_gives_the_same_numbers(name):
    make, inputs, _ = NETS[name]
    torch.manual_seed(0)
    module, x = make(), inputs()
    spec = nnshape.import_torch(module, x, tracer="export")
    assert numbers(spec, batch=x[0].shape[0]) == oracle(module, x), spec


def test_transformers_moe_is_measured_with_eager_experts():
    """transformers' grouped expert kernel is invisible to FlopCounterMode; the check measures with
    its eager implementation and puts the user's setting back."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.MixtralConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, num_local_experts=4)
    model = transformers.MixtralForCausalLM(cfg)
    before = model.config._experts_implementation
    spec = nnshape.import_torch(model, torch.zeros(1, 6, dtype=torch.long))
    assert "moe experts=4 top_k=2 ff=64" in spec
    assert model.config._experts_implementation == before


def test_hostile_module_names_stay_out_of_the_spec_and_the_terminal():
    class Evil(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.add_module("x # injected input y 5\x1b[2J", torch.nn.Linear(4, 4))
            self.add_module("bil\x1b]0;title\x07", torch.nn.Bilinear(4, 4, 2))

        def forward(self, x):
            x = getattr(self, "x # injected input y 5\x1b[2J")(x)
            return getattr(self, "bil\x1b]0;title\x07")(x, x)

    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(Evil(), torch.randn(2, 4))
    assert "\x1b" not in str(info.value) and "\x07" not in str(info.value)
    spec = nnshape.import_torch(Evil(), torch.randn(2, 4), allow_partial=True)
    assert "\x1b" not in spec and spec.isascii()
    assert [line for line in spec.splitlines() if line.startswith("input")] == ["input x 4"]
