"""The conditioned autoregressive prior over one level's codes (top prior and upsamplers).

``jukebox/prior/autoregressive.py`` as one readable module: token embedding, learned
position embedding, a pre-LN decoder-only transformer (``latentmusic.nn.transformer``)
and a softmax over the codebook. Conditioning, as in section 4 of the paper:

- artist + genre: their summed embeddings are the *start token*, the input at position 0;
- timing: total song length, absolute position and fraction elapsed, each binned into
  ``t_bins`` and embedded, added at every position;
- lyrics (optional): a character-level transformer encoder whose output every
  ``cross_every``-th block attends to (encoder-decoder attention);
- upsamplers only: the level above through ``UpperConditioner``, added at every position.

``sample_window`` draws one window autoregressively, with or without the KV cache; the
windowed, primed and ancestral logic lives in ``sampling.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latentmusic.errors import ConfigError, InputError
from latentmusic.jukebox.config import PriorConfig
from latentmusic.jukebox.labels import LYRIC_VOCAB, PAD, LabelVocab
from latentmusic.latent import temperature_sample
from latentmusic.nn.transformer import Transformer


@dataclass
class Conditioning:
    """Per-example conditioning of one window (all tensors have batch first)."""

    artist: torch.Tensor  # (B,) int64
    genre: torch.Tensor  # (B,) int64
    total: torch.Tensor  # (B,) float, song length in samples
    start: torch.Tensor  # (B,) float, window start in samples
    lyrics: torch.Tensor | None = None  # (B, n_lyric_tokens) int64
    upper: torch.Tensor | None = None  # (B, T / ratio) codes of the level above

    @classmethod
    def from_batch(cls, batch: Mapping[str, torch.Tensor]) -> Conditioning:
        """The conditioning of a collated batch of code windows (``CodeWindows``)."""
        return cls(
            artist=batch["artist"].long(),
            genre=batch["genre"].long(),
            total=batch["total"].double(),
            start=batch["start"].double(),
            lyrics=batch.get("lyrics"),
            upper=batch.get("upper"),
        )

    def select(self, rows: torch.Tensor | slice) -> Conditioning:
        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t[rows]

        return Conditioning(
            self.artist[rows],
            self.genre[rows],
            self.total[rows],
            self.start[rows],
            pick(self.lyrics),
            pick(self.upper),
        )


class TimingEmbedding(nn.Module):
    """Embeddings of (total length, position, fraction elapsed), summed, per position."""

    def __init__(self, t_bins: int, width: int, max_samples: float, init_scale: float) -> None:
        super().__init__()
        self.t_bins = t_bins
        self.max_samples = max_samples
        self.total = nn.Embedding(t_bins, width)
        self.position = nn.Embedding(t_bins, width)
        self.fraction = nn.Embedding(t_bins, width)
        for emb in (self.total, self.position, self.fraction):
            nn.init.normal_(emb.weight, std=0.01 * init_scale)

    def _bin(self, value: torch.Tensor, top: torch.Tensor | float) -> torch.Tensor:
        idx = torch.floor(value / top * self.t_bins)
        return idx.clamp(0, self.t_bins - 1).long()

    def forward(
        self, total: torch.Tensor, start: torch.Tensor, hop: int, first: int, n: int
    ) -> torch.Tensor:
        """(B, n, width) for positions ``first .. first+n-1`` of windows starting at ``start``."""
        steps = torch.arange(first, first + n, device=total.device, dtype=torch.float64)
        pos = start.double()[:, None] + steps[None, :] * hop  # (B, n) in samples
        tot = total.double()
        out = self.total(self._bin(tot, self.max_samples))[:, None, :]
        out = out + self.position(self._bin(pos, self.max_samples))
        return out + self.fraction(self._bin(pos, tot.clamp_min(1.0)[:, None]))


class LyricsEncoder(nn.Module):
    """Characters -> contextual vectors (bidirectional transformer over the lyric window)."""

    def __init__(self, cfg: PriorConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(LYRIC_VOCAB, cfg.lyric_width)
        self.pos = nn.Parameter(torch.randn(cfg.n_lyric_tokens, cfg.lyric_width) * 0.01)
        nn.init.normal_(self.tok.weight, std=0.02)
        self.transformer = Transformer(
            cfg.lyric_width,
            cfg.lyric_depth,
            cfg.lyric_heads,
            m_attn=cfg.m_attn,
            m_mlp=cfg.m_mlp,
            causal=False,
            dropout=cfg.dropout,
        )

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = tokens != PAD
        x = self.tok(tokens) + self.pos[: tokens.shape[1]]
        return self.transformer(x, key_mask=mask), mask


class Prior(nn.Module):
    """Autoregressive transformer over the codes of one VQ-VAE level, with conditioning."""

    def __init__(self, cfg: PriorConfig, vocab: LabelVocab | None = None) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.vocab = vocab or LabelVocab(
            tuple(f"artist{i}" for i in range(cfg.n_artists)),
            tuple(f"genre{i}" for i in range(cfg.n_genres)),
        )
        if len(self.vocab.artists) != cfg.n_artists or len(self.vocab.genres) != cfg.n_genres:
            raise ConfigError("The label vocabulary does not match n_artists / n_genres.")
        w = cfg.width
        self.tok_emb = nn.Embedding(cfg.bins, w)
        self.pos_emb = nn.Parameter(torch.randn(cfg.n_ctx, w) * 0.01 * cfg.init_scale)
        self.artist_emb = nn.Embedding(cfg.n_artists, w)
        self.genre_emb = nn.Embedding(cfg.n_genres, w)
        for emb in (self.tok_emb, self.artist_emb, self.genre_emb):
            nn.init.normal_(emb.weight, std=0.02 * cfg.init_scale)
        self.timing = TimingEmbedding(
            cfg.t_bins, w, cfg.max_seconds * cfg.sample_rate, cfg.init_scale
        )
        self.lyrics_encoder = LyricsEncoder(cfg) if cfg.lyrics else None
        self.conditioner = None
        if cfg.is_upsampler:
            from latentmusic.jukebox.upsampler import UpperConditioner

            self.conditioner = UpperConditioner(cfg)
        self.transformer = Transformer(
            w,
            cfg.depth,
            cfg.heads,
            m_attn=cfg.m_attn,
            m_mlp=cfg.m_mlp,
            causal=True,
            context_width=cfg.lyric_width if cfg.lyrics else None,
            cross_every=cfg.cross_every,
            dropout=cfg.dropout,
            init_scale=cfg.init_scale,
        )
        self.head = nn.Linear(w, cfg.bins, bias=False)
        nn.init.normal_(self.head.weight, std=0.02)

    # -- conditioning ---------------------------------------------------------------------

    def _context(self, cond: Conditioning) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if self.lyrics_encoder is None:
            return None, None
        if cond.lyrics is None:
            raise InputError("This prior is conditioned on lyrics; pass lyric tokens.")
        return self.lyrics_encoder(cond.lyrics)

    def _additive(
        self, cond: Conditioning, first: int, n: int, upper: torch.Tensor | None
    ) -> torch.Tensor:
        """Position + timing (+ upper level) embeddings for positions first..first+n-1."""
        add = self.pos_emb[first : first + n][None]
        add = add + self.timing(cond.total, cond.start, self.cfg.hop, first, n)
        if upper is not None:
            add = add + upper[:, first : first + n]
        return add

    def _upper(self, cond: Conditioning, n: int) -> torch.Tensor | None:
        if self.conditioner is None:
            return None
        if cond.upper is None:
            raise InputError("An upsampler needs the codes of the level above (cond.upper).")
        need = -(-n // self.cfg.ratio)
        if cond.upper.shape[1] < need:
            raise InputError(f"Upper-level codes cover {cond.upper.shape[1]} tokens; need {need}.")
        return self.conditioner(cond.upper[:, :need])

    def start_embedding(self, cond: Conditioning) -> torch.Tensor:
        return self.artist_emb(cond.artist) + self.genre_emb(cond.genre)

    # -- training -------------------------------------------------------------------------

    def forward(self, tokens: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """Logits (B, T, bins): position t predicts tokens[:, t] from tokens[:, :t]."""
        b, t = tokens.shape
        if t > self.cfg.n_ctx:
            raise InputError(f"Window of {t} tokens exceeds the context n_ctx={self.cfg.n_ctx}.")
        x = self.tok_emb(tokens)
        x = torch.cat([self.start_embedding(cond)[:, None], x[:, :-1]], dim=1)
        x = x + self._additive(cond, 0, t, self._upper(cond, t))
        context, context_mask = self._context(cond)
        h = self.transformer(x, context=context, context_mask=context_mask)
        return self.head(h)

    def loss(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The training objective of a batch of code windows (``tokens`` (B, T), their
        ``mask`` and conditioning) and its logged parts: nats and bits per token."""
        nll = self.nll(batch["tokens"], Conditioning.from_batch(batch), batch.get("mask"))
        return {"loss": nll, "bits_per_token": nll.detach() / math.log(2.0)}

    def nll(
        self, tokens: torch.Tensor, cond: Conditioning, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean negative log-likelihood in nats per (unmasked) token."""
        logits = self(tokens, cond)
        nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1), reduction="none"
        )
        if mask is None:
            return nll.mean()
        m = mask.reshape(-1).to(nll.dtype)
        return (nll * m).sum() / m.sum().clamp_min(1.0)

    # -- sampling -------------------------------------------------------------------------

    @torch.no_grad()
    def sample_window(
        self,
        n: int,
        cond: Conditioning,
        *,
        prime: torch.Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
        on_token: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """Complete one window to ``n`` tokens (B, n), continuing ``prime`` (B, P) if given.

        ``on_token`` is called after each position is drawn (a progress bar's tick).

        With ``use_cache`` each step feeds one token and attends to cached keys/values;
        without, each step re-runs the whole window. Both draw the same random numbers
        in the same order, so for one seed they give the same tokens.
        """
        if n > self.cfg.n_ctx:
            raise InputError(f"A window holds at most n_ctx={self.cfg.n_ctx} tokens, not {n}.")
        b = cond.artist.shape[0]
        device = self.tok_emb.weight.device
        tokens = torch.zeros(b, n, dtype=torch.long, device=device)
        p = 0 if prime is None else prime.shape[1]
        if p >= n:
            return prime[:, :n].clone()
        if p:
            tokens[:, :p] = prime
        add = self._additive(cond, 0, n, self._upper(cond, n))
        context, context_mask = self._context(cond)
        start = self.start_embedding(cond)[:, None]

        def inputs(lo: int, hi: int) -> torch.Tensor:
            """Transformer inputs for positions lo..hi-1 (start token, then shifted tokens)."""
            parts = []
            if lo == 0:
                parts.append(start)
                lo = 1
            if hi > lo:
                parts.append(self.tok_emb(tokens[:, lo - 1 : hi - 1]))
            return torch.cat(parts, dim=1)

        cache = self.transformer.new_cache(b, n, device, add.dtype) if use_cache else None
        fed = 0  # positions already in the cache
        for i in range(p, n):
            if cache is not None:
                x = inputs(fed, i + 1) + add[:, fed : i + 1]
                h = self.transformer(x, context=context, context_mask=context_mask, cache=cache)
                fed = i + 1
            else:
                x = inputs(0, i + 1) + add[:, : i + 1]
                h = self.transformer(x, context=context, context_mask=context_mask)
            logits = self.head(h[:, -1])
            tokens[:, i] = temperature_sample(logits, temperature, generator)
            if on_token is not None:
                on_token()
        return tokens
