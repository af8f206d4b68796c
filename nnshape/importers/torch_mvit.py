"""torchvision's video MViT (``mvit_v1_b``, ``mvit_v2_s``) -> spec lines: its MultiscaleAttention is
``poolattention``, the Pool on a block's skip path ``tokenpool``, its PositionalEncoding
``clstoken`` (+ ``posemb3d`` in v1). Each is called with the T×H×W token grid beside the tokens
(the op's ``args``), which becomes ``thw=``; MultiscaleBlock is traced through, so its residuals,
the skip's projection and the MLP are written by the generic rules. Imports torch lazily.
"""

from __future__ import annotations

import math

from .errors import Unmappable
from .writer import fmt_float


def _size(v) -> str:
    """A size or a T×H×W window as spec text: 3, or 1x3x3 (written once when the axes agree)."""
    v = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v):
        raise Unmappable(f"the size {v!r} is not made of integers")
    return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))


def _grid_text(grid) -> str:
    """thw= always names its three sizes (8x56x56, 2x2x2)."""
    return "x".join(map(str, grid))


def _number(v: float) -> str:
    if not math.isfinite(v):
        raise Unmappable(f"the value {v} is not a finite number")
    return fmt_float(v)


def _three(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * 3


def _grid_of(op) -> tuple:
    """The T×H×W token grid a torchvision MViT module is called with (forward's second argument)."""
    grid = op.args[0] if op.args else None
    if not (isinstance(grid, (tuple, list)) and len(grid) == 3 and all(isinstance(g, int) and not isinstance(g, bool) and g > 0
                                                                         for g in grid)):
        raise Unmappable("an MViT module called without its T×H×W token grid")
    return tuple(grid)


def _mvit_pooling(pool, hd: int, where: str) -> tuple[str, tuple, tuple, float | None]:
    """(mode, kernel, stride, eps) of a Pool inside MultiscaleAttention: a depthwise Conv3d without
    bias (or a max/avg pool) padded by kernel // 2, then LayerNorm(head_dim) and nothing else."""
    import torch.nn as nn

    layer = pool.pool
    kernel, stride, padding = _three(layer.kernel_size), _three(layer.stride), _three(layer.padding)
    if padding != tuple(k // 2 for k in kernel):
        raise Unmappable(f"{where}: a pool padded otherwise than kernel // 2")
    if type(layer) is nn.Conv3d:
        if layer.groups != hd or layer.in_channels != hd or layer.out_channels != hd or layer.bias is not None \
                or tuple(layer.dilation) != (1, 1, 1) or layer.padding_mode != "zeros":
            raise Unmappable(f"{where}: a pooling Conv3d other than depthwise, undilated and without bias")
        mode = "conv"
    elif type(layer) is nn.MaxPool3d:
        if set(_three(layer.dilation)) != {1} or layer.ceil_mode or layer.return_indices:
            raise Unmappable(f"{where}: a MaxPool3d with dilation, ceil_mode or indices")
        mode = "max"
    elif type(layer) is nn.AvgPool3d:
        if layer.ceil_mode or not layer.count_include_pad or layer.divisor_override is not None:
            raise Unmappable(f"{where}: an AvgPool3d with ceil_mode, count_include_pad=False or a divisor")
        mode = "avg"
    else:
        raise Unmappable(f"{where}: a {type(layer).__name__} as the pool")
    norm = pool.norm_act
    layers = list(norm) if isinstance(norm, nn.Sequential) else [norm]
    if getattr(pool, "norm_before_pool", False) or len(layers) != 1 or type(layers[0]) is not nn.LayerNorm \
            or tuple(layers[0].normalized_shape) != (hd,) or not layers[0].elementwise_affine or layers[0].bias is None:
        raise Unmappable(f"{where}: a norm other than one affine LayerNorm(head_dim) after the pool")
    return mode, kernel, stride, float(layers[0].eps)


def _mvit_attention(m, op):
    """torchvision's MultiscaleAttention on N×(1 + T·H·W)×C: `poolattention`."""
    import torch.nn as nn

    grid = _grid_of(op)
    dim, heads, dim_out, hd = op.in_shape[-1], m.num_heads, m.output_dim, m.head_dim
    if heads * hd != dim_out or abs(m.scaler - hd ** -0.5) > 1e-12 * hd ** -0.5:
        raise Unmappable("a MultiscaleAttention whose heads do not split its width, or scaled otherwise than 1/√head_dim")
    if m.qkv.bias is None or not isinstance(m.project, nn.Sequential) or type(m.project[0]) is not nn.Linear \
            or m.project[0].bias is None:
        raise Unmappable("a MultiscaleAttention without the biases of its qkv and project linears")
    extra = list(m.project)[1:]
    if len(extra) > 1 or (extra and type(extra[0]) is not nn.Dropout):
        raise Unmappable("a MultiscaleAttention whose project is more than a linear and a dropout")
    text = f"poolattention {heads} thw={_grid_text(grid)}" + ("" if dim_out == dim else f" dim_out={dim_out}")
    modes, eps = set(), set()
    strides = {}
    for name, pools in (("q", (m.pool_q,)), ("kv", (m.pool_k, m.pool_v))):
        if pools[0] is None:
            if any(p is not None for p in pools):
                raise Unmappable("a MultiscaleAttention that pools k but not v (or v but not k)")
            strides[name] = (1, 1, 1)
            continue
        found = [_mvit_pooling(p, hd, f"pool_{name}") for p in pools if p is not None]
        if len(found) != len(pools) or len(set(found)) != 1:
            raise Unmappable("a MultiscaleAttention that pools k and v differently")
        mode, kernel, stride, e = found[0]
        modes.add(mode)
        eps.add(e)
        strides[name] = stride
        text += f" kernel_{name}={_size(kernel)}" + ("" if set(stride) == {1} else f" stride_{name}={_size(stride)}")
    if len(modes) > 1 or len(eps) > 1:
        raise Unmappable("a MultiscaleAttention that pools q and k/v differently")
    if modes and modes != {"conv"}:
        text += f" pool='{modes.pop()}'"  # max or avg: a word of this module, never the model's
    tables = [getattr(m, f"rel_pos_{axis}", None) for axis in "hwt"]
    if any(t is not None for t in tables):
        size = max(grid[1:])
        spatial = 2 * max(size // strides["q"][1], size // strides["kv"][1]) - 1
        want = [(spatial, hd), (spatial, hd), (2 * grid[0] - 1, hd)]
        if [tuple(t.shape) if t is not None else None for t in tables] != want:
            raise Unmappable("relative position tables sized for another grid than the one the module is called with")
        text += " rel_pos=true"
    if m.residual_pool:
        text += " residual_pool=true" + ("" if m.residual_with_cls_embed else " residual_cls=false")
    if eps and eps != {1e-5}:
        text += f" eps={_number(eps.pop())}"
    if extra and extra[0].p:
        text += f" dropout={_number(float(extra[0].p))}"
    return [text]


def _mvit_pool(m, op):
    """torchvision's MViT Pool on the tokens (a block's pooled skip): `tokenpool`."""
    import torch.nn as nn

    grid = _grid_of(op)
    layer = m.pool
    if m.norm_act is not None or len(op.in_shape) != 3:
        raise Unmappable("an MViT Pool with a norm, or on other than N×L×C tokens")
    if type(layer) is nn.MaxPool3d:
        if set(_three(layer.dilation)) != {1} or layer.ceil_mode or layer.return_indices:
            raise Unmappable("an MViT skip MaxPool3d with dilation, ceil_mode or indices")
        mode = ""
    elif type(layer) is nn.AvgPool3d:
        if layer.ceil_mode or not layer.count_include_pad or layer.divisor_override is not None:
            raise Unmappable("an MViT skip AvgPool3d with ceil_mode, count_include_pad=False or a divisor")
        mode = " mode='avg'"
    else:
        raise Unmappable(f"an MViT Pool of a {type(layer).__name__}")
    kernel = _three(layer.kernel_size)
    stride = _three(layer.stride if layer.stride is not None else layer.kernel_size)
    padding = _three(layer.padding)
    text = f"tokenpool {_size(kernel)}" + ("" if stride == kernel else f" s={_size(stride)}")
    return [text + ("" if set(padding) == {0} else f" p={_size(padding)}") + f" thw={_grid_text(grid)}" + mode]


def _mvit_positions(m, op):
    """torchvision's MViT PositionalEncoding: the class token, and v1's separable positions."""
    t, (h, w) = m.temporal_size, tuple(m.spatial_size)
    dim = op.in_shape[-1]
    if tuple(op.in_shape[1:]) != (t * h * w, dim) or tuple(m.class_token.shape) != (dim,):
        raise Unmappable("an MViT PositionalEncoding on tokens that are not its T×H×W grid")
    lines = ["clstoken"]
    if m.spatial_pos is not None:
        if (tuple(m.spatial_pos.shape), tuple(m.temporal_pos.shape), tuple(m.class_pos.shape)) != ((h * w, dim), (t, dim), (dim,)):
            raise Unmappable("MViT positions sized for another grid")
        lines.append(f"posemb3d thw={_grid_text((t, h, w))}")
    elif getattr(m, "temporal_pos", None) is not None or getattr(m, "class_pos", None) is not None:
        raise Unmappable("MViT positions without their spatial table")
    return lines


MAPPERS = {
    "torchvision.models.video.mvit.MultiscaleAttention": _mvit_attention,
    "torchvision.models.video.mvit.Pool": _mvit_pool,
    "torchvision.models.video.mvit.PositionalEncoding": _mvit_positions,
}
