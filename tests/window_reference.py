"""Shifted-window attention as torchvision's Swin (2-D) and Video Swin (3-D) run it, written for
the tests from their semantics in plain loops and matmuls (packed qkv, the table read through
the index, each window's mask labelled token by token): the oracle of nnshape's WindowAttention
twin (tests/test_kinds_window3d.py), and under torchvision's class name the attention of a Video
Swin-style net for the importer (tests/torch_nets.py)."""

from __future__ import annotations

import itertools
import math

import torch


class Reference(torch.nn.Module):
    """Shifted-window attention as torchvision runs it, rank 2 or 3, in plain loops and matmuls."""

    def __init__(self, dim, window, shift, heads):
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = list(window), list(shift), heads
        self.attention_dropout = self.dropout = 0.0  # what the importer reads of torchvision's module
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        rows = math.prod(2 * w - 1 for w in window)
        self.relative_position_bias_table = torch.nn.Parameter(torch.randn(rows, heads))
        cells = list(itertools.product(*(range(w) for w in window)))
        index = torch.zeros(len(cells), len(cells), dtype=torch.long)
        for i, a in enumerate(cells):
            for j, b in enumerate(cells):
                flat = 0
                for axis, w in enumerate(window):
                    flat = flat * (2 * w - 1) + (a[axis] - b[axis] + w - 1)
                index[i, j] = flat
        self.register_buffer("relative_position_index", index)

    def forward(self, x):
        n, *dims, c = x.shape
        rank = len(dims)
        window, shift = list(self.window_size), list(self.shift_size)
        if rank == 3:  # Video Swin: the window shrinks to an axis no longer than itself, unshifted
            for i in range(3):
                if dims[i] <= window[i]:
                    window[i], shift[i] = dims[i], 0
        pads = []
        for d, w in zip(reversed(dims), reversed(window)):
            pads += [0, (w - d % w) % w]
        x = torch.nn.functional.pad(x, [0, 0] + pads)
        padded = list(x.shape[1:-1])
        if rank == 2:  # Swin: no shift where the window covers the padded axis
            shift = [0 if w >= p else s for w, p, s in zip(window, padded, shift)]
        axes = list(range(1, rank + 1))
        if sum(shift):
            x = torch.roll(x, [-s for s in shift], axes)
        starts = list(itertools.product(*(range(0, p, w) for p, w in zip(padded, window))))
        offsets = list(itertools.product(*(range(w) for w in window)))
        length = len(offsets)
        # which of the 3 regions per axis (counted from the end) each position of the rolled map is in
        label = {}
        for pos in itertools.product(*(range(p) for p in padded)):
            key = 0
            for axis in range(rank):
                p, w, s = padded[axis], window[axis], shift[axis]
                region = 0 if pos[axis] < p - w else (1 if pos[axis] < p - s else 2)
                if s == 0:  # torchvision's slices: (-w, -0) is empty and (-0, None) is the whole axis
                    region = 2
                key = key * 3 + region
            label[pos] = key
        bias = self.relative_position_bias_table[self.relative_position_index[:length, :length].reshape(-1)]
        bias = bias.view(length, length, self.num_heads).permute(2, 0, 1)
        out = torch.zeros_like(x)
        hd = c // self.num_heads
        for start in starts:
            cells = [tuple(s + o for s, o in zip(start, off)) for off in offsets]
            tokens = torch.stack([x[(slice(None),) + cell] for cell in cells], 1)  # N × L × C
            q, k, v = self.qkv(tokens).view(n, length, 3, self.num_heads, hd).permute(2, 0, 3, 1, 4)
            scores = (q * hd ** -0.5) @ k.transpose(-2, -1) + bias
            if sum(shift):
                mask = torch.tensor([[0.0 if label[a] == label[b] else -100.0 for b in cells] for a in cells])
                scores = scores + mask
            ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, length, c)
            result = self.proj(ctx)
            for i, cell in enumerate(cells):
                out[(slice(None),) + cell] = result[:, i]
        if sum(shift):
            out = torch.roll(out, shift, axes)
        return out[(slice(None),) + tuple(slice(0, d) for d in dims)]


class ShiftedWindowAttention3d(Reference):
    """``Reference`` under torchvision's qualified name, which the importer maps to
    `attention window=TxHxW` (torchvision cannot be installed beside the tests' torch)."""


ShiftedWindowAttention3d.__module__ = "torchvision.models.video.swin_transformer"
