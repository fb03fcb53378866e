"""``--model`` (and ``--init``) take a checkpoint directory or a shipped model's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

SHIPPED_HINT = " A path, or the name of a shipped model (`latentmusic models`)."


def resolve(value: Path | None) -> Path | None:
    """Typer callback: a shipped model's name becomes its directory; paths pass unchanged."""
    if value is None:
        return None
    from latentmusic.catalogue import resolve_model

    return resolve_model(value)


def model_option(help: str, *names: str) -> Any:
    """The ``--model`` option of a command, with name resolution."""
    return typer.Option(*(names or ("--model", "-m")), help=help + SHIPPED_HINT, callback=resolve)


def model_argument(help: str) -> Any:
    return typer.Argument(help=help + SHIPPED_HINT, callback=resolve)
