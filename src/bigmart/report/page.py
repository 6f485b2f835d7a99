"""The look every report shares: one HTML file with its CSS inline, sections, tables and
figures, readable on a laptop and printable.

Nothing is fetched when it opens (it is read offline, from S3 or a laptop): no script, no
web font, no stylesheet or image by URL. Text is escaped here, once; charts arrive as
inline SVG from ``charts``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: System fonts only: a web font would be a network request.
_CSS = """
:root { --ink: #1d2733; --muted: #5b6673; --line: #d9dee4; --panel: #f6f8fa;
        --accent: #1f5f99; --good: #2e7d32; --bad: #b3261e; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; color: var(--ink);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
             Arial, sans-serif; background: #fff; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 8px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 0 0 8px; color: var(--accent); }
h3 { font-size: 1rem; margin: 14px 0 6px; }
.subtitle, .note, figcaption { color: var(--muted); font-size: 0.9rem; }
.headline { font-size: 1.05rem; margin: 12px 0 0; }
section { padding: 18px 0 14px; border-bottom: 1px solid var(--line); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr));
        gap: 18px 28px; align-items: start; }
.grid > div { min-width: 0; overflow-x: auto; }
.row { display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: flex-start; }
.row > div { flex: 0 1 auto; min-width: 0; overflow-x: auto; }
.row > div:last-child { flex: 1 1 380px; }
figure { margin: 0; }
figure svg { display: block; width: 100%; height: auto; }
table { border-collapse: collapse; margin: 4px 0 10px; font-size: 0.9rem; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td:first-child, th:first-child { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.model { font-weight: 600; }
.better { color: var(--good); }
.worse { color: var(--bad); }
code { font: 0.85rem ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       background: var(--panel); padding: 0 3px; border-radius: 3px; }
footer { color: var(--muted); font-size: 0.8rem; padding-top: 14px; }
@media (max-width: 720px) { body { padding: 14px; } .grid { grid-template-columns: 1fr; } }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  header { border-bottom-width: 2px; }
  section { break-inside: auto; padding: 10px 0; }
  h2, h3 { break-after: avoid; }
  figure, table, tr { break-inside: avoid; }
  .grid, .row { display: block; }
  .grid > div, .row > div { overflow: visible; margin-bottom: 8px; }
  figure svg { max-height: 120mm; width: auto; }
  th { background: none; }
}
"""


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and optionally a CSS class and the exact value behind a
    rounded number (``data-value``, so a reader or test can check it)."""

    text: str
    css: str = ""
    value: float | None = None
    name: str | None = None  # data-name: what the value is (e.g. a metric's name)


def page(title: str, subtitle: str, sections: Iterable[str], footer: str = "") -> str:
    """A whole HTML document."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head><body>\n"
        f"<header><h1>{escape(title)}</h1>"
        f'<div class="subtitle">{subtitle}</div></header>\n'
        + "\n".join(sections)
        + (f"\n<footer>{footer}</footer>" if footer else "")
        + "\n</body></html>\n"
    )


def section(title: str, *parts: str, anchor: str | None = None) -> str:
    """A titled section of already-rendered parts (paragraphs, tables, figures)."""
    ident = f' id="{escape(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{escape(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def paragraph(text: str, css: str = "") -> str:
    """A paragraph of already-escaped HTML (use ``escape`` on anything from data)."""
    return f'<p class="{css}">{text}</p>' if css else f"<p>{text}</p>"


def grid(*parts: str) -> str:
    """Parts side by side on a wide screen, one under the other on a narrow one."""
    return '<div class="grid">' + "".join(f"<div>{part}</div>" for part in parts) + "</div>"


def row(*parts: str) -> str:
    """Parts side by side, the first at its own width (a table), the last taking the rest
    (a chart) or wrapping below when the first leaves too little."""
    return '<div class="row">' + "".join(f"<div>{part}</div>" for part in parts) + "</div>"


def figure(svg: str, caption: str) -> str:
    """An inline SVG chart and its caption (escaped here)."""
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str | Cell]],
    *,
    numeric: Iterable[int] = (),
    caption: str | None = None,
) -> str:
    """A table; plain strings are escaped, columns in ``numeric`` are right-aligned."""
    right = set(numeric)
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if i in right else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if not isinstance(cell, Cell):
                cell = Cell(cell)
            classes = " ".join(c for c in ("num" if i in right else "", cell.css) if c)
            attributes = f' class="{classes}"' if classes else ""
            if cell.name is not None:
                attributes += f' data-name="{escape(cell.name)}"'
            if cell.value is not None:
                attributes += f' data-value="{float(cell.value)!r}"'
            cells.append(f"<td{attributes}>{escape(cell.text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    title = f"<h3>{escape(caption)}</h3>" if caption else ""
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"{title}<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def number(value: float | None, decimals: int = 2) -> str:
    """A number as a person reads it: thousands separated, fixed decimals; an undefined
    value (None, NaN) as an em dash."""
    if value is None or not math.isfinite(value):
        return "\u2014"
    text = f"{value:,.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0.00"


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)
