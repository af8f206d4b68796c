"""Attention inside windows (torchvision's Swin, 2-D, and Video Swin, 3-D) or grids (torchvision's
MaxViT) of a channels-last map, with their relative position bias table and index buffer, or
Swin V2's scaled cosine attention and continuous position bias (an MLP over log-spaced offsets):
the same computation, parameters and buffers as theirs (tests compare outputs with the weights
copied across)."""

import torch
from torch import nn

from .attention import projections


def relative_index(window):
    """For the tokens of a window (row-major over its axes), the index of each pair's offset in a
    ∏(2·w − 1)-row table: the offsets, each moved to start at 0, read as digits of mixed radix
    (2·w − 1), as Swin, Video Swin and MaxViT build it."""
    window = (window, window) if isinstance(window, int) else tuple(window)
    coords = torch.stack(torch.meshgrid(*(torch.arange(w) for w in window), indexing="ij")).flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :]
    index = torch.zeros(offsets.shape[1:], dtype=torch.long)
    for axis, w in enumerate(window):
        index = index * (2 * w - 1) + offsets[axis] + w - 1
    return index


def log_offsets(window):
    """1 × (2·h − 1) × (2·w − 1) × 2, Swin V2's coordinate table: each (dh, dw) offset scaled to ±8
    by the window's size − 1 along its axis, then sign · log2(1 + |x|) / 3 (the CPB MLP's input)."""
    spans = [torch.arange(-(w - 1), w, dtype=torch.float32) * 8 / (w - 1) for w in window]
    table = torch.stack(torch.meshgrid(*spans, indexing="ij"), dim=-1)[None]
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0


def window_volume(sizes):
    """The product of the sizes (window_volume; the twins import only torch)."""
    out = 1
    for size in sizes:
        out *= size
    return out


def window_regions(window, shift):
    """The three stretches of one axis that a roll by ``shift`` brings together into the last
    window (counted from the end, as torchvision writes them; with no shift the last one is the axis)."""
    return (slice(0, -window), slice(-window, -shift), slice(-shift, None))


def shift_mask(padded, window, shift, device):
    """windows × L × L, torchvision's Swin mask: −100 between the tokens of a window that the roll
    brought together from different regions of the map (each axis cut in 3, labelled in order)."""
    labels = torch.zeros(padded, device=device)
    boxes = [()]
    for w, s in zip(window, shift):  # every combination of one region per axis, the last axis fastest
        boxes = [box + (region,) for box in boxes for region in window_regions(w, s)]
    for count, box in enumerate(boxes):
        labels[box] = count
    labels = window_partition(labels[None, ..., None], window)[..., 0]
    differ = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(differ.shape, device=device).masked_fill(differ, -100.0)


def window_partition(x, window):
    """N×(each axis a multiple of its window)×C -> N·groups × L × C, the groups in row-major order."""
    n, *dims, c = x.shape
    rank = len(window)
    split = [v for d, w in zip(dims, window) for v in (d // w, w)]
    order = [0] + [1 + 2 * i for i in range(rank)] + [2 + 2 * i for i in range(rank)] + [1 + 2 * rank]
    return x.view(n, *split, c).permute(order).reshape(-1, window_volume(window), c)


def window_merge(tokens, n, dims, window):
    """The inverse of ``window_partition``: N·groups × L × C back to N×dims×C."""
    rank, c = len(window), tokens.shape[-1]
    blocks = [d // w for d, w in zip(dims, window)]
    order = [0] + [v for i in range(rank) for v in (1 + i, 1 + rank + i)] + [1 + 2 * rank]
    return tokens.view(n, *blocks, *window, c).permute(order).reshape(n, *dims, c)


class WindowAttention(nn.Module):
    """Self-attention inside the windows of an N×H×W×C map (Swin) or an N×T×H×W×C map (Video
    Swin): padded to a multiple of the window, optionally shifted, the mask built here; or inside
    grids of size×size tokens strided across the map (MaxViT's grid attention). With ``rel_pos``,
    the relative position bias of a ∏(2·w − 1) × heads table. Swin V2: ``cosine`` scores cos(q, k)
    times exp(min(logit_scale, log 100)) (a learned heads × 1 × 1) and leaves the k bias out of
    forward (a parameter still, as torchvision zeroes it); ``cpb`` > 0 makes the bias 16·sigmoid of
    an MLP (2 → cpb → heads) over the log-spaced offsets of a 2-D window.

    ``size`` and ``shift`` are one number (square 2-D) or one per axis. Along an axis one window
    covers, a 2-D window keeps its size and is not shifted (torchvision's Swin); a 3-D window
    shrinks to the map there, is not shifted, and reads the first L×L entries of its index
    (torchvision's Video Swin)."""

    LOG_100 = 4.605170185988092  # the cap on the cosine logit scale, log(1 / 0.01)

    def __init__(self, dim, heads, kv_heads, head_dim, size, grid=False, shift=0, rel_pos=False, biases=(True,) * 4,
                 dropout=0.0, cosine=False, cpb=0):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.window = (size, size) if isinstance(size, int) else tuple(size)
        self.shift = (shift,) * len(self.window) if isinstance(shift, int) else tuple(shift)
        self.grid, self.dropout = grid, dropout
        self.relative_position_bias_table = self.logit_scale = self.cpb_mlp = None
        if rel_pos:
            rows = window_volume(2 * w - 1 for w in self.window)
            self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, heads))
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        if cosine:
            self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        projections(self, dim, dim, heads, kv_heads, head_dim, biases)
        if cpb:
            self.cpb_mlp = nn.Sequential(nn.Linear(2, cpb), nn.ReLU(), nn.Linear(cpb, heads, bias=False))
            self.register_buffer("relative_coords_table", log_offsets(self.window))
        if rel_pos or cpb:
            self.register_buffer("relative_position_index", relative_index(self.window))

    def geometry(self, dims):
        """(window, shift) on a map of these sizes, before padding."""
        window, shift = list(self.window), list(self.shift)
        if len(window) == 3:  # Video Swin: an axis the window covers takes the map's size, unshifted
            for i, d in enumerate(dims):
                if d <= window[i]:
                    window[i], shift[i] = d, 0
        else:  # Swin: not shifted where one (padded) window covers the axis
            shift = [0 if -(-d // w) == 1 else s for d, w, s in zip(dims, window, shift)]
        return tuple(window), tuple(shift)

    def bias(self, length):
        """heads × L × L from the table (or the CPB MLP's outputs, then 16·sigmoid); a window cut to
        fewer tokens reads the first L×L entries."""
        full = window_volume(self.window)
        index = self.relative_position_index.reshape(-1)  # a view of the buffer: nothing saved anew
        if self.cpb_mlp is not None:
            rows = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
        else:
            rows = self.relative_position_bias_table
        table = rows[index].view(full, full, -1)[:length, :length].permute(2, 0, 1)
        return table if self.cpb_mlp is None else 16 * torch.sigmoid(table)

    def forward(self, x):
        n, *dims, c = x.shape
        rank = len(dims)
        if self.grid:
            window, shift = self.window, (0,) * rank
        else:  # pad to multiples of the window at the end of each axis, as torchvision's Swin does
            window, shift = self.geometry(dims)
            pads = [0, 0]
            for d, w in reversed(list(zip(dims, window))):
                pads += [0, (w - d % w) % w]
            x = nn.functional.pad(x, pads)
        padded = tuple(x.shape[1:-1])
        axes = tuple(range(1, rank + 1))
        if any(shift):
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=axes)
        if self.grid:  # the tokens (i·H/s + a, j·W/s + b), i, j < s, for each offset (a, b)
            s, (ph, pw) = window[0], padded
            tokens = x.view(n, s, ph // s, s, pw // s, c).permute(0, 2, 4, 1, 3, 5).reshape(-1, s * s, c)
        else:
            tokens = window_partition(x, window)
        length, heads, hd = window_volume(window), self.heads, self.head_dim
        groups = tokens.shape[0] // n
        q = self.q_proj(tokens).view(-1, length, heads, hd).transpose(1, 2)
        if self.logit_scale is not None and self.k_proj.bias is not None:  # Swin V2 zeroes the k bias in forward
            k = nn.functional.linear(tokens, self.k_proj.weight, self.k_proj.bias.clone().zero_())
        else:
            k = self.k_proj(tokens)
        k = k.view(-1, length, self.kv_heads, hd).transpose(1, 2)
        v = self.v_proj(tokens).view(-1, length, self.kv_heads, hd).transpose(1, 2)
        if self.kv_heads != heads:
            k = k.repeat_interleave(heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(heads // self.kv_heads, dim=1)
        scale = None
        if self.logit_scale is not None:  # cosine scores: unit q and k, q times the per-head scale
            q = nn.functional.normalize(q, dim=-1) * torch.clamp(self.logit_scale, max=self.LOG_100).exp().to(q.dtype)
            k = nn.functional.normalize(k, dim=-1)
            scale = 1.0
        mask = None  # 4-D and contiguous: CPU attention keeps its fused kernel whatever the options
        if self.relative_position_bias_table is not None or self.cpb_mlp is not None:
            mask = self.bias(length).to(q.dtype)[None].contiguous()
        if any(shift):  # a mask per window: the windows join the heads, the batch broadcasts
            shifted = shift_mask(padded, window, shift, x.device).to(q.dtype)[:, None]  # windows × 1 × L × L
            mask = (shifted if mask is None else mask + shifted).expand(groups, heads, length, length)
            mask = mask.reshape(1, groups * heads, length, length)
            q, k, v = (t.reshape(n, groups * heads, length, hd) for t in (q, k, v))
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
                                                             scale=scale)
        out = self.o_proj(out.reshape(-1, heads, length, hd).transpose(1, 2).reshape(-1, length, heads * hd))
        if self.grid:
            out = out.view(n, ph // s, pw // s, s, s, c).permute(0, 3, 1, 4, 2, 5).reshape(n, ph, pw, c)
        else:
            out = window_merge(out, n, padded, window)
        if any(shift):
            out = torch.roll(out, shifts=shift, dims=axes)
        return out[(slice(None),) + tuple(slice(0, d) for d in dims)]
