"""latentmusic.data.notes / nsynth: build an NSynth-format set, read it and the real layout."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from latentmusic.audio.mulaw import mu_law_encode
from latentmusic.data import notes
from latentmusic.data.notes import build_notes, measure_qualities, split_instruments
from latentmusic.data.nsynth import NSYNTH_FIELDS, NSynthDataset, NSynthNote, read_examples
from latentmusic.errors import InputError

FIXTURE = Path(__file__).parent / "fixtures" / "nsynth"
SR = 16000
# 4 instruments (keyboard, flute, bass, string) x 2 pitches x 2 velocities; flute plays
# only the upper pitch, so the set also shows the per-instrument playable range.
TINY = {"programs": (0, 73, 32, 40), "pitches": (57, 64), "velocities": (25, 100)}


def mtimes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    return build_notes(tmp_path_factory.mktemp("notes") / "set", workers=2, progress=False, **TINY)


def all_entries(root: Path) -> dict[str, dict]:
    return {
        split: json.loads((root / split / "examples.json").read_text())
        for split in ("train", "valid", "test")
    }


# ---- building -----------------------------------------------------------------------------


def test_build_writes_nsynth_layout_and_fields(tiny_set):
    splits = all_entries(tiny_set)
    total = 0
    for split, entries in splits.items():
        assert entries, f"split {split} is empty"
        for key, e in entries.items():
            total += 1
            assert set(e) == set(NSYNTH_FIELDS) and len(e) == 13
            assert (
                key
                == e["note_str"]
                == f"{e['instrument_str']}-{e['pitch']:03d}-{e['velocity']:03d}"
            )
            assert re.fullmatch(
                r"[a-z_]+_(acoustic|electronic|synthetic)_\d{3}", e["instrument_str"]
            )
            assert e["instrument_str"].startswith(
                f"{e['instrument_family_str']}_{e['instrument_source_str']}_"
            )
            assert e["sample_rate"] == SR and e["velocity"] in (25, 100)
            assert len(e["qualities"]) == 10 and set(e["qualities"]) <= {0, 1}
            assert sum(e["qualities"]) == len(e["qualities_str"])
            info = sf.info(str(tiny_set / split / "audio" / f"{key}.wav"))
            assert (info.samplerate, info.frames, info.channels) == (SR, 4 * SR, 1)
            assert info.subtype == "PCM_16"
    assert total == 3 * 2 * 2 + 1 * 2  # flute (60..96) cannot play 57
    every = {k: e for entries in splits.values() for k, e in entries.items()}
    families = {
        e["instrument_str"]: (e["instrument_family"], e["instrument_family_str"])
        for e in every.values()
    }
    assert sorted(families.values()) == [(0, "bass"), (2, "flute"), (4, "keyboard"), (8, "string")]
    assert sorted(e["note"] for e in every.values()) == list(range(total))  # unique note ids
    build = json.loads((tiny_set / "build.json").read_text())
    assert build["complete"] and {i["program"] for i in build["instruments"]} == set(
        TINY["programs"]
    )


def test_instruments_are_split_disjointly(tiny_set):
    owners = {}
    for split, entries in all_entries(tiny_set).items():
        for e in entries.values():
            assert owners.setdefault(e["instrument_str"], split) == split
    assert sorted(owners.values()).count("train") == 2
    assert set(owners.values()) == {"train", "valid", "test"}


def test_velocity_survives_the_fixed_gain(tiny_set):
    entries = all_entries(tiny_set)["train"]
    e = next(iter(entries.values()))
    stem = f"{e['instrument_str']}-{e['pitch']:03d}"
    soft, _ = sf.read(str(tiny_set / "train" / "audio" / f"{stem}-025.wav"))
    loud, _ = sf.read(str(tiny_set / "train" / "audio" / f"{stem}-100.wav"))
    assert np.abs(loud).max() > 2 * np.abs(soft).max() and np.abs(loud).max() < 1.0


def test_rebuild_is_a_noop_and_an_interrupted_build_resumes(tiny_set, tmp_path):
    before = mtimes(tiny_set)
    build_notes(tiny_set, workers=1, progress=False, **TINY)
    assert mtimes(tiny_set) == before

    copy = shutil.copytree(tiny_set, tmp_path / "copy")
    victim = sorted((copy / "valid" / "audio").glob("*.wav"))[0]
    original = victim.read_bytes()
    victim.unlink()  # as if the build had been killed before writing it ...
    (copy / "valid" / "examples.json").unlink()  # ... and before the split's examples.json
    untouched = {k: v for k, v in mtimes(copy).items() if "/valid/" not in k}
    build_notes(copy, workers=1, progress=False, **TINY)
    assert victim.read_bytes() == original  # rendering is deterministic
    assert all_entries(copy) == all_entries(tiny_set)
    after = mtimes(copy)
    assert {k: after[k] for k in untouched} == untouched  # only the lost files were rewritten


def test_rebuild_with_other_settings_is_refused(tiny_set):
    with pytest.raises(InputError, match="already holds a note set built with other settings"):
        build_notes(tiny_set, workers=1, progress=False, **{**TINY, "velocities": (127,)})


def test_bad_requests_are_input_errors(tmp_path):
    with pytest.raises(
        InputError, match="General MIDI program 120 has no NSynth instrument family"
    ):
        build_notes(tmp_path, programs=(0, 73, 120), quick=True, progress=False)
    with pytest.raises(InputError, match="at least 3 instruments"):
        build_notes(tmp_path, programs=(0, 73), quick=True, progress=False)
    with pytest.raises(InputError, match=r"Velocities must be integers from 1 to 127; got 0\."):
        build_notes(tmp_path, velocities=(0,), progress=False)
    with pytest.raises(InputError, match="must be positive and shorter than the note"):
        build_notes(tmp_path, seconds=2.0, hold=2.0, progress=False)
    with pytest.raises(InputError, match="does not exist"):
        build_notes(tmp_path, soundfont=tmp_path / "missing.sf2", progress=False)


def test_default_programs_cover_every_family_and_split_keeps_families_in_train():
    families = [notes.gm_family(p)[0] for p in notes.DEFAULT_PROGRAMS]
    assert len(notes.DEFAULT_PROGRAMS) == 24 and set(families) == set(notes.NSYNTH_FAMILIES)
    keys = [f"TimGM6mb.sf2:{p}" for p in notes.DEFAULT_PROGRAMS]
    splits = split_instruments(keys, families)
    assert splits == split_instruments(keys, families)  # deterministic
    counts = {s: list(splits.values()).count(s) for s in ("train", "valid", "test")}
    assert counts == {"train": 16, "valid": 4, "test": 4}
    train_families = {f for k, f in zip(keys, families, strict=True) if splits[k] == "train"}
    assert train_families == set(families)  # unseen instruments, seen families


def test_held_out_test_programs_keep_a_smaller_sets_test_instruments():
    wide = notes.ALL_PROGRAMS
    assert len(wide) > 90 and set(notes.DEFAULT_PROGRAMS) < set(wide)
    keys = [f"FluidR3_GM.sf2:{p}" for p in wide]
    families = [notes.gm_family(p)[0] for p in wide]
    held = [k for k in keys if k.endswith((":6", ":12", ":71", ":73"))]
    splits = split_instruments(keys, families, test=held)
    assert sorted(k for k, s in splits.items() if s == "test") == sorted(held)
    n_valid = list(splits.values()).count("valid")
    assert n_valid == round(0.15 * len(keys))  # valid is still drawn by hash, test is not
    with pytest.raises(InputError, match="leaves fewer than two for training"):
        split_instruments(keys[:4], families[:4], test=keys[:3])


def test_test_programs_are_recorded_and_must_be_rendered(tmp_path):
    built = build_notes(tmp_path / "held", workers=1, progress=False, test_programs=(40,), **TINY)
    info = json.loads((built / "build.json").read_text())
    assert info["settings"]["test_programs"] == [40]
    test_names = {i["program"] for i in info["instruments"] if i["split"] == "test"}
    assert test_names == {40}
    assert {e["instrument_str"] for e in all_entries(built)["test"].values()} == {
        "string_acoustic_000"
    }
    with pytest.raises(InputError, match=r"Test program\(s\) 41 are not among the programs"):
        build_notes(tmp_path / "bad", progress=False, test_programs=(41,), **TINY)


def test_sources_and_ranges_follow_the_program():
    assert notes.gm_family(81) == ("synth_lead", "synthetic")
    assert notes.gm_family(4) == ("keyboard", "electronic")
    assert notes.gm_family(27) == ("guitar", "electronic")
    assert notes.gm_family(71) == ("reed", "acoustic")
    assert notes.playable_range(73) == (60, 96) and notes.playable_range(33) == (28, 67)


def test_qualities_measure_the_envelope():
    t = np.arange(4 * SR) / SR
    tone = np.sin(2 * np.pi * 220 * t)
    decaying = tone * np.exp(-t * 6)  # -52 dB per second: gone long before the note-off
    held_then_cut = tone * (t < 3.0)
    slow_release = tone * np.where(t < 3.0, 1.0, np.exp(-(t - 3.0) * 1.0))
    q = notes.NSYNTH_QUALITIES
    assert measure_qualities(decaying, SR, 3.0) == [int(n == "fast_decay") for n in q]
    assert measure_qualities(held_then_cut, SR, 3.0) == [0] * 10
    assert measure_qualities(slow_release, SR, 3.0) == [int(n == "long_release") for n in q]


# ---- reading -----------------------------------------------------------------------------


def test_read_examples_reads_the_real_release_layout():
    got = read_examples(FIXTURE, "test")
    assert [n.note_str for n in got] == sorted(
        json.loads((FIXTURE / "nsynth-test" / "examples.json").read_text())
    )
    keyboard = next(n for n in got if n.note_str == "keyboard_acoustic_004-060-025")
    assert isinstance(keyboard, NSynthNote)
    assert (keyboard.pitch, keyboard.velocity, keyboard.instrument_family) == (60, 25, 4)
    assert (
        keyboard.instrument_family_str == "keyboard"
        and keyboard.instrument_source_str == "acoustic"
    )
    assert keyboard.qualities == (0,) * 10 and keyboard.sample_rate == SR
    bass = next(n for n in got if n.instrument_family_str == "bass")
    assert bass.qualities_str == ("bright", "dark") and bass.qualities[:2] == (1, 1)
    assert (
        keyboard.audio_path
        == FIXTURE / "nsynth-test" / "audio" / "keyboard_acoustic_004-060-025.wav"
    )
    # the split folder itself, or a "<split>/" folder, works too
    assert read_examples(FIXTURE / "nsynth-test", "test") == got


def test_read_examples_errors(tmp_path):
    with pytest.raises(
        InputError, match=re.escape(f"NSynth folder {tmp_path / 'x'} does not exist.")
    ):
        read_examples(tmp_path / "x", "test")
    with pytest.raises(
        InputError,
        match=r"No examples.json for split 'valid' in .* \(looked in nsynth-valid/, valid/",
    ):
        read_examples(FIXTURE, "valid")
    broken = shutil.copytree(FIXTURE, tmp_path / "broken")
    examples = broken / "nsynth-test" / "examples.json"
    data = json.loads(examples.read_text())
    (broken / "nsynth-test" / "audio" / "bass_synthetic_033-050-100.wav").unlink()
    with pytest.raises(
        InputError, match=r"Audio file .*bass_synthetic_033-050-100.wav listed in .* is missing\."
    ):
        read_examples(broken, "test")
    del data["bass_synthetic_033-050-100"]
    data["guitar_acoustic_010-066-100"].pop("pitch")
    examples.write_text(json.dumps(data))
    with pytest.raises(
        InputError, match="note 'guitar_acoustic_010-066-100' lacks the field\\(s\\) pitch"
    ):
        read_examples(broken, "test")
    examples.write_text("{ not json")
    with pytest.raises(InputError, match="examples.json is not valid JSON"):
        read_examples(broken, "test")


def test_dataset_crops_resamples_and_mu_law(tiny_set):
    whole = NSynthDataset(FIXTURE, "test")
    item = whole[0]
    assert item["audio"].dtype == torch.float32 and item["audio"].shape == (4000,)
    assert set(item) == {"audio", "pitch", "instrument_family", "velocity", "index"}
    assert (item["pitch"], item["instrument_family"], item["index"]) == (50, 0, 0)

    cropped = NSynthDataset(tiny_set, "train", crop=6144, mu_law=True)
    np.random.seed(3)
    a = cropped[1]
    np.random.seed(3)
    b = cropped[1]
    assert a["audio"].shape == (6144,) and torch.equal(a["audio"], b["audio"])  # global RNG
    assert a["codes"].dtype == torch.int64 and a["codes"].shape == (6144,)
    assert torch.equal(a["codes"], torch.from_numpy(mu_law_encode(a["audio"].numpy())))
    full = torch.from_numpy(cropped.audio(1))
    starts = [i for i in range(len(full) - 6143) if torch.equal(full[i : i + 6144], a["audio"])]
    assert starts  # the crop is a real excerpt of the note

    padded = NSynthDataset(FIXTURE, "test", crop=5000)[0]["audio"]
    assert padded.shape == (5000,) and torch.all(padded[4000:] == 0)
    assert NSynthDataset(FIXTURE, "test", sr=8000)[0]["audio"].shape == (2000,)


def test_dataset_filters_by_pitch_and_family():
    assert [n.pitch for n in NSynthDataset(FIXTURE, "test", pitch_range=(60, 70)).notes] == [66, 60]
    assert [
        n.instrument_family_str for n in NSynthDataset(FIXTURE, "test", families=["flute", 0]).notes
    ] == [
        "bass",
        "flute",
    ]
    with pytest.raises(InputError, match="No notes of split 'test'"):
        NSynthDataset(FIXTURE, "test", pitch_range=(100, 108))
    with pytest.raises(InputError, match="Unknown instrument family 'drums'"):
        NSynthDataset(FIXTURE, "test", families=["drums"])
