"""Memory and training cost: activation bytes, the inference peak and what autograd saves.

Pure Python, like the rest of the analysis. Two parts (the analysis follows storages through
the network with nnshape.analysis.tracker, which applies these rules):

* :class:`Saved` and the per-kind rules (:func:`saved_rule`): the tensors autograd keeps for a
  layer's backward, as PyTorch's CPU kernels save them (checked against
  ``torch.autograd.graph.saved_tensors_hooks`` by ``nnshape verify --train-step`` and the tests);
* :func:`training_totals`: parameters + gradients + optimizer state + saved activations.

Every formula is stated in docs/conventions.md ("Memory", "Training memory", "Compute").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .symbolic import Dim, NeedsValue
from .tensor import DTYPE_BYTES, numel

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}  # fp32 tensors per parameter
STAT_BYTES = 4  # normalization statistics and LSTM workspaces stay float32
INDEX_BYTES = 8  # max-pool indices are int64
LSTM_WORKSPACE_MIN = 28_672  # oneDNN's smallest LSTM workspace, bytes


@dataclass(frozen=True)
class Saved:
    """What a layer's backward needs. ``input``/``output``/``inputs`` name tensors that other
    layers may save too (counted once); ``floats`` are new tensors at the activation dtype;
    ``fixed`` are bytes of new tensors whose dtype does not follow ``--dtype``."""

    input: bool = False
    output: bool = False
    inputs: bool = False  # the tensor-typed arguments (kv=, memory=)
    floats: Dim = 0
    fixed: Dim = 0


NOTHING = Saved()
INPUT = Saved(input=True)
OUTPUT = Saved(output=True)

# --------------------------------------------------------------------------- per-kind rules

VIEWS = {"flatten", "unflatten", "reshape", "permute", "transpose", "select", "identity"}
_OUTPUT_KINDS = {"relu", "sigmoid", "tanh", "softmax", "logsoftmax"}
_INPUT_KINDS = {
    "relu6", "leakyrelu", "elu", "selu", "gelu", "silu", "mish", "hardswish", "hardsigmoid", "hardtanh",
    "softplus", "prelu", "scale", "linear", "embedding",
    "conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d",
    "avgpool1d", "avgpool2d", "avgpool3d",
}
_NOTHING_KINDS = {"gap", "clstoken", "hflip", "vflip", "randomcrop", "centercrop", "randomresizedcrop", "resize", "pcacolor"}


def _maxpool(call, res) -> Saved:
    return Saved(input=True, fixed=INDEX_BYTES * numel(res.shape))


def _adaptive_avg(call, res) -> Saved:
    global_mean = all(d == 1 for d in res.shape[2:])  # output 1: a mean, whose backward needs no input
    return NOTHING if global_mean else INPUT


def _batchnorm(call, res) -> Saved:
    return Saved(input=True, fixed=2 * STAT_BYTES * call.x.shape[1])  # save_mean, save_invstd per channel


def _instancenorm(call, res) -> Saved:
    return Saved(input=True, fixed=2 * STAT_BYTES * call.x.shape[0] * call.x.shape[1])


def _groupnorm(call, res) -> Saved:
    return Saved(input=True, fixed=2 * STAT_BYTES * call.x.shape[0] * call.args.num_groups)


def _rows(call, trailing: int) -> Dim:
    return numel(call.x.shape[: call.x.rank - trailing])


def _layernorm(call, res) -> Saved:
    from .kinds.norm import _normalized_shape

    return Saved(input=True, fixed=2 * STAT_BYTES * _rows(call, len(_normalized_shape(call))))


def _rmsnorm(call, res) -> Saved:
    from .kinds.norm import _normalized_shape

    affine = bool(getattr(call.args, "elementwise_affine", True))
    return Saved(input=True, fixed=STAT_BYTES * _rows(call, len(_normalized_shape(call))), floats=numel(call.x.shape) if affine else 0)


def _dropout(call, res) -> Saved:
    # CPU dropout multiplies by a noise tensor of the input's dtype (CUDA saves a 1-byte bool mask)
    return Saved(floats=numel(call.x.shape)) if call.args.p > 0 else NOTHING


def _channel_dropout(call, res) -> Saved:
    return Saved(floats=call.x.shape[0] * call.x.shape[1]) if call.args.p > 0 else NOTHING


def _droppath(call, res) -> Saved:
    return Saved(floats=call.x.shape[0]) if call.args.p > 0 else NOTHING


def _positions(call, res) -> Saved:
    return Saved(floats=numel(call.x.shape)) if call.args.dropout > 0 else NOTHING


def _upsample(call, res) -> Saved:
    return INPUT if call.args.mode == "area" else NOTHING


def _attention_core(n, heads, lq, lk, hd, dropout: float) -> Dim:
    """q, k, v (k, v repeated to H heads) and what scaled_dot_product_attention keeps: with
    dropout, the math kernel's softmax, mask and dropped weights (3·N·H·Lq·Lk) and the context;
    without, the CPU flash kernel's output and log-sum-exp (N·H·Lq)."""
    qkv = n * heads * hd * (lq + 2 * lk)
    if dropout > 0:
        return qkv + 3 * n * heads * lq * lk + n * lq * heads * hd
    return qkv + n * heads * lq * hd + n * heads * lq


def _attention(call, res) -> Saved:
    a = call.args
    n, lq, dim = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
    kv = call.tensors.get("kv", call.x)
    lk = kv.shape[1]
    heads = a.num_heads
    hd = a.head_dim if a.head_dim is not None else dim // heads
    floats = _attention_core(n, heads, lq, lk, hd, a.dropout)
    if a.rope:
        floats += 2 * (lq + lk) * hd  # cos and sin tables
    return Saved(input=True, inputs=True, floats=floats)


def _mha(call, res) -> Saved:
    a = call.args
    n, lq, dim = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
    kv = call.tensors.get("kv")
    lk = (kv.shape[1] if kv is not None else lq) + (1 if a.add_bias_kv else 0) + (1 if a.add_zero_attn else 0)
    heads = a.num_heads
    hd = dim // heads
    # the transposed copies of the inputs that feed the packed in-projection, then the core
    floats = n * lq * dim + (n * kv.shape[1] * kv.shape[-1] if kv is not None else 0)
    floats += _attention_core(n, heads, lq, lk, hd, a.dropout)
    return Saved(floats=floats)


def _transformer_layer(call, res) -> Saved:
    """nn.TransformerEncoderLayer / DecoderLayer, counted tensor by tensor (math attention kernel
    when dropout > 0): per attention block q, kᵀ, packed projections, context, 3 score-sized
    tensors; per residual block a dropout mask and the LayerNorm input and statistics; the
    feed-forward's activation output, its dropout mask and dropped copy (3·N·L·ff)."""
    a = call.args
    n, lt, d = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
    heads, ff = a.nhead, a.dim_feedforward
    drop = a.dropout > 0
    nt = n * lt * d
    rows = n * lt
    memory = call.tensors.get("memory")
    blocks = 2 if memory is None else 3
    floats: Dim = 0
    # self-attention: kᵀ, q, packed q/k/v (3), context; scores: softmax, mask, dropped
    floats += 6 * nt + (3 if drop else 1) * n * heads * lt * lt
    if memory is not None:
        lm, dm = memory.shape[1], memory.shape[-1]
        nm = n * lm * dm
        floats += nt  # the query input of the cross-attention (previous block's norm output)
        floats += 2 * nt + 3 * nm + (3 if drop else 1) * n * heads * lt * lm  # q, context; kᵀ, packed k/v
    floats += nt  # the feed-forward's input (the last norm's output)
    floats += (3 if drop else 2) * n * lt * ff  # activation output (+ dropout mask) and the second linear's input
    floats += blocks * ((1 if drop else 0) * nt + nt)  # per residual block: dropout mask, LayerNorm input
    return Saved(input=True, inputs=True, floats=floats, fixed=blocks * 2 * STAT_BYTES * rows)


def _lstm_workspace(seq, batch, inp, hidden) -> Dim:
    """oneDNN's LSTM training workspace, fitted on torch's CPU kernel: ≈ 16 floats per step,
    sample and hidden unit, plus 6 per input feature beyond the hidden size."""
    extra = inp - hidden
    try:
        extra = max(extra, 0)
        words = 16 * seq * batch * hidden + 6 * seq * batch * extra
        return max(STAT_BYTES * words, LSTM_WORKSPACE_MIN)
    except NeedsValue:
        return STAT_BYTES * 16 * seq * batch * hidden


def _recurrent(call, res) -> Saved:
    a = call.args
    n, length, features = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
    dirs = 2 if a.bidirectional else 1
    h = a.hidden_size
    lstm = call.kind.name == "lstm"
    out_h = (getattr(a, "proj_size", 0) or h) if lstm else h
    floats: Dim = n * length * features  # the time-major copy of the input
    fixed: Dim = 0
    if lstm:
        floats += 2 * a.num_layers * dirs * n * h  # h0 and c0
    for layer in range(a.num_layers):
        inp = features if layer == 0 else dirs * out_h
        if layer > 0:
            floats += n * length * inp  # the previous layer's output, concatenated
        for _ in range(dirs):
            if lstm:
                floats += n * length * out_h + 2 * n * h
                fixed += _lstm_workspace(length, n, inp, h)
            elif call.kind.name == "gru":
                floats += 7 * n * length * h
            else:
                floats += (length + 1) * n * h
    return Saved(floats=floats, fixed=fixed)


RULES: dict[str, Callable[[Any, Any], Saved]] = {
    **{name: (lambda c, r: OUTPUT) for name in _OUTPUT_KINDS},
    **{name: (lambda c, r: INPUT) for name in _INPUT_KINDS},
    **{name: (lambda c, r: NOTHING) for name in _NOTHING_KINDS | VIEWS},
    **{f"maxpool{d}d": _maxpool for d in (1, 2, 3)},
    **{f"adaptivemaxpool{d}d": _maxpool for d in (1, 2, 3)},
    **{f"adaptiveavgpool{d}d": _adaptive_avg for d in (1, 2, 3)},
    **{name: _batchnorm for name in ("batchnorm", "batchnorm1d", "batchnorm2d", "batchnorm3d")},
    **{name: _instancenorm for name in ("instancenorm", "instancenorm1d", "instancenorm2d", "instancenorm3d")},
    "layernorm": _layernorm,
    "rmsnorm": _rmsnorm,
    "groupnorm": _groupnorm,
    "dropout": _dropout,
    "alphadropout": _dropout,
    **{f"dropout{d}d": _channel_dropout for d in (1, 2, 3)},
    "droppath": _droppath,
    "posemb": _positions,
    "posenc": _positions,
    "upsample": _upsample,
    "attention": _attention,
    "mha": _mha,
    "encoderlayer": _transformer_layer,
    "decoderlayer": _transformer_layer,
    "lstm": _recurrent,
    "gru": _recurrent,
    "rnn": _recurrent,
}


def saved_rule(kind, call, result) -> Saved:
    """The rule for a kind; a kind without one saves its input if it has parameters."""
    rule = RULES.get(kind.name)
    if rule is not None:
        return rule(call, result)
    return INPUT if result.params else NOTHING


# --------------------------------------------------------------------------- totals


@dataclass(frozen=True)
class Memory:
    """The `memory` object of the summary; bytes, with the options they assume."""

    dtype: str  # activation and parameter dtype (--dtype, or the --amp half type)
    optimizer: str
    amp: bool
    params_bytes: Dim
    buffers_bytes: Dim
    activation_bytes: Dim  # every leaf output once (a sum, not a peak)
    inference_peak_bytes: Dim | None  # None: depends on a symbolic size
    saved_for_backward_bytes: Dim
    gradients_bytes: Dim
    optimizer_bytes: Dim
    master_weights_bytes: Dim
    training_bytes: Dim

    def to_dict(self) -> dict:
        from .symbolic import to_json

        return {
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "amp": self.amp,
            "params_bytes": to_json(self.params_bytes),
            "buffers_bytes": to_json(self.buffers_bytes),
            "activation_bytes": to_json(self.activation_bytes),
            "inference_peak_bytes": None if self.inference_peak_bytes is None else to_json(self.inference_peak_bytes),
            "saved_for_backward_bytes": to_json(self.saved_for_backward_bytes),
            "gradients_bytes": to_json(self.gradients_bytes),
            "optimizer_bytes": to_json(self.optimizer_bytes),
            "master_weights_bytes": to_json(self.master_weights_bytes),
            "training_bytes": to_json(self.training_bytes),
        }


def training_totals(
    *, params: Dim, trainable: Dim, buffers: Dim, dtype: str, optimizer: str, amp: bool,
    activation_bytes: Dim, peak: Dim | None, saved: Dim,
) -> Memory:
    """training = weights + buffers + gradients + optimizer state + saved activations.

    Without --amp every tensor is at ``dtype``: weights P·b, gradients T·b, where T counts the
    trainable parameters; optimizer state k·4·T (k fp32 tensors: sgd 0, momentum 1, adam(w) 2).
    With --amp (``dtype`` then float16 or bfloat16, b = 2): the half weights P·2, half gradients
    T·2, fp32 master weights T·4 and the fp32 optimizer state k·4·T.
    """
    b = DTYPE_BYTES[dtype]
    states = OPTIMIZER_STATES[optimizer]
    weights = params * b
    grads = trainable * b
    master = trainable * 4 if amp else 0
    opt = trainable * 4 * states
    buf = buffers * b
    total = weights + buf + grads + master + opt + saved
    return Memory(dtype, optimizer, amp, weights, buf, activation_bytes, peak, saved, grads, opt, master, total)
