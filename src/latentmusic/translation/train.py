"""Training the universal music translator: all K decoders in one process, one harness.

The official code trains one decoder per GPU and syncs the shared encoder across
machines; here one LightningModule holds the encoder, the confusion network and every
decoder, batches mix domains, and each item is reconstructed by its own domain's
decoder. Scaling out is Lightning's DDP (``--devices/--num-nodes/--strategy ddp``).

The objective is the model's own (``UniversalTranslator.loss``); per step (Mor et al.
2018, section 3):
    recon     = mean over the batch's domains of decoder_k's NLL on domain k's items
    loss_ae   = recon - lambda * CE(C_frozen(E(aug(x))), k)     (encoder + decoders)
    loss_conf = CE(C(E(aug(x)).detach()), k)                    (confusion network)
Pitch augmentation ``aug`` touches only the encoder input; decoders see and predict the
clean audio. The two losses have disjoint gradients, so one backward pass and one Adam
step over their sum is the paper's alternation exactly (see ``confusion.confusion_losses``).
The domain mean of the NLL mirrors the official multi-GPU code, whose DDP all-reduce
averages the per-domain losses on the shared encoder.

``add_domain`` trains only a new decoder on the frozen encoder and appends the domain.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentmusic.audio.formats import AUDIO_SUFFIXES, is_audio
from latentmusic.errors import ConfigError, InputError
from latentmusic.train.checkpoint import save_checkpoint
from latentmusic.train.config import config_to_dict, resolve_config
from latentmusic.train.harness import FamilyModule, TrainJob, TrainSettings, fit
from latentmusic.translation.config import PRESETS, TranslationConfig, lr_factor
from latentmusic.translation.model import FAMILY, MODEL_TYPE, UniversalTranslator


# --------------------------------------------------------------------- batches
@dataclasses.dataclass
class TranslationCollate:
    """Stack items into a batch and add the augmented encoder input.

    Runs inside the harness's step-seeded batch function, so the augmentation drawn from
    the global NumPy RNG is the same on resume. Items marked ``augment=False`` (the
    validation set) get no encoder copy: validation encodes the clean audio. The paper's
    segment pitch shift comes first, then our recolouring (``eq_db``, ``envelope_db``).
    """

    sample_rate: int
    augment: bool = True  # the paper's segment pitch shift
    max_semitones: float = 0.5
    eq_db: float = 0.0
    envelope_db: float = 0.0

    @classmethod
    def for_config(cls, config: TranslationConfig) -> TranslationCollate:
        return cls(
            config.sample_rate,
            config.pitch_augment,
            config.augment_semitones,
            config.colour_eq_db,
            config.colour_envelope_db,
        )

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        audio = torch.stack([torch.as_tensor(it["audio"], dtype=torch.float32) for it in items])
        domain = torch.tensor([int(it["domain"]) for it in items], dtype=torch.int64)
        batch = {"audio": audio, "domain": domain}
        colour = self.eq_db > 0 or self.envelope_db > 0
        if not (self.augment or colour) or not all(it.get("augment", True) for it in items):
            return batch
        from latentmusic.audio.augment import random_colour, segment_pitch_shift

        rng = np.random.default_rng(int(np.random.randint(0, 2**31 - 1)))
        inputs = []
        for a in audio.numpy():
            if self.augment:
                a = segment_pitch_shift(a, self.sample_rate, rng, self.max_semitones)
            if colour:
                a = random_colour(a, self.sample_rate, rng, self.eq_db, self.envelope_db)
            inputs.append(a)
        batch["encoder_audio"] = torch.from_numpy(np.stack(inputs).astype(np.float32))
        return batch


class NoAugment(torch.utils.data.Dataset):
    """Wrap a dataset so its batches skip augmentation (validation)."""

    def __init__(self, dataset: Sequence[dict[str, Any]]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[index], "augment": False}


# --------------------------------------------------------------------- module
class TranslationModule(FamilyModule):
    """Encoder + confusion net + K decoders trained together (or one new decoder alone).

    ``train_only`` = a domain index switches to add-domain mode: only that decoder is
    optimised, the encoder runs frozen under ``no_grad`` and the confusion net is unused.
    """

    def __init__(
        self,
        config: TranslationConfig,
        domains: Sequence[str],
        preset: str = "custom",
        *,
        model: UniversalTranslator | None = None,
        train_only: int | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.preset = preset
        self.model = model if model is not None else UniversalTranslator(config, domains)
        self.train_only = train_only
        # Recent per-step losses (tests and notebooks read them; the logs keep everything).
        self.history: deque[dict[str, float]] = deque(maxlen=10_000)
        if train_only is not None:
            for p in self.model.parameters():
                p.requires_grad_(False)
            for p in self.model.decoders[train_only].parameters():
                p.requires_grad_(True)

    best_metric = "val/recon"  # RUN/best/ keeps the state that reconstructs held-out audio best

    @property
    def recon_name(self) -> str:
        """What the reconstruction term is, as the logs name it."""
        return "recon_stft" if self.config.decoder != "wavenet" else "recon_nll"

    # ------------------------------------------------------------- losses
    def losses(
        self, batch: dict[str, torch.Tensor], augmented: bool = True
    ) -> dict[str, torch.Tensor]:
        """The model's loss of one batch (``UniversalTranslator.loss``); validation passes
        ``augmented=False`` so the encoder reads the clean audio."""
        if not augmented:
            batch = {k: v for k, v in batch.items() if k != "encoder_audio"}
        return self.model.loss(batch, train_only=self.train_only)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.losses(batch, augmented=True)
        bs = len(batch["domain"])
        self.log("train/loss", out["loss"].detach(), batch_size=bs)
        self.log(f"train/{self.recon_name}", out["recon"], prog_bar=True, batch_size=bs)
        if "confusion_acc" in out:
            self.log("train/confusion_acc", out["confusion_acc"], prog_bar=True, batch_size=bs)
            self.log("train/confusion_ce", out["confusion_ce"], batch_size=bs)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=bs)
        self.history.append({k: float(v.detach()) for k, v in out.items()})
        return out["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self.losses(batch, augmented=False)
        bs = len(batch["domain"])
        self.log(f"val/{self.recon_name}", out["recon"], prog_bar=True, batch_size=bs)
        self.log("val/recon", out["recon"], batch_size=bs)
        if "confusion_acc" in out:
            self.log("val/confusion_acc", out["confusion_acc"], batch_size=bs)

    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.config.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, self.config)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip like the official code: by value (or by norm per sub-network), not globally."""
        if not gradient_clip_val:
            return
        groups = [self.model.encoder, self.model.confusion, *self.model.decoders]
        for net in groups:
            grads = [p for p in net.parameters() if p.grad is not None]
            if not grads:
                continue
            if self.config.grad_clip_mode == "value":
                torch.nn.utils.clip_grad_value_(grads, gradient_clip_val)
            else:
                torch.nn.utils.clip_grad_norm_(grads, gradient_clip_val)

    def export_checkpoint(self, directory: Path, meta: dict[str, Any]) -> None:
        export_model(self.model, directory, self.preset, meta)


def export_model(
    model: UniversalTranslator, directory: Path, preset: str, meta: dict[str, Any]
) -> Path:
    """Write a ``translation`` checkpoint: weights, every hyperparameter, the domain names."""
    meta = {**meta, "confusion_chance": 1.0 / len(model.domains)}
    return save_checkpoint(
        directory,
        model,
        family=FAMILY,
        model_type=MODEL_TYPE,
        preset=preset,
        config=config_to_dict(model.config),
        extra={"domains": model.domains, "sample_rate": model.sample_rate},
        meta=meta,
    )


def _harness_settings(settings: TrainSettings, config: TranslationConfig) -> TrainSettings:
    """The family's own clipping value, and DDP that tolerates decoders absent from a batch."""
    if settings.precision in ("16-mixed", "16", "16-true"):
        raise ConfigError(
            "Translation training supports precision 32-true or bf16-mixed, not float16."
        )
    strategy = settings.strategy
    if strategy in ("ddp", "ddp_spawn"):
        # A rank's batch may hold no item of some domain, leaving that decoder unused.
        strategy = f"{strategy}_find_unused_parameters_true"
    return dataclasses.replace(settings, grad_clip=config.grad_clip or None, strategy=strategy)


# --------------------------------------------------------------------- entry points
def train(job: TrainJob) -> Path:
    """Train a translator on a folder-per-domain data set (``latentmusic train translation``)."""
    from latentmusic.data.domains import DomainAudioSet, SegmentDataset

    data, model_type = job.data, job.model_type
    if model_type not in (None, MODEL_TYPE):
        raise ConfigError(
            f"The translation family has one model type, '{MODEL_TYPE}', not '{model_type}' "
            "(the decoder is chosen by the preset: --preset small for WaveNets, --preset "
            "notebank for our note-bank synthesizers)."
        )
    config = resolve_config(PRESETS, job.preset, list(job.overrides))
    domain_set = DomainAudioSet(data, sr=config.sample_rate)
    domains = list(domain_set.domains)
    if len(domains) < 2:
        raise InputError(
            f"{data} holds {len(domains)} domain(s); translation needs at least two folders of audio "
            "(one per instrument or style)."
        )
    train_set = SegmentDataset(domain_set, "train", config.segment, config.sample_rate)
    try:
        val_set = SegmentDataset(domain_set, "valid", config.segment, config.sample_rate)
    except InputError:  # a small set may leave a domain without validation files
        val_set = []
    module = TranslationModule(config, domains, job.preset)
    if job.init is not None:
        module.step_offset = _init_from(module.model, job.init, config)
    fit(
        module,
        train_set,
        NoAugment(val_set) if len(val_set) else None,
        _harness_settings(job.settings, config),
        collate=TranslationCollate.for_config(config),
        data_description=str(data),
    )
    return job.out


def _init_from(model: UniversalTranslator, init: Path, config: TranslationConfig) -> int:
    """Start from a trained translator with the same domains; returns its step count."""
    from latentmusic.catalogue import resolve_model
    from latentmusic.train.checkpoint import read_checkpoint
    from latentmusic.train.init import init_from, steps_of

    saved = read_checkpoint(resolve_model(init), family=FAMILY)
    if list(saved.extra.get("domains", [])) != model.domains:
        raise InputError(
            f"--init {init} was trained on domains {saved.extra.get('domains')}, but the data has "
            f"{model.domains}; use `latentmusic translation add-domain` to add domains."
        )
    ckpt = init_from(model, init, family=FAMILY, model_type=MODEL_TYPE, config=config)
    return steps_of(ckpt)


@dataclasses.dataclass
class DomainFolder:
    """The audio files of a new domain's folder, each read through once before training.

    ``files`` are the usable ones with their length in seconds; ``skipped`` the ones that
    cannot be used as audio (``{"audio": path, "reason": sentence}``, as ``jukebox
    encode-dataset`` lists them); ``short`` the ones shorter than one training segment.
    """

    root: Path
    files: list[tuple[Path, float]]
    skipped: list[dict[str, str]]
    short: list[Path]

    @property
    def total(self) -> int:
        return len(self.files) + len(self.skipped) + len(self.short)


def scan_domain_folder(root: Path, segment: int, sr: int) -> DomainFolder:
    """Find the audio files below ``root`` and decode each once (streamed, memory stays
    flat): a file that is not audio, cannot be read or holds NaN samples is skipped here,
    with its reason, instead of stopping training when a batch first reaches it."""
    from latentmusic.audio import io as audio_io

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"New-domain folder {root} does not exist or is not a directory.")
    found = sorted(p for p in root.rglob("*") if p.is_file() and is_audio(p))
    folder = DomainFolder(root, [], [], [])
    for path in found:
        try:
            rate, frames, _ = audio_io.info(path)
            for _ in audio_io.stream(path, None, block_seconds=30.0):
                pass
        except InputError as exc:
            folder.skipped.append({"audio": str(path), "reason": str(exc)})
            continue
        if frames / rate * sr >= segment:
            folder.files.append((path, frames / rate))
        else:
            folder.short.append(path)
    return folder


def _report_skipped(folder: DomainFolder, data: Path, segment_seconds: float) -> None:
    """One warning per unusable file, then the count (like ``jukebox encode-dataset``)."""
    import warnings

    from latentmusic.errors import LatentMusicWarning

    for entry in folder.skipped:
        warnings.warn(f"skipped: {entry['reason']}", LatentMusicWarning, stacklevel=3)
    if not folder.skipped and not folder.short:
        return
    why = []
    if folder.skipped:
        why.append(f"{len(folder.skipped)} not usable as audio (above)")
    if folder.short:
        why.append(f"{len(folder.short)} shorter than the {segment_seconds:.2f} s training segment")
    warnings.warn(
        f"skipped {len(folder.skipped) + len(folder.short)} of {folder.total} audio files in "
        f"{data}: {' and '.join(why)}; training on the other {len(folder.files)}.",
        LatentMusicWarning,
        stacklevel=3,
    )


class FolderSegments(torch.utils.data.Dataset):
    """Random ``segment``-sample crops of the usable audio files of a new domain's folder.

    Files are split 80/10/10 by a stable hash of their relative path (``split=None``: all
    of them); each item reads only its crop (``io.load`` with offset/duration), so the
    folder may be large.
    """

    def __init__(
        self,
        folder: DomainFolder,
        split: str | None,
        segment: int,
        sr: int,
        domain: int,
        items_per_file: int = 16,
    ) -> None:
        chosen = [
            (path, seconds)
            for path, seconds in folder.files
            if split is None or _split_of(path.relative_to(folder.root)) == split
        ]
        self.files: list[Path] = [path for path, _ in chosen]
        self.seconds: list[float] = [seconds for _, seconds in chosen]
        self.segment, self.sr, self.domain = segment, sr, domain
        self.items_per_file = items_per_file
        self.random_crops = split != "valid"

    def __len__(self) -> int:
        return len(self.files) * self.items_per_file

    def __getitem__(self, index: int) -> dict[str, Any]:
        from latentmusic.audio import io as audio_io

        i = index // self.items_per_file
        span = self.segment / self.sr
        room = max(0.0, self.seconds[i] - span - 0.01)
        if self.random_crops:
            offset = float(np.random.uniform(0.0, room))
        else:
            offset = room * (index % self.items_per_file) / max(1, self.items_per_file - 1)
        audio, _ = audio_io.load(self.files[i], sr=self.sr, offset=offset, duration=span + 0.01)
        audio = audio[: self.segment]
        if len(audio) < self.segment:
            audio = np.pad(audio, (0, self.segment - len(audio)))
        return {"audio": torch.from_numpy(np.ascontiguousarray(audio)), "domain": self.domain}


def _split_of(relative: Path) -> str:
    from latentmusic.data.domains import split_of

    return split_of(relative.with_suffix("").as_posix())


def add_domain(
    model: Path,
    data: Path,
    out: Path,
    settings: TrainSettings,
    *,
    name: str | None = None,
    init_decoder: str | None = None,
) -> Path:
    """Train a decoder for a new domain on the frozen encoder; export the model with K+1 domains.

    ``data`` is a folder of the new domain's audio (any rates, any layout below it). The
    encoder and the existing decoders are copied bit for bit; the confusion network keeps
    its weights and gains an (untrained) output for the new domain.
    ``init_decoder`` starts the new decoder from a known domain's weights instead of from
    scratch (it converges faster when the instruments are alike). Every file is decoded
    once before training: one that is not usable audio is skipped with a warning naming
    it, and a count follows; a folder with no usable file is one error, before any work.
    """
    from latentmusic.train.checkpoint import read_checkpoint
    from latentmusic.translation.model import from_checkpoint

    ckpt = read_checkpoint(model, family=FAMILY)
    translator = from_checkpoint(ckpt)
    config = translator.config
    name = name or Path(data).resolve().name
    source = translator.domain_index(init_decoder) if init_decoder is not None else None
    index = translator.add_domain(name)
    if source is not None:
        translator.decoders[index].load_state_dict(translator.decoders[source].state_dict())
    segment_seconds = config.segment / config.sample_rate
    folder = scan_domain_folder(Path(data), config.segment, config.sample_rate)
    if not folder.files:
        if folder.skipped and not folder.short:
            raise InputError(
                f"None of the {folder.total} audio files in {data} can be used "
                f"(first: {folder.skipped[0]['reason']})."
            )
        raise InputError(
            f"{data} has no audio file of at least {segment_seconds:.2f} s "
            f"({', '.join(AUDIO_SUFFIXES)})."
        )
    _report_skipped(folder, Path(data), segment_seconds)
    train_set = FolderSegments(folder, "train", config.segment, config.sample_rate, index)
    if len(train_set) == 0:
        train_set = FolderSegments(folder, None, config.segment, config.sample_rate, index)
    val_set = FolderSegments(
        folder, "valid", config.segment, config.sample_rate, index, items_per_file=4
    )
    module = TranslationModule(
        config, translator.domains, ckpt.preset, model=translator, train_only=index
    )
    fit(
        module,
        train_set,
        NoAugment(val_set) if len(val_set) else None,
        _harness_settings(settings, config),
        collate=TranslationCollate.for_config(config),
        data_description=f"{model} + {data} as '{name}'",
    )
    return Path(out)
