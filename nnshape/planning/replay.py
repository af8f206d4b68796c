"""Walk an analyzed network again as one rank sees it: its tensors, what it saves, and its blocks.

The analysis already follows every tensor through a :class:`~nnshape.memory.Tracker` for the
saved-for-backward total. This walk drives a second tracker over the recorded plan with the sizes
one tensor-parallel rank holds (a split tensor's last dim divided by the TP degree, a split
attention layer's per-head tensors divided by it) and cuts the network into **blocks**, the units
of activation checkpointing and of pipeline stages:

* each pass of a top-level ``repeat`` (of the outermost ``repeat`` inside a top-level block, def
  call or ``from`` that holds one);
* otherwise each top-level block, def call, ``residual:``, ``add:``/``multiply:``/``concat:``
  (and a ``from`` body without a repeat);
* a top-level layer is a unit of its own that checkpointing leaves alone (an embedding, a final
  norm, an LM head save as usual), and a pipeline may cut before or after it.

With TP 1 and no checkpointing the walk reproduces the analysis's saved-for-backward total and
inference peak byte for byte (``tests/test_planning.py`` checks every example).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analysis.tracker import Token, Tracker
from ..plan import FromNode, LayerNode, MergeNode, Plan, RepeatNode, ResidualNode, SeqNode
from ..summary import Summary
from ..symbolic import Dim
from ..tensor import DTYPE_BYTES, TensorInfo, numel
from . import roles as R
from .tensors import Tensor, param_tensors, with_parts


@dataclass
class Unit:
    """A block (or a top-level layer) of the network as one rank holds it, for ``copies`` passes."""

    path: str
    checkpointed: bool  # a block: full checkpointing keeps only its input
    copies: int = 1
    tensors: list[tuple[Tensor, bool, int]] = field(default_factory=list)  # per pass: (tensor, trainable, how many)
    buffers: Dim = 0  # buffer elements per pass
    saved: Dim = 0  # saved-for-backward bytes, all passes together
    scores: Dim = 0  # of which score-sized tensors (what selective recomputation drops), all passes
    input_bytes: Dim = 0  # the block's input, per pass (what full checkpointing keeps)
    kv_token: Dim = 0  # KV-cache bytes per context token and sequence, per pass
    kv_fixed: Dim = 0  # KV-cache bytes per sequence that do not grow with the context (cross-attention), per pass
    kv_spec: Dim = 0  # KV-cache bytes per sequence at the key lengths the spec itself gives, per pass
    split_layers: int = 0  # layers tensor parallelism splits, per pass
    whole: dict = field(default_factory=dict)  # tp > 1: parameters every rank holds whole, by what they are, per pass
    repeat: str | None = None  # passes of a top-level repeat: its path, and the index of the first pass here
    first: int = 0

    def pass_path(self, k: int) -> str:
        """The path of the ``k``-th pass this unit stands for (its own path when it is not a repeat's)."""
        return self.path if self.repeat is None else f"{self.repeat}.{self.first + k}" if self.repeat else str(self.first + k)

    @property
    def params(self) -> Dim:
        return sum((t.local_numel * k for t, _, k in self.tensors), 0) * self.copies


@dataclass(eq=False, slots=True)
class Value:
    """A tensor as one rank holds it: its (per-rank) shape and dtype, its storage, whether TP cut its last dim."""

    info: TensorInfo
    token: Token
    split: bool = False


def _blocks_inside(node) -> bool:
    """Whether a node holds a ``repeat`` at any depth (then its repeats' passes are the blocks)."""
    if isinstance(node, RepeatNode):
        return True
    if isinstance(node, SeqNode):
        return any(_blocks_inside(c) for c in node.children)
    if isinstance(node, FromNode):
        return _blocks_inside(node.body)
    if isinstance(node, ResidualNode):
        return _blocks_inside(node.body) or (node.shortcut is not None and _blocks_inside(node.shortcut))
    if isinstance(node, MergeNode):
        return any(_blocks_inside(b) for b in node.branches)
    return False


class Replay:
    """One rank's walk over ``plan`` (see the module docstring)."""

    def __init__(self, summary: Summary, plan: Plan, roles: R.Roles, act_dtype: str, *, context: int | None = None):
        self.summary = summary
        self.roles = roles
        self.tp = roles.tp
        self.act_dtype = act_dtype
        self.act_bytes = DTYPE_BYTES[act_dtype]
        self.context = context
        self.rows = {row.path: row for row in summary.layers if not row.is_block}
        self.tracker = Tracker(act_dtype)
        self.named: dict[str, Value] = {}
        self.units: list[Unit] = []
        self.unit: Unit | None = None
        self.mult = 1  # passes of the enclosing collapsed repeats inside the current unit
        self.layers: list[tuple[LayerNode, list[Tensor], str, int]] = []  # (node, its tensors, role, passes), listed once
        first = None
        for name, info in plan.inputs:
            mine = Value(info, self.tracker.input(self.tracker.nbytes(info)))
            self.named[name] = mine
            first = first or mine
        self.top(plan.root.children, first)

    # ------------------------------------------------------------------ blocks
    def top(self, nodes, x):
        for node in nodes:
            if isinstance(node, LayerNode):
                x = self.in_unit(node.path, False, 1, lambda x=x, node=node: self.layer(node, x), x)
            elif isinstance(node, RepeatNode):
                x = self.repeat(node, x, as_units=True)
            elif _blocks_inside(node) and isinstance(node, (SeqNode, FromNode)):
                if isinstance(node, SeqNode):
                    x = self.top(node.children, x)
                else:
                    x = self.from_node(node, top=True)
            else:
                x = self.in_unit(node.path, True, 1, lambda x=x, node=node: self.node(node, x), x)
        return x

    def in_unit(self, path: str, checkpointed: bool, copies: int, run, x):
        outer = self.unit
        unit = Unit(path, checkpointed, copies)
        unit.input_bytes = x.token.nbytes if x is not None else 0
        self.unit = unit
        before = (self.tracker.saved_bytes, len(self.units))
        out = run()
        unit.saved = self.tracker.saved_bytes - before[0]
        self.units.insert(before[1], unit)
        self.unit = outer
        return out

    # ------------------------------------------------------------------ structure (as the analyzer walks it)
    def seq(self, nodes, x):
        for node in nodes:
            x = self.node(node, x)
        return x

    def node(self, node, x):
        if isinstance(node, LayerNode):
            return self.layer(node, x)
        if isinstance(node, SeqNode):
            return self.seq(node.children, x)
        if isinstance(node, ResidualNode):
            t = self.tracker
            t.hold(x.token)
            body = self.seq(node.body.children, x)
            t.hold(body.token)
            skip = self.seq(node.shortcut.children, x) if node.shortcut is not None else x
            t.release(body.token)
            t.release(x.token)
            info = TensorInfo(body.info.shape, body.info.dtype)
            return Value(info, t.merge("add", [body.token, skip.token], t.nbytes(info)), body.split)
        if isinstance(node, MergeNode):
            return self.merge(node, x)
        if isinstance(node, RepeatNode):
            return self.repeat(node, x, as_units=False)
        if isinstance(node, FromNode):
            return self.from_node(node, top=False)
        raise TypeError(node)  # pragma: no cover

    def merge(self, node: MergeNode, x):
        t = self.tracker
        t.hold(x.token)
        outs = []
        for branch in node.branches:
            out = self.seq(branch.children, x)
            outs.append(out)
            t.hold(out.token)
        first = outs[0].info
        if node.op == "concat":
            dim = node.dim % first.rank
            shape = list(first.shape)
            shape[dim] = sum((o.info.shape[dim] for o in outs), 0)
        else:  # broadcast
            shape = [next((o.info.shape[i] for o in outs if o.info.shape[i] != 1), 1) for i in range(first.rank)]
        for o in outs:
            t.release(o.token)
        t.release(x.token)
        info = TensorInfo(tuple(shape), first.dtype)
        token = t.merge(node.op, [o.token for o in outs], t.nbytes(info))
        return Value(info, token, node.op != "concat" and all(o.split for o in outs))

    def repeat(self, node: RepeatNode, x, as_units: bool):
        t = self.tracker
        last = len(node.iterations) - 1
        for i, it in enumerate(node.iterations):
            copies = node.last_copies if i == last else 1
            if not as_units:
                mark = t.checkpoint(x.token)
                outer = self.mult
                self.mult = outer * copies
                out = self.seq(it.children, x)
                self.mult = outer
                if node.collapsed and i == last:
                    t.repeat_copies(mark, copies - 1, x.token, out.token)
                    break  # as the analysis does, the collapsed passes hand on their input's storage
                t.drop(mark)
                x = out
                continue
            # a block per pass; a collapsed tail is two units: its first pass, then the copies that
            # pass stands for (which may save a little less: their input is the last pass's output)
            mark = t.checkpoint(x.token)
            out = self.in_unit(it.path, True, 1, lambda x=x, it=it: self.seq(it.children, x), x)
            self.units[-1].repeat, self.units[-1].first = node.path, i
            if node.collapsed and i == last:
                first = self.units[-1]
                before = t.saved_bytes
                t.repeat_copies(mark, copies - 1, x.token, out.token)
                if copies > 1:
                    rest = Unit(it.path + f" (+{copies - 1})", True, copies - 1, first.tensors, first.buffers,
                                t.saved_bytes - before, first.scores * (copies - 1), out.token.nbytes,
                                first.kv_token, first.kv_fixed, first.kv_spec, first.split_layers, first.whole, node.path, i + 1)
                    self.units.append(rest)
                break  # as the analysis does, the collapsed passes hand on their input's storage
            t.drop(mark)
            x = out
        return x

    def from_node(self, node: FromNode, top: bool):
        x = self.named[node.source]
        out = self.top(node.body.children, x) if top else self.seq(node.body.children, x)
        out = out if out is not None else x
        if node.alias is not None:
            self.named[node.alias] = out
            self.tracker.hold(out.token)
        return out

    # ------------------------------------------------------------------ layers
    def layer(self, node: LayerNode, x: Value) -> Value:
        call, inf = node.call, node.inference
        role = self.roles.role(node)
        row = self.rows.get(node.path)
        trainable = row.trainable_params if row is not None else inf.params
        kv_parts = self.roles.kv_parts.get(id(node))
        tensors = with_parts(param_tensors(call, inf.params, role), self.tp, kv_parts)
        buffers = inf.buffers
        grad = trainable
        if node.shares is not None:  # tie= / reuse / a shared repeat's later pass: counted at the owner
            what, owner = node.shares
            tensors = [t for t in tensors if t.name != "weight"] if what == "weight" else []
            buffers = buffers if what == "weight" else 0
            lender = self.rows.get(owner)
            if lender is not None and lender.trainable_params != 0:
                grad = 1  # the owner's weights train through this use too: autograd tracks it
        self.layers.append((node, tensors, role, self.mult))
        unit = self.unit
        if unit is not None:
            unit.tensors.extend((t, trainable != 0, self.mult) for t in tensors)
            unit.buffers = unit.buffers + buffers * self.mult
            if role in R.SPLITTING:
                unit.split_layers += self.mult
            if self.tp > 1:
                name = call.kind.name
                for t in tensors:
                    if t.cut == "none" or t.parts == 1:
                        if role == R.ROW:
                            what = "row-parallel linear biases"
                        elif role in R.SPLITTING:  # inside a split attention or transformer layer
                            what = f"{name} norms" if "norm" in t.name else f"{name} biases"
                        else:
                            what = f"{name} layers"
                        unit.whole[what] = unit.whole.get(what, 0) + t.numel * self.mult
        dtype = row.dtype if row is not None else (inf.dtype or (x.info.dtype if x.info.is_float else "float32"))
        shape = tuple(inf.shape)
        out_split = role == R.COLUMN or (role == R.SPLIT and x.split)
        if out_split:
            shape = shape[:-1] + (shape[-1] // self.tp,)
        info = TensorInfo(shape, dtype)
        extra = tuple(self.named[name].token for name in self.tensor_names(call) if name in self.named)
        saved, scores = self.saved(node, role, kv_parts)
        if unit is not None:
            per_token, length = self.kv_token(call, role, kv_parts)
            fixed = self.kv_fixed(call, role, kv_parts)
            unit.kv_token = unit.kv_token + per_token * self.mult
            unit.kv_fixed = unit.kv_fixed + fixed * self.mult
            unit.kv_spec = unit.kv_spec + (per_token * length + fixed) * self.mult
        token, added = self.tracker.layer(call.kind.is_view, x.token, extra, self.tracker.nbytes(info), grad, lambda: saved)
        if unit is not None and added != 0:
            unit.scores = unit.scores + scores * self.act_bytes * self.mult
        return Value(info, token, out_split)

    @staticmethod
    def tensor_names(call) -> list[str]:
        """The names of the tensor arguments (kv=, memory=), in the kind's order (as the analysis passes them)."""
        return [getattr(call.args, a.name) for a in call.kind.args if a.type == "tensor" and a.name in call.tensors]

    def saved(self, node: LayerNode, role: str, kv_parts: int | None):
        """The layer's rule as one rank sees it, and the score-sized floats in it."""
        from ..memory import Saved

        call, inf = node.call, node.inference
        rule = call.kind.saved(call, inf)
        name = call.kind.name
        tp = self.tp if role in (R.HEADS, R.SPLIT) else 1
        scores = score_floats(call)
        if name in R.ATTENTION and tp > 1:
            split, whole = attention_floats(call, rule.floats, kv_parts, tp)
            rule = Saved(rule.input, rule.output, rule.inputs, split + whole, rule.fixed)
            scores = scores // tp
        elif role == R.SPLIT and tp > 1:
            rule = Saved(rule.input, rule.output, rule.inputs, rule.floats // tp, rule.fixed // tp)
        return rule, scores

    def kv_token(self, call, role, kv_parts) -> tuple[Dim, Dim]:
        """Bytes of keys and values per context token and sequence of a layer that caches its own
        sequence (see :func:`kv_geometry`), and the key length the spec gives it."""
        kv = kv_geometry(call)
        if kv is None or not kv[2]:
            return 0, 0
        heads, hd, _ = kv
        length = call.x.shape[1] + (getattr(call.args, "cache", None) or 0)
        return 2 * self.local_kv_heads(call, heads, role, kv_parts) * hd * self.act_bytes, length

    def kv_fixed(self, call, role, kv_parts) -> Dim:
        """Cross-attention keys and values over a named tensor (their length does not grow)."""
        kv = kv_geometry(call)
        if kv is None:
            return 0
        heads, hd, _ = kv
        memory = call.tensors.get("kv") or call.tensors.get("memory")
        if memory is None:
            return 0
        return 2 * self.local_kv_heads(call, heads, role, kv_parts) * hd * memory.shape[1] * self.act_bytes

    def local_kv_heads(self, call, heads: int, role: str, kv_parts: int | None) -> int:
        if role != R.HEADS:
            return heads
        if kv_parts is not None:
            return heads // kv_parts
        return heads // self.tp


def kv_geometry(call) -> tuple[int, int, bool] | None:
    """(KV heads, head dim, whether it caches its own sequence) of an attention-type layer.

    A layer caches its own keys and values when it decodes token by token: causal self-attention
    (``attention``/``mha``/``encoderlayer`` with ``causal=true``, or ``cache=`` given), and every
    ``decoderlayer``. Cross-attention caches the keys and values of the tensor it reads, once."""
    a = call.args
    name = call.kind.name
    d = call.x.shape[-1]
    decodes = bool(getattr(a, "causal", False)) or getattr(a, "cache", None) is not None
    if name == "attention":
        heads = a.kv_heads or a.num_heads
        hd = a.head_dim if a.head_dim is not None else d // a.num_heads
        return heads, hd, decodes and "kv" not in call.tensors
    if name == "mha":
        return a.num_heads, d // a.num_heads, decodes and "kv" not in call.tensors
    if name == "decoderlayer":
        return a.nhead, d // a.nhead, True
    if name == "encoderlayer":
        return a.nhead, d // a.nhead, decodes
    return None


def score_floats(call) -> Dim:
    """Elements of the score-sized tensors a layer saves (the softmax, dropout mask and dropped
    weights of the math kernel; the score matrix of a transformer layer) — what Megatron's selective
    recomputation drops and recomputes from the saved q, k, v. Mirrors the rules in nnshape.memory."""
    a = call.args
    name = call.kind.name
    if name in ("attention", "mha"):
        if a.dropout <= 0:
            return 0  # the fused kernel keeps no score matrix
        n, lq = call.x.shape[0], call.x.shape[1]
        kv = call.tensors.get("kv", call.x)
        lk = kv.shape[1]
        if name == "mha":
            lk = lk + int(a.add_bias_kv) + int(a.add_zero_attn)
        return 3 * n * a.num_heads * lq * lk
    if name in ("encoderlayer", "decoderlayer"):
        n, lt = call.x.shape[0], call.x.shape[1]
        per = 3 if a.dropout > 0 else 1
        total = per * n * a.nhead * lt * lt
        memory = call.tensors.get("memory")
        if memory is not None:
            total = total + per * n * a.nhead * lt * memory.shape[1]
        return total
    return 0


def attention_floats(call, floats: Dim, kv_parts: int | None, tp: int) -> tuple[Dim, Dim]:
    """(per-rank floats of the head-split tensors, floats every rank keeps whole) of an attention-type
    layer's saved rule, whose heads are split over ``tp`` ranks. Mirrors the rules in nnshape.memory
    (checked there: the two parts add up to the rule's floats at tp 1)."""
    a = call.args
    name = call.kind.name
    n, lq, d = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
    kv = call.tensors.get("kv", call.x)
    if name == "attention":
        hd = a.head_dim if a.head_dim is not None else d // a.num_heads
        rope = 2 * (lq + kv.shape[1]) * hd if a.rope else 0
        whole = rope  # the cos/sin tables: every rank builds them
    elif name == "mha":
        whole = n * lq * d + (n * kv.shape[1] * kv.shape[-1] if "kv" in call.tensors else 0)  # transposed input copies
    else:  # transformer layers: norm inputs, residual dropout masks, the inputs of the attention and FF blocks
        drop = a.dropout > 0
        nt = n * lq * d
        memory = call.tensors.get("memory")
        blocks = 2 if memory is None else 3
        whole = nt + blocks * ((1 if drop else 0) * nt + nt) + (nt if memory is not None else 0)
    split = floats - whole
    return split // tp, whole


__all__ = ["Replay", "Unit", "attention_floats", "kv_geometry", "score_floats"]
