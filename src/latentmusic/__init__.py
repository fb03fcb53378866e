"""latentmusic: learned latent spaces of music.

Four model families on one API: ``nsynth`` (WaveNet autoencoder for notes),
``translation`` (universal music translation), ``jukebox`` (hierarchical VQ-VAE +
priors) and ``musicvae`` (symbolic VAE). Heavy modules load lazily so that
``import latentmusic`` and ``latentmusic --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["LatentMusicError", "__version__", "load"]

from latentmusic.errors import LatentMusicError

if TYPE_CHECKING:
    from pathlib import Path


def load(path: str | Path) -> Any:
    """Load a model from any family's checkpoint directory (safetensors + config.json)."""
    from latentmusic.loading import load as _load

    return _load(path)
