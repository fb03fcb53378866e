"""``latentmusic eval musicvae``: objective measurements of a MusicVAE on held-out MIDI.

1. Reconstruction of held-out windows: teacher-forced accuracy (decoder fed the truth,
   z = posterior mean), greedy accuracy (decoded from the posterior mean, the number users
   feel), sampled accuracy (z drawn from q(z|x), tokens sampled at temperature 1), the share
   of windows reconstructed exactly, and the held-out ELBO parts (recon nats, KL nats).
2. Interpolation (paper section 5.3): for random pairs A, B of held-out windows, decode 11
   evenly spaced slerp points between their codes and measure, at each point, the
   normalised Hamming distance of the decoded tokens to A's and B's reconstructions and to
   the previous point. The same curves for naive data-space interpolation (each step taken
   from B with probability alpha, else from A) give the paper's baseline: latent paths
   should move steadily from A to B.
3. Attribute vectors (section 5.4): each vector (from RUN/attributes.npz, else computed on
   the train split) is added with magnitude +m and -m to held-out codes; we report the mean
   of every attribute in the greedy decodings, so the diagonal is each vector's effect on
   its own attribute and the rest its side effects.
4. Prior samples against data: pitch range, scale consistency (best share of notes inside
   one major scale), empty-beat rate (beats where nothing sounds), note density and
   syncopation of decoded N(0, I) samples and of held-out windows.

Options (``--option key=value``): windows (1024), pairs (32), interp_steps (11),
samples (256), temperature (0.5, for prior samples), magnitude (1.0), seed (0).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentmusic.errors import InputError
from latentmusic.evaluation import EvalJob
from latentmusic.fileio import atomic_path, ensure_writable_dir, write_json, write_text
from latentmusic.midi.representations import FIRST_PITCH_CLASS, MIN_PITCH
from latentmusic.musicvae.attributes import (
    VECTORS_FILE,
    attributes_for,
    compute_vectors,
    load_vectors,
    measure,
)
from latentmusic.musicvae.data import build_dataset
from latentmusic.musicvae.model import MusicVAE, load_model
from latentmusic.report import Item, Row, Section, Table, render_page
from latentmusic.train.config import parse_options


@dataclass(frozen=True)
class EvalOptions:
    """``--option key=value`` of ``latentmusic eval musicvae``."""

    windows: int = 1024
    pairs: int = 32
    interp_steps: int = 11
    samples: int = 256
    temperature: float = 0.5
    magnitude: float = 1.0
    seed: int = 0


MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])


def _options(options: dict[str, str]) -> EvalOptions:
    return parse_options(EvalOptions, options, "musicvae eval option")


def _batched(fn, items: torch.Tensor, size: int = 256) -> torch.Tensor:  # noqa: ANN001
    return torch.cat([fn(items[i : i + size]) for i in range(0, len(items), size)])


# ---------------------------------------------------------------------------- statistics


def token_stats(model: MusicVAE, tokens: np.ndarray) -> dict[str, float]:
    """Musical statistics of windows (N, T, K) of class indices."""
    rep = model.representation
    melodic = [i for i, t in enumerate(rep.tracks) if t.kind == "melody"]
    ranges, scale, empty, density, sync = [], [], [], [], []
    for window in tokens:
        sounding = rep.sounding(window).any(axis=1)
        beats = sounding[: len(sounding) // 4 * 4].reshape(-1, 4).any(axis=1)
        empty.append(1.0 - beats.mean())
        onsets = rep.onsets(window)
        steps = np.flatnonzero(onsets.any(axis=1))
        density.append(onsets.sum() / len(window))
        sync.append(float(np.mean(steps % 4 != 0)) if len(steps) else 0.0)
        if melodic:
            classes = window[:, melodic]
            pitches = classes[classes >= FIRST_PITCH_CLASS] - FIRST_PITCH_CLASS + MIN_PITCH
            if len(pitches):
                ranges.append(float(pitches.max() - pitches.min()))
                pcs = pitches % 12
                scale.append(max(np.isin(pcs, (MAJOR + k) % 12).mean() for k in range(12)))
    out = {
        "note_density": float(np.mean(density)),
        "syncopation": float(np.mean(sync)),
        "empty_beat_rate": float(np.mean(empty)),
    }
    if melodic:
        out["pitch_range"] = float(np.mean(ranges)) if ranges else 0.0
        out["scale_consistency"] = float(np.mean(scale)) if scale else 0.0
    return out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of (step, track) positions where two batches of windows differ."""
    return (np.asarray(a) != np.asarray(b)).reshape(len(a), -1).mean(axis=1)


# ----------------------------------------------------------------------------- sections


@torch.no_grad()
def reconstruction(
    model: MusicVAE, tokens: torch.Tensor, seed: int
) -> tuple[dict[str, Any], np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    tf_correct = event_correct = event_total = 0.0
    track_correct = [0.0] * tokens.shape[-1]
    recon_nats, kl_nats = [], []
    greedy_all, sampled_all = [], []
    for i in range(0, len(tokens), 256):
        batch = tokens[i : i + 256]
        mu, sigma = model.encode_tokens(batch)
        for k, logits in enumerate(model.track_logits(batch, mu, 0.0)):
            target = batch[..., k]
            hit = logits.argmax(-1) == target
            tf_correct += float(hit.sum())
            track_correct[k] += float(hit.sum())
            events = target != 0
            event_correct += float((hit & events).sum())
            event_total += float(events.sum())
            ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            recon_nats.append(ce.sum(dim=1))
        kl_nats.append(
            0.5 * (mu.pow(2) + sigma.pow(2) - 1 - 2 * torch.log(sigma.clamp_min(1e-8))).sum(-1)
        )
        greedy_all.append(model.decode_tokens(mu, 0.0))
        z = mu + sigma * torch.randn(sigma.shape, generator=gen)
        sampled_all.append(model.decode_tokens(z, 1.0, generator=gen))
    greedy = torch.cat(greedy_all)
    sampled = torch.cat(sampled_all)
    recon = torch.cat(recon_nats)  # per track and window
    per_track = tokens.numel() / tokens.shape[-1]
    names = [t.name for t in model.representation.tracks]
    return {
        "teacher_forced_accuracy": tf_correct / tokens.numel(),
        "teacher_forced_accuracy_per_track": {
            name: correct / per_track for name, correct in zip(names, track_correct, strict=True)
        },
        "greedy_accuracy_per_track": {
            name: float((greedy[..., k] == tokens[..., k]).float().mean())
            for k, name in enumerate(names)
        },
        "teacher_forced_event_accuracy": event_correct / max(1.0, event_total),
        "greedy_accuracy": float((greedy == tokens).float().mean()),
        "sampled_accuracy": float((sampled == tokens).float().mean()),
        "exact_reconstructions": float(
            (greedy == tokens).reshape(len(tokens), -1).all(1).float().mean()
        ),
        "recon_nats": float(recon.sum() / len(tokens)),
        "kl_nats": float(torch.cat(kl_nats).mean()),
    }, greedy.numpy()


@torch.no_grad()
def interpolation(
    model: MusicVAE, tokens: torch.Tensor, pairs: int, steps: int, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = len(tokens)
    if n < 2:
        return {"pairs": 0}
    index = np.array([rng.choice(n, 2, replace=False) for _ in range(pairs)])
    a, b = tokens[index[:, 0]], tokens[index[:, 1]]
    za, zb = model.encode_tokens(a)[0], model.encode_tokens(b)[0]
    alphas = np.linspace(0.0, 1.0, steps)
    latent = []
    for i in range(len(index)):
        path = model.interpolation_latents(torch.stack([za[i], zb[i]]), steps)
        latent.append(model.decode_tokens(path, 0.0).numpy())
    latent = np.stack(latent)  # (pairs, steps, T, K)
    ends_a, ends_b = latent[:, 0], latent[:, -1]
    data = np.stack(
        [np.where(rng.random(a.shape) < alpha, b.numpy(), a.numpy()) for alpha in alphas], axis=1
    )

    def curves(path: np.ndarray, start: np.ndarray, end: np.ndarray) -> dict[str, list[float]]:
        to_a = [float(hamming(path[:, s], start).mean()) for s in range(steps)]
        to_b = [float(hamming(path[:, s], end).mean()) for s in range(steps)]
        step = [float(hamming(path[:, s], path[:, s - 1]).mean()) for s in range(1, steps)]
        return {"distance_to_a": to_a, "distance_to_b": to_b, "consecutive_distance": step}

    lat = curves(latent, ends_a, ends_b)
    dat = curves(data, a.numpy(), b.numpy())
    return {
        "pairs": len(index),
        "alphas": [float(x) for x in alphas],
        "latent": lat,
        "data_space": dat,
        "latent_max_jump": float(
            np.mean(
                [hamming(latent[:, s], latent[:, s - 1]) for s in range(1, steps)], axis=1
            ).max()
        ),
        "endpoint_distance": float(hamming(ends_a, ends_b).mean()),
        "latent_stats": token_stats(model, latent[:, 1:-1].reshape(-1, *latent.shape[2:])),
        "data_space_stats": token_stats(model, data[:, 1:-1].reshape(-1, *data.shape[2:])),
    }


@torch.no_grad()
def attribute_effects(
    model: MusicVAE, tokens: torch.Tensor, vectors: dict[str, dict], magnitude: float
) -> dict[str, Any]:
    names = list(attributes_for(model.config.representation))
    tokens = tokens[:256]
    z = model.encode_tokens(tokens)[0]
    decode = model.representation.decode

    def measured(codes: torch.Tensor) -> dict[str, float]:
        seqs = [decode(t) for t in model.decode_tokens(codes, 0.0).numpy()]
        return {name: float(measure(seqs, name).mean()) for name in names}

    base = measured(z)
    out: dict[str, Any] = {"magnitude": magnitude, "reconstruction": base, "vectors": {}}
    for name, info in vectors.items():
        vector = torch.as_tensor(info["vector"], dtype=torch.float32)
        plus, minus = measured(z + magnitude * vector), measured(z - magnitude * vector)
        own = name if name in plus else None
        out["vectors"][name] = {
            "plus": plus,
            "minus": minus,
            "own_change_plus": plus[name] - base[name] if own else None,
            "own_change_minus": minus[name] - base[name] if own else None,
            "moves_own_attribute": bool(own and plus[name] > base[name] > minus[name]),
        }
    return out


def evaluate_one(path: Path, data: Path, split: str, opts: EvalOptions) -> dict[str, Any]:
    start = time.perf_counter()
    model = load_model(path)
    config = model.config
    dataset, sequences = build_dataset(data, split, config, augment=False)
    windows = dataset.windows
    if len(windows) == 0:
        raise InputError(
            f"{data} has no usable {config.bars}-bar {config.representation} windows in its '{split}' split."
        )
    rng = np.random.default_rng(int(opts.seed))
    if len(windows) > opts.windows:
        windows = windows[np.sort(rng.choice(len(windows), int(opts.windows), replace=False))]
    tokens = torch.from_numpy(windows.astype(np.int64))
    torch.manual_seed(int(opts.seed))
    recon, _ = reconstruction(model, tokens, int(opts.seed))
    interp = interpolation(model, tokens, int(opts.pairs), int(opts.interp_steps), int(opts.seed))
    vector_file = path / VECTORS_FILE
    if vector_file.is_file():
        vectors, source = load_vectors(vector_file), str(vector_file)
    else:
        train_set, _ = build_dataset(data, "train", config, augment=False, limit=4096)
        vectors, source = {}, f"none: {data} has too few train windows to compute them"
        if len(train_set) >= 8:
            vectors, source = (
                compute_vectors(model, train_set.windows),
                f"computed on {data} (train)",
            )
    attrs = attribute_effects(model, tokens, vectors, float(opts.magnitude))
    attrs["vectors_from"] = source
    gen = torch.Generator().manual_seed(int(opts.seed))
    with torch.no_grad():
        z = torch.randn(int(opts.samples), config.z_size, generator=gen)
        samples = model.decode_tokens(z, float(opts.temperature), generator=gen).numpy()
    return {
        "checkpoint": str(path),
        "preset": model.preset,
        "model_type": config.model_type,
        "representation": config.representation,
        "bars": config.bars,
        "steps_trained": _steps(path),
        "split": split,
        "files": len(sequences),
        "windows": int(len(windows)),
        "reconstruction": recon,
        "interpolation": interp,
        "attributes": attrs,
        "prior_samples": {
            "temperature": float(opts.temperature),
            "count": int(len(samples)),
            "samples": token_stats(model, samples),
            "data": token_stats(model, windows.astype(np.int64)),
        },
        "seconds": round(time.perf_counter() - start, 1),
    }


def _steps(path: Path) -> int | None:
    try:
        return int(json.loads((path / "meta.json").read_text()).get("steps"))
    except (OSError, ValueError, TypeError):
        return None


def evaluate(job: EvalJob) -> dict:
    """Evaluate ``job.model`` (and its baselines) on ``job.data``'s split; write results.json +
    index.html."""
    model, data, split, out = job.model, job.data, job.split, job.out
    baselines, options = list(job.baselines), job.options
    opts = _options(options)
    out = ensure_writable_dir(out)
    results = {
        "options": dataclasses.asdict(opts),
        "model": evaluate_one(Path(model), Path(data), split, opts),
    }
    results["baselines"] = [evaluate_one(Path(b), Path(data), split, opts) for b in baselines]
    write_json(out / "results.json", results)
    plot = _plot_interpolation(results["model"], out / "interpolation.png")
    write_text(out / "index.html", _page(results, plot))
    return results


def _plot_interpolation(result: dict[str, Any], path: Path) -> str | None:
    interp = result["interpolation"]
    if not interp.get("pairs"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    alphas = interp["alphas"]
    for key, style in (("latent", "-"), ("data_space", "--")):
        ax.plot(alphas, interp[key]["distance_to_a"], style, color="tab:red", label=f"{key}: to A")
        ax.plot(alphas, interp[key]["distance_to_b"], style, color="tab:blue", label=f"{key}: to B")
    ax.set_xlabel("interpolation amount")
    ax.set_ylabel("Hamming distance")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path.name


def _page(results: dict[str, Any], plot: str | None) -> str:
    """The report page: every run's reconstruction, then the model's other measures."""
    runs = [results["model"], *results["baselines"]]
    sections = [_reconstruction(runs)]
    interp = runs[0]["interpolation"]
    if interp.get("pairs"):
        sections.append(_interpolation(interp, plot))
    attrs = runs[0]["attributes"]
    names = list(attrs["reconstruction"])
    table = [{"vector": "(none)", "sign": "0", **attrs["reconstruction"]}]
    for vec, info in attrs["vectors"].items():
        table.append({"vector": vec, "sign": "+", **{n: info["plus"][n] for n in names}})
        table.append({"vector": vec, "sign": "-", **{n: info["minus"][n] for n in names}})
    title = f"Attribute vectors (magnitude ±{attrs['magnitude']}, {attrs['vectors_from']})"
    sections.append(Section("attributes", title, table=table))
    prior = runs[0]["prior_samples"]
    sections.append(
        Section(
            "prior",
            f"Prior samples (temperature {prior['temperature']}) against data",
            table=[{"": "data", **prior["data"]}, {"": "samples", **prior["samples"]}],
        )
    )
    return render_page(
        sections,
        "MusicVAE evaluation",
        f"Model {runs[0]['checkpoint']}, split {runs[0]['split']}.",
    )


def _reconstruction(runs: list[dict[str, Any]]) -> Section:
    """Reconstruction numbers of every run, per track too when there are several tracks."""
    recon = runs[0]["reconstruction"]
    keys = [k for k, v in recon.items() if not isinstance(v, dict)]
    table: list[dict[str, object]] = [
        {
            "checkpoint": r["checkpoint"],
            "preset": r["preset"],
            "windows": r["windows"],
            **{k: r["reconstruction"][k] for k in keys},
        }
        for r in runs
    ]
    tracks = list(recon["teacher_forced_accuracy_per_track"])
    per_track = [
        {"checkpoint": r["checkpoint"], "accuracy": kind, **r["reconstruction"][key]}
        for r in runs
        for kind, key in (
            ("teacher-forced", "teacher_forced_accuracy_per_track"),
            ("greedy", "greedy_accuracy_per_track"),
        )
    ]
    tables = [Table(per_track, "Per track")] if len(tracks) > 1 else []
    return Section(
        "reconstruction", "Reconstruction of held-out windows", table=table, tables=tables
    )


def _interpolation(interp: dict[str, Any], plot: str | None) -> Section:
    """Distances along latent and data-space paths, with their plot when there is one."""
    lat, dat = interp["latent"], interp["data_space"]
    table: list[dict[str, object]] = [
        {
            "alpha": f"{a:.2f}",
            "latent: to A": lat["distance_to_a"][i],
            "latent: to B": lat["distance_to_b"][i],
            "data: to A": dat["distance_to_a"][i],
            "data: to B": dat["distance_to_b"][i],
        }
        for i, a in enumerate(interp["alphas"])
    ]
    rows = []
    if plot:
        picture = Item("image", "interpolation distances", plot)
        rows.append(Row("Hamming distance to A and B along the path", [picture]))
    title = f"Interpolation ({interp['pairs']} pairs)"
    return Section("interpolation", title, table=table, rows=rows)
