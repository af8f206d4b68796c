"""Vision transformers: patch embedding by a strided convolution, a class token, learned positions,
pre-norm blocks (vit, clip_vision_model)."""

from __future__ import annotations

from .common import Build, ModelType, activation, emit_activation, eps, has_arg, need, num_labels

VISION_NEUTRAL = frozenset(
    ("hidden_dropout_prob", "attention_probs_dropout_prob", "attention_dropout", "encoder_stride", "dropout")
)


def _pair(b: Build, key: str) -> tuple[int, int]:
    f = b.f
    value = f.raw(key)
    if isinstance(value, list) and len(value) == 2:
        pair = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 1 << 20:
                f.fail(key, f"{key} must be a positive size or a pair of them", found=str(value)[:40], code="E0705")
            pair.append(item)
        return pair[0], pair[1]
    return (f.int(key),) * 2


def _patches(b: Build) -> tuple[int, int, int, int, str]:
    h, w_ = _pair(b, "image_size")
    ph, pw = _pair(b, "patch_size")
    if ph > h or pw > w_:
        b.f.fail("patch_size", "the patch is larger than the image", code="E0705")
    k = f"k={ph}" if ph == pw else f"k={ph}x{pw}"
    s = f"s={ph}" if ph == pw else f"s={ph}x{pw}"
    return h, w_, (h // ph) * (w_ // pw), b.f.int("num_channels"), f"{k} {s}"


def _pre_norm_layers(b: Build, *, d: int, heads: int, ff: int, layers: int, act, ln: str, bias: str,
                     names=("layernorm_before", "attention", "layernorm_after", "intermediate", "output")) -> None:
    w = b.w
    ln1, attn, ln2, fc1, fc2 = names
    if d % heads:
        b.f.fail("num_attention_heads", f"hidden size {d} is not divisible by {heads} heads", code="E0705")
    with w.block(f"repeat {layers}", "encoder.layer(s).0 ..."):
        with w.block("residual"):
            w.line(f"{ln} name={ln1}")
            w.line(f"attention heads={heads}{bias} name={attn}")
        with w.block("residual"):
            w.line(f"{ln} name={ln2}")
            w.line(f"linear {ff} name={fc1}")
            emit_activation(w, act)
            w.line(f"linear {d} name={fc2}")


def _vit(b: Build) -> None:
    f, w = b.f, b.w
    d = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    layers = f.int("num_hidden_layers")
    ff = f.int("intermediate_size")
    act = activation(f, "hidden_act")
    ln = f"layernorm {eps(f.float('layer_norm_eps'))}"
    qkv_bias = f.bool("qkv_bias")
    h, wd, patches, channels, window = _patches(b)
    if qkv_bias:
        bias = ""
    else:
        need("per-projection attention biases (`qkv_bias=`, `o_bias=`)", has_arg("attention", "qkv_bias"), "vit with qkv_bias=false")
        bias = " qkv_bias=false o_bias=true"
    w.line(f"input pixel_values {channels}x{h}x{wd}")
    with w.block(f"from pixel_values as {'last_hidden_state' if b.head == 'base' else 'hidden'}", "vit"):
        with w.block("block embeddings"):
            w.line(f"conv2d {d} {window} name=patch_embeddings", f"{patches} patches")
            w.line("flatten 2")
            w.line("transpose 1 2")
            w.line("clstoken name=cls_token")
            w.line(f"posemb {patches + 1} name=position_embeddings")
        with w.block("block encoder"):
            _pre_norm_layers(b, d=d, heads=heads, ff=ff, layers=layers, act=act, ln=ln, bias=bias)
        w.line(f"{ln} name=layernorm")
    if b.head == "base":
        pooled = f.int("pooler_output_size", optional=True) or d
        with w.block("block pooler", "the first token, dense + activation"):
            w.line("select dim=1 index=0")
            w.line(f"linear {pooled} name=dense")
            emit_activation(w, activation(f, "pooler_act"))
        w.line("output last_hidden_state", "the pooler is computed (and counted) too")
    else:
        f.neutral("pooler_output_size", "pooler_act")
        w.line("select dim=1 index=0", "the [CLS] token")
        w.line(f"linear {num_labels(f)} name=classifier")


def _clip_vision(b: Build) -> None:
    f, w = b.f, b.w
    d = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    layers = f.int("num_hidden_layers")
    ff = f.int("intermediate_size")
    act = activation(f, "hidden_act")
    ln = f"layernorm {eps(f.float('layer_norm_eps'))}"
    h, wd, patches, channels, window = _patches(b)
    f.neutral("projection_dim")  # the projection belongs to CLIPVisionModelWithProjection / CLIPModel
    w.line(f"input pixel_values {channels}x{h}x{wd}")
    with w.block("from pixel_values as last_hidden_state", "vision_model"):
        with w.block("block embeddings"):
            w.line(f"conv2d {d} {window} bias=false name=patch_embedding", f"{patches} patches")
            w.line("flatten 2")
            w.line("transpose 1 2")
            w.line("clstoken name=class_embedding")
            w.line(f"posemb {patches + 1} name=position_embedding")
        w.line(f"{ln} name=pre_layrnorm")
        with w.block("block encoder"):
            _pre_norm_layers(b, d=d, heads=heads, ff=ff, layers=layers, act=act, ln=ln, bias="",
                             names=("layer_norm1", "self_attn", "layer_norm2", "fc1", "fc2"))
    w.line("select dim=1 index=0", "pooled: the class token")
    w.line(f"{ln} name=post_layernorm")
    w.line("output last_hidden_state", "the pooled output is computed (and counted) too")


MODELS = [
    ModelType(
        "vit", {"ViTModel": "base", "ViTForImageClassification": "classifier"}, _vit,
        dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
             layer_norm_eps=1e-12, image_size=224, patch_size=16, num_channels=3, qkv_bias=True,
             pooler_output_size=None, pooler_act="tanh"),
        neutral=VISION_NEUTRAL, summary="ViT (Google, DeiT without distillation token ...)",
    ),
    ModelType(
        "clip_vision_model", {"CLIPVisionModel": "base"}, _clip_vision,
        dict(hidden_size=768, intermediate_size=3072, projection_dim=512, num_hidden_layers=12, num_attention_heads=12,
             num_channels=3, image_size=224, patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5),
        neutral=VISION_NEUTRAL, summary="CLIP's image tower (vision_config of a CLIP checkpoint)",
    ),
]
