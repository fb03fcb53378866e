"""What a family's demo builder gets (:class:`DemoContext`), and the page model it fills.

The page model (:class:`Item`, :class:`Row`, :class:`Section`, :func:`render_page`) lives in
:mod:`latentmusic.report`, shared with the evaluation reports; it is re-exported here so the
demo builders import everything from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentmusic.report import Item, Row, Section, Table, render_page

__all__ = ["DemoContext", "Item", "Row", "Section", "Table", "render_page"]


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
