"""Data augmentation, by torchvision's rules (torchvision is not a dependency)."""

import torch
from torch import nn


# --------------------------------------------------------------------------- augmentation (torchvision's rules)


class RandomFlip(nn.Module):
    """Flip one dim (-1: horizontal, -2: vertical) with probability p."""

    def __init__(self, dim, p=0.5):
        super().__init__()
        self.dim, self.p = dim, p

    def forward(self, x):
        return torch.flip(x, [self.dim]) if torch.rand(()) < self.p else x

    def extra_repr(self):
        return f"dim={self.dim}, p={self.p}"


def pad(x, ltrb, mode="constant", fill=0):
    """torchvision-style padding of the last two dims by (left, top, right, bottom)."""
    left, top, right, bottom = ltrb
    if mode == "symmetric":  # reflect, repeating the edge
        h, w = x.shape[-2:]
        at = {"device": x.device}
        rows = torch.cat([torch.arange(top - 1, -1, -1, **at), torch.arange(h, **at), torch.arange(h - 1, h - 1 - bottom, -1, **at)])
        cols = torch.cat([torch.arange(left - 1, -1, -1, **at), torch.arange(w, **at), torch.arange(w - 1, w - 1 - right, -1, **at)])
        return x[..., rows, :][..., cols]
    squeeze = x.dim() == 3 and mode != "constant"  # reflect/replicate want a channel dim
    y = x.unsqueeze(1) if squeeze else x
    torch_mode = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}[mode]
    extra = {"value": fill} if mode == "constant" else {}
    y = nn.functional.pad(y, (left, right, top, bottom), mode=torch_mode, **extra)
    return y.squeeze(1) if squeeze else y


class RandomCrop(nn.Module):
    """Crop a random h×w window after optional padding (torchvision RandomCrop)."""

    def __init__(self, size, padding=(0, 0, 0, 0), pad_if_needed=False, fill=0, padding_mode="constant"):
        super().__init__()
        self.size, self.padding, self.pad_if_needed = tuple(size), tuple(padding), pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def forward(self, x):
        th, tw = self.size
        if any(self.padding):
            x = pad(x, self.padding, self.padding_mode, self.fill)
        h, w = x.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):  # pad both sides by the shortfall
            dh, dw = max(th - h, 0), max(tw - w, 0)
            x = pad(x, (dw, dh, dw, dh), self.padding_mode, self.fill)
            h, w = x.shape[-2:]
        i = int(torch.randint(0, h - th + 1, ()))
        j = int(torch.randint(0, w - tw + 1, ()))
        return x[..., i : i + th, j : j + tw]

    def extra_repr(self):
        return f"size={self.size}, padding={self.padding}"


class CenterCrop(nn.Module):
    """Crop the central h×w window; a smaller input is zero-padded first (torchvision CenterCrop)."""

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x):
        th, tw = self.size
        h, w = x.shape[-2:]
        if th > h or tw > w:
            dh, dw = max(th - h, 0), max(tw - w, 0)
            x = pad(x, (dw // 2, dh // 2, (dw + 1) // 2, (dh + 1) // 2))
            h, w = x.shape[-2:]
        top, left = round((h - th) / 2.0), round((w - tw) / 2.0)
        return x[..., top : top + th, left : left + tw]

    def extra_repr(self):
        return f"size={self.size}"


def resize(x, size, mode="bilinear", antialias=True):
    """Resize the last two dims of N×C×H×W or N×H×W to size (h, w); integer images stay integers."""
    y = x if x.is_floating_point() else x.float()
    y = y.unsqueeze(1) if y.dim() == 3 else y
    aa = antialias and mode in ("bilinear", "bicubic")
    extra = {} if mode.startswith("nearest") else {"align_corners": False}
    y = nn.functional.interpolate(y, size=size, mode=mode, antialias=aa, **extra)
    y = y.squeeze(1) if x.dim() == 3 else y
    if not x.is_floating_point():
        info = torch.iinfo(x.dtype)
        y = y.round().clamp(info.min, info.max).to(x.dtype)
    return y


class Resize(nn.Module):
    """torchvision Resize: an int size sends the smaller edge there (aspect kept, the longer edge
    capped by max_size); an (h, w) size is exact."""

    def __init__(self, size, max_size=None, interpolation="bilinear", antialias=True):
        super().__init__()
        self.size, self.max_size, self.interpolation, self.antialias = size, max_size, interpolation, antialias

    def output_size(self, h, w):
        if not isinstance(self.size, int):
            return tuple(self.size)
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size, int(self.size * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)

    def forward(self, x):
        return resize(x, self.output_size(*x.shape[-2:]), self.interpolation, self.antialias)

    def extra_repr(self):
        return f"size={self.size}, interpolation={self.interpolation}"


class RandomResizedCrop(nn.Module):
    """torchvision RandomResizedCrop: crop a random window (area fraction in ``scale``, aspect in
    ``ratio``; the central crop after 10 misses), then resize it to size (h, w)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear", antialias=True):
        super().__init__()
        self.size, self.scale, self.ratio = tuple(size), tuple(scale), tuple(ratio)
        self.interpolation, self.antialias = interpolation, antialias

    def window(self, h, w):
        """torchvision's RandomResizedCrop.get_params: (top, left, height, width)."""
        log_ratio = torch.log(torch.tensor(self.ratio))
        for _ in range(10):
            area = h * w * torch.empty(1).uniform_(self.scale[0], self.scale[1]).item()
            aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
            cw, ch = int(round((area * aspect) ** 0.5)), int(round((area / aspect) ** 0.5))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, size=(1,)).item())
                left = int(torch.randint(0, w - cw + 1, size=(1,)).item())
                return top, left, ch, cw
        ch, cw = h, w  # the central crop with the aspect clamped into `ratio`
        if w / h < min(self.ratio):
            ch = int(round(w / min(self.ratio)))
        elif w / h > max(self.ratio):
            cw = int(round(h * max(self.ratio)))
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def forward(self, x):
        top, left, ch, cw = self.window(*x.shape[-2:])
        return resize(x[..., top : top + ch, left : left + cw], self.size, self.interpolation, self.antialias)

    def extra_repr(self):
        return f"size={self.size}, scale={self.scale}, ratio={self.ratio}"


class PCAColor(nn.Module):
    """AlexNet PCA lighting noise: add RGB noise along ImageNet's principal components."""

    EIGVAL = (0.2175, 0.0188, 0.0045)
    EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))

    def __init__(self, alphastd=0.1):
        super().__init__()
        self.alphastd = alphastd

    def forward(self, x):
        alpha = torch.randn(3, dtype=x.dtype, device=x.device) * self.alphastd
        eigval = torch.tensor(self.EIGVAL, dtype=x.dtype, device=x.device)
        rgb = (torch.tensor(self.EIGVEC, dtype=x.dtype, device=x.device) * (alpha * eigval)).sum(1)
        return x + rgb.view(3, 1, 1)

    def extra_repr(self):
        return f"alphastd={self.alphastd}"
