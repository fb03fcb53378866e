"""Jukebox's VQ-VAE: three separate autoencoders with hops 8, 32 and 128.

Each level is a complete autoencoder of its own (section 3.2, "separated autoencoders"):
audio -> strided convs + dilated residual stacks -> EMA vector quantizer -> the mirror
decoder -> audio. Training them separately keeps the top level from collapsing (in a
hierarchical VQ-VAE the bottom levels carry everything). The loss per level is the
reconstruction MSE (normalised by the data's power, as the official code divides by the
"bandwidth"), the multi-resolution STFT loss (section 3.3) and 0.02 x the commit loss.
Layout follows ``jukebox/vqvae/encdec.py``.

Training and coding run the conv stacks time-major (``latentmusic.nn.timemajor``: every
conv a few GEMMs on (batch, time, channels) activations) with the ``nn.Conv1d`` /
``nn.ConvTranspose1d`` parameters unchanged; ``fast_path = False`` on a block (or
``use_fast_path(model, False)``) runs the reference channels-first convolutions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from latentmusic.audio.spectral import NormalisedSpectralLoss
from latentmusic.errors import InputError
from latentmusic.jukebox.config import VQVAEConfig
from latentmusic.nn import timemajor as tm
from latentmusic.nn.vq import VectorQuantizer


def _conv_time_major(conv: nn.Conv1d | nn.ConvTranspose1d, x: torch.Tensor) -> torch.Tensor:
    """One of the stacks' convs on time-major (B, T, C) ``x``; unusual shapes run channels-first."""
    (k,), (s,), (p,), (d,) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    if tm.ONEDNN_CONVS and torch.is_grad_enabled() and conv.padding_mode == "zeros":
        return tm.onednn_conv1d(x, conv)  # training; inference keeps the taps
    sampling = k == 2 * s and p == s // 2 and s % 2 == 0 and d == 1 and conv.bias is not None
    if isinstance(conv, nn.ConvTranspose1d):
        if sampling and conv.output_padding == (0,) and conv.groups == 1:
            return tm.transposed_conv1d(x, conv)
    elif conv.groups == 1 and conv.padding_mode == "zeros":
        if s == 1:
            return tm.conv1d(x, conv, p, x.shape[1] + 2 * p - (k - 1) * d)
        if sampling and x.shape[1] % s == 0:
            return tm.strided_conv1d(x, conv)
    return conv(x.transpose(1, 2)).transpose(1, 2)


def time_major(module: nn.Module, x: torch.Tensor, owned: bool = False) -> torch.Tensor:
    """Apply a conv stack of this file to time-major (B, T, C) ``x`` (the fast path).

    ``owned``: ``x`` is an intermediate of the stack that nothing else reads, so a residual
    block may write its sum into it (every layer's output after the first is).
    """
    if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
        return _conv_time_major(module, x)
    if isinstance(module, ResConv1DBlock):
        left = module.conv.padding[0]
        return tm.residual_block(x, module.conv, module.out, left, pre_relu=True, overwrite=owned)
    if isinstance(module, nn.Sequential):
        for i, child in enumerate(module):
            x = time_major(child, x, owned or i > 0)
        return x
    if isinstance(module, (Resnet1D, EncoderConvBlock, DecoderConvBlock)):
        return time_major(next(iter(module.children())), x, owned)
    return module(x.transpose(1, 2)).transpose(1, 2)


class ResConv1DBlock(nn.Module):
    """x + conv1x1(relu(dilated_conv3(relu(x))))."""

    def __init__(self, width: int, inner: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(width, inner, 3, padding=dilation, dilation=dilation)
        self.out = nn.Conv1d(inner, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(F.relu(self.conv(F.relu(x))))


class Resnet1D(nn.Module):
    """``depth`` residual blocks with dilations growth**i (optionally cycling, or reversed)."""

    def __init__(
        self,
        width: int,
        depth: int,
        m_conv: float = 1.0,
        growth: int = 3,
        cycle: int = 0,
        reverse: bool = False,
    ) -> None:
        super().__init__()
        dilations = [growth ** (i % cycle if cycle else i) for i in range(depth)]
        if reverse:
            dilations = dilations[::-1]
        inner = max(1, int(m_conv * width))
        self.blocks = nn.Sequential(*(ResConv1DBlock(width, inner, d) for d in dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class EncoderConvBlock(nn.Module):
    """``down`` x (strided conv, kernel 2*stride + residual stack), then a conv to ``out``."""

    def __init__(
        self, in_ch: int, out_ch: int, down: int, stride: int, width: int, depth: int, **res
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(down):
            layers.append(
                nn.Conv1d(in_ch if i == 0 else width, width, 2 * stride, stride, stride // 2)
            )
            layers.append(Resnet1D(width, depth, **res))
        layers.append(nn.Conv1d(width, out_ch, 3, 1, 1))
        self.net = nn.Sequential(*layers)
        self.fast_path = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tm.fast_path_applies(self, x):
            return time_major(self.net, x.transpose(1, 2)).transpose(1, 2)
        return self.net(x)


class DecoderConvBlock(nn.Module):
    """A conv from ``in_ch``, then ``down`` x (reversed residual stack, transposed conv).

    Also the upsamplers' conditioner network (``jukebox/prior/conditioners.py``).
    """

    def __init__(
        self, in_ch: int, out_ch: int, down: int, stride: int, width: int, depth: int, **res
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(in_ch, width, 3, 1, 1)]
        for i in range(down):
            layers.append(Resnet1D(width, depth, reverse=True, **res))
            last = i == down - 1
            layers.append(
                nn.ConvTranspose1d(
                    width, out_ch if last else width, 2 * stride, stride, stride // 2
                )
            )
        self.net = nn.Sequential(*layers)
        self.fast_path = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tm.fast_path_applies(self, x):
            return time_major(self.net, x.transpose(1, 2)).transpose(1, 2)
        return self.net(x)


class LevelAutoencoder(nn.Module):
    """One level: its own encoder (all downsampling up to this level), codebook and decoder."""

    def __init__(self, cfg: VQVAEConfig, level: int) -> None:
        super().__init__()
        mult = cfg.multipliers[level]
        res = {
            "m_conv": cfg.m_conv,
            "growth": cfg.dilation_growth,
            "cycle": cfg.dilation_cycle,
        }
        width, depth, emb = cfg.width * mult, cfg.depth * mult, cfg.emb_width
        self.hop = cfg.hops[level]
        self.encoder = nn.Sequential(
            *(
                EncoderConvBlock(
                    1 if i == 0 else emb, emb, cfg.downs[i], cfg.strides[i], width, depth, **res
                )
                for i in range(level + 1)
            )
        )
        self.quantizer = VectorQuantizer(
            cfg.codes,
            emb,
            decay=cfg.ema_decay,
            threshold=cfg.threshold,
            kmeans_iters=cfg.kmeans_iters,
        )
        self.decoder = nn.Sequential(
            *(
                DecoderConvBlock(emb, emb, cfg.downs[i], cfg.strides[i], width, depth, **res)
                for i in reversed(range(level + 1))
            ),
            nn.Conv1d(emb, 1, 3, 1, 1),
        )
        self.fast_path = True

    def encode_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T) audio -> (B, emb, T // hop) encoder output (before quantizing)."""
        if tm.fast_path_applies(self, x):  # time-major through every block, transposed once
            return time_major(self.encoder, x.transpose(1, 2)).transpose(1, 2)
        return self.encoder(x)

    def decode_features(self, z: torch.Tensor) -> torch.Tensor:
        """(B, emb, T // hop) code vectors -> (B, T) audio."""
        if tm.fast_path_applies(self, z):
            return self._decode_time_major(z.transpose(1, 2))[:, :, 0]
        return self.decoder(z)[:, 0]

    def _decode_time_major(self, h: torch.Tensor) -> torch.Tensor:
        """The decoder on time-major (B, T // hop, emb): its last up-sampling and the output
        conv run as one linear map (``tm.transposed_then_conv1d``), with no emb-wide tensor
        at the audio rate between them."""
        *blocks, last, final = self.decoder
        for i, block in enumerate(blocks):
            h = time_major(block, h, owned=i > 0)
        *body, up = last.net
        for i, layer in enumerate(body):
            h = time_major(layer, h, owned=bool(blocks) or i > 0)
        if tm.fuses_transposed_then_conv(up, final):
            return tm.transposed_then_conv1d(h, up, final)
        return time_major(final, time_major(up, h))


@dataclass
class VQVAEOutput:
    """Per-level reconstructions, codes, losses and codebook statistics of one pass."""

    recons: list[torch.Tensor]  # (B, T) per level
    codes: list[torch.Tensor]  # (B, T // hop) per level
    commit: list[torch.Tensor]
    stats: list[dict[str, float]] = field(default_factory=list)


class VQVAE(nn.Module):
    """The three-level Jukebox VQ-VAE; every level encodes and decodes audio by itself.

    ``encode`` / ``decode`` work on float audio in [-1, 1] at ``cfg.sample_rate``; the
    length is padded to a multiple of the top hop so that level codes nest exactly
    (4 middle tokens per top token, 4 bottom tokens per middle token).
    """

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.levels = nn.ModuleList(LevelAutoencoder(cfg, level) for level in range(cfg.levels))
        # Non-persistent windows only: checkpoints hold no loss state.
        self.spectral = NormalisedSpectralLoss(cfg.resolutions)

    @property
    def hops(self) -> tuple[int, ...]:
        return self.cfg.hops

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    def pad(self, audio: torch.Tensor) -> torch.Tensor:
        """Right-pad (B, T) audio with zeros to a multiple of the top hop."""
        top = self.hops[-1]
        extra = (-audio.shape[-1]) % top
        return F.pad(audio, (0, extra)) if extra else audio

    def _as_batch(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio[None]
        if audio.dim() == 3:
            audio = audio[:, 0]
        return audio

    def forward(self, audio: torch.Tensor, levels: list[int] | None = None) -> VQVAEOutput:
        """Encode, quantize and decode (B, T) audio at every level (T a multiple of the top hop)."""
        audio = self._as_batch(audio)
        x = audio[:, None]
        out = VQVAEOutput([], [], [], [])
        for level in levels if levels is not None else range(self.cfg.levels):
            ae = self.levels[level]
            vq = ae.quantizer(ae.encode_features(x))
            recon = ae.decode_features(vq.quantized)
            out.recons.append(recon)
            out.codes.append(vq.codes)
            out.commit.append(vq.commit_loss)
            out.stats.append(vq.stats)
        return out

    def loss(self, batch: Mapping[str, torch.Tensor], power: float = 1.0) -> dict[str, Any]:
        """The training objective of a batch of (B, T) ``audio`` and its logged parts, each
        level's under ``l<level>/`` (``l0/sc_db``, ``l2/used``, ...).

        Every level reconstructs the audio by itself; their losses add up (they share no
        weights). Per level: ``l2_weight`` x MSE / ``power`` (the data's mean power, the
        official code's "bandwidth" normaliser) + ``spectral_weight`` x the normalised
        multi-resolution spectral loss + ``commit`` x the commitment loss.
        """
        from latentmusic.audio.spectral import spectral_convergence_db

        audio = batch["audio"]
        out = self(audio)
        # The target's spectra once for the three levels' estimates of it.
        fast = self.spectral.fast_path_applies(audio)
        ref_spectra = self.spectral.reference(audio) if fast else None
        total = audio.new_zeros(())
        parts: dict[str, Any] = {}
        for level, (recon, commit, stats) in enumerate(
            zip(out.recons, out.commit, out.stats, strict=True)
        ):
            l2 = F.mse_loss(recon, audio) / power
            spec = self.spectral(recon, audio, ref_spectra)
            cfg = self.cfg
            loss = cfg.l2_weight * l2 + cfg.spectral_weight * spec + cfg.commit * commit
            total = total + loss
            level_parts = {
                "loss": float(loss.detach()),
                "l2": float(l2.detach()),
                "spectral": float(spec.detach()),
                "commit": float(commit.detach()),
                "sc_db": spectral_convergence_db(audio, recon.detach()),
                "used": stats["used"],
                "alive": stats["alive"],
                "entropy_bits": stats["entropy_bits"],
            }
            parts.update({f"l{level}/{key}": value for key, value in level_parts.items()})
        return {"loss": total, **parts}

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, levels: list[int] | None = None) -> list[torch.Tensor]:
        """(B, T) or (T,) audio -> codes per requested level, each (B, ceil(T/top)*top/hop)."""
        x = self.pad(self._as_batch(audio))[:, None]
        out = []
        for level in levels if levels is not None else range(self.cfg.levels):
            ae = self.levels[level]
            out.append(ae.quantizer.encode(ae.encode_features(x)))
        return out

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, level: int) -> torch.Tensor:
        """(B, T_l) codes of ``level`` -> (B, T_l * hop) audio from that level's decoder alone."""
        if not 0 <= level < self.cfg.levels:
            raise InputError(f"level must be in 0..{self.cfg.levels - 1}")
        if codes.dim() == 1:
            codes = codes[None]
        ae = self.levels[level]
        return ae.decode_features(ae.quantizer.dequantize(codes.long()))

    @torch.no_grad()
    def reconstruct(self, audio: torch.Tensor, level: int) -> torch.Tensor:
        """Audio through one level's bottleneck, trimmed back to the input length."""
        audio = self._as_batch(audio)
        n = audio.shape[-1]
        codes = self.encode(audio, [level])[0]
        return self.decode(codes, level)[..., :n]
