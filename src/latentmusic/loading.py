"""``latentmusic.load``: rebuild any family's model from its checkpoint directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from latentmusic.errors import CheckpointError
from latentmusic.registry import FAMILIES, family_part


def load(path: str | Path) -> Any:
    """Read ``config.json`` to find the family, then let that family build its model.

    ``path`` is a checkpoint directory or the name of a shipped model (``latentmusic
    models``). Each family package exposes ``from_checkpoint(ckpt: Checkpoint) -> nn.Module``.
    """
    from latentmusic.catalogue import resolve_model
    from latentmusic.train.checkpoint import read_checkpoint

    ckpt = read_checkpoint(resolve_model(path))
    if ckpt.family not in FAMILIES:
        raise CheckpointError(
            f"{path} is a checkpoint of unknown family '{ckpt.family}'; known: {', '.join(FAMILIES)}."
        )
    builder = getattr(family_part(ckpt.family), "from_checkpoint", None)
    if builder is None:
        raise CheckpointError(f"This latentmusic version cannot load '{ckpt.family}' checkpoints.")
    model = builder(ckpt)
    model.eval()
    return model
