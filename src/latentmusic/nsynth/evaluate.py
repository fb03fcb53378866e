"""``latentmusic eval nsynth``: how well do reconstructions keep pitch and timbre?

On held-out notes (the ``test`` split of an NSynth-format set holds instruments never heard
in training) every system -- the original audio, the WaveNet autoencoder, and each
``--baseline`` (e.g. the spectral autoencoder) -- is measured by (the harmonic model, which
plays an embedding at a given pitch, reconstructs each note at its labelled pitch, or with
``--option pitch=estimate`` at the pitch pyin finds in the original):

- **pitch accuracy**: the median f0 librosa.pyin finds lies within 50 cents of the
  labelled pitch (pyin searches +-13 semitones around the label, so octave errors count
  as misses);
- **instrument-family accuracy** of a classifier that eval trains on the *training* split's
  notes (logistic regression on mean/std log-mel features, ``audio.judge``), applied to the reconstructions;
- **instrument accuracy**: the same judge fitted on the split's *real* notes labelled by
  instrument (the evaluated notes left out): is a reconstruction still heard as its own,
  never-trained-on instrument? (the family judge cannot name an unseen instrument);
- **multi-resolution spectral distance** to the original (the Jukebox spectral loss; lower
  is closer);
- **the morph** (``nsynth.morph``): for ``morph_pairs`` pairs of the split's instruments at
  one pitch, a ``morph_steps``-step latent interpolation per system: the fraction of steps
  that keep the pitch (pyin within 50 cents), the fraction of pairs whose judged
  probability of instrument A falls monotonically, and its mean Spearman correlation with
  the step (-1 is a perfect fall), next to the audio cross-fade as a reference.

WaveNet decoding is sample by sample, so by default only the first ``seconds=1.0`` of at
most ``max_notes=16`` notes are reconstructed (options, via ``--option key=value``).
Writes ``OUT/results.json`` and ``OUT/index.html`` (players and rainbowgrams), atomically.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from latentmusic.audio.judge import TimbreClassifier, TimbreFeatures
from latentmusic.errors import InputError
from latentmusic.evaluation import EvalJob
from latentmusic.report import Item, Row, Section, fmt, render_page
from latentmusic.train.config import parse_options


@dataclass(frozen=True)
class EvalOptions:
    """``--option key=value`` of ``latentmusic eval nsynth``."""

    max_notes: int = 16  # notes of the split to evaluate (evenly spread over instruments/pitches)
    seconds: float = 1.0  # how much of each note (from its onset) is reconstructed and measured
    temperature: float = 1.0  # WaveNet sampling temperature
    seed: int = 0
    backend: Literal["auto", "torch", "fused"] = "auto"
    batch: int = 8  # notes decoded together
    page_notes: int = 8  # notes shown with players and rainbowgrams
    classifier_notes: int = 2000  # training notes the family classifier sees (at most)
    # Pitch-conditioned models (harmonic): play the note's "label", or "estimate" it from the
    # original audio (pyin) as `nsynth reconstruct` does for a file without a label.
    pitch: Literal["label", "estimate"] = "label"
    morph_pairs: int = 4  # instrument pairs morphed (0: skip the morph measure)
    morph_steps: int = 5  # steps of each morph, both ends included

    def validate(self) -> None:
        if self.max_notes < 1 or self.seconds <= 0 or self.batch < 1 or self.page_notes < 0:
            raise InputError(
                "Eval options max_notes and batch must be >= 1, seconds > 0, page_notes >= 0."
            )
        if self.morph_pairs < 0 or self.morph_steps < 2:
            raise InputError("Eval options morph_pairs must be >= 0 and morph_steps >= 2.")
        if self.classifier_notes < 2:
            raise InputError("Eval option classifier_notes must be at least 2.")


N_MELS = 64
CENTS_TOLERANCE = 50.0


def _options(options: dict[str, str]) -> EvalOptions:
    return parse_options(EvalOptions, options, "nsynth eval option")


# ---- measurements ------------------------------------------------------------------------------


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def median_f0(audio: np.ndarray, sr: int, pitch: int) -> float:
    """pyin's median f0 over voiced frames, searching +-13 semitones around ``pitch``; NaN if
    no frame is voiced (silence or noise)."""
    import librosa

    target = midi_to_hz(pitch)
    fmin = max(target * 2.0 ** (-13 / 12), 8.0)
    fmax = min(target * 2.0 ** (13 / 12), 0.45 * sr)
    if fmin >= fmax:
        return float("nan")
    frame = max(1024, 2 ** math.ceil(math.log2(4.0 * sr / fmin)))
    x = np.asarray(audio, dtype=np.float32)
    if x.size < frame:
        x = np.pad(x, (0, frame - x.size))
    if float(np.abs(x).max()) < 1e-5:
        return float("nan")
    # A fixed hop: with pyin's default (frame / 4) the long frames of low notes make its
    # per-hop transition window wider than the +-13-semitone grid, and pyin raises.
    hop = min(frame // 4, 256)
    f0, voiced, _ = librosa.pyin(
        x, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame, hop_length=hop, center=True
    )
    f0 = f0[voiced & np.isfinite(f0)]
    return float(np.median(f0)) if f0.size else float("nan")


def cents_off(f0: float, pitch: int) -> float:
    """Signed distance in cents from the labelled pitch (NaN when unvoiced)."""
    return float(1200.0 * math.log2(f0 / midi_to_hz(pitch))) if f0 > 0 else float("nan")


FAMILY_FEATURES = TimbreFeatures(n_mels=N_MELS)


# ---- data ---------------------------------------------------------------------------------------


def _spread(items: list[Any], n: int) -> list[Any]:
    """``n`` items evenly spaced through ``items`` (all of them if fewer)."""
    if len(items) <= n:
        return list(items)
    idx = np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))
    return [items[i] for i in idx]


def _load_clip(path: Path, sr: int, length: int) -> np.ndarray:
    """The first ``length`` samples of a note at rate ``sr`` (zero-padded if shorter)."""
    from latentmusic.audio import io

    audio, _ = io.load(path, sr=sr, duration=(length + 64) / sr)
    audio = audio[:length]
    return np.pad(audio, (0, length - audio.size)) if audio.size < length else audio


def _note_key(note: Any) -> tuple:
    return (int(note.instrument), int(note.pitch), int(note.velocity))


# ---- report -------------------------------------------------------------------------------------


def _page(results: dict[str, Any], shown: list[dict[str, Any]], systems: list[str]) -> str:
    """The report page: the summary, the morph, then players and rainbowgrams of ``shown``."""
    clf = results["classifier"]
    unknown = clf["unknown_families"]
    summary = Section(
        "summary",
        "Pitch, family and spectral fidelity",
        intro=f"Pitch: pyin median f0 within {CENTS_TOLERANCE:.0f} cents of the label. Family: "
        f"softmax regression on log-mel statistics trained on {clf['n_train']} training-split "
        f"notes ({clf['train_accuracy']:.3f} training accuracy"
        f"{'; never trained on: ' + ', '.join(unknown) if unknown else ''}). Instrument: "
        "the same judge fitted on this split's real notes labelled by instrument, the "
        "evaluated notes left out. Spectral "
        "distance: multi-resolution STFT distance to the original (lower is closer).",
        table=[
            {
                "system": name,
                "pitch accuracy": m.get("pitch_accuracy"),
                "family accuracy": m.get("family_accuracy"),
                "instrument accuracy": m.get("instrument_accuracy"),
                "spectral distance": m.get("spectral_distance"),
                "decode s / note": m.get("seconds_per_note"),
            }
            for name, m in results["systems"].items()
        ],
    )
    sections = [summary, *_morph_sections(results.get("morph", {}))]
    if shown:
        rows = [
            Row(
                f"{entry['note_str']} (pitch {entry['pitch']}, {entry['family_str']})",
                [_note_cell(name, entry["systems"][name]) for name in systems],
            )
            for entry in shown
        ]
        sections.append(Section("notes", "Notes", rows=rows))
    notes, seconds = results["notes"], results["seconds"]
    about = f"{notes} notes, first {seconds:.2f} s of each, model {results['model']}."
    return render_page(sections, f"NSynth evaluation: {results['split']} split", about)


def _note_cell(name: str, rec: dict[str, Any]) -> Item:
    """A system's reconstruction of one note: its player over its rainbowgram."""
    caption = f"{name}: f0 {fmt(rec['f0_hz'])} Hz, family {rec['family_pred_str']}"
    return Item("audio", caption, rec["audio"], image=rec["rainbowgram"])


def _morph_sections(morph: dict[str, Any]) -> list[Section]:
    """The morph measure: one summary row per system, then a section per pair with its steps."""
    if "systems" not in morph:
        return [Section("morph", "Morph", f"Not measured: {morph.get('skipped', '')}.")]
    summary = Section(
        "morph",
        f"Morph: {morph['pairs']} pairs, {morph['steps']} latent steps ({morph['method']})",
        intro=f"Pitch kept: pyin within {CENTS_TOLERANCE:.0f} cents of the pair's pitch. P(A): "
        f"{morph['judge']['kind']} ({morph['judge']['n_train']} notes). Non-increasing: P(A) "
        f"never rises by more than {morph['monotone_tolerance']}; falling: and it ends lower "
        "than it starts by more than that.",
        table=[
            {
                "system": name,
                "steps with pitch kept": m.get("pitch_kept_steps"),
                "pairs with pitch kept throughout": m.get("pitch_kept_pairs"),
                "pairs with P(A) non-increasing": m.get("monotone_pairs"),
                "... and falling": m.get("falling_pairs"),
                "pairs with both ends heard right": m.get("ends_right_pairs"),
                "... falling, A against B only (diagnostic)": m.get("falling_pairs_vs_b"),
                "mean Spearman(step, P(A))": m.get("mean_spearman"),
                "mean P(A) drop": m.get("mean_p_a_drop"),
            }
            for name, m in morph["systems"].items()
        ],
    )
    sections = [summary]
    for k, pair in enumerate(morph["per_pair"], 1):
        judge = pair["judge_on_originals"]
        rows = [
            Row(
                f"{name}: P(A) falls monotonically {rec['falls']}, pitch kept at every step "
                f"{rec['all_pitch_kept']}",
                [
                    Item("audio", f"step {i}: P(A) {fmt(p)}, {fmt(c)} cents", a)
                    for i, (p, c, a) in enumerate(
                        zip(rec["p_a"], rec["cents"], rec["audio"], strict=True)
                    )
                ],
            )
            for name, rec in pair["systems"].items()
        ]
        title = (
            f"Morph pair {k}: {pair['a_instrument']} (A) to {pair['b_instrument']} (B), "
            f"MIDI {pair['pitch']}"
        )
        judged = (
            f"The judge on the originals: P(A | A) {fmt(judge['p_a_of_a'])}, "
            f"P(A | B) {fmt(judge['p_a_of_b'])}."
        )
        sections.append(Section(f"morph-pair-{k}", title, judged, rows=rows))
    return sections


# ---- entry point --------------------------------------------------------------------------------


def evaluate(job: EvalJob) -> dict[str, Any]:
    """Measure pitch, family and spectral fidelity of reconstructions on ``split`` notes."""
    model, data, split, out = job.model, job.data, job.split, job.out
    baselines, options = list(job.baselines), job.options
    from latentmusic.audio import io
    from latentmusic.audio.rainbowgram import save_rainbowgram
    from latentmusic.audio.spectral import multi_resolution_stft_distance
    from latentmusic.data.nsynth import read_examples
    from latentmusic.fileio import ensure_writable_dir, write_json, write_text
    from latentmusic.nsynth.verbs import decode_options, load_model

    opts = _options(options)
    decode_kw = decode_options(opts.temperature, opts.seed, opts.backend)
    systems: dict[str, Any] = {}
    for path in [Path(model), *map(Path, baselines)]:
        m = load_model(path)
        name = m.model_type
        k = 2
        while name in systems:
            name, k = f"{m.model_type}_{k}", k + 1
        systems[name] = m
    sr = next(iter(systems.values())).sample_rate
    if any(m.sample_rate != sr for m in systems.values()):
        raise InputError("The model and its baselines must share one sample rate to be compared.")
    hop = math.lcm(*(m.hop for m in systems.values()))
    length = int(opts.seconds * sr) // hop * hop
    if length < hop:
        raise InputError(
            f"seconds={opts.seconds} is shorter than one embedding frame ({hop} samples)."
        )

    split_notes = sorted(read_examples(data, split), key=_note_key)
    if not split_notes:
        raise InputError(f"The '{split}' split of {data} has no notes.")
    notes = _spread(split_notes, opts.max_notes)
    train_notes = sorted(read_examples(data, "train"), key=_note_key)
    if not train_notes:
        raise InputError(
            f"{data} has no training notes to fit the instrument-family classifier on."
        )
    train_notes = _spread(train_notes, opts.classifier_notes)

    # Instrument-family classifier on the real training notes, same clip length as evaluated.
    classifier = TimbreClassifier.fit(
        (_load_clip(n.audio_path, sr, length) for n in train_notes),
        [int(n.instrument_family) for n in train_notes],
        sr,
        FAMILY_FEATURES,
        what="instrument families",
    )
    family_names = {
        int(n.instrument_family): n.instrument_family_str for n in [*train_notes, *notes]
    }

    originals = np.stack([_load_clip(n.audio_path, sr, length) for n in notes])
    audio_by_system: dict[str, np.ndarray] = {"original": originals}
    timing: dict[str, float] = {}
    labels = np.array([float(n.pitch) for n in notes], dtype=np.float32)
    for name, m in systems.items():
        started = time.perf_counter()
        parts = []
        for i in range(0, len(notes), opts.batch):
            kw = dict(decode_kw)
            if getattr(m, "takes_pitch", False) and opts.pitch == "label":
                kw["pitch"] = labels[i : i + opts.batch]  # else the model estimates it
            with torch.no_grad():
                parts.append(m.reconstruct(originals[i : i + opts.batch], **kw).numpy())
        audio_by_system[name] = np.concatenate(parts)
        timing[name] = (time.perf_counter() - started) / len(notes)

    per_note: list[dict[str, Any]] = []
    summary: dict[str, dict[str, Any]] = {}
    for name, clips in audio_by_system.items():
        preds = classifier.predict(clips)
        pitch_hits, family_hits, dists = [], [], []
        for i, (note, clip) in enumerate(zip(notes, clips, strict=True)):
            f0 = median_f0(clip, sr, int(note.pitch))
            cents = cents_off(f0, int(note.pitch))
            hit = bool(abs(cents) <= CENTS_TOLERANCE) if not math.isnan(cents) else False
            fam_hit = bool(int(preds[i]) == int(note.instrument_family))
            rec: dict[str, Any] = {
                "f0_hz": f0,
                "cents": cents,
                "pitch_correct": hit,
                "family_pred": int(preds[i]),
                "family_pred_str": family_names.get(int(preds[i]), str(int(preds[i]))),
                "family_correct": fam_hit,
            }
            if name != "original":
                rec["spectral_distance"] = multi_resolution_stft_distance(originals[i], clip)
                dists.append(rec["spectral_distance"])
            pitch_hits.append(hit)
            family_hits.append(fam_hit)
            if len(per_note) <= i:
                per_note.append(
                    {
                        "note_str": note.note_str,
                        "pitch": int(note.pitch),
                        "instrument_str": note.instrument_str,
                        "family": int(note.instrument_family),
                        "family_str": note.instrument_family_str,
                        "systems": {},
                    }
                )
            per_note[i]["systems"][name] = rec
        summary[name] = {
            "pitch_accuracy": float(np.mean(pitch_hits)),
            "family_accuracy": float(np.mean(family_hits)),
        }
        if dists:
            summary[name]["spectral_distance"] = float(np.mean(dists))
            summary[name]["seconds_per_note"] = timing[name]

    # Instrument identity: the family judge cannot name an unseen instrument, so the same
    # judge is also fitted on the split's real notes labelled by instrument (the evaluated
    # notes left out, as the morph's judge leaves out its endpoints). A reconstruction that
    # keeps its instrument's timbre is heard as that instrument: the per-note counterpart
    # of the morph's "ends heard as A and B", over every evaluated note instead of 8.
    identity: dict[str, Any] = {"skipped": "the split has one instrument"}
    if len({int(n.instrument) for n in split_notes}) > 1:
        from latentmusic.nsynth.morph import fit_instrument_judge

        judge = fit_instrument_judge(
            split_notes, {n.note_str for n in notes}, sr, length, opts.classifier_notes
        )
        truth = np.array([int(n.instrument) for n in notes])
        for name, clips in audio_by_system.items():
            hits = np.asarray(judge.predict(clips)) == truth
            summary[name]["instrument_accuracy"] = float(hits.mean())
            for i, hit in enumerate(hits):
                per_note[i]["systems"][name]["instrument_correct"] = bool(hit)
        identity = {"n_train": judge.n_train, "train_accuracy": judge.train_accuracy}

    out = ensure_writable_dir(out)
    shown = per_note[: opts.page_notes]
    for i, entry in enumerate(shown):
        for name, rec in entry["systems"].items():
            stem = f"{i:02d}_{name}"
            io.save(out / "audio" / f"{stem}.wav", audio_by_system[name][i], sr)
            save_rainbowgram(audio_by_system[name][i], sr, out / "rainbowgrams" / f"{stem}.png")
            rec["audio"] = f"audio/{stem}.wav"
            rec["rainbowgram"] = f"rainbowgrams/{stem}.png"

    morph: dict[str, Any] = {"skipped": "morph_pairs=0"}
    if opts.morph_pairs:
        from latentmusic.nsynth.morph import measure_morphs

        morph = measure_morphs(systems, split_notes, length, opts, decode_kw, out)

    results = {
        "family": "nsynth",
        "model": str(model),
        "baselines": [str(b) for b in baselines],
        "data": str(data),
        "split": split,
        "notes": len(notes),
        "seconds": length / sr,
        "options": dataclasses.asdict(opts),
        "classifier": {
            "kind": f"logistic regression on mean/std of {N_MELS}-band log-mel (audio.judge)",
            "n_train": classifier.n_train,
            "classes": [family_names.get(c, str(c)) for c in classifier.classes],
            "train_accuracy": classifier.train_accuracy,
            # Families of evaluated notes the classifier never saw: it cannot name them, so
            # they count as misses for every system (the original included).
            "unknown_families": sorted(
                {
                    n.instrument_family_str
                    for n in notes
                    if int(n.instrument_family) not in classifier.classes
                }
            ),
        },
        "instrument_judge": identity,
        "systems": summary,
        "morph": morph,
        "per_note": per_note,
    }
    write_json(out / "results.json", _json_safe(results))
    write_text(out / "index.html", _page(results, shown, list(audio_by_system)))
    # The printed summary: per-note and per-pair details stay in results.json and the page.
    brief = {k: v for k, v in results.items() if k != "per_note"}
    brief["morph"] = {k: v for k, v in morph.items() if k != "per_pair"}
    return brief


def _json_safe(value: Any) -> Any:
    """NaN is not JSON: write it as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
