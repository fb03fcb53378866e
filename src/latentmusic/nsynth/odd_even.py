"""Does a harmonic model hear and play a note's odd/even balance? (a diagnostic of the fast
NSynth model, ``scripts/nsynth_odd_even.py``)

A clarinet (a closed pipe) plays its even harmonics far below its odd ones; a model that
plays them at full level is heard as another instrument. Two readings tell where it fails:

- **combed notes**: training notes at one pitch, comb-filtered so their even harmonics sit
  ``cut_db`` lower (``harmonic.odd_harmonic_comb``): the odd-minus-even level of the
  originals and of their reconstructions. A model that hears which partials a sound lacks
  reproduces the originals' level; one that does not plays its usual balance.
- **one unseen note** (e.g. the test split's clarinet): each of the first harmonics' level
  over the fundamental, original and reconstruction, and the eval's instrument judge's
  probability of the right instrument for both.

Levels are ``harmonic.harmonic_levels`` (the loudest STFT bin at each harmonic) in dB,
averaged over the frames where the note sounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentmusic.errors import InputError

DB_PER_NEPER = 20.0 / math.log(10.0)
PAIRS = 4  # odd/even harmonic pairs compared: (1, 2), (3, 4), (5, 6), (7, 8)
HEARD_DB = 40.0  # frames within this of the note's loudest frame count as sounding


@dataclass(frozen=True)
class OddEvenOptions:
    pitch: int = 60  # MIDI pitch of the combed notes
    notes: int = 10  # combed training notes (spread over the instruments that play ``pitch``)
    cut_db: float = 25.6  # how far the comb lowers the even harmonics
    seconds: float = 1.0  # audio read from each note's start
    unseen: str = "reed"  # part of a test instrument_str (FluidR3 sets: the clarinet)
    unseen_pitch: int = 72
    judge_notes: int = 64  # real test notes the instrument judge is fitted on


def harmonic_profile_db(audio: torch.Tensor, pitch: torch.Tensor, sample_rate: int) -> np.ndarray:
    """(B, T) notes at (B,) MIDI pitch -> (B, 2 * PAIRS) dB level of harmonics 1..2*PAIRS,
    averaged over each note's sounding frames."""
    from latentmusic.nsynth.harmonic import harmonic_levels, midi_to_hz

    f0 = midi_to_hz(pitch.to(audio.dtype))
    levels, mask = harmonic_levels(audio, f0, 2 * PAIRS, sample_rate)  # (B, K, frames) ln
    if not bool(mask.all()):
        raise InputError("The odd/even check needs a pitch whose first 8 harmonics are audible.")
    db = levels * DB_PER_NEPER
    loudest = db.amax(dim=1, keepdim=True)  # (B, 1, frames)
    sounding = loudest >= loudest.amax(dim=-1, keepdim=True) - HEARD_DB
    return ((db * sounding).sum(-1) / sounding.sum(-1).clamp_min(1)).numpy()


def odd_minus_even_db(profile: np.ndarray) -> np.ndarray:
    """(B, 2 * PAIRS) dB levels -> (B,) mean level of harmonics 1, 3, 5, 7 minus 2, 4, 6, 8."""
    return profile[:, 0::2].mean(axis=1) - profile[:, 1::2].mean(axis=1)


def _play(model: Any, audio: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """The model's reconstruction at the labelled pitch (noise fixed, so reruns agree)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        return model.synthesize(model.embed(audio, pitch), pitch, generator)


def check_combed(model: Any, notes: Sequence[Any], opts: OddEvenOptions) -> dict[str, Any]:
    """The combed-notes reading over ``notes`` (NSynthNote, all at ``opts.pitch``)."""
    from latentmusic.nsynth.evaluate import _load_clip
    from latentmusic.nsynth.harmonic import midi_to_hz, odd_harmonic_comb

    sr = model.sample_rate
    length = int(opts.seconds * sr) // model.hop * model.hop
    audio = torch.from_numpy(np.stack([_load_clip(n.audio_path, sr, length) for n in notes]))
    pitch = torch.full((len(notes),), float(opts.pitch))
    ratio = 10.0 ** (-opts.cut_db / 20.0)
    depth = torch.full((len(notes),), (1.0 - ratio) / (1.0 + ratio), dtype=torch.float64)
    combed = odd_harmonic_comb(audio, midi_to_hz(pitch), depth, sr)
    levels = {
        "plain_original": odd_minus_even_db(harmonic_profile_db(audio, pitch, sr)),
        "plain_reconstruction": odd_minus_even_db(
            harmonic_profile_db(_play(model, audio, pitch), pitch, sr)
        ),
        "combed_original": odd_minus_even_db(harmonic_profile_db(combed, pitch, sr)),
        "combed_reconstruction": odd_minus_even_db(
            harmonic_profile_db(_play(model, combed, pitch), pitch, sr)
        ),
    }
    return {key: float(value.mean()) for key, value in levels.items()} | {
        "notes": [n.note_str for n in notes]
    }


def check_unseen(model: Any, data: Path, opts: OddEvenOptions) -> dict[str, Any]:
    """The unseen-note reading: ``opts.unseen`` of ``data``'s test split at the pitch nearest
    ``opts.unseen_pitch``."""
    from latentmusic.data.nsynth import read_examples
    from latentmusic.nsynth.evaluate import _load_clip
    from latentmusic.nsynth.morph import fit_instrument_judge, judge_probabilities

    test = read_examples(data, "test")
    mine = [n for n in test if opts.unseen in n.instrument_str]
    if not mine:
        names = sorted({n.instrument_str for n in test})
        raise InputError(f"No test instrument of {data} has '{opts.unseen}' in its name ({names}).")
    note = min(mine, key=lambda n: (abs(int(n.pitch) - opts.unseen_pitch), -int(n.velocity)))
    sr = model.sample_rate
    length = int(opts.seconds * sr) // model.hop * model.hop
    audio = torch.from_numpy(_load_clip(note.audio_path, sr, length))[None]
    pitch = torch.tensor([float(note.pitch)])
    played = _play(model, audio, pitch)
    judge = fit_instrument_judge(test, {note.note_str}, sr, length, opts.judge_notes)
    clips = np.concatenate([audio.numpy(), played.numpy()])
    p = judge_probabilities(judge, clips, [int(note.instrument)])[:, 0]
    original, recon = harmonic_profile_db(torch.cat([audio, played]), pitch.repeat(2), sr)
    return {
        "note": note.note_str,
        "original_over_fundamental_db": [round(float(v), 1) for v in original[1:] - original[0]],
        "reconstruction_over_fundamental_db": [round(float(v), 1) for v in recon[1:] - recon[0]],
        "p_instrument_original": float(p[0]),
        "p_instrument_reconstruction": float(p[1]),
    }


def combed_notes(data: Path, opts: OddEvenOptions) -> list[Any]:
    """``opts.notes`` training notes at ``opts.pitch``, one per instrument where possible,
    spread over the instruments (the loudest velocity of each)."""
    from latentmusic.data.nsynth import read_examples
    from latentmusic.nsynth.evaluate import _spread

    at_pitch = [n for n in read_examples(data, "train") if int(n.pitch) == opts.pitch]
    if not at_pitch:
        raise InputError(f"No training note of {data} plays MIDI pitch {opts.pitch}.")
    loudest: dict[int, Any] = {}
    for n in sorted(at_pitch, key=lambda n: (int(n.instrument), -int(n.velocity))):
        loudest.setdefault(int(n.instrument), n)
    return _spread([loudest[k] for k in sorted(loudest)], opts.notes)


def odd_even_check(
    model: Any, data: Path, eval_data: Path, opts: OddEvenOptions = OddEvenOptions()
) -> dict[str, Any]:
    """Both readings for a harmonic ``model``: combed training notes of ``data``, the unseen
    note of ``eval_data``'s test split."""
    if getattr(model, "model_type", None) != "harmonic":
        raise InputError("The odd/even check reads a harmonic model (nsynth --model harmonic).")
    model.eval()
    return {
        "combed": check_combed(model, combed_notes(data, opts), opts),
        "unseen": check_unseen(model, eval_data, opts),
    }
