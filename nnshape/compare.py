"""What changed between two networks: rows aligned on structure, with shape and count deltas.

Rows form a tree (blocks, def calls and repeats hold their body's rows). Two networks are aligned
level by level, from the top: among the rows of one level, those with the same name (`conv1`,
`layer2`, `shortcut`) pair first; between them, rows with the same kind and statement (`inv 24 32
s=2`, `batchnorm2d`) pair in order; what is left between two pairs is paired by kind, in order
(a changed layer); the rest was added or removed, with everything inside it. A paired block's
body is then aligned the same way. Index paths play no part: one layer inserted before ten def
calls shifts all their paths (`4.0` becomes `5.0`) but is one added row, not a cascade.

Per-layer numbers follow the summary's rule: a `× N` row's numbers are one instance's (each);
``repeat`` says how many there are (docs/conventions.md, "Repeated rows").
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

from .formatting import count
from .safetext import one_line
from .summary import ROW_NUMBERS, LayerRow, Summary
from .symbolic import Dim, Poly, to_json
from .tensor import format_shape

SCHEMA = "nnshape.diff/1"
TOTALS = (("params", "total_params"), ("trainable_params", "trainable_params"), ("buffers", "total_buffers"), ("macs", "total_macs"))

Pair = tuple[LayerRow | None, LayerRow | None]


def align(old: tuple[LayerRow, ...], new: tuple[LayerRow, ...]) -> list[Pair]:
    """Pairs (old, new) in network order; None on one side for a removed or added row."""
    old_kids, new_kids = _children(old), _children(new)
    budget = [LCS_WORK]  # Myers steps left for the whole diff; past them, occurrence order
    out: list[Pair] = []
    # a stack of work instead of recursion: a tree may be thousands of levels deep
    work: list[tuple] = [("level", old_kids[-1], new_kids[-1])]
    while work:
        task = work.pop()
        if task[0] == "emit":
            out.append(task[1])
            continue
        if task[0] == "subtree":  # an added or removed row and everything inside it
            _, rows, index, side = task
            end = _subtree_end(rows, index)
            out.extend((r, None) if side == "old" else (None, r) for r in rows[index:end])
            continue
        _, a_idx, b_idx = task
        pending: list[tuple] = []
        for i, j in _align_level([old[i] for i in a_idx], [new[j] for j in b_idx], budget):
            if i is not None and j is not None:
                a, b = a_idx[i], b_idx[j]
                pending.append(("emit", (old[a], new[b])))
                if a in old_kids or b in new_kids:  # a leaf has no level below it
                    pending.append(("level", old_kids.get(a, []), new_kids.get(b, [])))
            elif i is not None:
                pending.append(("subtree", old, a_idx[i], "old"))
            else:
                pending.append(("subtree", new, b_idx[j], "new"))
        work.extend(reversed(pending))
    return out


def _children(rows: tuple[LayerRow, ...]) -> dict[int, list[int]]:
    """Row index -> the indices of its direct children (-1: the top level), from the depths."""
    kids: dict[int, list[int]] = {-1: []}
    stack: list[int] = []  # the open ancestors of the current row, by depth
    for index, row in enumerate(rows):
        del stack[row.depth:]
        kids.setdefault(stack[-1] if stack else -1, []).append(index)
        stack.append(index)
    return kids


def _subtree_end(rows: tuple[LayerRow, ...], index: int) -> int:
    depth = rows[index].depth
    end = index + 1
    while end < len(rows) and rows[end].depth > depth:
        end += 1
    return end


def _name(row: LayerRow) -> str | None:
    """The row's own name (`conv1`, `shortcut`), or None for an index path component."""
    last = row.path.rsplit(".", 1)[-1]
    return None if last.isdigit() else last


def _statement(row: LayerRow) -> tuple:
    return (row.kind, " ".join(row.label.split()))


def _align_level(old: list[LayerRow], new: list[LayerRow], budget: list[int]) -> list[tuple[int | None, int | None]]:
    """Index pairs for the rows of one level: names first, then equal statements, then kinds."""
    if not old or not new:
        return [(i, None) for i in range(len(old))] + [(None, j) for j in range(len(new))]
    out: list[tuple[int | None, int | None]] = []
    i = j = 0
    for a, b in _common_order([_name(r) for r in old], [_name(r) for r in new]) + [(len(old), len(new))]:
        out.extend(_gap(old, new, i, a, j, b, _statement, _by_kind, budget))
        if a < len(old):
            out.append((a, b))
        i, j = a + 1, b + 1
    return out


def _by_kind(old, new, i0: int, i1: int, j0: int, j1: int, budget: list[int]) -> list[tuple[int | None, int | None]]:
    return _gap(old, new, i0, i1, j0, j1, lambda r: r.kind, None, budget)


def _gap(old, new, i0: int, i1: int, j0: int, j1: int, key, fill, budget: list[int]) -> list[tuple[int | None, int | None]]:
    """Pairs for old[i0:i1] and new[j0:j1]: rows with equal ``key`` in order, and between two such
    pairs what ``fill`` pairs (None: nothing; those rows were removed or added)."""
    matches = _matches([key(r) for r in old[i0:i1]], [key(r) for r in new[j0:j1]], budget)
    out: list[tuple[int | None, int | None]] = []
    i, j = i0, j0
    for a, b in [(a + i0, b + j0) for a, b in matches] + [(i1, j1)]:
        if fill is not None and i < a and j < b:
            out.extend(fill(old, new, i, a, j, b, budget))
        else:
            out.extend((x, None) for x in range(i, a))
            out.extend((None, y) for y in range(j, b))
        if a < i1:
            out.append((a, b))
        i, j = a + 1, b + 1
    return out


def _matches(old_keys: list, new_keys: list, budget: list[int]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of two key lists: the common ends, then Myers'
    O((N+M)·D) difference in between (D = rows added plus removed). Once the diff has spent its
    ``budget`` of Myers steps (very different long levels), the n-th occurrence of a key pairs with
    the n-th, in order (O(n log n))."""
    n, m = len(old_keys), len(new_keys)
    head = 0
    while head < n and head < m and old_keys[head] == new_keys[head]:
        head += 1
    tail = 0
    while tail < n - head and tail < m - head and old_keys[n - 1 - tail] == new_keys[m - 1 - tail]:
        tail += 1
    a, b = old_keys[head : n - tail], new_keys[head : m - tail]
    core = None
    if not a or not b or set(a).isdisjoint(b):
        core = []
    elif _fewest_edits(a, b) * (len(a) + len(b)) <= budget[0]:
        core = _myers(a, b, budget)
    if core is None:
        core = _common_order(_numbered(a), _numbered(b))
    return [(k, k) for k in range(head)] + [(x + head, y + head) for x, y in core] + [(n - tail + k, m - tail + k) for k in range(tail)]


LCS_WORK = 2_000_000  # steps of Myers' search in one diff (about a second) before occurrence order


def _fewest_edits(a: list, b: list) -> int:
    """A lower bound of D: keys that one side has more often than the other must be added or removed."""
    counts: dict = {}
    for key in a:
        counts[key] = counts.get(key, 0) + 1
    for key in b:
        counts[key] = counts.get(key, 0) - 1
    return sum(abs(c) for c in counts.values())


def _myers(a: list, b: list, budget: list[int]) -> list[tuple[int, int]] | None:
    """The matched index pairs of a shortest edit script from ``a`` to ``b`` (E. Myers, "An O(ND)
    difference algorithm", 1986), or None when it would take more than the ``budget`` left (the
    steps it took are taken from it either way)."""
    n, m = len(a), len(b)
    if not n or not m:
        return []
    v = {1: 0}  # diagonal k = x - y -> the furthest x reached on it
    trace: list[dict] = []
    work = 0
    for d in range(n + m + 1):
        trace.append(dict(v))
        for k in range(-d, d + 1, 2):
            x = v[k + 1] if k == -d or (k != d and v[k - 1] < v[k + 1]) else v[k - 1] + 1
            y = x - k
            start = x
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            v[k] = x
            work += 1 + x - start
            if x >= n and y >= m:
                budget[0] -= work
                return _backtrack(trace, n, m)
        work += d  # copying the round's diagonals into the trace
        if work > budget[0]:
            budget[0] = 0
            return None
    return None  # pragma: no cover - d = n + m always reaches the end


def _backtrack(trace: list[dict], x: int, y: int) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]
        k = x - y
        prev_k = k + 1 if k == -d or (k != d and v[k - 1] < v[k + 1]) else k - 1
        prev_x = v[prev_k]
        prev_y = prev_x - prev_k
        while x > prev_x and y > prev_y:
            x, y = x - 1, y - 1
            pairs.append((x, y))
        if d:
            x, y = prev_x, prev_y
    return pairs[::-1]


def _numbered(keys: list) -> list[tuple]:
    """Each key with its occurrence number, so that every key is unique."""
    seen: dict = {}
    out = []
    for key in keys:
        seen[key] = seen.get(key, -1) + 1
        out.append((key, seen[key]))
    return out


def _common_order(old: list, new: list) -> list[tuple[int, int]]:
    """Index pairs of the longest common subsequence of two lists of unique keys, in O(n log n):
    the longest increasing run of new-positions taken in old order (patience sorting). None keys
    match nothing."""
    position = {key: j for j, key in enumerate(new) if key is not None}
    candidates = [(i, position[key]) for i, key in enumerate(old) if key is not None and key in position]
    tails: list[int] = []  # tails[k]: the smallest new-position ending an increasing run of length k + 1
    tail_at: list[int] = []  # ... and its index in candidates
    previous: list[int] = []  # for each candidate, the candidate before it in its best run
    for index, (_, j) in enumerate(candidates):
        k = bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_at.append(index)
        else:
            tails[k] = j
            tail_at[k] = index
        previous.append(tail_at[k - 1] if k else -1)
    run: list[tuple[int, int]] = []
    index = tail_at[-1] if tail_at else -1
    while index >= 0:
        run.append(candidates[index])
        index = previous[index]
    return run[::-1]


def delta(old: Dim, new: Dim) -> dict:
    """{old, new, delta, percent}: percent is None where it is not a number (symbolic, or from 0)."""
    change = new - old
    percent = None
    if not isinstance(old, Poly) and not isinstance(change, Poly) and old:
        percent = round(100 * change / old, 2)
    return {"old": to_json(old), "new": to_json(new), "delta": to_json(change), "percent": percent}


@dataclass(frozen=True)
class RowChange:
    status: str  # "added" | "removed" | "changed" | "unchanged"
    old: LayerRow | None
    new: LayerRow | None
    changes: tuple[str, ...]  # which properties differ: kind, label, input_shapes, output_shape, dtype, params, ...

    @property
    def row(self) -> LayerRow:
        return self.new or self.old  # type: ignore[return-value]

    def amount(self, attr: str, side: str) -> Dim:
        """One instance's ``attr`` on ``side`` (0 where the row is absent): the `each` rule."""
        row = self.old if side == "old" else self.new
        return getattr(row, attr) if row else 0

    def to_dict(self) -> dict:
        def side(row: LayerRow | None):
            if row is None:
                return None
            return {
                "path": row.path, "kind": row.kind, "label": row.label, "line": row.line, "depth": row.depth,
                "is_block": row.is_block, "repeat": row.repeat,
                "input_shapes": [[to_json(d) for d in s] for s in row.input_shapes],
                "output_shape": [to_json(d) for d in row.output_shape],
                "params": to_json(row.params), "trainable_params": to_json(row.trainable_params),
                "buffers": to_json(row.buffers), "macs": to_json(row.macs),
                **({"shares": {"what": row.shares[0], "path": row.shares[1]}} if row.shares is not None else {}),
            }

        return {
            "status": self.status,
            "path": self.row.path,
            "changes": list(self.changes),
            "old": side(self.old),
            "new": side(self.new),
            "params": delta(self.amount("params", "old"), self.amount("params", "new")),
            "macs": delta(self.amount("macs", "old"), self.amount("macs", "new")),
        }


def _changes(old: LayerRow, new: LayerRow) -> tuple[str, ...]:
    found = []
    if old.kind != new.kind:
        found.append("kind")
    if " ".join(old.label.split()) != " ".join(new.label.split()):
        found.append("label")
    for attr in ("input_shapes", "output_shape", "dtype", "repeat", "params", "trainable_params", "buffers", "macs", "shares"):
        if getattr(old, attr) != getattr(new, attr):
            found.append(attr)
    return tuple(found)


@dataclass(frozen=True)
class Diff:
    old: Summary
    new: Summary
    rows: tuple[RowChange, ...]

    @property
    def output_changed(self) -> bool:
        return self.old.output_shape != self.new.output_shape

    @property
    def changed(self) -> bool:
        return self.output_changed or any(r.status != "unchanged" for r in self.rows) or any(
            getattr(self.old, a) != getattr(self.new, a) for _, a in TOTALS
        )

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0, "unchanged": 0}
        for r in self.rows:
            out[r.status] += 1
        return out

    def totals(self) -> dict[str, dict]:
        out = {key: delta(getattr(self.old, attr), getattr(self.new, attr)) for key, attr in TOTALS}
        out["flops"] = delta(self.old.total_flops, self.new.total_flops)
        return out

    def to_dict(self, layers: bool = True) -> dict:
        """The JSON document (schema nnshape.diff/1); ``layers=False`` leaves the rows out."""

        def side(s: Summary) -> dict:
            return {
                "source": s.source, "batch": s.batch,
                "output_shape": [to_json(d) for d in s.output_shape],
                "total_params": to_json(s.total_params), "total_macs": to_json(s.total_macs),
            }

        return {
            "schema": SCHEMA,
            "row_numbers": ROW_NUMBERS,
            "old": side(self.old),
            "new": side(self.new),
            "changed": self.changed,
            "output_shape": {
                "old": [to_json(d) for d in self.old.output_shape],
                "new": [to_json(d) for d in self.new.output_shape],
                "changed": self.output_changed,
            },
            "totals": self.totals(),
            "counts": self.counts(),
            **({"layers": [r.to_dict() for r in self.rows]} if layers else {}),
        }

    def __str__(self) -> str:
        """The changed rows and totals, as `nnshape diff` prints them in a pipe."""
        return to_table(self)

    def __repr__(self) -> str:
        c = self.counts()
        return f"<Diff {self.old.source} -> {self.new.source}: {c['added']} added, {c['removed']} removed, {c['changed']} changed>"

    def json_chunks(self):
        """``to_dict()`` as JSON text in pieces, one row each (render.data.json_chunks)."""
        from .render.data import json_chunks

        return json_chunks(self.to_dict(layers=False), "layers", (r.to_dict() for r in self.rows))


def compare(old: Summary, new: Summary) -> Diff:
    rows = []
    for a, b in align(old.layers, new.layers):
        if a is None:
            rows.append(RowChange("added", None, b, ()))
        elif b is None:
            rows.append(RowChange("removed", a, None, ()))
        else:
            changes = _changes(a, b)
            rows.append(RowChange("changed" if changes else "unchanged", a, b, changes))
    return Diff(old, new, tuple(rows))


# ------------------------------------------------------------------------- text renderings
def _signed(value: Dim) -> str:
    if isinstance(value, Poly):
        return f"Δ {count(value)}"
    return f"+{value:,}" if value > 0 else f"{value:,}" if value < 0 else "0"


def _pct(d: dict) -> str:
    if d["delta"] == 0:
        return "0%"
    if d["percent"] is None:
        return "—"
    return f"{d['percent']:+.2f}%"


def _shape_change(rc: RowChange) -> str:
    if rc.old is None or rc.new is None:
        return format_shape(rc.row.output_shape)
    a, b = format_shape(rc.old.output_shape), format_shape(rc.new.output_shape)
    return a if a == b else f"{a} → {b}"


def _label(rc: RowChange) -> str:
    def one(row: LayerRow) -> str:
        return row.label + (f" × {row.repeat:,}" if row.repeat > 1 else "") + (f" ({row.shares_text})" if row.shares else "")

    if rc.old and rc.new and one(rc.old) != one(rc.new):
        return f"{one(rc.old)} → {one(rc.new)}"
    return one(rc.row)


def _path(rc: RowChange) -> str:
    if rc.old and rc.new and rc.old.path != rc.new.path:
        return f"{rc.old.path} → {rc.new.path}"
    return rc.row.path


def visible(diff: Diff, show_all: bool, depth: int | None) -> list[RowChange]:
    return [r for r in diff.rows if (show_all or r.status != "unchanged") and (depth is None or r.row.depth <= depth)]


def total_lines(diff: Diff) -> list[tuple[str, str, str, str, str]]:
    """(what, old, new, delta, percent) rows for the totals."""
    out = [("Output shape", format_shape(diff.old.output_shape), format_shape(diff.new.output_shape), "changed" if diff.output_changed else "same", "")]
    names = {"params": "Params", "trainable_params": "Trainable params", "buffers": "Buffers", "macs": "MACs", "flops": "FLOPs"}
    totals = diff.totals()
    for key, title in names.items():
        d = totals[key]
        old, new = (diff.old, diff.new)
        attr = dict(TOTALS).get(key, "total_flops")
        out.append((title, count(getattr(old, attr)), count(getattr(new, attr)), _signed(getattr(new, attr) - getattr(old, attr)), _pct(d)))
    return out


STATUS_MARK = {"added": "+", "removed": "-", "changed": "~", "unchanged": " "}


LAYER_HEADERS = ("", "Path", "Layer", "Output shape", "Params", "Δ params", "Δ MACs")


def layer_notes(rows: list[RowChange]) -> list[str]:
    """Qualifiers of the row table's titles: with a `× N` row among ``rows`` the numbers say ``(each)``."""
    each = any(row.repeat > 1 for rc in rows for row in (rc.old, rc.new) if row is not None)
    return ["(each)" if each and i >= 4 else "" for i in range(len(LAYER_HEADERS))]


def layer_headers(rows: list[RowChange]) -> list[str]:
    return [title + (f" {note}" if note else "") for title, note in zip(LAYER_HEADERS, layer_notes(rows))]


def layer_cells(rc: RowChange) -> dict[str, str]:
    params = rc.amount("params", "new") - rc.amount("params", "old")
    macs = rc.amount("macs", "new") - rc.amount("macs", "old")
    return {
        "status": rc.status,
        "path": _path(rc),
        "layer": ("   " * rc.row.depth) + _label(rc),
        "output": _shape_change(rc),
        "params": count(rc.amount("params", "new" if rc.new else "old")),
        "dparams": _signed(params) if params != 0 else "",
        "dmacs": _signed(macs) if macs != 0 else "",
    }


def headline(diff: Diff) -> str:
    c = diff.counts()
    old, new = one_line(diff.old.source), one_line(diff.new.source)  # file names: one line, nothing raw
    if not diff.changed:
        return f"No change: {old} and {new} have the same layers, shapes, parameters and MACs."
    return f"{old} → {new}: {c['added']} added, {c['removed']} removed, {c['changed']} changed, {c['unchanged']} unchanged rows"


def code_span(text: str) -> str:
    """``text`` as one Markdown code span, whatever it holds: fenced by one backtick more than
    its longest run of backticks (CommonMark), padded when it starts or ends with one, ``|``
    escaped for a GFM table cell, on one line. Inside a code span, ``<``, ``*`` and ``[`` are
    literal, so a file name cannot add HTML, emphasis or links to a pull-request comment."""
    text = one_line(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ") and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def to_markdown(diff: Diff, show_all: bool = False, depth: int | None = None) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### nnshape diff: {code_span(diff.old.source)} → {code_span(diff.new.source)}", ""]
    if not diff.changed:
        return "\n".join(lines + ["No change in layers, shapes, parameters or MACs.", ""])
    lines += ["| | old | new | Δ | Δ % |", "|---|---:|---:|---:|---:|"]
    for what, old, new, d, pct in total_lines(diff):
        lines.append(f"| {what} | {esc(old)} | {esc(new)} | {esc(d)} | {pct} |")
    rows = visible(diff, show_all, depth)
    if rows:
        lines += ["", "|" + " | ".join(layer_headers(rows)) + " |", "|---|---|---|---|---:|---:|---:|"]
        for rc in rows:
            cell = layer_cells(rc)
            layer = "&nbsp;" * (3 * rc.row.depth) + code_span(_label(rc))
            lines.append(
                f"| {rc.status} | {code_span(cell['path'])} | {layer} | {esc(cell['output'])} | {cell['params']} | {cell['dparams']} | {cell['dmacs']} |"
            )
    c = diff.counts()
    lines += ["", f"{c['added']} added, {c['removed']} removed, {c['changed']} changed, {c['unchanged']} unchanged rows.", ""]
    return "\n".join(lines)


def to_table(diff: Diff, show_all: bool = False, depth: int | None = None, *, color: bool = False, width: int | None = None) -> str:
    """Totals, then the changed rows (all with ``show_all``), laid out without rich's Table,
    which measures every cell and takes minutes on a 100,000-row diff; rich only colours."""
    from .render.fit import Column, fit
    from .render.table import lay_out, wrap_value

    lines: list[tuple[str, str]] = [(text, "bold") for text in wrap_value(headline(diff), width)]  # (text, style)
    if diff.changed:
        header, *rows = lay_out(["", "Old", "New", "Δ", "Δ %"], [list(t) for t in total_lines(diff)], {1, 2, 3, 4})
        lines += [("", ""), (header, "bold"), ("─" * len(header), "dim")] + [(r, "") for r in rows]
        changes = visible(diff, show_all, depth)
        if changes:
            cells = [layer_cells(rc) for rc in changes]
            notes = layer_notes(changes)
            columns = [
                Column("status", "", [STATUS_MARK[rc.status] for rc in changes]),
                Column("path", "Path", [("", c["path"], "") for c in cells], shrink=True, drop=0),
                Column("layer", "Layer", [("   " * rc.row.depth, _label(rc), "") for rc in changes], shrink=True),
                *(
                    Column(key, LAYER_HEADERS[i], [c[key] for c in cells], right=i >= 4, note=notes[i])
                    for i, key in enumerate(("output", "params", "dparams", "dmacs"), 3)
                ),
            ]
            fitted = fit(columns, width)
            if columns[2] in fitted.columns and columns[2].width < columns[2].natural():
                columns[2].cells = [(" " * rc.row.depth, _label(rc), "") for rc in changes]  # labels are cut: indent less
                fitted = fit(columns, width)
            header, rows = fitted.header_lines(), fitted.rows()
            lines += [("", "")] + [(h, "bold") for h in header] + [("─" * max(map(len, header)), "dim")]
            lines += [(r, STATUS_STYLE[rc.status]) for r, rc in zip(rows, changes)]
            if fitted.dropped:
                lines += [(text, "dim") for text in wrap_value(f"Left out to fit {width} columns: {', '.join(fitted.dropped)}; --wide shows everything.", width)]
    if not color:
        return "".join(text + "\n" for text, _ in lines)
    import io

    from rich.console import Console
    from rich.text import Text

    out = Text(no_wrap=True, overflow="ignore")
    for text, style in lines:
        out.append(text + "\n", style=style)
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=10_000, highlight=False).print(out, end="", soft_wrap=True)
    return buffer.getvalue()


STATUS_STYLE = {"added": "green", "removed": "red", "changed": "yellow", "unchanged": ""}
