"""The report's document model: headings, paragraphs, lists, tables and figures, written out as
Markdown (figures as ``figures/NAME.png``) or as one self-contained HTML page (figures embedded
as base64 PNG, no external resources). A report is two documents: the main body (``Doc``) and
its appendix (``Doc.appendix``), where every per-seed and per-setting table goes."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["CSS", "Block", "Doc"]


@dataclass
class Block:
    """One block of the document; ``content`` depends on ``kind``."""

    kind: str  # heading | text | table | figure | list
    content: Any
    level: int = 2


class Doc:
    """The blocks of the report in order, and the PNG bytes of its figures by name."""

    def __init__(self, *, appendix: bool = True) -> None:
        self.blocks: list[Block] = []
        self.figures: dict[str, bytes] = {}
        #: the appendix document (the appendix's own appendix is itself)
        self.appendix: Doc = Doc(appendix=False) if appendix else self
        #: names of the maps and scalings already described (report.maps.what_maps_are)
        self.described: set[str] = set()

    def h(self, text: str, level: int = 2) -> None:
        self.blocks.append(Block("heading", text, level))

    def p(self, text: str) -> None:
        self.blocks.append(Block("text", text))

    def bullets(self, items: Iterable[str]) -> None:
        self.blocks.append(Block("list", list(items)))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        if rows:
            self.blocks.append(Block("table", (header, rows)))

    def figure(self, name: str, png: bytes | None, caption: str) -> None:
        if png is not None:
            self.figures[name] = png
            self.blocks.append(Block("figure", (name, caption)))

    def markdown(self) -> str:
        out: list[str] = []
        for b in self.blocks:
            if b.kind == "heading":
                out.append("#" * b.level + " " + b.content)
            elif b.kind == "text":
                out.append(b.content)
            elif b.kind == "list":
                out.append("\n".join(f"- {x}" for x in b.content))
            elif b.kind == "table":
                header, rows = b.content
                lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(r) + " |" for r in rows]
                out.append("\n".join(lines))
            else:
                name, caption = b.content
                out.append(f"![{caption}](figures/{name}.png)\n\n*{caption}*")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>",
        ]
        for b in self.blocks:
            if b.kind == "heading":
                parts.append(f"<h{b.level}>{html.escape(b.content)}</h{b.level}>")
            elif b.kind == "text":
                parts.append(f"<p>{_inline(b.content)}</p>")
            elif b.kind == "list":
                parts.append(
                    "<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in b.content) + "</ul>"
                )
            elif b.kind == "table":
                header, rows = b.content
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                body = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                    for r in rows
                )
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            else:
                name, caption = b.content
                data = base64.b64encode(self.figures[name]).decode("ascii")
                parts.append(
                    f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
        parts.append("</main></body></html>")
        return "\n".join(parts) + "\n"


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _inline(text: str) -> str:
    """Escape, then render Markdown ``code``, **bold** and *italic* spans and ``[text](file)``
    links to relative files (a link to ``NAME.md`` goes to the page ``NAME.html``)."""

    def link(m: re.Match[str]) -> str:
        href = re.sub(r"\.md$", ".html", m.group(2))
        return f'<a href="{href}">{m.group(1)}</a>'

    out = _LINK.sub(link, html.escape(text))
    for mark, tag in (("`", "code"), ("**", "strong"), ("*", "em")):
        pieces = out.split(mark)
        if len(pieces) % 2 == 1:
            out = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(pieces))
    return out


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;
background:#f6f7f9;margin:0}
main{max-width:1080px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #e3e6eb;padding-bottom:4px;
margin-top:1.8em}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:12px 0;font-size:.9em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d8dce3;padding:4px 8px;text-align:left}th{background:#eef1f5}
tr:nth-child(even) td{background:#fafbfc}
figure{margin:16px 0}figure img{max-width:100%;height:auto;border:1px solid #e3e6eb}
figcaption{font-size:.88em;color:#4a5363;margin-top:4px}
code{background:#eef1f5;padding:1px 4px;border-radius:3px}
"""
