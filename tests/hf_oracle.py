"""transformers as the oracle of `nnshape import hf`: build a model from a small config of a model
type (no download) and measure what the importer's spec must equal.

- parameters: ``model.parameters()`` (tied weights once);
- buffers: the persistent ones (``state_dict``). transformers' other buffers (position ids, rotary
  inverse frequencies, the embedding scale) are constants recomputed from the config
  (``persistent=False``): nnshape counts such tables as neither parameters nor buffers, like its
  own ``posenc``;
- MACs: FlopCounterMode FLOPs / 2 with eager attention and the math SDPA kernel.
"""

from __future__ import annotations

import json

from oracle import counting_flags

L = 7  # the sequence length of the measurements (odd, small)
T = 5  # a decoder's own length (encoder-decoder models), unlike L


def type_is_encoder(cfg) -> bool:
    return any(a.endswith("EncoderModel") for a in cfg.architectures or ())


def build(model_type: str, arch: str, **config):
    import transformers
    from transformers import AutoConfig

    cfg = AutoConfig.for_model(model_type, **config)
    cfg.architectures = [arch]
    cfg._attn_implementation = "eager"
    if hasattr(cfg, "_experts_implementation"):
        cfg._experts_implementation = "eager"  # a loop over the experts hit: FlopCounterMode sees each matmul
    cls = getattr(transformers, arch, None)
    if cls is None:  # a part transformers does not export (WhisperEncoder)
        import importlib

        cls = getattr(importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}"), arch)
    model = cls(cfg).eval()
    return cfg, model


def config_json(cfg, diff: bool = True) -> dict:
    """The config as save_pretrained writes it (``diff``: only what differs from the defaults)."""
    text = cfg.to_json_string(use_diff=diff)
    return json.loads(text)


def inputs(cfg, model_type: str):
    import torch

    gen = torch.Generator().manual_seed(0)
    if model_type in ("vit", "clip_vision_model"):
        size = cfg.image_size if isinstance(cfg.image_size, int) else cfg.image_size[0]
        return {"pixel_values": torch.randn(1, cfg.num_channels, size, size, generator=gen)}
    if model_type == "whisper":
        out = {"input_features": torch.randn(1, cfg.num_mel_bins, 2 * cfg.max_source_positions, generator=gen)}
        if cfg.architectures[0] in ("WhisperModel", "WhisperForConditionalGeneration"):
            out["decoder_input_ids"] = torch.randint(3, cfg.vocab_size, (1, T), generator=gen)
        return out
    vocab = cfg.vocab_size
    ids = torch.randint(3, vocab, (1, L), generator=gen)
    out = {"input_ids": ids}
    if model_type == "t5" and not type_is_encoder(cfg):
        out["decoder_input_ids"] = torch.randint(3, vocab, (1, T), generator=gen)
    if model_type in ("bert", "roberta", "albert"):
        out["token_type_ids"] = torch.randint(0, cfg.type_vocab_size, (1, L), generator=gen)
    return out


def measure(model, feed: dict) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in model.parameters())
    persistent = set(model.state_dict(keep_vars=True))
    buffers = sum(b.numel() for name, b in model.named_buffers() if name in persistent)
    counter = FlopCounterMode(display=False)
    with counting_flags(), torch.no_grad(), counter:
        out = model(**feed)
    first = out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return {"params": params, "buffers": buffers, "shape": tuple(first.shape), "macs": flops // 2}


def spec_numbers(text: str) -> dict:
    import nnshape

    extra = {"T": T} if "input decoder_input_ids T" in text else {}
    summary = nnshape.summarize(text, L=L, **extra)
    return {
        "params": summary.total_params,
        "buffers": summary.total_buffers,
        "shape": tuple(summary.output_shape),
        "macs": summary.total_macs,
    }
