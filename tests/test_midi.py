"""latentmusic.midi: MIDI I/O, the step-grid NoteSequence, quantization and the music21 corpus."""

from __future__ import annotations

import importlib.util
import json
import time
from itertools import pairwise
from pathlib import Path

import mido
import pretty_midi
import pytest

from latentmusic.errors import InputError
from latentmusic.midi.corpus import (
    CHORALE_COLLECTION,
    VOICES,
    chorale_items,
    folk_items,
    iter_chorales,
    iter_folk,
    load_piece,
)
from latentmusic.midi.io import read_midi, read_sequence, write_midi, write_sequence
from latentmusic.midi.quantize import quantize, to_pretty_midi
from latentmusic.midi.sequence import Note, NoteSequence, TrackInfo, merge_tracks

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture_notes():
    spec = importlib.util.spec_from_file_location("mkfix", FIXTURES / "make_midi_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mean_pitch(seq: NoteSequence) -> float:
    return sum(n.pitch for n in seq.notes) / len(seq.notes)


# ------------------------------------------------------------------------------------ io
def test_write_read_round_trip_keeps_tempo_program_and_times(tmp_path):
    pm = pretty_midi.PrettyMIDI(initial_tempo=96.0)
    bass = pretty_midi.Instrument(program=33, name="Bass")
    bass.notes = [pretty_midi.Note(90, 40, 0.0, 0.5), pretty_midi.Note(100, 43, 0.625, 1.25)]
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="Kit")
    drums.notes = [pretty_midi.Note(110, 36, 0.0, 0.1)]
    pm.instruments = [bass, drums]
    path = write_midi(pm, tmp_path / "out" / "song.mid")
    assert path.exists() and not list(path.parent.glob(".*tmp*"))  # no temp file left over

    back = read_midi(path)
    assert back.get_tempo_changes()[1][0] == pytest.approx(96.0, abs=1e-3)
    assert [(i.program, i.is_drum, i.name) for i in back.instruments] == [
        (33, False, "Bass"),
        (0, True, "Kit"),
    ]
    got = [(n.pitch, n.velocity, n.start, n.end) for n in back.instruments[0].notes]
    want = [(40, 90, 0.0, 0.5), (43, 100, 0.625, 1.25)]
    for g, w in zip(got, want, strict=True):
        assert g[:2] == w[:2] and g[2:] == pytest.approx(w[2:], abs=2e-3)


def test_read_midi_errors(tmp_path):
    missing = tmp_path / "nope.mid"
    with pytest.raises(InputError, match=r"^MIDI file .*nope\.mid does not exist\.$"):
        read_midi(missing)
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"this is a text file, not a Standard MIDI File\n" * 3)
    with pytest.raises(InputError, match=r"^.*garbage\.mid is not a readable MIDI file\.$"):
        read_midi(garbage)
    empty = tmp_path / "silence.mid"
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(program=0, name="Empty"))
    pm.write(str(empty))
    with pytest.raises(InputError, match=r"^.*silence\.mid contains no notes\.$"):
        read_midi(empty)
    with pytest.raises(InputError, match="is a directory"):
        read_midi(tmp_path)


# ------------------------------------------------------------------------------- quantize
def test_quantize_hand_built_pretty_midi_to_16_steps_per_bar():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)  # one step = 0.125 s
    lead = pretty_midi.Instrument(program=5, name="Lead")
    lead.notes = [
        pretty_midi.Note(80, 60, 0.01, 0.49),  # 0.08 -> 3.92 steps: 0..4
        pretty_midi.Note(80, 62, 0.5625, 0.74),  # onset 4.5 steps rounds half up to 5
        pretty_midi.Note(80, 64, 1.0, 1.0),  # zero length: gets one step
        pretty_midi.Note(80, 65, 1.99, 2.51),  # 15.92 -> 20.08: 16..20, second bar
        pretty_midi.Note(80, 67, 3.74, 3.99),  # ends in the second bar: 30..32
    ]
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="Drums")
    drums.notes = [pretty_midi.Note(100, 36, 0.0, 0.05), pretty_midi.Note(100, 38, 0.5, 0.55)]
    pm.instruments = [lead, drums]

    seq = quantize(pm)
    assert seq.steps_per_quarter == 4 and seq.qpm == 120.0 and seq.time_signature == (4, 4)
    assert seq.steps_per_bar == 16 and seq.num_bars == 2 and seq.total_steps == 32
    assert [(n.pitch, n.start, n.end) for n in seq.track(0).notes] == [
        (60, 0, 4),
        (62, 5, 6),
        (64, 8, 9),
        (65, 16, 20),
        (67, 30, 32),
    ]
    assert [(n.pitch, n.start, n.end, n.is_drum) for n in seq.track(1).notes] == [
        (36, 0, 1, True),
        (38, 4, 5, True),
    ]
    assert seq.tracks == {0: TrackInfo("Lead", 5, False), 1: TrackInfo("Drums", 0, True)}
    assert all(n.program == 5 for n in seq.notes if n.track == 0)

    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0)]
    three = quantize(pm)
    assert three.time_signature == (3, 4) and three.steps_per_bar == 12 and three.num_bars == 3
    assert quantize(pm, steps_per_quarter=2).steps_per_bar == 6


def test_quantize_follows_beats_through_tempo_changes(tmp_path):
    ppq = 480
    track = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0),
            mido.Message("note_on", note=60, velocity=90, time=0),
            mido.Message("note_on", note=60, velocity=0, time=ppq * 4),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=0),  # bar 2 at half speed
            mido.Message("note_on", note=67, velocity=90, time=0),
            mido.Message("note_on", note=67, velocity=0, time=ppq * 2),
        ]
    )
    mid = mido.MidiFile(type=0, ticks_per_beat=ppq)
    mid.tracks.append(track)
    mid.save(str(tmp_path / "tempo.mid"))
    seq = read_sequence(tmp_path / "tempo.mid")
    assert seq.qpm == 120.0  # the first tempo
    # the second note starts at 2.0 s but on beat 5, i.e. step 16, and lasts two beats
    assert [(n.pitch, n.start, n.end) for n in seq.notes] == [(60, 0, 16), (67, 16, 24)]


def test_quantize_resolves_coinciding_repeated_notes():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [
        pretty_midi.Note(80, 60, 0.0, 0.5),
        pretty_midi.Note(90, 60, 0.02, 0.74),  # same step as the first: merged, louder, longer
        pretty_midi.Note(80, 60, 0.75, 1.5),
        pretty_midi.Note(80, 60, 1.0, 1.25),  # re-attack cuts the previous note at step 8
    ]
    pm.instruments = [inst]
    assert [(n.start, n.end, n.velocity) for n in quantize(pm).notes] == [
        (0, 6, 90),
        (6, 8, 80),
        (8, 10, 80),
    ]


def _rich_sequence(steps_per_quarter: int = 4) -> NoteSequence:
    return NoteSequence(
        notes=[
            Note(72, 0, 3, 90, track=0),
            Note(76, 3, 9, 70, track=0),
            Note(79, 9, 10, 127, track=0),
            Note(40, 0, 12, 100, track=1),
            Note(36, 0, 1, 110, track=2),
            Note(42, 3, 4, 60, track=2),
            Note(36, 6, 7, 110, track=2),
        ],
        steps_per_quarter=steps_per_quarter,
        qpm=112.0,
        time_signature=(3, 4),
        total_steps=36,  # trailing silence after the last note (step 12)
        source_id="rich",
        lyrics="Aus meines Herzens Grunde",
        tracks={
            0: TrackInfo("Lead", 0, False),
            1: TrackInfo("Bass", 33, False),
            2: TrackInfo("Drums", 0, True),
        },
    )


@pytest.mark.parametrize("steps_per_quarter", [4, 3])
def test_sequence_midi_sequence_round_trip_is_identical(tmp_path, steps_per_quarter):
    seq = _rich_sequence(steps_per_quarter)
    path = write_sequence(seq, tmp_path / "rich.mid")
    pm = read_midi(path)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(112.0, abs=1e-3)
    assert [(i.name, i.program, i.is_drum) for i in pm.instruments] == [
        ("Lead", 0, False),
        ("Bass", 33, False),
        ("Drums", 0, True),
    ]
    assert [(ts.numerator, ts.denominator) for ts in pm.time_signature_changes] == [(3, 4)]
    back = quantize(pm, steps_per_quarter, source_id="rich")
    assert back == seq
    # in memory too, and reading by path names the sequence after the file
    assert quantize(to_pretty_midi(seq), steps_per_quarter, source_id="rich") == seq
    assert read_sequence(path, steps_per_quarter).source_id == "rich"


def test_quantize_fixtures_written_like_a_daw():
    fx = _fixture_notes()
    melody = read_sequence(FIXTURES / "midi" / "melody.mid")  # humanized by up to 30 ticks
    assert melody.qpm == 96.0 and melody.num_bars == 8 and melody.total_steps == 128
    assert melody.tracks == {0: TrackInfo("Lead", 0, False)}
    assert [(n.pitch, n.start, n.end) for n in melody.notes] == fx.MELODY

    drums = read_sequence(FIXTURES / "midi" / "drums.mid")
    assert drums.tracks == {0: TrackInfo("Drums", 0, True)} and drums.num_bars == 2
    assert sorted((n.pitch, n.start) for n in drums.notes) == sorted(fx.DRUM_LOOP)

    trio = read_sequence(FIXTURES / "midi" / "trio.mid")
    assert trio.qpm == 110.0 and trio.num_bars == 4
    assert trio.tracks == {
        0: TrackInfo("Lead", 0, False),
        1: TrackInfo("Bass", 33, False),
        2: TrackInfo("Drums", 0, True),
    }
    assert [(n.pitch, n.start, n.end) for n in trio.track(0).notes] == fx.TRIO_LEAD
    assert [(n.pitch, n.start) for n in trio.track(1).notes] == [(p, s) for p, s, _ in fx.TRIO_BASS]
    assert len(trio.track(2).notes) == len(fx.TRIO_DRUMS)

    type0 = read_sequence(FIXTURES / "midi" / "type0" / "trio_type0.mid")
    assert sorted((t.program, t.is_drum) for t in type0.tracks.values()) == [
        (0, False),
        (0, True),
        (33, False),
    ]
    assert sorted((n.pitch, n.start, n.end) for n in type0.notes) == sorted(
        (n.pitch, n.start, n.end) for n in trio.notes
    )


# ------------------------------------------------------------------------------- sequence
def test_note_sequence_grid_slice_transpose_track_and_json():
    seq = _rich_sequence()
    assert NoteSequence(time_signature=(6, 8)).steps_per_bar == 12
    assert NoteSequence(time_signature=(2, 2)).steps_per_bar == 16
    assert seq.steps_per_bar == 12 and seq.num_bars == 3
    assert seq.seconds_per_step == pytest.approx(60 / (112 * 4))

    window = seq.slice(3, 9)  # by onset: 76 (3..9) and the hats; clipped at the end
    assert window.total_steps == 6
    assert [(n.pitch, n.start, n.end, n.track) for n in window.notes] == [
        (76, 0, 6, 0),
        (42, 0, 1, 2),
        (36, 3, 4, 2),
    ]
    assert [(n.pitch, n.end) for n in seq.slice(0, 2).notes] == [(72, 2), (40, 2), (36, 1)]
    with pytest.raises(InputError, match="0 <= start < end"):
        seq.slice(5, 5)

    up = seq.transpose(5)
    assert [n.pitch for n in up.notes if n.is_drum] == [n.pitch for n in seq.notes if n.is_drum]
    assert [n.pitch for n in up.notes if not n.is_drum] == [77, 45, 81, 84]
    with pytest.raises(InputError, match="outside the MIDI range 0..127"):
        seq.transpose(60)

    bass = seq.track(1)
    assert bass.tracks == {0: TrackInfo("Bass", 33, False)}
    assert [(n.pitch, n.track, n.program) for n in bass.notes] == [(40, 0, 33)]
    with pytest.raises(InputError, match=r"Track 7 does not exist \(tracks: 0, 1, 2\)\."):
        seq.track(7)

    data = json.loads(json.dumps(seq.to_dict()))
    assert NoteSequence.from_dict(data) == seq
    with pytest.raises(InputError, match="Not a valid NoteSequence"):
        NoteSequence.from_dict({"tracks": {}})

    merged = merge_tracks([seq.track(0), seq.track(2)], source_id="duo")
    assert merged.tracks == {0: TrackInfo("Lead", 0, False), 1: TrackInfo("Drums", 0, True)}
    assert sum(n.track == 1 for n in merged.notes) == 3 and merged.source_id == "duo"
    with pytest.raises(InputError, match="cannot be merged"):
        merge_tracks([seq, NoteSequence(qpm=90.0)])


# --------------------------------------------------------------------------------- corpus
def test_iter_chorales_gives_four_voices_with_lyrics_and_caches(tmp_path):
    stats: dict[str, int] = {}
    t0 = time.perf_counter()
    pieces = list(iter_chorales(limit=2, cache_dir=tmp_path, stats=stats))
    first_pass = time.perf_counter() - t0
    assert [p.id for p in pieces] == ["bwv1.6", "bwv2.6"]  # catalogue order
    assert stats == {"parsed": 2, "pieces": 2}
    for piece in pieces:
        assert piece.collection == CHORALE_COLLECTION
        assert tuple(piece.parts) == VOICES
        means = [_mean_pitch(piece.parts[v]) for v in VOICES]
        assert means == sorted(means, reverse=True)  # soprano above alto above tenor above bass
        assert 60 < means[0] < 80 and 36 < means[3] < 60
        for seq in piece.parts.values():
            assert (
                seq.steps_per_bar == 16 and seq.qpm == {"bwv1.6": 76.0, "bwv2.6": 100.0}[piece.id]
            )
            assert all(a.end <= b.start for a, b in pairwise(seq.notes))  # monophonic
            assert seq.total_steps == piece.parts["soprano"].total_steps
    bwv2 = pieces[1]
    assert bwv2.title == "AAch Gott, vom Himmel sieh\u2019 darein"  # (sic) music21's list
    assert bwv2.lyrics.startswith("Ach Gott, vom Himmel sieh' darein und lass dich")
    assert bwv2.parts["soprano"].lyrics == bwv2.lyrics
    assert pieces[0].parts["soprano"].tracks == {0: TrackInfo("Soprano", 0, False)}

    cache_files = sorted(p.name for p in tmp_path.rglob("*.json"))
    assert cache_files == ["bwv1.6.mxl.json", "bwv2.6.mxl.json"]
    again: dict[str, int] = {}
    t0 = time.perf_counter()
    assert list(iter_chorales(limit=2, cache_dir=tmp_path, stats=again)) == pieces
    assert again == {"cached": 2, "pieces": 2}
    assert time.perf_counter() - t0 < first_pass / 3


def test_chorale_pickup_bar_is_aligned_and_tempo_mark_read(tmp_path):
    items = {item.id: item for item in chorale_items()}
    assert len(items) > 400
    # bwv269: 3/4 with a one-beat pickup -> the first note sits on the last beat of bar 0
    piece = load_piece(items["bwv269"], cache_dir=tmp_path)
    soprano = piece.parts["soprano"]
    assert soprano.time_signature == (3, 4) and soprano.steps_per_bar == 12
    assert [(n.pitch, n.start) for n in soprano.notes[:3]] == [(67, 8), (67, 12), (74, 20)]
    assert piece.title == "Aus meines Herzens Grunde"
    # bwv66.6 has a playback tempo of 96 and a 3-beat pickup in 4/4
    piece = load_piece(items["bwv66.6"], cache_dir=tmp_path)
    assert piece.parts["bass"].qpm == 96.0 and piece.parts["soprano"].notes[0].start == 12
    # a score that is not a chorale is skipped and the reason cached
    stats: dict[str, int] = {}
    assert load_piece(items["bwv846"], cache_dir=tmp_path, stats=stats) is None
    assert stats == {"parsed": 1, "skipped": 1}
    assert load_piece(items["bwv846"], cache_dir=tmp_path, stats=stats) is None
    assert stats == {"parsed": 1, "skipped": 2, "cached": 1}


def test_iter_folk_yields_melodies(tmp_path):
    pieces = list(iter_folk(limit=3, cache_dir=tmp_path))
    assert [p.id for p in pieces] == [f"essenFolksong/altdeu10:{i}" for i in (1, 2, 3)]
    for piece in pieces:
        assert piece.collection == "essenFolksong" and list(piece.parts) == ["melody"]
        melody = piece.parts["melody"]
        assert len(melody.notes) >= 20 and melody.qpm == 120.0
        assert all(48 <= n.pitch <= 96 for n in melody.notes)
        assert all(a.end <= b.start for a, b in pairwise(melody.notes))
    assert pieces[0].title == "Das Hildebrandslied"

    items = folk_items()
    assert len(items) > 10_000 and len({i.id for i in items}) == len(items)
    reel = next(i for i in folk_items(["ryansMammoth"]) if i.id == "ryansMammoth/AcaciaReel:1")
    melody = load_piece(reel, cache_dir=tmp_path).parts["melody"]
    # 2/4 with an eighth-note pickup: bar = 8 steps, the pickup starts 2 steps before bar 1
    assert melody.time_signature == (2, 4) and melody.notes[0].start == 6
    with pytest.raises(InputError, match="not in music21's corpus"):
        folk_items(["noSuchCollection"])
