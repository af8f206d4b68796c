"""nnshape/importers/torch_mvit.py: `import torch` of torchvision's video MViT, on the MViT of
tests/mvit_nets.py (written as torchvision's, with its class names; CI has no torchvision, so the
test registers that module's classes under the mapping torchvision's get). The import verifies
itself (parameters, buffers, output shape, MACs, else E0724); the numbers are also measured here
independently, and what cannot be written exactly is refused (E0723)."""

from __future__ import annotations

import pytest

import nnshape

torch = pytest.importorskip("torch")


@pytest.fixture
def mvit_nets(monkeypatch):
    import mvit_nets

    from nnshape.importers import torch_map, torch_mvit

    for cls in ("MultiscaleAttention", "Pool", "PositionalEncoding"):
        mapper = torch_mvit.MAPPERS[f"torchvision.models.video.mvit.{cls}"]
        monkeypatch.setitem(torch_map.NAMED_MODULES, f"mvit_nets.{cls}", mapper)
    return mvit_nets


def _measure(module, x):
    from oracle import forward_counted, n_params

    out, macs = forward_counted(module.eval(), x)
    return n_params(module), macs, tuple(out.shape)


@pytest.mark.parametrize("v2", [False, True], ids=["v1", "v2"])
def test_mvit_imports_exactly(mvit_nets, v2):
    torch.manual_seed(0)
    model = mvit_nets.MViT(v2)
    x = torch.randn(2, 3, 4, 16, 16)
    text = nnshape.import_torch(model, x)
    summary = nnshape.summarize(text, batch=2)
    assert (summary.total_params, summary.total_macs, tuple(summary.output_shape)) == _measure(model, x)
    assert summary.total_buffers == 0
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    assert sum(line.startswith("clstoken") for line in lines) == 1
    assert any(line.startswith("tokenpool 1x3x3 s=1x2x2 p=0x1x1 thw=2x4x4") for line in lines)
    attention = [line for line in lines if line.startswith("poolattention")]
    assert len(attention) == 4
    if v2:
        assert not any("posemb3d" in line for line in lines)
        assert all("rel_pos=true residual_pool=true residual_cls=false" in line for line in attention)
        assert "dim_out=16" in attention[1] and "stride_q=1x2x2" in attention[1] and "thw=2x2x2" in attention[2]
    else:
        assert "posemb3d thw=2x4x4" in lines
        assert not any("rel_pos" in line for line in attention)
        assert attention[0].startswith("poolattention 1 thw=2x4x4 kernel_kv=3 stride_kv=1x2x2")


def test_tables_for_another_grid_are_refused(mvit_nets):
    model = mvit_nets.MViT(True)  # built for 4×16×16 clips: rel_pos tables of a 4×4 grid, which
    model.pos_encoding.spatial_size = (8, 8)  # torchvision stretches to a larger grid in forward
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.import_torch(model, torch.randn(2, 3, 4, 32, 32))
    assert info.value.code == "E0723" and "relative position tables sized for another grid" in str(info.value)


def test_pools_of_another_make_are_refused(mvit_nets):
    model = mvit_nets.MViT(False)
    model.blocks[1].pool_skip.pool = torch.nn.Conv3d(16, 16, 3, stride=(1, 2, 2), padding=1)  # a learned skip pool
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.import_torch(model, torch.randn(2, 3, 4, 16, 16))
    assert info.value.code == "E0723" and "Pool of a Conv3d" in str(info.value)
    model = mvit_nets.MViT(False)
    model.blocks[0].attn.pool_k.norm_act.append(torch.nn.GELU())  # an activation after the pool's norm
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.import_torch(model, torch.randn(2, 3, 4, 16, 16))
    assert info.value.code == "E0723" and "one affine LayerNorm(head_dim)" in str(info.value)
