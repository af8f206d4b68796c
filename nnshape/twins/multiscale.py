"""Pooling attention on a class token and a T×H×W grid of tokens (MViT v1 and v2, as
torchvision's video MViT runs it), the max/avg pooling of such a token sequence (MViT's skip
path) and its separable space-time position embedding: the same operations in the same order,
so the same outputs (with the weights copied across), counts and saved tensors."""

import torch
from torch import nn


def pooled_grid(grid, kernel, stride, padding):
    """The T×H×W grid a pool with these windows leaves (floor division, as Conv3d and MaxPool3d)."""
    return tuple((g + 2 * p - k) // s + 1 for g, k, s, p in zip(grid, kernel, stride, padding))


class GridPool(nn.Module):
    """Pools the grid tokens of B×L×C (or B×heads×L×C) on their T×H×W grid, the first token (the
    class token) kept out of it and put back in front; then an optional LayerNorm over C."""

    def __init__(self, pool, norm=None):
        super().__init__()
        self.pool = pool
        self.norm = norm

    def forward(self, x, grid):
        three = x.dim() == 3
        if three:
            x = x.unsqueeze(1)
        head, tokens = x[:, :, :1], x[:, :, 1:]
        b, groups, c = tokens.shape[0], tokens.shape[1], tokens.shape[3]
        tokens = tokens.transpose(2, 3).reshape((b * groups, c) + tuple(grid)).contiguous()
        tokens = self.pool(tokens)
        out_grid = tuple(tokens.shape[2:])
        tokens = tokens.reshape(b, groups, c, -1).transpose(2, 3)
        x = torch.cat((head, tokens), dim=2)
        if self.norm is not None:
            x = self.norm(x)
        if three:
            x = x.squeeze(1)
        return x, out_grid


def grid_pool(mode, channels, kernel, stride, eps):
    """MViT's pooling of q, k or v: a depthwise Conv3d without bias ('conv'), or a max/avg pool,
    padded by kernel // 2, then a LayerNorm over the head's channels."""
    padding = tuple(k // 2 for k in kernel)
    if mode == "conv":
        pool = nn.Conv3d(channels, channels, kernel, stride=stride, padding=padding, groups=channels, bias=False)
    elif mode == "max":
        pool = nn.MaxPool3d(kernel, stride=stride, padding=padding)
    else:
        pool = nn.AvgPool3d(kernel, stride=stride, padding=padding)
    return GridPool(pool, nn.LayerNorm(channels, eps=eps))


def axis_offsets(table, nq, nk):
    """The nq×nk×C rows of a relative position table for one axis: the table stretched to
    2·max(nq, nk) − 1 rows by linear interpolation where its length differs, then each (query,
    key) pair's row, offsets scaled by the ratio of the two lengths (MViT v2)."""
    rows = 2 * max(nq, nk) - 1
    if table.shape[0] != rows:
        table = nn.functional.interpolate(table.permute(1, 0).unsqueeze(0), size=rows, mode="linear")
        table = table.squeeze(0).permute(1, 0)
    q_scale, k_scale = max(nk / nq, 1.0), max(nq / nk, 1.0)
    distance = torch.arange(nq)[:, None] * q_scale - (torch.arange(nk)[None, :] + (1.0 - nk)) * k_scale
    return table[distance.long()]


def add_decomposed_bias(scores, q, q_grid, k_grid, table_h, table_w, table_t):
    """scores[:, :, 1:, 1:] += the decomposed relative position bias of MViT v2: for each grid
    query, its dot products with the height, width and time rows of each key's offset."""
    qt, qh, qw = q_grid
    kt, kh, kw = k_grid
    rows_h, rows_w, rows_t = axis_offsets(table_h, qh, kh), axis_offsets(table_w, qw, kw), axis_offsets(table_t, qt, kt)
    b, heads, _, c = q.shape
    grid_q = q[:, :, 1:].reshape(b, heads, qt, qh, qw, c)
    bias_h = torch.einsum("bythwc,hkc->bythwk", grid_q, rows_h)
    bias_w = torch.einsum("bythwc,wkc->bythwk", grid_q, rows_w)
    by_time = grid_q.permute(2, 0, 1, 3, 4, 5).reshape(qt, b * heads * qh * qw, c)
    bias_t = torch.matmul(by_time, rows_t.transpose(1, 2)).transpose(0, 1)
    bias_t = bias_t.view(b, heads, qh, qw, qt, kt).permute(0, 1, 4, 2, 3, 5)
    bias = (bias_h[:, :, :, :, :, None, :, None] + bias_w[:, :, :, :, :, None, None, :]
            + bias_t[:, :, :, :, :, :, None, None]).reshape(b, heads, qt * qh * qw, kt * kh * kw)
    scores[:, :, 1:, 1:] += bias
    return scores


def rel_table_rows(grid, stride_q, stride_kv):
    """(spatial, temporal) rows of MViT v2's tables, as torchvision sizes them from the block's
    grid: 2·max(S // stride_q[H], S // stride_kv[H]) − 1 with S = max(H, W), and 2·T − 1."""
    size = max(grid[1:])
    return 2 * max(size // stride_q[1], size // stride_kv[1]) - 1, 2 * grid[0] - 1


class PoolAttention(nn.Module):
    """MViT's multiscale attention on B×(1 + T·H·W)×C: one qkv projection, q and k/v pooled on
    the grid (class token kept), softmax(q·kᵀ/√d [+ decomposed relative position bias]) · v,
    plus the pooled q (residual pooling), and the output projection."""

    def __init__(self, dim, dim_out, heads, grid, kernel_q=(1, 1, 1), stride_q=(1, 1, 1), kernel_kv=(1, 1, 1),
                 stride_kv=(1, 1, 1), pool="conv", rel_pos=False, residual_pool=False, residual_cls=True, eps=1e-5,
                 dropout=0.0):
        super().__init__()
        self.heads, self.dim_out, self.grid = heads, dim_out, tuple(grid)
        self.head_dim = dim_out // heads
        self.scale = 1.0 / self.head_dim ** 0.5
        self.residual_pool, self.residual_cls = residual_pool, residual_cls
        if rel_pos:
            spatial, temporal = rel_table_rows(self.grid, stride_q, stride_kv)
            self.rel_pos_h = nn.Parameter(torch.zeros(spatial, self.head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(spatial, self.head_dim))
            self.rel_pos_t = nn.Parameter(torch.zeros(temporal, self.head_dim))
            for table in (self.rel_pos_h, self.rel_pos_w, self.rel_pos_t):
                nn.init.trunc_normal_(table, std=0.02)
        else:
            self.rel_pos_h = self.rel_pos_w = self.rel_pos_t = None
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.project = nn.Linear(dim_out, dim_out)
        self.dropout = nn.Dropout(dropout, inplace=True) if dropout > 0 else None
        pools_q = any(k > 1 for k in kernel_q) or any(s > 1 for s in stride_q)
        pools_kv = any(k > 1 for k in kernel_kv) or any(s > 1 for s in stride_kv)
        hd = self.head_dim
        self.pool_q = grid_pool(pool, hd, kernel_q, stride_q, eps) if pools_q else None
        self.pool_k = grid_pool(pool, hd, kernel_kv, stride_kv, eps) if pools_kv else None
        self.pool_v = grid_pool(pool, hd, kernel_kv, stride_kv, eps) if pools_kv else None

    def forward(self, x):
        b, length, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, length, 3, self.heads, self.head_dim).transpose(1, 3).unbind(dim=2)
        q_grid = k_grid = self.grid
        if self.pool_k is not None:
            k, k_grid = self.pool_k(k, self.grid)
            v = self.pool_v(v, self.grid)[0]
        if self.pool_q is not None:
            q, q_grid = self.pool_q(q, self.grid)
        scores = torch.matmul(self.scale * q, k.transpose(2, 3))
        if self.rel_pos_h is not None:
            scores = add_decomposed_bias(scores, q, q_grid, k_grid, self.rel_pos_h, self.rel_pos_w, self.rel_pos_t)
        out = torch.matmul(scores.softmax(dim=-1), v)
        if self.residual_pool:
            if self.residual_cls:
                out.add_(q)
            else:
                out[:, :, 1:, :] += q[:, :, 1:, :]
        out = self.project(out.transpose(1, 2).reshape(b, -1, self.dim_out))
        return out if self.dropout is None else self.dropout(out)


class TokenPool(nn.Module):
    """Max (or average) pooling of the grid tokens of B×(1 + T·H·W)×C, the class token kept:
    MViT's pooled skip connection."""

    def __init__(self, grid, kernel, stride, padding, mode="max"):
        super().__init__()
        self.grid = tuple(grid)
        cls = nn.MaxPool3d if mode == "max" else nn.AvgPool3d
        self.pool = GridPool(cls(kernel, stride=stride, padding=padding))

    def forward(self, x):
        return self.pool(x, self.grid)[0]


class SpaceTimePositions(nn.Module):
    """Adds MViT v1's learned separable positions to B×(1 + T·H·W)×C: a spatial (H·W)×C table
    repeated over time, a temporal T×C table repeated over space, and the class token's own row."""

    def __init__(self, grid, dim):
        super().__init__()
        t, h, w = grid
        self.spatial = nn.Parameter(torch.zeros(h * w, dim))
        self.temporal = nn.Parameter(torch.zeros(t, dim))
        self.cls = nn.Parameter(torch.zeros(dim))
        for p in (self.spatial, self.temporal, self.cls):
            nn.init.trunc_normal_(p, std=0.02)

    def forward(self, x):
        hw, dim = self.spatial.shape
        t = self.temporal.shape[0]
        table = torch.repeat_interleave(self.temporal, hw, dim=0)
        table.add_(self.spatial.unsqueeze(0).expand(t, -1, -1).reshape(-1, dim))
        table = torch.cat((self.cls.unsqueeze(0), table), dim=0).unsqueeze(0)
        return x + table
