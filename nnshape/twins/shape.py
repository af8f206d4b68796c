"""Shape and tensor operations: the twins of the view and reshaping kinds, slicing, padding, reductions."""

import torch
from torch import nn


# --------------------------------------------------------------------------- shape


class Reshape(nn.Module):
    """Each sample to ``shape`` (the batch is kept)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


class Permute(nn.Module):
    """Tensor.permute(*dims) (dim 0, the batch, stays first)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(*self.dims)

    def extra_repr(self):
        return f"dims={self.dims}"


class Transpose(nn.Module):
    """Tensor.transpose(dim0, dim1)."""

    def __init__(self, dim0, dim1):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self):
        return f"dim0={self.dim0}, dim1={self.dim1}"


class Select(nn.Module):
    """Tensor.select(dim, index): one index along a dim, which is dropped (x[:, 0] for dim 1)."""

    def __init__(self, dim, index):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x):
        return x.select(self.dim, self.index)

    def extra_repr(self):
        return f"dim={self.dim}, index={self.index}"


# --------------------------------------------------------------------------- tensor operations


class Slice(nn.Module):
    """``x[..., start:end:step]`` along ``dim`` (Python slicing, end exclusive): a view."""

    def __init__(self, dim, start=None, end=None, step=1):
        super().__init__()
        self.dim, self.start, self.end, self.step = dim, start, end, step

    def forward(self, x):
        index = (slice(None),) * (self.dim % x.dim()) + (slice(self.start, self.end, self.step),)
        return x[index]

    def extra_repr(self):
        return f"dim={self.dim}, start={self.start}, end={self.end}, step={self.step}"


class Pad(nn.Module):
    """``nn.functional.pad``: (left, right) of the last dim first, then the dims before it."""

    def __init__(self, pad, mode="constant", value=None):
        super().__init__()
        self.pad, self.mode, self.value = tuple(pad), mode, value

    def forward(self, x):
        return nn.functional.pad(x, self.pad, mode=self.mode, value=self.value)

    def extra_repr(self):
        return f"pad={self.pad}, mode={self.mode!r}, value={self.value}"


class Squeeze(nn.Module):
    """``Tensor.squeeze(dim)``; ``dim=None``: every dim of size 1 after the batch (the batch is kept)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.squeeze(tuple(range(1, x.dim())) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Unsqueeze(nn.Module):
    """``Tensor.unsqueeze(dim)``: a new dim of size 1."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.unsqueeze(self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Roll(nn.Module):
    """``torch.roll(x, shifts, dims)``: a circular shift along dims."""

    def __init__(self, shifts, dims):
        super().__init__()
        self.shifts, self.dims = shifts, dims

    def forward(self, x):
        return torch.roll(x, self.shifts, self.dims)

    def extra_repr(self):
        return f"shifts={self.shifts}, dims={self.dims}"


class Reduce(nn.Module):
    """``torch.mean``, ``torch.sum`` or ``torch.amax`` over ``dim``."""

    def __init__(self, op, dim, keepdim=False):
        super().__init__()
        self.op, self.dim, self.keepdim = op, dim, keepdim

    def forward(self, x):
        return getattr(torch, self.op)(x, dim=self.dim, keepdim=self.keepdim)

    def extra_repr(self):
        return f"op={self.op!r}, dim={self.dim}, keepdim={self.keepdim}"


class QuickGELU(nn.Module):
    """CLIP's activation: ``x * sigmoid(1.702 * x)``."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)
