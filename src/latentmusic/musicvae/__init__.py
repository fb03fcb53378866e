"""MusicVAE: a latent space of melodies, drum loops and multi-track music (Roberts et al. 2018).

``latentmusic.load(run)`` returns a :class:`latentmusic.musicvae.model.MusicVAE` with the
magenta-js verbs (``encode``, ``decode``, ``interpolate``, ``sample``, ``similar``, ...).
Heavy imports stay inside functions so the CLI starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from latentmusic.musicvae.model import MusicVAE
    from latentmusic.train.checkpoint import Checkpoint


def from_checkpoint(ckpt: Checkpoint) -> MusicVAE:
    """Rebuild the model a checkpoint describes and load its weights."""
    from latentmusic.errors import CheckpointError, ConfigError
    from latentmusic.musicvae.config import MusicVAEConfig
    from latentmusic.musicvae.model import MusicVAE
    from latentmusic.train.checkpoint import load_state_strict
    from latentmusic.train.config import config_from_dict

    try:
        config = config_from_dict(MusicVAEConfig, ckpt.config)
        model = MusicVAE(config)
    except ConfigError as exc:
        raise CheckpointError(
            f"{ckpt.path} has a MusicVAE config this version cannot use: {exc}"
        ) from exc
    load_state_strict(model, ckpt.state_dict, ckpt.path)
    model.preset = ckpt.preset
    model.checkpoint_path = ckpt.path
    model.extra = dict(ckpt.extra)
    model.eval()
    return model
