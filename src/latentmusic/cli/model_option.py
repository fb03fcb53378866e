"""``--model`` (and ``--init``) take a checkpoint directory or a shipped model's name.

The path is checked where it is parsed, before a command imports torch (seconds): a
missing model, a file given as one, or another family's checkpoint is one sentence at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

SHIPPED_HINT = " A path, or the name of a shipped model (`latentmusic models`)."


def check_model_path(path: Path, family: str | None = None) -> Path:
    """``path`` exists and is a folder; where its ``config.json`` names another family than
    ``family``, say so. What only loading can tell (missing or damaged files) is left to
    the loader, which says it in the same words."""
    from latentmusic.errors import CheckpointError

    if not path.exists():
        raise CheckpointError(f"Model {path} does not exist.")
    if not path.is_dir():
        raise CheckpointError(
            f"Model {path} is a file; a model is a checkpoint directory (model.safetensors "
            "and config.json) or a run directory."
        )
    if family is not None:
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError, RecursionError):
            return path  # no config (a run directory), or one the loader will describe
        found = config.get("family") if isinstance(config, dict) else None
        if isinstance(found, str) and found != family:
            raise CheckpointError(f"{path} is a '{found}' checkpoint, not a '{family}' one.")
    return path


def resolver(family: str | None = None) -> Callable[[Path | None], Path | None]:
    """Typer callback: a shipped model's name becomes its directory, then the path is
    checked (:func:`check_model_path`)."""

    def resolve(value: Path | None) -> Path | None:
        if value is None:
            return None
        from latentmusic.catalogue import resolve_model

        return check_model_path(resolve_model(value), family)

    return resolve


resolve = resolver()


def model_option(help: str, *names: str, family: str | None = None) -> Any:
    """The ``--model`` option of a command (``family``: the family its models must be of)."""
    return typer.Option(
        *(names or ("--model", "-m")), help=help + SHIPPED_HINT, callback=resolver(family)
    )


def model_argument(help: str, family: str | None = None) -> Any:
    return typer.Argument(help=help + SHIPPED_HINT, callback=resolver(family))
