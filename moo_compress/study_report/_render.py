"""Rendering the sections as Markdown and as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress.study_report._data import ReportSection

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["render_html", "render_markdown"]


# -- rendering -------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "-" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def _md_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def render_markdown(title: str, sections: Sequence[ReportSection]) -> str:
    """The report as Markdown, images referenced by file name.

    Args:
        title: The document's title.
        sections: The sections, in order.
    """
    parts = [f"# {title}", ""]
    parts += [f"- [{s.title}](#{s.anchor})" for s in sections] + [""]
    for s in sections:
        parts += [f'<a id="{s.anchor}"></a>', "", f"## {s.title}", ""]
        for block in s.blocks:
            kind = block[0]
            if kind == "text":
                parts += [block[1], ""]
            elif kind == "pre":
                parts += ["```text", block[1], "```", ""]
            elif kind == "table":
                parts += [_md_table(block[1]), ""]
            elif kind == "markdown":
                parts += [block[1].replace("\n## ", "\n### "), ""]
            elif kind == "image":
                parts += [f"![{block[2]}]({block[1]})", ""]
    return "\n".join(parts)


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def _md_to_html(text: str) -> str:
    """The few Markdown forms the ANOVA tables use: headings, pipe tables, paragraphs."""
    out, table = [], []

    def flush():
        if table:
            head, *body = [
                row.strip().strip("|").split("|") for row in table if not set(row) <= set("|-")
            ]
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{_inline(c.strip())}</th>" for c in head)
                + "</tr></thead><tbody>"
            )
            out.extend(
                [
                    "<tr>" + "".join(f"<td>{_inline(c.strip())}</td>" for c in r) + "</tr>"
                    for r in body
                ]
            )
            out.append("</tbody></table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h3>{_inline(line[3:])}</h3>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:1em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;white-space:nowrap}th{background:#f3f3f3}
img{max-width:100%;height:auto;border:1px solid #eee}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}code{background:#f3f3f3;padding:0 .2em}
"""


def render_html(title: str, sections: Sequence[ReportSection], folder: Path) -> str:
    """The report as one self-contained HTML page: every PNG embedded as a base64 data URI,
    no script, stylesheet or font loaded from anywhere.

    Args:
        title: The document's title.
        sections: The sections, in order.
        folder: Where the sections' PNG files are.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<nav><ul>"
        + "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
        + "</ul></nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>')
        for block in s.blocks:
            kind = block[0]
            if kind == "text":
                parts.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "pre":
                parts.append(f"<pre>{html.escape(block[1])}</pre>")
            elif kind == "table":
                frame = block[1]
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
                body = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                    for row in frame.itertuples(index=False)
                )
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif kind == "markdown":
                parts.append(_md_to_html(block[1]))
            elif kind == "image":
                data = base64.b64encode((folder / block[1]).read_bytes()).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}">'
                    f"<figcaption>{html.escape(block[2])} ({html.escape(block[1])})</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
