"""``latentmusic.load``: rebuild any family's model from its checkpoint directory."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from latentmusic.errors import CheckpointError

FAMILIES = ("nsynth", "translation", "jukebox", "musicvae")


def load(path: str | Path) -> Any:
    """Read ``config.json`` to find the family, then let that family build its model.

    Each family package exposes ``from_checkpoint(ckpt: Checkpoint) -> nn.Module``.
    """
    from latentmusic.train.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path)
    if ckpt.family not in FAMILIES:
        raise CheckpointError(
            f"{path} is a checkpoint of unknown family '{ckpt.family}'; known: {', '.join(FAMILIES)}."
        )
    module = importlib.import_module(f"latentmusic.{ckpt.family}")
    builder = getattr(module, "from_checkpoint", None)
    if builder is None:
        raise CheckpointError(f"This latentmusic version cannot load '{ckpt.family}' checkpoints.")
    model = builder(ckpt)
    model.eval()
    return model
