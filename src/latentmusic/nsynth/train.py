"""``latentmusic train nsynth``: train the WaveNet autoencoder (or the spectral baseline, or the
harmonic decoder).

Data is an NSynth-format directory (the real NSynth release or ``latentmusic data notes``);
training draws random crops of each note (6144 samples for the paper preset) and runs
through the shared Lightning harness, so logs, periodic checkpoints, exact ``--resume``,
mixed precision and DDP all work the same as for every other family.

Logged: ``train/loss`` (nats per sample for WaveNet, weighted MSE for the baseline,
multi-resolution STFT loss for the harmonic model),
``train/lr``, ``val/loss`` and, for WaveNet, ``val/nll`` (nats) and ``val/bits`` (bits per
sample; 8 is chance for 256 classes).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch

from latentmusic.errors import ConfigError, InputError
from latentmusic.nsynth.config import MODEL_TYPES, lr_factor, presets_for
from latentmusic.train.checkpoint import save_checkpoint
from latentmusic.train.config import config_to_dict, resolve_config
from latentmusic.train.harness import FamilyModule, TrainJob, fit
from latentmusic.train.init import init_from, steps_of


class _StagedLR:
    """Picklable lr multiplier (LambdaLR stores callable objects in its state)."""

    def __init__(self, steps: tuple[int, ...], factors: tuple[float, ...]) -> None:
        self.steps = tuple(steps)
        self.factors = tuple(factors)

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.steps, self.factors)


class NSynthModule(FamilyModule):
    """Lightning wrapper: the model's own ``loss`` on batches of crops, Adam + staged decay."""

    def __init__(self, model: torch.nn.Module, preset: str) -> None:
        super().__init__()
        self.model = model
        self.preset = preset

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.model.loss(batch)["loss"]
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        for key, value in self.model.loss(batch).items():
            self.log(f"val/{key}", value, prog_bar=key == "loss")

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.model.config
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2)
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _StagedLR(cfg.lr_decay_steps, cfg.lr_decay_factors)
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def export_checkpoint(self, directory: Path, meta: dict[str, Any]) -> None:
        export(self.model, directory, self.preset, meta)


def export(
    model: torch.nn.Module, directory: str | Path, preset: str, meta: dict[str, Any] | None = None
) -> Path:
    """Save an NSynth model as a latentmusic checkpoint (``latentmusic.load`` reads it back)."""
    cfg = model.config
    return save_checkpoint(
        directory,
        model,
        family="nsynth",
        model_type=model.model_type,
        preset=preset,
        config=config_to_dict(cfg),
        extra={"sample_rate": cfg.sample_rate, "hop": cfg.hop, "bottleneck": model.bottleneck},
        meta=meta,
    )


def build_model(model_type: str, config: Any) -> torch.nn.Module:
    """A fresh model of ``model_type`` ("wavenet", "spectral" or "harmonic") from its config."""
    if model_type == "wavenet":
        from latentmusic.nsynth.model import NSynthWaveNetAE

        return NSynthWaveNetAE(config)
    if model_type == "harmonic":
        from latentmusic.nsynth.harmonic import HarmonicAutoencoder

        return HarmonicAutoencoder(config)
    from latentmusic.nsynth.spectral_ae import SpectralAutoencoder

    return SpectralAutoencoder(config)


def _check_resume(out: Path, model_type: str, preset: str, config: Any) -> None:
    """A resumed run must use the model it started with; say so instead of a shape error."""
    path = out / "config.json"
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if saved.get("model_type") != model_type or saved.get("config") != config_to_dict(config):
        raise ConfigError(
            f"{out} was started as a '{saved.get('model_type')}' model with preset "
            f"'{saved.get('preset')}' and other settings; resume with the same --model, --preset and --set."
        )


def _datasets(data: Path, crop: int, sample_rate: int) -> tuple[Any, Any]:
    from latentmusic.data.nsynth import NSynthDataset

    train_set = NSynthDataset(data, "train", crop=crop, sr=sample_rate)
    try:
        val_set = NSynthDataset(data, "valid", crop=crop, sr=sample_rate)
    except InputError:
        val_set = None  # a user's folder may have no validation split
    if val_set is not None and len(val_set) == 0:
        val_set = None
    return train_set, val_set


def add_pitch_conditioning(
    model: torch.nn.Module, saved: dict[str, Any], state: dict[str, torch.Tensor]
) -> bool:
    """Grow a saved WaveNet autoencoder without pitch conditioning into ``model``'s pitch-
    conditioned network, in place: its weights, the conditioning convs widened by zero
    columns for the pitch vector (so it starts out playing exactly as before, and learns to
    read the pitch) and ``model``'s fresh pitch embedding. Everything it learnt is kept, so
    a pitch-conditioned model can continue a trained one (``--init nsynth-small --preset
    small-pitch``). False (nothing changed) when the shapes do not call for it."""
    wanted = getattr(model.config, "pitch_channels", 0)
    if not wanted or saved.get("pitch_channels", 0) or model.pitch_embedding is None:
        return False
    own = model.state_dict()
    for key, tensor in list(state.items()):
        target = own.get(key)
        grown_inputs = (
            target is not None
            and tensor.dim() == 3
            and target.shape[0] == tensor.shape[0]
            and target.shape[1] == tensor.shape[1] + wanted
            and target.shape[2] == tensor.shape[2]
        )
        if grown_inputs:  # a conditioning 1x1 conv: (out, bottleneck, 1) -> (out, +pitch, 1)
            state[key] = torch.cat([tensor, tensor.new_zeros(tensor.shape[0], wanted, 1)], 1)
    state["pitch_embedding.weight"] = own["pitch_embedding.weight"].clone()
    saved["pitch_channels"] = wanted
    return True


def grow_harmonic(
    model: torch.nn.Module, saved: dict[str, Any], state: dict[str, torch.Tensor]
) -> bool:
    """Grow a saved harmonic model into ``model``'s larger network, in place, keeping every
    weight: the odd/even control (``parity_bands``), the measured balance's map into the
    embedding (``parity_input``) and the measured harmonic levels' (``harmonic_input``) added
    as zero layers, and the encoder's first conv widened by zero columns for the even/odd
    inputs (``comb_input``). These start out silent: the grown model plays exactly as the
    saved one and learns to use them. The measured levels' mix into the decoder's
    (``harmonic_skip``) starts full instead, as in a fresh model (measured: better at once).
    False (nothing changed) when the shapes do not call for it."""
    grown = False
    bands = getattr(model.config, "parity_bands", 0)
    if bands and not saved.get("parity_bands", 0) and model.parity_head is not None:
        for key, tensor in model.parity_head.state_dict().items():
            state[f"parity_head.{key}"] = torch.zeros_like(tensor)
        saved["parity_bands"] = bands
        grown = True
    if getattr(model.config, "parity_input", 0) and not saved.get("parity_input", 0):
        state["parity_in.weight"] = torch.zeros_like(model.parity_in.weight)
        saved["parity_input"] = model.config.parity_input
        grown = True
    if getattr(model.config, "harmonic_input", 0) and not saved.get("harmonic_input", 0):
        state["harmonic_in.weight"] = torch.zeros_like(model.harmonic_in.weight)
        saved["harmonic_input"] = model.config.harmonic_input
        grown = True
    if getattr(model.config, "harmonic_skip", False) and not saved.get("harmonic_skip", False):
        state["skip_mix"] = model.skip_mix.detach().clone()  # its fresh value: full
        saved["harmonic_skip"] = True
        grown = True
    start = state.get("encoder.start.weight")
    if getattr(model.config, "comb_input", False) and not saved.get("comb_input", False):
        wanted = model.encoder.start.weight.shape[1]
        if start is not None and start.shape[1] < wanted:
            extra = start.new_zeros(start.shape[0], wanted - start.shape[1], start.shape[2])
            state["encoder.start.weight"] = torch.cat([start, extra], dim=1)
            saved["comb_input"] = True
            grown = True
    return grown


_GROW = {"wavenet": add_pitch_conditioning, "harmonic": grow_harmonic}


def train(job: TrainJob) -> Path:
    """Train an NSynth model on an NSynth-format directory; returns the run directory.

    ``job.model_type`` is "wavenet" (default), "spectral" (the paper's baseline) or
    "harmonic" (our fast harmonic-plus-noise decoder, trained on the notes' labelled pitch);
    ``job.settings.batch_size`` crops per step; ``job.init`` starts from a checkpoint's weights.
    """
    model_type = job.model_type or "wavenet"
    preset, settings, init = job.preset, job.settings, job.init
    if model_type not in MODEL_TYPES:
        raise ConfigError(
            f"Unknown nsynth model type '{model_type}'; choose one of: {', '.join(MODEL_TYPES)}."
        )
    config = resolve_config(presets_for(model_type), preset, list(job.overrides))
    out = job.out
    if settings.resume:
        _check_resume(out, model_type, preset, config)
    torch.manual_seed(settings.seed)  # the initial weights follow --seed, like the batches
    model = build_model(model_type, config)
    module = NSynthModule(model, preset)
    if init is not None:
        grow = functools.partial(_GROW[model_type], model) if model_type in _GROW else None
        ckpt = init_from(
            model, init, family="nsynth", model_type=model_type, config=config, grow=grow
        )
        module.step_offset = steps_of(ckpt)
    train_set, val_set = _datasets(Path(job.data), config.crop, config.sample_rate)
    fit(module, train_set, val_set, settings, data_description=str(job.data))
    return out
