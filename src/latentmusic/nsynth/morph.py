"""The morph measure of ``latentmusic eval nsynth``: does a latent morph keep the note and
move the timbre?

For a few pairs of held-out instruments (A, B) at one pitch both play, every system morphs
A -> B in ``morph_steps`` latent steps (lerp, as ``nsynth interpolate``) and each step is
judged by the eval's own tools:

- **pitch kept**: ``evaluate.median_f0`` (pyin) lies within 50 cents of the pair's pitch;
- **timbre moves from A to B**: the probability of instrument A given by the eval's judge
  (``audio.judge.TimbreClassifier`` with the eval's log-mel features) fitted on the split's
  *real* notes labelled by instrument -- the endpoint notes themselves left out, so the
  judge's reading of the two originals is a held-out check of the judge -- should fall
  monotonically: non-increasing (rises up to ``MONOTONE_TOLERANCE`` forgiven) *and* lower
  at B's end than at A's by more than that tolerance (a path that stays A is monotone
  but does not morph), with its Spearman correlation to the step index near -1.

The instrument-family judge of the rest of the eval cannot say "instrument A" (an unseen
instrument is not one of its classes), hence an instrument-labelled fit of the same judge.
The audio cross-fade of the two originals is measured beside the systems as a reference: it
shows what the judge reads when the mix moves from A to B by construction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from latentmusic.nsynth.evaluate import EvalOptions

MORPH_PITCHES = (60, 67, 53, 72)  # pair k morphs at the shared pitch nearest the k-th of these
MONOTONE_TOLERANCE = 0.01  # a judge's probability is not exact to 1 %: such rises are ties
CROSSFADE = "crossfade (reference)"


def choose_pairs(notes: Sequence[Any], n_pairs: int) -> list[tuple[Any, Any, int]]:
    """Up to ``n_pairs`` (note of A, note of B, pitch) from ``notes`` (one split).

    Instrument pairs are spread evenly over all pairs of the split's instruments (so each
    instrument takes part); each pair plays the pitch both instruments have that is nearest
    to ``MORPH_PITCHES[k]`` (pairs with no shared pitch are skipped), at the velocity nearest
    100.
    """
    from latentmusic.nsynth.evaluate import _spread

    by_instrument: dict[int, list[Any]] = {}
    for n in notes:
        by_instrument.setdefault(int(n.instrument), []).append(n)
    combos = [
        (a, b)
        for a, b in itertools.combinations(sorted(by_instrument), 2)
        if {int(n.pitch) for n in by_instrument[a]} & {int(n.pitch) for n in by_instrument[b]}
    ]
    pairs = []
    for k, (a, b) in enumerate(_spread(combos, n_pairs)):
        shared = {int(n.pitch) for n in by_instrument[a]} & {int(n.pitch) for n in by_instrument[b]}
        target = MORPH_PITCHES[k % len(MORPH_PITCHES)]
        pitch = min(shared, key=lambda p: (abs(p - target), p))

        def at(inst: int, pitch: int = pitch) -> Any:
            here = [n for n in by_instrument[inst] if int(n.pitch) == pitch]
            return min(here, key=lambda n: (abs(int(n.velocity) - 100), n.note_str))

        pairs.append((at(a), at(b), pitch))
    return pairs


def _falls(p: np.ndarray) -> tuple[bool, bool, float]:
    """(non-increasing within the tolerance, and falling by more than it, the drop)."""
    monotone = bool((np.diff(p) <= MONOTONE_TOLERANCE).all())
    drop = float(p[0] - p[-1]) if p.size else 0.0
    return monotone, monotone and drop > MONOTONE_TOLERANCE, drop


def score_path(
    p_a: Sequence[float], cents: Sequence[float], p_b: Sequence[float] | None = None
) -> dict[str, Any]:
    """One morph's verdict from the judge's P(A) and pyin's cents off the pair's pitch at
    each step (NaN cents = no pitch found, a miss).

    With the judge's P(B) beside it, the path is also read as A against B alone,
    P(A) / (P(A) + P(B)): a diagnostic, not the verdict. The judge knows every instrument of
    the split, so P(A) can rise in mid-path when a third instrument's share falls back,
    although the sound moves from A towards B; the pairwise reading tells such a path from
    one that really turns back towards A.
    """
    from scipy.stats import spearmanr

    from latentmusic.nsynth.evaluate import CENTS_TOLERANCE

    p = np.asarray(p_a, dtype=np.float64)
    kept = [bool(math.isfinite(c) and abs(c) <= CENTS_TOLERANCE) for c in cents]
    if p.size > 1 and np.ptp(p) > 0:
        rho = float(spearmanr(np.arange(p.size), p).statistic)
    else:
        rho = float("nan")  # a flat path has no rank order
    monotone, falls, drop = _falls(p)
    pairwise: dict[str, Any] = {}
    if p_b is not None:
        b = np.asarray(p_b, dtype=np.float64)
        a_vs_b = p / np.maximum(p + b, 1e-12)
        pairwise = {
            "p_b": [float(x) for x in b],
            "a_vs_b": [float(x) for x in a_vs_b],
            "falls_vs_b": _falls(a_vs_b)[1],
        }
    return {
        "p_a": [float(x) for x in p],
        "cents": [float(c) for c in cents],
        "pitch_kept": kept,
        "all_pitch_kept": all(kept),
        "monotone": monotone,  # non-increasing
        "falls": falls,  # ... and it does move towards B
        "spearman": rho,
        "p_a_drop": drop,
        # The two ends heard as A and as B: when not, the reconstructions lose the
        # instruments' identity, whatever the path between them does.
        "ends_right": bool(p.size > 1 and p[0] > 0.5 > p[-1]),
        **pairwise,
    }


def summarise(paths: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The morph numbers of one system over its pairs."""
    if not paths:
        return {}
    rhos = [p["spearman"] for p in paths if math.isfinite(p["spearman"])]
    steps = [k for p in paths for k in p["pitch_kept"]]
    return {
        "pitch_kept_steps": float(np.mean(steps)),
        "pitch_kept_pairs": float(np.mean([p["all_pitch_kept"] for p in paths])),
        "monotone_pairs": float(np.mean([p["monotone"] for p in paths])),
        "falling_pairs": float(np.mean([p["falls"] for p in paths])),
        "mean_spearman": float(np.mean(rhos)) if rhos else float("nan"),
        "mean_p_a_drop": float(np.mean([p["p_a_drop"] for p in paths])),
        "ends_right_pairs": float(np.mean([p["ends_right"] for p in paths])),
        "falling_pairs_vs_b": (
            float(np.mean([p["falls_vs_b"] for p in paths]))
            if all("falls_vs_b" in p for p in paths)
            else None
        ),
        "target_met": all(p["all_pitch_kept"] and p["falls"] for p in paths),
    }


def judge_probabilities(classifier: Any, clips: np.ndarray, labels: Sequence[Any]) -> np.ndarray:
    """(clips, labels): the fitted judge's probability of each of ``labels`` for each clip
    (its own pipeline and features, computed once: the same judge ``predict`` asks, read as
    probabilities)."""
    x = np.stack([classifier.features(c, classifier.sr) for c in clips])
    proba = classifier.pipeline.predict_proba(x)
    return proba[:, [classifier.classes.index(label) for label in labels]]


def fit_instrument_judge(
    pool: Sequence[Any], leave_out: set[str], sr: int, length: int, max_notes: int
) -> Any:
    """The eval's judge fitted on the real notes of ``pool`` labelled by *instrument*, the
    notes named in ``leave_out`` (those being judged) left out -- unless that would leave
    an instrument with no note, when the judge hears them too."""
    from latentmusic.audio.judge import TimbreClassifier
    from latentmusic.nsynth.evaluate import FAMILY_FEATURES, _load_clip, _spread

    rest = [n for n in pool if n.note_str not in leave_out]
    if {int(n.instrument) for n in rest} != {int(n.instrument) for n in pool}:
        rest = list(pool)
    rest = _spread(rest, max_notes)
    return TimbreClassifier.fit(
        (_load_clip(n.audio_path, sr, length) for n in rest),
        [int(n.instrument) for n in rest],
        sr,
        FAMILY_FEATURES,
        what="instruments",
    )


def measure_morphs(
    systems: dict[str, Any],
    notes: Sequence[Any],
    length: int,
    opts: EvalOptions,
    decode_kw: dict[str, Any],
    out: Any,
) -> dict[str, Any]:
    """Morph each chosen pair with each system and judge every step; writes the steps'
    audio under ``out/morph`` and returns the summary and the pairs (see the module doc)."""
    import time

    import torch

    from latentmusic.audio import io
    from latentmusic.nsynth.evaluate import _load_clip, cents_off, median_f0

    sr = next(iter(systems.values())).sample_rate
    steps = opts.morph_steps
    pairs = choose_pairs(notes, opts.morph_pairs)
    if not pairs:
        return {"skipped": "the split needs two instruments that share a pitch"}
    ends = {n.note_str for a, b, _ in pairs for n in (a, b)}
    wanted = {int(n.instrument) for a, b, _ in pairs for n in (a, b)}
    pool = [n for n in notes if int(n.instrument) in wanted]
    judge = fit_instrument_judge(pool, ends, sr, length, opts.classifier_notes)

    records: list[dict[str, Any]] = []
    by_system: dict[str, list[dict[str, Any]]] = {name: [] for name in [*systems, CROSSFADE]}
    timing: dict[str, float] = dict.fromkeys(systems, 0.0)
    any_model = next(iter(systems.values()))
    for k, (na, nb, pitch) in enumerate(pairs):
        a = _load_clip(na.audio_path, sr, length)
        b = _load_clip(nb.audio_path, sr, length)
        originals = judge_probabilities(judge, np.stack([a, b]), [int(na.instrument)])[:, 0]
        paths: dict[str, np.ndarray] = {
            CROSSFADE: any_model.crossfade(a, b, steps).numpy(),
        }
        for name, m in systems.items():
            kw = dict(decode_kw)
            if getattr(m, "takes_pitch", False) and opts.pitch == "label":
                kw["pitch"] = float(pitch)  # else the model plays A's estimated pitch
            started = time.perf_counter()
            with torch.no_grad():
                paths[name] = m.interpolate(a, b, steps, method="lerp", **kw).numpy()
            timing[name] += time.perf_counter() - started
        record: dict[str, Any] = {
            "a": na.note_str,
            "b": nb.note_str,
            "a_instrument": na.instrument_str,
            "b_instrument": nb.instrument_str,
            "pitch": pitch,
            "judge_on_originals": {
                "p_a_of_a": float(originals[0]),
                "p_a_of_b": float(originals[1]),
            },
            "systems": {},
        }
        for name, clips in paths.items():
            p_a, p_b = judge_probabilities(judge, clips, [int(na.instrument), int(nb.instrument)]).T
            cents = [cents_off(median_f0(c, sr, pitch), pitch) for c in clips]
            scored = score_path(p_a, cents, p_b)
            by_system[name].append(scored)
            stem = "".join(ch if ch.isalnum() else "_" for ch in name)
            scored["audio"] = [
                io.save(out / "morph" / f"{k:02d}_{stem}_{i}.wav", clip, sr)
                .relative_to(out)
                .as_posix()
                for i, clip in enumerate(clips)
            ]
            record["systems"][name] = scored
        records.append(record)

    summary = {name: summarise(paths) for name, paths in by_system.items()}
    for name in systems:
        summary[name]["seconds_per_morph"] = timing[name] / len(pairs)
    return {
        "pairs": len(pairs),
        "steps": steps,
        "method": "lerp",
        "judge": {
            "kind": "the eval's judge (audio.judge, same log-mel features) fitted on the "
            "split's real notes labelled by instrument, endpoint notes left out",
            "n_train": judge.n_train,
            "train_accuracy": judge.train_accuracy,
            "instruments": sorted({n.instrument_str for n in pool}),
        },
        "monotone_tolerance": MONOTONE_TOLERANCE,
        "systems": summary,
        "per_pair": records,
    }
