"""Jukebox (Dhariwal et al. 2020): a hierarchical VQ-VAE and conditioned transformer priors.

Three model types, each its own latentmusic checkpoint (family "jukebox"):

- ``vqvae``: three separate audio autoencoders with hops 8 / 32 / 128 (``vqvae.VQVAE``);
- ``prior``: a transformer over the top level's codes, conditioned on artist, genre,
  timing and optionally lyrics (``prior.Prior``);
- ``upsampler``: the same transformer over the middle (level 1) or bottom (level 0) codes,
  also conditioned on the level above.

A *run directory* for sampling holds all four (train each into its folder)::

    RUN/vqvae/        latentmusic train jukebox --model vqvae     --data DOMAINS --out RUN/vqvae
                      latentmusic jukebox encode-dataset --model RUN --data DOMAINS -o CODES
    RUN/prior/        latentmusic train jukebox --model prior     --data CODES --out RUN/prior
    RUN/upsampler_1/  latentmusic train jukebox --model upsampler --data CODES --out RUN/upsampler_1
    RUN/upsampler_0/  latentmusic train jukebox --model upsampler --data CODES --out RUN/upsampler_0 --set level=0

Without upsamplers, sampling decodes the top level's codes with the top autoencoder
(every level reconstructs audio on its own). This module stays light: torch is imported
only inside ``from_checkpoint``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from latentmusic.train.checkpoint import Checkpoint

RUN_LAYOUT = ("vqvae", "prior", "upsampler_1", "upsampler_0")


def from_checkpoint(ckpt: Checkpoint) -> Any:
    """Build the VQ-VAE, prior or upsampler a checkpoint describes, with its weights."""
    import contextlib

    from latentmusic.errors import CheckpointError
    from latentmusic.jukebox.config import PriorConfig, VQVAEConfig
    from latentmusic.train.checkpoint import load_state_strict
    from latentmusic.train.config import config_from_dict

    if ckpt.model_type == "vqvae":
        from latentmusic.jukebox.vqvae import VQVAE

        model = VQVAE(config_from_dict(VQVAEConfig, ckpt.config))
    elif ckpt.model_type in ("prior", "upsampler"):
        from latentmusic.jukebox.labels import LabelVocab
        from latentmusic.jukebox.prior import Prior

        cfg = config_from_dict(PriorConfig, ckpt.config)
        vocab = LabelVocab.from_extra(ckpt.extra)
        if len(vocab.artists) != cfg.n_artists or len(vocab.genres) != cfg.n_genres:
            raise CheckpointError(f"{ckpt.path}: the label vocabularies do not match the config.")
        model = Prior(cfg, vocab)
    else:
        raise CheckpointError(
            f"{ckpt.path} is a Jukebox checkpoint of unknown type '{ckpt.model_type}' "
            "(expected vqvae, prior or upsampler)."
        )
    load_state_strict(model, ckpt.state_dict, ckpt.path)
    model.checkpoint_path = ckpt.path
    model.extra = dict(ckpt.extra)
    if isinstance(model.extra.get("vqvae"), str):  # on disk relative to the checkpoint
        from latentmusic.jukebox.codes import resolve_vqvae

        # In memory: the VQ-VAE this model decodes with, usable from any folder. A prior
        # without its VQ-VAE still loads; the commands that need it say so.
        with contextlib.suppress(CheckpointError):
            model.extra["vqvae"] = str(resolve_vqvae(ckpt.path).resolve())
    model.meta = dict(ckpt.meta)
    model.preset = ckpt.preset
    return model.eval()
