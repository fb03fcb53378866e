"""Vector quantizer with an EMA codebook, k-means initialisation and random restarts.

Jukebox's bottleneck (Dhariwal et al. 2020, section 3.1 and ``jukebox/vqvae/bottleneck.py``):
the codebook is not trained by gradients but as an exponential moving average of the
encoder outputs assigned to each code (``decay`` = 0.99). Codebook collapse is fought
twice: the codebook starts from encoder outputs of the first training batch (k-means++
seeds and a few Lloyd steps on it), and any code whose EMA usage count falls below ``threshold``
(1.0) is restarted at a random encoder output of the current batch. The encoder is pulled
towards its code by the commitment loss ``||x - sg(e)||^2``; gradients reach it through
the straight-through estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from latentmusic.errors import ConfigError, InputError


@dataclass
class VQOutput:
    """What one pass through the bottleneck gives back."""

    quantized: torch.Tensor  # (B, D, T) straight-through: forward = codes, backward = identity
    codes: torch.Tensor  # (B, T) int64
    commit_loss: torch.Tensor  # scalar, mean over elements of ||x - sg(e)||^2
    stats: dict[str, float] = field(default_factory=dict)


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantizer over ``n_codes`` vectors of size ``dim`` with EMA updates.

    Inputs are (B, D, T) feature maps (the conv encoders' layout). In training mode every
    forward pass updates the codebook (no optimizer involved); in eval mode it is frozen.
    Under DDP the per-code sums are all-reduced and restarts come from rank 0, so every
    replica keeps the same codebook.
    """

    def __init__(
        self,
        n_codes: int,
        dim: int,
        decay: float = 0.99,
        threshold: float = 1.0,
        kmeans_iters: int = 2,
    ) -> None:
        super().__init__()
        if n_codes < 2 or dim < 1:
            raise ConfigError("A codebook needs at least 2 codes of dimension >= 1.")
        if not 0.0 <= decay < 1.0:
            raise ConfigError("The EMA decay must be in [0, 1).")
        self.n_codes = n_codes
        self.dim = dim
        self.decay = decay
        self.threshold = threshold
        self.kmeans_iters = kmeans_iters
        self.register_buffer("codebook", torch.zeros(n_codes, dim))
        self.register_buffer("ema_sum", torch.zeros(n_codes, dim))
        self.register_buffer("ema_count", torch.zeros(n_codes))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    # -- lookup ---------------------------------------------------------------------------

    def quantize(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest code for each row of ``flat`` (N, D) -> (codes (N,), squared distance (N,))."""
        book = self.codebook.to(flat.dtype)
        dist = (
            flat.pow(2).sum(1, keepdim=True) - 2.0 * flat @ book.t() + book.pow(2).sum(1)[None, :]
        )
        best, codes = dist.min(dim=1)
        return codes, best.clamp_min(0.0)

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, T) -> vectors (B, D, T)."""
        return F.embedding(codes, self.codebook).permute(0, 2, 1).contiguous()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, T) features -> (B, T) codes, without touching the codebook."""
        b, d, t = x.shape
        codes, _ = self.quantize(x.permute(0, 2, 1).reshape(-1, d))
        return codes.view(b, t)

    # -- EMA training ---------------------------------------------------------------------

    @staticmethod
    def _tile(flat: torch.Tensor, n: int) -> torch.Tensor:
        """At least ``n`` candidate vectors: repeat the batch with a little noise if it is small."""
        if flat.shape[0] >= n:
            return flat
        reps = math.ceil(n / flat.shape[0])
        std = 0.01 / math.sqrt(flat.shape[1])
        tiled = flat.repeat(reps, 1)
        return tiled + torch.randn_like(tiled) * std

    def _random_rows(self, flat: torch.Tensor, n: int) -> torch.Tensor:
        pool = self._tile(flat, n)
        rows = pool[torch.randperm(pool.shape[0], device=flat.device)[:n]].clone()
        if _distributed():
            torch.distributed.broadcast(rows, 0)
        return rows

    def _kmeans_pp(self, flat: torch.Tensor) -> torch.Tensor:
        """k-means++ seeding: each new code is an encoder output drawn with probability
        proportional to its squared distance from the codes chosen so far."""
        pool = self._tile(flat, self.n_codes)
        limit = max(4 * self.n_codes, 8192)
        if pool.shape[0] > limit:
            pool = pool[torch.randperm(pool.shape[0], device=pool.device)[:limit]]
        book = torch.empty(self.n_codes, pool.shape[1], device=pool.device, dtype=pool.dtype)
        book[0] = pool[torch.randint(pool.shape[0], (1,), device=pool.device)]
        best = (pool - book[0]).pow(2).sum(1)
        for i in range(1, self.n_codes):
            weights = best.clamp_min(0.0)
            total = weights.sum()
            if not torch.isfinite(total) or total <= 0:
                idx = torch.randint(pool.shape[0], (1,), device=pool.device)
            else:
                idx = torch.multinomial(weights / total, 1)
            book[i] = pool[idx]
            best = torch.minimum(best, (pool - book[i]).pow(2).sum(1))
        return book

    @torch.no_grad()
    def initialize(self, flat: torch.Tensor) -> None:
        """k-means start: k-means++ seeds from the batch, refined by a few Lloyd iterations."""
        flat = flat.detach().float()
        book = self._kmeans_pp(flat)
        if _distributed():
            torch.distributed.broadcast(book, 0)
        for _ in range(self.kmeans_iters):
            self.codebook.copy_(book)
            codes, _ = self.quantize(flat)
            onehot_sum = torch.zeros_like(book).index_add_(0, codes, flat)
            count = torch.bincount(codes, minlength=self.n_codes).to(flat.dtype)
            if _distributed():
                torch.distributed.all_reduce(onehot_sum)
                torch.distributed.all_reduce(count)
            used = count > 0
            book[used] = onehot_sum[used] / count[used, None]
        self.codebook.copy_(book)
        self.ema_sum.copy_(book)
        self.ema_count.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def update(self, flat: torch.Tensor, codes: torch.Tensor) -> dict[str, float]:
        """One EMA step from this batch, then restart every code whose count is < threshold."""
        flat = flat.detach().float()
        batch_sum = torch.zeros_like(self.ema_sum).index_add_(0, codes, flat)
        batch_count = torch.bincount(codes, minlength=self.n_codes).to(flat.dtype)
        if _distributed():
            torch.distributed.all_reduce(batch_sum)
            torch.distributed.all_reduce(batch_count)
        old = self.codebook.clone()
        self.ema_sum.mul_(self.decay).add_(batch_sum, alpha=1.0 - self.decay)
        self.ema_count.mul_(self.decay).add_(batch_count, alpha=1.0 - self.decay)
        alive = self.ema_count >= self.threshold
        dead = ~alive
        n_dead = int(dead.sum())
        self.codebook[alive] = self.ema_sum[alive] / self.ema_count[alive, None]
        if n_dead:
            fresh = self._random_rows(flat, self.n_codes)[dead]
            self.codebook[dead] = fresh
            # The restarted code counts as used once, so it is not restarted again at once
            # if the next batch picks it; if nobody does, it decays below 1 and moves again.
            self.ema_sum[dead] = fresh
            self.ema_count[dead] = 1.0
        prob = batch_count / batch_count.sum().clamp_min(1.0)
        nz = prob[prob > 0]
        return {
            "used": float((batch_count > 0).sum()),
            "alive": float(alive.float().mean()),
            "entropy_bits": float(-(nz * nz.log2()).sum()),
            "restarted": float(n_dead),
            "codebook_shift": float((self.codebook - old).norm() / math.sqrt(old.numel())),
        }

    # -- forward --------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> VQOutput:
        """Quantize (B, D, T) features; in training mode also update the codebook."""
        b, d, t = x.shape
        if d != self.dim:
            raise InputError(f"VectorQuantizer expects {self.dim} channels, got {d}.")
        flat = x.permute(0, 2, 1).reshape(-1, d)
        if self.training and not bool(self.initialized):
            self.initialize(flat)
        codes, sq_dist = self.quantize(flat.detach().float())
        stats: dict[str, float]
        if self.training:
            stats = self.update(flat, codes)
        else:
            count = torch.bincount(codes, minlength=self.n_codes).float()
            prob = count / count.sum().clamp_min(1.0)
            nz = prob[prob > 0]
            stats = {
                "used": float((count > 0).sum()),
                "alive": float((self.ema_count >= self.threshold).float().mean()),
                "entropy_bits": float(-(nz * nz.log2()).sum()),
            }
        stats["fit"] = float(sq_dist.mean())
        q_flat = F.embedding(codes, self.codebook).to(x.dtype)
        quantized = q_flat.view(b, t, d).permute(0, 2, 1)
        commit = F.mse_loss(x, quantized.detach())
        # Straight-through: the decoder sees the code vector, the encoder gets its gradient.
        quantized = x + (quantized - x).detach()
        return VQOutput(
            quantized=quantized, codes=codes.view(b, t), commit_loss=commit, stats=stats
        )
