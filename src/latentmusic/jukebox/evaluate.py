"""``latentmusic eval jukebox``: objective numbers for a Jukebox run on held-out data.

1. VQ-VAE, per level: spectral convergence (dB, more negative is better) of each level's
   reconstruction of held-out audio, codebook usage (distinct codes used / codebook
   size) and code entropy (bits).
2. Priors: held-out negative log-likelihood in bits per token of the top prior (and of
   each upsampler present), against a unigram baseline fitted on the training codes.
3. Conditioning: for each genre G the prior draws samples asked to be G; an independent
   classifier (logistic regression on log-mel statistics) says which genre each sample
   sounds like. The check passes when the requested genre wins more often than chance
   (1 / number of genres). By default the judge is fitted on training audio *as the
   decoder renders it* (VQ-VAE reconstructions at the level samples are decoded from): a
   judge fitted on clean audio cannot tell the decoder's instruments apart, which would
   fail any prior. Its accuracy on real and on reconstructed held-out audio is reported,
   the second being the most a perfectly conditioned prior could score.
4. Primed continuation: the first ``prime_seconds`` of held-out files are continued by
   the chain (labels of the prompt, as a user asks "go on with this piece"); the same
   classifier judges whether the continuation alone is still the prompt's instrument.

``data`` is the audio data set (domains folder) or a codes directory made from it.
Held-out files are spread evenly over genres and artists.
Options (``--option key=value``): ``max_files`` (held-out files, default 24),
``seconds`` (audio per file, default 8), ``samples_per_genre`` (default 4),
``sample_seconds`` (default 2), ``upsample`` (run the upsamplers for the samples,
default false: decode the top level), ``temperature`` (default 1.0), ``seed`` (0),
``continuations`` (held-out prompts, default 12; 0 skips the check), ``prime_seconds``
(default 2), ``judge`` (``decoded``, the default, or ``real``: what the genre judge is
fitted on), ``judge_files`` (training files per genre for the judge, default 24).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from latentmusic.audio.judge import TimbreClassifier, TimbreFeatures
from latentmusic.errors import InputError
from latentmusic.evaluation import EvalJob
from latentmusic.fileio import ensure_writable_dir, write_json, write_text
from latentmusic.jukebox.codes import (
    CODES_FORMAT,
    LabeledFile,
    dataset_files,
    encode_audio,
    load_codes,
    read_manifest,
)
from latentmusic.jukebox.labels import lyrics_window
from latentmusic.jukebox.prior import Conditioning, Prior
from latentmusic.jukebox.sampling import JukeboxRun, generate, load_run
from latentmusic.report import Section, Table, render_page
from latentmusic.train.config import parse_options


@dataclass(frozen=True)
class EvalOptions:
    """``--option key=value`` of ``latentmusic eval jukebox``."""

    max_files: int = 24
    seconds: float = 8.0
    samples_per_genre: int = 4
    sample_seconds: float = 2.0
    upsample: bool = False
    temperature: float = 1.0
    seed: int = 0
    continuations: int = 12
    prime_seconds: float = 2.0
    judge: Literal["decoded", "real"] = "decoded"
    judge_files: int = 24


_JUDGE_WORDS = {
    "decoded": "training audio as the decoder renders it",
    "real": "real training audio",
}


def _options(options: dict[str, str]) -> EvalOptions:
    return parse_options(EvalOptions, options, "jukebox eval option")


# ----------------------------------------------------------------------------- data
def _data_files(data: Path) -> tuple[list[LabeledFile], Path | None, dict[str, Any]]:
    """Audio files with labels, plus the codes dir and its manifest when ``data`` is one."""
    manifest = read_manifest(data) if data.is_dir() else {}
    if manifest.get("format") == CODES_FORMAT:
        files = [
            LabeledFile(
                Path(r["audio"]),
                r["codes"],
                r["genre"],
                r["artist"],
                r["split"],
                r.get("lyrics", ""),
                r.get("piece", ""),
            )
            for r in manifest["files"]
        ]
        return files, data, manifest
    return dataset_files(data), None, {}


def _pick(files: list[LabeledFile], split: str | None, limit: int) -> list[LabeledFile]:
    """Up to ``limit`` files of ``split`` (None: any), spread evenly over genres and artists.

    Round robin over genres, and within a genre over its artists, so a small pick of a set
    sorted by artist still holds every artist rather than the first one's pieces only.
    """
    queues: dict[str, dict[str, list[LabeledFile]]] = {}
    for f in files:
        if split is None or f.split == split:
            queues.setdefault(f.genre, {}).setdefault(f.artist, []).append(f)
    turn = {genre: 0 for genre in queues}
    out: list[LabeledFile] = []
    while len(out) < limit and any(any(q.values()) for q in queues.values()):
        for genre in sorted(queues):
            artists = [a for a in sorted(queues[genre]) if queues[genre][a]]
            if artists and len(out) < limit:
                out.append(queues[genre][artists[turn[genre] % len(artists)]].pop(0))
                turn[genre] += 1
    return out


def _audio(f: LabeledFile, sr: int, seconds: float | None) -> np.ndarray:
    from latentmusic.audio.io import load

    if not f.path.is_file():
        raise InputError(f"Audio file {f.path} (listed in the data) is missing.")
    return load(f.path, sr=sr, duration=seconds)[0]


def _codes_of(
    f: LabeledFile, run: JukeboxRun, codes_dir: Path | None, seconds: float | None
) -> tuple[list[np.ndarray], int]:
    """Codes of every level (from the codes dir, else by encoding) and the file length."""
    if codes_dir is not None:
        cf = load_codes(codes_dir / f.relpath)
        return cf.levels, cf.n_samples
    from latentmusic.audio.io import info

    sr, frames, _ = info(f.path)
    audio = _audio(f, run.sample_rate, seconds)
    return encode_audio(run.vqvae, audio), int(round(frames * run.sample_rate / sr))


# ----------------------------------------------------------------------------- metrics
def vqvae_metrics(
    run: JukeboxRun, files: list[LabeledFile], seconds: float
) -> list[dict[str, float]]:
    """Per level: mean spectral convergence (dB), usage and entropy of the codes on ``files``."""
    from latentmusic.audio.spectral import spectral_convergence_db

    vq = run.vqvae
    k = vq.cfg.codes
    sc: list[list[float]] = [[] for _ in vq.hops]
    counts = [np.zeros(k) for _ in vq.hops]
    for f in files:
        audio = _audio(f, vq.sample_rate, seconds)
        x = torch.from_numpy(audio)
        codes = vq.encode(x)
        for level in range(len(vq.hops)):
            recon = vq.decode(codes[level], level)[0, : len(audio)].numpy()
            sc[level].append(spectral_convergence_db(audio, recon))
            counts[level] += np.bincount(codes[level][0].numpy(), minlength=k)
    out = []
    for level, hop in enumerate(vq.hops):
        p = counts[level] / max(counts[level].sum(), 1)
        nz = p[p > 0]
        out.append(
            {
                "level": level,
                "hop": hop,
                "spectral_convergence_db": float(np.mean(sc[level])) if sc[level] else float("nan"),
                "codebook_usage": float((counts[level] > 0).sum() / k),
                "entropy_bits": float(-(nz * np.log2(nz)).sum()),
                "max_entropy_bits": math.log2(k),
            }
        )
    return out


@torch.no_grad()
def prior_nll_bits(
    model: Prior, items: list[tuple[np.ndarray, np.ndarray | None, int, LabeledFile]]
) -> float:
    """Mean held-out NLL in bits/token over non-overlapping windows of ``n_ctx``."""
    cfg = model.cfg
    total, count = 0.0, 0
    for z, upper, n_samples, f in items:
        a = model.vocab.artist_id(f.artist) if f.artist in model.vocab.artists else 0
        g = model.vocab.genre_id(f.genre) if f.genre in model.vocab.genres else 0
        for start in range(0, len(z), cfg.n_ctx):
            window = torch.from_numpy(z[start : start + cfg.n_ctx]).long()[None]
            cond = Conditioning(
                torch.tensor([a]),
                torch.tensor([g]),
                torch.tensor([float(n_samples)], dtype=torch.float64),
                torch.tensor([float(start * cfg.hop)], dtype=torch.float64),
            )
            if cfg.lyrics:
                sr = cfg.sample_rate
                cond.lyrics = torch.from_numpy(
                    lyrics_window(
                        f.lyrics,
                        cfg.n_lyric_tokens,
                        start * cfg.hop / sr,
                        cfg.n_ctx * cfg.hop / sr,
                        n_samples / sr,
                    )
                )[None]
            if cfg.is_upsampler:
                lo, hi = start // cfg.ratio, -(-(start + window.shape[1]) // cfg.ratio)
                cond.upper = torch.from_numpy(upper[lo:hi]).long()[None]
            nats = float(model.nll(window, cond))
            total += nats * window.shape[1]
            count += window.shape[1]
    return total / max(count, 1) / math.log(2)


def unigram_bits(train_tokens: np.ndarray, test_tokens: np.ndarray, k: int) -> float:
    """Cross-entropy (bits/token) of held-out tokens under add-one-smoothed training frequencies."""
    counts = np.bincount(train_tokens, minlength=k).astype(np.float64) + 1.0
    p = counts / counts.sum()
    return float(-np.log2(p[test_tokens]).mean())


# ------------------------------------------------------------------------ conditioning
GENRE_FEATURES = TimbreFeatures(n_mels=40)


def _excerpts(audio: np.ndarray, n: int) -> list[np.ndarray]:
    """Consecutive ``n``-sample excerpts (the whole clip when it is shorter)."""
    if len(audio) <= n:
        return [audio]
    return [audio[s : s + n] for s in range(0, len(audio) - n + 1, n)]


def genre_classifier(
    files: list[LabeledFile],
    genres: list[str],
    sr: int,
    seconds: float,
    render: Callable[[np.ndarray], np.ndarray] | None = None,
) -> TimbreClassifier:
    """The genre judge, fitted on ``seconds``-long excerpts of training audio.

    ``render`` (audio -> audio) is applied first: the decoder's rendering, so that the judge
    hears training audio the way it will hear the samples.
    """
    clips, labels = [], []
    for f in files:
        if f.genre in genres:
            audio = _audio(f, sr, 4 * seconds)
            if render is not None:
                audio = render(audio)
            for excerpt in _excerpts(audio, int(seconds * sr)):
                clips.append(excerpt)
                labels.append(f.genre)
    return TimbreClassifier.fit(clips, labels, sr, GENRE_FEATURES, what="genres")


def _renderer(run: JukeboxRun, level: int) -> Callable[[np.ndarray], np.ndarray]:
    """Audio -> the VQ-VAE's reconstruction of it at ``level``."""

    @torch.no_grad()
    def render(audio: np.ndarray) -> np.ndarray:
        return run.vqvae.reconstruct(torch.from_numpy(audio), level)[0].numpy()

    return render


def _decoded_level(run: JukeboxRun, opts: EvalOptions) -> int:
    """The level samples are decoded from: 0 through the upsamplers, else the top."""
    if opts.upsample and len(run.upsamplers) == len(run.vqvae.hops) - 1:
        return 0
    return len(run.vqvae.hops) - 1


def conditioning_check(
    run: JukeboxRun,
    clf: TimbreClassifier,
    genres: list[str],
    train_files: list[LabeledFile],
    test_files: list[LabeledFile],
    opts: EvalOptions,
) -> dict[str, Any]:
    """Sample per genre, classify each sample with the genre judge, compare to chance."""
    prior = run.prior
    sr = run.sample_rate
    real = [f for f in test_files if f.genre in genres]
    real_hits = recon_hits = 0
    level = _decoded_level(run, opts)
    render = _renderer(run, level)
    for f in real:
        audio = _audio(f, sr, opts.sample_seconds)
        real_hits += clf.predict([audio])[0] == f.genre
        recon_hits += clf.predict([render(audio)])[0] == f.genre
    per_genre = {}
    hits = total = 0
    for gi, genre in enumerate(genres):
        artists = sorted(
            {f.artist for f in train_files if f.genre == genre} & set(prior.vocab.artists)
        )
        artist = artists[0] if artists else prior.vocab.artists[0]
        result = generate(
            run,
            opts.sample_seconds,
            artist=artist,
            genre=genre,
            temperature=opts.temperature,
            seed=opts.seed + gi,
            batch=opts.samples_per_genre,
            upsample=opts.upsample,
        )
        predicted = clf.predict(result.audio)
        n_hit = sum(p == genre for p in predicted)
        per_genre[genre] = {
            "requested": len(predicted),
            "classified_as_requested": n_hit,
            "predicted": predicted,
        }
        hits += n_hit
        total += len(predicted)
    accuracy = hits / max(total, 1)
    chance = 1.0 / len(genres)
    return {
        "genres": genres,
        "judge": opts.judge,
        "decoded_level": level,
        "sample_accuracy": accuracy,
        "chance": chance,
        "passes": accuracy > chance,
        "per_genre": per_genre,
        "classifier_accuracy_real_heldout": real_hits / max(len(real), 1) if real else None,
        "classifier_accuracy_reconstructed_heldout": recon_hits / max(len(real), 1)
        if real
        else None,
        "heldout_clips": len(real),
    }


def continuation_check(
    run: JukeboxRun,
    clf: TimbreClassifier,
    genres: list[str],
    test_files: list[LabeledFile],
    opts: EvalOptions,
) -> dict[str, Any]:
    """Continue the opening of held-out files; is the continuation still their instrument?"""
    sr = run.sample_rate
    prime_n = int(round(opts.prime_seconds * sr))
    prompts = _pick([f for f in test_files if f.genre in genres], None, opts.continuations)
    hits, rows = 0, []
    for i, f in enumerate(prompts):
        audio = _audio(f, sr, opts.prime_seconds + opts.sample_seconds)
        if len(audio) < prime_n:
            continue
        result = generate(
            run,
            opts.prime_seconds + opts.sample_seconds,
            artist=f.artist if f.artist in run.prior.vocab.artists else None,
            genre=f.genre,
            prime_audio=audio[:prime_n],
            temperature=opts.temperature,
            seed=opts.seed + i,
            upsample=opts.upsample,
        )
        predicted = clf.predict([result.audio[0, prime_n:]])[0]
        hits += predicted == f.genre
        rows.append({"prompt": f.relpath, "genre": f.genre, "continuation_judged": predicted})
    if not rows:
        return {"skipped": f"no held-out file is longer than {opts.prime_seconds:g} s"}
    return {
        "decoded_level": _decoded_level(run, opts),
        "prime_seconds": opts.prime_seconds,
        "continuation_seconds": opts.sample_seconds,
        "accuracy": hits / len(rows),
        "chance": 1.0 / len(genres),
        "prompts": rows,
    }


# ------------------------------------------------------------------------------ driver
def _evaluate_run(
    run: JukeboxRun,
    files: list[LabeledFile],
    codes_dir: Path | None,
    split: str,
    opts: EvalOptions,
    conditioning: bool,
) -> dict[str, Any]:
    test_files = _pick(files, split, opts.max_files)
    if not test_files:
        raise InputError(f"The data has no files in split '{split}'.")
    train_files = [f for f in files if f.split == "train"]
    results: dict[str, Any] = {
        "model": str(run.path),
        "vqvae": vqvae_metrics(run, test_files, opts.seconds),
    }
    models = {}
    if run.prior is not None:
        models[f"prior (level {run.prior.cfg.level})"] = run.prior
    for level, up in sorted(run.upsamplers.items(), reverse=True):
        models[f"upsampler (level {level})"] = up
    if models:
        train_pick = _pick(files, "train", max(opts.max_files, 4 * len(test_files)))
        train_codes = [
            _codes_of(f, run, codes_dir, opts.seconds if codes_dir is None else None)
            for f in train_pick
        ]
        test_codes = [
            _codes_of(f, run, codes_dir, opts.seconds if codes_dir is None else None)
            for f in test_files
        ]
        priors = []
        for name, model in models.items():
            level = model.cfg.level
            items = [
                (levels[level], levels[level + 1] if model.cfg.is_upsampler else None, n, f)
                for (levels, n), f in zip(test_codes, test_files, strict=True)
            ]
            train_tokens = np.concatenate([levels[level] for levels, _ in train_codes])
            test_tokens = np.concatenate([it[0] for it in items])
            priors.append(
                {
                    "model": name,
                    "level": level,
                    "heldout_tokens": int(len(test_tokens)),
                    "nll_bits_per_token": prior_nll_bits(model, items),
                    "unigram_bits_per_token": unigram_bits(
                        train_tokens, test_tokens, model.cfg.bins
                    ),
                    "uniform_bits_per_token": math.log2(model.cfg.bins),
                }
            )
        results["priors"] = priors
    if conditioning and run.prior is not None:
        genres = [g for g in run.prior.vocab.genres if any(f.genre == g for f in train_files)]
        if len(genres) < 2:
            results["conditioning"] = {"skipped": "fewer than two genres in the training data"}
            return results
        judge_files = _pick(
            [f for f in train_files if f.genre in genres], None, opts.judge_files * len(genres)
        )
        render = _renderer(run, _decoded_level(run, opts)) if opts.judge == "decoded" else None
        clf = genre_classifier(judge_files, genres, run.sample_rate, opts.sample_seconds, render)
        results["conditioning"] = conditioning_check(
            run, clf, genres, train_files, test_files, opts
        )
        if opts.continuations > 0:
            results["continuation"] = continuation_check(run, clf, genres, test_files, opts)
    return results


def evaluate(job: EvalJob) -> dict[str, Any]:
    """Evaluate a Jukebox run (and baseline runs) on held-out data; write results.json + index.html."""
    model, data, split, out = job.model, job.data, job.split, job.out
    baselines, options = list(job.baselines), job.options
    opts = _options(options)
    start = time.perf_counter()
    files, codes_dir, _ = _data_files(Path(data))
    run = load_run(model)
    torch.manual_seed(opts.seed)
    results = {
        "family": "jukebox",
        "split": split,
        "data": str(data),
        "options": dataclasses.asdict(opts),
        **_evaluate_run(run, files, codes_dir, split, opts, conditioning=True),
    }
    if baselines:
        results["baselines"] = [
            _evaluate_run(load_run(b), files, None, split, opts, conditioning=False)
            for b in baselines
        ]
    results["seconds"] = time.perf_counter() - start
    out = ensure_writable_dir(out)
    write_json(out / "results.json", results)
    write_text(out / "index.html", _page(results))
    return results


def _percent(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _conditioning(cond: dict[str, Any]) -> Section:
    if "sample_accuracy" not in cond:
        return Section("conditioning", "Conditioning check", f"Skipped: {cond['skipped']}.")
    verdict = "passes" if cond["passes"] else "does not pass"
    return Section(
        "conditioning",
        "Conditioning check",
        intro=f"Samples classified as the requested genre: {cond['sample_accuracy']:.0%} "
        f"(chance {cond['chance']:.0%}); the check {verdict}. The judge (fitted on "
        f"{_JUDGE_WORDS[cond['judge']]}) is right on "
        f"{_percent(cond['classifier_accuracy_real_heldout'])} of real held-out clips and on "
        f"{_percent(cond['classifier_accuracy_reconstructed_heldout'])} of their "
        "reconstructions (the most a prior can score).",
        table=[
            {
                "genre": g,
                "requested": v["requested"],
                "classified as requested": v["classified_as_requested"],
            }
            for g, v in cond["per_genre"].items()
        ],
    )


def _continuation(cont: dict[str, Any]) -> Section:
    if "accuracy" not in cont:
        return Section("continuation", "Primed continuation", f"Skipped: {cont['skipped']}.")
    return Section(
        "continuation",
        "Primed continuation",
        intro=f"{cont['prime_seconds']:g} s prompts continued for {cont['continuation_seconds']:g} "
        f"s; continuations judged the prompt's instrument: {cont['accuracy']:.0%} (chance "
        f"{cont['chance']:.0%}).",
        table=cont["prompts"],
    )


def _page(results: dict[str, Any]) -> str:
    """The report page: one section per measurement, then one per baseline."""
    sections = [Section("vqvae", "VQ-VAE (per level)", table=results["vqvae"])]
    if "priors" in results:
        sections.append(Section("priors", "Held-out NLL (bits/token)", table=results["priors"]))
    if "conditioning" in results:
        sections.append(_conditioning(results["conditioning"]))
    if "continuation" in results:
        sections.append(_continuation(results["continuation"]))
    for i, b in enumerate(results.get("baselines", []), 1):
        tables = [
            Table(b["vqvae"], "VQ-VAE (per level)"),
            Table(b.get("priors", []), "Held-out NLL (bits/token)"),
        ]
        sections.append(Section(f"baseline-{i}", f"Baseline {b['model']}", tables=tables))
    return render_page(
        sections,
        "Jukebox evaluation",
        f"{results['model']} on {results['data']}, split {results['split']}. "
        f"Computed in {results['seconds']:.0f} s.",
    )
