"""Tensor-parallel roles: which layers split, and how, Megatron-style.

A data-flow walk over the analyzed network decides each layer's role from whether its input is
whole on every rank (*replicated*) or cut along the feature (last) dim (*split*):

* ``linear`` on a replicated input becomes **column parallel** (its output features are cut:
  the weight's rows and the bias), giving a split output; ``linear`` on a split input becomes
  **row parallel** (the weight's columns are cut; the partial outputs are all-reduced and the bias
  added once, so the bias stays whole), giving a replicated output. So ``linear → gelu → linear``
  and a gated ``multiply:`` of two linears followed by a linear are the MLP pairs Megatron builds.
* ``attention``, ``mha`` and the transformer layers split their **heads** (q, k, v column parallel,
  the output projection row parallel; grouped-query KV heads are cut too, or one KV head per rank
  when there are fewer KV heads than ranks); their feed-forward layers pair up as above.
* ``embedding`` splits its **vocabulary** rows (the lookups are all-reduced).
* elementwise layers (activations, dropout) keep a split input split; a ``multiply:``/``add:`` of
  split branches stays split.
* everything else (norms, softmax over features, shape changes, ``scale``, ``concat:``, a residual
  adding a split body to a whole input) needs the whole tensor: the column-parallel layers that
  produced a split input to it are made replicated again, and the walk starts over.

A column-parallel layer whose output features do not divide by the TP degree, and attention whose
heads do not, stay replicated. The network's output may stay split (a vocabulary-parallel LM head
feeding a parallel loss, as ``loss_parallel`` and Megatron do).
"""

from __future__ import annotations

from ..plan import FromNode, LayerNode, MergeNode, Plan, RepeatNode, ResidualNode, SeqNode

# layers that act on each feature separately: a split input stays split
ELEMENTWISE = {
    "relu", "relu6", "leakyrelu", "elu", "selu", "gelu", "silu", "mish", "hardswish", "hardsigmoid",
    "hardtanh", "softplus", "sigmoid", "tanh", "quickgelu", "dropout", "alphadropout", "droppath", "identity",
}
ATTENTION = {"attention", "mha", "encoderlayer", "decoderlayer"}
MAX_RESTARTS = 64  # a walk that keeps undoing splits gives up: everything replicated

# roles
COLUMN, ROW, VOCAB, HEADS, SPLIT, REPLICATED = "column", "row", "vocab", "heads", "split", "replicated"
SPLITTING = (COLUMN, ROW, VOCAB, HEADS)  # roles that cut a layer's parameters


class _Restart(Exception):
    pass


def attention_split(call, tp: int) -> tuple[bool, int | None, str]:
    """Whether an attention-type layer splits its heads over ``tp`` ranks; the pieces its k/v
    projections are cut into (``None``: as many as the ranks); and why not when it does not."""
    a = call.args
    name = call.kind.name
    heads = a.nhead if name in ("encoderlayer", "decoderlayer") else a.num_heads
    if heads % tp:
        return False, None, f"{heads} heads do not divide by tp {tp}"
    if name == "encoderlayer" or name == "decoderlayer":
        if a.dim_feedforward % tp:
            return False, None, f"feed-forward width {a.dim_feedforward} does not divide by tp {tp}"
    if name == "attention":
        kv = a.kv_heads or heads
        if kv % tp == 0:
            return True, None, ""
        if tp % kv == 0:
            return True, kv, ""  # one KV head per rank, each held by tp / kv ranks
        return False, None, f"{kv} KV heads and tp {tp} do not divide one another"
    return True, None, ""


class Roles:
    """The role of every layer node of a plan (by ``id``) for a TP degree, and notes on what stays whole."""

    def __init__(self, plan: Plan, tp: int):
        self.plan = plan
        self.tp = tp
        self.roles: dict[int, str] = {}
        self.kv_parts: dict[int, int] = {}
        self.notes: dict[str, str] = {}  # path -> why it stays replicated
        self.forced: set[int] = set()  # column candidates made replicated
        if tp > 1:
            self._solve()

    def role(self, node: LayerNode) -> str:
        return self.roles.get(id(node), REPLICATED)

    # ------------------------------------------------------------------ the walk
    def _solve(self) -> None:
        for _ in range(MAX_RESTARTS):
            self.roles.clear()
            self.kv_parts.clear()
            self.notes.clear()
            self.committed: set[int] = set()
            self.named: dict[str, frozenset | None] = {name: None for name, _ in self.plan.inputs}
            try:
                self._seq(self.plan.root.children, None)
            except _Restart:
                continue
            return
        self.roles.clear()
        self.notes[""] = f"tensor parallelism gave up after {MAX_RESTARTS} attempts: every layer replicated"

    def _whole(self, state: frozenset | None) -> None:
        """A layer needs the whole tensor: undo the column splits that made ``state`` split."""
        if state:
            self.forced.update(state)
            raise _Restart

    def _seq(self, nodes, state):
        for node in nodes:
            state = self._node(node, state)
        return state

    def _node(self, node, state):
        if isinstance(node, LayerNode):
            return self._layer(node, state)
        if isinstance(node, SeqNode):
            return self._seq(node.children, state)
        if isinstance(node, ResidualNode):
            body = self._seq(node.body.children, state)
            skip = self._seq(node.shortcut.children, state) if node.shortcut is not None else state
            if body and skip:
                return body | skip
            self._whole(body)
            self._whole(skip)
            return None
        if isinstance(node, MergeNode):
            outs = [self._seq(b.children, state) for b in node.branches]
            if node.op != "concat" and all(outs):
                return frozenset().union(*outs)
            for out in outs:
                self._whole(out)
            return None
        if isinstance(node, RepeatNode):
            for it in node.iterations:
                before = state
                state = self._seq(it.children, state)
                if node.collapsed and it is node.iterations[-1] and state != before:
                    self._whole(state)  # every copy must see what the first saw
            return state
        if isinstance(node, FromNode):
            out = self._seq(node.body.children, self.named.get(node.source))
            if node.alias is not None:
                self.named[node.alias] = out
            return out
        raise TypeError(node)  # pragma: no cover

    def _layer(self, node: LayerNode, state):
        call = node.call
        name = call.kind.name
        for arg in call.tensors:  # kv=/memory= tensors must be whole
            self._whole(self.named.get(getattr(call.args, arg, None)))
        if name in ELEMENTWISE:
            if state:
                self.roles[id(node)] = SPLIT
            return state
        if name == "linear":
            if state:
                self.roles[id(node)] = ROW
                self.committed.update(state)
                return None
            if id(node) in self.forced:
                self.notes[node.path] = "its output feeds a layer that needs the whole tensor"
                return None
            if call.args.out_features % self.tp:
                self.notes[node.path] = f"{call.args.out_features} output features do not divide by tp {self.tp}"
                return None
            self.roles[id(node)] = COLUMN
            return frozenset((id(node),))
        self._whole(state)
        if name == "embedding":
            if call.args.num_embeddings % self.tp == 0:
                self.roles[id(node)] = VOCAB
            else:
                self.notes[node.path] = f"{call.args.num_embeddings} rows do not divide by tp {self.tp}"
        elif name in ATTENTION:
            ok, kv_parts, why = attention_split(call, self.tp)
            if ok:
                self.roles[id(node)] = HEADS
                if kv_parts is not None:
                    self.kv_parts[id(node)] = kv_parts
            else:
                self.notes[node.path] = why
        return None
