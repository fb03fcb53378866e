"""lerp, slerp, bilinear grids, attribute vectors and temperature sampling.

All functions take torch tensors whose *last* dimension (or all dimensions, for
``slerp`` over sequences of frames) is the latent space, and broadcast over the rest.
"""

from __future__ import annotations

from typing import Literal

import torch

from latentmusic.errors import InputError


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Straight-line interpolation ``(1 - t) a + t b``."""
    return a + (b - a) * t


def slerp(
    a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-7
) -> torch.Tensor:
    """Spherical interpolation over the flattened latent (keeps the norm typical of a Gaussian prior).

    Falls back to lerp when ``a`` and ``b`` are (anti)parallel. ``a`` and ``b`` may carry
    any shape; they are treated as single vectors (e.g. an NSynth frames×16 embedding).
    """
    shape = a.shape
    fa, fb = a.reshape(-1).double(), b.reshape(-1).double()
    cos = torch.dot(fa, fb) / (fa.norm() * fb.norm()).clamp_min(eps)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    so = torch.sin(omega)
    t_d = torch.as_tensor(t, dtype=torch.float64)
    if so.abs() < 1e-6:
        out = lerp(fa, fb, t_d)
    else:
        out = (torch.sin((1.0 - t_d) * omega) / so) * fa + (torch.sin(t_d * omega) / so) * fb
    return out.reshape(shape).to(a.dtype)


def interpolate(
    a: torch.Tensor,
    b: torch.Tensor,
    steps: int,
    method: Literal["slerp", "lerp"] = "slerp",
    eps: float = 1e-7,
) -> torch.Tensor:
    """``steps`` latents from ``a`` to ``b`` inclusive, stacked on a new first dimension.

    All steps are computed at once (the same arithmetic as calling ``slerp``/``lerp`` per
    step): per-call overhead matters when an interactive slider interpolates every frame.
    """
    if steps < 2:
        raise InputError("interpolate needs at least 2 steps (the two endpoints).")
    ts = torch.linspace(0.0, 1.0, steps)
    if method == "lerp":
        out = a + (b - a) * ts.to(a.dtype).reshape(steps, *([1] * a.dim()))
    else:
        fa, fb = a.reshape(-1).double(), b.reshape(-1).double()
        cos = torch.dot(fa, fb) / (fa.norm() * fb.norm()).clamp_min(eps)
        omega = torch.arccos(cos.clamp(-1.0, 1.0))
        so = torch.sin(omega)
        t = ts.double()[:, None]
        if so.abs() < 1e-6:
            flat = fa + (fb - fa) * t
        else:
            flat = (torch.sin((1.0 - t) * omega) / so) * fa + (torch.sin(t * omega) / so) * fb
        out = flat.reshape(steps, *a.shape).to(a.dtype)
    out[0], out[-1] = a, b  # endpoints are exactly the inputs
    return out


def bilinear_grid(
    corners: torch.Tensor, rows: int, cols: int, method: Literal["slerp", "lerp"] = "lerp"
) -> torch.Tensor:
    """A rows×cols grid between four corner latents (top-left, top-right, bottom-left, bottom-right).

    The NSynth Super pad and magenta-js's 4-way interpolation: interpolate the top and
    bottom edges, then between them in each column. Returns ``(rows, cols, *latent)``.
    """
    if corners.shape[0] != 4:
        raise InputError("bilinear_grid needs exactly 4 corner latents.")
    tl, tr, bl, br = corners
    top = interpolate(tl, tr, cols, method)
    bottom = interpolate(bl, br, cols, method)
    return torch.stack([interpolate(top[c], bottom[c], rows, method) for c in range(cols)], dim=1)


def bilinear_point(corners: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """One point of the pad at (x, y) in [0, 1]²: x from left to right, y from top to bottom."""
    tl, tr, bl, br = corners
    return (1 - x) * (1 - y) * tl + x * (1 - y) * tr + (1 - x) * y * bl + x * y * br


def attribute_vector(z_with: torch.Tensor, z_without: torch.Tensor) -> torch.Tensor:
    """Mean latent of examples with an attribute minus the mean of those without (MusicVAE)."""
    if len(z_with) == 0 or len(z_without) == 0:
        raise InputError("attribute_vector needs examples both with and without the attribute.")
    return z_with.mean(dim=0) - z_without.mean(dim=0)


def temperature_sample(
    logits: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Sample class indices from the last dim of ``logits``; temperature 0 is greedy (argmax)."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    idx = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
    return idx.reshape(probs.shape[:-1])
