"""``moe`` (nnshape/kinds/moe.py) against HF transformers' sparse MoE blocks built from small
configs (no download): weights copied across, same parameters, same outputs, same FlopCounterMode
count; and its saved-for-backward rule against saved_tensors_hooks, byte for byte."""

from __future__ import annotations

import pytest

import nnshape

from oracle import analyze_with_calls, n_params, forward_counted as counted, check_saved_exact

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def inference(text: str, batch: int):
    """The Inference of the last layer of a spec."""
    _, observed = analyze_with_calls(text, batch=batch)
    return observed[-1].inference


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


SAVED = [  # exact against saved_tensors_hooks (nnshape verify --train-step)
    "input 6x16\nlinear 16\nmoe experts=4 top_k=2 ff=24\n",
    "input 12x16\nlinear 16\nmoe experts=4 top_k=2 ff=24 shared_ff=32\n",
    "input 12x16\nlinear 16\nmoe experts=4 top_k=2 ff=24 shared_ff=32 shared_gate=false norm_topk_prob=false\n",
    "input 12x16\nlinear 16\nmoe 8 1 20 false activation='gelu' bias=true\n",
    "input 12x16\nlinear 16\nmoe 8 3 20 false activation='relu'\n",
    "input 12x16\nlinear 16\nmoe 8 2 20 activation='relu'\n",
]


@pytest.mark.parametrize("text", SAVED)
@pytest.mark.parametrize("batch", [1, 2])
def test_saved_for_backward_is_exact(text, batch):
    check_saved_exact(text, batch)
