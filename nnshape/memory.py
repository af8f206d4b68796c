"""Memory and training cost: activation bytes, the inference peak and what autograd saves.

Pure Python, like the rest of the analysis. Three parts:

* :class:`Saved` and the per-kind rules (:func:`saved_rule`): the tensors autograd keeps for a
  layer's backward, as PyTorch's CPU kernels save them (checked against
  ``torch.autograd.graph.saved_tensors_hooks`` by ``nnshape verify --train-step`` and the tests);
* :class:`Tracker`, fed by the analyzer in execution order: it gives every tensor an identity (a
  view such as ``flatten`` shares its input's storage) so a tensor saved by two layers, e.g. a
  ReLU's output that the next conv saves as its input, is counted once; and it follows what is
  live at each layer for the inference peak;
* :func:`training_totals`: parameters + gradients + optimizer state + saved activations.

Every formula is stated in docs/conventions.md ("Memory", "Training memory", "Compute").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .symbolic import Dim, NeedsValue, Poly
from .tensor import DTYPE_BYTES, TensorInfo, numel

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


# --------------------------------------------------------------------------- the tracker


@dataclass(eq=False, slots=True)
class Token:
    """One storage: its bytes and whether autograd tracks it."""

    nbytes: Dim
    grad: bool


@dataclass(eq=False)  # compared by identity: nested repeats may hold equal-looking marks
class Checkpoint:
    saved: Dim
    input_saved_before: bool
    referenced: set = field(default_factory=set)


class Tracker:
    """Follows tensors through the analysis (in execution order) for the peak and saved bytes."""

    def __init__(self, act_dtype: str):
        self.act_dtype = act_dtype
        self.tokens: dict[int, Token] = {}  # id(TensorInfo) -> its storage; every Token is bound
        # here, so it lives as long as the tracker and the token ids in held/saved_tokens stay unique
        self.keep: list[TensorInfo] = []  # keeps ids of tracked TensorInfo objects unique
        self.saved_tokens: set[int] = set()
        self.saved_bytes: Dim = 0
        self.held: dict[int, int] = {}  # token id -> count of holders
        self.held_bytes: Dim = 0  # bytes of the held tokens
        self.peak: Dim = 0
        self.peak_known = True
        self.marks: list[Checkpoint] = []

    # sizes
    def nbytes(self, info: TensorInfo) -> Dim:
        return numel(info.shape) * self.elem_bytes(info.dtype)

    def elem_bytes(self, dtype: str) -> int:
        return DTYPE_BYTES[self.act_dtype] if dtype.startswith(("float", "bfloat")) else DTYPE_BYTES[dtype]

    # identities
    def token(self, info: TensorInfo, grad: bool = True) -> Token:
        tok = self.tokens.get(id(info))
        if tok is None:
            tok = Token(self.nbytes(info), grad)
            self.bind(info, tok)
        return tok

    def bind(self, info: TensorInfo, tok: Token) -> None:
        self.tokens[id(info)] = tok
        self.keep.append(info)

    def input(self, info: TensorInfo) -> None:
        """A network input: no gradient, held by the caller for the whole pass."""
        tok = self.token(info, grad=False)
        self.hold_token(tok)

    def hold(self, info: TensorInfo) -> None:
        self.hold_token(self.token(info))

    def hold_token(self, tok: Token) -> None:
        count = self.held.get(id(tok), 0)
        if count == 0:
            self.held_bytes = self.held_bytes + tok.nbytes
        self.held[id(tok)] = count + 1

    def release(self, info: TensorInfo) -> None:
        tok = self.token(info)
        count = self.held.get(id(tok), 0) - 1
        if count > 0:
            self.held[id(tok)] = count
        elif id(tok) in self.held:
            del self.held[id(tok)]
            self.held_bytes = self.held_bytes - tok.nbytes

    def live(self, *tokens: Token) -> None:
        """Note a moment of the forward pass where the held tensors and ``tokens`` are all live."""
        if not self.peak_known:
            return
        total: Dim = self.held_bytes  # kept up to date by hold_token/release
        held = self.held
        counted: set[int] = set()  # a merge of 60,000 branches passes 60,000 tokens
        for tok in tokens:
            key = id(tok)
            if key not in held and key not in counted:
                counted.add(key)
                total = total + tok.nbytes
        if isinstance(total, Poly):
            self.peak_known = False  # a symbolic size: the maximum needs its value
        elif total > self.peak:
            self.peak = total

    # saving
    def save_token(self, tok: Token) -> None:
        for mark in self.marks:
            mark.referenced.add(id(tok))
        if id(tok) not in self.saved_tokens:
            self.saved_tokens.add(id(tok))
            self.saved_bytes = self.saved_bytes + tok.nbytes

    def add_saved(self, nbytes: Dim) -> None:
        self.saved_bytes = self.saved_bytes + nbytes

    # events
    def layer(self, kind, call, out: TensorInfo, out_bytes: Dim, trainable: Dim, saved_rule: Callable[[], Saved]) -> Dim:
        """A leaf layer ran: bind its output (``out_bytes`` big), note the live bytes and what it
        saves (``saved_rule()``, asked only when autograd tracks the layer); its new saved bytes."""
        x_tok = self.token(call.x)
        extra = [self.token(t) for t in call.extra_inputs] if call.tensors else ()
        grad = x_tok.grad or any(t.grad for t in extra) or _nonzero(trainable)
        if kind.is_view:
            out_tok = x_tok  # a view: the same storage
        else:
            out_tok = Token(out_bytes, grad)
        self.bind(out, out_tok)
        self.live(x_tok, *extra, out_tok)
        before = self.saved_bytes
        if grad:
            rule = saved_rule()
            if rule.input:
                self.save_token(x_tok)
            if rule.inputs:
                for tok in extra:
                    self.save_token(tok)
            if rule.output:
                self.save_token(out_tok)
            if _nonzero(rule.floats):
                self.add_saved(rule.floats * DTYPE_BYTES[self.act_dtype])
            if _nonzero(rule.fixed):
                self.add_saved(rule.fixed)
        return self.saved_bytes - before

    def merge(self, op: str, inputs: list[TensorInfo], out: TensorInfo) -> None:
        """add/multiply/concat of branch outputs (or a residual's body and skip)."""
        toks = [self.token(t) for t in inputs]
        grad = any(t.grad for t in toks)
        out_tok = Token(self.nbytes(out), grad)
        self.bind(out, out_tok)
        self.live(*toks, out_tok)
        if op == "multiply" and grad:
            for tok in toks:
                self.save_token(tok)

    def checkpoint(self, first_in: TensorInfo) -> Checkpoint:
        mark = Checkpoint(self.saved_bytes, id(self.token(first_in)) in self.saved_tokens)
        self.marks.append(mark)
        return mark

    def drop(self, mark: Checkpoint) -> None:
        self.marks.remove(mark)

    def repeat_copies(self, mark: Checkpoint, copies: int, first_in: TensorInfo, last_out: TensorInfo) -> None:
        """A collapsed repeat: the pass just analyzed stands for ``copies`` more identical passes."""
        self.marks.remove(mark)
        if copies <= 0:
            return
        in_tok, out_tok = self.token(first_in), self.token(last_out)
        per_pass = self.saved_bytes - mark.saved
        if id(in_tok) in mark.referenced and id(in_tok) in self.saved_tokens:
            # the pass saves its input: a later pass's input is this pass's output
            if not mark.input_saved_before:
                per_pass = per_pass - in_tok.nbytes
            if id(out_tok) not in self.saved_tokens:
                per_pass = per_pass + out_tok.nbytes
        self.saved_bytes = self.saved_bytes + per_pass * copies


def _nonzero(value: Dim) -> bool:
    return isinstance(value, Poly) or value != 0


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
