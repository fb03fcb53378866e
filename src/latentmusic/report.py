"""One page model for the demo and every family's evaluation report.

The demo page and each ``latentmusic eval`` report (``index.html``) are the same kind of
page: sections of tables, paragraphs and rows of players, pictures and MIDI downloads. The
families build :class:`Section` objects of plain text; :func:`render_page` is the one place
that writes HTML, and it escapes every piece of text, so a file name or a label cannot
break a page. A page is self-contained (no scripts, no network) and links to files next
to it by relative paths.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Literal

ItemKind = Literal["audio", "image", "midi", "text"]


@dataclass
class Item:
    """One cell: an audio player, a picture, a MIDI download or text.

    A MIDI cell may carry an audio render (``audio``); an audio cell may show a picture under
    its player (``image``, e.g. NSynth's rainbowgram of the note).
    """

    kind: ItemKind
    caption: str
    path: str | None = None  # relative to the page
    audio: str | None = None  # for MIDI: a rendered preview
    text: str = ""
    image: str | None = None  # for audio: a picture under the player


@dataclass
class Row:
    """A titled line of cells, with an optional note under the title."""

    title: str
    items: list[Item] = field(default_factory=list)
    note: str = ""


@dataclass
class Table:
    """A table under its own heading: one dict per row, the columns those of the first row."""

    rows: list[dict[str, object]]
    title: str = ""


@dataclass
class Section:
    """One part of a page, linked from its navigation bar.

    Shown in this order: intro, error, ``table`` (the section's own, untitled), ``tables``
    (each under its heading), rows, notes, and "Built in N s." when ``seconds`` is set.
    """

    id: str
    title: str
    intro: str = ""
    rows: list[Row] = field(default_factory=list)
    table: list[dict[str, object]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None
    error: str = ""


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#14161b;color:#e8e8ea}
header{padding:32px 48px;background:linear-gradient(120deg,#3b1d60,#123a5a)}
header h1{margin:0 0 8px;font-size:32px} header p{margin:0;color:#c8c8d0;max-width:900px}
nav{padding:8px 48px;background:#1c1f26} nav a{color:#9ecbff;margin-right:18px;text-decoration:none}
section{padding:24px 48px;border-bottom:1px solid #2a2e38}
h2{margin-top:0} .intro{color:#c8c8d0;max-width:950px;line-height:1.5}
h3{margin:18px 0 8px;font-size:16px;color:#f0c674} .row{margin:18px 0} .row h3{margin:0 0 8px}
.items{display:flex;flex-wrap:wrap;gap:14px}
.item{background:#1f232c;border-radius:10px;padding:10px;width:260px}
.item img{width:100%;border-radius:6px;image-rendering:auto}
.item audio{width:100%} .cap{font-size:13px;color:#b9bcc6;margin-bottom:6px}
.item a{color:#9ecbff} table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #333846;padding:4px 10px;font-size:14px} th{background:#232733}
.note{font-size:13px;color:#9da1ad} .error{color:#ff8a80;white-space:pre-wrap}
"""


def fmt(value: object) -> str:
    """A value as table or caption text: floats to 4 significant digits, "-" when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _esc(text: object) -> str:
    return html.escape(str(text))


def _player(path: str) -> str:
    return f'<audio controls preload="none" src="{_esc(path)}"></audio>'


def _picture(path: str, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="{_esc(path)}">'


def _item_html(item: Item) -> str:
    cap = f'<div class="cap">{_esc(item.caption)}</div>'
    if item.kind == "audio":
        body = _player(item.path or "")
        if item.image:
            body += _picture(item.image, item.caption)
    elif item.kind == "image":
        body = _picture(item.path or "", item.caption)
    elif item.kind == "midi":
        body = ""
        if item.audio:
            body += _player(item.audio) + "<br>"
        body += f'<a download href="{_esc(item.path or "")}">download MIDI</a>'
    else:
        body = f"<div>{_esc(item.text)}</div>"
    return f'<div class="item">{cap}{body}</div>'


def _table_html(rows: list[dict[str, object]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{_esc(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(fmt(r.get(k)))}</td>" for k in keys) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _row_html(row: Row) -> str:
    parts = [f'<div class="row"><h3>{_esc(row.title)}</h3>']
    if row.note:
        parts.append(f'<p class="note">{_esc(row.note)}</p>')
    parts.append('<div class="items">' + "".join(_item_html(i) for i in row.items) + "</div></div>")
    return "\n".join(parts)


def _section_html(s: Section) -> str:
    parts = [f'<section id="{_esc(s.id)}"><h2>{_esc(s.title)}</h2>']
    if s.intro:
        parts.append(f'<p class="intro">{_esc(s.intro)}</p>')
    if s.error:
        parts.append(f'<p class="error">This part of the demo failed: {_esc(s.error)}</p>')
    parts.append(_table_html(s.table))
    for table in s.tables:
        if table.rows and table.title:
            parts.append(f"<h3>{_esc(table.title)}</h3>")
        parts.append(_table_html(table.rows))
    parts += [_row_html(row) for row in s.rows]
    parts += [f'<p class="note">{_esc(note)}</p>' for note in s.notes]
    if s.seconds is not None:
        parts.append(f'<p class="note">Built in {s.seconds:.0f} s.</p>')
    parts.append("</section>")
    return "\n".join(part for part in parts if part)


def render_page(sections: list[Section], title: str, subtitle: str = "") -> str:
    """The whole page as one HTML string (no external resources)."""
    nav = "".join(f'<a href="#{_esc(s.id)}">{_esc(s.title)}</a>' for s in sections)
    sub = f"<p>{_esc(subtitle)}</p>" if subtitle else ""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>{_esc(title)}</h1>{sub}</header><nav>{nav}</nav>",
        *(_section_html(s) for s in sections),
        "</body></html>",
    ]
    return "\n".join(parts)
