"""latentmusic.data.drums / trios / gm_sources: the drum and trio set builders on made-up packages.

Each test lays out a fake Debian package tree (``ROOT/usr/share/...`` plus its ``copyright``)
holding General MIDI files written with pretty_midi, so the builders run exactly as on the
real packages, offline and without apt.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from latentmusic.data.drums import build_drums, drum_part
from latentmusic.data.gm_sources import (
    SOURCES,
    hydrogen_pitch,
    licence_of,
    package_root,
    read_hydrogen_song,
    wad_midi_lumps,
)
from latentmusic.data.melodies import SPLITS, split_of
from latentmusic.data.trios import build_trios, trio_parts
from latentmusic.errors import InputError
from latentmusic.midi.io import read_sequence
from latentmusic.midi.representations import DRUMS, TRIO, get_representation
from latentmusic.musicvae.config import PRESETS
from latentmusic.musicvae.data import WindowDataset, extract_windows, load_sequences

OPENMSX = next(s for s in SOURCES if s.name == "openmsx")
MIDI_DIR = "usr/share/games/openttd/baseset/openmsx"
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: OpenMSX

Files: *
Copyright: 2010 various authors
License: GPL-2.0
 This package is free software.

Files: debian/*
Copyright: 2011 someone
License: GPL-2+
"""
QPM = 120.0
STEP = 60.0 / QPM / 4  # seconds per 16th note
KICK, SNARE, HAT = 36, 38, 42


def _note(inst: pretty_midi.Instrument, pitch: int, step: int, length: int = 1) -> None:
    inst.notes.append(pretty_midi.Note(90, pitch, step * STEP, (step + length) * STEP))


def _song(
    path: Path,
    bars: int = 4,
    seed: int = 0,
    drums: bool = True,
    bass: bool = True,
    melodies: tuple[int, ...] = (0,),
    extra_programs: tuple[int, ...] = (),
) -> Path:
    """A GM file: melodies (quarter notes), a bass (program 33, half notes) and a rock beat on
    channel 10 (kick 0/8, snare 4/12, closed hat on even steps), varied by ``seed``."""
    rng = np.random.RandomState(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=QPM)
    for k, program in enumerate(melodies + extra_programs):
        inst = pretty_midi.Instrument(program=program, name=f"lead {k}")
        for step in range(0, bars * 16, 4 + 2 * k):
            _note(inst, 60 + k * 5 + int(rng.randint(0, 12)), step, 2)
        pm.instruments.append(inst)
    if bass:
        inst = pretty_midi.Instrument(program=33, name="bass")
        for step in range(0, bars * 16, 8):
            _note(inst, 36 + int(rng.randint(0, 12)), step, 6)
        pm.instruments.append(inst)
    if drums:
        inst = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
        for bar in range(bars):
            for step in range(16):
                t = bar * 16 + step
                if step in (0, 8) or (step == 14 and rng.rand() < 0.5):
                    _note(inst, KICK, t)
                if step in (4, 12):
                    _note(inst, SNARE, t)
                if step % 2 == 0:
                    _note(inst, HAT, t)
        pm.instruments.append(inst)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


def _package(root: Path) -> Path:
    (root / "usr/share/doc/openttd-openmsx").mkdir(parents=True, exist_ok=True)
    (root / "usr/share/doc/openttd-openmsx/copyright").write_text(COPYRIGHT)
    (root / MIDI_DIR).mkdir(parents=True, exist_ok=True)
    return root / MIDI_DIR


def _build(kind, root: Path, out: Path, tmp_path: Path) -> dict:
    builder = build_drums if kind == "drums" else build_trios
    builder(out, sources=["openmsx"], roots=[root], cache_dir=tmp_path / "cache", fetch=False)
    return json.loads((out / "manifest.json").read_text())


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------ drums
def test_gm_drums_become_the_expected_9_class_events(tmp_path):
    root = tmp_path / "pkg"
    folder = _package(root)
    _song(folder / "beat.mid", bars=2, seed=3)
    _song(folder / "strings_only.mid", bars=2, seed=4, drums=False)
    manifest = _build("drums", root, tmp_path / "drums", tmp_path)

    assert manifest["counts"]["songs"] == 1
    assert manifest["counts"]["skipped_songs"] == {"no_drums": 1}
    (piece,) = manifest["pieces"]
    assert piece["id"] == "openmsx/beat" and piece["split"] == split_of("openmsx/beat")
    seq = read_sequence(tmp_path / "drums" / piece["files"][0])
    assert all(n.is_drum for n in seq.notes) and len(seq.tracks) == 1
    events = DRUMS.encode(seq)[:, 0]
    source = pretty_midi.PrettyMIDI(str(folder / "beat.mid"))
    kicks = {round(n.start / STEP) for i in source.instruments if i.is_drum for n in i.notes
             if n.pitch == KICK}  # fmt: skip
    expected = np.zeros(32, dtype=np.int64)
    for t in range(32):
        expected[t] |= (t in kicks) << 0  # kick
        expected[t] |= (t % 16 in (4, 12)) << 1  # snare
        expected[t] |= (t % 2 == 0) << 2  # closed hi-hat
    np.testing.assert_array_equal(events, expected)
    assert events[0] == 0b101 and events[4] == 0b110 and events[1] == 0


def test_drum_set_splits_by_song_counts_windows_as_training_reads_them_and_is_idempotent(
    tmp_path,
):
    root = tmp_path / "pkg"
    folder = _package(root)
    names = [f"song{i:02d}" for i in range(14)]
    for i, name in enumerate(names):
        _song(folder / f"{name}.mid", bars=3, seed=i)
    out = tmp_path / "drums"
    manifest = _build("drums", root, out, tmp_path)

    counts = manifest["counts"]
    assert counts["songs"] == 14 and counts["songs_by_source"] == {"openmsx": 14}
    for piece in manifest["pieces"]:
        assert piece["split"] == split_of(piece["id"])
        assert all(
            f.startswith(piece["split"] + "/") and (out / f).is_file() for f in piece["files"]
        )
    on_disk = {s: len(list((out / s).glob("*.mid"))) if (out / s).is_dir() else 0 for s in SPLITS}
    assert counts["files_by_split"] == on_disk
    assert len({split_of(f"openmsx/{n}") for n in names}) >= 2  # the fixture spans splits

    (source,) = manifest["sources"]
    assert source["package"] == "openttd-openmsx" and source["license"] == "GPL-2.0"
    assert source["copyright"] == "2010 various authors"

    config = PRESETS["cat-drums_2bar_small"]
    assert config.transpose_range == 0
    for split in SPLITS:
        windows, _ = extract_windows(load_sequences(out, split, "drums"), config)
        assert counts["windows"]["drums_2bar"][split] == len(windows)
    assert sum(counts["windows"]["drums_2bar"][s] for s in SPLITS) > 0

    before = _mtimes(out)
    _build("drums", root, out, tmp_path)
    assert _mtimes(out) == before


# ------------------------------------------------------------------------------------ trios
def test_trio_extraction_keeps_melody_bass_and_drums_aligned(tmp_path):
    root = tmp_path / "pkg"
    folder = _package(root)
    # piano melody, a synth lead (program 80), a sound effect (120: never a melody), bass, drums
    path = _song(folder / "band.mid", bars=4, seed=7, melodies=(0, 80), extra_programs=(120,))
    _song(folder / "no_bass.mid", bars=4, seed=8, bass=False)
    out = tmp_path / "trios"
    manifest = _build("trio", root, out, tmp_path)

    assert manifest["counts"]["skipped_songs"] == {"no_bass": 1}
    (piece,) = manifest["pieces"]
    assert len(piece["files"]) == 2  # one trio per melodic track; the sound effect is not one
    assert sorted(p["melody_program"] for p in piece["parts"]) == [0, 80]
    assert {p["bass_program"] for p in piece["parts"]} == {33}

    source = read_sequence(path)
    by_program = {
        (info.program, info.is_drum): {n.start for n in source.notes if n.track == i}
        for i, info in source.tracks.items()
    }
    for part in piece["parts"]:
        trio = read_sequence(out / part["file"])
        assert [t.is_drum for t in trio.tracks.values()] == [False, False, True]
        assert trio.total_steps == source.total_steps
        events = TRIO.encode(trio)
        onsets = TRIO.onsets(events)
        melody_steps = by_program[(part["melody_program"], False)]
        assert set(np.flatnonzero(onsets[:, 0])) == melody_steps
        assert set(np.flatnonzero(onsets[:, 1])) == by_program[(33, False)]
        assert set(np.flatnonzero(onsets[:, 2])) == by_program[(0, True)]
    # the representation's own melody/bass assignment reads the file the same way
    melody, bass, drums = TRIO.assign(read_sequence(out / piece["parts"][0]["file"]))
    assert {n.program for n in bass} == {33} and all(n.is_drum for n in drums) and melody


def test_trio_set_counts_and_splits_by_song(tmp_path):
    root = tmp_path / "pkg"
    folder = _package(root)
    for i in range(8):
        _song(folder / f"tune{i}.mid", bars=5, seed=20 + i, melodies=(0, 24))
    out = tmp_path / "trios"
    manifest = _build("trio", root, out, tmp_path)
    counts = manifest["counts"]
    assert counts["songs"] == 8 and counts["files"] == 16
    for piece in manifest["pieces"]:  # both trios of a song land in the song's split
        assert {f.split("/")[0] for f in piece["files"]} == {split_of(piece["id"])}
    config = PRESETS["small-trio"]  # 4-bar trio windows
    for split in SPLITS:
        windows, _ = extract_windows(load_sequences(out, split, "trio"), config)
        assert counts["windows"]["trio_4bar"][split] == len(windows)
    assert sum(counts["windows"]["trio_4bar"][s] for s in SPLITS) > 0
    assert sum(counts["windows"]["trio_16bar"][s] for s in SPLITS) == 0  # 5-bar songs


def test_trio_parts_need_drums_bass_and_a_melody():
    from latentmusic.midi.quantize import quantize

    def parts(**kw) -> tuple[list, str]:
        buf = io.BytesIO()
        pm = pretty_midi.PrettyMIDI(initial_tempo=QPM)
        for program, is_drum in kw["tracks"]:
            inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
            _note(inst, KICK if is_drum else 60, 0)
            pm.instruments.append(inst)
        pm.write(buf)
        buf.seek(0)
        return trio_parts(quantize(pretty_midi.PrettyMIDI(buf)))

    assert parts(tracks=[(0, False), (33, False)])[1] == "no_drums"
    assert parts(tracks=[(0, False), (0, True)])[1] == "no_bass"
    assert parts(tracks=[(33, False), (120, False), (0, True)])[1] == "no_melody"
    found, why = parts(tracks=[(0, False), (33, False), (0, True)])
    assert why == "" and len(found) == 1


# ------------------------------------------------------------------------- other sources
H2SONG = """<?xml version="1.0" encoding="UTF-8"?>
<song><bpm>100</bpm><name>Test song</name>
 <instrumentList>
  <instrument><id>0</id><name>Kick</name></instrument>
  <instrument><id>1</id><name>Hat Closed</name></instrument>
  <instrument><id>2</id><name>Snare</name></instrument>
  <instrument><id>3</id><name>Mystery Box</name></instrument>
 </instrumentList>
 <patternList>
  <pattern><name>A</name><size>192</size><noteList>
   <note><position>0</position><velocity>0.8</velocity><instrument>0</instrument></note>
   <note><position>24</position><velocity>0.5</velocity><instrument>1</instrument></note>
   <note><position>48</position><velocity>0.8</velocity><instrument>2</instrument></note>
   <note><position>96</position><velocity>0.8</velocity><instrument>3</instrument></note>
   <note><position>120</position><velocity>0.8</velocity><probability>0.2</probability>
    <instrument>2</instrument></note>
  </noteList></pattern>
  <pattern><name>B</name><size>96</size><noteList>
   <note><position>36</position><velocity>1</velocity><instrument>0</instrument></note>
  </noteList></pattern>
 </patternList>
 <patternSequence>
  <group><patternID>A</patternID></group>
  <group><patternID>A</patternID><patternID>B</patternID></group>
 </patternSequence>
</song>
"""


def test_hydrogen_song_lays_out_its_patterns_on_the_grid(tmp_path):
    path = tmp_path / "demo.h2song"
    path.write_text(H2SONG)
    seq = read_hydrogen_song(path, "hydrogen/demo")
    assert seq.qpm == 100 and seq.total_steps == 32 and seq.time_signature == (4, 4)
    hits = sorted((n.start, n.pitch) for n in seq.notes)
    # 48 ticks per quarter: 24 ticks = step 2; the unknown instrument and the note played
    # with probability 0.2 are left out; column 2 plays A and B together.
    assert hits == [(0, 36), (2, 42), (4, 38), (16, 36), (18, 42), (19, 36), (20, 38)]
    assert {hydrogen_pitch(n) for n in ("Hat Pedal", "Tom Hi", "Cowbell", "Ride 2")} == {
        44, 50, 56, 51,
    }  # fmt: skip
    assert drum_part(seq) is not None


def test_wad_midi_lumps_and_licences(tmp_path):
    buf = io.BytesIO()
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0, is_drum=True)
    _note(inst, KICK, 0)
    pm.instruments.append(inst)
    pm.write(buf)
    lumps = [(b"D_TEST", buf.getvalue()), (b"MAP01", b"not music"), (b"D_MUS", b"MUS\x1a....")]
    body = b"".join(data for _, data in lumps)
    directory, offset = b"", 12
    for name, data in lumps:
        directory += struct.pack("<ii8s", offset, len(data), name)
        offset += len(data)
    wad = tmp_path / "test.wad"
    wad.write_bytes(b"PWAD" + struct.pack("<ii", len(lumps), 12 + len(body)) + body + directory)
    assert [(name, data) for name, data in wad_midi_lumps(wad)] == [("D_TEST", buf.getvalue())]
    junk = tmp_path / "junk.wad"
    junk.write_bytes(b"JUNK" + bytes(20))
    with pytest.raises(InputError, match="not a Doom WAD"):
        list(wad_midi_lumps(junk))

    root = tmp_path / "pkg"
    _package(root)
    assert licence_of(root, "openttd-openmsx")["license"] == "GPL-2.0"
    assert licence_of(root, "no-such-package")["license"] == "unknown"
    with pytest.raises(InputError, match="apt-get install --no-install-recommends freedoom"):
        package_root(SOURCES[0], roots=[root], cache_dir=tmp_path / "cache", fetch=False)


# ---------------------------------------------------------------------------- augmentation
def test_augmentation_never_transposes_drums_and_moves_melody_and_bass_together(tmp_path):
    root = tmp_path / "pkg"
    folder = _package(root)
    seq = read_sequence(_song(folder / "band.mid", bars=2, seed=5))
    drum_windows = DRUMS.windows(DRUMS.encode(drum_part(seq)), 2)
    data = WindowDataset(np.stack(drum_windows), "drums", transpose_range=6)
    trio = TRIO.encode(trio_parts(seq)[0][0][1])
    trios = WindowDataset(trio[None, :32], "trio", transpose_range=6)
    shifts = set()
    for seed in range(12):
        np.random.seed(seed)
        np.testing.assert_array_equal(data[0]["tokens"].numpy(), drum_windows[0])
        out = trios[0]["tokens"].numpy()
        np.testing.assert_array_equal(out[:, 2], trio[:32, 2])  # drums never move
        notes = trio[:32, :2] >= 2
        delta = out[:, :2][notes] - trio[:32, :2][notes]
        assert len(set(delta.tolist())) == 1  # melody and bass by the same interval
        np.testing.assert_array_equal(out[:, :2][~notes], trio[:32, :2][~notes])
        shifts.add(int(delta[0]))
    assert len(shifts) > 1
    assert get_representation("drums").valid_shifts(drum_windows[0], 12) == [0]
    for name in ("cat-drums_2bar_small", "small-drums"):
        assert PRESETS[name].transpose_range == 0


def _cli(*args: str | Path) -> int:
    from latentmusic.cli.main import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_builds_both_sets(tmp_path, capsys):
    root = tmp_path / "pkg"
    folder = _package(root)
    for i in range(3):
        _song(folder / f"s{i}.mid", bars=3, seed=40 + i)
    for command in ("drums", "trios"):
        out = tmp_path / command
        assert _cli("data", command, out, "--sources", "openmsx", "--packages-root", root) == 0
        text = capsys.readouterr().out
        assert "3 songs" in text and "windows" in text
        assert (
            json.loads((out / "manifest.json").read_text())["kind"]
            == {"drums": "drums", "trios": "trio"}[command]
        )
    assert _cli("data", "drums", tmp_path / "x", "--sources", "nope") == 1
    assert "Unknown source 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
