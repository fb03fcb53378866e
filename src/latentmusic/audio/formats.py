"""The audio file names the toolkit reads and writes: one list, kept apart from ``io`` so
the command line can check a name without importing numpy or libsndfile."""

from __future__ import annotations

from pathlib import Path

# Suffix -> libsndfile container: every file we write (save, streamed translation) is one of
# these. libsndfile also reads them all, so they are what folder scans pick up too.
CONTAINERS = {
    ".wav": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".mp3": "MP3",
    ".aiff": "AIFF",
    ".aif": "AIFF",
}
AUDIO_SUFFIXES = tuple(CONTAINERS)


def is_audio(path: Path) -> bool:
    """Whether a folder scan should take this file as audio (by its suffix, any case)."""
    return path.suffix.lower() in CONTAINERS


def container(path: Path) -> str | None:
    """libsndfile's container name for writing ``path``, or None for an unknown suffix."""
    return CONTAINERS.get(path.suffix.lower())
