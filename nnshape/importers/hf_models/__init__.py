"""The HF model types nnshape imports, one record each (see common.ModelType)."""

from __future__ import annotations

from . import decoders, encoders, gpt, seq2seq, vision
from .common import HEADS, Build, ModelType

MODEL_TYPES: dict[str, ModelType] = {m.name: m for mod in (decoders, gpt, encoders, seq2seq, vision) for m in mod.MODELS}

__all__ = ["MODEL_TYPES", "HEADS", "Build", "ModelType"]
