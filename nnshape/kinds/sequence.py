"""Token and position layers: ``embedding``, ``posenc`` (sinusoidal), ``posemb`` (learned), ``clstoken``."""

from __future__ import annotations

from ..memory import NOTHING, Saved
from ..registry import Arg, Call, Inference, Kind, register
from ..symbolic import Dim, Poly
from ..tensor import format_shape, numel
from ..twinspec import Twin

_SEQ = "N×L×D"
_DROPOUT = Arg("dropout", "float", 0.0, min=0, max=1, doc="dropout after adding the positions (identity in eval)")


def _expect_sequence(call: Call) -> tuple[Dim, Dim]:
    """(L, D) of an N×L×D input."""
    call.expect_rank(3, layout=_SEQ)
    return call.x.shape[1], call.x.shape[2]


class _SequenceKind(Kind):
    family = "sequence"

    def rank_hint(self, rank: int) -> str | None:
        if rank == 2:
            return "a sequence is L×D per sample; for token ids add `embedding NUM DIM` first"
        if rank == 4:
            return "for an image, turn it into tokens first: `flatten 2` then `transpose 1 2` (C×H×W -> HW×C)"
        return "`reshape` the input to L×D per sample first"


@register
class Embedding(_SequenceKind):
    name = "embedding"
    aliases = ("embed", "emb")
    doc = "Lookup table: each integer token id becomes a learned embedding_dim vector."
    torch_twin = "torch.nn.Embedding"
    accepts = "int"  # the analyzer rejects float input; infer also rejects int8/int16/uint8/bool, as torch does
    saves = "input"  # the ids, to scatter the gradient into the table
    args = (
        Arg("num_embeddings", "int", positional=True, min=1, aliases=("num", "vocab"), doc="vocabulary size"),
        Arg("embedding_dim", "int", positional=True, min=1, aliases=("dim",), doc="vector size per token"),
        Arg("padding_idx", "int", None, aliases=("pad",), doc="this id's vector gets no gradient"),
        Arg("max_norm", "float", None, min=0, doc="renormalize looked-up vectors to at most this norm"),
        Arg("norm_type", "float", 2.0, doc="the p of the p-norm for max_norm"),
        Arg("scale_grad_by_freq", "bool", False),
        Arg("sparse", "bool", False, doc="sparse gradient of the weight"),
        Arg("tie", "str", None, doc="the label of an embedding or linear whose weight this table is (weight tying: 0 new params)"),
    )
    formulas = ("output = input shape × embedding_dim (float32)", "params = num_embeddings·embedding_dim", "MACs = 0 (a lookup)")
    examples = (
        "8 dtype=int64 | embedding 10 4",
        "3x5 dtype=int64 | embedding 2 6 padding_idx=0",
        "6 dtype=int32 | emb 100 8 padding_idx=-1 max_norm=1.0 norm_type=1.0",
        "4 dtype=int64 | embedding num_embeddings=5 embedding_dim=3 scale_grad_by_freq=true sparse=true",
    )

    def infer(self, call: Call) -> Inference:
        a = call.args
        if call.x.dtype not in ("int64", "int32"):
            dims = call.x.sample_shape
            if any(isinstance(d, Poly) for d in dims):
                per_sample = "(" + ", ".join(str(d) for d in dims) + ")"
            else:
                per_sample = "x".join(str(d) for d in dims) or "1"
            call.fail(
                f"reads int64 or int32 token ids, found {call.x.dtype} tensors",
                expected="an int64 or int32 input",
                found=f"{call.x.dtype} {format_shape(call.x.shape)}",
                hint=f"embedding reads token ids: declare `input ids {per_sample} dtype=int64`",
                code="E0414",
            )
        n = a.num_embeddings
        if a.padding_idx is not None and not -n <= a.padding_idx < n:
            call.bad_arg("padding_idx", f"padding_idx must be a valid id for {n} embeddings", expected=f"an integer in [{-n}, {n - 1}]")
        return Inference(call.x.shape + (a.embedding_dim,), params=n * a.embedding_dim, dtype="float32")

    def rank_hint(self, rank: int) -> str | None:
        return None

    def tied_weight(self, call: Call) -> tuple[tuple, str]:
        """The weight ``tie=`` shares, and its layout: nn.Embedding keeps it num × dim."""
        return (call.args.num_embeddings, call.args.embedding_dim), "num_embeddings × embedding_dim"

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.nn(
            "Embedding", num_embeddings=a.num_embeddings, embedding_dim=a.embedding_dim, padding_idx=a.padding_idx,
            max_norm=a.max_norm, norm_type=a.norm_type, scale_grad_by_freq=a.scale_grad_by_freq, sparse=a.sparse,
        )

    def param_tensors(self, call: Call):
        return (("weight", (call.args.num_embeddings, call.args.embedding_dim)),)


class _Positions(_SequenceKind):
    elementwise_per_element = 1  # the positions are added: one FLOP per element (--count-elementwise)

    def saved(self, call: Call, result: Inference) -> Saved:
        """The dropout noise after adding the positions (nothing when dropout = 0)."""
        return Saved(floats=numel(call.x.shape)) if call.args.dropout > 0 else NOTHING


@register
class PosEnc(_Positions):
    name = "posenc"
    aliases = ("positionalencoding", "positional_encoding", "sinusoidal")
    doc = "Adds the fixed sinusoidal positional encoding of 'Attention Is All You Need' to an N×L×D input."
    torch_twin = "nnshape.twins.PositionalEncoding"
    args = (
        Arg("max_len", "int", None, min=1, aliases=("len",), doc="if given, L ≤ max_len is checked (when L is known)"),
        _DROPOUT,
    )
    formulas = (
        "output shape = input shape",
        "PE[pos, j] = sin(pos/10000^(2⌊j/2⌋/D)) for even j, cos(…) for odd j",
        "params = 0, buffers = 0 (the table is computed)",
        "MACs = 0",
    )
    examples = ("5x8 | posenc", "4x3 | posenc max_len=4", "7x9 | posenc dropout=0.1", "1x6 | sinusoidal")

    def infer(self, call: Call) -> Inference:
        length, _ = _expect_sequence(call)
        a = call.args
        if a.max_len is not None and not isinstance(length, Poly) and length > a.max_len:
            call.fail(
                f"the sequence length L={length} exceeds max_len={a.max_len}",
                arg="max_len",
                expected=f"L ≤ {a.max_len}",
                found=f"L = {length} in input {format_shape(call.x.shape)}",
                hint="raise max_len or shorten the sequence",
                code="E0415",
            )
        return Inference(call.x.shape)

    def twin(self, call: Call) -> Twin:
        return Twin.own("PositionalEncoding", dropout=call.args.dropout, max_len=call.args.max_len)


@register
class PosEmb(_Positions):
    name = "posemb"
    aliases = ("positionalembedding", "positional_embedding", "pos_embed")
    doc = "Adds a learned positional embedding (max_len × D) to the first L positions of an N×L×D input."
    torch_twin = "nnshape.twins.PositionalEmbedding"
    args = (
        Arg("max_len", "int", positional=True, min=1, aliases=("len", "num_positions"), doc="learned positions; L ≤ max_len"),
        _DROPOUT,
    )
    formulas = ("output shape = input shape", "params = max_len·D (L ≤ max_len)", "MACs = 0")
    examples = ("5x8 | posemb 5", "4x6 | posemb 10", "3x4 | posemb max_len=3 dropout=0.1")

    def infer(self, call: Call) -> Inference:
        length, dim = _expect_sequence(call)
        cap = call.args.max_len
        if length != cap:
            known = call.concrete(length, f"the check L ≤ max_len={cap}")
            if known > cap:
                call.fail(
                    f"the sequence length L={known} exceeds max_len={cap}",
                    arg="max_len",
                    expected=f"L ≤ max_len = {cap}",
                    found=f"L = {known} in input {format_shape(call.x.shape)}",
                    hint=f"use `posemb {known}` or more",
                    code="E0415",
                )
        return Inference(call.x.shape, params=cap * dim, details=(("positions", str(cap)),))

    def twin(self, call: Call) -> Twin:
        return Twin.own("PositionalEmbedding", max_len=call.args.max_len, dim=call.x.shape[2], dropout=call.args.dropout)

    def param_tensors(self, call: Call):
        return (("weight", (1, call.args.max_len, call.x.shape[2])),)


@register
class ClsToken(_SequenceKind):
    name = "clstoken"
    aliases = ("cls_token", "classtoken", "cls")
    doc = "Prepends learned tokens (a ViT class token) to an N×L×D sequence: L grows by num_tokens."
    torch_twin = "nnshape.twins.ClassToken"
    args = (Arg("num_tokens", "int", 1, positional=True, min=1, aliases=("n",), doc="tokens to prepend (e.g. class + distillation)"),)
    formulas = ("output = N × (num_tokens + L) × D", "params = num_tokens·D", "MACs = 0")
    examples = ("4x8 | clstoken", "196x16 | cls_token", "5x6 | clstoken 2")
    saves = "nothing"  # a concatenation: its backward slices the gradient

    def infer(self, call: Call) -> Inference:
        length, dim = _expect_sequence(call)
        t = call.args.num_tokens
        return Inference((call.x.shape[0], t + length, dim), params=t * dim)

    def twin(self, call: Call) -> Twin:
        return Twin.own("ClassToken", dim=call.x.shape[2], num_tokens=call.args.num_tokens)

    def param_tensors(self, call: Call):
        return (("token", (1, call.args.num_tokens, call.x.shape[2])),)
