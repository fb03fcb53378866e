"""``latentmusic train jukebox --model vqvae|prior|upsampler``: Lightning modules and data.

- ``vqvae`` trains on audio (a ``latentmusic data domains`` set or a user's folders) with
  random excerpts; logs per level: loss, spectral convergence (dB), codes used in the
  batch, fraction of the codebook alive, code entropy (bits), commit loss.
- ``prior`` / ``upsampler`` train on a codes directory written by
  ``latentmusic jukebox encode-dataset``; each example is one window of ``n_ctx`` tokens
  with its labels (artist, genre, timing, lyrics) and, for upsamplers, the codes of the
  level above. Logs the loss in nats and bits per token.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentmusic.errors import ConfigError, InputError
from latentmusic.jukebox.codes import (
    load_codes,
    read_codes_manifest,
    resolve_vqvae,
    vqvae_reference,
)
from latentmusic.jukebox.config import (
    MODEL_TYPES,
    PriorConfig,
    VQVAEConfig,
    presets_for,
)
from latentmusic.jukebox.labels import LabelVocab, lyrics_window
from latentmusic.jukebox.prior import Prior
from latentmusic.jukebox.vqvae import VQVAE
from latentmusic.train.checkpoint import read_checkpoint, save_checkpoint
from latentmusic.train.config import config_to_dict, parse_overrides, resolve_config
from latentmusic.train.harness import FamilyModule, TrainJob, TrainSettings, fit

FAMILY = "jukebox"
DERIVED = ("bins", "hop", "ratio", "sample_rate", "n_artists", "n_genres")


def _warmup_optimizer(
    module: torch.nn.Module, lr: float, beta2: float, wd: float, warmup: int
) -> Any:
    opt = torch.optim.AdamW(module.parameters(), lr=lr, betas=(0.9, beta2), weight_decay=wd)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / max(1, warmup))
    )
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


# =============================================================================== VQ-VAE
class VQVAEModule(FamilyModule):
    """Trains the three level autoencoders together (their losses are independent)."""

    def __init__(self, cfg: VQVAEConfig, preset: str, power: float, data: str = "") -> None:
        super().__init__()
        self.cfg = cfg
        self.preset = preset
        self.power = max(float(power), 1e-5)  # the official code's "bandwidth" normaliser
        self.data = data
        self.model = VQVAE(cfg)

    def _log(self, stage: str, parts: dict[str, Any], n: int) -> None:
        for key, value in parts.items():
            value = value.detach() if isinstance(value, torch.Tensor) else value
            bar = key == "loss" or key.endswith("/sc_db")
            self.log(f"{stage}/{key}", value, batch_size=n, prog_bar=bar)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        parts = self.model.loss(batch, self.power)
        self._log("train", parts, batch["audio"].shape[0])
        return parts["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._log("val", self.model.loss(batch, self.power), batch["audio"].shape[0])

    def configure_optimizers(self) -> Any:
        return _warmup_optimizer(
            self.model, self.cfg.lr, self.cfg.beta2, self.cfg.weight_decay, self.cfg.warmup
        )

    def export_checkpoint(self, directory: Path, meta: dict[str, Any]) -> None:
        save_checkpoint(
            directory,
            self.model,
            family=FAMILY,
            model_type="vqvae",
            preset=self.preset,
            config=config_to_dict(self.cfg),
            extra={
                "sample_rate": self.cfg.sample_rate,
                "hops": list(self.cfg.hops),
                "l2_power": self.power,
            },
            meta=meta,
        )


def _audio_sets(data: Path, cfg: VQVAEConfig) -> tuple[Any, Any]:
    import warnings

    from latentmusic.data.domains import DomainAudioSet, SegmentDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domains = DomainAudioSet(data, sr=cfg.sample_rate)
    train_set = SegmentDataset(domains, "train", cfg.segment, cfg.sample_rate)
    try:
        val_set = SegmentDataset(domains, "valid", cfg.segment, cfg.sample_rate)
    except InputError:
        val_set = None  # a small folder may have no validation files for some domain
    return train_set, val_set


def estimate_power(dataset: Any, n: int = 32, seed: int = 0) -> float:
    """Mean squared amplitude of ``n`` random training excerpts (the l2 normaliser)."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        values = [float(dataset[i % len(dataset)]["audio"].pow(2).mean()) for i in range(n)]
    finally:
        np.random.set_state(state)
    return float(np.mean(values))


def train_vqvae(
    data: Path,
    out: Path,
    preset: str,
    overrides: list[str],
    settings: TrainSettings,
    init: Path | None,
) -> Path:
    cfg = resolve_config(presets_for("vqvae"), preset, overrides)
    train_set, val_set = _audio_sets(Path(data), cfg)
    module = VQVAEModule(cfg, preset, estimate_power(train_set), str(data))
    if init is not None:
        _load_init(module, init, "vqvae", cfg)
    fit(module, train_set, val_set, settings, data_description=str(data))
    return Path(out)


def _load_init(module: FamilyModule, init: Path, model_type: str, config: Any) -> None:
    """Start ``module`` from a trained model's weights and step count (``--init``)."""
    from latentmusic.train.init import init_from, steps_of

    ckpt = init_from(module.model, init, family=FAMILY, model_type=model_type, config=config)
    module.step_offset = steps_of(ckpt)


# ========================================================================= prior / upsampler
class CodeWindows:
    """Windows of ``n_ctx`` codes of one level with their conditioning, from a codes dir.

    Each item picks a random window start (NumPy's global RNG, reseeded per batch by the
    harness); files shorter than a window are zero-padded and masked out of the loss.
    """

    def __init__(
        self,
        codes_dir: Path,
        manifest: dict[str, Any],
        split: str,
        cfg: PriorConfig,
        vocab: LabelVocab,
    ) -> None:
        self.cfg = cfg
        self.vocab = vocab
        self.records = [r for r in manifest["files"] if r.get("split") == split]
        self.codes = []
        self.weights = []
        top = len(manifest["hops"]) - 1
        if not 0 <= cfg.level <= top:
            raise ConfigError(f"'level' must be in 0..{top} for this VQ-VAE.")
        for r in self.records:
            cf = load_codes(codes_dir / r["codes"])
            upper = cf.levels[cfg.level + 1] if cfg.is_upsampler else None
            self.codes.append((cf.levels[cfg.level], upper, cf.n_samples))
        # Long files give proportionally more windows per pass.
        self.index = []
        for i, (z, _, _) in enumerate(self.codes):
            self.index.extend([i] * max(1, math.ceil(len(z) / cfg.n_ctx)))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        cfg = self.cfg
        f = self.index[i]
        z, upper, n_samples = self.codes[f]
        record = self.records[f]
        n = cfg.n_ctx
        align = cfg.ratio or 1
        room = max(0, len(z) - n)
        start = int(np.random.randint(0, room // align + 1)) * align
        window = z[start : start + n]
        tokens = np.zeros(n, dtype=np.int64)
        tokens[: len(window)] = window
        mask = np.zeros(n, dtype=np.float32)
        mask[: len(window)] = 1.0
        item: dict[str, Any] = {
            "tokens": torch.from_numpy(tokens),
            "mask": torch.from_numpy(mask),
            "artist": self.vocab.artist_id(record["artist"]),
            "genre": self.vocab.genre_id(record["genre"]),
            "total": float(n_samples),
            "start": float(start * cfg.hop),
        }
        if upper is not None:
            up = np.zeros(n // cfg.ratio, dtype=np.int64)
            part = upper[start // cfg.ratio : (start + n) // cfg.ratio]
            up[: len(part)] = part
            item["upper"] = torch.from_numpy(up)
        if cfg.lyrics:
            sr = cfg.sample_rate
            item["lyrics"] = torch.from_numpy(
                lyrics_window(
                    record.get("lyrics", ""),
                    cfg.n_lyric_tokens,
                    start * cfg.hop / sr,
                    n * cfg.hop / sr,
                    n_samples / sr,
                )
            )
        return item


class PriorModule(FamilyModule):
    """Maximum likelihood on code windows (top prior or upsampler)."""

    def __init__(
        self,
        cfg: PriorConfig,
        preset: str,
        model_type: str,
        vocab: LabelVocab,
        extra: dict[str, Any],
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.preset = preset
        self.model_type = model_type
        self.vocab = vocab
        self.extra = extra
        self.model = Prior(cfg, vocab)

    def _log(self, stage: str, parts: dict[str, torch.Tensor], n: int) -> None:
        for key, value in parts.items():
            self.log(f"{stage}/{key}", value.detach(), prog_bar=key == "loss", batch_size=n)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        parts = self.model.loss(batch)
        self._log("train", parts, batch["tokens"].shape[0])
        return parts["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._log("val", self.model.loss(batch), batch["tokens"].shape[0])

    def configure_optimizers(self) -> Any:
        return _warmup_optimizer(
            self.model, self.cfg.lr, self.cfg.beta2, self.cfg.weight_decay, self.cfg.warmup
        )

    def export_checkpoint(self, directory: Path, meta: dict[str, Any]) -> None:
        save_checkpoint(
            directory,
            self.model,
            family=FAMILY,
            model_type=self.model_type,
            preset=self.preset,
            config=config_to_dict(self.cfg),
            extra={
                **self.vocab.to_extra(),
                **self.extra,
                # relative to the folder written (RUN/prior -> ../vqvae, RUN/prior/best ->
                # ../../vqvae): a copied or moved run keeps using its own VQ-VAE
                "vqvae": vqvae_reference(self.extra["vqvae"], directory),
            },
            meta=meta,
        )


def prior_config(
    model_type: str, preset: str, overrides: list[str], manifest: dict[str, Any], vocab: LabelVocab
) -> PriorConfig:
    """Resolve the preset and overrides, then fill in what the VQ-VAE and data dictate."""
    given = parse_overrides(overrides)
    clash = sorted(set(given) & set(DERIVED))
    if clash:
        raise ConfigError(
            f"{', '.join(clash)} {'is' if len(clash) == 1 else 'are'} taken from the VQ-VAE and "
            "the data set; do not set them."
        )
    hops = [int(h) for h in manifest["hops"]]
    top = len(hops) - 1
    base = presets_for(model_type)
    if preset not in base:
        raise ConfigError(f"Unknown preset '{preset}'; choose one of: {', '.join(base)}.")
    level = int(given.get("level", top if model_type == "prior" else base[preset].level))
    if model_type == "prior" and level != top:
        raise ConfigError(f"The top prior models level {top}; train upsamplers for lower levels.")
    if model_type == "upsampler" and not 0 <= level < top:
        raise ConfigError(f"An upsampler models level 0..{top - 1}, not {level}.")
    derived = {
        "level": level,
        "bins": int(manifest["codes"]),
        "hop": hops[level],
        "ratio": hops[level + 1] // hops[level] if model_type == "upsampler" else 0,
        "sample_rate": int(manifest["sample_rate"]),
        "n_artists": len(vocab.artists),
        "n_genres": len(vocab.genres),
    }
    presets = {preset: dataclasses.replace(base[preset], **derived)}
    rest = [o for o in overrides if o.split("=", 1)[0].strip() != "level"]
    return resolve_config(presets, preset, rest)


def train_prior(
    data: Path,
    out: Path,
    preset: str,
    model_type: str,
    overrides: list[str],
    settings: TrainSettings,
    init: Path | None,
) -> Path:
    codes_dir = Path(data)
    manifest = read_codes_manifest(codes_dir)
    rest = []
    vq_path = Path(manifest["vqvae"])
    for o in overrides:
        if o.startswith("vqvae="):
            vq_path = resolve_vqvae(o.split("=", 1)[1])
        else:
            rest.append(o)
    vq_info = read_checkpoint(vq_path, family=FAMILY) if vq_path.exists() else None
    if vq_info is not None and int(vq_info.config["codes"]) != int(manifest["codes"]):
        raise InputError(
            f"The codes in {codes_dir} use {manifest['codes']} codes per level, but the VQ-VAE "
            f"{vq_path} has {vq_info.config['codes']}."
        )
    vocab = LabelVocab(tuple(manifest["artists"]), tuple(manifest["genres"]))
    cfg = prior_config(model_type, preset, rest, manifest, vocab)
    train_set = CodeWindows(codes_dir, manifest, "train", cfg, vocab)
    if len(train_set) == 0:
        raise InputError(f"{codes_dir} has no training files.")
    val_set = CodeWindows(codes_dir, manifest, "valid", cfg, vocab)
    extra = {
        "vqvae": str(vq_path.resolve()),  # written relative to each export (export_checkpoint)
        "codes_dir": str(codes_dir.resolve()),
        "sample_rate": cfg.sample_rate,
        "level": cfg.level,
    }
    module = PriorModule(cfg, preset, model_type, vocab, extra)
    if init is not None:
        _load_init(module, init, model_type, cfg)
    fit(module, train_set, val_set if len(val_set) else None, settings, data_description=str(data))
    return Path(out)


# ==================================================================================== entry
def train(job: TrainJob) -> Path:
    """Train a Jukebox VQ-VAE (on audio) or a prior / upsampler (on a codes directory)."""
    model_type = job.model_type or "vqvae"
    if model_type not in MODEL_TYPES:
        raise ConfigError(
            f"Unknown Jukebox model type '{model_type}'; choose one of: {', '.join(MODEL_TYPES)}."
        )
    overrides = list(job.overrides)
    data, out = Path(job.data), job.out
    if model_type == "vqvae":
        if any(o.startswith("vqvae=") for o in overrides):
            raise ConfigError("--set vqvae=... is for prior and upsampler training.")
        return train_vqvae(data, out, job.preset, overrides, job.settings, job.init)
    return train_prior(data, out, job.preset, model_type, overrides, job.settings, job.init)
