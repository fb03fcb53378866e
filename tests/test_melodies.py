"""latentmusic.data.melodies: the corpus MIDI set builder and the MIDI folder reader."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from latentmusic.data.melodies import (
    SPLITS,
    build_melodies,
    read_midi_folder,
    safe_name,
    split_of,
)
from latentmusic.errors import InputError
from latentmusic.midi.io import read_sequence
from latentmusic.midi.sequence import TrackInfo

FIXTURES = Path(__file__).parent / "fixtures" / "midi"


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_split_of_is_stable_and_80_10_10():
    assert split_of("bwv26.6") == split_of("bwv26.6")
    counts = Counter(split_of(f"piece-{i}") for i in range(20_000))
    assert set(counts) == set(SPLITS)
    assert counts["train"] / 20_000 == pytest.approx(0.8, abs=0.015)
    assert counts["valid"] / 20_000 == pytest.approx(0.1, abs=0.01)
    assert counts["test"] / 20_000 == pytest.approx(0.1, abs=0.01)
    assert safe_name("essenFolksong/han1:12") == "essenFolksong_han1_12"
    assert safe_name("bwv248.35-3c") == "bwv248.35-3c"


def test_build_melodies_small_then_rerun_is_a_no_op(tmp_path):
    out, cache = tmp_path / "melodies", tmp_path / "cache"
    assert build_melodies(out, max_pieces=3, progress=False, workers=2, cache_dir=cache) == out

    manifest = json.loads((out / "manifest.json").read_text())
    pieces = manifest["pieces"]
    # 3 pieces: 2 chorales (4 melodies + 1 SATB file each) and 1 folk tune
    assert [(p["id"], p["kind"]) for p in pieces] == [
        ("bwv1.6", "melody"),
        ("bwv1.6", "satb"),
        ("bwv2.6", "melody"),
        ("bwv2.6", "satb"),
        ("essenFolksong/altdeu10:1", "melody"),
    ]
    counts = manifest["counts"]
    assert counts["pieces"] == 3 and counts["melody_files"] == 9 and counts["satb_files"] == 2
    assert counts["pieces_by_collection"] == {"bach-chorales": 2, "essenFolksong": 1}
    assert sum(counts["files_by_split"].values()) == 11

    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*.mid"))
    listed = sorted(f for p in pieces for f in p["files"])
    assert on_disk == listed and len(on_disk) == 11
    splits_of_piece: dict[str, set[str]] = {}
    for p in pieces:
        for f in p["files"]:
            assert f.split("/")[0] == p["split"] == split_of(p["id"])
            splits_of_piece.setdefault(p["id"], set()).add(f.split("/")[0])
    assert all(len(s) == 1 for s in splits_of_piece.values())  # no piece in two splits

    bwv2 = next(p for p in pieces if p["id"] == "bwv2.6" and p["kind"] == "satb")
    satb = read_sequence(out / bwv2["files"][0])
    assert [t.name for t in satb.tracks.values()] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert satb.qpm == 100.0 and satb.lyrics.startswith("Ach Gott, vom Himmel")
    soprano = read_sequence(out / bwv2["files"][0].replace("_satb", "_soprano"))
    assert soprano.tracks == {0: TrackInfo("Soprano", 0, False)}
    assert soprano.notes == satb.track(0).notes
    folk = read_sequence(out / pieces[-1]["files"][0])
    assert len(folk.tracks) == 1 and len(folk.notes) > 20

    before = _mtimes(out)
    build_melodies(out, max_pieces=3, progress=False, workers=2, cache_dir=cache)
    assert _mtimes(out) == before  # nothing rewritten, not even the manifest

    # an interrupted build (a file and the manifest missing) resumes without touching the rest
    victim = out / pieces[-1]["files"][0]
    victim.unlink()
    (out / "manifest.json").unlink()
    build_melodies(out, max_pieces=3, progress=False, workers=1, cache_dir=cache)
    after = _mtimes(out)
    assert victim.exists() and json.loads((out / "manifest.json").read_text()) == manifest
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"manifest.json", str(victim.relative_to(out))}


def test_build_melodies_rejects_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="max_pieces must be 0 or more, got -1"):
        build_melodies(tmp_path, max_pieces=-1)
    with pytest.raises(InputError, match="workers must be at least 1, got 0"):
        build_melodies(tmp_path, workers=0)


def test_read_midi_folder_reads_the_fixtures_recursively():
    sequences = read_midi_folder(FIXTURES)
    by_id = {s.source_id: s for s in sequences}
    assert sorted(by_id) == ["drums", "melody", "trio", "type0/trio_type0"]
    assert by_id["melody"].qpm == 96.0 and by_id["melody"].num_bars == 8
    assert [t.name for t in by_id["trio"].tracks.values()] == ["Lead", "Bass", "Drums"]
    assert all(n.is_drum for n in by_id["drums"].notes)
    # no train/ folder inside: a split falls back to the whole folder
    assert [s.source_id for s in read_midi_folder(FIXTURES, split="train")] == [
        s.source_id for s in sequences
    ]


def test_read_midi_folder_splits_bad_files_and_errors(tmp_path):
    with pytest.raises(InputError, match=r"^MIDI folder .*missing does not exist\.$"):
        read_midi_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"^No MIDI files \(\.mid, \.midi\) in .*empty\.$"):
        read_midi_folder(tmp_path / "empty")
    with pytest.raises(InputError, match="is not a folder"):
        read_midi_folder(FIXTURES / "melody.mid")

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.mid").write_bytes(b"not midi at all")
    (bad / "b.MIDI").write_bytes(b"MThd garbage")
    with pytest.raises(
        InputError, match=r"^No readable MIDI files in .*bad \(2 failed to read\)\.$"
    ):
        read_midi_folder(bad)

    data = tmp_path / "data"
    (data / "train" / "deep").mkdir(parents=True)
    (data / "valid").mkdir()
    shutil.copy(FIXTURES / "melody.mid", data / "train" / "deep" / "tune.midi")
    shutil.copy(FIXTURES / "trio.mid", data / "valid" / "trio.mid")
    (data / "train" / "broken.mid").write_bytes(b"\x00" * 10)
    with pytest.warns(UserWarning, match=r"Skipped 1 of 2 MIDI files in .*train"):
        train = read_midi_folder(data, split="train")
    assert [s.source_id for s in train] == ["deep/tune"]
    assert [s.source_id for s in read_midi_folder(data, split="valid")] == ["trio"]
    with pytest.warns(UserWarning, match="Skipped 1 of 3"):
        assert len(read_midi_folder(data)) == 2
