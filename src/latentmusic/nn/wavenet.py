"""WaveNet stacks shared by NSynth and the Universal Music Translation Network.

Two modules, both configured by constructor arguments so each family keeps its own config:

- ``NonCausalWaveNetEncoder``: dilated residual conv stack -> 1x1 bottleneck -> average
  pool (NSynth: 64000 samples -> (B, 16, 125); UMT: 20 Hz latents with pool 800).
- ``WaveNetDecoder``: causal, gated (tanh * sigmoid), conditioned on frame-rate latents.
  ``forward`` is the teacher-forced training pass. By default it runs time-major
  (``latentmusic.nn.timemajor``): kernel-tap GEMMs instead of ``nn.Conv1d``, every
  layer's conditioning projected once at frame rate and broadcast over each hop, and the
  gate's gradient written in one piece; ``fast_path = False`` runs the reference
  channels-first pass (same parameters, same outputs to float rounding; tests pin both).
  ``generate`` / ``prime`` / ``generate_chunked`` are the "fast WaveNet" cached
  incremental decoder, written apart in ``latentmusic.nn.wavenet_generation`` (state,
  weight packing, the torch and fused runners); the methods here only hand over to it.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from latentmusic.errors import ConfigError, InputError
from latentmusic.nn import gated_stack, residual_stack
from latentmusic.nn import timemajor as tm
from latentmusic.nn import wavenet_generation as gen
from latentmusic.nn.wavenet_generation import Backend, WaveNetState

# Reference decoder sizes the benchmark and tests use (families keep their own configs).
# "paper" follow the papers; "small" is the largest size we found that decodes in real
# time at 16 kHz on one CPU thread with the fused kernel (see benchmarks/).
DECODER_SIZES: dict[str, dict[str, int | bool]] = {
    "nsynth-paper": dict(residual=512, skip=256, layers=30, cycle=10, kernel=3, cond_channels=16, hop=512),
    "nsynth-small": dict(residual=64, skip=64, layers=20, cycle=10, kernel=2, cond_channels=16, hop=512),
    "umt-paper": dict(residual=128, skip=128, layers=56, cycle=14, kernel=2, cond_channels=64, hop=800, input_embedding=True),
    "umt-small": dict(residual=64, skip=64, layers=20, cycle=10, kernel=2, cond_channels=64, hop=800, input_embedding=True),
}  # fmt: skip


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"WaveNet {name} must be a positive integer, got {value!r}.")


class NonCausalWaveNetEncoder(nn.Module):
    """Audio -> frame-rate latents; non-causal because the whole input is known when encoding.

    style "nsynth": start conv, then per layer ReLU -> dilated conv -> ReLU -> 1x1, added to
    the residual stream (magenta's NSynth encoder). style "umt": start conv, then per layer
    dilated conv -> ReLU -> 1x1 added to the stream (music-translation's DilatedResConv).
    Both end with a 1x1 bottleneck to ``out_channels`` and an average pool of ``pool``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: int = 128,
        layers: int = 30,
        cycle: int = 10,
        kernel: int = 3,
        out_channels: int = 16,
        pool: int = 512,
        style: Literal["nsynth", "umt"] = "nsynth",
    ) -> None:
        super().__init__()
        _check_positive(
            in_channels=in_channels,
            channels=channels,
            layers=layers,
            cycle=cycle,
            kernel=kernel,
            out_channels=out_channels,
            pool=pool,
        )
        if style not in ("nsynth", "umt"):
            raise ConfigError(f"Encoder style must be 'nsynth' or 'umt', got {style!r}.")
        self.in_channels, self.channels, self.kernel = in_channels, channels, kernel
        self.out_channels, self.pool, self.style = out_channels, pool, style
        self.dilations = [2 ** (i % cycle) for i in range(layers)]
        self.start = nn.Conv1d(in_channels, channels, kernel)
        self.dilated = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d) for d in self.dilations
        )
        self.residual = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in self.dilations)
        self.bottleneck = nn.Conv1d(channels, out_channels, 1)
        # Time-major GEMM path (latentmusic.nn.timemajor); False runs the nn.Conv1d reference.
        self.fast_path = True

    @classmethod
    def from_config(
        cls,
        config: Any,
        *,
        out_channels: int,
        pool: int,
        style: Literal["nsynth", "umt"],
        in_channels: int = 1,
    ) -> NonCausalWaveNetEncoder:
        """The encoder a family config describes with the shared ``encoder_channels``,
        ``encoder_layers``, ``encoder_cycle`` and ``encoder_kernel`` fields (NSynth and
        translation name them alike)."""
        return cls(
            in_channels=in_channels,
            channels=config.encoder_channels,
            layers=config.encoder_layers,
            cycle=config.encoder_cycle,
            kernel=config.encoder_kernel,
            out_channels=out_channels,
            pool=pool,
            style=style,
        )

    def _same(self, conv: nn.Conv1d, x: torch.Tensor, dilation: int) -> torch.Tensor:
        total = (self.kernel - 1) * dilation
        return conv(F.pad(x, (total // 2, total - total // 2)))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) (or (B, in_channels, T)) audio in [-1, 1] -> (B, out_channels, T // pool)."""
        x = audio.unsqueeze(1) if audio.dim() == 2 and self.in_channels == 1 else audio
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise InputError(
                f"Encoder input must have shape (batch, samples) or (batch, {self.in_channels}, "
                f"samples), got {tuple(audio.shape)}."
            )
        if x.shape[-1] < self.pool:
            raise InputError(
                f"Encoder input has {x.shape[-1]} samples, fewer than one latent frame "
                f"({self.pool} samples)."
            )
        if tm.fast_path_applies(self, x):
            return self._forward_time_major(x.float())
        x = self._same(self.start, x.float(), 1)
        for conv, res, d in zip(self.dilated, self.residual, self.dilations, strict=True):
            if self.style == "nsynth":
                x = x + res(F.relu(self._same(conv, F.relu(x), d)))
            else:
                x = x + res(F.relu(self._same(conv, x, d)))
        return F.avg_pool1d(self.bottleneck(x), self.pool)

    def _forward_time_major(self, x: torch.Tensor) -> torch.Tensor:
        """The same network on (B, T, C) activations: every conv is a few in-place GEMMs.

        The average pool runs before the (linear) bottleneck, which is the same function
        at 1/pool of the cost.
        """
        left = (self.kernel - 1) // 2  # _same's left padding at dilation 1
        h = tm.conv1d(x.transpose(1, 2), self.start, left)
        lefts = [(self.kernel - 1) * d // 2 for d in self.dilations]
        blocks = list(zip(self.dilated, self.residual, lefts, strict=True))
        pre_relu = self.style == "nsynth"
        if residual_stack.applies(h):  # training: the blocks as one autograd node
            h = residual_stack.residual_stack(h, blocks, pre_relu)
        else:
            for conv, res, left in blocks:
                h = tm.residual_block(h, conv, res, left, pre_relu, overwrite=True)
        batch, length, channels = h.shape
        frames = length // self.pool
        pooled = h[:, : frames * self.pool].reshape(batch, frames, self.pool, channels).mean(2)
        return tm.linear(pooled, self.bottleneck).transpose(1, 2)


class _GatedLayer(nn.Module):
    """One causal residual layer: dilated conv + conditioning -> tanh*sigmoid -> res / skip."""

    def __init__(
        self, residual: int, skip: int, kernel: int, dilation: int, cond: int, last: bool
    ) -> None:
        super().__init__()
        self.dilation = dilation
        self.dilated = nn.Conv1d(residual, 2 * residual, kernel, dilation=dilation)
        self.cond = nn.Conv1d(cond, 2 * residual, 1)
        self.skip = nn.Conv1d(residual, skip, 1)
        # The last layer's residual output feeds nothing (the head reads the skip sum only).
        self.res = None if last else nn.Conv1d(residual, residual, 1)


class WaveNetDecoder(nn.Module):
    """Causal gated WaveNet over mu-law codes, conditioned on frame-rate latents.

    The conditioning (B, cond_channels, F) is projected per layer by its own 1x1 conv,
    nearest-upsampled by ``hop`` (sample t reads frame t // hop) and added inside every
    layer and once more before the logits. Input: the code scaled to [-1, 1] through a
    causal start conv (NSynth) or an embedding (``input_embedding``, UMT).
    """

    def __init__(
        self,
        n_classes: int = 256,
        residual: int = 512,
        skip: int = 256,
        layers: int = 30,
        cycle: int = 10,
        kernel: int = 3,
        cond_channels: int = 16,
        hop: int = 512,
        input_embedding: bool = False,
    ) -> None:
        super().__init__()
        _check_positive(
            n_classes=n_classes,
            residual=residual,
            skip=skip,
            layers=layers,
            cycle=cycle,
            kernel=kernel,
            cond_channels=cond_channels,
            hop=hop,
        )
        if kernel < 2:
            raise ConfigError(f"WaveNet decoder kernel must be at least 2, got {kernel}.")
        if n_classes < 2:
            raise ConfigError(f"WaveNet decoder needs at least 2 classes, got {n_classes}.")
        self.n_classes, self.residual_channels, self.skip_channels = n_classes, residual, skip
        self.kernel, self.cond_channels, self.hop = kernel, cond_channels, hop
        self.input_embedding = input_embedding
        self.dilations = [2 ** (i % cycle) for i in range(layers)]
        self.lengths = [(kernel - 1) * d for d in self.dilations]
        self.offsets = [sum(self.lengths[:i]) for i in range(layers)]
        if input_embedding:
            self.embed = nn.Embedding(n_classes, residual)
        else:
            self.start = nn.Conv1d(1, residual, kernel)
        self.skip_start = nn.Conv1d(residual, skip, 1)
        self.layers = nn.ModuleList(
            _GatedLayer(residual, skip, kernel, d, cond_channels, last=i == layers - 1)
            for i, d in enumerate(self.dilations)
        )
        self.out1 = nn.Conv1d(skip, skip, 1)
        self.cond_out = nn.Conv1d(cond_channels, skip, 1)
        self.logits = nn.Conv1d(skip, n_classes, 1)
        # Time-major GEMM training pass (latentmusic.nn.timemajor); False: the reference.
        self.fast_path = True

    @property
    def receptive_field(self) -> int:
        """How many past codes the logits at t depend on (codes[t - receptive_field : t])."""
        return (self.kernel - 1) * sum(self.dilations) + (
            1 if self.input_embedding else self.kernel
        )

    # ------------------------------------------------------------------ teacher forcing
    def _scale(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes 0..n-1 -> [-1, 1]; -1 (nothing before the start) -> 0."""
        x = codes.to(torch.float32) * (2.0 / (self.n_classes - 1)) - 1.0
        return torch.where(codes >= 0, x, torch.zeros_like(x))

    def _check_cond(self, cond: torch.Tensor) -> torch.Tensor:
        if not isinstance(cond, torch.Tensor) or cond.dim() != 3:
            shape = tuple(cond.shape) if isinstance(cond, torch.Tensor) else type(cond).__name__
            raise InputError(
                f"Conditioning must be a tensor of shape (batch, {self.cond_channels}, frames), "
                f"got {shape}."
            )
        if cond.shape[1] != self.cond_channels or cond.shape[2] < 1 or cond.shape[0] < 1:
            raise InputError(
                f"Conditioning must have shape (batch, {self.cond_channels}, frames) with at "
                f"least one frame, got {tuple(cond.shape)}."
            )
        param = self.skip_start.weight
        return cond.to(device=param.device, dtype=param.dtype)

    def _logits_from_prev(self, prev: torch.Tensor, cond: torch.Tensor, t0: int) -> torch.Tensor:
        """Logits for positions t0..t0+T-1 whose previous codes are ``prev`` (B, T)."""
        n_frames = cond.shape[-1]
        frame = torch.div(
            torch.arange(t0, t0 + prev.shape[1], device=prev.device),
            self.hop,
            rounding_mode="floor",
        )
        if int(frame[-1]) >= n_frames:
            raise InputError(
                f"{t0 + prev.shape[1]} samples need {int(frame[-1]) + 1} conditioning frames "
                f"(hop {self.hop}), got {n_frames}."
            )
        if self.input_embedding:
            h = self.embed(prev.clamp(min=0)) * (prev >= 0).unsqueeze(-1).to(torch.float32)
            h = h.transpose(1, 2)
        else:
            h = self.start(F.pad(self._scale(prev).unsqueeze(1), (self.kernel - 1, 0)))
        s = self.skip_start(h)
        for layer in self.layers:
            d = layer.dilated(F.pad(h, ((self.kernel - 1) * layer.dilation, 0)))
            d = d + layer.cond(cond).index_select(2, frame)
            g = tm.gated_activation(d)
            s = s + layer.skip(g)
            if layer.res is not None:
                h = h + layer.res(g)
        out = self.out1(F.relu(s)) + self.cond_out(cond).index_select(2, frame)
        return self.logits(F.relu(out))

    def _teacher_inputs(
        self, codes: torch.Tensor, cond: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked (previous codes, conditioning) of a teacher-forced pass."""
        if codes.dim() != 2 or codes.shape[1] < 1:
            raise InputError(f"Codes must have shape (batch, samples), got {tuple(codes.shape)}.")
        cond = self._check_cond(cond)
        if cond.shape[0] != codes.shape[0]:
            raise InputError(
                f"Codes and conditioning disagree on batch size: {codes.shape[0]} vs "
                f"{cond.shape[0]}."
            )
        codes = codes.to(device=cond.device, dtype=torch.int64)
        return F.pad(codes[:, :-1], (1, 0), value=-1), cond

    def forward(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Teacher-forced pass: (B, T) codes, (B, C, F) cond -> (B, n_classes, T) logits.

        Logits at t predict codes[t] from codes[<t] (the shift is done here), so the
        training loss is ``F.cross_entropy(logits, codes)``.
        """
        prev, cond = self._teacher_inputs(codes, cond)
        if not tm.fast_path_applies(self, prev):
            return self._logits_from_prev(prev, cond, 0)
        features = self._features_time_major(prev, cond)
        # Logits straight into (B, n_classes, T): one batched GEMM, no transposed copy.
        weight = self.logits.weight[:, :, 0].expand(features.shape[0], -1, -1)
        return torch.baddbmm(self.logits.bias[None, :, None], weight, features.transpose(1, 2))

    def logits_time_major(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``forward``'s logits as (B, T, n_classes), the layout a row-wise softmax wants.

        ``F.cross_entropy(out.reshape(-1, n), codes.reshape(-1))`` is the training loss,
        with a softmax over contiguous rows instead of strided columns.
        """
        prev, cond = self._teacher_inputs(codes, cond)
        if not tm.fast_path_applies(self, prev):
            return self._logits_from_prev(prev, cond, 0).transpose(1, 2)
        return tm.linear(self._features_time_major(prev, cond), self.logits)

    def _features_time_major(self, prev: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """relu(out1(relu(skip sum)) + cond_out(cond)) as (B, T, skip): the logits' input.

        Same network as ``_logits_from_prev``, time-major: each layer's dilated conv is
        ``kernel`` GEMMs over shifted rows; every layer's conditioning 1x1 is applied to
        the frame-rate latents once, in one GEMM for all layers (with the dilated conv
        biases folded in), and added per frame by broadcasting instead of gathering an
        upsampled copy; the skip 1x1s accumulate in place into one sum that starts with
        every skip bias.
        """
        batch, length = prev.shape
        hop, r = self.hop, self.residual_channels
        frames = -(-length // hop)
        if frames > cond.shape[-1]:
            raise InputError(
                f"{length} samples need {frames} conditioning frames (hop {self.hop}), "
                f"got {cond.shape[-1]}."
            )
        padded = frames * hop  # causal: padding the end changes no earlier output
        if padded != length:
            prev = F.pad(prev, (0, padded - length), value=-1)
        if self.input_embedding:
            mask = (prev >= 0).unsqueeze(-1).to(torch.float32)
            h = self.embed(prev.clamp(min=0)) * mask
        else:
            x = self._scale(prev).unsqueeze(-1)
            h = tm.conv1d(x, self.start, self.kernel - 1)
        weights = [layer.cond.weight[:, :, 0] for layer in self.layers] + [
            self.cond_out.weight[:, :, 0]
        ]
        biases = [layer.cond.bias + layer.dilated.bias for layer in self.layers]
        biases.append(self.cond_out.bias + self.out1.bias)
        table = torch.addmm(
            torch.cat(biases),
            cond[:, :, :frames].transpose(1, 2).reshape(-1, cond.shape[1]),
            torch.cat(weights).t(),
        ).view(batch, frames, -1)
        skip_bias = self.skip_start.bias + sum(layer.skip.bias for layer in self.layers)
        flat_h = h.reshape(-1, r)
        s = torch.addmm(skip_bias, flat_h, self.skip_start.weight[:, :, 0].t())
        if gated_stack.applies(h, self.layers):  # training: the layers as one autograd node
            s = gated_stack.gated_layers(h, s, table, self.layers, self.kernel)
        else:
            s = self._gated_layers_per_op(h, s, table, padded)
        y = F.relu(s).view(batch, padded, -1)
        out = tm.tap_conv(
            y,
            [self.out1.weight[:, :, 0].t()],
            [(0, 0, 0)],
            padded,
            self.skip_channels,
            table[:, :, 2 * r * len(self.layers) :],
        )
        return F.relu(out)[:, :length]

    def _gated_layers_per_op(
        self, h: torch.Tensor, s: torch.Tensor, table: torch.Tensor, padded: int
    ) -> torch.Tensor:
        """The gated layers op by op (inference, or a decoder not shaped for the one-node
        pass of :mod:`latentmusic.nn.gated_stack`): the skip sum ``s`` after them."""
        r = self.residual_channels
        for i, layer in enumerate(self.layers):
            mats, taps = tm.conv_taps(
                layer.dilated.weight, layer.dilation, (self.kernel - 1) * layer.dilation
            )
            # The layer's conditioning rows go in with the gate, not copied into a first.
            a = tm.tap_conv(h, mats, taps, padded, 2 * r)
            g = tm.gate(a, table[:, :, 2 * r * i : 2 * r * (i + 1)]).reshape(-1, r)
            s = s.addmm_(g, layer.skip.weight[:, :, 0].t())
            if layer.res is not None:
                h = tm.residual_add(h, g, layer.res)
        return s

    # ------------------------------------------------------------------ generation
    # The sampler lives in wavenet_generation.py; these methods are its interface.
    def initial_state(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> WaveNetState:
        """The state before the first sample: silence in every layer's queue."""
        return gen.initial_state(self, batch_size, generator)

    def generate(
        self,
        cond: torch.Tensor,
        n_samples: int | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
        state: WaveNetState | None = None,
        return_state: bool = False,
        backend: Backend = "auto",
        progress: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, WaveNetState]:
        """Sample codes (B, n_samples) with the cached decoder (``wavenet_generation.generate``)."""
        return gen.generate(
            self, cond, n_samples, temperature, seed, state, return_state, backend, progress
        )

    def prime(
        self,
        codes: torch.Tensor,
        cond: torch.Tensor,
        state: WaveNetState | None = None,
        backend: Backend = "auto",
    ) -> WaveNetState:
        """Feed known codes through the cache (``wavenet_generation.prime``)."""
        return gen.prime(self, codes, cond, state, backend)

    def generate_naive(
        self,
        cond: torch.Tensor,
        n_samples: int | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> torch.Tensor:
        """The reference sampler without a cache (``wavenet_generation.generate_naive``)."""
        return gen.generate_naive(self, cond, n_samples, temperature, seed)

    def generate_chunked(
        self,
        cond: torch.Tensor,
        chunk_frames: int,
        overlap_frames: int,
        temperature: float = 1.0,
        seed: int | None = None,
        backend: Backend = "auto",
        crossfade_frames: int | None = None,
        fade: Literal["linear", "equal_power"] = "linear",
        return_audio: bool = False,
        progress: bool = False,
    ) -> torch.Tensor:
        """A long input decoded as a batch of overlapping, cross-faded chunks
        (``wavenet_generation.generate_chunked``)."""
        return gen.generate_chunked(
            self, cond, chunk_frames, overlap_frames, temperature, seed, backend,
            crossfade_frames, fade, return_audio, progress,
        )  # fmt: skip
