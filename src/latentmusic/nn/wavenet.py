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
  ``generate`` is the "fast WaveNet" cached incremental decoder: every layer keeps a ring
  buffer of its past inputs, so one new sample costs one matrix-vector product per layer
  instead of a recompute over the receptive field (``generate_naive``). On a CPU in
  float32 the whole per-sample step runs inside one numba-compiled kernel
  (``latentmusic.nn.wavenet_fused``); the torch path is the fallback and runs on any device.
  The decoder state can be carried from one call to the next, so a long input can be
  decoded in pieces with no reset; ``generate_chunked`` decodes the pieces of one long
  input in parallel as a batch with an overlap and a cross-fade.

Sampling draws one uniform number per step and batch item from a seeded
``torch.Generator`` and inverts the CDF of softmax(logits / temperature) in float64, in
both backends, so the same seed gives the same codes whichever backend runs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from latentmusic.errors import ConfigError, DependencyError, InputError
from latentmusic.nn import timemajor as tm
from latentmusic.progress import progress_bar

Backend = Literal["auto", "torch", "fused"]

# Reference decoder sizes the benchmark and tests use (families keep their own configs).
# "paper" follow the papers; "small" is the largest size we found that decodes in real
# time at 16 kHz on one CPU thread with the fused kernel (see benchmarks/).
DECODER_SIZES: dict[str, dict[str, int | bool]] = {
    "nsynth-paper": dict(residual=512, skip=256, layers=30, cycle=10, kernel=3, cond_channels=16, hop=512),
    "nsynth-small": dict(residual=64, skip=64, layers=20, cycle=10, kernel=2, cond_channels=16, hop=512),
    "umt-paper": dict(residual=128, skip=128, layers=56, cycle=14, kernel=2, cond_channels=64, hop=800, input_embedding=True),
    "umt-small": dict(residual=64, skip=64, layers=20, cycle=10, kernel=2, cond_channels=64, hop=800, input_embedding=True),
}  # fmt: skip
# Frames of conditioning projected (and steps run by one kernel call) at a time: bounds the
# memory of the per-layer conditioning table for long inputs and paces the progress bar.
_BLOCK_FRAMES = 32


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
        if self.fast_path:
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
        for conv, res, d in zip(self.dilated, self.residual, self.dilations, strict=True):
            inner = F.relu(h) if self.style == "nsynth" else h
            a = F.relu(tm.conv1d(inner, conv, (self.kernel - 1) * d // 2))
            h = _residual_add(h, a, res)
        batch, length, channels = h.shape
        frames = length // self.pool
        pooled = h[:, : frames * self.pool].reshape(batch, frames, self.pool, channels).mean(2)
        return tm.linear(pooled, self.bottleneck).transpose(1, 2)


def _residual_add(h: torch.Tensor, g: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """h + conv1x1(g) on time-major tensors: one GEMM that starts from h, then the bias."""
    flat = torch.addmm(
        h.reshape(-1, h.shape[-1]), g.reshape(-1, g.shape[-1]), conv.weight[:, :, 0].t()
    )
    return flat.add_(conv.bias).view(h.shape)


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


@dataclass
class WaveNetState:
    """What the cached decoder needs to continue exactly where it stopped.

    ``hist`` holds every layer's ring buffer of past layer inputs, layer l at rows
    ``offsets[l] : offsets[l] + (kernel - 1) * dilation[l]``, sample t in slot
    ``t % length``; ``inputs`` is the start conv's window of scaled past codes (scalar
    input path), ``prev`` the last code (-1 before the first; embedding input path).
    """

    t: int
    hist: torch.Tensor  # (B, total, residual) float32
    inputs: torch.Tensor  # (B, kernel) float32
    prev: torch.Tensor  # (B,) int64
    generator: torch.Generator | None = None

    @property
    def batch_size(self) -> int:
        return int(self.hist.shape[0])

    def clone(self) -> WaveNetState:
        """A deep copy (tensors and RNG state), so decoding from it leaves this one intact."""
        gen = None
        if self.generator is not None:
            gen = torch.Generator(device=self.generator.device)
            gen.set_state(self.generator.get_state())
        return WaveNetState(self.t, self.hist.clone(), self.inputs.clone(), self.prev.clone(), gen)


@dataclass
class _Packed:
    """Decoder weights rearranged for one-sample steps (float32, contiguous)."""

    wd_t: torch.Tensor  # (L, k*R, 2R): taps oldest..newest stacked along the input dim
    wrs_t: torch.Tensor  # (L, R, R+S): residual then skip 1x1 (last layer: residual = 0)
    brs: torch.Tensor  # (L, R+S)
    start_t: torch.Tensor  # (k, R) start conv over scaled codes (unused with embedding)
    start_b: torch.Tensor  # (R,)
    embed: torch.Tensor  # (n_classes, R) (unused without embedding)
    ss_t: torch.Tensor  # (R, S) skip_start
    ss_b: torch.Tensor  # (S,)
    o1_t: torch.Tensor  # (S, S)
    lg_t: torch.Tensor  # (S, n_classes)
    lg_b: torch.Tensor  # (n_classes,)
    cond_w: torch.Tensor  # (L*2R + S, C): every layer's conditioning 1x1, then the head's
    cond_b: torch.Tensor  # (L*2R + S,): with the dilated conv / out1 biases folded in


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
        r = self.residual_channels
        for layer in self.layers:
            d = layer.dilated(F.pad(h, ((self.kernel - 1) * layer.dilation, 0)))
            d = d + layer.cond(cond).index_select(2, frame)
            g = torch.tanh(d[:, :r]) * torch.sigmoid(d[:, r:])
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
        if not self.fast_path:
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
        if not self.fast_path:
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
        for i, layer in enumerate(self.layers):
            mats, taps = tm.conv_taps(
                layer.dilated.weight, layer.dilation, (self.kernel - 1) * layer.dilation
            )
            a = tm.tap_conv(h, mats, taps, padded, 2 * r, table[:, :, 2 * r * i : 2 * r * (i + 1)])
            g = tm.gate(a).reshape(-1, r)
            s = s.addmm_(g, layer.skip.weight[:, :, 0].t())
            if layer.res is not None:
                h = _residual_add(h, g, layer.res)
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

    # ------------------------------------------------------------------ generation setup
    def initial_state(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> WaveNetState:
        """The state before the first sample: silence (zeros) in every queue."""
        p = self.skip_start.weight
        return WaveNetState(
            t=0,
            hist=torch.zeros(
                batch_size, max(sum(self.lengths), 1), self.residual_channels, device=p.device
            ),
            inputs=torch.zeros(batch_size, self.kernel, device=p.device),
            prev=torch.full((batch_size,), -1, dtype=torch.int64, device=p.device),
            generator=generator,
        )

    @torch.no_grad()
    def _pack(self) -> _Packed:
        r, k = self.residual_channels, self.kernel
        p = self.skip_start.weight
        wd, wrs, brs, cw, cb = [], [], [], [], []
        for layer in self.layers:
            wd.append(layer.dilated.weight.permute(2, 1, 0).reshape(k * r, 2 * r))
            res_w = layer.res.weight[:, :, 0] if layer.res is not None else p.new_zeros(r, r)
            res_b = layer.res.bias if layer.res is not None else p.new_zeros(r)
            wrs.append(torch.cat([res_w, layer.skip.weight[:, :, 0]], 0).t())
            brs.append(torch.cat([res_b, layer.skip.bias]))
            cw.append(layer.cond.weight[:, :, 0])
            cb.append(layer.cond.bias + layer.dilated.bias)
        cw.append(self.cond_out.weight[:, :, 0])
        cb.append(self.cond_out.bias + self.out1.bias)
        if self.input_embedding:
            start_t, start_b, embed = p.new_zeros(k, r), p.new_zeros(r), self.embed.weight
        else:
            start_t, start_b = self.start.weight[:, 0, :].t(), self.start.bias
            embed = p.new_zeros(self.n_classes, r)

        def c(x: torch.Tensor) -> torch.Tensor:
            return x.detach().float().contiguous()

        return _Packed(
            wd_t=c(torch.stack(wd)),
            wrs_t=c(torch.stack(wrs)),
            brs=c(torch.stack(brs)),
            start_t=c(start_t),
            start_b=c(start_b),
            embed=c(embed),
            ss_t=c(self.skip_start.weight[:, :, 0].t()),
            ss_b=c(self.skip_start.bias),
            o1_t=c(self.out1.weight[:, :, 0].t()),
            lg_t=c(self.logits.weight[:, :, 0].t()),
            lg_b=c(self.logits.bias),
            cond_w=c(torch.cat(cw)),
            cond_b=c(torch.cat(cb)),
        )

    def _resolve_backend(self, backend: str) -> str:
        if backend not in ("auto", "torch", "fused"):
            raise InputError(f"Backend must be 'auto', 'torch' or 'fused', got {backend!r}.")
        p = self.skip_start.weight
        fits = p.device.type == "cpu" and p.dtype == torch.float32
        if backend == "torch":
            return "torch"
        from latentmusic.nn import wavenet_fused

        if backend == "fused":
            if not wavenet_fused.available():
                raise DependencyError(
                    "The fused WaveNet backend needs numba; install it with `pip install numba`."
                )
            if not fits:
                raise InputError(
                    "The fused WaveNet backend runs float32 models on the CPU; this decoder is "
                    f"{p.dtype} on {p.device}."
                )
            return "fused"
        return "fused" if fits and wavenet_fused.available() else "torch"

    def _generator(
        self, seed: int | None, state: WaveNetState | None, device: torch.device
    ) -> torch.Generator:
        if seed is not None:
            return torch.Generator(device=device).manual_seed(int(seed))
        if state is not None and state.generator is not None:
            return state.generator
        # No seed: follow the global RNG so torch.manual_seed still makes runs repeatable.
        seed = int(torch.randint(0, 2**62, (1,)).item())
        return torch.Generator(device=device).manual_seed(seed)

    # ------------------------------------------------------------------ cached decoding
    @torch.no_grad()
    def _decode(
        self,
        cond: torch.Tensor,
        n_samples: int | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
        state: WaveNetState | None = None,
        backend: Backend = "auto",
        forced: torch.Tensor | None = None,
        collect_logits: bool = False,
        progress: bool = False,
        uniforms: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, WaveNetState, torch.Tensor | None]:
        """Cached incremental decoding; ``forced`` codes replace sampling (priming), and
        ``uniforms`` (n, B) float64 replace the generator's draws (chunked decoding).

        Returns (codes (B, n), the state after the last step, logits (B, n_classes, n) or
        None). The given ``state`` is left untouched (decoding continues from a copy).
        """
        cond = self._check_cond(cond)
        batch, _, n_frames = cond.shape
        limit = n_frames * self.hop
        if n_samples is None:
            n_samples = limit if forced is None else int(forced.shape[1])
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 0:
            raise InputError(f"n_samples must be a non-negative integer, got {n_samples!r}.")
        if n_samples > limit:
            raise InputError(
                f"{n_samples} samples need {math.ceil(n_samples / self.hop)} conditioning "
                f"frames (hop {self.hop}), got {n_frames}."
            )
        if not isinstance(temperature, (int, float)) or not math.isfinite(temperature):
            raise InputError(f"Temperature must be a finite number, got {temperature!r}.")
        if temperature < 0:
            raise InputError(f"Temperature must be 0 (greedy) or positive, got {temperature}.")
        if state is not None:
            if not isinstance(state, WaveNetState):
                raise InputError("state must be a WaveNetState returned by generate().")
            if state.batch_size != batch:
                raise InputError(
                    f"The decoder state is for batch size {state.batch_size}, the conditioning "
                    f"has batch size {batch}."
                )
            if state.hist.shape[1:] != (max(sum(self.lengths), 1), self.residual_channels):
                raise InputError("The decoder state comes from a decoder of another size.")
        if forced is not None:
            forced = forced.to(device=cond.device, dtype=torch.int64)
            if forced.shape != (batch, n_samples):
                raise InputError(
                    f"Priming codes must have shape ({batch}, {n_samples}), "
                    f"got {tuple(forced.shape)}."
                )
            if forced.numel() and (int(forced.min()) < 0 or int(forced.max()) >= self.n_classes):
                raise InputError(f"Priming codes must lie in 0..{self.n_classes - 1}.")
        which = self._resolve_backend(backend)
        st = state.clone() if state is not None else self.initial_state(batch)
        st.hist, st.inputs, st.prev = (
            st.hist.to(cond.device).float(),
            st.inputs.to(cond.device).float(),
            st.prev.to(cond.device),
        )
        gen = self._generator(seed, st, cond.device) if forced is None else st.generator
        st.generator = gen
        threads = torch.get_num_threads()
        if which == "fused":
            # numba runs its own thread pool; torch's idle OpenMP workers would otherwise
            # spin after our few torch ops and steal cycles from the kernel.
            torch.set_num_threads(1)
        try:
            packed = self._pack()
            codes = torch.empty(batch, n_samples, dtype=torch.int64, device=cond.device)
            logits = (
                torch.empty(batch, n_samples, self.n_classes, device=cond.device)
                if collect_logits
                else None
            )
            runner: Any = None
            if which == "fused":
                from latentmusic.nn import wavenet_fused

                try:
                    runner = wavenet_fused.FusedRunner(self, packed, st, threads)
                except Exception as exc:  # a numba that cannot compile the kernel
                    if backend == "fused":
                        raise
                    warnings.warn(
                        f"Fused WaveNet kernel unavailable ({exc}); using the torch path.",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    torch.set_num_threads(threads)
            if runner is None:
                runner = _TorchRunner(self, packed, st)
            self._run_blocks(
                runner, cond, packed, n_samples, temperature, uniforms, gen, forced, codes,
                logits, progress,
            )  # fmt: skip
        finally:
            torch.set_num_threads(threads)
        return codes, st, (logits.transpose(1, 2) if logits is not None else None)

    def _run_blocks(
        self,
        runner: Any,
        cond: torch.Tensor,
        packed: _Packed,
        n_samples: int,
        temperature: float,
        uniforms: torch.Tensor | None,
        gen: torch.Generator | None,
        forced: torch.Tensor | None,
        codes: torch.Tensor,
        logits: torch.Tensor | None,
        progress: bool,
    ) -> None:
        """Feed the runner blocks of frames: project the conditioning, draw the uniforms."""
        batch, _, n_frames = cond.shape
        sampling = forced is None and temperature > 0
        bar = progress_bar(n_samples, "WaveNet decoding", "sample", progress, unit_scale=True)
        done = 0
        while done < n_samples:
            f0 = done // self.hop
            f1 = min(f0 + _BLOCK_FRAMES, n_frames)
            n = min(f1 * self.hop, n_samples) - done
            table = torch.einsum("bcf,oc->bfo", cond[:, :, f0:f1], packed.cond_w) + packed.cond_b
            if not sampling:
                u = None
            elif uniforms is not None:
                u = uniforms[done : done + n].to(device=cond.device, dtype=torch.float64)
            else:
                u = torch.rand(n, batch, generator=gen, dtype=torch.float64, device=cond.device)
            runner.run(
                table.contiguous(),
                done - f0 * self.hop,
                n,
                float(temperature),
                u,
                forced[:, done : done + n] if forced is not None else None,
                codes[:, done : done + n],
                logits[:, done : done + n] if logits is not None else None,
            )
            done += n
            bar.update(n)
        bar.close()

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
        """Sample codes (B, n_samples) one by one with the cached decoder.

        ``n_samples`` defaults to frames * hop. Temperature 0 is greedy. ``seed`` makes the
        run repeatable (without it a ``state``'s generator continues, else the global torch
        RNG seeds one). ``state``/``return_state`` carry the decoder across calls:
        ``generate(c1, return_state=True)`` then ``generate(c2, state=s)`` equals
        ``generate(cat(c1, c2))`` for the same seed. ``backend="auto"`` uses the fused CPU
        kernel when numba is available and the model is float32 on the CPU.
        """
        codes, st, _ = self._decode(
            cond, n_samples, temperature, seed, state, backend, progress=progress
        )
        return (codes, st) if return_state else codes

    def prime(
        self,
        codes: torch.Tensor,
        cond: torch.Tensor,
        state: WaveNetState | None = None,
        backend: Backend = "auto",
    ) -> WaveNetState:
        """Feed known codes (e.g. the start of a recording) through the cache; continue with
        ``generate(next_cond, state=...)`` (the conditioning restarts at frame 0 there)."""
        if not isinstance(codes, torch.Tensor) or codes.dim() != 2:
            raise InputError("Priming codes must be a tensor of shape (batch, samples).")
        _, st, _ = self._decode(cond, None, 0.0, None, state, backend, forced=codes)
        return st

    @torch.no_grad()
    def generate_naive(
        self,
        cond: torch.Tensor,
        n_samples: int | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> torch.Tensor:
        """Reference sampler without a cache: every step recomputes the full receptive field.

        Orders of magnitude slower than ``generate``; kept as the baseline the benchmark
        measures and the tests compare against (same seed -> same codes).
        """
        cond = self._check_cond(cond)
        batch, _, n_frames = cond.shape
        n_samples = n_frames * self.hop if n_samples is None else n_samples
        if n_samples > n_frames * self.hop:
            raise InputError(
                f"{n_samples} samples need {math.ceil(n_samples / self.hop)} conditioning "
                f"frames (hop {self.hop}), got {n_frames}."
            )
        gen = self._generator(seed, None, cond.device)
        u = torch.rand(n_samples, batch, generator=gen, dtype=torch.float64, device=cond.device)
        prev = torch.full((batch, n_samples), -1, dtype=torch.int64, device=cond.device)
        codes = torch.empty(batch, n_samples, dtype=torch.int64, device=cond.device)
        window = self.receptive_field
        for t in range(n_samples):
            t0 = max(0, t - window + 1)
            logits = self._logits_from_prev(prev[:, t0 : t + 1], cond, t0)[:, :, -1]
            codes[:, t] = _sample(logits, temperature, u[t] if temperature > 0 else None)
            if t + 1 < n_samples:
                prev[:, t + 1] = codes[:, t]
        return codes

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
        """Decode a long conditioning sequence as a batch of chunks in parallel.

        Chunk i (after the first) starts ``overlap_frames`` before the frame where its output
        is kept; it runs from silence through that warm-up, whose first part is discarded
        and whose last ``crossfade_frames`` (default: half the overlap, at least one frame)
        are cross-faded in the audio domain with the end of chunk i-1. All chunks run as one
        batch, so a long input costs about one chunk's wall time on parallel hardware, and
        batching pays even on one core for decoders whose steps are memory-bound. Every
        chunk uses the random numbers sequential decoding with the same seed would use at
        the same sample, so after the warm-up most chunks lock onto the sequential output;
        the default linear fade leaves such identical stretches untouched (an equal-power
        fade, the choice for uncorrelated signals, would lift them by up to 3 dB).
        Returns mu-law codes (B, frames * hop) like ``generate`` (the cross-faded audio
        re-encoded), or the float audio in [-1, 1] when ``return_audio``.
        """
        from latentmusic.audio.mulaw import mu_law_decode, mu_law_encode

        cond = self._check_cond(cond)
        batch, channels, n_frames = cond.shape
        for name, value, low in (
            ("chunk_frames", chunk_frames, 1),
            ("overlap_frames", overlap_frames, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name} must be an integer >= {low}, got {value!r}.")
        if fade not in ("equal_power", "linear"):
            raise InputError(f"fade must be 'linear' or 'equal_power', got {fade!r}.")
        if not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise InputError(f"Temperature must be 0 (greedy) or positive, got {temperature!r}.")
        if crossfade_frames is None:
            crossfade_frames = max(1, overlap_frames // 2) if overlap_frames else 0
        if not 0 <= crossfade_frames <= overlap_frames:
            raise InputError(
                f"crossfade_frames must lie in 0..overlap_frames ({overlap_frames}), "
                f"got {crossfade_frames}."
            )
        if self.n_classes != 256:
            raise InputError("generate_chunked cross-fades 8-bit mu-law audio (256 classes).")
        hop, win = self.hop, chunk_frames + overlap_frames
        n_chunks = 1 if n_frames <= win else 1 + math.ceil((n_frames - win) / chunk_frames)
        padded = (n_chunks - 1) * chunk_frames + win
        cond_p = torch.cat([cond, cond[:, :, -1:].expand(batch, channels, padded - n_frames)], 2)
        starts = [i * chunk_frames for i in range(n_chunks)]
        windows = torch.stack([cond_p[:, :, s : s + win] for s in starts], 1)  # (B, N, C, W)
        # Common random numbers: every chunk reads the uniform that sequential decoding with
        # the same seed draws for the same absolute sample, so where a chunk's trajectory
        # meets the sequential one after the warm-up, the two stay locked together.
        uniforms = None
        if temperature > 0:
            gen = self._generator(seed, None, cond.device)
            u_seq = torch.rand(
                padded * hop, batch, generator=gen, dtype=torch.float64, device=cond.device
            )
            uniforms = torch.stack([u_seq[s * hop : (s + win) * hop] for s in starts], 2).reshape(
                win * hop, batch * n_chunks
            )
        codes, _, _ = self._decode(
            windows.reshape(batch * n_chunks, channels, win),
            temperature=float(temperature),
            backend=backend,
            progress=progress,
            uniforms=uniforms,
        )
        audio = mu_law_decode(codes, 255).reshape(batch, n_chunks, win * hop)
        out = audio.new_zeros(batch, padded * hop)
        out[:, : win * hop] = audio[:, 0]
        xf = crossfade_frames * hop
        ramp = (torch.arange(xf, device=out.device, dtype=torch.float32) + 0.5) / max(xf, 1)
        fade_in = torch.sin(0.5 * math.pi * ramp) if fade == "equal_power" else ramp
        fade_out = torch.cos(0.5 * math.pi * ramp) if fade == "equal_power" else 1.0 - ramp
        for i in range(1, n_chunks):
            keep = (starts[i] + overlap_frames) * hop  # where chunk i's own output begins
            local = overlap_frames * hop
            if xf:
                out[:, keep - xf : keep] = (
                    out[:, keep - xf : keep] * fade_out + audio[:, i, local - xf : local] * fade_in
                )
            out[:, keep : keep + chunk_frames * hop] = audio[:, i, local:]
        out = out[:, : n_frames * hop].clamp_(-1.0, 1.0)
        return out if return_audio else mu_law_encode(out, 255)


def _sample(logits: torch.Tensor, temperature: float, u: torch.Tensor | None) -> torch.Tensor:
    """Inverse-CDF sampling of softmax(logits / T) in float64 with given uniforms (B,)."""
    if temperature <= 0 or u is None:
        return logits.argmax(1)
    z = logits.double() / temperature
    e = torch.exp(z - z.max(1, keepdim=True).values)
    cdf = e.cumsum(1)
    idx = torch.searchsorted(cdf, (u.to(cdf.device) * cdf[:, -1]).unsqueeze(1), right=True)
    return idx.squeeze(1).clamp_(max=logits.shape[1] - 1)


class _TorchRunner:
    """Cached steps with torch ops (any device): a few matmuls per layer and sample."""

    def __init__(self, model: WaveNetDecoder, packed: _Packed, state: WaveNetState) -> None:
        self.m, self.p, self.st = model, packed, state

    def run(
        self,
        table: torch.Tensor,
        local_t: int,
        n: int,
        temperature: float,
        u: torch.Tensor | None,
        forced: torch.Tensor | None,
        codes_out: torch.Tensor,
        logits_out: torch.Tensor | None,
    ) -> None:
        m, p, st = self.m, self.p, self.st
        r, k, hop = m.residual_channels, m.kernel, m.hop
        n_layers = len(m.dilations)
        hist = st.hist
        scale = 2.0 / (m.n_classes - 1)
        for i in range(n):
            t = st.t
            crow = table[:, (local_t + i) // hop]
            if m.input_embedding:
                h = p.embed[st.prev.clamp(min=0)] * (st.prev >= 0).unsqueeze(1)
            else:
                h = torch.addmm(p.start_b, st.inputs, p.start_t)
            skip = torch.addmm(p.ss_b, h, p.ss_t)
            for j in range(n_layers):
                off, length, d = m.offsets[j], m.lengths[j], m.dilations[j]
                taps = [hist[:, off + (t - q * d) % length] for q in range(k - 1, 0, -1)]
                z = torch.cat([*taps, h], 1)
                a = torch.addmm(crow[:, 2 * r * j : 2 * r * (j + 1)], z, p.wd_t[j])
                g = torch.tanh(a[:, :r]) * torch.sigmoid(a[:, r:])
                hist[:, off + t % length] = h
                rs = torch.addmm(p.brs[j], g, p.wrs_t[j])
                skip += rs[:, r:]
                if j < n_layers - 1:
                    h = h + rs[:, :r]
            y = torch.addmm(crow[:, 2 * r * n_layers :], torch.relu(skip), p.o1_t).relu_()
            logits = torch.addmm(p.lg_b, y, p.lg_t)
            if logits_out is not None:
                logits_out[:, i] = logits
            if forced is not None:
                code = forced[:, i]
            else:
                code = _sample(logits, temperature, u[i] if u is not None else None)
            codes_out[:, i] = code
            st.inputs = torch.cat([st.inputs[:, 1:], (code.float() * scale - 1.0)[:, None]], 1)
            st.prev = code
            st.t = t + 1
