"""Universal Music Translation Network (Mor et al. 2018): one model, many instruments.

A shared non-causal WaveNet encoder maps any recording to 64-dim latents at 20 Hz; a
domain-confusion network, trained adversarially against it, keeps the domain out of the
latents; one causal WaveNet decoder per domain turns latents back into audio of that
domain. Translating = encode with the shared encoder, decode with the target's decoder.

This file holds the network and its loss; translating long inputs chunk by chunk and
files of any length, rate and channel count lives in ``streaming.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from latentmusic.audio.mulaw import mu_law_decode, mu_law_encode
from latentmusic.errors import CheckpointError, InputError
from latentmusic.translation.config import TranslationConfig
from latentmusic.translation.confusion import DomainConfusion, confusion_losses

FAMILY = "translation"
MODEL_TYPE = "umt"
# The synthesizer decoders' spectral loss: DDSP's FFT sizes; the 2048-point one (7.8 Hz
# bins) is what tells neighbouring semitones apart from the tenor range down.
NOTEBANK_RESOLUTIONS = ((2048, 512, 2048), (1024, 256, 1024), (512, 128, 512), (256, 64, 256))


class UniversalTranslator(nn.Module):
    """Shared encoder + domain-confusion net + one WaveNet decoder per domain.

    ``domains`` names the decoders in order (``decoders[i]`` renders ``domains[i]``); the
    names travel in the checkpoint's ``config.json`` next to the hyperparameters.
    """

    def __init__(self, config: TranslationConfig, domains: Sequence[str]) -> None:
        super().__init__()
        from latentmusic.nn.wavenet import NonCausalWaveNetEncoder

        config.validate()
        names = [str(d) for d in domains]
        if not names:
            raise InputError("A translation model needs at least one domain.")
        if len(set(names)) != len(names):
            raise InputError(f"Domain names must be unique, got {names}.")
        self.config = config
        self._domains = names
        if config.encoder_input == "grid":
            from latentmusic.translation.notegrid import PitchGridEncoder

            self.encoder: nn.Module = PitchGridEncoder(
                channels=config.encoder_channels,
                layers=config.encoder_layers,
                grid_channels=config.grid_channels,
                low_pitch=config.notebank_low_pitch,
                pitches=config.notebank_pitches,
                pool=config.pool,
                hop=config.spectrum_hop,
                sample_rate=config.sample_rate,
            )
        elif config.encoder_input == "spectrum":
            from latentmusic.translation.spectral_encoder import SpectralEncoder

            self.encoder = SpectralEncoder(
                channels=config.encoder_channels,
                layers=config.encoder_layers,
                latent_dim=config.latent_dim,
                pool=config.pool,
                hop=config.spectrum_hop,
                sample_rate=config.sample_rate,
            )
        else:
            self.encoder = NonCausalWaveNetEncoder.from_config(
                config, out_channels=config.latent_dim, pool=config.pool, style="umt"
            )
        self.confusion = DomainConfusion(
            config.latent_dim,
            len(names),
            channels=config.confusion_channels,
            layers=config.confusion_layers,
            dropout=config.confusion_dropout,
        )
        self.decoders = nn.ModuleList(self._new_decoder() for _ in names)
        if config.decoder != "wavenet":
            from latentmusic.audio.spectral import MultiResolutionSTFTLoss

            # Non-persistent windows only: checkpoints hold no loss state.
            self.spectral = MultiResolutionSTFTLoss(
                NOTEBANK_RESOLUTIONS, convergence=False, log_weight=config.notebank_log_weight
            )

    def _new_decoder(self) -> nn.Module:
        from latentmusic.nn.wavenet import WaveNetDecoder

        c = self.config
        if c.decoder in ("notebank", "notegrid"):
            from latentmusic.translation.notebank import NoteBankDecoder
            from latentmusic.translation.notegrid import NoteGridDecoder

            grid = c.decoder == "notegrid"
            return (NoteGridDecoder if grid else NoteBankDecoder)(
                c.grid_channels if grid else c.latent_dim,
                pool=c.pool,
                hop=c.notebank_hop,
                channels=c.notebank_channels,
                layers=c.notebank_layers,
                low_pitch=c.notebank_low_pitch,
                pitches=c.notebank_pitches,
                harmonics=c.notebank_harmonics,
                noise_bands=c.notebank_noise_bands,
                sample_rate=c.sample_rate,
                reverb_seconds=c.notebank_reverb,
            )
        return WaveNetDecoder(
            n_classes=c.n_classes,
            residual=c.decoder_residual,
            skip=c.decoder_skip,
            layers=c.decoder_layers,
            cycle=c.decoder_cycle,
            kernel=c.decoder_kernel,
            cond_channels=c.latent_dim,
            hop=c.pool,
            input_embedding=True,
        )

    # ----------------------------------------------------------------- loss
    def loss(
        self, batch: dict[str, torch.Tensor], train_only: int | None = None
    ) -> dict[str, torch.Tensor]:
        """The training objective of one batch and its logged parts.

        ``batch``: ``audio`` (B, T) clean crops, ``domain`` (B,) their domain indices and,
        when pitch augmentation is on, ``encoder_audio`` (what the encoder reads instead).
        Every decoder reconstructs only its own domain's items (mean over the domains in the
        batch); the encoder is pushed against the confusion net by ``confusion_lambda``
        while the net learns to tell the domains apart (one step over the sum is the paper's
        alternation: ``confusion.confusion_losses``). ``train_only`` (add-domain): only that
        decoder's reconstruction, the encoder frozen.
        """
        clean, domain = batch["audio"], batch["domain"]
        enc_in = batch.get("encoder_audio", clean)
        if train_only is not None:
            self.encoder.eval()
            with torch.no_grad():
                latents = self.encode_tensor(enc_in)
            recon = self.reconstruction(train_only, clean, latents)
            return {"loss": recon, "recon": recon.detach()}
        latents = self.encode_tensor(enc_in)
        per_domain = []
        weighted = torch.zeros((), device=clean.device)
        for k in torch.unique(domain).tolist():
            idx = (domain == k).nonzero(as_tuple=True)[0]
            recon_k = self.reconstruction(k, clean[idx], latents[idx])
            per_domain.append(recon_k)
            weighted = weighted + recon_k.detach() * len(idx)
        recon = torch.stack(per_domain).mean()
        adversarial, classifier, accuracy = confusion_losses(self.confusion, latents, domain)
        loss = recon - self.config.confusion_lambda * adversarial + classifier
        return {
            "loss": loss,
            "recon": weighted / len(domain),
            "confusion_ce": classifier.detach(),
            "confusion_acc": accuracy,
        }

    def reconstruction(self, k: int, clean: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """Decoder ``k``'s reconstruction loss on its items: the NLL of the clean mu-law codes
        (WaveNet, teacher-forced) or the multi-resolution STFT distance (synthesizers)."""
        if self.config.decoder != "wavenet":
            return self.spectral(self.decoders[k](latents), clean)
        from latentmusic.nn import timemajor as tm  # numba with it: not for the note grid

        codes = mu_law_encode(clean, self.config.mu)  # decoder input and target: clean audio
        decoder = self.decoders[k]
        if tm.fast_path_applies(decoder, latents):
            # (B, T, 256) logits: the softmax over contiguous rows (same mean as (B, 256, T),
            # whose backward along the strided class axis took ~7 % of the step).
            logits = decoder.logits_time_major(codes, latents)
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1))
        return F.cross_entropy(decoder(codes, latents), codes)

    # ----------------------------------------------------------------- vocabulary
    @property
    def domains(self) -> list[str]:
        return list(self._domains)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def domain_index(self, domain: str | int) -> int:
        """Index of a domain by name (or index); an unknown one lists the known ones."""
        if isinstance(domain, (int, np.integer)) and not isinstance(domain, bool):
            if 0 <= int(domain) < len(self._domains):
                return int(domain)
        elif str(domain) in self._domains:
            return self._domains.index(str(domain))
        known = ", ".join(self._domains)
        raise InputError(f"Unknown domain '{domain}'; this model knows: {known}.")

    def resolve_targets(self, to: str | int | Iterable[str | int]) -> list[str]:
        """``"all"``, one domain or a list of them -> domain names (validated)."""
        if isinstance(to, str) and to == "all":
            return self.domains
        items = [to] if isinstance(to, (str, int, np.integer)) else list(to)
        if not items:
            raise InputError(
                f"Name at least one target domain; this model knows: {', '.join(self._domains)}."
            )
        names = [self._domains[self.domain_index(item)] for item in items]
        return list(dict.fromkeys(names))

    def add_domain(self, name: str) -> int:
        """Append a fresh decoder (and a confusion logit) for a new domain; returns its index."""
        name = str(name)
        if not name or name == "all":
            raise InputError(f"'{name}' cannot be a domain name.")
        if name in self._domains:
            raise InputError(f"The model already has a domain called '{name}'.")
        device = next(self.parameters()).device
        self.decoders.append(self._new_decoder().to(device))
        self.confusion.grow(1)
        self._domains.append(name)
        return len(self._domains) - 1

    # ----------------------------------------------------------------- encoding
    def encoder_input(self, audio: torch.Tensor) -> torch.Tensor:
        """Float audio -> the 8-bit mu-law signal the encoder sees, scaled to [-1, 1].

        Like the official code, the encoder reads the quantised mu-law signal (not the raw
        waveform): the same 256 levels the decoders predict, with quiet detail kept.
        """
        codes = mu_law_encode(audio, self.config.mu)
        return codes.to(torch.float32) * (2.0 / self.config.mu) - 1.0

    def encode_tensor(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) float audio (T a multiple of ``pool``) -> (B, latent_dim, T // pool)."""
        if self.config.encoder_input in ("spectrum", "grid"):
            return self.encoder(audio)
        return self.encoder(self.encoder_input(audio))

    @torch.no_grad()
    def encode(self, audio: Any) -> torch.Tensor:
        """Audio (T,) or (B, T) at ``sample_rate`` (numpy or torch) -> latents (B, F, latent_dim).

        Time first, the toolkit's layout for frame latents (NSynth's embeddings are
        (B, F, 16)); the networks inside run channels-first. The end is padded with silence
        to a whole frame: F = ceil(T / pool).
        """
        x = self._as_batch(audio)
        pool = self.config.pool
        n = x.shape[-1]
        self._check_length(n)
        padded = math.ceil(n / pool) * pool
        if padded != n:
            x = nn.functional.pad(x, (0, padded - n))
        return self.encode_tensor(x).transpose(1, 2).contiguous()

    def _as_batch(self, audio: Any) -> torch.Tensor:
        x = (
            audio
            if isinstance(audio, torch.Tensor)
            else torch.from_numpy(np.asarray(audio, dtype=np.float32))
        )
        x = x.to(self._device(), torch.float32)
        if x.dim() == 1:
            x = x[None]
        if x.dim() != 2:
            raise InputError(
                f"Audio must have shape (samples,) or (batch, samples), got {tuple(x.shape)}."
            )
        if not torch.isfinite(x).all():
            raise InputError("The audio contains NaN or infinite samples.")
        return x

    def _check_length(self, n: int, what: str = "The input") -> None:
        pool, sr = self.config.pool, self.config.sample_rate
        if n < pool:
            raise InputError(
                f"{what} is {n} samples long at {sr} Hz; the model needs at least one latent "
                f"frame of {pool} samples ({1000 * pool / sr:.0f} ms)."
            )

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # ----------------------------------------------------------------- decoding
    @torch.no_grad()
    def decode(
        self,
        latents: torch.Tensor,
        domain: str | int,
        *,
        n_samples: int | None = None,
        temperature: float = 1.0,
        seed: int | None = 0,
        state: Any = None,
        return_state: bool = False,
        progress: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Latents (B, F, latent_dim) or (F, latent_dim) -> audio (B, F * pool) in the voice
        of ``domain``.

        WaveNet decoders sample autoregressively with the fast generator; note-bank decoders
        synthesize directly (``temperature`` does not apply; ``seed`` seeds their noise).
        ``state`` continues a previous call (pass the state it returned with
        ``return_state=True``).
        """
        index = self.domain_index(domain)
        z = latents.to(self._device(), torch.float32)
        if z.dim() == 2:
            z = z[None]
        if z.dim() != 3 or z.shape[2] != self.config.latent_dim:
            raise InputError(
                f"Latents must have shape (batch, frames, {self.config.latent_dim}), got {tuple(latents.shape)}."
            )
        z = z.transpose(1, 2)  # the decoders run channels-first
        if not temperature >= 0:
            raise InputError(f"Temperature must be >= 0, got {temperature}.")
        if self.config.decoder != "wavenet":
            audio, new_state = self.decoders[index].decode(z, state, seed)
            if n_samples is not None:
                audio = audio[:, :n_samples]
            return (audio, new_state) if return_state else audio
        out = self.decoders[index].generate(
            z,
            n_samples=n_samples,
            temperature=temperature,
            seed=seed,
            state=state,
            return_state=True,
            progress=progress,
        )
        codes, new_state = out
        audio = mu_law_decode(codes, self.config.mu)
        return (audio, new_state) if return_state else audio

    # ----------------------------------------------------------------- translation
    @torch.no_grad()
    def translate(
        self,
        audio: Any,
        to: str | int | Iterable[str | int],
        *,
        sr: int | None = None,
        chunk_seconds: float = 1.0,
        temperature: float = 1.0,
        seed: int | None = 0,
        progress: bool = False,
    ) -> Any:
        """Translate mono audio (T,) into domain ``to`` (a name) or several (a list / "all").

        Returns audio of exactly the input's length, at the input's rate ``sr`` (default:
        the model's), as numpy for numpy input and torch for torch input; a dict
        ``{domain: audio}`` when ``to`` is a list or "all". A silent input (peak below
        -60 dBFS) translates to silence without running the decoders.
        """
        from latentmusic.translation.streaming import TranslationStream, silence_level

        is_torch = isinstance(audio, torch.Tensor)
        x = audio.detach().cpu().numpy() if is_torch else np.asarray(audio)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 1:
            raise InputError(
                f"translate() takes mono audio of shape (samples,), got {x.shape}; mix it down first."
            )
        if not np.isfinite(x).all():
            raise InputError("The audio contains NaN or infinite samples.")
        targets = self.resolve_targets(to)
        rate = sr or self.sample_rate
        blocks = [x[i : i + rate] for i in range(0, max(len(x), 1), rate)]
        results = {name: [] for name in targets}
        stream = TranslationStream(
            self, targets, in_rate=rate, n_in=len(x), chunk_seconds=chunk_seconds,
            temperature=temperature, seed=seed, progress=progress,
        )  # fmt: skip
        for outputs in stream.run(
            iter(blocks), silent=bool(np.max(np.abs(x), initial=0.0) < silence_level())
        ):
            for name, chunk in outputs.items():
                results[name].append(chunk)
        joined = {
            name: np.concatenate(parts) if parts else np.zeros(0, np.float32)
            for name, parts in results.items()
        }
        if is_torch:
            joined = {name: torch.from_numpy(a) for name, a in joined.items()}
        single = isinstance(to, (int, np.integer)) or (isinstance(to, str) and to != "all")
        return joined[targets[0]] if single else joined


def load_translator(path: str | Path) -> UniversalTranslator:
    """Load a translation checkpoint; another family's checkpoint is a clear CheckpointError."""
    from latentmusic.train.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path, family=FAMILY)
    return from_checkpoint(ckpt)


def from_checkpoint(ckpt: Any) -> UniversalTranslator:
    """Rebuild a :class:`UniversalTranslator` from a read checkpoint (no code is executed)."""
    from latentmusic.train.checkpoint import load_state_strict
    from latentmusic.train.config import config_from_dict

    if ckpt.family != FAMILY:
        raise CheckpointError(f"{ckpt.path} is a '{ckpt.family}' checkpoint, not a '{FAMILY}' one.")
    domains = ckpt.extra.get("domains")
    if not isinstance(domains, list) or not domains:
        raise CheckpointError(f"{ckpt.path} does not list the model's domains in config.json.")
    config = config_from_dict(TranslationConfig, ckpt.config)
    model = UniversalTranslator(config, domains)
    load_state_strict(model, ckpt.state_dict, ckpt.path)
    model.eval()
    return model
