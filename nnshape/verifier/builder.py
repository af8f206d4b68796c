"""Assemble an analyzed network (a :class:`~nnshape.plan.Plan`) into one real ``torch.nn.Module``.

:func:`walk` goes through the Plan in build order and tells a *sink* what to make: containers
(the classes of the nnshape/twins package) and layers (each kind's twin, from the exact ``Call`` its
rules saw). The builder here makes the modules; ``nnshape export`` (verifier/export.py) writes the
same steps as source, so the exported file and the verified network cannot differ.

Submodule names follow the spec's row paths (``3.0.shortcut.1``), so a layer is found under the
same name in ``nnshape summary`` and in ``model.named_modules()``. A collapsed ``repeat N:``
becomes N independent copies of its body. A layer that shares (``tie=``, ``reuse``, a later pass
of ``repeat N shared:``) is a module of its own holding the lender's very tensors
(``twins.share``), so ``model.parameters()`` yields each once, as the summary counts them. A layer written ``trainable=false``, or inside a def
call written so, has its parameters frozen.

torch is imported only inside functions: importing this module never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SpecLimitError
from ..limits import MAX_COPIES, MAX_MODULES
from ..plan import FromNode, LayerNode, MergeNode, Plan, RepeatNode, ResidualNode, SeqNode
from ..summary import Summary


@dataclass
class Built:
    """The network and, for each summary row (by index), the module that stands for it."""

    model: object  # torch.nn.Module
    row_modules: list = field(default_factory=list)  # aligned with summary.layers
    layer_count: int = 0
    # id(twin) -> the MACs of its row that FlopCounterMode cannot see (an analytic scan:
    # Inference.counted_macs); verify compares the rest
    unseen: dict = field(default_factory=dict)


def tensor_args(node: LayerNode) -> tuple[str, ...]:
    """The keys of the named tensors a layer also reads (kv=...), in the order its kind declares them."""
    if node.reads:
        return node.reads
    call = node.call
    if not call.tensors:
        return ()
    return tuple(call.args.as_dict()[a.name] for a in call.kind.args if a.type == "tensor" and a.name in call.tensors)


class Links:
    """Which layers lend their parameters (``LayerNode.shares``: ``tie=``, ``reuse``, a shared
    repeat) and the handle (a module, a variable) of each one built, by the copies it is in: a
    collapsed ``repeat N:`` is built N times, and a layer that borrows inside copy k borrows from
    the lender of copy k (the lender's own, or the one at the same place of the run it repeats)."""

    def __init__(self, plan: Plan):
        self.lenders = {node.shares[1] for node, _ in plan.walk() if node.shares is not None}
        self.built: dict[str, list[tuple[tuple, object]]] = {}  # path -> (copies, handle), in build order
        self.copies: list[tuple[str, int, bool]] = []  # the repeat passes being built: (path, copy, shared)

    def enter(self, path: str, copy: int, shared: bool) -> None:
        self.copies.append((path, copy, shared))

    def leave(self) -> None:
        self.copies.pop()

    def lends(self, node: LayerNode) -> bool:
        return node.path in self.lenders

    def keep(self, node: LayerNode, handle) -> None:
        if node.path in self.lenders:
            self.built.setdefault(node.path, []).append((tuple(self.copies), handle))

    def source(self, node: LayerNode):
        """The handle of the layer ``node`` shares with, and the names it takes (None: all)."""
        assert node.shares is not None
        what, path = node.shares
        here = {p: k for p, k, _ in self.copies}
        for copies, handle in reversed(self.built[path]):
            if all(_same_copy(p, k, shared, node.path, path, here) for p, k, shared in copies):
                return handle, (("weight",) if what == "weight" else None)
        raise AssertionError(f"{node.path}: no copy of {path} to share with")  # the analysis makes one


def _same_copy(it: str, k: int, shared: bool, user: str, lender: str, here: dict[str, int]) -> bool:
    """Whether copy ``k`` of the repeat pass ``it`` (around the lender) is the one the user's copies
    read: the same pass around both, or the pass at the same place of the run the user repeats;
    the first pass of a shared repeat lends to every other."""
    if shared:
        return True
    if it in here:
        return here[it] == k
    suffix = lender[len(it):]
    if user.endswith(suffix) and user[: len(user) - len(suffix)] in here:
        return here[user[: len(user) - len(suffix)]] == k
    return k == 0


def walk(plan: Plan, sink, root, what: str = "verify builds") -> None:
    """Tell ``sink`` how to build ``plan`` into ``root`` (the Network), parents before children.

    ``sink.container(parent, name, cls, args, path, store=None) -> handle``: a ``cls(*args)`` of
    nnshape.twins appended to ``parent`` under ``name``; ``sink.shortcut(residual, path) -> handle``:
    a Seq set as the residual's shortcut; ``sink.layer(parent, name, node, tensors, frozen, path)``:
    a layer's twin (stored under ``node.alias`` when set). ``path`` is the row path a module stands
    for, or None for the copies of a collapsed repeat that have no row of their own; ``store`` is
    the key a def call's output is stored under (`as NAME`). ``what`` names the command in the error for
    too many copies.
    """
    for node in plan.root.children:  # top-level statements act on the first input
        _child(sink, root, node, True, False, what)


def _fill(sink, parent, seq: SeqNode, record: bool, frozen: bool, what: str) -> None:
    for child in seq.children:
        _child(sink, parent, child, record, frozen, what)


def _child(sink, parent, node, record: bool, frozen: bool, what: str) -> None:
    name = node.path.rsplit(".", 1)[-1]
    path = node.path if record else None
    if isinstance(node, LayerNode):
        sink.layer(parent, name, node, tensor_args(node), frozen or not node.trainable, path)
    elif isinstance(node, SeqNode):  # block, def call
        module = sink.container(parent, name, "Call" if node.scoped else "Seq", (), path, node.alias)
        _fill(sink, module, node, record, frozen or not node.trainable, what)
    elif isinstance(node, ResidualNode):
        module = sink.container(parent, name, "Residual", (), path)
        _fill(sink, module, node.body, record, frozen, what)
        if node.shortcut is not None:
            shortcut = sink.shortcut(module, node.shortcut.path if record else None)
            _fill(sink, shortcut, node.shortcut, record, frozen, what)
    elif isinstance(node, MergeNode):
        module = sink.container(parent, name, "Merge", (node.op, node.dim), path)
        for branch in node.branches:
            sub = sink.container(module, branch.path.rsplit(".", 1)[-1], "Seq", (), branch.path if record else None)
            _fill(sink, sub, branch, record, frozen, what)
        product = node.product
        if product is not None:  # matmul: the product, a leaf module after the branches
            sink.layer(module, product.path.rsplit(".", 1)[-1], product, (), frozen, product.path if record else None)
    elif isinstance(node, RepeatNode):
        module = sink.container(parent, name, "Seq", (), path)
        copies = node.last_copies
        if copies > MAX_COPIES:
            raise SpecLimitError(
                f"repeat {node.count:,}: {what} every copy, at most {MAX_COPIES:,}",
                hint="verify a smaller count (`--set`), or use `nnshape summary` for the analytic numbers",
                code="E0508",
            )
        listed = len(node.iterations)
        iterations = list(node.iterations)
        if node.collapsed and iterations:  # the last listed pass stands for `copies` identical passes
            iterations += [iterations[-1]] * (copies - 1)
        links = getattr(sink, "links", None)
        for i, it in enumerate(iterations):
            sub = sink.container(module, str(i), "Seq", (), it.path if record and i < listed else None)
            if links is not None:  # which copy of its pass a layer is built in (shared weights follow it)
                links.enter(it.path, max(0, i - listed + 1), node.shared)
            _fill(sink, sub, it, record and i < listed, frozen, what)
            if links is not None:
                links.leave()
    elif isinstance(node, FromNode):
        module = sink.container(parent, name, "From", (node.source, node.alias), path)
        _fill(sink, module, node.body, record, frozen, what)
    else:  # pragma: no cover
        raise TypeError(node)


class _Builder:
    """The sink that makes the modules (on the current torch device)."""

    def __init__(self, dtype, progress=None, links: Links | None = None):
        from .. import twins

        self.twins = twins
        self.links = links
        self.dtype = dtype
        self.progress = progress
        self.by_path: dict[str, list] = {}  # path -> modules in pre-order (paths may repeat)
        self.layers = 0
        self.unseen: dict[int, object] = {}

    def note(self, path: str | None, module) -> None:
        if path is not None:
            self.by_path.setdefault(path, []).append(module)

    def container(self, parent, name: str, cls: str, args: tuple, path: str | None, store: str | None = None):
        module = getattr(self.twins, cls)(*args)
        self.note(path, module)
        return parent.append(name, module, store=store)

    def shortcut(self, residual, path: str | None):
        module = self.twins.Seq()
        self.note(path, module)
        return residual.set_shortcut(module)

    def layer(self, parent, name: str, node: LayerNode, tensors: tuple, frozen: bool, path: str | None) -> None:
        self.layers += 1
        if self.layers > MAX_MODULES:
            raise SpecLimitError(f"the network has more than {MAX_MODULES:,} layers to build", code="E0508")
        call = node.call
        module = call.kind.build(call)
        result = node.inference
        if result.counted_macs is not None and result.counted_macs != result.macs:
            self.unseen[id(module)] = result.macs - result.counted_macs
        if self.dtype is not None:
            module.to(self.dtype)
        if frozen:
            module.requires_grad_(False)
        if node.shares is not None and self.links is not None:  # the lender's tensors (and their flags)
            source, names = self.links.source(node)
            self.twins.share(module, source, names)
        if self.links is not None:
            self.links.keep(node, module)
        self.note(path, module)
        if self.progress is not None:
            self.progress(1)
        parent.append(name, module, tensors, node.alias)


def build(summary: Summary, plan: Plan, *, device=None, dtype=None, progress=None) -> Built:
    """Build the network on ``device`` (a torch.device; "meta" allocates nothing).

    ``progress(n)`` is called as layers are built. Raises SpecLimitError when the network is too
    large to build.
    """
    import torch

    builder = _Builder(dtype, progress, Links(plan))
    with torch.device(device or "cpu"):
        model = builder.twins.Network([name for name, _ in plan.inputs], plan.output)
        walk(plan, builder, model)
    seen: dict[str, int] = {}
    row_modules = []
    for row in summary.layers:
        k = seen.get(row.path, 0)
        seen[row.path] = k + 1
        mods = builder.by_path.get(row.path, [])
        row_modules.append(mods[k] if k < len(mods) else None)
    return Built(model, row_modules, builder.layers, builder.unseen)
