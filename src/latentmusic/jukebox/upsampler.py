"""Upsamplers: priors over the middle and bottom codes, conditioned on the level above.

An upsampler is the same conditioned transformer as the top prior (``prior.Prior``) plus
this conditioner (``jukebox/prior/conditioners.py``): the upper level's codes are
embedded, run through a dilated residual stack and transposed convolutions that raise
them to this level's token rate (x4 per level), layer-normalised and added to the token
embeddings. The conditioner is non-causal: when upsampling, the whole level above is
already known.
"""

from __future__ import annotations

import torch
from torch import nn

from latentmusic.errors import InputError
from latentmusic.jukebox.config import PriorConfig
from latentmusic.jukebox.vqvae import DecoderConvBlock


class UpperConditioner(nn.Module):
    """(B, T_up) codes of the level above -> (B, T_up * ratio, width) additive conditioning."""

    def __init__(self, cfg: PriorConfig) -> None:
        super().__init__()
        self.ratio = cfg.ratio
        self.emb = nn.Embedding(cfg.bins, cfg.width)
        nn.init.normal_(self.emb.weight, std=0.02 * cfg.init_scale)
        self.net = DecoderConvBlock(
            cfg.width,
            cfg.width,
            cfg.cond_downs,
            2,
            cfg.cond_width,
            cfg.cond_depth,
            m_conv=1.0,
            growth=cfg.cond_dilation_growth,
            cycle=cfg.cond_dilation_cycle,
        )
        self.ln = nn.LayerNorm(cfg.width)

    def forward(self, upper: torch.Tensor) -> torch.Tensor:
        x = self.emb(upper).permute(0, 2, 1)
        x = self.net(x).permute(0, 2, 1)
        return self.ln(x)


def upper_slice(upper: torch.Tensor, start: int, end: int, ratio: int) -> torch.Tensor:
    """The codes of the level above that cover tokens ``[start, end)`` of this level."""
    if start % ratio or end % ratio:
        raise InputError(f"Upsampler windows must align to the ratio {ratio}: got {start}..{end}.")
    return upper[:, start // ratio : end // ratio]
