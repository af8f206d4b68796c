"""What the HF model types share: the model-type record, activations, constructs, standard pieces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..config import Fields
from ..errors import ImportFailure
from ..writer import SpecWriter, fmt_float

HEADS = ("base", "causal-lm", "masked-lm", "classifier", "seq2seq-lm", "encoder")


@dataclass(frozen=True)
class ModelType:
    """One HF ``model_type``: its architectures (class name -> head), the builder that writes the
    spec, transformers' defaults and attribute_map, and the fields that change no count."""

    name: str
    architectures: dict[str, str]
    build: Callable[["Build"], None]
    defaults: dict
    aliases: dict = field(default_factory=dict)
    neutral: frozenset = frozenset()
    summary: str = ""

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(h for h in HEADS if h in self.architectures.values())


@dataclass
class Build:
    """What a builder gets: the fields, the head to write, the writer."""

    f: Fields
    head: str
    w: SpecWriter
    model: ModelType


# transformers' ACT2FN name -> the spec's activation line (None: no layer)
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_python": "gelu",
    "gelu_new": "gelu approximate='tanh'",
    "gelu_pytorch_tanh": "gelu approximate='tanh'",
    "gelu_python_tanh": "gelu approximate='tanh'",
    "gelu_fast": "gelu approximate='tanh'",
    "gelu_accurate": "gelu approximate='tanh'",
    "quick_gelu": "quickgelu",
    "relu": "relu",
    "relu6": "relu6",
    "leaky_relu": "leakyrelu",
    "silu": "silu",
    "swish": "silu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "mish": "mish",
    "hardswish": "hardswish",
    "linear": None,
}


def activation(f: Fields, key: str) -> str | None:
    return ACTIVATIONS[f.choice(key, tuple(ACTIVATIONS))]


def emit_activation(w: SpecWriter, act: str | None) -> None:
    if act is None:
        w.comment("activation 'linear': none")
    else:
        w.line(act)


def need(construct: str, present: bool, model: str) -> None:
    """A construct of the spec language the model needs and this nnshape does not have yet."""
    if not present:
        raise ImportFailure(
            f"{model} needs {construct}, which this version of the spec language does not have yet",
            hint="the importer will write it as soon as nnshape reads it; until then use --head base if it avoids the construct",
            code="E0708",
        )


def has_arg(kind: str, arg: str) -> bool:
    from ...registry import find

    k = find(kind)
    return k is not None and any(a.name == arg or arg in a.aliases for a in k.args)


def has_kind(kind: str) -> bool:
    from ...registry import find

    return find(kind) is not None


def eps(value: float) -> str:
    return f"eps={fmt_float(value)}"


def num_labels(f: Fields) -> int:
    """The classifier's outputs: id2label's length (what transformers derives num_labels from)."""
    labels = f.raw("id2label", None)
    count = f.raw("num_labels", None)
    if labels is not None:
        if not isinstance(labels, dict) or not labels:
            f.fail("id2label", "id2label must be a non-empty object", expected='{"0": "LABEL_0", ...}', code="E0705")
        n = len(labels)
        if count is not None and count != n:
            f.fail("num_labels", "num_labels disagrees with id2label", expected=str(n), found=str(count), code="E0705")
        return n
    if count is not None:
        return f.int("num_labels")
    return 2  # PretrainedConfig's default (LABEL_0, LABEL_1)


def dropout_arg(p: float) -> str:
    return f" dropout={fmt_float(p)}" if p else ""


def tied_linear(b: Build, out: int, *, bias: bool, name: str, tie: str | None, comment: str | None = None) -> None:
    """The output projection; with ``tie`` its weight is the embedding's (``tie=NAME``)."""
    line = f"linear {out} bias={'true' if bias else 'false'}"
    if tie:
        need("`tie=` (weight tying)", has_arg("linear", "tie"), f"{b.model.name} with tie_word_embeddings=true")
        line += f" tie={tie}"
    b.w.line(f"{line} name={name}", comment)
