"""Latent-space operations every family shares, so "interpolate" means the same everywhere."""

from latentmusic.latent.ops import (
    attribute_vector,
    bilinear_grid,
    interpolate,
    lerp,
    slerp,
    temperature_sample,
)

__all__ = [
    "attribute_vector",
    "bilinear_grid",
    "interpolate",
    "lerp",
    "slerp",
    "temperature_sample",
]
