"""The data section of the demo: what the offline builders make from SoundFonts and music21."""

from __future__ import annotations

import json
import shutil

from latentmusic.demo.page import DemoContext, Row, Section

SHOW_PITCH = 60


def build(ctx: DemoContext) -> Section:
    from latentmusic.audio.io import load, save
    from latentmusic.audio.rainbowgram import save_rainbowgram

    section = Section(
        id="data",
        title="Training data, made offline",
        intro=(
            "No data set is downloaded: notes are rendered from a General MIDI SoundFont with FluidSynth "
            "in NSynth's own format, the same Bach chorales are rendered with several instruments "
            "(paired ground truth for translation), and melodies and four-voice parts are extracted "
            "from music21's bundled corpus."
        ),
    )
    # Build every data set before anything starts threads (torch, numba): the corpus parser
    # forks its workers. Melodies first: domains reuse its parsed-corpus cache.
    ctx.melodies_dir()
    ctx.domains_dir()
    ctx.notes_dir()
    _notes_rows(ctx, section, load, save_rainbowgram)
    _domain_rows(ctx, section, load, save)
    _melody_rows(ctx, section)
    return section


def _notes_rows(ctx: DemoContext, section: Section, load, save_rainbowgram) -> None:  # noqa: ANN001
    from latentmusic.data.nsynth import read_examples

    root = ctx.notes_dir()
    row = Row("NSynth-format notes: middle C on each instrument (audio + rainbowgram)")
    counts = {}
    for split in ("train", "valid", "test"):
        notes = read_examples(root, split)
        counts[split] = (len(notes), len({n.instrument_str for n in notes}))
        for note in notes:
            if note.pitch != SHOW_PITCH or len(row.items) >= 12:
                continue
            wav = ctx.asset("data", f"{note.note_str}.wav")
            shutil.copyfile(note.audio_path, wav)
            audio, sr = load(note.audio_path)
            png = save_rainbowgram(audio, sr, ctx.asset("data", f"{note.note_str}.png"))
            label = f"{note.instrument_str} ({split})"
            row.items += [ctx.audio(wav, label), ctx.image(png, f"rainbowgram: {label}")]
    section.rows.append(row)
    section.table += [
        {"data set": f"notes/{split}", "examples": n, "instruments": k}
        for split, (n, k) in counts.items()
    ]


def _domain_rows(ctx: DemoContext, section: Section, load, save) -> None:  # noqa: ANN001
    from latentmusic.data.domains import DomainAudioSet

    root = ctx.domains_dir()
    test = DomainAudioSet(root, split="test")
    first = test.files(test.domains[0])[0]
    row = Row(
        f"One test piece ({test.piece_of(first)}) in every domain — what a perfect translation sounds like",
        note="Excerpts of the first 8 seconds.",
    )
    for domain in test.domains:
        source = test.counterpart(first, domain)
        if source is None:
            continue
        audio, sr = load(source, sr=16000)
        wav = save(ctx.asset("data", f"domain_{domain}.wav"), audio[: 8 * sr], sr)
        row.items.append(ctx.audio(wav, domain))
    section.rows.append(row)
    manifest = json.loads((root / "manifest.json").read_text())
    section.table.append(
        {
            "data set": "domains",
            "examples": len(manifest["files"]),
            "instruments": len(manifest["domains"]),
        }
    )


def _melody_rows(ctx: DemoContext, section: Section) -> None:
    from latentmusic.audio.io import save
    from latentmusic.data.render import render_midi
    from latentmusic.midi.io import read_midi

    root = ctx.melodies_dir()
    manifest = json.loads((root / "manifest.json").read_text())
    row = Row(
        "Melodies and four-voice chorales extracted from the music21 corpus (MIDI + audio preview)"
    )
    shown: set[str] = set()
    for piece in manifest["pieces"]:
        if piece["kind"] in shown or piece["split"] != "test":
            continue
        shown.add(piece["kind"])
        midi_path = root / piece["files"][0]
        midi = ctx.asset("data", midi_path.name)
        shutil.copyfile(midi_path, midi)
        pm = read_midi(midi_path)
        pm.remove_invalid_notes()
        wav = save(
            ctx.asset("data", midi_path.stem + ".wav"),
            render_midi(pm, sr=16000)[: 16000 * 20],
            16000,
        )
        row.items.append(
            ctx.midi(midi, f"{piece['collection']}: {piece['title']} ({piece['kind']})", wav)
        )
    section.rows.append(row)
    section.table.append(
        {
            "data set": "melodies",
            "examples": sum(len(p["files"]) for p in manifest["pieces"]),
            "instruments": "-",
        }
    )
