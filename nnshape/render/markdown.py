"""A GitHub-flavoured markdown table (for pull-request comments and docs)."""

from __future__ import annotations

from ..summary import Summary
from .cells import RIGHT, cells, columns_for, footer_lines, headers


def to_markdown(summary: Summary, depth: int | None, extra: tuple[str, ...], footer: str = "compact", by: str | None = None) -> str:
    if by is not None:
        from .breakdown import to_markdown as breakdown

        lines = [*breakdown(summary, by), ""]
        lines += [f"- **{key}:** {value}" for key, value in footer_lines(summary, footer)]
        return "\n".join(lines) + "\n"
    cols = columns_for(extra)
    rows = cells(summary, depth, cols)
    lines = ["| " + " | ".join(headers(cols, [cell.row for cell in rows])) + " |"]
    lines.append("|" + "|".join("---:" if c in RIGHT else "---" for c in cols) + "|")
    for cell in rows:
        values = []
        for col in cols:
            text = cell.values[col]
            if col == "layer":
                text = "&nbsp;" * (3 * cell.row.depth) + f"`{text}`" if text else ""
            values.append(text.replace("|", "\\|"))
        lines.append("| " + " | ".join(values) + " |")
    lines.append("")
    for key, value in footer_lines(summary, footer):
        lines.append(f"- **{key}:** {value}")
    return "\n".join(lines) + "\n"
