"""A multiscale vision transformer written the way torchvision's video MViT is (its semantics,
not its code): the oracle of tests/test_kinds_multiscale.py and of the `import torch` mapping of
MViT, without torchvision (CI does not install it). Class names are torchvision's, so the
importer's mapping applies to them once the test registers this module's names.

Every block takes and returns the token grid ``thw`` beside the tokens, as torchvision's do.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Pool(nn.Module):
    """Pools the grid tokens of B×L×C or B×heads×L×C, the class token split off and put back."""

    def __init__(self, pool, norm=None):
        super().__init__()
        self.pool = pool
        self.norm_act = nn.Sequential(norm) if norm is not None else None
        self.norm_before_pool = False

    def forward(self, x, thw):
        flat = x.dim() == 3
        if flat:
            x = x.unsqueeze(1)
        cls, grid = torch.tensor_split(x, indices=(1,), dim=2)
        grid = grid.transpose(2, 3)
        b, n, c = grid.shape[:3]
        grid = self.pool(grid.reshape((b * n, c) + tuple(thw)).contiguous())
        t, h, w = grid.shape[2:]
        x = torch.cat((cls, grid.reshape(b, n, c, -1).transpose(2, 3)), dim=2)
        if self.norm_act is not None:
            x = self.norm_act(x)
        if flat:
            x = x.squeeze(1)
        return x, (t, h, w)


def offsets(table, nq, nk):
    rows = 2 * max(nq, nk) - 1
    if table.shape[0] != rows:
        table = nn.functional.interpolate(table.permute(1, 0).unsqueeze(0), size=rows, mode="linear").squeeze(0).permute(1, 0)
    dist = (torch.arange(nq)[:, None] * max(nk / nq, 1.0)
            - (torch.arange(nk)[None, :] + (1.0 - nk)) * max(nq / nk, 1.0))
    return table[dist.long()]


def rel_pos_bias(attn, q, q_thw, k_thw, table_h, table_w, table_t):
    qt, qh, qw = q_thw
    kt, kh, kw = k_thw
    rh, rw, rt = offsets(table_h, qh, kh), offsets(table_w, qw, kw), offsets(table_t, qt, kt)
    b, heads, _, dim = q.shape
    grid_q = q[:, :, 1:].reshape(b, heads, qt, qh, qw, dim)
    along_h = torch.einsum("bythwc,hkc->bythwk", grid_q, rh)
    along_w = torch.einsum("bythwc,wkc->bythwk", grid_q, rw)
    along_t = torch.matmul(grid_q.permute(2, 0, 1, 3, 4, 5).reshape(qt, b * heads * qh * qw, dim), rt.transpose(1, 2))
    along_t = along_t.transpose(0, 1).view(b, heads, qh, qw, qt, kt).permute(0, 1, 4, 2, 3, 5)
    bias = (along_h[:, :, :, :, :, None, :, None] + along_w[:, :, :, :, :, None, None, :]
            + along_t[:, :, :, :, :, :, None, None]).reshape(b, heads, qt * qh * qw, kt * kh * kw)
    attn[:, :, 1:, 1:] += bias
    return attn


def pool_of(kind, dim, kernel, stride, eps):
    padding = [k // 2 for k in kernel]
    if kind == "conv":
        layer = nn.Conv3d(dim, dim, kernel, stride=stride, padding=padding, groups=dim, bias=False)
    elif kind == "max":
        layer = nn.MaxPool3d(kernel, stride=stride, padding=padding)
    else:
        layer = nn.AvgPool3d(kernel, stride=stride, padding=padding)
    return Pool(layer, nn.LayerNorm(dim, eps=eps))


class MultiscaleAttention(nn.Module):
    def __init__(self, input_size, embed_dim, output_dim, num_heads, kernel_q, kernel_kv, stride_q, stride_kv,
                 residual_pool=False, residual_with_cls_embed=True, rel_pos_embed=False, pool="conv", eps=1e-6,
                 dropout=0.0):
        super().__init__()
        self.output_dim, self.num_heads = output_dim, num_heads
        self.head_dim = output_dim // num_heads
        self.scaler = 1.0 / math.sqrt(self.head_dim)
        self.residual_pool, self.residual_with_cls_embed = residual_pool, residual_with_cls_embed
        self.qkv = nn.Linear(embed_dim, 3 * output_dim)
        self.project = nn.Sequential(nn.Linear(output_dim, output_dim), *([nn.Dropout(dropout, inplace=True)] if dropout > 0 else []))
        pools = lambda kernel, stride: math.prod(kernel) > 1 or math.prod(stride) > 1  # noqa: E731
        self.pool_q = pool_of(pool, self.head_dim, kernel_q, stride_q, eps) if pools(kernel_q, stride_q) else None
        self.pool_k = pool_of(pool, self.head_dim, kernel_kv, stride_kv, eps) if pools(kernel_kv, stride_kv) else None
        self.pool_v = pool_of(pool, self.head_dim, kernel_kv, stride_kv, eps) if pools(kernel_kv, stride_kv) else None
        self.rel_pos_h = self.rel_pos_w = self.rel_pos_t = None
        if rel_pos_embed:
            size = max(input_size[1:])
            q_size = size // stride_q[1] if stride_q else size
            kv_size = size // stride_kv[1] if stride_kv else size
            spatial = 2 * max(q_size, kv_size) - 1
            self.rel_pos_h = nn.Parameter(torch.randn(spatial, self.head_dim) * 0.02)
            self.rel_pos_w = nn.Parameter(torch.randn(spatial, self.head_dim) * 0.02)
            self.rel_pos_t = nn.Parameter(torch.randn(2 * input_size[0] - 1, self.head_dim) * 0.02)

    def forward(self, x, thw):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).transpose(1, 3).unbind(dim=2)
        k_thw = thw
        if self.pool_k is not None:
            k, k_thw = self.pool_k(k, thw)
        if self.pool_v is not None:
            v = self.pool_v(v, thw)[0]
        if self.pool_q is not None:
            q, thw = self.pool_q(q, thw)
        attn = torch.matmul(self.scaler * q, k.transpose(2, 3))
        if self.rel_pos_h is not None:
            attn = rel_pos_bias(attn, q, thw, k_thw, self.rel_pos_h, self.rel_pos_w, self.rel_pos_t)
        x = torch.matmul(attn.softmax(dim=-1), v)
        if self.residual_pool:
            if self.residual_with_cls_embed:
                x.add_(q)
            else:
                x[:, :, 1:, :] += q[:, :, 1:, :]
        x = x.transpose(1, 2).reshape(b, -1, self.output_dim)
        return self.project(x), thw


class MultiscaleBlock(nn.Module):
    def __init__(self, input_size, heads, dim_in, dim_out, kernel_q, kernel_kv, stride_q, stride_kv, *, v2: bool):
        super().__init__()
        self.proj_after_attn = v2
        self.pool_skip = None
        if math.prod(stride_q) > 1:
            kernel_skip = [s + 1 if s > 1 else s for s in stride_q]
            self.pool_skip = Pool(nn.MaxPool3d(kernel_skip, stride=stride_q, padding=[k // 2 for k in kernel_skip]))
        attn_dim = dim_out if v2 else dim_in
        self.norm1 = nn.LayerNorm(dim_in, eps=1e-6)
        self.norm2 = nn.LayerNorm(attn_dim, eps=1e-6)
        self.attn = MultiscaleAttention(input_size, dim_in, attn_dim, heads, kernel_q, kernel_kv, stride_q, stride_kv,
                                        residual_pool=v2, residual_with_cls_embed=False, rel_pos_embed=v2)
        self.mlp = nn.Sequential(nn.Linear(attn_dim, 4 * attn_dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(4 * attn_dim, dim_out),
                                 nn.Dropout(0.0))
        self.stochastic_depth = nn.Identity()
        self.project = nn.Linear(dim_in, dim_out) if dim_in != dim_out else None

    def forward(self, x, thw):
        x_norm1 = self.norm1(x)
        x_attn, thw_new = self.attn(x_norm1, thw)
        x = x if self.project is None or not self.proj_after_attn else self.project(x_norm1)
        x_skip = x if self.pool_skip is None else self.pool_skip(x, thw)[0]
        x = x_skip + self.stochastic_depth(x_attn)
        x_norm2 = self.norm2(x)
        x_proj = x if self.project is None or self.proj_after_attn else self.project(x_norm2)
        return x_proj + self.stochastic_depth(self.mlp(x_norm2)), thw_new


class PositionalEncoding(nn.Module):
    def __init__(self, dim, spatial_size, temporal_size, rel_pos_embed):
        super().__init__()
        self.spatial_size, self.temporal_size = spatial_size, temporal_size
        self.class_token = nn.Parameter(torch.randn(dim) * 0.02)
        self.spatial_pos = self.temporal_pos = self.class_pos = None
        if not rel_pos_embed:
            self.spatial_pos = nn.Parameter(torch.randn(spatial_size[0] * spatial_size[1], dim) * 0.02)
            self.temporal_pos = nn.Parameter(torch.randn(temporal_size, dim) * 0.02)
            self.class_pos = nn.Parameter(torch.randn(dim) * 0.02)

    def forward(self, x):
        x = torch.cat((self.class_token.expand(x.size(0), -1).unsqueeze(1), x), dim=1)
        if self.spatial_pos is not None:
            hw, dim = self.spatial_pos.shape
            pos = torch.repeat_interleave(self.temporal_pos, hw, dim=0)
            pos.add_(self.spatial_pos.unsqueeze(0).expand(self.temporal_size, -1, -1).reshape(-1, dim))
            x.add_(torch.cat((self.class_pos.unsqueeze(0), pos), dim=0).unsqueeze(0))
        return x


# (heads, dim_in, dim_out, kernel_q, kernel_kv, stride_q, stride_kv) per block, small
V1_BLOCKS = [(1, 8, 16, [], [3, 3, 3], [], [1, 2, 2]), (2, 16, 16, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 1, 1]),
             (2, 16, 32, [], [3, 3, 3], [], [1, 1, 1]), (4, 32, 32, [], [3, 3, 3], [], [1, 1, 1])]
V2_BLOCKS = [(1, 8, 8, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 2, 2]), (2, 8, 16, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 2, 2]),
             (2, 16, 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 1, 1]), (4, 16, 32, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 1, 1])]


class MViT(nn.Module):
    """A small MViT: v1 (absolute positions, widths changed after attention's MLP) or v2 (relative
    positions, residual pooling, widths changed in attention), on 3×T×H×W clips."""

    def __init__(self, v2: bool, temporal=4, spatial=(16, 16), classes=10):
        super().__init__()
        blocks = V2_BLOCKS if v2 else V1_BLOCKS
        self.conv_proj = nn.Conv3d(3, blocks[0][1], (3, 7, 7), stride=(2, 4, 4), padding=(1, 3, 3))
        size = [temporal // 2, spatial[0] // 4, spatial[1] // 4]
        self.pos_encoding = PositionalEncoding(blocks[0][1], (size[1], size[2]), size[0], v2)
        self.blocks = nn.ModuleList()
        for heads, dim_in, dim_out, kq, kkv, sq, skv in blocks:
            self.blocks.append(MultiscaleBlock(list(size), heads, dim_in, dim_out, kq, kkv, sq, skv, v2=v2))
            if sq:
                size = [s // t for s, t in zip(size, sq)]
        self.norm = nn.LayerNorm(blocks[-1][2], eps=1e-6)
        self.head = nn.Sequential(nn.Dropout(0.5, inplace=True), nn.Linear(blocks[-1][2], classes))

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = self.pos_encoding(x)
        thw = (self.pos_encoding.temporal_size,) + self.pos_encoding.spatial_size
        for block in self.blocks:
            x, thw = block(x, thw)
        return self.head(self.norm(x)[:, 0])


# ------------------------------------------------------------------ the spec side


def _x(values) -> str:
    return "x".join(map(str, values))


def spec_line(thw, dim_out, heads, kq, kkv, sq, skv, ref: dict) -> str:
    line = f"poolattention {heads} thw={_x(thw)} dim_out={dim_out} eps=1e-6"
    for key, value in (("kernel_q", kq), ("kernel_kv", kkv), ("stride_q", sq), ("stride_kv", skv)):
        if value:
            line += f" {key}={_x(value)}"
    line += {"max": " pool='max'", "avg": " pool='avg'"}.get(ref.get("pool"), "")
    if ref.get("rel_pos_embed"):
        line += " rel_pos=true"
    if ref.get("residual_pool"):
        line += f" residual_pool=true residual_cls={str(ref.get('residual_with_cls_embed', True)).lower()}"
    return line


def copy_weights(ref, twin) -> None:
    """The reference's tensors into the twin, by the names each gives them."""
    import torch

    names = {"project.0.": "project.", "norm_act.0.": "norm.", "norm_act.": "norm."}  # torchvision wraps the norm in a Sequential
    own = dict(twin.named_parameters())
    with torch.no_grad():
        for name, p in ref.named_parameters():
            for old, new in names.items():
                name = name.replace(old, new)
            own.pop(name).copy_(p)
    assert not own, f"twin parameters the reference lacks: {sorted(own)}"
