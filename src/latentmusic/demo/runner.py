"""Run every demo section (data first, then each family that has one) and write the page."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
import traceback
from pathlib import Path

from latentmusic.demo.page import DemoContext, Section, render_page
from latentmusic.errors import LatentMusicError
from latentmusic.fileio import ensure_writable_dir, write_text
from latentmusic.registry import family_names

SECTIONS = ("data", *family_names())


def run_demo(out: Path, only: list[str] | None = None, workdir: Path | None = None) -> Path:
    """Build all sections into ``out/index.html``; a failing section is shown, then reported."""
    unknown = [name for name in only or [] if name not in SECTIONS]
    if unknown:
        raise LatentMusicError(
            f"Unknown demo section(s) {', '.join(unknown)}; choose from: {', '.join(SECTIONS)}."
        )
    out = ensure_writable_dir(out)
    work = ensure_writable_dir(workdir or out / ".work")
    ctx = DemoContext(out=out, work=work)
    sections: list[Section] = []
    failed: list[str] = []
    for name in SECTIONS:
        if only and name not in only:
            continue
        module_name = f"latentmusic.demo.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        print(f"==> demo: {name}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            section = importlib.import_module(module_name).build(ctx)
        except Exception as exc:  # a broken section must not hide the others
            traceback.print_exc()
            section = Section(id=name, title=name, error=f"{type(exc).__name__}: {exc}")
            failed.append(name)
        section.seconds = time.perf_counter() - start
        print(f"    {name}: {section.seconds:.0f} s", file=sys.stderr, flush=True)
        sections.append(section)
    page = out / "index.html"
    write_text(
        page,
        render_page(
            sections,
            "latentmusic demo",
            "Everything on this page was made on this machine, from SoundFonts and the music21 "
            "corpus, by the shipped models (`latentmusic models`, each with its model card); a "
            "family without one trains a small model for a minute and says so. Listen, compare, "
            "download the MIDI into your DAW.",
        ),
    )
    if failed:
        raise LatentMusicError(
            f"The demo page was written to {page}, but these sections failed: {', '.join(failed)}."
        )
    return page
