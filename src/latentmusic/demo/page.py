"""The demo page model (sections of rows of audio / images / MIDI) and its HTML.

Families build :class:`Section` objects; :func:`render_page` turns them into one
self-contained ``index.html`` (no scripts, no network) next to an ``assets/`` folder.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ItemKind = Literal["audio", "image", "midi", "text"]


@dataclass
class Item:
    """One cell: an audio player, a picture, a MIDI download (with an optional audio render) or text."""

    kind: ItemKind
    caption: str
    path: str | None = None  # relative to the page
    audio: str | None = None  # for MIDI: a rendered preview
    text: str = ""


@dataclass
class Row:
    title: str
    items: list[Item] = field(default_factory=list)
    note: str = ""


@dataclass
class Section:
    id: str
    title: str
    intro: str = ""
    rows: list[Row] = field(default_factory=list)
    table: list[dict[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""


@dataclass
class DemoContext:
    """What a family's demo builder gets: where to write, shared data sets, a time budget."""

    out: Path
    work: Path
    budget_seconds: float = 90.0

    def asset(self, section: str, name: str) -> Path:
        """A path for an output file of ``section``; the folder exists."""
        directory = self.out / "assets" / section
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    def rel(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def audio(self, path: Path, caption: str) -> Item:
        return Item("audio", caption, self.rel(path))

    def image(self, path: Path, caption: str) -> Item:
        return Item("image", caption, self.rel(path))

    def midi(self, path: Path, caption: str, audio: Path | None = None) -> Item:
        return Item("midi", caption, self.rel(path), self.rel(audio) if audio else None)

    def notes_dir(self) -> Path:
        from latentmusic.demo.datasets import demo_notes

        return demo_notes(self.work)

    def domains_dir(self) -> Path:
        from latentmusic.demo.datasets import demo_domains

        return demo_domains(self.work)

    def melodies_dir(self) -> Path:
        from latentmusic.demo.datasets import demo_melodies

        return demo_melodies(self.work)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#14161b;color:#e8e8ea}
header{padding:32px 48px;background:linear-gradient(120deg,#3b1d60,#123a5a)}
header h1{margin:0 0 8px;font-size:32px} header p{margin:0;color:#c8c8d0;max-width:900px}
nav{padding:8px 48px;background:#1c1f26} nav a{color:#9ecbff;margin-right:18px;text-decoration:none}
section{padding:24px 48px;border-bottom:1px solid #2a2e38}
h2{margin-top:0} .intro{color:#c8c8d0;max-width:950px;line-height:1.5}
.row{margin:18px 0} .row h3{margin:0 0 8px;font-size:16px;color:#f0c674}
.items{display:flex;flex-wrap:wrap;gap:14px}
.item{background:#1f232c;border-radius:10px;padding:10px;width:260px}
.item img{width:100%;border-radius:6px;image-rendering:auto}
.item audio{width:100%} .cap{font-size:13px;color:#b9bcc6;margin-bottom:6px}
.item a{color:#9ecbff} table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #333846;padding:4px 10px;font-size:14px} th{background:#232733}
.note{font-size:13px;color:#9da1ad} .error{color:#ff8a80;white-space:pre-wrap}
"""


def _item_html(item: Item) -> str:
    cap = f'<div class="cap">{html.escape(item.caption)}</div>'
    if item.kind == "audio":
        body = f'<audio controls preload="none" src="{html.escape(item.path or "")}"></audio>'
    elif item.kind == "image":
        body = f'<img alt="{html.escape(item.caption)}" src="{html.escape(item.path or "")}">'
    elif item.kind == "midi":
        body = ""
        if item.audio:
            body += f'<audio controls preload="none" src="{html.escape(item.audio)}"></audio><br>'
        body += f'<a download href="{html.escape(item.path or "")}">download MIDI</a>'
    else:
        body = f"<div>{html.escape(item.text)}</div>"
    return f'<div class="item">{cap}{body}</div>'


def _table_html(rows: list[dict[str, object]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k in keys) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_page(sections: list[Section], title: str, subtitle: str) -> str:
    """The whole page as one HTML string (no external resources)."""
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><nav>{nav}</nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>')
        if s.intro:
            parts.append(f'<p class="intro">{html.escape(s.intro)}</p>')
        if s.error:
            parts.append(
                f'<p class="error">This part of the demo failed: {html.escape(s.error)}</p>'
            )
        parts.append(_table_html(s.table))
        for row in s.rows:
            parts.append(f'<div class="row"><h3>{html.escape(row.title)}</h3>')
            if row.note:
                parts.append(f'<p class="note">{html.escape(row.note)}</p>')
            parts.append(
                '<div class="items">' + "".join(_item_html(i) for i in row.items) + "</div></div>"
            )
        for note in s.notes:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
        parts.append(f'<p class="note">Built in {s.seconds:.0f} s.</p></section>')
    parts.append("</body></html>")
    return "\n".join(parts)
