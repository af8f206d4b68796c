"""The op graph of a traced module as spec text: structure from the dataflow (nnshape import torch).

A chain of one-tensor ops is a run of lines. Where a tensor forks, the first value every path
meets again (the first *cut*) is a merge: add (a ``residual:``, with a ``shortcut:`` when neither
path is the identity), multiply, concatenate or matmul, whose branches are the paths. That is a
series-parallel graph, which is what the block syntax says. What is not (a tensor read far away:
a decoder's memory, a skip connection crossing other merges) gets a name: the graph is cut into
segments ``from SOURCE as NAME:``, each series-parallel. Lines are grouped by the module hierarchy
(``block layer1:``), and consecutive siblings that write the same text become ``repeat N:``.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from .errors import Unmappable
from .writer import SpecWriter

RESERVED = {"input", "let", "output", "def", "block", "repeat", "residual", "shortcut", "concat", "add", "multiply",
            "branch", "from", "as", "if", "elif", "else", "matmul", "reuse", "tie", "true", "false", "none"}
MAX_PLAN_ROUNDS = 64


class NonSP(Exception):
    def __init__(self, names):
        super().__init__("not series-parallel")
        self.names = set(names)


@dataclass
class OpItem:
    op: object

    def ops(self):
        return [self.op]


@dataclass
class MergeItem:
    op: object
    branches: list  # per input: ("identity",) | ("named", Value) | ("region", [items])

    def ops(self):
        out = [self.op]
        for b in self.branches:
            if b[0] == "region":
                for item in b[1]:
                    out.extend(item.ops())
        return out


@dataclass
class Problem:
    path: str
    what: str
    reason: str

    def __str__(self) -> str:
        from .writer import comment_text

        # module names are any strings (add_module): shown as printable ASCII only
        return comment_text(f"{self.path or '(forward)'}: {self.what}: {self.reason}")[:400]


@dataclass
class Plan:
    segments: list  # (entry Value, target Value, items, named target?)
    names: dict  # value id -> spec name
    problems: list = field(default_factory=list)
    reused: dict = field(default_factory=dict)  # module path -> label, for modules applied twice
    ties: dict = field(default_factory=dict)  # module path -> (label, owner?): one weight in two modules


def _ident(text: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in text) or "t"
    if out[0].isdigit():
        out = "t" + out
    if keyword.iskeyword(out) or out.lower() in RESERVED:
        out += "_"
    return out


class Planner:
    def __init__(self, graph):
        self.g = graph
        self.consumers: dict = {}
        for op in graph.ops:
            for v in op.primary:
                lst = self.consumers.setdefault(v.id, [])
                if op not in lst:
                    lst.append(op)
        self.order = {v.id: i for i, v in enumerate(graph.values)}

    # -- regions --------------------------------------------------------------------------
    def backward(self, target, named) -> set:
        """Values that reach ``target`` through unnamed values (named ones are leaves)."""
        seen, stack = {target.id}, [target]
        while stack:
            v = stack.pop()
            if v is not target and v.id in named:
                continue
            if v.producer is None:
                continue
            for u in v.producer.primary:
                if u.id not in seen:
                    seen.add(u.id)
                    stack.append(u)
        return seen

    def forward(self, entry, named) -> set:
        seen, stack = {entry.id}, [entry]
        while stack:
            v = stack.pop()
            if v is not entry and v.id in named:
                continue
            for op in self.consumers.get(v.id, []):
                if op.out.id not in seen:
                    seen.add(op.out.id)
                    stack.append(op.out)
        return seen

    def sources(self, target, named) -> list:
        """The named values ``target`` is computed from; raises NonSP to split mixed regions."""
        memo: dict = {}
        cone = sorted(self.backward(target, named), key=self.order.get)
        by_id = {v.id: v for v in self.g.values}
        to_name = set()
        for vid in cone:
            v = by_id[vid]
            if v is not target and vid in named:
                memo[vid] = frozenset([vid])
                continue
            if v.producer is None:
                memo[vid] = frozenset([vid])  # an input
                continue
            sets = [memo[u.id] for u in v.producer.primary]
            memo[vid] = frozenset().union(*sets)
            if len(set(sets)) > 1 and v.producer.kind != "merge":
                to_name.update(u.id for u in v.producer.primary if u.id not in named)
            elif len(set(sets)) > 1:
                # a merge of values from different sources: each input needs to be named, or to be
                # reachable from one source alone (a branch from the entry)
                mixed = [u for u, s in zip(v.producer.primary, sets) if len(s) > 1 and u.id not in named]
                to_name.update(u.id for u in mixed)
        if to_name:
            raise NonSP(to_name)
        return [by_id[i] for i in sorted(memo[target.id], key=self.order.get)]

    def first_cut(self, cur, region: set):
        """The first value after ``cur`` that every path from ``cur`` to the region's end passes."""
        by_id = {v.id: v for v in self.g.values}
        ordered = sorted(region, key=self.order.get)
        pending = 0
        started = False
        for vid in ordered:
            v = by_id[vid]
            if vid == cur.id:
                started = True
            elif started:
                pending -= sum(1 for u in (v.producer.primary if v.producer else []) if u.id in region)
                if pending == 0:
                    return v
            else:
                continue
            if started:
                pending += sum(sum(1 for u in op.primary if u is v) for op in self.consumers.get(vid, []) if op.out.id in region)
        return None

    def region(self, entry, target, named) -> set:
        return self.forward(entry, named) & self.backward(target, named)

    def ops_in(self, region: set, entry, named, target) -> set:
        """The ops of a region: producers of its values, except the entry's and those of named
        values read as they are (computed in their own segment)."""
        by_id = {v.id: v for v in self.g.values}
        return {by_id[v].producer.id for v in region
                if v != entry.id and by_id[v].producer is not None and (v not in named or v == target.id)}

    def walk(self, entry, target, named) -> list:
        """Items computing ``target`` from ``entry`` (the current tensor)."""
        region = self.region(entry, target, named)
        if target.id not in region:
            raise NonSP({target.id})
        items = []
        cur = entry
        while cur is not target:
            nxt = [op for op in self.consumers.get(cur.id, []) if op.out.id in region]
            if len(nxt) == 1 and nxt[0].kind != "merge" and len(nxt[0].primary) == 1:
                items.append(OpItem(nxt[0]))
                cur = nxt[0].out
                continue
            sub = {v for v in region if self.order[v] >= self.order[cur.id]}
            cut = self.first_cut(cur, sub)
            if cut is None or cut.producer is None or cut.producer.kind != "merge":
                inner = self.region(cur, cut, named) if cut is not None else sub
                raise NonSP(self._forks(inner, cur) | ({cur.id} if cur.id not in named else set()))
            m = cut.producer
            branches, owned = [], set()
            for a in m.primary:
                if a is cur:
                    branches.append(("identity",))
                    continue
                if a.id in named:
                    branches.append(("named", a))
                    continue
                part = self.region(cur, a, named)
                ops = self.ops_in(part, cur, named, a)
                if owned & ops:
                    raise NonSP(self._forks(self.region(cur, cut, named), cur) | {a.id})
                owned |= ops
                branches.append(("region", self.walk(cur, a, named)))
            whole = self.ops_in(self.region(cur, cut, named), cur, named, cut) - {m.id}
            if whole != owned:
                raise NonSP(self._forks(self.region(cur, cut, named), cur))
            items.append(MergeItem(m, branches))
            cur = cut
        return items

    def _forks(self, region: set, cur) -> set:
        """Values of a region read by more than one op, and the inputs of its merges."""
        by_id = {v.id: v for v in self.g.values}
        out = set()
        for vid in region:
            readers = [op for op in self.consumers.get(vid, []) if op.out.id in region]
            if len(readers) > 1 and vid != cur.id:
                out.add(vid)
            v = by_id[vid]
            if v.producer is not None and v.producer.kind == "merge":
                out.update(u.id for u in v.producer.primary if u.id != cur.id)
        return out

    # -- the plan --------------------------------------------------------------------------
    def plan(self) -> Plan:
        g = self.g
        if not g.outputs:
            raise Unmappable("the module returns no tensor")
        named = {v.id for v in g.inputs}
        for op in g.ops:
            named.update(v.id for v in op.side.values())
        named.update(v.id for v in g.outputs[1:])
        main = g.outputs[0]
        for _ in range(MAX_PLAN_ROUNDS):
            try:
                segments = self._segments(named, main)
            except NonSP as exc:
                new = exc.names - named
                if not new:
                    raise Unmappable("the dataflow has no block structure nnshape can write") from None
                named |= new
                continue
            counts: dict = {}
            for _, _, items, _ in segments:
                for item in items:
                    for op in item.ops():
                        counts[op.id] = counts.get(op.id, 0) + 1
            missing = [op for op in g.ops if op.id not in counts]
            twice = [op for op in g.ops if counts.get(op.id, 0) > 1]
            new = set()
            for op in missing:
                if not self.consumers.get(op.out.id) and op.out is not main:
                    new.add(op.out.id)  # a result nothing reads: computed (and counted) all the same
            for op in twice:
                new.add(op.out.id)
            new -= named
            if missing and not new:
                new = {op.out.id for op in missing} - named
            if new:
                named |= new
                continue
            if missing or twice:
                raise Unmappable("the dataflow has no block structure nnshape can write")
            names = self._names(named)
            return Plan(segments, names)
        raise Unmappable("the dataflow has no block structure nnshape can write")

    def _segments(self, named, main) -> list:
        by_id = {v.id: v for v in self.g.values}
        inputs = {v.id for v in self.g.inputs}
        targets = [by_id[i] for i in sorted(named - inputs, key=self.order.get)]
        if main.id not in named:
            targets.append(main)
        segments = []
        for t in targets:
            sources = self.sources(t, named)
            entry = sources[0]
            items = self.walk(entry, t, named)
            segments.append((entry, t, items, t.id in named))
        # the main output last: the other segments feed it or are results nothing reads
        segments.sort(key=lambda s: (s[1] is main, self.order[s[1].id]))
        return segments

    def _names(self, named) -> dict:
        by_id = {v.id: v for v in self.g.values}
        names, taken = {}, set()
        for vid in sorted(named, key=self.order.get):
            base = _ident(by_id[vid].name)
            name, i = base, 1
            while name in taken:
                i += 1
                name = f"{base}_{i}"
            taken.add(name)
            names[vid] = name
        return names


# ----------------------------------------------------------------------------- writing


@dataclass
class _View:
    in_shape: tuple
    out_shape: tuple
    side: dict
    args: tuple = ()  # the module's other arguments that are Python values (MViT's token grid)


class Writer:
    def __init__(self, plan: Plan, allow_partial: bool):
        self.plan = plan
        self.names = plan.names
        self.allow_partial = allow_partial
        self.problems = plan.problems
        self.emitted: set = set()  # reused modules written once already

    def op_lines(self, op) -> list:
        """The spec lines of one op (strings, or (header, [lines]) for a nested block)."""
        if op.kind == "neutral":
            return []
        if op.unmappable is None and op.mapper is not None:
            view = _View(op.primary[0].shape, op.out.shape, {k: self.names[v.id] for k, v in op.side.items()}, op.args)
            try:
                return list(op.mapper(op.module, view))
            except Unmappable as exc:
                op.unmappable = str(exc)
        if op.unmappable is not None:
            self.problems.append(Problem(".".join(p for p in op.path if p), op.what, op.unmappable))
            return [("# NOT MAPPED", op)]
        return list(op.lines)

    # -- grouping by module --------------------------------------------------------------------
    @staticmethod
    def item_path(item) -> tuple:
        paths = [op.path for op in item.ops()]
        common = paths[0]
        for p in paths[1:]:
            n = 0
            while n < len(common) and n < len(p) and common[n] == p[n]:
                n += 1
            common = common[:n]
        return tuple(common)

    def emit_items(self, w: SpecWriter, items: list, prefix: tuple) -> None:
        groups: list = []  # (child or None, [items])
        for item in items:
            path = self.item_path(item)
            leaf_op = isinstance(item, OpItem) and item.op.module is not None and len(path) == len(prefix) + 1
            child = path[len(prefix)] if len(path) > len(prefix) and path[:len(prefix)] == prefix and not leaf_op else None
            if groups and child is not None and groups[-1][0] == child:
                groups[-1][1].append(item)
            else:
                groups.append((child, [item]))
        rendered = []
        for child, group in groups:
            sub = SpecWriter()
            sub.depth = 0
            if child is None:
                for item in group:
                    self.emit_item(sub, item, prefix)
                rendered.append((None, None, sub))
            else:
                self.emit_group(sub, child, group, prefix)
                rendered.append((child, group, sub))
        self.write_with_repeats(w, rendered, prefix)

    def emit_group(self, w: SpecWriter, child: str, group: list, prefix: tuple) -> None:
        name = _ident(child) if not child.isdigit() else _ident(f"{prefix[-1] if prefix else 'm'}_{child}")
        with w.block(f"block {name}", ".".join(prefix + (child,)) if child.isdigit() or name != child else None):
            self.emit_items(w, group, prefix + (child,))

    def write_with_repeats(self, w: SpecWriter, rendered: list, prefix: tuple) -> None:
        """Consecutive sibling groups with the same body become one ``repeat N:``."""
        def body(entry):
            child, group, sub = entry
            lines = sub.lines
            if child is not None and lines:
                return tuple(lines[1:])  # without the `block NAME:` header
            return tuple(lines)

        i = 0
        while i < len(rendered):
            j = i + 1
            if rendered[i][0] is not None:
                while j < len(rendered) and rendered[j][0] is not None and body(rendered[j]) == body(rendered[i]):
                    j += 1
            if j - i > 1:
                names = [".".join(prefix + (r[0],)) for r in rendered[i:j]]
                w.line(f"repeat {j - i}:", f"{names[0]} .. {names[-1]}")
                indent = " " * (w.depth * w.indent)
                for text, comment in rendered[i][2].lines[1:]:
                    w.lines.append((indent + text if text else text, comment))
            else:
                indent = " " * (w.depth * w.indent)
                for text, comment in rendered[i][2].lines:
                    w.lines.append((indent + text if text else text, comment))
            i = j

    # -- items ---------------------------------------------------------------------------------
    def emit_item(self, w: SpecWriter, item, prefix: tuple) -> None:
        if isinstance(item, OpItem):
            self.emit_op(w, item.op, prefix)
        else:
            self.emit_merge(w, item, prefix)

    def emit_op(self, w: SpecWriter, op, prefix: tuple) -> None:
        lines = self.op_lines(op)
        label = op.leaf if op.leaf and op.leaf.isidentifier() and not keyword.iskeyword(op.leaf) else None
        if op.kind == "neutral":
            return
        if lines and isinstance(lines[0], tuple) and lines[0][0] == "# NOT MAPPED":
            w.comment(f"NOT MAPPED: {'.'.join(op.path) or '(forward)'}: {op.what}: {op.unmappable}")
            if op.out.shape != op.primary[0].shape if op.primary else True:
                w.comment(f"  (its output {list(op.out.shape)} is not written either)")
            return
        shared = self.plan.reused.get(".".join(op.path)) if op.module is not None else None
        if shared is not None:
            if len(lines) != 1 or not isinstance(lines[0], str):
                self.problems.append(Problem(".".join(op.path), "shared weights", "a module of several lines applied "
                                             "twice with the same parameters (only one-line modules are written with `reuse`)"))
            elif shared in self.emitted:
                w.line(f"reuse {shared}", "the same module again: its weights are shared")
                return
            else:
                self.emitted.add(shared)
                w.line(f"{lines[0]} name={shared}", op.comment or ".".join(op.path))
                return
        tie = self.plan.ties.get(".".join(op.path)) if op.module is not None else None
        if tie is not None and len(lines) == 1 and isinstance(lines[0], str):
            name, owner = tie
            text = f"{lines[0]} name={name}" if owner else f"{lines[0]} tie={name}" + (f" name={_ident(label)}" if label else "")
            w.line(text, op.comment or (None if owner else f"its weight is {name}'s"))
            return
        if any(isinstance(line, tuple) for line in lines):
            if label:
                w.comment(".".join(op.path))
            self.nested(w, lines)
            return
        for n, line in enumerate(lines):
            text = line
            if label and n == len(lines) - 1 and len(lines) == 1:
                text += f" name={_ident(label)}"
            comment = op.comment if n == 0 else None
            if label and len(lines) > 1 and n == 0:
                comment = ".".join(op.path)
            w.line(text, comment)

    def nested(self, w: SpecWriter, lines: list) -> None:
        """A mapper's lines with blocks: strings, or (header, [lines]) pairs."""
        for line in lines:
            if isinstance(line, tuple):
                header, body = line
                with w.block(header):
                    self.nested(w, body)
            else:
                w.line(line)

    def branch_body(self, w: SpecWriter, branch, prefix: tuple) -> None:
        kind = branch[0]
        if kind == "identity":
            w.line("identity")
        elif kind == "named":
            with w.block(f"from {self.names[branch[1].id]}"):
                w.line("identity")
        else:
            items = branch[1]
            before = len(w.lines)
            self.emit_items(w, items, prefix)
            if len(w.lines) == before or all(t.strip().startswith("#") for t, _ in w.lines[before:]):
                w.line("identity")

    def emit_merge(self, w: SpecWriter, item: MergeItem, prefix: tuple) -> None:
        m = item.op
        inner_prefix = self.item_path(item)
        if inner_prefix[:len(prefix)] != prefix:
            inner_prefix = prefix
        branches = item.branches
        same_shapes = all(a.shape == m.out.shape for a in m.primary)
        if m.merge == "add" and len(branches) == 2 and same_shapes and any(b[0] == "identity" for b in branches):
            body = [b for b in branches if b[0] != "identity"][0]
            with w.block("residual"):
                self.branch_body(w, body, inner_prefix)
            return
        if m.merge == "add" and len(branches) == 2 and same_shapes and all(b[0] == "region" for b in branches):
            main, short = sorted(branches, key=lambda b: -sum(len(i.ops()) for i in b[1]))
            with w.block("residual"):
                self.branch_body(w, main, inner_prefix)
            with w.block("shortcut"):
                self.branch_body(w, short, inner_prefix)
            return
        if m.merge == "matmul":
            if "matmul" not in _block_keywords():
                self.problems.append(Problem(".".join(m.path), "matmul", "the `matmul:` block is not in this version of the language"))
                w.comment(f"NOT MAPPED: {'.'.join(m.path) or '(forward)'}: a matmul of two computed tensors")
                return
        header = {"add": "add", "mul": "multiply", "cat": "concat", "matmul": "matmul"}[m.merge]
        if m.merge == "cat" and m.dim != 1:
            header += f" dim={m.dim}"
        with w.block(header):
            for b in branches:
                if b[0] == "identity":
                    w.line("branch: identity")
                    continue
                sub = SpecWriter()
                self.branch_body(sub, b, inner_prefix)
                real = [ln for ln in sub.lines if not ln[0].lstrip().startswith("#")]
                if len(sub.lines) == 1 and len(real) == 1 and not real[0][0].rstrip().endswith(":"):
                    text, comment = real[0]
                    w.line(f"branch: {text.strip()}", comment)
                    continue
                with w.block("branch"):
                    indent = " " * (w.depth * w.indent)
                    for text, comment in sub.lines:
                        w.lines.append((indent + text if text else text, comment))


def _block_keywords() -> set:
    from ..syntax import BLOCK_KEYWORDS

    return set(BLOCK_KEYWORDS)


def write(plan: Plan, inputs: list, allow_partial: bool, header: list) -> tuple[str, list]:
    """The spec text and the problems (ops not mapped)."""
    w = SpecWriter()
    for line in header:
        w.comment(line)
    writer = Writer(plan, allow_partial)
    for v in inputs:
        dtype = str(v.dtype).replace("torch.", "")
        shape = v.shape[1:]
        shape_text = "x".join(map(str, shape)) if len(shape) > 1 else (str(shape[0]) if shape else "1")
        w.line(f"input {plan.names[v.id]} {shape_text}" + ("" if dtype == "float32" else f" dtype={dtype}"))
    current = inputs[0] if inputs else None
    for entry, target, items, is_named in plan.segments:
        if is_named:
            with w.block(f"from {plan.names[entry.id]} as {plan.names[target.id]}"):
                before = len(w.lines)
                writer.emit_items(w, items, ())
                if len(w.lines) == before:
                    w.line("identity")
            current = target
        elif entry is current:
            writer.emit_items(w, items, ())
        else:
            with w.block(f"from {plan.names[entry.id]}"):
                writer.emit_items(w, items, ())
    _unique_names(w.lines)
    return w.text(), writer.problems


def _unique_names(lines: list) -> None:
    """A module applied twice (ResNet's one `relu`) names one row; names are unique per block."""
    import re

    stack: list = [(-1, set())]
    for i, (text, comment) in enumerate(lines):
        stripped = text.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(text) - len(stripped)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        used = stack[-1][1]
        match = re.search(r" name=([A-Za-z_][A-Za-z0-9_]*)$", text)
        if match:
            if match.group(1) in used:
                lines[i] = (text[: match.start()], comment)
            else:
                used.add(match.group(1))
        stack.append((indent, set()))
