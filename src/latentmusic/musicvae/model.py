"""MusicVAE (Roberts et al. 2018): a recurrent VAE of melodies, drum loops and multi-track music.

Encoder: a stacked bidirectional LSTM over the whole example; the last forward and
backward outputs give ``mu`` (dense) and ``sigma`` (softplus dense) of q(z|x).

Decoder, flat (2-bar models): one LSTM per track, initial state ``tanh(dense(z))``, input
at each step = previous token one-hot + z; teacher forcing or scheduled sampling
(magenta's inverse-sigmoid schedule) while training, greedy or temperature sampling after.

Decoder, hierarchical (16-bar models): a conductor LSTM, state initialised from z and fed
zeros, emits one embedding per bar; every bar is then decoded *independently* by the track
decoders above with the embedding in place of z (magenta's ``disable_autoregression``), so
the note decoder cannot ignore the latent code. Multi-track = one decoder per track.

Loss: summed cross-entropy over steps and tracks + beta * max(KL - free_bits*ln 2, 0),
beta = (1 - beta_rate^step) * max_beta.

Verbs (as in magenta-js): ``encode``, ``decode``, ``reconstruct``, ``interpolate`` (2 inputs
-> slerp path, 4 inputs -> bilinear grid), ``sample``, ``similar``, ``apply_attribute``.
Reading MIDI inputs and writing MIDI (+ WAV) outputs is ``musicvae/files.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latentmusic.errors import InputError
from latentmusic.latent import bilinear_grid, slerp, temperature_sample
from latentmusic.latent import interpolate as interpolate_latents
from latentmusic.midi.representations import (
    MAX_PITCH,
    MIN_PITCH,
    NUM_DRUM_TYPES,
    STEPS_PER_BAR,
    get_representation,
)
from latentmusic.midi.sequence import NoteSequence
from latentmusic.musicvae.config import MusicVAEConfig
from latentmusic.nn.rnn import (
    DECODER_FUSED_MAX_BATCH,
    ENCODER_FUSED_MAX_BATCH,
    BidirectionalLSTMEncoder,
    InitialState,
    LSTMState,
    StackedLSTM,
    as_numpy,
    fused_kernels,
    fused_parallel,
    parameters_key,
    use_fused,
)

FAMILY = "musicvae"


def sampling_probability(config: MusicVAEConfig, step: int) -> float:
    """Chance of feeding the decoder its own sample instead of the truth (magenta's schedules)."""
    rate = config.sampling_rate
    if config.sampling_schedule == "constant":
        return float(rate)
    if config.sampling_schedule == "inverse_sigmoid":
        return 1.0 - rate / (rate + math.exp(min(step / rate, 700.0)))
    return 1.0 - rate**step  # exponential


def kl_beta(config: MusicVAEConfig, step: int) -> float:
    """KL weight ``(1 - beta_rate^step) * max_beta``."""
    return (1.0 - config.beta_rate**step) * config.max_beta


class TrackDecoder(nn.Module):
    """magenta's ``CategoricalLstmDecoder`` for one track, conditioned on a code per segment.

    Teacher forcing runs the LSTM stack over the whole segment at once. Step-by-step decoding
    (sampling, scheduled sampling) uses the same weights through an unrolled cell in which the
    one-hot input becomes a row lookup and the constant conditioning is projected once: the
    same arithmetic as ``nn.LSTM``, a fraction of the work per step. Greedy decoding of a
    small batch goes further: the whole loop runs in one fused numba call
    (``latentmusic.nn.rnn_fused``) over weights packed once per parameter update.
    """

    def __init__(self, depth: int, cond_size: int, sizes: Sequence[int]) -> None:
        super().__init__()
        self.depth = depth
        self.initial = InitialState(cond_size, sizes)
        self.rnn = StackedLSTM(depth + cond_size, sizes)
        self.output = nn.Linear(self.rnn.output_size, depth)
        self._packed: tuple[tuple[tuple[int, int], ...], Any] | None = None

    def forward(
        self, targets: torch.Tensor, cond: torch.Tensor, sampling_probability: float = 0.0
    ) -> torch.Tensor:
        """Logits ``(N, L, depth)`` for ``targets`` ``(N, L)`` given ``cond`` ``(N, C)``.

        With scheduled sampling each input after the first is, with probability
        ``sampling_probability``, the decoder's own sample (temperature 1) of the previous
        step instead of the truth. Which inputs are sampled is drawn up front, so the steps
        before the first sampled input run teacher-forced in one LSTM call.
        """
        n, length = targets.shape
        prev = F.one_hot(targets[:, :-1], self.depth).to(cond.dtype)
        prev = F.pad(prev, (0, 0, 1, 0))  # the first input is all zeros
        x = torch.cat([prev, cond[:, None].expand(n, length, cond.shape[-1])], dim=-1)
        first = length
        if sampling_probability > 0.0:
            chosen = torch.rand(n, length, device=cond.device) < sampling_probability
            chosen[:, 0] = False
            columns = torch.nonzero(chosen.any(dim=0))
            first = int(columns[0]) if len(columns) else length
        out, state = self.rnn(x[:, :first], self.initial(cond))
        logits = self.output(out)
        if first == length:
            return logits
        step = self._stepper(cond, state)
        logits_all = [logits]
        last = logits[:, -1]
        for t in range(first, length):
            sampled = torch.multinomial(torch.softmax(last.detach(), -1), 1)[:, 0]
            token = torch.where(chosen[:, t], sampled, targets[:, t - 1])
            last = step(token)
            logits_all.append(last[:, None])
        return torch.cat(logits_all, dim=1)

    def sample(
        self,
        cond: torch.Tensor,
        length: int,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
        fast: bool = True,
    ) -> torch.Tensor:
        """Decode ``length`` tokens ``(N, length)``: greedy at temperature 0, else sampled.

        With ``fast`` a greedy decode of a small inference batch runs the fused kernel (the
        same tokens as the step loop, up to float rounding in exact ties). Sampling keeps
        the torch loop so a seeded ``generator`` draws exactly what it always drew.
        """
        if fast and temperature <= 0 and use_fused(cond, DECODER_FUSED_MAX_BATCH):
            return self._greedy_fused(cond, length)
        step = self._stepper(cond)
        tokens = []
        token = None
        for _ in range(length):
            token = temperature_sample(step(token), temperature, generator)
            tokens.append(token)
        return torch.stack(tokens, dim=1)

    def _fused_weights(self) -> Any:
        """The weights in the fused kernel's layout, repacked only after they change."""
        key = parameters_key(self)
        if self._packed is None or self._packed[0] != key:
            kernels = fused_kernels()
            assert kernels is not None
            layers = list(self.rnn.layers)
            first = layers[0]
            w_ih = first.weight_ih_l0
            stack = [(first.weight_hh_l0, torch.zeros(0))] + [
                (torch.cat([layer.weight_ih_l0, layer.weight_hh_l0], dim=1),
                 layer.bias_ih_l0 + layer.bias_hh_l0)
                for layer in layers[1:]
            ]  # fmt: skip
            packed = kernels.PackedDecoder(
                w_cond=as_numpy(w_ih[:, self.depth :]),  # the conditioning's columns
                b_cond=as_numpy(first.bias_ih_l0 + first.bias_hh_l0),
                w_init=as_numpy(self.initial.dense.weight),
                b_init=as_numpy(self.initial.dense.bias),
                rows=as_numpy(w_ih[:, : self.depth].t()),  # one-hot @ W^T == a row of W^T
                stack=kernels.pack_stack([(as_numpy(w), as_numpy(b)) for w, b in stack]),
                w_out=as_numpy(self.output.weight),
                b_out=as_numpy(self.output.bias),
            )
            self._packed = (key, packed)
        return self._packed[1]

    def _greedy_fused(self, cond: torch.Tensor, length: int) -> torch.Tensor:
        kernels = fused_kernels()
        assert kernels is not None
        tokens = kernels.greedy_decode(
            as_numpy(cond), self._fused_weights(), length, parallel=fused_parallel()
        )
        return torch.from_numpy(tokens)

    def _stepper(self, cond: torch.Tensor, state: LSTMState | None = None):  # noqa: ANN202
        """A closure ``step(previous_token or None) -> logits`` holding the LSTM state
        (initialised from ``cond`` unless ``state`` is given)."""
        layers = list(self.rnn.layers)
        first = layers[0]
        w_ih = first.weight_ih_l0
        token_rows = w_ih[:, : self.depth].t().contiguous()  # one-hot @ W == a row of W^T
        base = F.linear(cond, w_ih[:, self.depth :], first.bias_ih_l0 + first.bias_hh_l0)
        fused = [  # upper layers: [x, h] @ [W_ih, W_hh]^T in one matmul
            (torch.cat([layer.weight_ih_l0, layer.weight_hh_l0], dim=1).t(),
             layer.bias_ih_l0 + layer.bias_hh_l0)
            for layer in layers[1:]
        ]  # fmt: skip
        state = self.initial(cond) if state is None else state
        hs = [h[0] for h, _ in state]
        cs = [c[0] for _, c in state]
        w_hh0 = first.weight_hh_l0.t()

        def cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            i, f, g, o = gates.chunk(4, dim=1)  # PyTorch's gate order
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c

        def step(token: torch.Tensor | None) -> torch.Tensor:
            gates = torch.addmm(base, hs[0], w_hh0)
            if token is not None:
                gates = gates + token_rows.index_select(0, token)
            hs[0], cs[0] = cell(gates, cs[0])
            x = hs[0]
            for i, (weight, bias) in enumerate(fused, start=1):
                gates = torch.addmm(bias, torch.cat([x, hs[i]], dim=1), weight)
                hs[i], cs[i] = cell(gates, cs[i])
                x = hs[i]
            return self.output(x)

        return step


class MusicVAE(nn.Module):
    """The whole model; ``config.hierarchical`` picks the flat or the conductor decoder."""

    def __init__(self, config: MusicVAEConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.representation = get_representation(config.representation)
        self.encoder = BidirectionalLSTMEncoder(self.input_size, config.enc_rnn_size)
        self.mu = nn.Linear(self.encoder.output_size, config.z_size)
        self.sigma = nn.Linear(self.encoder.output_size, config.z_size)
        for layer in (self.mu, self.sigma):  # magenta's initializer
            nn.init.normal_(layer.weight, std=0.001)
            nn.init.zeros_(layer.bias)
        cond_size = config.z_size
        if config.hierarchical:
            sizes = config.conductor_sizes
            self.conductor_initial = InitialState(config.z_size, sizes)
            self.conductor = StackedLSTM(1, sizes)
            self.conductor_output = (
                nn.Linear(sizes[-1], config.conductor_output_size)
                if config.conductor_output_size
                else None
            )
            cond_size = config.conductor_output_size or sizes[-1]
        self.decoders = nn.ModuleList(
            TrackDecoder(depth, cond_size, config.dec_rnn_size)
            for depth in self.representation.depths
        )
        self.preset = ""
        self.checkpoint_path: Path | None = None
        self.extra: dict[str, Any] = {}

    # ------------------------------------------------------------------------- shapes
    @property
    def input_size(self) -> int:
        """Width of the encoder input: one-hot per melody track; for drums the 9 types plus
        magenta's "nothing hit" bit (``drum_roll_input``) or the 512-way one-hot."""
        return sum(
            NUM_DRUM_TYPES + 1 if t.is_drum and self.config.drum_roll_input else t.depth
            for t in self.representation.tracks
        )

    @property
    def steps(self) -> int:
        return self.config.steps

    @property
    def segment_length(self) -> int:
        return STEPS_PER_BAR if self.config.hierarchical else self.config.steps

    def encoder_input(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` (B, T, K) int -> float features (B, T, input_size)."""
        parts = []
        for k, track in enumerate(self.representation.tracks):
            column = tokens[..., k]
            if track.is_drum and self.config.drum_roll_input:
                bits = (column[..., None] >> torch.arange(NUM_DRUM_TYPES, device=column.device)) & 1
                parts.append(torch.cat([bits, (column == 0)[..., None]], dim=-1).float())
            else:
                parts.append(F.one_hot(column, track.depth).float())
        return torch.cat(parts, dim=-1)

    def _hot_columns(self, tokens: torch.Tensor) -> torch.Tensor | None:
        """Where the encoder input's ones are, (B, T, K), when it is K one-hots side by side
        (None for the drum roll, which is not one-hot)."""
        if any(t.is_drum and self.config.drum_roll_input for t in self.representation.tracks):
            return None
        offsets = np.cumsum([0] + [t.depth for t in self.representation.tracks])[:-1]
        return tokens + torch.as_tensor(offsets, dtype=tokens.dtype, device=tokens.device)

    # ------------------------------------------------------------------------ pieces
    def encode_tokens(
        self, tokens: torch.Tensor, fast: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``mu`` and ``sigma`` of q(z | tokens), each (B, z_size).

        Small inference batches run the fused kernels, heads included (the same numbers to
        float rounding); ``fast=False`` forces the ``nn.LSTM`` path (the reference).
        """
        x = self.encoder_input(tokens)
        if not (fast and use_fused(x, ENCODER_FUSED_MAX_BATCH)):
            h = self.encoder(x, fast=False)
            return self.mu(h), F.softplus(self.sigma(h))
        kernels = fused_kernels()
        assert kernels is not None
        h = as_numpy(self.encoder(x, columns=self._hot_columns(tokens)))
        mu, sigma = (
            torch.from_numpy(kernels.linear(h, as_numpy(head.weight), as_numpy(head.bias)))
            for head in (self.mu, self.sigma)
        )
        return mu, F.softplus(sigma)

    def conditioning(self, z: torch.Tensor, segments: int) -> torch.Tensor:
        """What each decoded segment is conditioned on: z itself, or one conductor
        embedding per bar. Returns (B * segments, C)."""
        if not self.config.hierarchical:
            return z
        state = self.conductor_initial(z)
        out, _ = self.conductor(z.new_zeros(z.shape[0], segments, 1), state)
        if self.conductor_output is not None:
            out = self.conductor_output(out)
        return out.reshape(z.shape[0] * segments, -1)

    def _segments(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T, K) -> (B * segments, segment_length, K)."""
        b, t, k = tokens.shape
        return tokens.reshape(b * (t // self.segment_length), self.segment_length, k)

    def track_logits(
        self, tokens: torch.Tensor, z: torch.Tensor, sampling: float = 0.0
    ) -> list[torch.Tensor]:
        """Per track, logits (B, T, depth) for ``tokens`` (B, T, K) decoded from ``z``
        (teacher forcing when ``sampling`` is 0, else scheduled sampling)."""
        batch = tokens.shape[0]
        segments = self.steps // self.segment_length
        cond = self.conditioning(z, segments)
        targets = self._segments(tokens)
        return [
            decoder(targets[..., k], cond, sampling).reshape(batch, self.steps, -1)
            for k, decoder in enumerate(self.decoders)
        ]

    def loss(
        self, batch: Mapping[str, torch.Tensor], step: int = 0, sampling: float | None = None
    ) -> dict[str, torch.Tensor]:
        """The training objective and its parts for a batch of ``tokens`` (B, T, K) at
        training step ``step`` (where the KL and sampling schedules are).

        ``sampling`` is the scheduled-sampling probability (None: the schedule's value at
        ``step``; 0: teacher forcing). KL is reported in nats per example, before free bits.
        """
        tokens = batch["tokens"]
        if tokens.shape[1] != self.steps:
            raise InputError(f"Expected {self.steps} steps, got {tokens.shape[1]}.")
        p = sampling_probability(self.config, step) if sampling is None else sampling
        mu, sigma = self.encode_tokens(tokens)
        z = mu + sigma * torch.randn_like(sigma)
        batch = tokens.shape[0]
        recon = tokens.new_zeros(batch, dtype=torch.float32)
        correct = tokens.new_zeros((), dtype=torch.float32)
        for k, logits in enumerate(self.track_logits(tokens, z, p)):
            target = tokens[..., k]
            ce = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")
            recon = recon + ce.view(batch, -1).sum(dim=1)
            correct = correct + (logits.argmax(-1) == target).float().sum()
        kl = 0.5 * (mu.pow(2) + sigma.pow(2) - 1.0 - 2.0 * torch.log(sigma.clamp_min(1e-8))).sum(-1)
        kl_cost = (kl - self.config.free_bits * math.log(2.0)).clamp_min(0.0)
        beta = kl_beta(self.config, step)
        loss = recon.mean() + beta * kl_cost.mean()
        return {
            "loss": loss,
            "recon": recon.mean(),
            "kl": kl.mean(),
            "kl_bits": kl.mean() / math.log(2.0),
            "beta": torch.tensor(beta),
            "sampling_probability": torch.tensor(p),
            "accuracy": correct / tokens.numel(),
        }

    @torch.no_grad()
    def decode_tokens(
        self,
        z: torch.Tensor,
        temperature: float = 0.0,
        length: int | None = None,
        generator: torch.Generator | None = None,
        fast: bool = True,
    ) -> torch.Tensor:
        """Tokens (B, length, K) decoded from latents (B, z_size). ``fast=False`` forces the
        step-by-step torch loop (the reference) for greedy decoding too."""
        length = self.steps if length is None else int(length)
        if not 1 <= length <= self.steps:
            raise InputError(f"This model decodes 1 to {self.steps} steps, not {length}.")
        if self.config.hierarchical:
            segments = -(-length // STEPS_PER_BAR)
            seg_len = STEPS_PER_BAR
        else:
            segments, seg_len = 1, length
        cond = self.conditioning(z, segments)
        columns = [
            decoder.sample(cond, seg_len, temperature, generator, fast).reshape(z.shape[0], -1)[
                :, :length
            ]
            for decoder in self.decoders
        ]
        return torch.stack(columns, dim=-1)

    # ------------------------------------------------------------- sequences in and out
    def window(self, seq: NoteSequence, start_bar: int | None = None) -> np.ndarray:
        """The ``bars``-long stretch of ``seq`` this model reads, as class indices (T, K).

        By default it starts at the bar of the first usable note; ``start_bar`` (0-based,
        counted in the file's own bars) picks another one. Shorter inputs are padded with rests.
        """
        rep = self.representation
        name = seq.source_id or "The input"
        events = rep.encode(seq)
        onsets = rep.onsets(events).any(axis=1)
        if not onsets.any():
            what = (
                "drum notes"
                if rep.name == "drums"
                else f"notes between MIDI {MIN_PITCH} and {MAX_PITCH}"
            )
            raise InputError(f"{name} has no bars this {rep.name} model can use (it needs {what}).")
        bar = seq.steps_per_bar
        if start_bar is None:
            start = int(np.flatnonzero(onsets)[0]) // bar * bar
        else:
            if start_bar < 0 or start_bar * bar >= seq.total_steps:
                raise InputError(
                    f"{name} has {seq.num_bars} bars; --start-bar {start_bar} is past its end."
                )
            start = start_bar * bar
        window = rep.cut(events, start, self.steps)
        if not rep.onsets(window).any():
            raise InputError(
                f"{name} has no usable notes in the {self.config.bars} bars from bar {start // bar}."
            )
        return window

    def _tokens(
        self, seqs: Sequence[NoteSequence] | torch.Tensor, start_bar: int | None
    ) -> torch.Tensor:
        if isinstance(seqs, torch.Tensor):
            return seqs.long()
        if isinstance(seqs, NoteSequence):
            seqs = [seqs]
        if not seqs:
            raise InputError("Give at least one sequence.")
        return torch.from_numpy(np.stack([self.window(s, start_bar) for s in seqs])).long()

    def to_sequences(self, tokens: torch.Tensor, qpm: float = 120.0) -> list[NoteSequence]:
        return [self.representation.decode(t.cpu().numpy(), qpm=qpm) for t in tokens]

    @staticmethod
    def _generator(seed: int | None) -> torch.Generator | None:
        return None if seed is None else torch.Generator().manual_seed(int(seed))

    # -------------------------------------------------------------------------- verbs
    @torch.no_grad()
    def encode(
        self,
        seqs: Sequence[NoteSequence] | NoteSequence | torch.Tensor,
        start_bar: int | None = None,
    ) -> torch.Tensor:
        """Latent codes (N, z_size): the posterior means of the inputs (as magenta-js)."""
        mu, _ = self.encode_tokens(self._tokens(seqs, start_bar))
        return mu

    @torch.no_grad()
    def decode(
        self,
        z: torch.Tensor,
        temperature: float = 0.0,
        length: int | None = None,
        seed: int | None = 0,
        qpm: float = 120.0,
    ) -> list[NoteSequence]:
        """Sequences from latents: greedy at temperature 0, sampled otherwise."""
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim == 1:
            z = z[None]
        if z.shape[-1] != self.config.z_size:
            raise InputError(
                f"This model's latent codes have {self.config.z_size} values, not {z.shape[-1]}."
            )
        tokens = self.decode_tokens(z, temperature, length, self._generator(seed))
        return self.to_sequences(tokens, qpm)

    def reconstruct(
        self,
        seqs: Sequence[NoteSequence] | NoteSequence,
        temperature: float = 0.0,
        seed: int | None = 0,
        start_bar: int | None = None,
    ) -> list[NoteSequence]:
        """Encode then decode (how much of the input the latent code keeps)."""
        seqs = [seqs] if isinstance(seqs, NoteSequence) else list(seqs)
        return self.decode(self.encode(seqs, start_bar), temperature, seed=seed, qpm=seqs[0].qpm)

    def interpolation_latents(
        self, z: torch.Tensor, steps: int, method: str = "slerp"
    ) -> torch.Tensor:
        """2 codes -> (steps, z) path; 4 codes -> (steps * steps, z) grid, row-major."""
        if len(z) == 2:
            return interpolate_latents(z[0], z[1], steps, method)  # type: ignore[arg-type]
        if len(z) == 4:
            return bilinear_grid(z, steps, steps, method).reshape(steps * steps, -1)  # type: ignore[arg-type]
        raise InputError(f"Interpolation takes 2 inputs (a path) or 4 (a grid), not {len(z)}.")

    def interpolate(
        self,
        seqs: Sequence[NoteSequence],
        steps: int = 8,
        temperature: float = 0.0,
        method: str = "slerp",
        seed: int | None = 0,
        start_bar: int | None = None,
    ) -> list[NoteSequence]:
        """Morph between 2 inputs (``steps`` sequences, endpoints included) or over the
        bilinear grid between 4 corners (``steps * steps`` sequences, row by row)."""
        if steps < 2:
            raise InputError(f"Interpolation needs at least 2 steps, not {steps}.")
        z = self.encode(list(seqs), start_bar)
        return self.decode(
            self.interpolation_latents(z, steps, method), temperature, seed=seed, qpm=seqs[0].qpm
        )

    @torch.no_grad()
    def sample(
        self, n: int = 1, temperature: float = 0.5, seed: int | None = 0, qpm: float = 120.0
    ) -> list[NoteSequence]:
        """Decode ``n`` draws from the prior N(0, I)."""
        if n < 1:
            raise InputError(f"Ask for at least one sample, not {n}.")
        generator = self._generator(seed)
        z = torch.randn(n, self.config.z_size, generator=generator)
        return self.to_sequences(self.decode_tokens(z, temperature, None, generator), qpm)

    def similar(
        self,
        seq: NoteSequence,
        n: int = 4,
        similarity: float = 0.8,
        temperature: float = 0.5,
        seed: int | None = 0,
        start_bar: int | None = None,
    ) -> list[NoteSequence]:
        """Variations: slerp from the input's code towards random prior draws by 1 - similarity."""
        if not 0.0 <= similarity <= 1.0:
            raise InputError(f"--similarity must be between 0 and 1, not {similarity}.")
        if n < 1:
            raise InputError(f"Ask for at least one variation, not {n}.")
        z = self.encode([seq], start_bar)[0]
        generator = self._generator(seed)
        noise = torch.randn(n, self.config.z_size, generator=generator)
        zs = torch.stack([slerp(z, r, 1.0 - similarity) for r in noise])
        return self.decode(zs, temperature, seed=None if seed is None else seed + 1, qpm=seq.qpm)

    def apply_attribute(
        self,
        seqs: Sequence[NoteSequence] | NoteSequence,
        vector: torch.Tensor | np.ndarray,
        magnitude: float = 1.0,
        temperature: float = 0.0,
        seed: int | None = 0,
        start_bar: int | None = None,
    ) -> list[NoteSequence]:
        """Add ``magnitude`` times an attribute vector to the inputs' codes and decode."""
        seqs = [seqs] if isinstance(seqs, NoteSequence) else list(seqs)
        vector = torch.as_tensor(np.asarray(vector), dtype=torch.float32)
        if vector.shape != (self.config.z_size,):
            raise InputError(
                f"The attribute vector has shape {tuple(vector.shape)}; this model needs ({self.config.z_size},)."
            )
        z = self.encode(seqs, start_bar) + magnitude * vector
        return self.decode(z, temperature, seed=seed, qpm=seqs[0].qpm)


# ---------------------------------------------------------------------------- file helpers


def load_model(path: str | Path) -> MusicVAE:
    """A MusicVAE from a checkpoint directory (a clear error for another family's)."""
    from latentmusic.musicvae import from_checkpoint
    from latentmusic.train.checkpoint import read_checkpoint

    model = from_checkpoint(read_checkpoint(path, family=FAMILY))
    model.eval()
    return model
