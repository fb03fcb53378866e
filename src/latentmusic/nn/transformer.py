"""Pre-LayerNorm transformer with optional cross-attention and a KV cache.

The Jukebox priors (``jukebox/transformer/transformer.py``) are stacks of pre-LN blocks
whose attention works in a narrower space than the residual stream (``m_attn`` = 0.25 of
the width) and whose MLP is as wide as the stream (``m_mlp`` = 1). The lyrics-conditioned
prior adds encoder-decoder (cross) attention to some blocks. Sampling one token at a time
is only affordable with a key/value cache: each step attends to stored keys instead of
recomputing the whole window, which turns O(T^2) work per token into O(T).

Attention here is dense (PyTorch's scaled_dot_product_attention); the paper's factorised
row/column/previous-row sparse attention is a memory optimisation for 8192-token windows
on GPUs and does not change what the model computes in expectation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from latentmusic.errors import ConfigError, InputError


@dataclass
class KVCache:
    """Keys and values of every layer for positions ``[0, length)``, preallocated to ``max_len``.

    ``cross`` holds each cross-attention layer's projected context, computed once.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    max_len: int
    length: int = 0
    cross: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget the stored positions (and context) so the cache can start a new window."""
        self.length = 0
        self.cross.clear()


class SelfAttention(nn.Module):
    """Multi-head attention in a space of ``attn_width`` channels; causal or bidirectional."""

    def __init__(self, width: int, heads: int, attn_width: int, dropout: float = 0.0) -> None:
        super().__init__()
        if attn_width % heads:
            raise ConfigError(f"Attention width {attn_width} is not divisible by {heads} heads.")
        self.heads = heads
        self.head_dim = attn_width // heads
        self.qkv = nn.Linear(width, 3 * attn_width)
        self.proj = nn.Linear(attn_width, width)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        *,
        causal: bool = True,
        cache: KVCache | None = None,
        layer: int = 0,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = (self._split(p) for p in self.qkv(x).chunk(3, dim=-1))
        mask: torch.Tensor | None = None
        is_causal = False
        if cache is not None:
            start = cache.length
            if start + t > cache.max_len:
                raise InputError(
                    f"KV cache holds {cache.max_len} positions; asked for {start + t}."
                )
            cache.keys[layer][:b, :, start : start + t] = k
            cache.values[layer][:b, :, start : start + t] = v
            k = cache.keys[layer][:b, :, : start + t]
            v = cache.values[layer][:b, :, : start + t]
            if causal and t > 1:
                rows = torch.arange(start, start + t, device=x.device)[:, None]
                mask = torch.arange(start + t, device=x.device)[None, :] <= rows
        elif causal:
            is_causal = key_mask is None
            if key_mask is not None:
                mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        if key_mask is not None:
            km = key_mask[:, None, None, :]
            mask = km if mask is None else (mask[None, None] & km)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=is_causal,
        )
        return self.proj(y.transpose(1, 2).reshape(b, t, -1))


class CrossAttention(nn.Module):
    """Queries from the sequence, keys/values from an encoder's output (e.g. lyrics)."""

    def __init__(
        self, width: int, context_width: int, heads: int, attn_width: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if attn_width % heads:
            raise ConfigError(f"Attention width {attn_width} is not divisible by {heads} heads.")
        self.heads = heads
        self.head_dim = attn_width // heads
        self.q = nn.Linear(width, attn_width)
        self.kv = nn.Linear(context_width, 2 * attn_width)
        self.proj = nn.Linear(attn_width, width)
        self.dropout = dropout

    def project_context(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, s, _ = context.shape
        k, v = self.kv(context).chunk(2, dim=-1)
        return (
            k.view(b, s, self.heads, self.head_dim).transpose(1, 2),
            v.view(b, s, self.heads, self.head_dim).transpose(1, 2),
        )

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        *,
        context_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        if cache is not None:
            if layer not in cache.cross:
                cache.cross[layer] = self.project_context(context)
            k, v = cache.cross[layer]
        else:
            k, v = self.project_context(context)
        mask = None if context_mask is None else context_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """x + attn(LN x) [+ cross(LN x, context)] + mlp(LN x): the pre-LN residual block."""

    def __init__(
        self,
        width: int,
        heads: int,
        attn_width: int,
        mlp_width: int,
        context_width: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, attn_width, dropout)
        self.cross: CrossAttention | None = None
        if context_width is not None:
            self.ln_cross = nn.LayerNorm(width)
            self.cross = CrossAttention(width, context_width, heads, attn_width, dropout)
        self.ln_mlp = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_width, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        *,
        causal: bool,
        context: torch.Tensor | None,
        context_mask: torch.Tensor | None,
        key_mask: torch.Tensor | None,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        x = x + self.drop(
            self.attn(self.ln_attn(x), causal=causal, cache=cache, layer=layer, key_mask=key_mask)
        )
        if self.cross is not None:
            if context is None:
                raise InputError("This transformer has cross-attention layers; pass a context.")
            x = x + self.drop(
                self.cross(
                    self.ln_cross(x), context, context_mask=context_mask, cache=cache, layer=layer
                )
            )
        return x + self.mlp(self.ln_mlp(x))


class Transformer(nn.Module):
    """A stack of pre-LN blocks with a final LayerNorm; (B, T, width) in and out.

    ``cross_every`` > 0 gives every ``cross_every``-th block a cross-attention layer onto a
    ``context`` of ``context_width`` channels (Jukebox's lyrics encoder-decoder attention).
    """

    def __init__(
        self,
        width: int,
        depth: int,
        heads: int,
        *,
        m_attn: float = 0.25,
        m_mlp: float = 1.0,
        causal: bool = True,
        context_width: int | None = None,
        cross_every: int = 0,
        dropout: float = 0.0,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        attn_width = max(heads, int(m_attn * width))
        attn_width -= attn_width % heads
        mlp_width = max(1, int(m_mlp * width))
        self.width = width
        self.depth = depth
        self.heads = heads
        self.head_dim = attn_width // heads
        self.causal = causal
        self.cross_layers = (
            {d for d in range(depth) if (d + 1) % cross_every == 0}
            if context_width is not None and cross_every > 0
            else set()
        )
        self.blocks = nn.ModuleList(
            Block(
                width,
                heads,
                attn_width,
                mlp_width,
                context_width if d in self.cross_layers else None,
                dropout,
            )
            for d in range(depth)
        )
        self.ln_out = nn.LayerNorm(width)
        self._init(init_scale)

    def _init(self, scale: float) -> None:
        """GPT-2 style: N(0, 0.02*scale), residual projections shrunk by 1/sqrt(2*depth)."""
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 * scale
                if name.endswith("proj.weight"):
                    std /= math.sqrt(2 * self.depth)
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def new_cache(
        self,
        batch: int,
        max_len: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> KVCache:
        """An empty cache for ``batch`` sequences of up to ``max_len`` positions."""
        shape = (batch, self.heads, max_len, self.head_dim)
        return KVCache(
            keys=[torch.zeros(shape, device=device, dtype=dtype) for _ in range(self.depth)],
            values=[torch.zeros(shape, device=device, dtype=dtype) for _ in range(self.depth)],
            max_len=max_len,
        )

    def forward(
        self,
        x: torch.Tensor,
        *,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Run the stack. With ``cache``, ``x`` holds the next positions after those cached.

        ``key_mask`` (B, T) marks real (True) versus padding positions for bidirectional
        use (an encoder over padded text); ``context_mask`` does the same for the context.
        """
        for layer, block in enumerate(self.blocks):
            x = block(
                x,
                causal=self.causal,
                context=context,
                context_mask=context_mask,
                key_mask=key_mask,
                cache=cache,
                layer=layer,
            )
        if cache is not None:
            cache.length += x.shape[1]
        return self.ln_out(x)
