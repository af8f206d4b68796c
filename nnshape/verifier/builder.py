"""Assemble an analyzed network (a :class:`~nnshape.plan.Plan`) into one real ``torch.nn.Module``.

Every layer is its kind's own twin, built from the exact ``Call`` the rules saw; blocks become
small container modules. Submodule names follow the spec's row paths (``3.0.shortcut.1``), so a
layer is found under the same name in ``nnshape summary`` and in ``model.named_modules()``.
A collapsed ``repeat N:`` becomes N independent copies of its body.

torch is imported only inside functions: importing this module never loads it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from ..errors import SpecLimitError
from ..plan import (
    FromNode,
    LayerNode,
    MergeNode,
    Plan,
    RepeatNode,
    ResidualNode,
    SeqNode,
)
from ..summary import Summary
from ..limits import MAX_COPIES, MAX_MODULES


@dataclass
class Built:
    """The network and, for each summary row (by index), the module that stands for it."""

    model: object  # torch.nn.Module
    row_modules: list = field(default_factory=list)  # aligned with summary.layers
    layer_count: int = 0
    calls: dict = field(default_factory=dict)  # id(twin) -> its Call


@functools.cache
def _classes():
    import operator

    import torch
    from torch import nn

    def run_items(owner, x, env):
        for name, extra in owner._nnshape_items:
            if extra is None:
                x = owner._modules[name](x, env)
            else:
                x = owner._modules[name](x, *(env[t] for t in extra))
        return x

    class Seq(nn.Module):
        """Statements in order: a block, a def call, a branch, a shortcut, one repeat iteration."""

        def __init__(self):
            super().__init__()
            self._nnshape_items: list[tuple[str, object]] = []

        def forward(self, x, env):
            return run_items(self, x, env)

    class Residual(Seq):
        """``body(x) + x``, or ``body(x) + shortcut(x)`` with a ``shortcut`` submodule."""

        def __init__(self):
            super().__init__()
            self._nnshape_shortcut: str | None = None

        def forward(self, x, env):
            y = run_items(self, x, env)
            skip = x if self._nnshape_shortcut is None else self._modules[self._nnshape_shortcut](x, env)
            return y + skip

    class Merge(Seq):
        """``concat`` / ``add`` / ``multiply`` of branch submodules, all fed the same input."""

        def __init__(self, op: str, dim: int):
            super().__init__()
            self._nnshape_op, self._nnshape_dim = op, dim

        def forward(self, x, env):
            outs = [self._modules[name](x, env) for name, _ in self._nnshape_items]
            if self._nnshape_op == "concat":
                return torch.cat(outs, dim=self._nnshape_dim)
            return functools.reduce(operator.add if self._nnshape_op == "add" else operator.mul, outs)

        def extra_repr(self) -> str:
            return self._nnshape_op + (f", dim={self._nnshape_dim}" if self._nnshape_op == "concat" else "")

    class From(Seq):
        """Run the body on a named tensor; store the result under ``alias``."""

        def __init__(self, source: str, alias: str | None):
            super().__init__()
            self._nnshape_source, self._nnshape_alias = source, alias

        def forward(self, x, env):
            y = run_items(self, env[self._nnshape_source], env)
            if self._nnshape_alias:
                env[self._nnshape_alias] = y
            return y

    class Network(Seq):
        """The whole spec. ``forward`` takes the declared inputs in order."""

        def __init__(self, inputs: list[str], output: str | None):
            super().__init__()
            self._nnshape_inputs, self._nnshape_output = inputs, output

        def forward(self, *tensors):
            env = dict(zip(self._nnshape_inputs, tensors))
            y = run_items(self, tensors[0] if tensors else None, env)
            return env[self._nnshape_output] if self._nnshape_output else y

    return Seq, Residual, Merge, From, Network


def safe_name(container, segment: str) -> str:
    """The path segment as a submodule name, changed only where torch would refuse it."""
    name = segment
    while name in container._modules or (hasattr(container, name) and name not in container._modules):
        name += "_"
    return name


class _Builder:
    def __init__(self, summary: Summary, plan: Plan, device, dtype, progress=None):
        self.summary = summary
        self.plan = plan
        self.device = device
        self.dtype = dtype
        self.progress = progress
        self.by_path: dict[str, list] = {}  # path -> modules in pre-order (paths may repeat)
        self.layers = 0
        self.calls: dict[int, object] = {}  # id(twin) -> the Call it was built from (for export)
        self.frozen = {row.path for row in summary.layers if not row.is_block and row.params and not row.trainable_params}

    def note(self, path: str, module) -> None:
        self.by_path.setdefault(path, []).append(module)

    def add(self, container, path: str, module, extra) -> None:
        name = safe_name(container, path.rsplit(".", 1)[-1])
        container.add_module(name, module)
        container._nnshape_items.append((name, extra))

    def layer(self, node: LayerNode, record: bool):
        call = node.call
        self.layers += 1
        if self.layers > MAX_MODULES:
            raise SpecLimitError(f"the network has more than {MAX_MODULES:,} layers to build", code="E0508")
        module = call.kind.build(call)
        self.calls[id(module)] = call
        if self.dtype is not None:
            module.to(self.dtype)
        if node.path in self.frozen:
            module.requires_grad_(False)
        if record:
            self.note(node.path, module)
        if self.progress is not None:
            self.progress(1)
        tensors = tuple(call.args.as_dict()[a.name] for a in call.kind.args if a.type == "tensor" and a.name in call.tensors)
        return module, tensors

    def fill(self, container, seq: SeqNode, record: bool) -> None:
        for child in seq.children:
            self.child(container, child, record)

    def child(self, container, node, record: bool) -> None:
        Seq, Residual, Merge, From, _ = _classes()
        if isinstance(node, LayerNode):
            module, tensors = self.layer(node, record)
            self.add(container, node.path, module, tensors)
            return
        if isinstance(node, SeqNode):  # block, def call
            module = Seq()
            if record:
                self.note(node.path, module)
            self.fill(module, node, record)
        elif isinstance(node, ResidualNode):
            module = Residual()
            if record:
                self.note(node.path, module)
            self.fill(module, node.body, record)
            if node.shortcut is not None:
                shortcut = Seq()
                if record:
                    self.note(node.shortcut.path, shortcut)
                self.fill(shortcut, node.shortcut, record)
                name = safe_name(module, "shortcut")
                module.add_module(name, shortcut)
                module._nnshape_shortcut = name
        elif isinstance(node, MergeNode):
            module = Merge(node.op, node.dim)
            if record:
                self.note(node.path, module)
            for branch in node.branches:
                sub = Seq()
                if record:
                    self.note(branch.path, sub)
                self.fill(sub, branch, record)
                self.add(module, branch.path, sub, None)
        elif isinstance(node, RepeatNode):
            module = Seq()
            if record:
                self.note(node.path, module)
            copies = node.last_copies
            if copies > MAX_COPIES:
                raise SpecLimitError(
                    f"repeat {node.count:,}: verify builds every copy, at most {MAX_COPIES:,}",
                    hint="verify a smaller count (`--set`), or use `nnshape summary` for the analytic numbers",
                    code="E0508",
                )
            listed = len(node.iterations)
            iterations = list(node.iterations)
            if node.collapsed and iterations:  # the last listed pass stands for `copies` identical passes
                iterations += [iterations[-1]] * (copies - 1)
            prefix = node.path + "." if node.path else ""
            for i, it in enumerate(iterations):
                sub = Seq()
                self.fill(sub, it, record and i < listed)
                self.add(module, f"{prefix}{i}", sub, None)
        elif isinstance(node, FromNode):
            module = From(node.source, node.alias)
            if record:
                self.note(node.path, module)
            self.fill(module, node.body, record)
        else:  # pragma: no cover
            raise TypeError(node)
        self.add(container, node.path, module, None)

    def build(self) -> Built:
        *_, Network = _classes()
        names = [name for name, _ in self.plan.inputs]
        model = Network(names, self.plan.output)
        for node in self.plan.root.children:  # top-level statements act on the first input
            self.child(model, node, True)
        seen: dict[str, int] = {}
        row_modules = []
        for row in self.summary.layers:
            k = seen.get(row.path, 0)
            seen[row.path] = k + 1
            mods = self.by_path.get(row.path, [])
            row_modules.append(mods[k] if k < len(mods) else None)
        return Built(model, row_modules, self.layers, self.calls)


def build(summary: Summary, plan: Plan, *, device=None, dtype=None, progress=None) -> Built:
    """Build the network on ``device`` (a torch.device; "meta" allocates nothing).

    ``progress(n)`` is called as layers are built. Raises SpecLimitError when the network is too
    large to build.
    """
    import torch

    builder = _Builder(summary, plan, device, dtype, progress)
    with torch.device(device or "cpu"):
        return builder.build()
