"""Attention inside windows (torchvision's Swin) or grids (torchvision's MaxViT) of an N×H×W×C
map, with their relative position bias table and index buffer: the same computation, parameters
and buffers as theirs (tests compare outputs with the weights copied across)."""

import torch
from torch import nn

from .attention import projections


def relative_index(size):
    """For the size×size tokens of a window (row-major), the index of each pair's offset in a
    (2·size − 1)² table: (dh + size − 1)·(2·size − 1) + dw + size − 1, as Swin and MaxViT build it."""
    coords = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")).flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :] + size - 1
    return offsets[0] * (2 * size - 1) + offsets[1]


def shift_mask(height, width, size, shift_h, shift_w, device):
    """windows × L × L, torchvision's Swin mask: −100 between the tokens of a window that the roll
    brought together from different regions of the map."""
    labels = torch.zeros(height, width, device=device)
    count = 0
    for h in ((0, -size), (-size, -shift_h), (-shift_h, None)):
        for w in ((0, -size), (-size, -shift_w), (-shift_w, None)):
            labels[h[0]:h[1], w[0]:w[1]] = count
            count += 1
    labels = labels.view(height // size, size, width // size, size).permute(0, 2, 1, 3).reshape(-1, size * size)
    differ = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(differ.shape, device=device).masked_fill(differ, -100.0)


class WindowAttention(nn.Module):
    """Self-attention inside the size×size windows of an N×H×W×C map (Swin: padded to a multiple
    of the window, optionally shifted, the mask built here) or inside grids of size×size tokens
    strided across the map (MaxViT's grid attention), with the relative position bias of a
    (2·size − 1)² × heads table when ``rel_pos``."""

    def __init__(self, dim, heads, kv_heads, head_dim, size, grid=False, shift=0, rel_pos=False, biases=(True,) * 4,
                 dropout=0.0):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.size, self.grid, self.shift, self.dropout = size, grid, shift, dropout
        projections(self, dim, dim, heads, kv_heads, head_dim, biases)
        self.relative_position_bias_table = None
        if rel_pos:
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * size - 1) ** 2, heads))
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
            self.register_buffer("relative_position_index", relative_index(size))

    def forward(self, x):
        n, height, width, c = x.shape
        s = self.size
        if not self.grid:  # pad to multiples of the window, as torchvision's Swin does
            x = nn.functional.pad(x, (0, 0, 0, (s - width % s) % s, 0, (s - height % s) % s))
        ph, pw = x.shape[1], x.shape[2]
        shift_h = self.shift if s < ph else 0  # a window covering the whole map needs no shift
        shift_w = self.shift if s < pw else 0
        if shift_h or shift_w:
            x = torch.roll(x, shifts=(-shift_h, -shift_w), dims=(1, 2))
        if self.grid:  # the tokens (i·H/s + a, j·W/s + b), i, j < s, for each offset (a, b)
            tokens = x.view(n, s, ph // s, s, pw // s, c).permute(0, 2, 4, 1, 3, 5).reshape(-1, s * s, c)
        else:
            tokens = x.view(n, ph // s, s, pw // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)
        groups, length, heads, hd = tokens.shape[0] // n, s * s, self.heads, self.head_dim
        q = self.q_proj(tokens).view(-1, length, heads, hd).transpose(1, 2)
        k = self.k_proj(tokens).view(-1, length, self.kv_heads, hd).transpose(1, 2)
        v = self.v_proj(tokens).view(-1, length, self.kv_heads, hd).transpose(1, 2)
        if self.kv_heads != heads:
            k = k.repeat_interleave(heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(heads // self.kv_heads, dim=1)
        mask = None  # 4-D and contiguous: CPU attention keeps its fused kernel whatever the options
        if self.relative_position_bias_table is not None:
            index = self.relative_position_index.reshape(-1)
            mask = self.relative_position_bias_table[index].view(length, length, -1).permute(2, 0, 1).to(q.dtype)[None].contiguous()
        if shift_h or shift_w:  # a mask per window: the windows join the heads, the batch broadcasts
            shifted = shift_mask(ph, pw, s, shift_h, shift_w, x.device).to(q.dtype)[:, None]  # windows × 1 × L × L
            mask = (shifted if mask is None else mask + shifted).expand(groups, heads, length, length)
            mask = mask.reshape(1, groups * heads, length, length)
            q, k, v = (t.reshape(n, groups * heads, length, hd) for t in (q, k, v))
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        out = self.o_proj(out.reshape(-1, heads, length, hd).transpose(1, 2).reshape(-1, length, heads * hd))
        if self.grid:
            out = out.view(n, ph // s, pw // s, s, s, c).permute(0, 3, 1, 4, 2, 5).reshape(n, ph, pw, c)
        else:
            out = out.view(n, ph // s, pw // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(n, ph, pw, c)
        if shift_h or shift_w:
            out = torch.roll(out, shifts=(shift_h, shift_w), dims=(1, 2))
        return out[:, :height, :width, :]
