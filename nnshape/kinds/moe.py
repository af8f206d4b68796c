"""``moe``: a sparse mixture of feed-forward experts with top-k routing (Mixtral, Qwen2-MoE, OLMoE).

Parameters are every expert's plus the router's (memory holds them all); MACs are the router's
plus exactly ``top_k`` experts per token: what FlopCounterMode counts on a real top-k dispatch,
whichever experts the tokens pick (each token runs k distinct experts, and an expert's cost is
linear in its tokens). docs/conventions.md ("Mixture of experts") states the rules.
"""

from __future__ import annotations

from ..registry import Arg, Call, Inference, Kind, num, product, register
from ..tensor import format_shape, numel
from ..twinspec import Twin
from ._common import linear_tensors

ACTIVATIONS = ("silu", "gelu", "gelu_tanh", "relu")


def hidden_saved(ff: int, gated: bool, activation: str) -> int:
    """Floats per token an expert's hidden layer keeps for the backward: the activation's input
    (ReLU keeps its output instead), its output, and for gated experts the up projection and the
    product that feeds down_proj."""
    if gated:
        return (3 if activation == "relu" else 4) * ff
    return (1 if activation == "relu" else 2) * ff


def ffn_tensors(prefix: str, dim: int, ff: int, gated: bool, bias: bool) -> tuple:
    """One expert's linears as nnshape.twins.Expert names them: gate_proj, up_proj, down_proj
    (gated) or fc1, fc2."""
    if gated:
        return (linear_tensors(prefix + "gate_proj.", ff, dim, bias) + linear_tensors(prefix + "up_proj.", ff, dim, bias)
                + linear_tensors(prefix + "down_proj.", dim, ff, bias))
    return linear_tensors(prefix + "fc1.", ff, dim, bias) + linear_tensors(prefix + "fc2.", dim, ff, bias)


def ffn_counts(dim: int, ff: int, gated: bool, bias: bool) -> tuple[int, int]:
    """(params, MACs per token) of one expert: gated 3·D·ff (gate, up, down), else 2·D·ff."""
    mats = 3 if gated else 2
    params = mats * dim * ff + ((2 * ff + dim if gated else ff + dim) if bias else 0)
    return params, mats * dim * ff


@register
class MoE(Kind):
    name = "moe"
    aliases = ("mixture_of_experts", "sparse_moe")
    family = "dense"
    doc = "Sparse mixture of experts on the last dim: a router picks top_k of `experts` feed-forward experts per token."
    torch_twin = "nnshape.MoE (= HF MixtralSparseMoeBlock / Qwen2MoeSparseMoeBlock / OlmoeSparseMoeBlock)"
    args = (
        Arg("num_experts", "int", positional=True, min=1, aliases=("experts", "num_local_experts"), doc="experts E"),
        Arg("top_k", "int", positional=True, min=1, aliases=("num_experts_per_tok",), doc="experts run per token; ≤ E"),
        Arg("ff", "int", positional=True, min=1, aliases=("intermediate_size", "moe_intermediate_size", "dim_feedforward", "d_ff"),
            doc="each expert's hidden size"),
        Arg("gated", "bool", True, positional=True, doc="gated experts down(act(gate(x))·up(x)); false: fc2(act(fc1(x)))"),
        Arg("activation", "str", "silu", aliases=("act", "hidden_act"), choices=ACTIVATIONS, doc="the experts' activation"),
        Arg("bias", "bool", False, doc="biases in the experts' linears (the router has none)"),
        Arg("norm_topk_prob", "bool", True, aliases=("normalize",),
            doc="renormalize the k routing weights to sum 1 (Mixtral: always; Qwen2-MoE, OLMoE: their config)"),
        Arg("shared_ff", "int", 0, min=0, aliases=("shared_expert_intermediate_size",),
            doc="hidden size of a shared expert every token runs (Qwen2-MoE); 0: none"),
        Arg("shared_gate", "bool", True, doc="the shared expert's output scaled by sigmoid(linear D→1) (Qwen2-MoE)"),
    )
    formulas = (
        "output = input shape (acts on the last dim D); T = tokens = elements / D",
        "params = D·E (router) + E·3·D·ff (gated experts; 2·D·ff two-layer) [+ shared expert + D (its gate)]",
        "MACs = T·D·E (router) + T·top_k·3·D·ff (the chosen experts) [+ T·3·D·shared_ff + T·D]",
    )
    examples = (
        "6x16 | moe experts=4 top_k=2 ff=24",
        "5x12 | moe 8 1 20 false activation='gelu' bias=true",
        "7x16 | moe experts=4 top_k=4 ff=8 norm_topk_prob=false shared_ff=32",
        "3x4x8 | moe experts=3 top_k=2 ff=16 shared_ff=8 shared_gate=false activation='relu'",
    )

    def check(self, call: Call) -> int:
        a = call.args
        if call.x.rank < 2:
            call.fail("needs at least one feature dim", expected="shape N×…×D", found=format_shape(call.x.shape), code="E0402")
        if a.top_k > a.num_experts:
            call.fail(
                f"top_k={a.top_k} is more than the {a.num_experts} experts",
                arg="top_k",
                expected=f"top_k ≤ experts = {a.num_experts}",
                found=f"top_k={a.top_k}",
                hint="each token runs top_k distinct experts: lower top_k or add experts",
                code="E0340",
            )
        return call.concrete(call.x.shape[-1], "the feature size D")

    def counts(self, call: Call):
        a = call.args
        dim = self.check(call)
        tokens = numel(call.x.shape[:-1])
        expert_params, expert_macs = ffn_counts(dim, a.ff, a.gated, a.bias)
        params = dim * a.num_experts + a.num_experts * expert_params
        macs = tokens * dim * a.num_experts + tokens * a.top_k * expert_macs
        if a.shared_ff:
            shared_params, shared_macs = ffn_counts(dim, a.shared_ff, a.gated, a.bias)
            params += shared_params + (dim if a.shared_gate else 0)
            macs += tokens * shared_macs + (tokens * dim if a.shared_gate else 0)
        return dim, tokens, params, macs

    def elementwise_flops(self, call: Call, result: Inference):
        """--count-elementwise: the router's softmax (T·E), the sum that renormalizes the k weights
        (T·k), the experts' activation on each routed token slot (T·k·ff), the shared expert's
        activation (T·shared_ff) and its sigmoid gate (T); one FLOP per element, as DeepSpeed."""
        a = call.args
        _, tokens, _, _ = self.counts(call)
        total = tokens * (a.num_experts + (a.top_k if a.norm_topk_prob else 0) + a.top_k * a.ff)
        if a.shared_ff:
            total = total + tokens * (a.shared_ff + (1 if a.shared_gate else 0))
        return total

    def infer(self, call: Call) -> Inference:
        a = call.args
        _, _, params, macs = self.counts(call)
        details = [("experts", f"{a.top_k} of {a.num_experts}"), ("ff", str(a.ff))]
        if a.shared_ff:
            details.append(("shared_ff", str(a.shared_ff)))
        return Inference(call.x.shape, params=params, macs=macs, details=tuple(details))

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        dim, tokens, _, _ = self.counts(call)
        mats = 3 if a.gated else 2
        form = "down(act(gate(x))·up(x))" if a.gated else "fc2(act(fc1(x)))"
        expert_params, expert_macs = ffn_counts(dim, a.ff, a.gated, a.bias)
        lines = [
            f"router: softmax(x·W_rᵀ) over E = {a.num_experts} experts, the top {a.top_k} per token"
            + (" (weights renormalized to sum 1)" if a.norm_topk_prob else ""),
            f"expert: {form}, D = {dim} → ff = {a.ff} → D; {num(expert_params)} params, {product(mats, dim, a.ff)} MACs per token",
            f"tokens T = {num(tokens)}",
        ]
        params = f"params = {product(dim, a.num_experts)} (router) + {product(a.num_experts, expert_params)} (experts)"
        macs = f"MACs = {product(tokens, dim, a.num_experts)} (router) + {product(tokens, a.top_k, expert_macs)} (top_k experts)"
        if a.shared_ff:
            sp, sm = ffn_counts(dim, a.shared_ff, a.gated, a.bias)
            params += f" + {sp} (shared expert)" + (f" + {dim} (its gate)" if a.shared_gate else "")
            macs += f" + {product(tokens, sm)} (shared expert)" + (f" + {product(tokens, dim)} (its gate)" if a.shared_gate else "")
        lines.append(f"{params} = {num(result.params)} (all experts are held in memory)")
        lines.append(f"{macs} = {num(result.macs)}")
        return lines

    def saved(self, call: Call, result: Inference):
        """What the twin's autograd keeps (checked with saved_tensors_hooks in tests/test_kinds_moe.py):
        the router's input, its fp32 softmax and the k routing weights (and their sum, when
        renormalized), the chosen experts' int64 indices; per routed token slot the gathered input,
        the expert's hidden activations and its weighted output; the shared expert's likewise."""
        from ..memory import Saved

        a = call.args
        dim, tokens, _, _ = self.counts(call)
        slots = tokens * a.top_k
        floats = slots * (3 * dim + hidden_saved(a.ff, a.gated, a.activation) + 1)
        fixed = 4 * tokens * a.num_experts + 8 * slots + 16 * slots  # softmax; topk and dispatch indices
        if a.norm_topk_prob:
            fixed += 4 * slots + 4 * tokens  # the weights and their sum, kept by the division
        if a.shared_ff:
            floats += tokens * hidden_saved(a.shared_ff, a.gated, a.activation)
            if a.shared_gate:
                floats += tokens * (dim + 1)  # the shared output and the sigmoid
        return Saved(input=True, floats=floats, fixed=fixed)

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.own("MoE", dim=self.check(call), experts=a.num_experts, top_k=a.top_k, ff=a.ff, gated=a.gated,
                        activation=a.activation, bias=a.bias, norm_topk_prob=a.norm_topk_prob, shared_ff=a.shared_ff,
                        shared_gate=a.shared_gate)

    def param_tensors(self, call: Call):
        """The router ``gate``, each of ``experts.i``, then ``shared_expert`` and its gate."""
        a = call.args
        dim = self.check(call)
        out = linear_tensors("gate.", a.num_experts, dim, False)
        for i in range(a.num_experts):
            out += ffn_tensors(f"experts.{i}.", dim, a.ff, a.gated, a.bias)
        if a.shared_ff:
            out += ffn_tensors("shared_expert.", dim, a.shared_ff, a.gated, a.bias)
            if a.shared_gate:
                out += linear_tensors("shared_expert_gate.", 1, dim, False)
        return out
