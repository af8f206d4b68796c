"""``mamba`` and ``mamba2`` (nnshape/kinds/ssm.py) against HF transformers' MambaMixer and
Mamba2Mixer built from small configs: same state dict, same outputs, FlopCounterMode's count as
``counted_macs``, the analytic scan as documented; verify compares like with like; the
saved-for-backward rules against saved_tensors_hooks, byte for byte."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.kinds.ssm import ssd_scan_macs

from oracle import analyze_with_calls, n_params, forward_counted as counted, check_saved_exact

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


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


SAVED = [  # exact against saved_tensors_hooks (nnshape verify --train-step)
    "input 7x32\nlinear 32\nmamba\n",
    "input 16x32\nlinear 32\nmamba d_state=8 d_conv=2 dt_rank=3\n",
    "input 9x32\nlinear 32\nmamba2 heads=4 head_dim=16 d_state=8 groups=2 chunk=4 d_conv=3\n",
    "input 33x32\nlinear 32\nmamba2 heads=4 head_dim=16 d_state=8 groups=2 chunk=8 d_conv=3\n",
]


@pytest.mark.parametrize("text", SAVED)
@pytest.mark.parametrize("batch", [1, 2])
def test_saved_for_backward_is_exact(text, batch):
    check_saved_exact(text, batch)
