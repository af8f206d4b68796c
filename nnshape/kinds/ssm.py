"""State-space mixers: ``mamba`` (S6, HF's MambaMixer) and ``mamba2`` (SSD, HF's Mamba2Mixer).

Parameters are exactly the tensors the HF modules hold. MACs are the projections and the causal
depthwise conv as torch runs them (the conv is padded K−1 on both sides and computes L + K − 1
outputs before the cut), plus the scan counted analytically (docs/conventions.md, "State-space
scans"). FlopCounterMode sees another figure for the scan — for Mamba only the read-out C·h of
HF's reference loop, for Mamba-2 the chunked contractions on a sequence padded to a multiple of the
chunk — so each row reports both (``scan`` in its details), the total uses the analytic one, and
``Inference.counted_macs`` tells verify what FlopCounterMode will measure on the twin.
"""

from __future__ import annotations

import math

from ..registry import Arg, Call, Inference, Kind, num, product, register
from ..symbolic import Dim
from ..twinspec import Twin
from ._common import linear_tensors
from .attention import check_sequence

_BIAS = Arg("bias", "bool", False, aliases=("use_bias",), doc="biases of in_proj and out_proj")
_CONV_BIAS = Arg("conv_bias", "bool", True, aliases=("use_conv_bias",), doc="bias of the depthwise conv")
_D_CONV = Arg("d_conv", "int", 4, min=1, aliases=("conv_kernel",), doc="kernel of the causal depthwise conv")
_EXPAND = Arg("expand", "int", 2, min=1, doc="inner size E = expand·D")


def _scan_details(analytic: Dim, counted: Dim) -> tuple[str, str]:
    return ("scan", f"{num(analytic)} MACs analytic (total); FlopCounterMode sees {num(counted)}")


class _Mixer(Kind):
    family = "sequence"

    def rank_hint(self, rank: int) -> str | None:
        return "a state-space mixer reads a sequence N×L×D; token ids go through `embedding` first"


@register
class Mamba(_Mixer):
    name = "mamba"
    aliases = ("mamba1", "mambamixer", "s6")
    doc = "Mamba (S6) mixer on N×L×D: in_proj, causal depthwise conv, selective scan, out_proj (HF's MambaMixer)."
    torch_twin = "nnshape.Mamba (= transformers MambaMixer, reference path)"
    args = (
        Arg("d_state", "int", 16, min=1, aliases=("state_size",), doc="state size S per channel"),
        _D_CONV,
        _EXPAND,
        Arg("dt_rank", "int", None, min=1, aliases=("time_step_rank",), doc="rank R of Δ's projection (default ⌈D/16⌉)"),
        _BIAS,
        _CONV_BIAS,
    )
    formulas = (
        "output = N × L × D; E = expand·D, R = dt_rank (⌈D/16⌉), S = d_state, K = d_conv",
        "params = D·2E (in_proj) + E·K + E (conv1d) + E·(R + 2S) (x_proj) + R·E + E (dt_proj) + E·S (A_log) + E (D) + E·D (out_proj)",
        "MACs = N·L·D·2E + N·E·(L+K−1)·K (conv, as torch runs it) + N·L·E·(R+2S) + N·L·R·E + 3·N·L·E·S (scan) + N·L·E·D",
        "scan: Ā·h, B·(Δx) and C·h per token, channel and state; FlopCounterMode sees only C·h (N·L·E·S)",
    )
    examples = (
        "7x32 | mamba",
        "5x16 | mamba d_state=4 d_conv=3 expand=1 dt_rank=3 bias=true conv_bias=false",
        "1x24 | mamba state_size=8",
    )

    def sizes(self, call: Call):
        a = call.args
        n, length, dim = check_sequence(call, call.x, "the input")
        inner = a.expand * dim
        rank = a.dt_rank if a.dt_rank is not None else math.ceil(dim / 16)
        return n, length, dim, inner, rank

    def counts(self, call: Call):
        a = call.args
        n, length, dim, inner, rank = self.sizes(call)
        s, k = a.d_state, a.d_conv
        params = (
            dim * 2 * inner + (2 * inner if a.bias else 0)
            + inner * k + (inner if a.conv_bias else 0)
            + inner * (rank + 2 * s)
            + rank * inner + inner
            + inner * s + inner
            + inner * dim + (dim if a.bias else 0)
        )
        rest = n * length * dim * 2 * inner + n * inner * (length + k - 1) * k + n * length * inner * (rank + 2 * s)
        rest = rest + n * length * rank * inner + n * length * inner * dim
        scan = 3 * n * length * inner * s
        seen = n * length * inner * s
        return params, rest, scan, seen

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """--count-elementwise: the conv's bias on its L + K − 1 outputs, the SiLU after it, the
        softplus of Δ and the SiLU of the gate (N·L·E each); the scan's exp, products and sums are
        arithmetic, which DeepSpeed's convention leaves out."""
        a = call.args
        n, length, _, inner, _ = self.sizes(call)
        return n * inner * ((length + a.d_conv - 1) if a.conv_bias else 0) + 3 * n * length * inner

    def infer(self, call: Call) -> Inference:
        _, _, _, inner, rank = self.sizes(call)
        params, rest, scan, seen = self.counts(call)
        details = (("inner", f"{inner} (dt_rank {rank})"), _scan_details(scan, seen))
        return Inference(call.x.shape, params=params, macs=rest + scan, counted_macs=rest + seen, details=details)

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        n, length, dim, inner, rank = self.sizes(call)
        s, k = a.d_state, a.d_conv
        lead = (n,) if n != 1 else ()
        _, rest, scan, seen = self.counts(call)
        return [
            f"E = expand·D = {a.expand}·{dim} = {inner}; R = {rank}; S = {s}; K = {k}",
            "h_t = exp(Δ_t·A)·h_{t−1} + B_t·(Δ_t·x_t); y_t = C_t·h_t + D·x_t, gated by SiLU(z)",
            f"params = {product(dim, 2, inner)} (in_proj) + {product(inner, k)} + {inner if a.conv_bias else 0} (conv1d)"
            f" + {product(inner, rank + 2 * s)} (x_proj) + {product(rank, inner)} + {inner} (dt_proj)"
            f" + {product(inner, s)} (A_log) + {inner} (D) + {product(inner, dim)} (out_proj)"
            + (f" + {2 * inner + dim} (biases)" if a.bias else "") + f" = {num(result.params)}",
            f"scan = 3·{product(*lead, length, inner, s)} = {num(scan)} MACs (Ā·h, B·Δx, C·h);"
            f" FlopCounterMode sees C·h only: {num(seen)}",
            f"MACs = {product(*lead, length, dim, 2 * inner)} (in_proj) + {product(*lead, inner, length + k - 1, k)} (conv)"
            f" + {product(*lead, length, inner, rank + 2 * s)} (x_proj) + {product(*lead, length, rank, inner)} (dt_proj)"
            f" + {num(scan)} (scan) + {product(*lead, length, inner, dim)} (out_proj) = {num(result.macs)}",
        ]

    def saved(self, call: Call, result: Inference):
        """What the twin's reference path keeps (checked with saved_tensors_hooks in
        tests/test_kinds_ssm.py): in_proj's output, the conv's L+K−1 outputs and its activation, x_proj's
        and dt_proj's outputs, softplus(Δ), the gate and the products around the scan (8·N·L·E + …);
        in float32 the scan's decay and Δ·B (N·L·E·S each), the L+1 states (N·E·S each) and A."""
        from ..memory import Saved

        a = call.args
        n, length, dim, inner, rank = self.sizes(call)
        s = a.d_state
        floats = n * (8 * length * inner + inner * (length + a.d_conv - 1) + length * (rank + 2 * s))
        if n != 1:  # x_proj reads the conv's N×E×L output transposed: a copy once N > 1
            floats += n * length * inner
        fixed = 4 * (2 * n * length * inner * s + (length + 1) * n * inner * s + 2 * inner * s)
        return Saved(input=True, floats=floats, fixed=fixed)

    def twin(self, call: Call) -> Twin:
        a = call.args
        _, _, dim, _, rank = self.sizes(call)
        return Twin.own("Mamba", dim=dim, dt_rank=rank, d_state=a.d_state, d_conv=a.d_conv, expand=a.expand,
                        bias=a.bias, conv_bias=a.conv_bias)

    def param_tensors(self, call: Call):
        """HF MambaMixer's: A_log, D, in_proj, conv1d, x_proj, dt_proj, out_proj."""
        a = call.args
        _, _, dim, inner, rank = self.sizes(call)
        s = a.d_state
        return (
            (("A_log", (inner, s)), ("D", (inner,)))
            + linear_tensors("in_proj.", 2 * inner, dim, a.bias)
            + _conv_tensors(inner, a.d_conv, a.conv_bias)
            + linear_tensors("x_proj.", rank + 2 * s, inner, False)
            + linear_tensors("dt_proj.", inner, rank, True)
            + linear_tensors("out_proj.", dim, inner, a.bias)
        )


def _conv_tensors(channels: Dim, kernel: int, bias: bool) -> tuple:
    """The depthwise causal conv1d: weight C×1×K, bias C."""
    return (("conv1d.weight", (channels, 1, kernel)),) + ((("conv1d.bias", (channels,)),) if bias else ())


def ssd_scan_macs(length: int, chunk: int, heads: int, head_dim: int, state: int, padded: bool) -> int:
    """MACs of the chunked SSD scan for one sample: within each chunk of q tokens C·Bᵀ (q²·S) and
    its product with x (q²·P); the chunk states and their read-out (P·S per token each); the
    passing of states between the c + 1 chunk boundaries ((c+1)²·P·S). ``padded``: every chunk
    full, as HF's torch path (and FlopCounterMode) run it."""
    chunks = -(-length // chunk)
    last = length - (chunks - 1) * chunk
    squares = chunks * chunk * chunk if padded else (chunks - 1) * chunk * chunk + last * last
    tokens = chunks * chunk if padded else length
    per_head = squares * (state + head_dim) + 2 * tokens * head_dim * state + (chunks + 1) ** 2 * head_dim * state
    return heads * per_head


@register
class Mamba2(_Mixer):
    name = "mamba2"
    aliases = ("mamba2mixer", "ssd")
    doc = "Mamba-2 (SSD) mixer on N×L×D: in_proj, causal depthwise conv, chunked scan, gated RMSNorm, out_proj (HF's Mamba2Mixer)."
    torch_twin = "nnshape.Mamba2 (= transformers Mamba2Mixer, torch path)"
    args = (
        Arg("num_heads", "int", None, min=1, aliases=("heads", "nheads", "h"), doc="heads H (default E/head_dim); H·head_dim = E"),
        Arg("head_dim", "int", 64, min=1, aliases=("headdim",), doc="features per head P"),
        Arg("d_state", "int", 128, min=1, aliases=("state_size",), doc="state size S"),
        Arg("groups", "int", 8, min=1, aliases=("n_groups", "ngroups"), doc="groups of B and C (and of the norm); divides H"),
        Arg("chunk", "int", 256, min=1, aliases=("chunk_size",), doc="chunk length Q of the scan"),
        _D_CONV,
        _EXPAND,
        _BIAS,
        _CONV_BIAS,
        Arg("eps", "float", 1e-5, min=0, aliases=("layer_norm_epsilon",), doc="the gated RMSNorm's epsilon"),
    )
    formulas = (
        "output = N × L × D; E = expand·D = H·P, Cd = E + 2·G·S (conv channels), K = d_conv",
        "params = D·(E + Cd + H) (in_proj) + Cd·K + Cd (conv1d) + 3·H (dt_bias, A_log, D) + E (norm) + E·D (out_proj)",
        "MACs = N·L·D·(E+Cd+H) + N·Cd·(L+K−1)·K (conv, as torch runs it) + scan + N·L·E·D",
        "scan = N·H·(Σ q_i²·(S+P) + 2·L·P·S + (c+1)²·P·S) over the c = ⌈L/Q⌉ chunks of q_i tokens (the last one as long "
        "as it is); FlopCounterMode counts every chunk full (L padded to c·Q)",
    )
    examples = (
        "9x32 | mamba2 heads=4 head_dim=16 d_state=8 groups=2 chunk=4 d_conv=3",
        "8x16 | mamba2 head_dim=8 d_state=4 groups=1 chunk=4 expand=2 bias=true conv_bias=false",
        "5x8 | mamba2 heads=2 head_dim=4 d_state=6 groups=2 chunk=16 expand=1",
    )

    def sizes(self, call: Call):
        a = call.args
        n, length, dim = check_sequence(call, call.x, "the input")
        inner = a.expand * dim
        heads = a.num_heads
        if heads is None:
            if inner % a.head_dim:
                call.fail(
                    f"the inner size E = expand·D = {inner} is not a multiple of head_dim={a.head_dim}",
                    arg="head_dim",
                    expected=f"head_dim dividing {inner}",
                    found=f"head_dim={a.head_dim}",
                    hint="set heads= and head_dim= with heads·head_dim = expand·D",
                    code="E0407",
                )
            heads = inner // a.head_dim
        elif heads * a.head_dim != inner:
            call.fail(
                f"heads·head_dim = {heads}·{a.head_dim} = {heads * a.head_dim} is not the inner size E = expand·D = {inner}",
                arg="num_heads",
                expected=f"heads·head_dim = {inner} (e.g. heads={inner // a.head_dim} with head_dim={a.head_dim})"
                if inner % a.head_dim == 0 else f"heads·head_dim = {inner}",
                found=f"heads={heads}, head_dim={a.head_dim}",
                hint="HF's Mamba2Mixer views the E inner features as heads × head_dim",
                code="E0441",
            )
        if heads % a.groups:
            call.fail(
                f"num_heads={heads} is not a multiple of groups={a.groups}",
                arg="groups",
                expected=f"groups dividing {heads} (each group's B and C serve heads/groups heads)",
                found=f"groups={a.groups}",
                code="E0407",
            )
        return n, length, dim, inner, heads

    def counts(self, call: Call):
        a = call.args
        n, length, dim, inner, heads = self.sizes(call)
        s, k, p = a.d_state, a.d_conv, a.head_dim
        conv = inner + 2 * a.groups * s
        proj = inner + conv + heads
        params = (
            dim * proj + (proj if a.bias else 0)
            + conv * k + (conv if a.conv_bias else 0)
            + 3 * heads + inner
            + inner * dim + (dim if a.bias else 0)
        )
        rest = n * length * dim * proj + n * conv * (length + k - 1) * k + n * length * inner * dim
        steps = call.concrete(length, "the scan's chunking (the sequence length L)")
        scan = n * ssd_scan_macs(steps, a.chunk, heads, p, s, padded=False)
        seen = n * ssd_scan_macs(steps, a.chunk, heads, p, s, padded=True)
        return params, rest, scan, seen, conv

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """--count-elementwise: over the conv's C = E + 2·G·S channels its bias on L + K − 1 outputs
        and the SiLU (N·L·C); the softplus of Δ (N·L·H); the gated RMSNorm's SiLU of the gate and
        its mean of squares (N·L·E each); the chunked scan is arithmetic (exp, cumsum, products)."""
        a = call.args
        n, length, _, inner, heads = self.sizes(call)
        conv = inner + 2 * a.groups * a.d_state
        return n * conv * ((length + a.d_conv - 1) if a.conv_bias else 0) + n * length * (conv + heads + 2 * inner)

    def infer(self, call: Call) -> Inference:
        a = call.args
        _, _, _, _, heads = self.sizes(call)
        params, rest, scan, seen, _ = self.counts(call)
        details = (("heads", f"{heads}×{a.head_dim}"), ("chunk", str(a.chunk)), _scan_details(scan, seen))
        return Inference(call.x.shape, params=params, macs=rest + scan, counted_macs=rest + seen, details=details)

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        n, length, dim, inner, heads = self.sizes(call)
        s, k, p, q = a.d_state, a.d_conv, a.head_dim, a.chunk
        params, rest, scan, seen, conv = self.counts(call)
        chunks = -(-length // q)
        last = length - (chunks - 1) * q
        lead = (n,) if n != 1 else ()
        return [
            f"E = expand·D = {a.expand}·{dim} = {inner} = H·P = {heads}·{p}; conv channels Cd = E + 2·G·S = {conv}",
            f"chunks: c = ⌈L/Q⌉ = ⌈{length}/{q}⌉ = {chunks}, the last of {last} tokens",
            f"params = {product(dim, inner + conv + heads)} (in_proj) + {product(conv, k)} + {conv if a.conv_bias else 0} (conv1d)"
            f" + {product(3, heads)} (dt_bias, A_log, D) + {inner} (norm) + {product(inner, dim)} (out_proj)"
            + (f" + {inner + conv + heads + dim} (biases)" if a.bias else "") + f" = {num(params)}",
            f"scan = {num(scan)} MACs on {length} tokens; FlopCounterMode, on {chunks}·{q} padded tokens, sees {num(seen)}",
            f"MACs = {product(*lead, length, dim, inner + conv + heads)} (in_proj) + {product(*lead, conv, length + k - 1, k)} (conv)"
            f" + {num(scan)} (scan) + {product(*lead, length, inner, dim)} (out_proj) = {num(result.macs)}",
        ]

    def saved(self, call: Call, result: Inference):
        """What the twin's torch path keeps (checked with saved_tensors_hooks in tests/test_kinds_ssm.py):
        in_proj's output, the conv's L+K−1 outputs and activation, the gated norm's tensors; in
        float32 the padded scan's operands: per chunk three Q×Q score-sized tensors per head, per
        padded token 5·S + 3·P + 2 per head, the chunk states and their passing, and the masks."""
        from ..memory import Saved

        a = call.args
        n, length, dim, inner, heads = self.sizes(call)
        s, p, q, groups = a.d_state, a.head_dim, a.chunk, a.groups
        conv = inner + 2 * groups * s
        steps = call.concrete(length, "the scan's chunking (the sequence length L)")
        chunks = -(-steps // q)
        padded = chunks * q
        floats = n * (length * (inner + conv + heads) + conv * (length + a.d_conv - 1) + length * (heads + conv + 2 * inner))
        scan = heads * (3 * chunks * q * q + padded * (5 * s + 3 * p + 2) + (chunks + 1) ** 2 + (2 * chunks + 1) * p * s)
        fixed = 4 * (n * length * heads + 2 * heads + n * length * (3 * inner + groups) + n * scan)
        fixed += 2 * q * q + 2 * (chunks + 1) ** 2  # the boolean masks of the two segment sums
        return Saved(input=True, floats=floats, fixed=fixed)

    def twin(self, call: Call) -> Twin:
        a = call.args
        _, _, dim, _, heads = self.sizes(call)
        return Twin.own("Mamba2", dim=dim, heads=heads, head_dim=a.head_dim, d_state=a.d_state, groups=a.groups,
                        chunk=a.chunk, d_conv=a.d_conv, expand=a.expand, bias=a.bias, conv_bias=a.conv_bias, eps=a.eps)

    def param_tensors(self, call: Call):
        """HF Mamba2Mixer's: dt_bias, A_log, D (one per head), in_proj, conv1d, the gated norm, out_proj."""
        a = call.args
        _, _, dim, inner, heads = self.sizes(call)
        conv = inner + 2 * a.groups * a.d_state
        return (
            (("dt_bias", (heads,)), ("A_log", (heads,)), ("D", (heads,)))
            + linear_tensors("in_proj.", inner + conv + heads, dim, a.bias)
            + _conv_tensors(conv, a.d_conv, a.conv_bias)
            + (("norm.weight", (inner,)),)
            + linear_tensors("out_proj.", dim, inner, a.bias)
        )
