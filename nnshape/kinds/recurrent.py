"""Recurrent layers: ``rnn``, ``lstm``, ``gru`` over N×L×D sequences (batch first).

The twins wrap ``nn.RNN/LSTM/GRU`` and return only the output sequence. With oneDNN off,
FlopCounterMode sees each layer as one input matmul over the whole sequence plus one
hidden-state matmul per step (and one projection matmul per step for ``proj_size``), so
MACs = N·L·(gates·H·(I + R) + H·P) per layer and direction, biases excluded.
"""

from __future__ import annotations

from ..memory import STAT_BYTES, Saved
from ..registry import Arg, Call, Inference, Kind, num, product, register
from ..symbolic import Dim, NeedsValue
from ..tensor import format_shape
from ..twinspec import Twin

LSTM_WORKSPACE_MIN = 28_672  # oneDNN's smallest LSTM workspace, bytes


def _common_args(lstm: bool, rnn: bool) -> tuple[Arg, ...]:
    args = [
        Arg("hidden_size", "int", positional=True, min=1, aliases=("hidden", "h"), doc="features of the hidden state H"),
        Arg("num_layers", "int", 1, positional=True, min=1, aliases=("layers",), doc="stacked recurrent layers"),
        Arg("bias", "bool", True, doc="the two bias vectors per gate set (b_ih and b_hh)"),
        Arg("batch_first", "bool", True, doc="nnshape sequences are N×L×D, so only true is supported"),
        Arg("dropout", "float", 0.0, min=0, max=1, doc="dropout between stacked layers (training only)"),
        Arg("bidirectional", "bool", False, aliases=("bidir",), doc="a second pass right to left; doubles the output"),
        Arg("input_size", "int", None, min=1, aliases=("in",), doc="checked against the input's last dim"),
    ]
    if lstm:
        args.append(Arg("proj_size", "int", 0, min=0, aliases=("proj",), doc="project h_t to this size (0: no projection)"))
    if rnn:
        args.append(Arg("nonlinearity", "str", "tanh", choices=("tanh", "relu"), aliases=("act",), doc="tanh or relu"))
    return tuple(args)


class _Recurrent(Kind):
    family = "sequence"
    gates: int = 1
    torch_class: str = "RNN"
    cell_ops: int = 1  # element-wise FLOPs per hidden unit and step in DeepSpeed's rule: RNN 1, GRU 7, LSTM 10

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's recurrent rule without its matrix part: per step, direction and layer,
        ``cell_ops``·H (the gates' sums and products) and, with biases, the two bias vectors."""
        a = call.args
        n, length, _ = call.x.shape
        hidden = a.hidden_size
        per_step = self.cell_ops * hidden + (2 * self.gates * hidden if a.bias else 0)
        return n * length * (2 if a.bidirectional else 1) * a.num_layers * per_step

    def rank_hint(self, rank: int) -> str | None:
        if rank == 2:
            return "a sequence is L×D per sample; `unflatten` or `reshape` the features into L×D first"
        if rank == 4:
            return "for an image C×H×W, `flatten 2` then `transpose 1 2` gives N×(H·W)×C"
        return None

    def infer(self, call: Call) -> Inference:
        a = call.args
        call.expect_rank(3, layout="N×L×D")
        if not a.batch_first:
            call.bad_arg(
                "batch_first",
                "only batch_first=true is supported: nnshape sequences are N×L×D",
                expected="true (or leave it out)",
                hint="write the input as L×D per sample; `transpose 0 1` if you really hold L×N×D",
            )
        n, length, fan_in = call.x.shape
        if a.input_size is not None and a.input_size != fan_in:
            call.fail(
                f"input_size={a.input_size} does not match the input's last dim",
                arg="input_size",
                expected=f"input_size = {fan_in} (the last dim of the input {format_shape(call.x.shape)})",
                found=str(a.input_size),
                hint="input_size is inferred; drop it or fix the layer before",
                code="E0406",
            )
        hidden = a.hidden_size
        proj = getattr(a, "proj_size", 0)
        if proj and proj >= hidden:
            call.bad_arg("proj_size", f"proj_size must be smaller than hidden_size={hidden}", expected=f"0 < proj_size < {hidden}")
        if a.dropout > 0 and a.num_layers == 1:
            call.warn("dropout acts only between stacked layers; with num_layers=1 it has no effect", arg="dropout")
        dirs = 2 if a.bidirectional else 1
        out_size = proj or hidden  # what each direction emits and feeds back
        gh = self.gates * hidden
        params: Dim = 0
        per_step: Dim = 0  # MACs per sample and time step, all layers and directions
        layer_in: Dim = fan_in
        for _ in range(a.num_layers):
            one = gh * layer_in + gh * out_size + (2 * gh if a.bias else 0) + (proj * hidden if proj else 0)
            params = params + dirs * one
            per_step = per_step + dirs * (gh * layer_in + gh * out_size + (hidden * proj if proj else 0))
            layer_in = dirs * out_size
        details = [("hidden", str(hidden))]
        if a.num_layers > 1:
            details.append(("layers", str(a.num_layers)))
        if a.bidirectional:
            details.append(("directions", "2"))
        if proj:
            details.append(("proj", str(proj)))
        return Inference((n, length, dirs * out_size), params=params, macs=n * length * per_step, details=tuple(details))

    gate_names: str = "tanh"

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        n, length, fan_in = call.x.shape
        hidden, proj = a.hidden_size, getattr(a, "proj_size", 0)
        dirs = 2 if a.bidirectional else 1
        out_size = proj or hidden
        gh = self.gates * hidden
        gates = f"{self.gates} ({self.gate_names})" if self.gates > 1 else "1"
        if self.name == "rnn":
            gates = f"1 ({a.nonlinearity})"
        lines = [f"gates: {gates} × H = {self.gates}·{hidden} = {gh} rows in W_ih and W_hh"]
        param_terms, mac_terms = [], []
        layer_in: Dim = fan_in
        for layer in range(a.num_layers):
            terms = [product(gh, layer_in), product(gh, out_size)]
            macs = list(terms)
            if a.bias:
                terms.append(product(2, gh))
            if proj:
                terms.append(product(proj, hidden))
                macs.append(product(hidden, proj))
            where = f"layer {layer + 1}" + (", × 2 directions" if dirs == 2 else "")
            lines.append(
                f"{where}: W_ih {terms[0]} + W_hh {terms[1]}" + (f" + b_ih, b_hh {terms[2]}" if a.bias else "")
                + (f" + W_hr {terms[-1]}" if proj else "")
            )
            param_terms.append(f"2·({' + '.join(terms)})" if dirs == 2 else " + ".join(terms))
            mac_terms.append(f"2·({' + '.join(macs)})" if dirs == 2 else " + ".join(macs))
            layer_in = dirs * out_size
        lines.append(f"output: N×L×(directions·{'proj_size' if proj else 'H'}) = {format_shape(result.shape)}")
        lines.append(f"params = {' + '.join(param_terms)} = {num(result.params)}")
        lines.append(f"MACs = N·L · ({' + '.join(mac_terms)}) = {product(n, length)} · ({' + '.join(mac_terms)}) = {num(result.macs)}")
        return lines

    def twin(self, call: Call) -> Twin:
        a = call.args
        kwargs = dict(
            input_size=call.x.shape[-1], hidden_size=a.hidden_size, num_layers=a.num_layers, bias=a.bias, batch_first=True,
            dropout=a.dropout, bidirectional=a.bidirectional,
        )
        if self.torch_class == "LSTM":
            kwargs["proj_size"] = a.proj_size
        if self.torch_class == "RNN":
            kwargs["nonlinearity"] = a.nonlinearity
        return Twin.own("SequenceOnly", inner=Twin.nn(self.torch_class, **kwargs))

    def param_tensors(self, call: Call):
        """Per layer and direction (suffix _lN, _reverse): weight_ih, weight_hh, bias_ih, bias_hh
        and LSTM's weight_hr, as nn.RNN/LSTM/GRU (held as ``inner``) names them."""
        a = call.args
        gh, h = self.gates * a.hidden_size, a.hidden_size
        proj = getattr(a, "proj_size", 0) or 0
        dirs = 2 if a.bidirectional else 1
        out = []
        for layer in range(a.num_layers):
            inp = call.x.shape[-1] if layer == 0 else dirs * (proj or h)
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                out += [("inner.weight_ih" + sfx, (gh, inp)), ("inner.weight_hh" + sfx, (gh, proj or h))]
                if a.bias:
                    out += [("inner.bias_ih" + sfx, (gh,)), ("inner.bias_hh" + sfx, (gh,))]
                if proj:
                    out.append(("inner.weight_hr" + sfx, (proj, h)))
        return tuple(out)

    def saved(self, call: Call, result: Inference) -> Saved:
        """The time-major copy of the input, and per layer and direction what the CPU kernel keeps:
        LSTM its outputs, h and c and oneDNN's workspace; GRU 7 values per step and hidden unit;
        RNN every hidden state (L + 1); the previous layer's output between stacked layers."""
        a = call.args
        n, length, features = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
        dirs = 2 if a.bidirectional else 1
        h = a.hidden_size
        lstm = self.torch_class == "LSTM"
        out_h = (getattr(a, "proj_size", 0) or h) if lstm else h
        floats: Dim = n * length * features
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
                elif self.torch_class == "GRU":
                    floats += 7 * n * length * h
                else:
                    floats += (length + 1) * n * h
        return Saved(floats=floats, fixed=fixed)


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


_FORMULAS = (
    "output = N × L × (R·directions), R = proj_size or H",
    "params per layer and direction = G·H·(I + R) + 2·G·H (bias) [+ P·H projection]; I = D, then R·directions",
    "MACs = N·L·Σ(layers, directions) (G·H·(I + R) [+ H·P])",
)


@register
class RNN(_Recurrent):
    name = "rnn"
    aliases = ("elman",)
    doc = "Elman RNN (tanh or relu) over an N×L×D sequence; outputs every step's hidden state."
    torch_twin = "torch.nn.RNN"
    torch_class = "RNN"
    gates = 1
    args = _common_args(lstm=False, rnn=True)
    formulas = ("G = 1 gate set",) + _FORMULAS
    examples = (
        "5x8 | rnn 16",
        "7x10 | rnn 12 num_layers=2 nonlinearity='relu' bias=false",
        "4x6 | rnn 8 2 bidirectional=true dropout=0.2 input_size=6",
    )


@register
class LSTM(_Recurrent):
    name = "lstm"
    doc = "Long short-term memory over an N×L×D sequence; outputs every step's h (optionally projected)."
    torch_twin = "torch.nn.LSTM"
    torch_class = "LSTM"
    gates = 4
    cell_ops = 10
    gate_names = "input, forget, cell, output"
    args = _common_args(lstm=True, rnn=False)
    formulas = ("G = 4 gate sets (input, forget, cell, output); with proj_size P the recurrent input is P",) + _FORMULAS
    examples = (
        "50x128 | lstm 256 num_layers=2 bidirectional=true",
        "5x8 | lstm 16",
        "6x10 | lstm 12 proj_size=5",
        "6x10 | lstm 12 layers=3 proj=4 bidirectional=true bias=false batch_first=true",
    )


@register
class GRU(_Recurrent):
    name = "gru"
    doc = "Gated recurrent unit over an N×L×D sequence; outputs every step's hidden state."
    torch_twin = "torch.nn.GRU"
    torch_class = "GRU"
    gates = 3
    cell_ops = 7
    gate_names = "reset, update, new"
    args = _common_args(lstm=False, rnn=False)
    formulas = ("G = 3 gate sets (reset, update, new)",) + _FORMULAS
    examples = ("5x8 | gru 16", "9x6 | gru 10 num_layers=2 bidirectional=true bias=false", "1x4 | gru 3 in=4")
