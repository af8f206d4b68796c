"""The model kinds (moe, mamba, mamba2, timesteps, frozenbn) against the modules they stand for.

The registry test runs each kind's examples against its own twin; here the twins meet the real
thing: HF transformers' sparse MoE blocks and Mamba mixers built from small configs (no download),
weights copied across, same parameters, same outputs, same FlopCounterMode count; and the
saved-for-backward rules against saved_tensors_hooks, byte for byte.
"""

from __future__ import annotations

import math

import pytest

import nnshape
from nnshape.kinds.ssm import ssd_scan_macs

from oracle import analyze_with_calls

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def counted(module, *inputs):
    """(output, FlopCounterMode MACs) of one forward without gradients."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(*inputs)
    return out, counter.get_total_flops() // 2


def inference(text: str, batch: int):
    """The Inference of the last layer of a spec."""
    _, observed = analyze_with_calls(text, batch=batch)
    return observed[-1].inference


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------- moe


def _hf_moe(family: str):
    """An HF sparse MoE block from a small config and the nnshape line that says it."""
    if family == "mixtral":
        from transformers import MixtralConfig
        from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

        block = MixtralSparseMoeBlock(MixtralConfig(hidden_size=16, intermediate_size=24, num_local_experts=4, num_experts_per_tok=2))
        return block, "moe experts=4 top_k=2 ff=24"  # Mixtral always renormalizes the top-k weights
    if family == "qwen2_moe":
        from transformers import Qwen2MoeConfig
        from transformers.models.qwen2_moe.modeling_qwen2_moe import Qwen2MoeSparseMoeBlock

        config = Qwen2MoeConfig(hidden_size=16, moe_intermediate_size=24, shared_expert_intermediate_size=40,
                                num_experts=6, num_experts_per_tok=3)
        return Qwen2MoeSparseMoeBlock(config), "moe experts=6 top_k=3 ff=24 shared_ff=40 norm_topk_prob=false"
    from transformers import OlmoeConfig
    from transformers.models.olmoe.modeling_olmoe import OlmoeSparseMoeBlock

    config = OlmoeConfig(hidden_size=16, intermediate_size=20, num_experts=8, num_experts_per_tok=2, norm_topk_prob=False)
    return OlmoeSparseMoeBlock(config), "moe experts=8 top_k=2 ff=20 norm_topk_prob=false"


def _moe_state(hf) -> dict:
    """HF's fused expert tensors (E×2ff×D gate_up, E×D×ff down) as the twin's per-expert linears."""
    state = {"gate.weight": hf.gate.weight}
    for e in range(hf.experts.gate_up_proj.shape[0]):
        gate, up = hf.experts.gate_up_proj[e].chunk(2, dim=0)
        state[f"experts.{e}.gate_proj.weight"] = gate
        state[f"experts.{e}.up_proj.weight"] = up
        state[f"experts.{e}.down_proj.weight"] = hf.experts.down_proj[e]
    for name, tensor in hf.named_parameters():
        if name.startswith("shared_expert"):
            state[name] = tensor
    return state


@pytest.mark.parametrize("family", ["mixtral", "qwen2_moe", "olmoe"])
def test_moe_is_the_hf_sparse_block(family):
    torch.manual_seed(0)
    hf, line = _hf_moe(family)
    hf.eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0, 0.5)
    batch, length = 2, 5
    inf = inference(f"input {length}x16\n{line}\n", batch)
    _, observed = analyze_with_calls(f"input {length}x16\n{line}\n", batch=batch)
    twin = observed[-1].call.kind.build(observed[-1].call).eval()
    twin.load_state_dict(_moe_state(hf))
    x = torch.randn(batch, length, 16)
    y_hf, macs_hf = counted(hf, x)
    y_twin, macs_twin = counted(twin, x)
    assert torch.allclose(y_hf, y_twin, atol=1e-5)
    assert inf.params == n_params(hf) == n_params(twin)
    assert inf.macs == macs_hf == macs_twin  # router + exactly top_k experts per token, whatever the routing


def test_moe_macs_are_top_k_experts_per_token():
    # Mixtral-8x7B's block at 4 tokens: router 4·4096·8, then 2 experts of 3·4096·14336 per token
    inf = inference("input 4x4096\nmoe experts=8 top_k=2 ff=14336\n", 1)
    assert inf.macs == 4 * 4096 * 8 + 4 * 2 * 3 * 4096 * 14336
    assert inf.params == 4096 * 8 + 8 * 3 * 4096 * 14336


def test_moe_top_k_above_experts_is_located():
    with pytest.raises(nnshape.NNShapeError) as err:
        nnshape.summarize("input 4x16\nmoe experts=4 top_k=5 ff=8\n")
    assert err.value.code == "E0340"
    assert err.value.diagnostic.span.line == 2


# --------------------------------------------------------------------------- mamba, mamba2


def test_mamba_is_the_hf_mixer():
    from transformers import MambaConfig
    from transformers.models.mamba.modeling_mamba import MambaMixer

    torch.manual_seed(0)
    hf = MambaMixer(MambaConfig(hidden_size=32, state_size=4, conv_kernel=3, expand=2), 0).eval()
    text = "input 7x32\nmamba d_state=4 d_conv=3\n"
    _, observed = analyze_with_calls(text, batch=2)
    twin = observed[-1].call.kind.build(observed[-1].call).eval()
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in hf.state_dict().items()}
    twin.load_state_dict(hf.state_dict())
    x = torch.randn(2, 7, 32)
    y_hf, macs_hf = counted(hf, x)
    y_twin, macs_twin = counted(twin, x)
    assert torch.allclose(y_hf, y_twin, atol=1e-6)
    inf = observed[-1].inference
    assert inf.params == n_params(hf)
    assert inf.counted_macs == macs_hf == macs_twin  # what FlopCounterMode sees of HF's reference path
    # the analytic scan: Ā·h, B·Δx and C·h per token, channel and state; FlopCounterMode sees C·h only
    n, length, inner, state = 2, 7, 64, 4
    assert inf.macs - inf.counted_macs == 2 * n * length * inner * state


@pytest.mark.parametrize("length", [4, 9, 12, 13])
def test_mamba2_is_the_hf_mixer(length):
    from transformers import Mamba2Config
    from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer

    torch.manual_seed(0)
    config = Mamba2Config(hidden_size=32, num_heads=4, head_dim=16, state_size=8, n_groups=2, chunk_size=4, conv_kernel=3)
    hf = Mamba2Mixer(config, 0).eval()
    text = f"input {length}x32\nmamba2 heads=4 head_dim=16 d_state=8 groups=2 chunk=4 d_conv=3\n"
    _, observed = analyze_with_calls(text, batch=2)
    twin = observed[-1].call.kind.build(observed[-1].call).eval()
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in hf.state_dict().items()}
    twin.load_state_dict(hf.state_dict())
    x = torch.randn(2, length, 32)
    y_hf, macs_hf = counted(hf, x)
    y_twin, macs_twin = counted(twin, x)
    assert torch.allclose(y_hf, y_twin, atol=1e-5)
    inf = observed[-1].inference
    assert inf.params == n_params(hf)
    assert inf.counted_macs == macs_hf == macs_twin  # FlopCounterMode: L padded to a multiple of the chunk
    padded = 2 * ssd_scan_macs(length, 4, 4, 16, 8, padded=True)
    analytic = 2 * ssd_scan_macs(length, 4, 4, 16, 8, padded=False)
    assert inf.macs - inf.counted_macs == analytic - padded
    assert (analytic == padded) == (length % 4 == 0)


def test_ssd_scan_macs_by_hand():
    # L = 10, Q = 4: chunks of 4, 4, 2; H = 1, P = 2, S = 3
    squares, boundary = 4 * 4 + 4 * 4 + 2 * 2, (3 + 1) ** 2
    assert ssd_scan_macs(10, 4, 1, 2, 3, padded=False) == squares * (3 + 2) + 2 * 10 * 2 * 3 + boundary * 2 * 3
    assert ssd_scan_macs(10, 4, 1, 2, 3, padded=True) == 3 * 16 * (3 + 2) + 2 * 12 * 2 * 3 + boundary * 2 * 3


def test_mamba2_heads_must_fill_the_inner_size():
    with pytest.raises(nnshape.NNShapeError) as err:
        nnshape.summarize("input 8x32\nmamba2 heads=3 head_dim=16 d_state=8 groups=1\n")
    assert err.value.code == "E0441"
    assert "heads=4" in str(err.value)


def test_verify_compares_scans_on_what_flopcountermode_sees():
    from nnshape.verifier import verify

    text = ("input 9x32\nresidual:\n    rmsnorm\n    mamba d_state=4\n"
            "residual:\n    rmsnorm\n    mamba2 heads=4 head_dim=16 d_state=8 groups=2 chunk=4\n")
    report = verify(text, device="cpu")
    assert report.ok
    summary = nnshape.summarize(text)
    assert report.totals.torch.macs < summary.total_macs  # the analytic scans are in the summary, not measured


# --------------------------------------------------------------------------- timesteps, frozenbn


def test_timesteps_match_the_diffusers_formula():
    _, observed = analyze_with_calls("input t 1 dtype=int64\ntimesteps 6 flip_sin_to_cos=true freq_shift=0\n", batch=2)
    twin = observed[-1].call.kind.build(observed[-1].call)
    out = twin(torch.tensor([[3], [500]]))
    # diffusers: half = 3 frequencies exp(−ln(10000)·j/(3 − 0)); flipped: cos first
    for row, t in enumerate((3, 500)):
        freqs = [math.exp(-math.log(10000) * j / 3) for j in range(3)]
        expected = [math.cos(t * f) for f in freqs] + [math.sin(t * f) for f in freqs]
        assert out[row].tolist() == pytest.approx(expected, abs=1e-4)


def test_frozenbn_is_batchnorm_in_eval_with_fixed_statistics():
    _, observed = analyze_with_calls("input 4x5x5\nfrozenbn\n", batch=2)
    twin = observed[-1].call.kind.build(observed[-1].call)
    bn = torch.nn.BatchNorm2d(4).eval()
    with torch.no_grad():
        for t in (bn.weight, bn.bias, bn.running_mean):
            t.normal_()
        bn.running_var.uniform_(0.5, 2)
    twin.load_state_dict({k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"})
    x = torch.randn(2, 4, 5, 5)
    assert torch.allclose(twin(x), bn(x), atol=1e-5)
    # torchvision.ops.misc.FrozenBatchNorm2d holds the same four buffers and no parameters
    assert sorted(name for name, _ in twin.named_buffers()) == ["bias", "running_mean", "running_var", "weight"]
    assert n_params(twin) == 0


# --------------------------------------------------------------------------- memory


SAVED = [
    "input 6x16\nlinear 16\nmoe experts=4 top_k=2 ff=24\n",
    "input 12x16\nlinear 16\nmoe experts=4 top_k=2 ff=24 shared_ff=32\n",
    "input 12x16\nlinear 16\nmoe experts=4 top_k=2 ff=24 shared_ff=32 shared_gate=false norm_topk_prob=false\n",
    "input 12x16\nlinear 16\nmoe 8 1 20 false activation='gelu' bias=true\n",
    "input 12x16\nlinear 16\nmoe 8 3 20 false activation='relu'\n",
    "input 12x16\nlinear 16\nmoe 8 2 20 activation='relu'\n",
    "input 7x32\nlinear 32\nmamba\n",
    "input 16x32\nlinear 32\nmamba d_state=8 d_conv=2 dt_rank=3\n",
    "input 9x32\nlinear 32\nmamba2 heads=4 head_dim=16 d_state=8 groups=2 chunk=4 d_conv=3\n",
    "input 33x32\nlinear 32\nmamba2 heads=4 head_dim=16 d_state=8 groups=2 chunk=8 d_conv=3\n",
    "input 3x8x8\nconv2d 4 k3\nfrozenbn\n",
]


@pytest.mark.parametrize("text", SAVED)
@pytest.mark.parametrize("batch", [1, 2])
def test_saved_for_backward_is_exact(text, batch):
    from nnshape.verifier import verify

    step = verify(text, device="cpu", train_step=True, batch=batch).train_step
    assert step.error is None
    assert step.analytic_saved_bytes == step.saved_for_backward_bytes
