"""Atomic file output: write to a temp file beside the target, then rename.

A crash, Ctrl-C or a bad input never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from latentmusic.errors import InputError


def ensure_writable_dir(directory: str | Path) -> Path:
    """Create ``directory`` (and parents) or fail with one sentence if that is impossible."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create output directory {path}: {exc.strerror or exc}.") from exc
    if not os.access(path, os.W_OK):
        raise InputError(f"Output directory {path} is not writable.")
    return path


@contextlib.contextmanager
def empty_dirs_removed_on_failure(*directories: str | Path) -> Iterator[None]:
    """Folders among ``directories`` (and their missing parents) that do not exist yet are
    removed again if the block fails while they are still empty: a failed command leaves no
    empty folder behind, and never touches one that holds anything."""
    missing: list[Path] = []
    for directory in directories:
        current = Path(directory).absolute()
        while not current.exists() and current != current.parent and current not in missing:
            missing.append(current)
            current = current.parent
    try:
        yield
    except BaseException:
        for path in sorted(missing, key=lambda p: len(p.parts), reverse=True):  # deepest first
            with contextlib.suppress(OSError):  # not empty, or already gone: leave it
                path.rmdir()
        raise


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success rename it onto ``target``.

    On failure nothing is left: neither the temporary file nor a folder made for it."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    with empty_dirs_removed_on_failure(parent):
        ensure_writable_dir(parent)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent
        )
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            # mkstemp makes 0600, and writers that replace the file (safetensors) make their
            # own: the finished output gets the normal permissions, set last so nothing
            # undoes them.
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, target)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


def check_new_dir(target: str | Path) -> None:
    """Refuse, in one sentence, an output folder that exists and holds anything: what
    :func:`atomic_dir` refuses, checked by commands before their expensive work."""
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} already exists; choose another output folder or remove it.")


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success rename it to ``target``.

    A folder of outputs appears whole or not at all. An existing non-empty ``target`` is
    refused before any work (its files are never replaced or mixed with new ones)."""
    import shutil

    target = Path(target)
    check_new_dir(target)
    parent = target.parent if str(target.parent) else Path(".")
    with empty_dirs_removed_on_failure(parent):
        ensure_writable_dir(parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())
            if target.exists():
                target.rmdir()  # empty, checked above
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically, pretty-printed so checkpoints and manifests stay readable."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
