"""What changed between two networks: rows aligned layer by layer, with shape and count deltas.

Alignment is by block path first (`layer2.0.conv1` in both is the same layer), then by order:
between two rows matched by path, the rows left over are paired in sequence where their kinds
agree (a layer inserted before unnamed layers shifts their index paths, but not their order).
What is left unpaired was added or removed.

Per-layer numbers are what the row contributes to the network: one instance × ``repeat``.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from difflib import SequenceMatcher

from .formatting import count
from .summary import LayerRow, Summary
from .symbolic import Dim, Poly, to_json
from .tensor import format_shape

SCHEMA = "nnshape.diff/1"
TOTALS = (("params", "total_params"), ("trainable_params", "trainable_params"), ("buffers", "total_buffers"), ("macs", "total_macs"))


def align(old: tuple[LayerRow, ...], new: tuple[LayerRow, ...]) -> list[tuple[LayerRow | None, LayerRow | None]]:
    """Pairs (old, new) in network order; None on one side for a removed or added row."""
    pairs: list[tuple[LayerRow | None, LayerRow | None]] = []
    i = j = 0
    for a, b in _common_order([(r.path, r.kind) for r in old], [(r.path, r.kind) for r in new]):
        pairs.extend(_by_order(old[i:a], new[j:b]))
        pairs.append((old[a], new[b]))
        i, j = a + 1, b + 1
    pairs.extend(_by_order(old[i:], new[j:]))
    return pairs


SMALL_GAP = 250_000  # old × new rows between two path matches that difflib may pair (its cost grows as the product)


def _by_order(old: tuple[LayerRow, ...], new: tuple[LayerRow, ...]) -> list[tuple[LayerRow | None, LayerRow | None]]:
    """Rows between two path matches: pair those of the same kind in order; the rest are added or removed."""
    if not old or not new:
        return [(r, None) for r in old] + [(None, r) for r in new]
    if len(old) * len(new) <= SMALL_GAP:
        matcher = SequenceMatcher(None, [(r.kind, r.depth) for r in old], [(r.kind, r.depth) for r in new], autojunk=False)
        matches = [(a0 + k, b0 + k) for a0, b0, size in matcher.get_matching_blocks() for k in range(size)]
    else:  # a huge gap: the n-th row of a kind and depth pairs with the n-th such row, where order allows
        matches = _common_order(_numbered([(r.kind, r.depth) for r in old]), _numbered([(r.kind, r.depth) for r in new]))
    out: list[tuple[LayerRow | None, LayerRow | None]] = []
    i = j = 0
    for a, b in matches:
        out.extend((r, None) for r in old[i:a])
        out.extend((None, r) for r in new[j:b])
        out.append((old[a], new[b]))
        i, j = a + 1, b + 1
    out.extend((r, None) for r in old[i:])
    out.extend((None, r) for r in new[j:])
    return out


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
    the longest increasing run of new-positions taken in old order (patience sorting)."""
    position = {key: j for j, key in enumerate(new)}
    candidates = [(i, position[key]) for i, key in enumerate(old) if key in position]
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


def _total(row: LayerRow, attr: str) -> Dim:
    return getattr(row, attr) * row.repeat


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
        row = self.old if side == "old" else self.new
        return _total(row, attr) if row else 0

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
    for attr in ("input_shapes", "output_shape", "dtype", "repeat", "params", "trainable_params", "buffers", "macs"):
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
        return row.label + (f" × {row.repeat:,}" if row.repeat > 1 else "")

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
    if not diff.changed:
        return f"No change: {diff.old.source} and {diff.new.source} have the same layers, shapes, parameters and MACs."
    return f"{diff.old.source} → {diff.new.source}: {c['added']} added, {c['removed']} removed, {c['changed']} changed, {c['unchanged']} unchanged rows"


def to_markdown(diff: Diff, show_all: bool = False, depth: int | None = None) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### nnshape diff: `{esc(diff.old.source)}` → `{esc(diff.new.source)}`", ""]
    if not diff.changed:
        return "\n".join(lines + ["No change in layers, shapes, parameters or MACs.", ""])
    lines += ["| | old | new | Δ | Δ % |", "|---|---:|---:|---:|---:|"]
    for what, old, new, d, pct in total_lines(diff):
        lines.append(f"| {what} | {esc(old)} | {esc(new)} | {esc(d)} | {pct} |")
    rows = visible(diff, show_all, depth)
    if rows:
        lines += ["", "| | Path | Layer | Output shape | Params | Δ params | Δ MACs |", "|---|---|---|---|---:|---:|---:|"]
        for rc in rows:
            cell = layer_cells(rc)
            layer = "&nbsp;" * (3 * rc.row.depth) + f"`{esc(_label(rc))}`"
            lines.append(
                f"| {rc.status} | `{esc(cell['path'])}` | {layer} | {esc(cell['output'])} | {cell['params']} | {cell['dparams']} | {cell['dmacs']} |"
            )
    c = diff.counts()
    lines += ["", f"{c['added']} added, {c['removed']} removed, {c['changed']} changed, {c['unchanged']} unchanged rows.", ""]
    return "\n".join(lines)


def to_table(diff: Diff, show_all: bool = False, depth: int | None = None, *, color: bool = False, width: int | None = None) -> str:
    """Totals, then the changed rows (all with ``show_all``), laid out without rich's Table,
    which measures every cell and takes minutes on a 100,000-row diff; rich only colours."""
    from .render.table import lay_out

    lines: list[tuple[str, str]] = [(headline(diff), "bold")]  # (text, style)
    if diff.changed:
        header, *rows = lay_out(["", "Old", "New", "Δ", "Δ %"], [list(t) for t in total_lines(diff)], {1, 2, 3, 4})
        lines += [("", ""), (header, "bold"), ("─" * len(header), "dim")] + [(r, "") for r in rows]
        changes = visible(diff, show_all, depth)
        if changes:
            cells = [layer_cells(rc) for rc in changes]
            texts = [[STATUS_MARK[rc.status], c["path"], c["layer"], c["output"], c["params"], c["dparams"], c["dmacs"]] for rc, c in zip(changes, cells)]
            header, *rows = lay_out(["", "Path", "Layer", "Output shape", "Params", "Δ params", "Δ MACs"], texts, {4, 5, 6})
            lines += [("", ""), (header, "bold"), ("─" * len(header), "dim")]
            lines += [(r, STATUS_STYLE[rc.status]) for r, rc in zip(rows, changes)]
    if not color:
        return "".join(text + "\n" for text, _ in lines)
    import io

    from rich.console import Console
    from rich.text import Text

    out = Text(no_wrap=True, overflow="ignore")
    for text, style in lines:
        out.append(text + "\n", style=style)
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=width or 10_000, highlight=False).print(out, end="", soft_wrap=True)
    return buffer.getvalue()


STATUS_STYLE = {"added": "green", "removed": "red", "changed": "yellow", "unchanged": ""}
