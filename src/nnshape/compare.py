"""What changed between two networks: rows aligned layer by layer, with shape and count deltas.

Alignment is by block path first (`layer2.0.conv1` in both is the same layer), then by order:
between two rows matched by path, the rows left over are paired in sequence where their kinds
agree (a layer inserted before unnamed layers shifts their index paths, but not their order).
What is left unpaired was added or removed.

Per-layer numbers are what the row contributes to the network: one instance × ``repeat``.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from .summary import LayerRow, Summary
from .symbolic import Dim, Poly, to_json

SCHEMA = "nnshape.diff/1"
TOTALS = (("params", "total_params"), ("trainable_params", "trainable_params"), ("buffers", "total_buffers"), ("macs", "total_macs"))


def align(old: tuple[LayerRow, ...], new: tuple[LayerRow, ...]) -> list[tuple[LayerRow | None, LayerRow | None]]:
    """Pairs (old, new) in network order; None on one side for a removed or added row."""
    pairs: list[tuple[LayerRow | None, LayerRow | None]] = []
    by_path = SequenceMatcher(None, [(r.path, r.kind) for r in old], [(r.path, r.kind) for r in new], autojunk=False)
    i = j = 0
    for block in by_path.get_matching_blocks():
        pairs.extend(_by_order(old[i:block.a], new[j:block.b]))
        pairs.extend(zip(old[block.a:block.a + block.size], new[block.b:block.b + block.size]))
        i, j = block.a + block.size, block.b + block.size
    return pairs


def _by_order(old: tuple[LayerRow, ...], new: tuple[LayerRow, ...]) -> list[tuple[LayerRow | None, LayerRow | None]]:
    """Rows between two path matches: pair those of the same kind in order; the rest are added or removed."""
    if not old or not new:
        return [(r, None) for r in old] + [(None, r) for r in new]
    out: list[tuple[LayerRow | None, LayerRow | None]] = []
    matcher = SequenceMatcher(None, [(r.kind, r.depth) for r in old], [(r.kind, r.depth) for r in new], autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(zip(old[a0:a1], new[b0:b1]))
        else:
            out.extend((r, None) for r in old[a0:a1])
            out.extend((None, r) for r in new[b0:b1])
    return out


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

    def to_dict(self) -> dict:
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
            "layers": [r.to_dict() for r in self.rows],
        }


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
    from .formatting import count

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
    from .tensor import format_shape

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
    from .formatting import count
    from .tensor import format_shape

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
    from .formatting import count

    params, macs = rc.to_dict()["params"], rc.to_dict()["macs"]
    return {
        "status": rc.status,
        "path": _path(rc),
        "layer": ("   " * rc.row.depth) + _label(rc),
        "output": _shape_change(rc),
        "params": count(rc.amount("params", "new" if rc.new else "old")),
        "dparams": _signed(rc.amount("params", "new") - rc.amount("params", "old")) if params["delta"] != 0 else "",
        "dmacs": _signed(rc.amount("macs", "new") - rc.amount("macs", "old")) if macs["delta"] != 0 else "",
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
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    style = {"added": "green", "removed": "red", "changed": "yellow", "unchanged": ""} if color else {}
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width or 140, highlight=False, soft_wrap=False)
    console.print(Text(headline(diff), style="bold" if color else ""), soft_wrap=True)
    if not diff.changed:
        return buffer.getvalue()
    console.print()
    totals = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for title, justify in (("", "left"), ("Old", "right"), ("New", "right"), ("Δ", "right"), ("Δ %", "right")):
        totals.add_column(title, justify=justify, no_wrap=True)
    for row in total_lines(diff):
        totals.add_row(*row)
    console.print(totals)
    rows = visible(diff, show_all, depth)
    if rows:
        console.print()
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for title, justify in (("", "left"), ("Path", "left"), ("Layer", "left"), ("Output shape", "left"), ("Params", "right"), ("Δ params", "right"), ("Δ MACs", "right")):
            table.add_column(title, justify=justify, no_wrap=title not in ("Layer", "Path"), overflow="fold")
        for rc in rows:
            cell = layer_cells(rc)
            table.add_row(
                Text(STATUS_MARK[rc.status], style=style.get(rc.status, "")), cell["path"],
                Text(cell["layer"], style=style.get(rc.status, "")), cell["output"], cell["params"], cell["dparams"], cell["dmacs"],
            )
        console.print(table)
    return buffer.getvalue()
