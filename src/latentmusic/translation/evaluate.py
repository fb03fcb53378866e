"""Objective evaluation of a translator against the paired ground truth of a domains set.

A ``latentmusic data domains`` set renders every piece with every instrument, so the
"perfect translation" of a test excerpt from domain s into domain t exists: the same
excerpt of the same piece rendered in t. For every test excerpt and every target t != s:

(a) target accuracy: an independent domain classifier (logistic regression on the mean
    and standard deviation of log-mel bands and MFCCs), trained here on real training
    audio, names t when it hears the translation;
(b) chroma similarity (librosa ``chroma_cqt``, cosine per frame, frame-aligned) and the
    multi-resolution STFT distance between the translation and the ground truth;
(c) the same numbers for baselines: the untranslated input, ablation checkpoints passed
    as ``baselines``, and inputs from domains the model never saw (held-out).

Options (``--option key=value``) bound the CPU time; see ``EvalOptions``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentmusic.audio.formats import is_audio
from latentmusic.audio.judge import TimbreClassifier, TimbreFeatures
from latentmusic.errors import InputError
from latentmusic.evaluation import EvalJob
from latentmusic.fileio import ensure_writable_dir, write_json, write_text
from latentmusic.report import Item, Row, Section, fmt, render_page
from latentmusic.train.config import parse_options as parse_typed_options
from latentmusic.translation.model import UniversalTranslator, load_translator


@dataclass(frozen=True)
class EvalOptions:
    """``--option key=value`` of ``latentmusic eval translation`` (they bound the CPU time)."""

    max_pieces: int = 3  # test pieces per source domain
    seconds: float = 2.0  # length of each excerpt
    offset: float = 1.0  # where excerpts start in each piece (s); earlier if the piece is short
    classifier_files: int = 24  # training files per domain for the domain classifier
    classifier_crops: int = 4  # excerpts per training file for the domain classifier
    # Comma-separated: a folder of audio of an unseen domain, or data domains the model never saw.
    heldout: str = ""
    temperature: float = 1.0  # sampling temperature of the decoders
    seed: int = 0  # random seed (sampling, classifier crops)
    examples: int = 8  # translations with players in index.html

    def validate(self) -> None:
        for key in ("max_pieces", "classifier_files", "classifier_crops"):
            if getattr(self, key) < 1:
                raise InputError(f"Option {key} must be at least 1, got {getattr(self, key)}.")
        if not self.seconds > 0 or self.offset < 0:
            raise InputError("Option seconds must be positive and offset non-negative.")


def parse_options(options: dict[str, str]) -> EvalOptions:
    """Typed options with defaults; an unknown key or a bad value is one InputError."""
    return parse_typed_options(EvalOptions, options, "translation eval option")


# --------------------------------------------------------------------- features
DOMAIN_FEATURES = TimbreFeatures(n_mels=40, n_mfcc=20)


def chroma_similarity(a: np.ndarray, b: np.ndarray, sr: int) -> float:
    """Mean cosine between frame-aligned CQT chroma vectors of two clips (1 = same notes)."""
    import librosa

    n = min(len(a), len(b))
    with warnings.catch_warnings():  # short clips: librosa warns about its low-octave FFTs
        warnings.simplefilter("ignore")
        ca = librosa.feature.chroma_cqt(y=np.asarray(a[:n], np.float32), sr=sr, hop_length=512)
        cb = librosa.feature.chroma_cqt(y=np.asarray(b[:n], np.float32), sr=sr, hop_length=512)
    num = (ca * cb).sum(0)
    den = np.linalg.norm(ca, axis=0) * np.linalg.norm(cb, axis=0)
    valid = den > 1e-8
    return float((num[valid] / den[valid]).mean()) if valid.any() else 0.0


def train_classifier(
    files: dict[str, list[Path]], sr: int, seconds: float, crops: int, seed: int
) -> TimbreClassifier:
    """The domain judge, fitted on ``crops`` random excerpts of each real training file."""
    from latentmusic.audio import io as audio_io

    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for domain in sorted(files):
        for path in files[domain]:
            rate, frames, _ = audio_io.info(path)
            length = frames / rate
            for _ in range(crops):
                start = float(rng.uniform(0.0, max(0.0, length - seconds)))
                clip, _ = audio_io.load(path, sr=sr, offset=start, duration=min(seconds, length))
                clips.append(clip)
                labels.append(domain)
    return TimbreClassifier.fit(clips, labels, sr, DOMAIN_FEATURES, what="domains")


# --------------------------------------------------------------------- excerpts
@dataclass
class Excerpt:
    source: str  # domain it was recorded in
    piece: str
    path: Path
    audio: np.ndarray
    truth: dict[str, np.ndarray]  # target domain -> the same excerpt rendered there
    heldout: bool = False


def _excerpt(path: Path, sr: int, offset: float, n: int) -> np.ndarray | None:
    from latentmusic.audio import io as audio_io

    rate, frames, _ = audio_io.info(path)
    length = frames / rate
    if length * sr < n:
        return None
    start = min(offset, length - n / sr)
    clip, _ = audio_io.load(path, sr=sr, offset=max(0.0, start), duration=n / sr + 0.02)
    clip = clip[:n]
    return np.pad(clip, (0, n - len(clip))) if len(clip) < n else clip


def _heldout_folder(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"Held-out folder {folder} does not exist.")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_audio(p))
    if not files:
        raise InputError(f"Held-out folder {folder} has no audio files.")
    return files


# --------------------------------------------------------------------- translating
def _translate_batch(
    model: UniversalTranslator,
    clips: Sequence[np.ndarray],
    target: str,
    temperature: float,
    seed: int,
) -> list[np.ndarray]:
    """Translate equal-length excerpts into ``target`` in one batched decoder run."""
    with torch.no_grad():
        latents = model.encode(np.stack(clips))
        audio = model.decode(latents, target, temperature=temperature, seed=seed)
    n = len(clips[0])
    return [a[:n].cpu().numpy().astype(np.float32) for a in audio]


def _score(
    classifier: TimbreClassifier,
    outputs: list[np.ndarray],
    truths: list[np.ndarray],
    targets: list[str],
    sr: int,
) -> list[dict[str, Any]]:
    from latentmusic.audio.spectral import multi_resolution_stft_distance

    predicted = classifier.predict(outputs)
    rows = []
    for y, gt, target, guess in zip(outputs, truths, targets, predicted, strict=True):
        row: dict[str, Any] = {"predicted": guess, "target_hit": float(guess == target)}
        if gt is not None:
            row["chroma_similarity"] = chroma_similarity(y, gt, sr)
            row["spectral_distance"] = multi_resolution_stft_distance(gt, y)
        rows.append(row)
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    for key, name in (
        ("target_hit", "target_accuracy"),
        ("chroma_similarity", "chroma_similarity"),
        ("spectral_distance", "spectral_distance"),
    ):
        values = [r[key] for r in rows if key in r]
        out[name] = float(np.mean(values)) if values else None
    return out


def evaluate(job: EvalJob) -> dict[str, Any]:
    """Evaluate translations of ``split`` excerpts of ``data``; write results.json + index.html."""
    model, data, split, out = job.model, job.data, job.split, job.out
    baselines, options = list(job.baselines), job.options
    from latentmusic.data.domains import SPLITS, DomainAudioSet

    started = time.perf_counter()
    opts = parse_options(options)
    if split not in SPLITS:
        raise InputError(f"Unknown split '{split}'; use one of {', '.join(SPLITS)}.")
    translator = load_translator(model)
    others = {}
    for path in baselines:
        name = Path(path).resolve().name
        while name in others or name == "model":
            name += "'"
        others[name] = load_translator(path)
    sr = translator.sample_rate
    for name, other in others.items():
        if other.sample_rate != sr:
            raise InputError(
                f"Baseline {name} runs at {other.sample_rate} Hz, the model at {sr} Hz."
            )
    dset = DomainAudioSet(data, split=None, sr=sr)
    n = max(1, round(opts.seconds * sr / translator.config.pool)) * translator.config.pool
    known = [d for d in translator.domains if d in dset.domains]
    if not known:
        raise InputError(
            f"None of the model's domains ({', '.join(translator.domains)}) is in {data} "
            f"(it has {', '.join(dset.domains)})."
        )
    heldout_domains = [d for d in dset.domains if d not in translator.domains]
    heldout_dirs: list[Path] = []
    for item in filter(None, (s.strip() for s in opts.heldout.split(","))):
        if item in dset.domains:
            if item in translator.domains:
                raise InputError(f"Domain '{item}' is not held out: the model was trained on it.")
            if item not in heldout_domains:
                heldout_domains.append(item)
        else:
            heldout_dirs.append(Path(item))

    def split_files(domain: str, which: str) -> list[Path]:
        return sorted(e.path for e in dset.entries if e.domain == domain and e.split == which)

    # (a) the independent judge, on real training audio of every domain in the data.
    clf_files = {d: split_files(d, "train")[: opts.classifier_files] for d in dset.domains}
    clf_files = {d: f for d, f in clf_files.items() if f}
    classifier = train_classifier(clf_files, sr, opts.seconds, opts.classifier_crops, opts.seed)

    # Test excerpts with their ground truth in every target domain.
    stems: dict[tuple[str, str], Path] = {(e.domain, e.path.stem): e.path for e in dset.entries}
    excerpts: list[Excerpt] = []
    for domain in [*known, *heldout_domains]:
        for path in split_files(domain, split)[: opts.max_pieces]:
            clip = _excerpt(path, sr, opts.offset, n)
            if clip is None:
                continue
            truth = {}
            for target in known:
                twin = dset.counterpart(path, target)
                gt = _excerpt(twin, sr, opts.offset, n) if twin is not None else None
                if gt is not None:
                    truth[target] = gt
            excerpts.append(
                Excerpt(domain, dset.piece_of(path), path, clip, truth, domain in heldout_domains)
            )
    in_split = {e.path.stem for e in dset.entries if e.split == split}
    for folder in heldout_dirs:
        name = folder.resolve().name
        files = _heldout_folder(folder)
        # Pieces the data also has: keep those of the evaluated split (no training pieces).
        paired = [p for p in files if any((d, p.stem) in stems for d in known)]
        if paired:
            files = [p for p in paired if p.stem in in_split]
        for path in files[: opts.max_pieces]:
            clip = _excerpt(path, sr, opts.offset, n)
            if clip is None:
                continue
            truth = {}
            for target in known:
                twin = stems.get((target, path.stem))
                gt = _excerpt(twin, sr, opts.offset, n) if twin is not None else None
                if gt is not None:
                    truth[target] = gt
            excerpts.append(Excerpt(name, path.stem, path, clip, truth, True))
    if not any(not e.heldout for e in excerpts):
        raise InputError(
            f"No '{split}' excerpt of {opts.seconds:g} s was found in {data} for the model's domains."
        )

    # Translate: one batched decoder run per (system, target domain).
    systems: dict[str, UniversalTranslator | None] = {
        "model": translator,
        "input (untranslated)": None,
        **others,
    }
    records: list[dict[str, Any]] = []
    outputs: dict[tuple[str, int, str], np.ndarray] = {}
    for system, net in systems.items():
        for target in known:
            if net is not None and target not in net.domains:
                continue
            jobs = [i for i, e in enumerate(excerpts) if e.source != target]
            if not jobs:
                continue
            clips = [excerpts[i].audio for i in jobs]
            if net is None:
                ys = clips
            else:
                ys = _translate_batch(net, clips, target, opts.temperature, opts.seed)
            truths = [excerpts[i].truth.get(target) for i in jobs]
            scores = _score(classifier, ys, truths, [target] * len(jobs), sr)
            for i, y, score in zip(jobs, ys, scores, strict=True):
                e = excerpts[i]
                outputs[(system, i, target)] = y
                records.append(
                    {
                        "system": system,
                        "source": e.source,
                        "target": target,
                        "piece": e.piece,
                        "heldout": e.heldout,
                        **score,
                    }
                )

    def summary(system: str, heldout: bool) -> dict[str, Any]:
        return _summary([r for r in records if r["system"] == system and r["heldout"] == heldout])

    real_test = [(e.truth[t], t) for e in excerpts if not e.heldout for t in e.truth]
    real_acc = None
    if real_test:
        guesses = classifier.predict([a for a, _ in real_test])
        real_acc = float(np.mean([g == t for g, (_, t) in zip(guesses, real_test, strict=True)]))
    pairs = {}
    for r in records:
        if r["system"] == "model" and not r["heldout"]:
            pairs.setdefault(f"{r['source']} -> {r['target']}", []).append(r)
    results: dict[str, Any] = {
        "model": str(model),
        "data": str(data),
        "split": split,
        "domains": translator.domains,
        "heldout_domains": sorted({e.source for e in excerpts if e.heldout}),
        "options": dataclasses.asdict(opts),
        "excerpt_seconds": n / sr,
        "classifier": {
            "classes": classifier.classes,
            "features": "mean+std of 40 log-mel bands and 20 MFCCs, logistic regression",
            "train_excerpts": sum(len(f) for f in clf_files.values()) * opts.classifier_crops,
            "accuracy_on_real_test_audio": real_acc,
            "chance": 1.0 / len(classifier.classes),
        },
        "systems": {
            s: summary(s, False) for s in systems if any(r["system"] == s for r in records)
        },
        "heldout": {
            s: summary(s, True)
            for s in systems
            if any(r["system"] == s and r["heldout"] for r in records)
        },
        "pairs": {k: _summary(v) for k, v in sorted(pairs.items())},
        "records": records,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = ensure_writable_dir(out)
    examples = _write_examples(out, excerpts, outputs, known, sr, opts.examples)
    results["examples"] = examples
    write_json(out / "results.json", results)
    write_text(out / "index.html", _page(results, examples))
    return {k: v for k, v in results.items() if k != "records"}


def _write_examples(
    out: Path,
    excerpts: list[Excerpt],
    outputs: dict[tuple[str, int, str], np.ndarray],
    targets: list[str],
    sr: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Save input / translation / ground-truth wavs for the first examples (main and held-out)."""
    from latentmusic.audio import io as audio_io

    audio_dir = ensure_writable_dir(out / "audio")
    chosen: list[tuple[int, str]] = []
    for heldout in (False, True):
        picked = [
            (i, t)
            for i, e in enumerate(excerpts)
            if e.heldout == heldout
            for t in targets
            if ("model", i, t) in outputs
        ]
        # spread over sources and targets: take every k-th
        budget = max(1, limit // 2) if any(e.heldout for e in excerpts) else limit
        step = max(1, math.ceil(len(picked) / budget)) if picked else 1
        chosen += picked[::step][:budget]
    rows = []
    for i, target in chosen:
        e = excerpts[i]
        stem = f"{i:03d}_{_slug(e.source)}_to_{_slug(target)}"
        row: dict[str, Any] = {
            "source": e.source,
            "target": target,
            "piece": e.piece,
            "heldout": e.heldout,
        }
        row["input"] = (
            audio_io.save(audio_dir / f"{stem}_input.wav", e.audio, sr).relative_to(out).as_posix()
        )
        row["translation"] = (
            audio_io.save(audio_dir / f"{stem}_model.wav", outputs[("model", i, target)], sr)
            .relative_to(out)
            .as_posix()
        )
        if target in e.truth:
            row["ground_truth"] = (
                audio_io.save(audio_dir / f"{stem}_truth.wav", e.truth[target], sr)
                .relative_to(out)
                .as_posix()
            )
        rows.append(row)
    return rows


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def _page(results: dict[str, Any], examples: list[dict[str, Any]]) -> str:
    """The report page: summary tables, then players."""
    cols = ("n", "target_accuracy", "chroma_similarity", "spectral_distance")

    def table(block: dict[str, dict[str, Any]], first: str = "system") -> list[dict[str, object]]:
        return [{first: name, **{c: row.get(c) for c in cols}} for name, row in block.items()]

    clf = results["classifier"]
    sections = [
        Section(
            "trained",
            "Trained domains as input",
            intro="target_accuracy: how often an independent domain classifier (trained on real "
            f"audio; accuracy on real test audio {fmt(clf['accuracy_on_real_test_audio'])}, "
            f"chance {fmt(clf['chance'])}) hears the target domain. chroma_similarity (higher "
            "is better) and spectral_distance (lower is better) compare with the same excerpt "
            "rendered in the target domain.",
            table=table(results["systems"]),
        )
    ]
    if results["heldout"]:
        unseen = ", ".join(results["heldout_domains"])
        sections.append(
            Section("heldout", f"Unseen input domains ({unseen})", table=table(results["heldout"]))
        )
    if results["pairs"]:
        sections.append(
            Section("pairs", "Model, per source -> target", table=table(results["pairs"], "pair"))
        )
    rows = []
    for ex in examples:
        tag = " (unseen input domain)" if ex["heldout"] else ""
        items = [
            Item("audio", f"input: {ex['source']}{tag}", ex["input"]),
            Item("audio", f"translation: {ex['target']}", ex["translation"]),
        ]
        if "ground_truth" in ex:
            items.append(Item("audio", f"ground truth: {ex['target']}", ex["ground_truth"]))
        rows.append(Row(ex["piece"], items))
    sections.append(Section("listen", "Listen", rows=rows))
    return render_page(
        sections,
        f"Translation evaluation: {results['model']}",
        f"Data {results['data']}, split {results['split']}, {results['excerpt_seconds']:.2f} s "
        f"excerpts. Domains: {', '.join(results['domains'])}. Computed in {results['seconds']} s.",
    )
