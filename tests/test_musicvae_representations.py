"""MusicVAE representations: class conventions, exact round trips, windows, transposition, data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentmusic.errors import InputError
from latentmusic.midi.io import read_sequence, write_sequence
from latentmusic.midi.representations import (
    DRUM_CLASSES,
    DRUM_PITCH_CLASSES,
    DRUMS,
    FIRST_PITCH_CLASS,
    MELODY,
    MELODY_CLASSES,
    NO_EVENT,
    NOTE_OFF,
    SATB,
    TRIO,
    canonical_drums,
    class_to_pitch,
    drum_roll,
    get_representation,
    melody_events,
    pitch_to_class,
)
from latentmusic.midi.sequence import Note, NoteSequence, TrackInfo, merge_tracks
from latentmusic.musicvae.config import PRESETS
from latentmusic.musicvae.data import WindowDataset, extract_windows, load_sequences
from tests.fixtures.make_midi_fixtures import (
    DRUM_LOOP,
    TRIO_BASS,
    TRIO_DRUMS,
    TRIO_LEAD,
)
from tests.fixtures.make_midi_fixtures import (
    MELODY as ODE,
)

FIXTURES = Path(__file__).parent / "fixtures" / "midi"


def _triples(notes: list[Note], track: int | None = None) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.start, n.end) for n in notes if track is None or n.track == track]


def test_melody_classes_follow_magentas_one_hot_encoding() -> None:
    assert (MELODY_CLASSES, NO_EVENT, NOTE_OFF, FIRST_PITCH_CLASS) == (90, 0, 1, 2)
    assert pitch_to_class(21) == 2 and pitch_to_class(108) == 89 and pitch_to_class(60) == 41
    assert [class_to_pitch(c) for c in (2, 41, 89)] == [21, 60, 108]
    with pytest.raises(InputError, match="outside the melody range 21..108"):
        pitch_to_class(109)
    seq = NoteSequence(notes=[Note(60, 0, 2), Note(62, 4, 8), Note(64, 8, 9)], total_steps=16)
    assert MELODY.encode(seq)[:, 0].tolist() == [41, 0, 1, 0, 43, 0, 0, 0, 45, 1] + [0] * 6


def test_melody_round_trip_is_exact_on_the_fixture_and_through_a_midi_file(tmp_path: Path) -> None:
    seq = read_sequence(FIXTURES / "melody.mid")
    events = MELODY.encode(seq)
    assert events.shape == (128, 1)
    decoded = MELODY.decode(events, qpm=seq.qpm)
    assert _triples(decoded.notes) == sorted(ODE, key=lambda n: n[1])
    assert decoded.qpm == 96.0 and decoded.tracks[0] == TrackInfo("melody", 0, False)
    write_sequence(decoded, tmp_path / "back.mid")
    again = read_sequence(tmp_path / "back.mid")
    assert np.array_equal(MELODY.encode(again), events)


def test_melody_extraction_keeps_the_highest_note_at_a_time() -> None:
    notes = [
        Note(60, 0, 8), Note(64, 0, 8), Note(67, 0, 8),  # a chord: its top note
        Note(55, 4, 6),  # starts under a held higher note: dropped
        Note(72, 10, 14), Note(48, 10, 12),  # top note wins again
        Note(74, 12, 16),  # a higher onset ends the held note
        Note(62, 16, 18),  # a lower one after it ended sounds again
        Note(10, 20, 24), Note(120, 24, 28),  # outside 21..108: ignored
    ]  # fmt: skip
    events = melody_events(notes, 32)
    back = MELODY.decode(events[:, None])
    assert _triples(back.notes) == [(67, 0, 8), (72, 10, 12), (74, 12, 16), (62, 16, 18)]


def test_drum_loop_round_trip_keeps_every_hit_as_its_class(tmp_path: Path) -> None:
    seq = read_sequence(FIXTURES / "drums.mid")
    events = DRUMS.encode(seq)[:, 0]
    assert events.shape == (32,) and events.max() < DRUM_CLASSES
    assert events[0] == 1 << 0 | 1 << 2 | 1 << 7  # kick + closed hat + crash
    assert events[4] == 1 << 1 | 1 << 2  # snare + closed hat
    assert events[30] == 1 << 3  # open hat alone
    expected = {(s, p) for p, s in DRUM_LOOP}
    decoded = DRUMS.decode(events[:, None])
    assert canonical_drums(decoded.notes) == expected
    assert {(n.start, n.pitch) for n in decoded.notes} == expected
    assert all(n.is_drum and n.end == n.start + 1 for n in decoded.notes)
    write_sequence(decoded, tmp_path / "drums.mid")
    assert np.array_equal(DRUMS.encode(read_sequence(tmp_path / "drums.mid"))[:, 0], events)


def test_drum_pitches_map_to_magentas_nine_classes() -> None:
    assert len(DRUM_PITCH_CLASSES) == 9 and DRUM_CLASSES == 512
    hits = [Note(35, 0, 1, is_drum=True), Note(44, 0, 1, is_drum=True), Note(59, 3, 4, is_drum=True),
            Note(13, 5, 6, is_drum=True)]  # fmt: skip
    seq = NoteSequence(notes=hits, total_steps=16, tracks={0: TrackInfo("kit", 0, True)})
    events = DRUMS.encode(seq)[:, 0]
    assert events[0] == 0b101 and events[3] == 1 << 8 and events[5] == 0  # 13 is no GM drum
    assert {(n.start, n.pitch) for n in DRUMS.decode(events).notes} == {(0, 36), (0, 42), (3, 51)}
    roll = drum_roll(events)
    assert roll.shape == (16, 10) and roll[0, :3].tolist() == [1, 0, 1] and roll[1, 9] == 1


def test_trio_round_trip_on_the_fixture_and_its_type0_export() -> None:
    seq = read_sequence(FIXTURES / "trio.mid")
    events = TRIO.encode(seq)
    assert events.shape == (64, 3)
    decoded = TRIO.decode(events, qpm=seq.qpm)
    assert _triples(decoded.notes, 0) == sorted(TRIO_LEAD, key=lambda n: n[1])
    assert _triples(decoded.notes, 1) == sorted(TRIO_BASS, key=lambda n: n[1])
    assert {(n.start, n.pitch) for n in decoded.notes if n.track == 2} == {
        (s, p) for p, s in TRIO_DRUMS
    }
    assert [(t.name, t.program, t.is_drum) for t in decoded.tracks.values()] == [
        ("melody", 0, False), ("bass", 33, False), ("drums", 0, True)
    ]  # fmt: skip
    assert np.array_equal(TRIO.encode(decoded), events)
    type0 = read_sequence(FIXTURES / "type0" / "trio_type0.mid")
    assert np.array_equal(TRIO.encode(type0), events)


def _voice(name: str, pitches: list[int], program: int = 52) -> NoteSequence:
    notes = [Note(p, 4 * i, 4 * i + 4, program=program) for i, p in enumerate(pitches)]
    return NoteSequence(notes=notes, total_steps=32, tracks={0: TrackInfo(name, program, False)})


def test_satb_round_trip_by_track_names_and_by_pitch() -> None:
    voices = {
        "soprano": [72, 74, 76, 77, 79, 77, 76, 74],
        "alto": [67, 67, 69, 69, 71, 69, 67, 67],
        "tenor": [64, 62, 60, 62, 64, 65, 64, 62],
        "bass": [48, 50, 52, 53, 55, 53, 52, 50],
    }
    named = merge_tracks([_voice(k, v) for k, v in voices.items()][::-1])  # stored B, T, A, S
    events = SATB.encode(named)
    decoded = SATB.decode(events)
    for i, pitches in enumerate(voices.values()):
        assert [n.pitch for n in decoded.notes if n.track == i] == pitches
    unnamed = merge_tracks(
        [
            _voice("", v)
            for v in [voices["tenor"], voices["soprano"], voices["bass"], voices["alto"]]
        ]
    )
    assert np.array_equal(SATB.encode(unnamed), events)
    assert get_representation("satb") is SATB
    with pytest.raises(InputError, match="Unknown representation 'piano'"):
        get_representation("piano")


def test_windows_slide_by_bar_and_drop_sparse_or_gappy_ones() -> None:
    notes = [Note(60 + i, 4 * i, 4 * i + 2) for i in range(8)]  # bars 0-1: 8 notes
    notes += [Note(70, 64, 80)]  # bar 4: one long note; bars 2-3 silent
    seq = NoteSequence(notes=notes, total_steps=96)
    events = MELODY.encode(seq)
    all_windows = MELODY.windows(events, bars=2, min_notes=0)
    assert len(all_windows) == 5  # 6 bars, 2-bar windows, hop 1 bar
    kept = MELODY.windows(events, bars=2, min_notes=2, gap_bars=1.0)
    assert len(kept) == 1 and np.array_equal(kept[0], events[:32])
    with_gap = MELODY.windows(events, bars=2, min_notes=1, gap_bars=None)
    assert len(with_gap) == 4  # every window but bars 2-3 holds a note


def test_a_window_starting_inside_a_held_note_treats_it_as_rest() -> None:
    seq = NoteSequence(notes=[Note(60, 8, 24), Note(62, 28, 30)], total_steps=64)
    events = MELODY.encode(seq)
    window = MELODY.cut(events, 16, 32)
    assert window[:, 0].tolist()[:16] == [0] * 12 + [43, 0, 1, 0]  # no stray note-off at 8
    assert _triples(MELODY.decode(window).notes) == [(62, 12, 14)]


def test_transposition_stays_in_range_and_leaves_drums_alone() -> None:
    high = NoteSequence(notes=[Note(100, 0, 4), Note(106, 4, 8)], total_steps=32)
    events = MELODY.encode(high)
    assert MELODY.valid_shifts(events, 5) == [-5, -4, -3, -2, -1, 0, 1, 2]
    assert MELODY.transpose(events, 3) is None
    rng = np.random.RandomState(0)
    shifts = set()
    for _ in range(200):
        out = MELODY.augment(events, 5, rng)
        top = out[out >= FIRST_PITCH_CLASS].max()
        assert top <= MELODY_CLASSES - 1
        shifts.add(int(top) - int(events.max()))
    assert shifts == set(range(-5, 3))
    trio = TRIO.encode(read_sequence(FIXTURES / "trio.mid"))
    moved = TRIO.transpose(trio, -2)
    assert np.array_equal(moved[:, 2], trio[:, 2])
    lead = trio[:, 0] >= FIRST_PITCH_CLASS
    assert np.array_equal(moved[lead, 0], trio[lead, 0] - 2)


def test_window_dataset_dedupes_and_augments_with_the_global_rng(tmp_path: Path) -> None:
    seq = read_sequence(FIXTURES / "melody.mid")  # bars 4-7 repeat bars 0-3 except the ending
    config = PRESETS["small"]
    windows, sources = extract_windows([seq, seq], config)
    assert len(windows) == len({w.tobytes() for w in windows}) == 5 and sources[0] == "melody"
    dataset = WindowDataset(windows, "melody", transpose_range=5)
    np.random.seed(3)
    first = dataset[0]["tokens"]
    np.random.seed(3)
    assert np.array_equal(dataset[0]["tokens"], first)
    seen = {int(dataset[0]["tokens"].max()) for _ in range(60)}
    assert len(seen) > 5 and first.shape == (32, 1) and first.dtype.is_floating_point is False


def test_load_sequences_splits_a_plain_folder_by_hash(tmp_path: Path) -> None:
    from latentmusic.data.melodies import split_of

    melody = read_sequence(FIXTURES / "melody.mid")
    names = [f"tune{i}" for i in range(30)]
    for name in names:
        write_sequence(melody, tmp_path / "user" / f"{name}.mid")
    got = {
        split: {s.source_id for s in load_sequences(tmp_path / "user", split)}
        for split in ("train", "valid", "test")
    }
    assert got["train"] | got["valid"] | got["test"] == set(names)
    assert all(split_of(n) == split for split, ids in got.items() for n in ids)
    with pytest.raises(InputError, match="does not exist"):
        load_sequences(tmp_path / "missing", "train")


def test_drum_trio_and_satb_training_windows_come_from_the_right_files() -> None:
    drums, trio, melody = (
        read_sequence(FIXTURES / f"{n}.mid") for n in ("drums", "trio", "melody")
    )
    windows, _ = extract_windows([drums, melody], PRESETS["small-drums"])
    assert windows.shape == (1, 32, 1) and windows[0, 0, 0] == 0b10000101  # the loop; no melody
    windows, sources = extract_windows([trio, melody, drums], PRESETS["small-trio"])
    assert windows.shape == (1, 64, 3) and sources == ["trio"]  # only the file with all three
    assert np.array_equal(windows[0], TRIO.encode(trio))
    voices = merge_tracks(
        [_voice(v, [60 + 2 * i + 7 * k for i in range(8)]) for k, v in enumerate("SATB")]
    )
    windows, _ = extract_windows([voices, melody], PRESETS["small-satb"])
    assert windows.shape == (0, 64, 4)  # 2 bars of SATB: too short for a 4-bar window
    long = merge_tracks(
        [_voice(v, [60 + (i % 8) + 7 * k for i in range(16)]) for k, v in enumerate("SATB")]
    )
    long = NoteSequence(notes=long.notes, total_steps=64, tracks=long.tracks)
    assert extract_windows([long, melody], PRESETS["small-satb"])[0].shape == (1, 64, 4)


def test_kick_snare_balance_counts_general_midi_kicks_and_snares() -> None:
    from latentmusic.midi.sequence import Note, NoteSequence
    from latentmusic.musicvae.attributes import attributes_for, kick_snare_balance

    def hits(*pitches: int) -> NoteSequence:
        notes = [Note(p, i, i + 1, is_drum=True, track=0) for i, p in enumerate(pitches)]
        return NoteSequence(notes=notes, total_steps=32)

    assert kick_snare_balance(hits(36, 36, 36, 38)) == 0.5  # 3 kicks, 1 snare
    assert kick_snare_balance(hits(35, 40, 38, 38)) == -0.5  # both GM kicks and snares count
    assert kick_snare_balance(hits(42, 46, 49)) == 0.0  # hats and cymbals only
    assert "kick_snare_balance" in attributes_for("drums")
    assert "kick_snare_balance" not in attributes_for("melody")
