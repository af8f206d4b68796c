"""Hypothesis strategies: random, valid, tiny network specs for the verifier's property tests.

A spec is built statement by statement while tracking the per-sample shape, so every
generated spec is valid by construction: images (C, H, W), sequences (L, D) and vectors (D).
Blocks nest (residual with and without shortcut, concat/add/multiply, repeat, block, def), and
the language's control appears everywhere: `as NAME` with one-line `from NAME`, sizes read with
`in[d]`, `if`/`elif`/`else`, `repeat N as i:`, `min`/`max`/`round` in arguments, `matmul:`,
defs taking tensors and a kind as arguments (control_specs).
"""

from __future__ import annotations

from hypothesis import strategies as st

ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "sigmoid", "leakyrelu 0.2", "hardswish", "elu", "relu6", "mish")
MAX_DEPTH = 2


def indent(lines: list[str], n: int = 1) -> list[str]:
    return ["    " * n + line for line in lines]


def _heads(draw, d: int) -> int:
    return draw(st.sampled_from([h for h in (1, 2, 4) if d % h == 0]))


# ----------------------------------------------------------------------------- images (C, H, W)

def _pooled(n: int, k: int, s: int, ceil: bool) -> int:
    """PyTorch's pooling size without padding (a ceil window must start inside the input)."""
    out = -(-(n - k) // s) + 1 if ceil else (n - k) // s + 1
    if ceil and (out - 1) * s >= n:
        out -= 1
    return out


def image_layer(draw, state):
    _, c, h, w = state
    options = ["conv", "act", "norm", "dropout"]
    if min(h, w) >= 2:
        options += ["pool", "pool"]
    choice = draw(st.sampled_from(options))
    if choice == "conv":
        out = draw(st.integers(1, 4))
        p = draw(st.integers(0, 1))
        k = draw(st.integers(1, min(3, h + 2 * p, w + 2 * p)))
        s = draw(st.integers(1, 2))
        groups = c if (c == out and c > 1 and draw(st.booleans())) else 1
        bias = draw(st.booleans())
        line = f"conv2d {out} k={k} s={s} p={p}" + (f" groups={groups}" if groups > 1 else "") + ("" if bias else " bias=false")
        return [line], ("image", out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    if choice == "pool":
        kind = draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
        k = draw(st.integers(1, 2))
        s = draw(st.integers(1, 2))
        ceil = draw(st.booleans())
        line = f"{kind} {k} s={s}" + (" ceil_mode=true" if ceil else "")
        return [line], ("image", c, _pooled(h, k, s, ceil), _pooled(w, k, s, ceil))
    if choice == "act":
        return [draw(st.sampled_from(ACTIVATIONS))], state
    if choice == "norm":
        options = ["batchnorm2d", "groupnorm 1", f"groupnorm {c}", "batchnorm2d affine=false"]
        if state[2] * state[3] > 1:  # instance norm needs more than one position per channel
            options.append("instancenorm2d affine=true")
        return [draw(st.sampled_from(options))], state
    return [draw(st.sampled_from(["dropout 0.1", "dropout2d 0.2", "droppath 0.1"]))], state


def image_same(draw, c: int) -> list[str]:
    """Shape-preserving image layers (bodies of residuals, add/multiply branches, repeats)."""
    picks = draw(st.lists(st.sampled_from(["conv3", "conv1", "bn", "act", "identity"]), min_size=1, max_size=3))
    table = {"conv3": f"conv2d {c} k=3 p=1", "conv1": f"conv2d {c} k=1", "bn": "batchnorm2d", "identity": "identity"}
    return [table[p] if p != "act" else draw(st.sampled_from(ACTIVATIONS)) for p in picks]


def image_block(draw, state, depth):
    _, c, h, w = state
    choice = draw(st.sampled_from([
        "residual", "shortcut", "concat", "add", "multiply", "repeat", "block", "repeat_grow",
        "skip", "depthwise", "cond", "indexed", "indexed_grow",
    ]))
    if choice == "skip":  # a stored tensor joined again later: `as NAME` and a one-line `from NAME`
        merge = draw(st.sampled_from(["concat", "add"]))
        body = [f"conv2d {c} k=3 p=1", draw(st.sampled_from(ACTIVATIONS))]
        lines = ["identity as t"] + body + [f"{merge}:"] + indent(["branch: from t", "branch: identity"])
        return lines, ("image", 2 * c if merge == "concat" else c, h, w)
    if choice == "depthwise":  # widths read from the tensor entering the line
        out = draw(st.integers(1, 4))
        return [f"conv2d in[1] k=3 p=1 groups=in[1] bias={draw(st.sampled_from(['true', 'false']))}",
                f"conv2d max(1, min({out}, in[1] * 2)) k=1"], ("image", max(1, min(out, c * 2)), h, w)
    if choice == "cond":  # an if/elif/else on a constant: only the arm taken counts
        n = draw(st.integers(0, 3))
        out = draw(st.integers(1, 4))
        arms = ["let n = %d" % n, "if n == 0:"] + indent([f"conv2d {out} k=1"])
        arms += ["elif n < 2 and in[1] > 0:"] + indent([f"conv2d {out} k=3 p=1", "relu"])
        arms += ["else:"] + indent([f"conv2d {out} k=1 bias=false", "batchnorm2d"])
        return arms, ("image", out, h, w)
    if choice == "indexed":  # an index that changes no count: passes fold
        n = draw(st.integers(1, 4))
        return [f"repeat {n} as i:"] + indent(["residual:"] + indent([f"conv2d {c} k=3 p=1", f"droppath 0.3 * i / {n}"])), state
    if choice == "indexed_grow":  # an index that changes the widths: every pass its own
        n = draw(st.integers(1, 3))
        base = draw(st.integers(1, 3))
        return [f"repeat {n} as i:"] + indent([f"conv2d {base} + i k=1", "relu"]), ("image", base + n - 1, h, w)
    if choice == "residual":
        return ["residual:"] + indent(image_same(draw, c)), state
    if choice == "shortcut":
        out = draw(st.integers(1, 4))
        s = draw(st.integers(1, 2))
        ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
        body = [f"conv2d {out} k=3 s={s} p=1", "batchnorm2d", "relu", f"conv2d {out} k=3 p=1"]
        return ["residual:"] + indent(body) + ["shortcut:"] + indent([f"conv2d {out} k=1 s={s} bias=false"]), ("image", out, ho, wo)
    if choice == "concat":
        n = draw(st.integers(1, 3))
        lines, total = ["concat dim=1:"], 0
        for _ in range(n):
            out = draw(st.integers(1, 3))
            branch = draw(st.sampled_from(["conv", "pool", "identity"]))
            if branch == "conv":
                body, total = [f"conv2d {out} k=3 p=1"], total + out
            elif branch == "pool":
                body, total = ["maxpool2d 3 s=1 p=1", f"conv2d {out} k=1"], total + out
            else:
                body, total = ["identity"], total + c
            lines += indent(["branch:"] + indent(body))
        return lines, ("image", total, h, w)
    if choice in ("add", "multiply"):
        lines, full_size = [f"{choice}:"], False
        for _ in range(draw(st.integers(1, 3))):
            if choice == "multiply" and draw(st.booleans()):  # squeeze-excitation: a 1×1 gate broadcasts
                body = ["adaptiveavgpool2d 1", f"conv2d {max(1, c // 2)} k=1", "relu", f"conv2d {c} k=1", "sigmoid"]
            else:
                body, full_size = image_same(draw, c), True
            lines += indent(["branch:"] + indent(body))
        if not full_size:  # gates alone multiply to 1×1: gate the input itself
            lines += indent(["branch:"] + indent(["identity"]))
        return lines, state
    if choice == "repeat":
        n = draw(st.integers(0, 3))
        return [f"repeat {n}:"] + indent(image_same(draw, c)), state
    if choice == "repeat_grow":  # a body that changes the shape is unrolled, not collapsed
        n = draw(st.integers(1, 3))
        out = draw(st.integers(1, 4))
        return [f"repeat {n}:"] + indent([f"conv2d {out} k=1", "relu"]), ("image", out, h, w)
    name = draw(st.sampled_from(["stem", "stage", "head_a", "b1"]))
    body, out_state = image_chain(draw, state, depth + 1, max_len=2)
    return [f"block {name}:"] + indent(body), out_state


def image_chain(draw, state, depth, max_len=4):
    lines = []
    for _ in range(draw(st.integers(1, max_len))):
        if depth < MAX_DEPTH and draw(st.integers(0, 2)) == 0:
            new, state = image_block(draw, state, depth)
        else:
            new, state = image_layer(draw, state)
        lines += new
    return lines, state


# ----------------------------------------------------------------------------- vectors (D) and sequences (L, D)

def vector_chain(draw, d: int, depth: int = 0):
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        choice = draw(st.sampled_from(["linear", "act", "norm", "dropout", "residual", "concat", "add", "multiply", "repeat"]))
        if choice == "linear":
            d = draw(st.integers(1, 6))
            width = draw(st.sampled_from([str(d), f"round({d} * 1.0)", f"max({d}, in[-1] // 100)", f"min({d}, 7)"]))
            lines.append(f"linear {width}" + ("" if draw(st.booleans()) else " bias=false"))
        elif choice == "act":
            lines.append(draw(st.sampled_from(ACTIVATIONS + ("softmax dim=-1", "logsoftmax dim=1"))))
        elif choice == "norm":
            lines.append(draw(st.sampled_from(["layernorm", "batchnorm1d", "rmsnorm", "scale"])))
        elif choice == "dropout":
            lines.append("dropout 0.5")
        elif choice == "residual":
            lines += ["residual:"] + indent([f"linear {d}", "relu"])
        elif choice == "concat":
            parts = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
            lines.append("concat:")
            for p in parts:
                lines += indent(["branch:"] + indent([f"linear {p}"]))
            d = sum(parts)
        elif choice in ("add", "multiply"):
            lines.append(f"{choice}:")
            for _ in range(draw(st.integers(1, 3))):
                lines += indent(["branch:"] + indent([f"linear {d}", draw(st.sampled_from(ACTIVATIONS))]))
        else:
            lines += [f"repeat {draw(st.integers(0, 3))}:"] + indent([f"linear {d}", "tanh"])
    return lines, d


def sequence_layer(draw, l: int, d: int, memory: bool):
    choice = draw(st.sampled_from(["attention", "mha", "rnn", "linear", "norm", "residual_attn", "encoder", "posenc", "cross", "matmul"]))
    if choice == "matmul":  # scores by hand, then back to L×D: (x Wq)(x Wk)ᵀ x
        return ["matmul:"] + indent([
            "branch:",
            "    matmul:",
            f"        branch: linear {d} bias=false",
            "        branch:",
            f"            linear {d} bias=false",
            "            transpose -2 -1",
            "    softmax dim=-1",
            "branch: identity",
        ]), d
    if choice == "attention":
        h = _heads(draw, d)
        kv = 1 if h == 1 else draw(st.sampled_from([k for k in (1, h) if h % k == 0]))
        causal = draw(st.booleans())
        rope = draw(st.booleans()) and (d // h) % 2 == 0
        return [f"attention heads={h} kv_heads={kv}" + (" causal=true" if causal else "") + (" rope=true" if rope else "")], d
    if choice == "mha":
        return [f"mha heads={_heads(draw, d)}" + (" bias=false" if draw(st.booleans()) else "")], d
    if choice == "cross" and memory:
        kind = draw(st.sampled_from(["attention", "mha"]))
        return [f"{kind} heads={_heads(draw, d)} kv=mem"], d
    if choice == "rnn":
        kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
        hidden = draw(st.integers(1, 4))
        bi = draw(st.booleans())
        layers = draw(st.integers(1, 2))
        return [f"{kind} {hidden} num_layers={layers}" + (" bidirectional=true" if bi else "")], hidden * (2 if bi else 1)
    if choice == "linear":
        out = draw(st.sampled_from([2, 4, 6]))
        return [f"linear {out}"], out
    if choice == "norm":
        return [draw(st.sampled_from(["layernorm", "rmsnorm", "dropout 0.1", "gelu"]))], d
    if choice == "residual_attn":
        return ["residual:"] + indent(["layernorm", f"attention heads={_heads(draw, d)} causal=true"]), d
    if choice == "encoder":
        kind = "decoderlayer" if memory and draw(st.booleans()) else "encoderlayer"
        extra = " memory=mem" if kind == "decoderlayer" else ""
        first = " norm_first=true" if draw(st.booleans()) else ""
        return [f"{kind} heads={_heads(draw, d)} ff={draw(st.integers(1, 8))}{first}{extra}"], d
    return ["posenc"], d


@st.composite
def image_specs(draw) -> str:
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 8)), draw(st.integers(1, 8))
    lines = [f"input {c}x{h}x{w}"]
    body, _ = image_chain(draw, ("image", c, h, w), 0)
    lines += body
    if draw(st.booleans()):  # channels-last round trip: permute, linear on C, permute back
        lines += ["permute 0 2 3 1", f"linear {draw(st.integers(1, 3))}", "permute 0 3 1 2"]
    lines.append(draw(st.sampled_from(["flatten", "adaptiveavgpool2d 1\nflatten", "gap\nflatten"])))
    if draw(st.booleans()):
        lines.append(f"linear {draw(st.integers(1, 5))}")
    return _numbered_blocks(lines)


def _numbered_blocks(lines: list[str]) -> str:
    """Number the blocks (`block stage:` -> `block stage_3:`): two blocks of one name in one
    parent would be E0208, as their rows' paths would clash."""
    out = []
    for number, line in enumerate("\n".join(lines).split("\n")):
        stripped = line.lstrip()
        if stripped.startswith("block ") and stripped.endswith(":"):
            line = line[: len(line) - 1] + f"_{number}:"
        out.append(line)
    return "\n".join(out) + "\n"


@st.composite
def vector_specs(draw) -> str:
    d = draw(st.integers(1, 6))
    lines = [f"input {d}"]
    body, d = vector_chain(draw, d)
    lines += body
    if draw(st.booleans()):
        lines += [f"unflatten 1 (1, {d})", "flatten"]
    return "\n".join(lines) + "\n"


@st.composite
def sequence_specs(draw) -> str:
    l, d, vocab = draw(st.integers(1, 5)), draw(st.sampled_from([2, 4, 8])), draw(st.integers(2, 20))
    memory = draw(st.booleans())
    lines = [f"input ids {l} dtype=int64"]
    if memory:
        lines.append(f"input mem {draw(st.integers(1, 4))}x{d}")
    lines.append("from ids:" if memory else "")
    body = [f"embedding {vocab} {d}"]
    if draw(st.booleans()):
        body.append(f"posemb {l + draw(st.integers(0, 3))}")
    if draw(st.booleans()):
        body.append("clstoken")
        l += 1
    cur = d
    for _ in range(draw(st.integers(1, 4))):
        if cur != d:  # attention and the transformer layers want the model width back
            body.append(f"linear {d}")
            cur = d
        new, cur = sequence_layer(draw, l, cur, memory)
        body += new
    if draw(st.booleans()):
        body.append("select 1 0")
    else:
        body += ["transpose 1 2", "flatten"]
    lines += indent(body) if memory else body
    return "\n".join(x for x in lines if x != "") + "\n"


@st.composite
def def_specs(draw) -> str:
    """A `def` called several times (each call its own layers), with a named layer and a frozen call."""
    c = draw(st.integers(1, 4))
    size = draw(st.integers(4, 8))
    lines = [
        "def unit(ch, k=3):",
        "    conv2d ch k=k p=k//2 bias=false",
        "    batchnorm2d",
        "    relu",
        f"input {c}x{size}x{size}",
        f"unit {draw(st.integers(1, 4))} name=first",
        f"unit {draw(st.integers(1, 4))} k=1" + (" trainable=false" if draw(st.booleans()) else ""),
        "maxpool2d 2",
        f"unit {draw(st.integers(1, 4))}",
        "flatten",
        f"linear {draw(st.integers(1, 4))} name=fc",
    ]
    return "\n".join(lines) + "\n"


@st.composite
def control_specs(draw) -> str:
    """Defs driven by their arguments: a kind named by a string, a tensor passed by name, an
    `if` on a parameter and on `in[1]`, a U-Net-like skip through a def, an indexed repeat of calls."""
    c = draw(st.integers(1, 4))
    size = draw(st.sampled_from([4, 6, 8]))
    act = draw(st.sampled_from(["relu", "hardswish", "gelu", "identity"]))
    lines = [
        "def unit(out, s=1, act='relu'):",
        "    if s == 1 and in[1] == out:",
        "        residual:",
        "            conv2d out k=3 p=1 bias=false",
        "            batchnorm2d",
        "    else:",
        "        conv2d out k=3 s=s p=1 groups=1",
        "    act",
        "def join(out, skip):",
        "    upsample size=skip[2:]",
        "    concat:",
        "        branch: identity",
        "        branch: from skip",
        "    conv2d out k=1 as y",
        "    from y",
        f"input {c}x{size}x{size}",
        f"unit {c} act='{act}' as e1",
        f"unit {draw(st.integers(1, 4))} s=2",
    ]
    n = draw(st.integers(1, 3))
    first, rest = draw(st.sampled_from(["relu6", "silu", "tanh"])), draw(st.sampled_from(["relu", "elu", "mish"]))
    lines += [f"repeat {n} as i:", "    if i == 0:", f"        unit in[1] act='{first}'", "    else:", f"        unit in[1] act='{rest}'"]
    lines += [f"join {draw(st.integers(1, 4))} e1", "gap", "flatten"]
    return "\n".join(lines) + "\n"


def specs():
    """Any of the families above."""
    return st.one_of(image_specs(), vector_specs(), sequence_specs(), def_specs(), control_specs())
