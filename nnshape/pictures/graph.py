"""The network as a graph to draw: nodes, edges and nested clusters.

Built from the analysis's :class:`~nnshape.plan.Plan` (the structure: sequences, residuals,
merges, repeats, named tensors) and the :class:`~nnshape.summary.Summary` rows (the numbers),
matched by row path. Pure data: :mod:`.dot` writes it as Graphviz DOT, which lays it out; nothing
here places a node.

What becomes what:

* a layer is a node (its statement, parameters, MACs); the edge into it carries the shape of the
  tensor it reads;
* a named block, a def call, ``repeat``, ``residual``, a merge and ``from`` are clusters; a
  collapsed ``repeat N:`` is drawn once, its cluster titled ``× N``;
* a residual ends in a ``+`` node fed by its body and by its input (the skip edge) or its
  ``shortcut:`` cluster; a merge ends in a node for its operation, fed by every branch;
* a named tensor read elsewhere (``from NAME``, ``memory=NAME``, ``kv=NAME``) is a dashed edge
  from where it was made;
* a layer that shares weights (``tie=``, ``reuse``, a later pass of ``repeat N shared:``) gets a
  dashed edge (kind ``shares``, no weight in the layout) from the layer that owns them;
* with ``depth``, a block at that depth is one node with its totals, as the table folds it.

New plan node types are drawn as one folded node (with their named-tensor edges) until they get
a method here: ``_visit_<ClassName>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .. import formatting as fmt
from ..errors import NNShapeError
from ..limits import MAX_DRAW_NODES
from ..source import Source, Span
from ..plan import FromNode, LayerNode, MergeNode, Plan, RepeatNode, ResidualNode, SeqNode
from ..summary import LayerRow, Summary
from ..symbolic import Poly
from ..tensor import Shape

METRICS = ("macs", "params", "memory")
MERGE_SYMBOL = {"add": "+", "multiply": "×", "concat": "concat", "matmul": "@"}


class DiagramTooLarge(NNShapeError):
    """The diagram would have more nodes than Graphviz lays out in reasonable time."""

    code = "E0622"


@dataclass
class Node:
    id: str
    role: str  # layer | block (a folded block) | input | output | op (the + of a residual, a merge)
    title: str
    lines: tuple[str, ...] = ()
    path: str | None = None
    family: str = "other"  # the kind's family (colour); "block" for a folded block
    cluster: str | None = None  # the id of the innermost cluster that holds it
    metrics: dict[str, int | None] = field(default_factory=dict)  # macs/params/memory for all copies; None: symbolic
    row: int | None = None  # index of its row in summary.layers
    status: str | None = None  # diff: added | removed | changed


@dataclass
class Edge:
    src: str
    dst: str
    label: str  # the tensor's shape ("name: shape" for a named tensor)
    kind: str = "data"  # data | skip (a residual's identity or shortcut path) | named (dashed) | shares (dashed)


@dataclass
class Cluster:
    id: str
    title: str
    kind: str  # block | call | repeat | residual | shortcut | branch | merge | from | pass
    parent: str | None
    path: str | None = None
    row: int | None = None
    status: str | None = None


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    depth: int | None = None

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def by_path(self, path: str) -> list[Node]:
        return [n for n in self.nodes if n.path == path]

    def maxima(self) -> dict[str, int]:
        """The largest concrete value of each metric over the nodes (0 when none)."""
        return {m: max((n.metrics.get(m) or 0 for n in self.nodes), default=0) for m in METRICS}


class Port(NamedTuple):
    """Where a tensor comes from: the node that made it, its shape, and how an edge from it looks."""

    node: str
    shape: Shape
    kind: str = "data"
    name: str | None = None  # a named tensor's name (labels a dashed edge)


def children(node) -> tuple:
    """The plan nodes directly inside ``node`` (a layer has none)."""
    if isinstance(node, SeqNode):
        return tuple(node.children)
    if isinstance(node, ResidualNode):
        return (node.body,) + ((node.shortcut,) if node.shortcut is not None else ())
    if isinstance(node, MergeNode):
        return tuple(node.branches)
    if isinstance(node, RepeatNode):
        return tuple(node.iterations)
    if isinstance(node, FromNode):
        return (node.body,)
    return tuple(getattr(node, "children", ()) or ())


def tensor_reads(node) -> list[str]:
    """Named tensors a layer reads besides its input (``memory=``, ``kv=``), in argument order."""
    if not isinstance(node, LayerNode) or not node.call.tensors:
        return []
    if node.reads:  # the keys the analysis resolved (a def's tensor argument, a call's own name)
        return list(node.reads)
    values = node.call.args.as_dict()
    return [str(values[arg]) for arg in node.call.tensors if isinstance(values.get(arg), str)]


def build_graph(
    summary: Summary,
    plan: Plan,
    *,
    depth: int | None = None,
    highlight: dict[str, str] | None = None,
    max_nodes: int = MAX_DRAW_NODES,
) -> Graph:
    """The graph of an analyzed network. ``highlight`` maps row paths to a diff status; a
    folded block takes the status of anything inside it. Raises :class:`DiagramTooLarge` past
    ``max_nodes`` (before building the rest)."""
    return _Builder(summary, plan, depth, highlight or {}, max_nodes).run()


class _Builder:
    def __init__(self, summary: Summary, plan: Plan, depth: int | None, highlight: dict[str, str], max_nodes: int):
        self.summary = summary
        self.plan = plan
        self.depth = depth
        self.highlight = highlight
        self.max_nodes = max_nodes
        self.rows: dict[str, int] = {}
        for index, row in enumerate(summary.layers):
            self.rows.setdefault(row.path, index)
        self.graph = Graph(depth=depth)
        self.producers: dict[str, Port] = {}  # named tensors: inputs, `from ... as` aliases
        self.cluster: str | None = None
        self.clusters = 0
        self.owners: dict[str, str] = {}  # row path -> node id, for the `shares` edges (a folded block: its node)

    # ------------------------------------------------------------------ plumbing
    def row(self, path: str | None) -> LayerRow | None:
        index = self.rows.get(path) if path is not None else None
        return self.summary.layers[index] if index is not None else None

    def add_node(self, role: str, title: str, **kw) -> str:
        if len(self.graph.nodes) >= self.max_nodes:
            row = self.summary.layers[kw["row"]] if kw.get("row") is not None else None
            raise DiagramTooLarge(
                f"the diagram has more than {self.max_nodes:,} nodes, more than Graphviz lays out in reasonable time",
                Span(row.line, max(row.col, 1)) if row is not None else None,
                found=f"node {self.max_nodes + 1:,} at this line",
                hint="fold deep blocks with --depth (e.g. --depth 1), or draw a part of the network",
                source=Source(self.summary.source, self.summary.source_text) if self.summary.source_text else None,
            )
        node = Node(f"n{len(self.graph.nodes)}", role, title, cluster=self.cluster, **kw)
        self.graph.nodes.append(node)
        return node.id

    def edge(self, port: Port, dst: str, kind: str | None = None) -> None:
        label = fmt.shape(port.shape)
        if port.name is not None:  # a named tensor's key: a def call's own names end in #N
            label = f"{port.name.split('#', 1)[0]}: {label}"
        self.graph.edges.append(Edge(port.node, dst, label, kind or port.kind))

    def open_cluster(self, kind: str, title: str, path: str | None = None) -> str | None:
        """Start a cluster inside the current one; returns the previous one (to close it)."""
        row = self.rows.get(path) if path is not None else None
        self.clusters += 1
        cluster = Cluster(f"cluster_{self.clusters}", title, kind, self.cluster, path, row, self.highlight.get(path or ""))
        self.graph.clusters.append(cluster)
        previous, self.cluster = self.cluster, cluster.id
        return previous

    def metrics(self, row: LayerRow) -> dict[str, int | None]:
        def total(value) -> int | None:
            return None if isinstance(value, Poly) else value * row.repeat

        return {"macs": total(row.macs), "params": total(row.params), "memory": total(row.activation_bytes)}

    def numbers(self, row: LayerRow) -> tuple[str, ...]:
        """`params 9,408 · MACs 118.01 M` (per copy; zeros left out)."""
        parts = []
        if row.params != 0:
            parts.append(f"params {_short(row.params)}")
        if row.macs != 0:
            parts.append(f"MACs {_short(row.macs)}")
        return (" · ".join(parts),) if parts else ()

    def folded(self, row: LayerRow) -> bool:
        return row.is_block and self.depth is not None and row.depth >= self.depth

    # ------------------------------------------------------------------ the walk
    def run(self) -> Graph:
        plan = self.plan
        first: Port | None = None
        for name, info in plan.inputs:
            shape = info.shape
            node = self.add_node("input", f"input {name}" if len(plan.inputs) > 1 or name != "input" else "input", lines=(f"{fmt.shape(shape)} {info.dtype}",), family="io")
            port = Port(node, shape)
            self.producers[name] = port
            first = first or port
        port = first or Port(self.add_node("input", "input"), ())
        port = self.seq(plan.root, port)
        outputs = plan.output if isinstance(plan.output, (list, tuple)) else [plan.output] if plan.output else []
        ends = [(name, self.producers.get(name)) for name in outputs] or [(None, port)]
        for name, end in ends:
            if end is None:
                continue
            title = f"output {name}" if name else "output"
            node = self.add_node("output", title, lines=(fmt.shape(end.shape),), family="io")
            self.edge(end._replace(kind="data", name=None), node)
        return self.graph

    def seq(self, seq: SeqNode, port: Port) -> Port:
        for child in seq.children:
            port = self.visit(child, port)
        return port

    def visit(self, node, port: Port) -> Port:
        row = self.row(getattr(node, "path", None))
        if isinstance(node, LayerNode):
            return self.layer(node, port, row)
        if row is not None and self.folded(row):
            out = self.fold(node, port, row)
        else:
            method = getattr(self, f"_visit_{type(node).__name__}", None)
            if method is None:  # a plan node this module does not know yet: one node with its totals
                out = self.fold(node, port, row) if row is not None else self.seq_like(node, port)
            else:
                out = method(node, port, row)
        alias = getattr(node, "alias", None)  # a def call written `as NAME` (from blocks name theirs themselves)
        if isinstance(node, SeqNode) and isinstance(alias, str) and alias:
            self.producers[alias] = out
        return out

    def seq_like(self, node, port: Port) -> Port:
        for child in children(node):
            port = self.visit(child, port)
        return port

    def layer(self, node: LayerNode, port: Port, row: LayerRow | None) -> Port:
        shape = row.output_shape if row is not None else node.inference.shape
        label = row.label if row is not None else node.call.label or node.call.kind.name
        index = self.rows.get(node.path)
        nid = self.add_node(
            "layer", label, lines=self.numbers(row) if row is not None else (), path=node.path,
            family=node.call.kind.family, metrics=self.metrics(row) if row is not None else {}, row=index,
            status=self.highlight.get(node.path),
        )
        self.edge(port, nid)
        for name in tensor_reads(node):
            self.named_edge(name, nid)
        self.owners[node.path] = nid
        if node.shares is not None:
            self.share_edge(node.shares, nid)
        out = Port(nid, shape)
        alias = getattr(node, "alias", None)  # `as NAME` on a layer line, where the plan records it
        if isinstance(alias, str) and alias:
            self.producers[alias] = out
        return out

    def share_edge(self, shares: tuple[str, str], dst: str) -> None:
        """A dashed edge from the node of the layer (or folded block) that owns the weights."""
        what, path = shares
        src = self.owners.get(path)
        while src is None and "." in path:
            path = path.rsplit(".", 1)[0]
            src = self.owners.get(path)
        if src is not None and src != dst:
            self.graph.edges.append(Edge(src, dst, "tied weight" if what == "weight" else "shared weights", "shares"))

    def named_edge(self, name: str, dst: str) -> None:
        producer = self.producers.get(name)
        if producer is not None:
            self.edge(producer._replace(kind="named", name=name), dst)

    def fold(self, node, port: Port, row: LayerRow) -> Port:
        """One node for a whole block: its totals, edges for the named tensors read inside."""
        title = row.label + (f"  × {row.collapsed:,}" if row.collapsed else "")
        status = self.highlight.get(row.path) or self.inner_status(row.path)
        nid = self.add_node(
            "block", title, lines=self.numbers(row), path=row.path, family="block", metrics=self.metrics(row),
            row=self.rows.get(row.path), status=status,
        )
        made: set[str] = set()
        reads: list[str] = []
        shares: list[tuple[str, str]] = []
        self.owners[row.path] = nid
        stack = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, LayerNode) and item.shares is not None:
                shares.append(item.shares)
            if isinstance(item, FromNode):
                reads.append(item.source)
                if item.alias:
                    made.add(item.alias)
            reads.extend(tensor_reads(item))
            stack.extend(reversed(children(item)))
        if not isinstance(node, FromNode):
            self.edge(port, nid)
        for name in dict.fromkeys(reads):
            if name not in made:
                self.named_edge(name, nid)
        for what, path in dict.fromkeys(shares):  # weights owned outside the folded block
            if not path.startswith(row.path + "."):
                self.share_edge((what, path), nid)
        out = Port(nid, row.output_shape)
        if isinstance(node, FromNode) and node.alias:
            self.producers[node.alias] = out
        return out

    def inner_status(self, path: str) -> str | None:
        if not self.highlight:
            return None
        prefix = path + "." if path else ""
        return "changed" if any(p.startswith(prefix) for p in self.highlight) else None

    # ------------------------------------------------------------------ structure
    def _visit_SeqNode(self, node: SeqNode, port: Port, row: LayerRow | None) -> Port:
        if row is None or node.kind in ("network", "iteration"):
            return self.seq(node, port)
        previous = self.open_cluster(node.kind, row.label, node.path)
        try:
            return self.seq(node, port)
        finally:
            self.cluster = previous

    def _visit_ResidualNode(self, node: ResidualNode, port: Port, row: LayerRow | None) -> Port:
        previous = self.open_cluster("residual", row.label if row is not None else "residual", node.path)
        try:
            out = self.seq(node.body, port)
            if node.shortcut is not None:
                sc_row = self.row(node.shortcut.path)
                if sc_row is not None and self.folded(sc_row):
                    skip = self.fold(node.shortcut, port._replace(kind="skip"), sc_row)
                    return self.join(out, skip, row)
                outer = self.open_cluster("shortcut", sc_row.label if sc_row is not None else "shortcut", node.shortcut.path)
                try:
                    skip = self.seq(node.shortcut, port._replace(kind="skip"))
                finally:
                    self.cluster = outer
            else:
                skip = port
            return self.join(out, skip, row)
        finally:
            self.cluster = previous

    def join(self, out: Port, skip: Port, row: LayerRow | None) -> Port:
        """The ``+`` that ends a residual: its body's output and the skip path."""
        plus = self.add_node("op", "+", family="op")
        self.edge(out, plus)
        self.edge(skip, plus, "skip")
        return Port(plus, row.output_shape if row is not None else out.shape)

    def _visit_MergeNode(self, node: MergeNode, port: Port, row: LayerRow | None) -> Port:
        previous = self.open_cluster("merge", row.label if row is not None else node.op, node.path)
        try:
            outs = []
            for branch in node.branches:
                b_row = self.row(branch.path)
                if b_row is not None and self.folded(b_row):
                    outs.append(self.fold(branch, port, b_row))
                    continue
                outer = self.open_cluster("branch", b_row.label if b_row is not None else "branch", branch.path)
                try:
                    outs.append(self.seq(branch, port))
                finally:
                    self.cluster = outer
            symbol = MERGE_SYMBOL.get(node.op, node.op)
            title = f"concat dim={node.dim}" if node.op == "concat" else symbol
            product = getattr(node, "product", None)
            p_row = self.row(product.path) if product is not None else None
            if p_row is not None:  # matmul: the product is a row of its own (its MACs)
                op = self.add_node(
                    "layer", title, lines=self.numbers(p_row), path=product.path, family="op", metrics=self.metrics(p_row),
                    row=self.rows.get(product.path), status=self.highlight.get(product.path),
                )
            else:
                op = self.add_node("op", title, family="op")
            for out in outs:
                self.edge(out, op)
            shape = row.output_shape if row is not None else (outs[0].shape if outs else port.shape)
            return Port(op, shape)
        finally:
            self.cluster = previous

    def _visit_RepeatNode(self, node: RepeatNode, port: Port, row: LayerRow | None) -> Port:
        title = f"× {node.count:,}  (" + (row.label if row is not None else f"repeat {node.count}") + ")"
        previous = self.open_cluster("repeat", title, node.path)
        try:
            runs = node.runs or [node.last_copies if i == len(node.iterations) - 1 else 1 for i in range(len(node.iterations))]
            listed = sum(1 for k in runs if k)
            for i, (iteration, copies) in enumerate(zip(node.iterations, runs)):
                if not copies:  # a pass of `repeat N as i:` folded into the one before (same counts)
                    continue
                if listed == 1:
                    port = self.seq(iteration, port)
                    continue
                name = f"pass {i + 1}" if copies == 1 else f"passes {i + 1}–{i + copies} (× {copies:,}, same shapes)"
                outer = self.open_cluster("pass", name, None)
                try:
                    port = self.seq(iteration, port)
                finally:
                    self.cluster = outer
            return port
        finally:
            self.cluster = previous

    def _visit_FromNode(self, node: FromNode, port: Port, row: LayerRow | None) -> Port:
        title = row.label if row is not None else f"from {node.source}"
        source = self.producers.get(node.source)
        start = source._replace(kind="named", name=node.source) if source is not None else port
        previous = self.open_cluster("from", title, node.path)
        try:
            out = self.seq(node.body, start)
        finally:
            self.cluster = previous
        if out is start:  # an empty body (`from NAME` on one line): the value is the named tensor itself
            out = start if source is not None else port
        else:
            out = out._replace(kind="data", name=None)
        if node.alias:
            self.producers[node.alias] = out
        return out


def _short(value) -> str:
    """9,408 up to 99,999; 118.01 M above; a symbolic count as written."""
    if isinstance(value, Poly):
        return fmt.count(value)
    return f"{value:,}" if abs(value) < 100_000 else fmt.human(value)
