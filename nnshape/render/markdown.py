"""A GitHub-flavoured markdown table (for pull-request comments and docs)."""

from __future__ import annotations

from ..summary import Summary
from .cells import HEADERS, RIGHT, cells, columns_for, footer_lines


def to_markdown(summary: Summary, depth: int | None, extra: tuple[str, ...]) -> str:
    cols = columns_for(extra)
    lines = ["| " + " | ".join(HEADERS[c] for c in cols) + " |"]
    lines.append("|" + "|".join("---:" if c in RIGHT else "---" for c in cols) + "|")
    for cell in cells(summary, depth, cols):
        values = []
        for col in cols:
            text = cell.values[col]
            if col == "layer":
                text = "&nbsp;" * (3 * cell.row.depth) + f"`{text}`" if text else ""
            values.append(text.replace("|", "\\|"))
        lines.append("| " + " | ".join(values) + " |")
    lines.append("")
    for key, value in footer_lines(summary):
        lines.append(f"- **{key}:** {value}")
    return "\n".join(lines) + "\n"
