"""NSynth: the WaveNet autoencoder for musical notes (Engel et al. 2017), its spectral baseline
and our fast harmonic-plus-noise decoder.

Three model types share one checkpoint family, ``nsynth``: ``wavenet``
(:class:`latentmusic.nsynth.model.NSynthWaveNetAE`), ``spectral``
(:class:`latentmusic.nsynth.spectral_ae.SpectralAutoencoder`) and ``harmonic``
(:class:`latentmusic.nsynth.harmonic.HarmonicAutoencoder`, whose ``decode`` also takes the
pitch to play). All expose ``encode`` -> (frames, 16), ``decode``, ``reconstruct``,
``interpolate``, ``grid`` and ``crossfade``. Heavy modules are imported lazily so the CLI
starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentmusic.train.checkpoint import Checkpoint

__all__ = ["from_checkpoint"]


def from_checkpoint(ckpt: Checkpoint) -> Any:
    """Build the model a checkpoint describes (by ``model_type``) and load its weights."""
    from latentmusic.errors import CheckpointError, ConfigError
    from latentmusic.train.checkpoint import load_state_strict
    from latentmusic.train.config import config_from_dict

    if ckpt.family != "nsynth":
        raise CheckpointError(f"{ckpt.path} is a '{ckpt.family}' checkpoint, not a 'nsynth' one.")
    if ckpt.model_type == "wavenet":
        from latentmusic.nsynth.config import NSynthConfig as Cfg
        from latentmusic.nsynth.model import NSynthWaveNetAE as Model
    elif ckpt.model_type == "spectral":
        from latentmusic.nsynth.config import SpectralAEConfig as Cfg
        from latentmusic.nsynth.spectral_ae import SpectralAutoencoder as Model
    elif ckpt.model_type == "harmonic":
        from latentmusic.nsynth.config import HarmonicConfig as Cfg
        from latentmusic.nsynth.harmonic import HarmonicAutoencoder as Model
    else:
        raise CheckpointError(
            f"{ckpt.path} holds an nsynth model of unknown type '{ckpt.model_type}' "
            "(expected wavenet, spectral or harmonic)."
        )
    try:
        config = config_from_dict(Cfg, ckpt.config)
        model = Model(config)
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"The config in {ckpt.path} cannot build a model: {exc}") from exc
    load_state_strict(model, ckpt.state_dict, ckpt.path)
    model.preset = ckpt.preset
    model.meta = dict(ckpt.meta)
    model.eval()
    return model
