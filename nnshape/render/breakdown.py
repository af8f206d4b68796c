"""`summary --by kind|family`: where the parameters and the compute go, by operator.

What fvcore's `by_operator` and calflops' per-module lists answer: each layer kind (conv2d,
linear, ...) or family (conv, dense, attention, ...) with its layers (a `× N` row counts N), params
and MACs, largest first, and their shares; FLOPs too with --count-elementwise (then a kind
without MACs, a norm or an activation, has its share of the FLOPs). Merges (add, multiply,
residual) hold element-wise FLOPs of their own: they appear as one more group.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import formatting as fmt
from ..summary import Summary
from ..symbolic import Dim, Poly

BY = ("kind", "family")
MERGE_GROUP = "(merges)"


@dataclass
class Group:
    name: str
    layers: int = 0
    params: Dim = 0
    macs: Dim = 0
    flops: Dim = 0  # 2·MACs + element-wise

    def to_dict(self) -> dict:
        from ..symbolic import to_json

        return {"name": self.name, "layers": self.layers, "params": to_json(self.params), "macs": to_json(self.macs), "flops": to_json(self.flops)}


def groups(summary: Summary, by: str) -> list[Group]:
    """The leaf rows (× repeat) summed per kind or family, largest MACs first (then params)."""
    from .. import registry

    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, not {by!r}")
    out: dict[str, Group] = {}
    family: dict[str, str] = {}
    own_merges: Dim = summary.elementwise_flops
    for row in summary.layers:
        if row.is_block:
            continue
        name = row.kind
        if by == "family":
            if name not in family:
                kind = registry.find(name)
                family[name] = kind.family if kind is not None else name
            name = family[name]
        group = out.setdefault(name, Group(name))
        group.layers += row.repeat
        group.params = group.params + row.params * row.repeat
        group.macs = group.macs + row.macs * row.repeat
        flops = (2 * row.macs + row.elementwise_flops) * row.repeat
        group.flops = group.flops + flops
        own_merges = own_merges - row.elementwise_flops * row.repeat
    if summary.count_elementwise and own_merges != 0:  # what add/multiply/residual blocks do themselves
        out[MERGE_GROUP] = Group(MERGE_GROUP, 0, 0, 0, own_merges)
    return sorted(out.values(), key=lambda g: (-_size(g.flops), -_size(g.params), g.name))


def _size(value: Dim) -> float:
    """A sort key: a symbolic count sorts by its value at 1 per symbol (large coefficients first)."""
    if isinstance(value, Poly):
        return float(sum(abs(c) for _, c in value.terms))
    return float(value)


HEADERS = {"name": "Kind", "layers": "Layers", "params": "Params", "params%": "% params", "macs": "MACs", "macs%": "% MACs", "flops": "FLOPs", "flops%": "% FLOPs"}


def rows(summary: Summary, by: str) -> tuple[list[str], list[list[str]]]:
    """Column keys and the cells of each group, then the total."""
    cols = ["name", "layers", "params", "params%", "macs", "macs%"]
    if summary.count_elementwise:
        cols += ["flops", "flops%"]
    total = Group("Total", sum(g.layers for g in groups(summary, by)), summary.total_params, summary.total_macs, summary.total_flops)
    out = []
    for g in groups(summary, by) + [total]:
        cells = {
            "name": g.name, "layers": f"{g.layers:,}" if g.layers or g.name != MERGE_GROUP else "",
            "params": fmt.count(g.params), "params%": fmt.percent(g.params, summary.total_params),
            "macs": fmt.count(g.macs), "macs%": fmt.percent(g.macs, summary.total_macs),
            "flops": fmt.count(g.flops), "flops%": fmt.percent(g.flops, summary.total_flops),
        }
        out.append([cells[c] for c in cols])
    return cols, out


def to_table(summary: Summary, by: str, width: int | None) -> list[str]:
    """The breakdown as text lines, a rule under the header and above the total."""
    from .fit import Column, fit

    cols, cells = rows(summary, by)
    columns = [
        Column(
            c, "Family" if (c == "name" and by == "family") else HEADERS[c], [("", r[i], "") if c == "name" else r[i] for r in cells],
            right=c != "name", shrink=c == "name", drop=DROP.get(c),
        )
        for i, c in enumerate(cols)
    ]
    fitted = fit(columns, width)
    header, body = fitted.header_lines(), fitted.rows()
    rule = "─" * max(map(len, header + body))
    note = []
    if fitted.dropped:
        from .fit import wrap_value

        note = wrap_value(f"Left out to fit {width} columns: {', '.join(fitted.dropped)}; --wide shows everything.", width)
    return [*header, rule, *body[:-1], rule, body[-1], *note]


DROP = {"params%": 0, "layers": 1}  # left out first when the table must fit


def to_markdown(summary: Summary, by: str) -> list[str]:
    cols, cells = rows(summary, by)
    titles = ["Family" if (c == "name" and by == "family") else HEADERS[c] for c in cols]
    lines = ["| " + " | ".join(titles) + " |", "|" + "|".join("---" if c == "name" else "---:" for c in cols) + "|"]
    for r in cells[:-1]:
        lines.append("| " + " | ".join([f"`{r[0]}`", *r[1:]]) + " |")
    lines.append("| " + " | ".join(f"**{v}**" if v else "" for v in cells[-1]) + " |")
    return lines


def to_csv(summary: Summary, by: str) -> str:
    import csv
    import io

    from ..symbolic import to_json

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([by, "layers", "params", "macs", "flops"])
    for g in groups(summary, by):
        writer.writerow([g.name, g.layers, to_json(g.params), to_json(g.macs), to_json(g.flops)])
    return buffer.getvalue()
