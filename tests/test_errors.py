"""The project's error classes are what every user-facing failure raises (docs/CONTRACTS.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from latentmusic.audio.spectral import MultiResolutionSTFTLoss
from latentmusic.errors import ConfigError, InputError, LatentMusicError
from latentmusic.latent.ops import interpolate
from latentmusic.nn.transformer import SelfAttention

SRC = Path(__file__).resolve().parents[1] / "src" / "latentmusic"


def test_no_plain_value_or_type_error_is_raised_in_the_package() -> None:
    plain = re.compile(r"raise (ValueError|TypeError)\b")
    offenders = [
        f"{path.relative_to(SRC)}:{i}"
        for path in SRC.rglob("*.py")
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if plain.search(line)
    ]
    assert offenders == []


def test_bad_arguments_raise_the_projects_errors_which_are_still_value_errors() -> None:
    with pytest.raises(ConfigError, match="needs at least one resolution") as config:
        MultiResolutionSTFTLoss(resolutions=[])
    with pytest.raises(InputError, match="at least 2 steps") as arg:
        interpolate(torch.zeros(4), torch.ones(4), steps=1)
    for err in (config.value, arg.value):
        assert isinstance(err, LatentMusicError) and isinstance(err, ValueError)


def test_a_transformer_width_not_divisible_by_its_heads_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not divisible by 3 heads"):
        SelfAttention(width=64, heads=3, attn_width=64)
