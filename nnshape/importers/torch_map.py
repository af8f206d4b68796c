"""PyTorch modules and functions -> spec lines (nnshape import torch).

Each mapper gets the op (its module or function arguments, its input and output shapes) and
returns the spec lines that build the same thing, or raises ``Unmappable`` with the reason. Only
numbers, booleans and words from fixed sets reach the text, so a module's attributes cannot
inject spec syntax. Imports torch: loaded only by the torch importer.
"""

from __future__ import annotations

import functools
import math

from .errors import Unmappable
from .torch_mvit import MAPPERS as MVIT_MAPPERS
from .writer import fmt_float


def value(v) -> str:
    """A Python value as a spec value: ints, floats, bools, None, tuples (3x5 for int pairs)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise Unmappable(f"the value {v} is not a finite number")
        return fmt_float(v)
    if isinstance(v, (tuple, list)):
        items = list(v)
        if items and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in items) and len(items) > 1:
            return "x".join(map(str, items))
        if len(items) == 1:
            return f"({value(items[0])},)"
        return "(" + ", ".join(value(i) for i in items) + ")"
    raise Unmappable(f"the value {type(v).__name__} has no spec form")


def word(v: str, allowed) -> str:
    if v not in allowed:
        raise Unmappable(f"{v!r} is not one of {', '.join(allowed)}")
    return f"'{v}'"


def same(v):
    """(3, 3) -> 3: a size written once when every axis agrees."""
    if isinstance(v, (tuple, list)) and v and all(i == v[0] for i in v):
        return v[0]
    return v


def keys(**pairs) -> str:
    """` key=value` for each pair not equal to its default: keys(s=(1, 1, 1)) with default 1."""
    out = []
    for key, (v, default) in pairs.items():
        if v != default:
            out.append(f" {key}={value(v)}")
    return "".join(out)


# ----------------------------------------------------------------------------- modules


def _conv(m, op):
    import torch.nn as nn

    dims = len(m.kernel_size)
    transposed = isinstance(m, nn.modules.conv._ConvTransposeNd)
    kind = f"{'convtranspose' if transposed else 'conv'}{dims}d"
    padding = m.padding if isinstance(m.padding, str) else same(m.padding)
    if isinstance(padding, str):
        pad_text = f" p={word(padding, ('same', 'valid'))}"
    else:
        pad_text = keys(p=(padding, 0))
    text = f"{kind} {m.out_channels} k={value(same(m.kernel_size))}" + keys(s=(same(m.stride), 1)) + pad_text
    if transposed:
        text += keys(output_padding=(same(m.output_padding), 0))
    text += keys(d=(same(m.dilation), 1), groups=(m.groups, 1), bias=(m.bias is not None, True))
    if m.padding_mode != "zeros":
        text += f" padding_mode={word(m.padding_mode, ('reflect', 'replicate', 'circular'))}"
    return [text]


def _linear(m, op):
    return [f"linear {m.out_features}" + keys(bias=(m.bias is not None, True))]


def _bn(m, op):
    import torch.nn as nn

    dims = {nn.BatchNorm1d: 1, nn.BatchNorm2d: 2, nn.BatchNorm3d: 3}.get(type(m))
    kind = f"batchnorm{dims}d" if dims else "batchnorm"
    return [kind + keys(eps=(m.eps, 1e-5), momentum=(m.momentum, 0.1), affine=(m.affine, True),
                        track_running_stats=(m.track_running_stats, True))]


def _instancenorm(m, op):
    import torch.nn as nn

    dims = {nn.InstanceNorm1d: 1, nn.InstanceNorm2d: 2, nn.InstanceNorm3d: 3}[type(m)]
    return [f"instancenorm{dims}d" + keys(eps=(m.eps, 1e-5), momentum=(m.momentum, 0.1), affine=(m.affine, False),
                                          track_running_stats=(m.track_running_stats, False))]


def _layernorm(m, op):
    shape = tuple(m.normalized_shape)
    last = tuple(op.in_shape[-1:])
    text = "layernorm" + ("" if shape == last else f" {value(shape) if len(shape) > 1 else shape[0]}")
    bias = getattr(m, "bias", None) is not None or not m.elementwise_affine
    return [text + keys(eps=(m.eps, 1e-5), elementwise_affine=(m.elementwise_affine, True), bias=(bias, True))]


def _rmsnorm(m, op):
    shape = tuple(m.normalized_shape)
    text = "rmsnorm" + ("" if shape == tuple(op.in_shape[-1:]) else f" {value(shape) if len(shape) > 1 else shape[0]}")
    return [text + keys(eps=(m.eps, None), elementwise_affine=(m.elementwise_affine, True))]


def _groupnorm(m, op):
    return [f"groupnorm {m.num_groups}" + keys(eps=(m.eps, 1e-5), affine=(m.affine, True))]


def _embedding(m, op):
    if m.max_norm is not None:
        raise Unmappable("an Embedding with max_norm renormalizes its weight in forward")
    return [f"embedding {m.num_embeddings} {m.embedding_dim}" + keys(padding_idx=(m.padding_idx, None))]


def _dropout(kind):
    def mapper(m, op):
        return [f"{kind} {value(float(m.p))}"]

    return mapper


def _plain(kind):
    return lambda m, op: [kind]


def _gelu(m, op):
    return ["gelu" + (" approximate='tanh'" if m.approximate == "tanh" else "")]


def _softmax(kind):
    def mapper(m, op):
        if m.dim is None:
            raise Unmappable(f"{type(m).__name__} without dim (implicit dim is deprecated in PyTorch)")
        return [f"{kind} dim={m.dim}"]

    return mapper


def _pool(m, op):
    import torch.nn as nn

    dims = len(op.in_shape) - 2
    cls = type(m).__name__.lower()  # maxpool2d / avgpool2d ...
    k = same(m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size,) * dims)
    s = m.stride if m.stride is not None else m.kernel_size
    s = same(s if isinstance(s, tuple) else (s,) * dims)
    p = same(m.padding if isinstance(m.padding, tuple) else (m.padding,) * dims)
    text = f"{cls} {value(k)}" + ("" if s == k else f" s={value(s)}") + keys(p=(p, 0))
    if isinstance(m, nn.modules.pooling._MaxPoolNd):
        if m.return_indices:
            raise Unmappable("max pooling that returns indices")
        d = same(m.dilation if isinstance(m.dilation, tuple) else (m.dilation,) * dims)
        text += keys(d=(d, 1), ceil_mode=(m.ceil_mode, False))
    else:
        text += keys(ceil_mode=(m.ceil_mode, False), count_include_pad=(m.count_include_pad, True),
                     divisor_override=(m.divisor_override, None))
    return [text]


def _adaptive(m, op):
    if getattr(m, "return_indices", False):
        raise Unmappable("adaptive max pooling that returns indices")
    size = m.output_size
    size = same(size) if isinstance(size, tuple) else size
    if isinstance(size, tuple) and any(s is None for s in size):
        size = tuple(o for o in op.out_shape[2:])
    return [f"{type(m).__name__.lower()} {value(size)}"]


def flatten_line(start: int, end: int) -> str:
    if end != -1:
        return f"flatten {start} {end}"
    return "flatten" if start == 1 else f"flatten {start}"


def _flatten(m, op):
    return [flatten_line(m.start_dim, m.end_dim)]


def _unflatten(m, op):
    return [f"unflatten {m.dim} {value(tuple(m.unflattened_size))}"]


def _upsample(m, op):
    return [upsample_line(op, m.mode, m.align_corners)]


def upsample_line(op, mode, align_corners) -> str:
    """The output size is what the trace saw: `upsample size=` reproduces it for any factor."""
    size = tuple(op.out_shape[2:])
    text = f"upsample size={value(same(size) if len(set(size)) == 1 else size)}"
    if mode != "nearest":
        text += f" mode={word(mode, ('linear', 'bilinear', 'bicubic', 'trilinear', 'nearest-exact', 'area'))}"
    if align_corners is not None and mode in ("linear", "bilinear", "bicubic", "trilinear"):
        text += f" align_corners={value(bool(align_corners))}"
    return text


def _pad_module(m, op):
    mode = {"ZeroPad": "constant", "ConstantPad": "constant", "ReflectionPad": "reflect",
            "ReplicationPad": "replicate", "CircularPad": "circular"}
    name = type(m).__name__[:-2]
    text = f"pad {value(tuple(m.padding))}"
    if mode[name] != "constant":
        text += f" mode={word(mode[name], ('reflect', 'replicate', 'circular'))}"
    elif getattr(m, "value", 0.0):
        text += f" value={value(float(m.value))}"
    return [text]


def _prelu(m, op):
    return [f"prelu {m.num_parameters}"]


def _mha(m, op):
    if not m.batch_first:
        raise Unmappable("nn.MultiheadAttention with batch_first=False (nnshape sequences are N×L×D)")
    if not m._qkv_same_embed_dim and (m.kdim != m.vdim):
        raise Unmappable("nn.MultiheadAttention with different kdim and vdim")
    text = f"mha {m.num_heads}" + keys(bias=(m.in_proj_bias is not None, True), add_bias_kv=(m.bias_k is not None, False),
                                       add_zero_attn=(m.add_zero_attn, False), dropout=(float(m.dropout), 0.0))
    if "kv" in op.side:
        text += f" kv={op.side['kv']}"
    return [text]


def _activation_name(fn) -> str:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    if fn in (F.relu, torch.relu) or isinstance(fn, nn.ReLU):
        return "relu"
    if fn is F.gelu or (isinstance(fn, nn.GELU) and fn.approximate == "none"):
        return "gelu"
    raise Unmappable(f"the feed-forward activation {getattr(fn, '__name__', type(fn).__name__)}")


def _activation_key(fn) -> str:
    name = _activation_name(fn)
    return "" if name == "relu" else f" activation='{name}'"


def _encoder_layer(m, op):
    if not m.self_attn.batch_first:
        raise Unmappable("nn.TransformerEncoderLayer with batch_first=False (nnshape sequences are N×L×D)")
    return [f"encoderlayer {m.self_attn.num_heads} ff={m.linear1.out_features}"
            + keys(dropout=(float(m.dropout.p), 0.1)) + _activation_key(m.activation)
            + keys(eps=(m.norm1.eps, 1e-5), norm_first=(m.norm_first, False), bias=(m.linear1.bias is not None, True))]


def _decoder_layer(m, op):
    if not m.self_attn.batch_first:
        raise Unmappable("nn.TransformerDecoderLayer with batch_first=False (nnshape sequences are N×L×D)")
    if "memory" not in op.side:
        raise Unmappable("nn.TransformerDecoderLayer without a memory tensor")
    return [f"decoderlayer {m.self_attn.num_heads} ff={m.linear1.out_features} memory={op.side['memory']}"
            + keys(dropout=(float(m.dropout.p), 0.1)) + _activation_key(m.activation)
            + keys(eps=(m.norm1.eps, 1e-5), norm_first=(m.norm_first, False), bias=(m.linear1.bias is not None, True))]


def _stack(m, op, layer_mapper):
    """nn.TransformerEncoder / Decoder: its layers (a repeat when they are alike) and its norm."""
    import torch.nn as nn

    lines = [layer_mapper(layer, op)[0] for layer in m.layers]
    out = []
    if len(set(lines)) == 1 and len(lines) > 1:
        out.append((f"repeat {len(lines)}", [lines[0]]))
    else:
        out.extend(lines)
    if m.norm is not None:
        norm = m.norm
        if not isinstance(norm, nn.LayerNorm):
            raise Unmappable(f"a {type(norm).__name__} as the stack's norm")
        out.extend(_layernorm(norm, op))
    return out


def _recurrent(m, op):
    if not m.batch_first:
        raise Unmappable(f"nn.{type(m).__name__} with batch_first=False (nnshape sequences are N×L×D)")
    kind = type(m).__name__.lower()
    text = f"{kind} {m.hidden_size}" + keys(num_layers=(m.num_layers, 1), bias=(m.bias, True),
                                            bidirectional=(m.bidirectional, False), dropout=(float(m.dropout), 0.0))
    if kind == "lstm":
        text += keys(proj_size=(m.proj_size, 0))
    if kind == "rnn" and m.nonlinearity != "tanh":
        text += " nonlinearity='relu'"
    return [text]


def _stochastic_depth(m, op):
    if m.mode != "row":
        raise Unmappable("StochasticDepth(mode='batch') drops the whole batch, which droppath does not say")
    return [f"droppath {value(float(m.p))}"]


def _permute_module(m, op):
    return [f"permute {' '.join(map(str, m.dims))}"]


def _needs_windows(what: str) -> None:
    from .hf_models.common import has_arg

    if not has_arg("attention", "window"):
        raise Unmappable(f"{what} needs `attention window=`, not in this version of the language")


def _swin_attention(m, op):
    """torchvision's ShiftedWindowAttention (Swin v1) on N×H×W×C and ShiftedWindowAttention3d
    (Video Swin) on N×T×H×W×C: the window and shift as written, one number when every axis agrees."""
    _needs_windows("Swin's shifted-window attention")
    window, shift = tuple(m.window_size), tuple(m.shift_size)
    if len(window) not in (2, 3) or len(shift) != len(window):
        raise Unmappable(f"a window of {len(window)} axes with a shift of {len(shift)}")
    square = len(window) == 2
    text = f"attention heads={m.num_heads} window={value(same(window) if square else window)}"
    if any(shift):
        text += f" shift={value(same(shift))}"
    text += " rel_pos=true"
    return _swin_lines(m, text)


def _swin_lines(m, text: str) -> list:
    """A torchvision Swin attention's line (its biases and attention dropout added) and the dropout
    torchvision applies after the output projection, when there is one."""
    if m.qkv.bias is None:
        text += " qkv_bias=false"
    if m.proj.bias is None:
        text += " o_bias=false"
    lines = [text + keys(dropout=(float(m.attention_dropout), 0.0))]
    if float(m.dropout):
        lines.append(f"dropout {value(float(m.dropout))}")
    return lines


def _swin_v2_attention(m, op):
    """torchvision's ShiftedWindowAttentionV2: cosine attention and the continuous position bias MLP."""
    import torch.nn as nn

    from .hf_models.common import has_arg

    _needs_windows("Swin V2's shifted-window attention")
    if not has_arg("attention", "cpb"):
        raise Unmappable("Swin V2's attention needs `attention cosine= cpb=`, not in this version of the language")
    window, shift = tuple(m.window_size), tuple(m.shift_size)
    if len(window) != 2 or len(shift) != 2:
        raise Unmappable(f"a Swin V2 window of {len(window)} axes with a shift of {len(shift)}")
    mlp = m.cpb_mlp
    layers = list(mlp) if isinstance(mlp, nn.Sequential) else []
    if (len(layers) != 3 or not isinstance(layers[0], nn.Linear) or not isinstance(layers[1], nn.ReLU)
            or not isinstance(layers[2], nn.Linear) or layers[0].in_features != 2 or layers[0].bias is None
            or layers[2].bias is not None or layers[2].in_features != layers[0].out_features
            or layers[2].out_features != m.num_heads or tuple(m.logit_scale.shape) != (m.num_heads, 1, 1)):
        raise Unmappable("a Swin V2 position-bias MLP of another make than Linear(2, D), ReLU, Linear(D, heads, bias=False)")
    text = (f"attention heads={m.num_heads} window={value(same(window))}" + (f" shift={value(same(shift))}" if any(shift) else "")
            + f" cosine=true cpb={layers[0].out_features}")
    return _swin_lines(m, text)


def _children_lines(seq, op) -> list:
    out = []
    for child in seq:
        mapper = module_mapper(child)
        if mapper is None:
            raise Unmappable(f"no spec kind for {type(child).__qualname__} inside {type(seq).__qualname__}")
        out.extend(mapper(child, op))
    return out


def _maxvit_attention(m, op):
    """torchvision's MaxViT PartitionAttentionLayer (window or grid attention and its MLP) on N×C×H×W."""
    _needs_windows("MaxViT's partition attention")
    attn = m.attn_layer[1]
    if type(attn).__name__ != "RelativePositionalMultiHeadAttention" or len(m.attn_layer) != 3:
        raise Unmappable("a PartitionAttentionLayer of another make")
    size = attn.size
    kind = "window" if m.partition_type == "window" else "grid"
    line = f"attention heads={attn.n_heads} {kind}={size} rel_pos=true"
    if attn.n_heads * attn.head_dim != attn.merge.out_features:
        line += f" head_dim={attn.head_dim}"
    norm = _children_lines([m.attn_layer[0]], op)
    drop = _children_lines([m.attn_layer[2]], op)
    depth = _stochastic_depth(m.stochastic_dropout, op)
    mlp = _children_lines(m.mlp_layer, op)
    return ["permute 0 2 3 1",
            ("residual", norm + [line] + drop + depth),
            ("residual", mlp + depth),
            "permute 0 3 1 2"]


def _frozen_bn(m, op):
    from .hf_models.common import has_kind

    if not has_kind("frozenbn"):
        raise Unmappable("FrozenBatchNorm2d needs the `frozenbn` kind, not in this version of the language")
    return ["frozenbn" + keys(eps=(float(m.eps), 1e-5))]


@functools.cache
def modules() -> dict:
    """torch.nn module class -> mapper (built on first use: importing this module loads no torch)."""
    import torch.nn as nn

    return {
        nn.Conv1d: _conv, nn.Conv2d: _conv, nn.Conv3d: _conv,
        nn.ConvTranspose1d: _conv, nn.ConvTranspose2d: _conv, nn.ConvTranspose3d: _conv,
        nn.Linear: _linear,
        nn.BatchNorm1d: _bn, nn.BatchNorm2d: _bn, nn.BatchNorm3d: _bn,
        nn.InstanceNorm1d: _instancenorm, nn.InstanceNorm2d: _instancenorm, nn.InstanceNorm3d: _instancenorm,
        nn.LayerNorm: _layernorm, nn.GroupNorm: _groupnorm, nn.RMSNorm: _rmsnorm,
        nn.LocalResponseNorm: lambda m, op: [f"lrn {m.size}" + keys(alpha=(m.alpha, 1e-4), beta=(m.beta, 0.75), k=(m.k, 1.0))],
        nn.Embedding: _embedding,
        nn.Dropout: _dropout("dropout"), nn.Dropout1d: _dropout("dropout1d"), nn.Dropout2d: _dropout("dropout2d"),
        nn.Dropout3d: _dropout("dropout3d"), nn.AlphaDropout: _dropout("alphadropout"),
        nn.ReLU: _plain("relu"), nn.ReLU6: _plain("relu6"), nn.SiLU: _plain("silu"), nn.Sigmoid: _plain("sigmoid"),
        nn.Tanh: _plain("tanh"), nn.Hardswish: _plain("hardswish"), nn.Hardsigmoid: _plain("hardsigmoid"),
        nn.Mish: _plain("mish"), nn.SELU: _plain("selu"), nn.Identity: _plain("identity"), nn.GELU: _gelu,
        nn.LeakyReLU: lambda m, op: ["leakyrelu" + keys(negative_slope=(m.negative_slope, 0.01)).replace("negative_slope=", "")],
        nn.ELU: lambda m, op: ["elu" + keys(alpha=(m.alpha, 1.0))],
        nn.Hardtanh: lambda m, op: ["hardtanh" + keys(min_val=(float(m.min_val), -1.0), max_val=(float(m.max_val), 1.0))],
        nn.Softplus: lambda m, op: ["softplus" + keys(beta=(float(m.beta), 1.0), threshold=(float(m.threshold), 20.0))],
        nn.PReLU: _prelu, nn.Softmax: _softmax("softmax"), nn.LogSoftmax: _softmax("logsoftmax"),
        nn.MaxPool1d: _pool, nn.MaxPool2d: _pool, nn.MaxPool3d: _pool,
        nn.AvgPool1d: _pool, nn.AvgPool2d: _pool, nn.AvgPool3d: _pool,
        nn.AdaptiveAvgPool1d: _adaptive, nn.AdaptiveAvgPool2d: _adaptive, nn.AdaptiveAvgPool3d: _adaptive,
        nn.AdaptiveMaxPool1d: _adaptive, nn.AdaptiveMaxPool2d: _adaptive, nn.AdaptiveMaxPool3d: _adaptive,
        nn.Flatten: _flatten, nn.Unflatten: _unflatten, nn.Upsample: _upsample,
        nn.PixelShuffle: lambda m, op: [f"pixelshuffle {m.upscale_factor}"],
        nn.PixelUnshuffle: lambda m, op: [f"pixelunshuffle {m.downscale_factor}"],
        nn.ChannelShuffle: lambda m, op: [f"channelshuffle {m.groups}"],
        nn.ZeroPad1d: _pad_module, nn.ZeroPad2d: _pad_module, nn.ZeroPad3d: _pad_module,
        nn.ConstantPad1d: _pad_module, nn.ConstantPad2d: _pad_module, nn.ConstantPad3d: _pad_module,
        nn.ReflectionPad1d: _pad_module, nn.ReflectionPad2d: _pad_module, nn.ReflectionPad3d: _pad_module,
        nn.ReplicationPad1d: _pad_module, nn.ReplicationPad2d: _pad_module, nn.ReplicationPad3d: _pad_module,
        nn.MultiheadAttention: _mha,
        nn.TransformerEncoderLayer: _encoder_layer, nn.TransformerDecoderLayer: _decoder_layer,
        nn.TransformerEncoder: lambda m, op: _stack(m, op, _encoder_layer),
        nn.TransformerDecoder: lambda m, op: _stack(m, op, _decoder_layer),
        nn.LSTM: _recurrent, nn.GRU: _recurrent, nn.RNN: _recurrent,
    }


# Modules of other libraries, by qualified class name (their library need not be importable here).
NAMED_MODULES = {
    "torchvision.ops.stochastic_depth.StochasticDepth": _stochastic_depth,
    "torchvision.ops.misc.Permute": _permute_module,
    "torchvision.ops.misc.FrozenBatchNorm2d": _frozen_bn,
    "torchvision.models.swin_transformer.ShiftedWindowAttention": _swin_attention,
    "torchvision.models.video.swin_transformer.ShiftedWindowAttention3d": _swin_attention,
    "torchvision.models.swin_transformer.ShiftedWindowAttentionV2": _swin_v2_attention,
    "torchvision.models.maxvit.PartitionAttentionLayer": _maxvit_attention,
    **MVIT_MAPPERS,  # torchvision's video MViT: importers/torch_mvit.py
}

def side_inputs(module) -> dict:
    """forward's argument position -> spec key, for modules that read a named tensor."""
    import torch.nn as nn

    if isinstance(module, (nn.TransformerDecoderLayer, nn.TransformerDecoder)):
        return {1: "memory"}
    return {}


def module_mapper(module):
    table = modules()
    mapper = table.get(type(module))
    if mapper is None:
        cls = type(module)
        mapper = NAMED_MODULES.get(f"{cls.__module__}.{cls.__qualname__}")
    if mapper is None:
        # a subclass that only changes the constructor (torchvision's Conv3DSimple) maps as its base
        for base in type(module).__mro__[1:]:
            found = table.get(base) or NAMED_MODULES.get(f"{base.__module__}.{base.__qualname__}")
            if found is not None:
                if type(module).forward is base.forward:
                    mapper = found
                break
    return mapper


def is_leaf(module) -> bool:
    return module_mapper(module) is not None


# ----------------------------------------------------------------------------- functions

@functools.cache
def activation_functions() -> dict:
    import operator  # noqa: F401

    import torch
    import torch.nn.functional as F

    return {
        F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.silu: "silu", torch.sigmoid: "sigmoid",
        F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh", F.hardswish: "hardswish",
        F.hardsigmoid: "hardsigmoid", F.mish: "mish", F.selu: "selu", torch.selu: "selu", F.elu: "elu",
        F.relu_: "relu", torch.relu_: "relu", F.leaky_relu: "leakyrelu", F.gelu: "gelu",
    }


ACTIVATION_METHODS = {"relu": "relu", "relu_": "relu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh",
                      "tanh_": "tanh"}

# elementwise ops with no count and no shape change: no spec line (a comment says what it was)
@functools.cache
def neutral_functions() -> set:
    """Elementwise ops with no count and no shape change: no spec line."""
    import operator

    import torch

    return {
        torch.exp, torch.log, torch.sqrt, torch.rsqrt, torch.abs, torch.neg, torch.clamp, torch.clip, torch.erf,
        torch.sin, torch.cos, operator.neg, torch.nn.functional.dropout, torch.square, torch.reciprocal,
    }


NEUTRAL_METHODS = {
    "contiguous", "clone", "detach", "float", "half", "to", "type_as", "exp", "log", "sqrt", "rsqrt", "abs",
    "neg", "clamp", "clamp_min", "clamp_max", "clip", "pow", "square", "sin", "cos", "erf", "mul_", "div_",
}
VIEW_METHODS = {"view", "reshape"}
