"""The structure of an analyzed network, for building it again (the verifier, `export`).

The analysis records these nodes when asked (``nnshape.analysis.analyze_with_plan``). Each layer
node keeps the exact :class:`~nnshape.registry.Call` its rules saw, so a twin built from it has the
same arguments and input shapes. A collapsed ``repeat`` keeps one iteration and its count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

from .registry import Call, Inference
from .tensor import TensorInfo


@dataclass
class LayerNode:
    path: str
    call: Call
    inference: Inference
    trainable: bool = True  # False: `trainable=false` on the layer (its parameters are frozen)
    shares: tuple[str, str] | None = None  # ("weight" | "module", path): the layer at path lends it its
    # weight (`tie=`) or all its parameters and buffers (`reuse`, `repeat N shared:`); counted there once
    reads: tuple[str, ...] = ()  # keys of the named tensors its tensor arguments read (kv=...), in order
    alias: str | None = None  # key its output is stored under (`as NAME`)


@dataclass
class SeqNode:
    """Statements run one after another: the network, a block, a def call, a branch, a shortcut."""

    path: str
    kind: str
    children: list["Node"] = field(default_factory=list)
    trainable: bool = True  # False: a def call with `trainable=false` freezes every layer inside
    alias: str | None = None  # key the output is stored under (a def call written `as NAME`)
    scoped: bool = False  # a def call that stores names of its own: they end with the call


@dataclass
class ResidualNode:
    path: str
    body: SeqNode
    shortcut: SeqNode | None = None


@dataclass
class MergeNode:
    path: str
    op: str  # concat | add | multiply | matmul
    dim: int
    branches: list[SeqNode] = field(default_factory=list)
    product: LayerNode | None = None  # matmul: the product's row, after the branches


@dataclass
class RepeatNode:
    """``repeat count:``. When ``collapsed``, the last of ``iterations`` kept the shape and stands
    for all remaining passes: ``count - len(iterations) + 1`` identical copies of it."""

    path: str
    count: int
    collapsed: bool
    iterations: list[SeqNode] = field(default_factory=list)
    shared: bool = False  # `repeat N shared:`: the passes after the first use the first one's weights
    # `repeat N as i:` whose body reads i: every pass is listed (and built with its own arguments);
    # runs[k] is how many passes iteration k's rows stand for in the summary (0: folded into an
    # earlier iteration that agrees with it)
    runs: list[int] | None = None

    @property
    def last_copies(self) -> int:
        """How many passes the last listed iteration stands for."""
        return self.count - len(self.iterations) + 1 if self.collapsed else 1


@dataclass
class FromNode:
    """``from NAME [as ALIAS]:`` (or on one line, with an empty body): ``source`` and ``alias``
    are keys (see nnshape.analysis.names: a name stored in a def call has a key of its own)."""

    path: str
    source: str
    alias: str | None
    body: SeqNode


Node = Union[LayerNode, SeqNode, ResidualNode, MergeNode, RepeatNode, FromNode]


@dataclass
class Plan:
    inputs: list[tuple[str, TensorInfo]]
    root: SeqNode
    output: str | tuple[str, ...] | None = None  # the output's name; names for several (`output a, b`)

    def walk(self) -> Iterator[tuple[LayerNode, int]]:
        """Every layer node in network order, with how many copies of it the built network holds
        (the last iteration of a collapsed repeat stands for ``last_copies`` passes)."""
        stack: list[tuple[Node, int]] = [(self.root, 1)]
        while stack:
            node, times = stack.pop()
            if isinstance(node, LayerNode):
                yield node, times
                continue
            if isinstance(node, SeqNode):
                children = [(child, times) for child in node.children]
            elif isinstance(node, ResidualNode):
                children = [(node.body, times)] + ([(node.shortcut, times)] if node.shortcut is not None else [])
            elif isinstance(node, MergeNode):
                children = [(branch, times) for branch in node.branches]
                if node.product is not None:
                    children.append((node.product, times))
            elif isinstance(node, RepeatNode) and node.runs is not None:
                children = [(it, times * k) for it, k in zip(node.iterations, node.runs) if k]
            elif isinstance(node, RepeatNode):
                last = len(node.iterations) - 1
                children = [(it, times * (node.last_copies if i == last else 1)) for i, it in enumerate(node.iterations)]
            elif isinstance(node, FromNode):
                children = [(node.body, times)]
            else:  # pragma: no cover
                raise TypeError(node)
            stack.extend(reversed(children))
