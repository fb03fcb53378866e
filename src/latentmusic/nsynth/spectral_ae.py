"""The NSynth paper's baseline: a spectral autoencoder (log-magnitude STFT, 2-D convs, Griffin-Lim).

Engel et al. compare the WaveNet autoencoder with the best spectrogram autoencoder they
found: log-magnitude STFT (n_fft 1024, hop 256) in, strided 2-D convolutions with batch
norm and leaky ReLU down to a bottleneck, transposed convolutions back, a frequency-weighted
MSE, and Griffin-Lim to recover a phase. Here the bottleneck is 16 channels every 512
samples -- the same latent size and rate as the WaveNet autoencoder -- so ``latentmusic eval
nsynth`` compares two latents of equal capacity with the same verbs.

Shapes (paper preset, T samples, T a multiple of 512)::

    audio (B, T) -> |STFT| (B, 1, 512 bins, T/256 frames) -> encoder -> (B, 16, T/512)
    embedding (B, T/512, 16) -> decoder -> (B, 1, 512, T/256) -> Griffin-Lim -> audio (B, T)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from latentmusic.nsynth.config import SpectralAEConfig
from latentmusic.nsynth.verbs import EmbeddingVerbs, as_audio_batch, as_embedding_batch

LEAK = 0.2


def _block(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.LeakyReLU(LEAK))


class SpectralAutoencoder(EmbeddingVerbs, nn.Module):
    """2-D conv autoencoder over normalised log-magnitude spectrograms."""

    model_type = "spectral"

    def __init__(self, config: SpectralAEConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.sample_rate = config.sample_rate
        self.hop = config.hop
        self.bottleneck = config.bottleneck
        n_layers = len(config.channels)
        time_halvings = int(math.log2(config.time_down))
        self.freq_rows = config.freq_bins // 2**n_layers  # rows left after the strided convs

        enc: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(config.channels):
            st = 2 if i < time_halvings else 1
            if i == 0:
                k = config.first_kernel
                conv = nn.Conv2d(c_in, c_out, (k, k), stride=(2, st), padding=(k // 2, k // 2))
            else:
                conv = nn.Conv2d(c_in, c_out, (4, 3), stride=(2, st), padding=(1, 1))
            enc.append(_block(conv, c_out))
            c_in = c_out
        enc.append(_block(nn.Conv2d(c_in, config.hidden, (self.freq_rows, 1)), config.hidden))
        enc.append(nn.Conv2d(config.hidden, config.bottleneck, 1))
        enc.append(nn.BatchNorm2d(config.bottleneck))  # magenta normalises z, no activation
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [
            _block(nn.ConvTranspose2d(config.bottleneck, config.hidden, 1), config.hidden),
            _block(
                nn.ConvTranspose2d(config.hidden, config.channels[-1], (self.freq_rows, 1)),
                config.channels[-1],
            ),
        ]
        for i in reversed(range(n_layers)):
            c_in = config.channels[i]
            c_out = config.channels[max(i - 1, 0)]
            st = 2 if i < time_halvings else 1
            if i == 0:
                k = config.first_kernel
                conv = nn.ConvTranspose2d(
                    c_in,
                    c_out,
                    (k, k),
                    stride=(2, st),
                    padding=(k // 2, k // 2),
                    output_padding=(1, st - 1),
                )
            else:
                conv = nn.ConvTranspose2d(
                    c_in, c_out, (4, 3), stride=(2, st), padding=(1, 1), output_padding=(0, st - 1)
                )
            dec.append(_block(conv, c_out))
        dec.append(nn.Conv2d(config.channels[0], 1, 1))
        self.decoder = nn.Sequential(*dec)

        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        freqs = torch.arange(config.freq_bins) * config.sample_rate / config.n_fft
        self.register_buffer("low_band", (freqs < config.fw_loss_cutoff).float(), persistent=False)
        self._log_lo = math.log(config.log_floor)
        self._log_range = math.log(config.log_ceiling) - self._log_lo

    # ---- spectrogram <-> normalised log magnitude --------------------------------------------

    def spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) audio -> (B, 1, n_fft/2, T/stft_hop) log magnitude scaled to [0, 1]."""
        c = self.config
        spec = torch.stft(
            audio,
            n_fft=c.n_fft,
            hop_length=c.stft_hop,
            window=self.window.to(audio.dtype),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        mag = spec.abs()[:, : c.freq_bins, : audio.shape[-1] // c.stft_hop]
        log = torch.log(mag.clamp_min(c.log_floor))
        return ((log - self._log_lo) / self._log_range).clamp(0.0, 1.0)[:, None]

    def magnitude(self, norm: torch.Tensor) -> np.ndarray:
        """Inverse of the normalisation: (B, 1, F, N) in [0, 1] -> |STFT| (B, F + 1, N + 1),
        with the Nyquist bin and one trailing frame restored for the inverse STFT."""
        mag = torch.exp(norm[:, 0].double() * self._log_range + self._log_lo)
        mag = torch.where(norm[:, 0] <= 0, torch.zeros_like(mag), mag)  # floor = silence
        mag = nn.functional.pad(mag, (0, 1, 0, 1))
        mag[:, :, -1] = mag[:, :, -2]
        return mag.numpy()

    # ---- network -----------------------------------------------------------------------------

    def embed(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) audio, T a multiple of hop -> (B, bottleneck, T / hop)."""
        return self.encoder(self.spectrogram(audio))[:, :, 0]

    def decode_spec(self, z: torch.Tensor) -> torch.Tensor:
        """(B, bottleneck, F) -> (B, 1, n_fft/2, F * hop / stft_hop) in [0, 1]."""
        return torch.sigmoid(self.decoder(z[:, :, None]))

    def loss(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The training objective of a batch of (B, T) ``audio`` crops: frequency-weighted MSE
        on normalised log magnitude (low band x (1 + fw_loss_coeff))."""
        audio = batch["audio"]
        frames = audio.shape[-1] // self.hop
        audio = audio[:, : frames * self.hop]
        target = self.spectrogram(audio)
        pred = self.decode_spec(self.embed(audio))
        err = (pred - target) ** 2
        low = self.low_band[:, None]
        low_mse = (err * low).sum() / (low.sum() * err.shape[0] * err.shape[-1]).clamp_min(1.0)
        return {"loss": err.mean() + self.config.fw_loss_coeff * low_mse}

    # ---- verbs -------------------------------------------------------------------------------

    def encode(self, audio: Any) -> torch.Tensor:
        """Audio (T,) or (B, T) in [-1, 1] -> embedding (T // hop, 16) or (B, T // hop, 16)."""
        x, single = as_audio_batch(audio, self.hop, self.sample_rate)
        with torch.no_grad():
            z = self.embed(x.to(self.window.device)).transpose(1, 2).cpu()
        return z[0] if single else z

    def decode(
        self,
        embedding: Any,
        temperature: float = 1.0,
        seed: int | None = 0,
        backend: str = "auto",
        progress: bool = False,
    ) -> torch.Tensor:
        """Embedding -> audio of frames * hop samples, phase by Griffin-Lim.

        ``seed`` fixes Griffin-Lim's random initial phase; ``temperature``, ``backend`` and
        ``progress`` exist for the WaveNet model's sake and do not change this model.
        """
        import librosa

        del temperature, backend, progress
        z, single = as_embedding_batch(embedding, self.bottleneck)
        c = self.config
        with torch.no_grad():
            norm = self.decode_spec(z.transpose(1, 2).to(self.window.device)).cpu()
        mags = self.magnitude(norm)
        length = z.shape[1] * self.hop
        out = [
            librosa.griffinlim(
                m,
                n_iter=c.griffin_lim_iters,
                hop_length=c.stft_hop,
                win_length=c.n_fft,
                n_fft=c.n_fft,
                window="hann",
                center=True,
                pad_mode="constant",
                length=length,
                init="random",
                random_state=None if seed is None else int(seed) + i,
            )
            for i, m in enumerate(mags)
        ]
        audio = torch.from_numpy(np.stack(out).astype(np.float32)).clamp(-1.0, 1.0)
        return audio[0] if single else audio
