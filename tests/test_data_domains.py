"""latentmusic.data.domains: paired domains rendered from MIDI, and users' own folders."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch

from latentmusic.data.domains import (
    DomainAudioSet,
    SegmentDataset,
    assign_splits,
    build_domains,
    split_of,
)
from latentmusic.errors import InputError

SR = 16000
TWO = {"piano": 0, "flute": 73}


def write_midi(path: Path, pitches: list[int], step: float = 0.4) -> None:
    pm = pretty_midi.PrettyMIDI()
    melody, bass = pretty_midi.Instrument(program=5), pretty_midi.Instrument(program=33)
    for i, pitch in enumerate(pitches):
        melody.notes.append(pretty_midi.Note(90, pitch, i * step, (i + 1) * step))
        bass.notes.append(pretty_midi.Note(70, pitch - 24, i * step, (i + 1) * step))
    pm.instruments += [melody, bass]
    pm.write(str(path))


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("midi")
    write_midi(folder / "scale.mid", [60, 62, 64, 65, 67, 69, 71, 72])
    (folder / "more").mkdir()
    write_midi(folder / "more" / "arpeggio.mid", [60, 64, 67, 72, 67, 64])
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory, midi_folder) -> Path:
    out = tmp_path_factory.mktemp("domains") / "set"
    return build_domains(out, TWO, corpus=midi_folder, workers=1, progress=False)


def mtimes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_writes_layout_and_manifest(built):
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["sample_rate"] == SR and manifest["domains"] == ["flute", "piano"]
    files = manifest["files"]
    assert {f["path"] for f in files} == {
        "flute/more_arpeggio.wav",
        "flute/scale.wav",
        "piano/more_arpeggio.wav",
        "piano/scale.wav",
    }
    assert all(set(f) == {"path", "domain", "piece", "split", "program"} for f in files)
    assert {(f["domain"], f["program"]) for f in files} == {("flute", 73), ("piano", 0)}
    pieces = {d: {f["piece"] for f in files if f["domain"] == d} for d in ("flute", "piano")}
    assert pieces["flute"] == pieces["piano"] == {"scale", "more/arpeggio"}
    for piece in pieces["piano"]:  # a piece is in the same split in every domain
        assert len({f["split"] for f in files if f["piece"] == piece}) == 1
    scale = sf.info(str(built / "piano" / "scale.wav"))
    assert (scale.samplerate, scale.channels) == (SR, 1)
    assert scale.frames == round((8 * 0.4 + 1.0) * SR)  # last note-off + 1 s release tail
    audio, _ = sf.read(str(built / "flute" / "scale.wav"))
    assert abs(np.abs(audio).max() - 0.9) < 1e-3  # peak-normalised render


def pitch_class(audio: np.ndarray) -> int:
    """Strongest pitch class of a short window (a tiny numpy chroma)."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    keep = (freqs > 50) & (freqs < 2000)
    classes = np.round(12 * np.log2(freqs[keep] / 440) + 69).astype(int) % 12
    return int(np.argmax(np.bincount(classes, weights=spectrum[keep], minlength=12)))


def test_domains_play_the_same_notes(built):
    """Paired ground truth: every domain plays the same pitch at the same time."""
    expected = [p % 12 for p in (60, 62, 64, 65, 67, 69, 71, 72)]
    for domain in ("piano", "flute"):
        audio, _ = sf.read(str(built / domain / "scale.wav"), dtype="float32")
        windows = [audio[int((i * 0.4 + 0.05) * SR) :][:4096] for i in range(8)]
        assert [pitch_class(w) for w in windows] == expected


def test_rebuild_is_noop_and_a_new_domain_extends_the_set(built, midi_folder, tmp_path):
    before = mtimes(built)
    build_domains(built, TWO, corpus=midi_folder, workers=1, progress=False)
    assert mtimes(built) == before
    built = Path(shutil.copytree(built, tmp_path / "copy"))
    before = mtimes(built)
    build_domains(built, {"organ": 19}, corpus=midi_folder, workers=2, progress=False)
    after = mtimes(built)
    assert {k: after[k] for k in before if "manifest" not in k} == {
        k: v for k, v in before.items() if "manifest" not in k
    }
    data = DomainAudioSet(built)
    assert data.domains == ["flute", "organ", "piano"]
    assert data.counterpart(built / "piano" / "scale.wav", "organ") == built / "organ" / "scale.wav"
    with pytest.raises(
        InputError, match="Domain 'organ' in .* was rendered with program 19, not 20"
    ):
        build_domains(built, {"organ": 20}, corpus=midi_folder, workers=1, progress=False)
    with pytest.raises(InputError, match="already holds domains rendered with other settings"):
        build_domains(built, TWO, corpus=midi_folder, sr=22050, workers=1, progress=False)


def test_domain_set_from_manifest(built):
    data = DomainAudioSet(built)
    piano = data.files("piano")
    assert [p.name for p in piano] == ["more_arpeggio.wav", "scale.wav"]
    assert data.piece_of(piano[1]) == "scale" and data.piece_of(piano[0]) == "more/arpeggio"
    assert data.counterpart(piano[1], "flute") == built / "flute" / "scale.wav"
    with pytest.raises(InputError, match=r"Unknown domain 'tuba'; known: flute, piano\."):
        data.files("tuba")


def test_chorales_render_in_every_domain(tmp_path):
    out = build_domains(
        tmp_path / "ch", TWO, max_pieces=2, seconds_per_piece=3.0, workers=1, progress=False
    )
    data = DomainAudioSet(out)
    pieces = {d: sorted(data.piece_of(p) for p in data.files(d)) for d in data.domains}
    assert pieces["piano"] == pieces["flute"] and len(pieces["piano"]) == 2
    for path in data.files("flute"):
        audio, rate = sf.read(str(path))
        assert rate == SR and len(audio) == 3 * SR  # cut to seconds_per_piece
        assert np.abs(audio[-20:]).max() < 0.05  # faded out, no click
        assert data.counterpart(path, "piano").name == path.name


@pytest.fixture
def user_folder(tmp_path) -> Path:
    """A user's recordings: stereo 22.05 kHz, mixed formats, nested folders, any lengths."""
    root = tmp_path / "mine"
    t = np.arange(int(22050 * 1.5)) / 22050
    for domain, freq in (("violin", 440.0), ("voice", 330.0)):
        for name in ("a", "b", "c", "sub/d"):
            path = root / domain / f"{name}.{'flac' if domain == 'voice' else 'wav'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            tone = 0.5 * np.sin(2 * np.pi * freq * t)
            sf.write(str(path), np.stack([tone, 0.5 * tone], axis=1), 22050)
    sf.write(str(root / "voice" / "short.wav"), np.full((2000, 2), 0.25), 22050)
    return root


def test_user_folders_are_discovered_split_and_resampled(user_folder):
    every = DomainAudioSet(user_folder)
    assert every.domains == ["violin", "voice"] and every.manifest is None
    assert len(every) == 9
    audio = every.load(user_folder / "violin" / "a.wav")
    assert audio.dtype == np.float32 and audio.shape == (int(1.5 * SR),)  # mono at 16 kHz
    assert abs(np.abs(audio).max() - 0.375) < 0.01  # mean of the two channels
    assert every.counterpart(user_folder / "violin" / "sub" / "d.wav", "voice") == (
        user_folder / "voice" / "sub" / "d.flac"
    )
    assert every.counterpart(user_folder / "voice" / "short.wav", "violin") is None
    splits = {e.piece: e.split for e in every.entries}
    assert set(splits.values()) == {"train", "valid", "test"}  # small sets still get all three
    for split in ("train", "valid", "test"):
        part = DomainAudioSet(user_folder, split)
        assert all(e.split == split for e in part.entries)


def test_segments_have_fixed_length_domain_labels_and_right_pitch(user_folder):
    data = DomainAudioSet(user_folder)
    segments = SegmentDataset(data, None, segment=8000, sr=SR)
    assert len(segments) == 9
    np.random.seed(0)
    items = [segments[i] for i in range(len(segments))]
    for item, (path, _, rate, _) in zip(items, segments.items, strict=True):
        assert item["audio"].dtype == torch.float32 and item["audio"].shape == (8000,)
        assert data.domains[item["domain"]] == path.relative_to(user_folder).parts[0]
        assert rate == 22050
    violin = next(
        it for it, row in zip(items, segments.items, strict=True) if row[0].name == "a.wav"
    )
    spectrum = np.abs(np.fft.rfft(violin["audio"].numpy() * np.hanning(8000)))
    assert abs(np.argmax(spectrum) * SR / 8000 - 440) <= 2  # resampled, not pitch-shifted
    short = next(
        it for it, row in zip(items, segments.items, strict=True) if row[0].name == "short.wav"
    )
    n = round(2000 * SR / 22050)
    assert (
        torch.all(short["audio"][n + 5 :] == 0) and abs(float(short["audio"][n // 2]) - 0.25) < 0.01
    )
    np.random.seed(0)
    assert torch.equal(segments[0]["audio"], items[0]["audio"])  # offsets come from np.random


def test_reading_errors(tmp_path, user_folder):
    with pytest.raises(
        InputError, match=re.escape(f"Domain folder {tmp_path / 'nope'} does not exist.")
    ):
        DomainAudioSet(tmp_path / "nope")
    flat = tmp_path / "flat"
    flat.mkdir()
    sf.write(str(flat / "x.wav"), np.zeros(100), SR)
    with pytest.raises(
        InputError, match="has no domain folders; put each domain's audio in its own sub-folder"
    ):
        DomainAudioSet(flat)
    (user_folder / "empty").mkdir()
    with pytest.raises(
        InputError, match=r"Domain folder .*empty has no audio files \(\.wav, \.flac"
    ):
        DomainAudioSet(user_folder)
    (user_folder / "empty").rmdir()
    lonely = tmp_path / "lonely"
    (lonely / "piano").mkdir(parents=True)
    sf.write(str(lonely / "piano" / "x.wav"), np.zeros(100), SR)
    with pytest.warns(UserWarning, match="has only one domain"):
        DomainAudioSet(lonely)
    with pytest.raises(
        InputError, match=r"^Domain 'piano' in .* has no audio files in split 'test'\.$"
    ):
        DomainAudioSet(lonely, "test")
    with pytest.raises(InputError, match="is not one of the files of"):
        DomainAudioSet(user_folder).piece_of(tmp_path / "elsewhere.wav")


def test_build_errors(tmp_path, midi_folder):
    with pytest.raises(InputError, match="neither 'chorales', 'folk', 'folk:COLLECTION,...' nor"):
        build_domains(tmp_path / "o", TWO, corpus=tmp_path / "nothing", progress=False)
    with pytest.raises(InputError, match="Name at least one folk collection after 'folk:'"):
        build_domains(tmp_path / "o", TWO, corpus="folk:", progress=False)
    with pytest.raises(InputError, match="Folk collection 'nosuch' is not in music21's corpus"):
        build_domains(tmp_path / "o", TWO, corpus="folk:nosuch", progress=False)
    assert not (tmp_path / "o").exists()
    with pytest.raises(InputError, match="Unknown instrument 'kazoo'"):
        build_domains(tmp_path / "o", ["kazoo"], corpus=midi_folder, progress=False)
    with pytest.raises(InputError, match=r"SoundFont .*missing\.sf2 does not exist\."):
        build_domains(tmp_path / "o", TWO, corpus=midi_folder, soundfont=tmp_path / "missing.sf2")
    empty = tmp_path / "no_midi"
    empty.mkdir()
    with pytest.raises(InputError, match=r"No MIDI files \(\.mid, \.midi\) in"):
        build_domains(tmp_path / "o", TWO, corpus=empty, progress=False)


def test_splits_are_stable_and_80_10_10():
    keys = [f"piece{i}" for i in range(2000)]
    counts = {s: sum(split_of(k) == s for k in keys) for s in ("train", "valid", "test")}
    assert abs(counts["train"] / 2000 - 0.8) < 0.03 and abs(counts["test"] / 2000 - 0.1) < 0.02
    assert assign_splits(keys) == {k: split_of(k) for k in keys}  # big sets: pure hash
    small = assign_splits(["x", "y", "z"])
    assert sorted(small.values()) == ["test", "train", "valid"]
    pinned = {k: v for k, v in small.items() if v != "train"}
    grown = assign_splits(["x", "y", "z", "w", "v"], pinned)
    assert all(grown[k] == v for k, v in pinned.items())  # growing a build never moves a piece


def test_folk_collections_are_added_to_a_set_as_separate_artists(tmp_path, midi_folder):
    """``corpus="folk:A,B"`` renders the first N tunes of each collection into an existing set."""
    from latentmusic.jukebox.codes import dataset_files

    out = tmp_path / "set"
    cut = {"seconds_per_piece": 3.0}  # a later build must use the first one's settings
    build_domains(out, TWO, corpus=midi_folder, workers=1, progress=False, **cut)
    build_domains(
        out,
        TWO,
        corpus="folk:airdsAirs,ryansMammoth",
        max_pieces=1,
        workers=1,
        progress=False,
        **cut,
    )
    # a second build into the same folder keeps the first build's pieces and adds the new
    files = dataset_files(out, lyrics=False)
    artists = sorted({f.artist for f in files})
    assert artists == ["airdsAirs", "more", "ryansMammoth", "unknown"]
    pieces = {f.piece for f in files if f.genre == "piano"}
    assert len(pieces) == 4 and {p.split("/")[0] for p in pieces} >= {"airdsAirs", "ryansMammoth"}
    for f in files:
        audio, sr = sf.read(f.path)
        assert sr == SR and np.abs(audio).max() > 0.1
