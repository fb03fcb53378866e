"""The one progress bar of every long job (rendering, encoding, sampling, translating).

tqdm, because it is a no-op when disabled (callers need no branch), writes to stderr (the
command's output stays clean) and shows a rate and the time left.
"""

from __future__ import annotations

from typing import Any


def progress_bar(
    total: int | None,
    desc: str,
    unit: str,
    enabled: bool = True,
    *,
    unit_scale: bool = False,
    leave: bool = False,
) -> Any:
    """A bar with ``update(n)`` and ``close()``, usable as a context manager."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=desc, unit=unit, unit_scale=unit_scale, leave=leave, disable=not enabled
    )
