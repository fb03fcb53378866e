"""The NSynth WaveNet autoencoder (Engel et al. 2017, "Neural Audio Synthesis of Musical Notes").

A non-causal dilated WaveNet encoder reads the mu-law companded note and average-pools a
16-dim embedding every 512 samples (a 4 s note at 16 kHz -> 125 x 16). A causal WaveNet
decoder predicts each 8-bit mu-law code from the codes before it and that embedding,
upsampled to the sample rate and added through 1x1 convs in every layer and once more
before the logits. Training minimises the cross-entropy of the 256-way softmax on random
6144-sample crops; generation runs the cached incremental decoder (``WaveNetDecoder.generate``).

Shapes::

    audio (B, T) in [-1, 1] -> mu-law codes (B, T) -> encoder -> embedding (B, 16, T / hop)
    codes (B, T) + embedding -> decoder -> logits (B, 256, T)   (logits[t] predicts codes[t])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from latentmusic.audio.mulaw import mu_law_decode, mu_law_encode
from latentmusic.errors import InputError
from latentmusic.nn.wavenet import NonCausalWaveNetEncoder, WaveNetDecoder
from latentmusic.nsynth.config import NSynthConfig
from latentmusic.nsynth.verbs import (
    EmbeddingVerbs,
    as_audio_batch,
    as_embedding_batch,
    as_pitch_batch,
)


def nsynth_encoder(config: Any) -> NonCausalWaveNetEncoder:
    """NSynth's temporal encoder: audio -> ``bottleneck`` channels every ``hop`` samples. Shared
    by the WaveNet autoencoder and the harmonic model, so both embed notes the same way."""
    return NonCausalWaveNetEncoder.from_config(
        config,
        out_channels=config.bottleneck,
        pool=config.hop,
        style="nsynth",
        in_channels=3 if getattr(config, "comb_input", False) else 1,
    )


class NSynthWaveNetAE(EmbeddingVerbs, nn.Module):
    """WaveNet autoencoder for musical notes with the family's verbs.

    ``encode`` on silent audio is well defined (the embedding of the mu-law zero code) and
    ``decode`` of it gives near-silence once trained; audio is clipped to [-1, 1] first.
    """

    model_type = "wavenet"

    def __init__(self, config: NSynthConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.sample_rate = config.sample_rate
        self.hop = config.hop
        self.bottleneck = config.bottleneck
        self.encoder = nsynth_encoder(config)
        self.decoder = WaveNetDecoder(
            n_classes=config.n_classes,
            residual=config.decoder_residual,
            skip=config.decoder_skip,
            layers=config.decoder_layers,
            cycle=config.decoder_cycle,
            kernel=config.decoder_kernel,
            cond_channels=config.bottleneck + config.pitch_channels,
            hop=config.hop,
        )
        # The pitch-conditioned variant: the note's MIDI pitch as a learnt vector, joined to
        # the embedding in the decoder's conditioning (config.pitch_channels; none by default).
        self.pitch_embedding = (
            nn.Embedding(128, config.pitch_channels) if config.pitch_channels else None
        )

    @property
    def takes_pitch(self) -> bool:  # type: ignore[override]
        """Whether the decoder is told the note's pitch (decode and the verbs take ``pitch=``)."""
        return self.pitch_embedding is not None

    # ---- training ----------------------------------------------------------------------------

    def quantize(self, audio: torch.Tensor) -> torch.Tensor:
        """Float audio -> int64 mu-law codes 0..255."""
        return mu_law_encode(audio.clamp(-1.0, 1.0), self.config.mu)

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T) codes -> (B, bottleneck, T // hop). The encoder reads the companded signal
        scaled to [-1, 1) -- magenta's ``mu_law(x) / 128`` -- not the linear waveform."""
        half = (self.config.mu + 1) / 2
        return self.encoder((codes.to(torch.float32) - half) / half)

    def conditioning(self, z: torch.Tensor, pitch: Any = None) -> torch.Tensor:
        """The decoder's conditioning frames: the (B, bottleneck, F) embedding, joined by the
        pitch's learnt vector on every frame when the model is pitch-conditioned (``pitch``:
        (B,) MIDI numbers, rounded; required then, refused otherwise)."""
        if self.pitch_embedding is None:
            if pitch is not None:
                raise InputError(
                    "This WaveNet was not trained with pitch conditioning; its embedding "
                    "carries the pitch itself."
                )
            return z
        if pitch is None:
            raise InputError(
                "This WaveNet is pitch-conditioned: pass pitch= (a MIDI note number; --pitch "
                "on the command line)."
            )
        p = torch.as_tensor(pitch, device=z.device).reshape(-1)
        if p.numel() == 1:
            p = p.expand(z.shape[0])
        if p.numel() != z.shape[0]:
            raise InputError(f"Got {p.numel()} pitches for a batch of {z.shape[0]} notes.")
        index = p.to(torch.float32).round().clamp(0, 127).long()
        vectors = self.pitch_embedding(index)[:, :, None].expand(-1, -1, z.shape[-1])
        return torch.cat([z, vectors.to(z.dtype)], dim=1)

    def forward(self, audio: torch.Tensor, pitch: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced pass: (B, T) audio, T a multiple of hop -> (logits (B, 256, T), codes)."""
        codes = self.quantize(audio)
        return self.decoder(codes, self.conditioning(self.embed_codes(codes), pitch)), codes

    def loss(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The training objective of a batch of (B, T) ``audio`` crops and its logged parts:
        the mean cross-entropy (nats per sample) of the 256-way softmax, also in bits."""
        nll = self.nll(batch["audio"], batch.get("pitch") if self.takes_pitch else None)
        return {"loss": nll, "nll": nll.detach(), "bits": nll.detach() / math.log(2.0)}

    def nll(self, audio: torch.Tensor, pitch: Any = None) -> torch.Tensor:
        """Mean cross-entropy (nats per sample) of the 256-way softmax over the crop (at the
        notes' MIDI ``pitch`` for a pitch-conditioned model)."""
        frames = audio.shape[-1] // self.hop
        codes = self.quantize(audio[:, : frames * self.hop])
        cond = self.conditioning(self.embed_codes(codes), pitch)
        # (B, T, 256) logits: the softmax runs over contiguous rows (same mean as (B, 256, T)).
        logits = self.decoder.logits_time_major(codes, cond)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1))

    @staticmethod
    def bits(nats: float | torch.Tensor) -> float:
        """Nats per sample -> bits per sample (log2(256) = 8 bits is chance)."""
        return float(nats) / math.log(2.0)

    # ---- verbs -------------------------------------------------------------------------------

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, audio: Any) -> torch.Tensor:
        """Audio (T,) or (B, T) in [-1, 1] -> embedding (T // hop, 16) or (B, T // hop, 16).

        Audio shorter than one hop is an InputError; samples after the last whole hop are
        dropped. Resample to ``sample_rate`` first (the file helpers do it for you).
        """
        x, single = as_audio_batch(audio, self.hop, self.sample_rate)
        with torch.no_grad():
            z = self.embed_codes(self.quantize(x.to(self._device()))).transpose(1, 2).cpu()
        return z[0] if single else z

    def decode(
        self,
        embedding: Any,
        pitch: Any = None,
        temperature: float = 1.0,
        seed: int | None = 0,
        backend: str = "auto",
        progress: bool = False,
    ) -> torch.Tensor:
        """Embedding (frames, 16) or (B, frames, 16) -> audio of frames * hop samples.

        Samples one mu-law code at a time with the cached incremental decoder (``backend``
        "auto" uses the fused CPU kernel when available). ``temperature`` scales the softmax
        (0 = greedy); ``seed`` makes sampling repeatable (None = fresh randomness).
        """
        z, single = as_embedding_batch(embedding, self.bottleneck)
        if self.takes_pitch and pitch is not None:
            pitch = as_pitch_batch(pitch, z.shape[0])
        with torch.no_grad():
            cond = self.conditioning(z.transpose(1, 2).to(self._device()), pitch).contiguous()
            codes = self.decoder.generate(
                cond,
                n_samples=z.shape[1] * self.hop,
                temperature=temperature,
                seed=seed,
                backend=backend,
                progress=progress,
            )
        audio = mu_law_decode(codes.cpu(), self.config.mu)
        return audio[0] if single else audio
