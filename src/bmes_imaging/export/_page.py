"""Report pages: titled tables and plots as Markdown and as HTML, escaped the same way.

Both the cohort report (:mod:`bmes_imaging.export._report`) and the validation report
(:mod:`bmes_imaging.validation`) are a title, a list of facts, tables and plots. Every
text reaches the page through one escaping rule per format: Markdown through
:func:`~bmes_imaging._outbound.markdown_text` (no raw HTML, link or control character
from data), HTML through :func:`html.escape` of
:func:`~bmes_imaging._outbound.terminal_text` (control characters escaped too).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._outbound import markdown_text, terminal_text

__all__ = ["ReportTable", "html_page", "markdown_page"]

_CSS = ("body{font-family:sans-serif;max-width:72em;margin:auto;font-size:14px}"
        "table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #999;padding:2px 6px;text-align:left;vertical-align:top}"
        "td:first-child{white-space:nowrap}tr:nth-child(even) td{background:#f7f7f7}"
        "th{background:#e8e8e8}h2.alert{color:#b00}"
        "h2.alert+p{background:#fff3cd;border-left:4px solid #b00;padding:4px 8px}"
        ".plots img{width:48%;margin:0.5%;vertical-align:top}"
        ".plots img[alt$=timelines]{width:97%}")


@dataclass(frozen=True)
class ReportTable:
    """One table of a report page.

    Attributes
    ----------
    title
        Section heading.
    header, rows
        Column names and rows (cells are turned into text with ``str``).
    intro
        A sentence shown before the table.
    alert
        Show the heading as a warning (e.g. disagreements found), in HTML.
    """

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    intro: str = ""
    alert: bool = False


def markdown_page(title: str, meta: Sequence[str], tables: Sequence[ReportTable],
                  plots: Sequence[Path], out_dir: Path) -> str:
    """The page as Markdown (plots linked relative to ``out_dir``).

    Examples
    --------
    >>> print(markdown_page("T", ["n = 1"], [ReportTable("A", ["x"], [["<b>"]])], [],
    ...                     Path(".")))
    # T
    <BLANKLINE>
    - n = 1
    <BLANKLINE>
    ## A
    <BLANKLINE>
    | x |
    |---|
    | &lt;b> |
    <BLANKLINE>
    ## Plots
    <BLANKLINE>
    <BLANKLINE>
    """
    cell = markdown_text
    lines = [f"# {cell(title)}", ""]
    lines += [f"- {cell(m)}" for m in meta] + [""]
    for tab in tables:
        lines += [f"## {cell(tab.title)}", ""]
        if tab.intro:
            lines += [cell(tab.intro), ""]
        if not tab.rows:
            lines += ["None.", ""]
            continue
        lines.append("| " + " | ".join(cell(h) for h in tab.header) + " |")
        lines.append("|" + "|".join("---" for _ in tab.header) + "|")
        lines += ["| " + " | ".join(cell(str(c)) for c in r) + " |" for r in tab.rows]
        lines.append("")
    lines += ["## Plots", ""]
    lines += [f"![{cell(p.stem)}]({p.relative_to(out_dir).as_posix()})" for p in plots]
    lines.append("")
    return "\n".join(lines)


def html_page(title: str, meta: Sequence[str], tables: Sequence[ReportTable],
              plots: Sequence[Path], out_dir: Path, *, plots_first: bool = False) -> str:
    """The page as one HTML document (plots linked relative to ``out_dir``), after the
    facts when ``plots_first``, else at the end."""

    def e(text: str) -> str:
        return html.escape(terminal_text(str(text)))

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(title)}</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>", "<ul>"]
    parts += [f"<li>{e(m)}</li>" for m in meta] + ["</ul>"]
    figures = ['<div class="plots">']
    figures += [f'<img src="{e(p.relative_to(out_dir).as_posix())}" alt="{e(p.stem)}">'
                for p in plots]
    figures.append("</div>")
    if plots_first:
        parts += figures
    for tab in tables:
        cls = ' class="alert"' if tab.alert and tab.rows else ""
        parts.append(f"<h2{cls}>{e(tab.title)}</h2>")
        if tab.intro:
            parts.append(f"<p>{e(tab.intro)}</p>")
        if not tab.rows:
            parts.append("<p>None.</p>")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in tab.header)
                     + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
                  for r in tab.rows]
        parts.append("</table>")
    if not plots_first:
        parts += ["<h2>Plots</h2>", *figures]
    parts.append("</body></html>")
    return "\n".join(parts)
