"""The summary as an HTML table, for notebooks (`Summary._repr_html_`): no Graphviz, no script.

The same cells and compact footer as the text table; everything from the spec is escaped. A huge
network shows its first MAX_HTML_ROWS rows and says how many more there are (a notebook cell with
100,000 rows helps nobody).
"""

from __future__ import annotations

from html import escape

from ..summary import Summary
from .cells import RIGHT, cells, columns_for, footer_lines, headers

MAX_HTML_ROWS = 2_000


def to_html_table(summary: Summary, depth: int | None = None, extra: tuple[str, ...] = ()) -> str:
    cols = columns_for(extra)
    rows = cells(summary, depth, cols)
    shown = rows[:MAX_HTML_ROWS]
    titles = headers(cols, [cell.row for cell in rows])
    align = ["right" if c in RIGHT else "left" for c in cols]
    out = ['<div class="nnshape-summary">', "<table>", "<thead><tr>"]
    out += [f'<th style="text-align:{a}">{escape(t)}</th>' for t, a in zip(titles, align)]
    out.append("</tr></thead><tbody>")
    for cell in shown:
        out.append("<tr>")
        for col, a in zip(cols, align):
            text = escape(cell.values[col])
            if col == "layer":
                weight = "font-weight:bold;" if cell.row.is_block else ""
                out.append(f'<td style="text-align:left;padding-left:{0.5 + 1.5 * cell.row.depth:.1f}em;{weight}"><code>{text}</code></td>')
            else:
                out.append(f'<td style="text-align:{a};white-space:nowrap">{text}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    if len(rows) > len(shown):
        out.append(f"<p>… {len(rows) - len(shown):,} more rows (<code>summary.layers</code> has them all).</p>")
    out.append("<table>")
    for key, value in footer_lines(summary, "compact")[:-1]:  # the last line points to CLI options
        out.append(f'<tr><th style="text-align:left">{escape(key)}</th><td style="text-align:left">{escape(value)}</td></tr>')
    out.append("</table></div>")
    return "".join(out)
