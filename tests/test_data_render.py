"""latentmusic.data.render: FluidSynth rendering is in tune, deterministic, quiet and checked."""

from __future__ import annotations

import builtins
import os
import re

import librosa
import numpy as np
import pretty_midi
import pytest

from latentmusic.data import render
from latentmusic.data.render import NoteEvent, Part, Renderer, TaskPool, render_midi
from latentmusic.errors import DependencyError, InputError, LatentMusicError

SR = 16000


def median_midi_pitch(audio: np.ndarray, near: int, sr: int = SR) -> float:
    """Median pyin f0 (in MIDI units) searched within an octave of ``near``."""
    lo, hi = librosa.midi_to_hz([near - 12, near + 12])
    f0, voiced, _ = librosa.pyin(audio, fmin=lo, fmax=hi, sr=sr, frame_length=2048)
    return float(np.median(librosa.hz_to_midi(f0[voiced])))


@pytest.fixture(scope="module")
def renderer():
    with Renderer(sr=SR, effects=False) as r:
        yield r


@pytest.mark.parametrize(("program", "pitch"), [(0, 60), (73, 76), (32, 40)])
def test_rendered_note_is_in_tune(renderer, program, pitch):
    audio = renderer.note(program, pitch, 100, seconds=2.0, hold=1.5)
    assert audio.dtype == np.float32 and audio.shape == (2 * SR,)
    cents = 100 * (median_midi_pitch(audio[int(0.1 * SR) : int(1.1 * SR)], pitch) - pitch)
    assert abs(cents) < 20


def test_note_is_held_then_released(renderer):
    audio = renderer.note(73, 72, 100, seconds=4.0, hold=3.0)  # flute: sustains while held
    rms = lambda a, b: float(np.sqrt(np.mean(audio[int(a * SR) : int(b * SR)] ** 2)))  # noqa: E731
    assert rms(2.5, 2.9) > 0.3 * rms(0.2, 0.6)  # still sounding just before the note-off
    assert rms(3.6, 4.0) < 0.01 * rms(2.5, 2.9)  # released afterwards


def test_fixed_level_keeps_velocity_differences(renderer):
    soft = renderer.note(0, 60, 25, 1.0, 0.5)
    loud = renderer.note(0, 60, 127, 1.0, 0.5)
    assert np.abs(loud).max() > 3 * np.abs(soft).max()


def test_render_is_exact_whatever_was_rendered_before():
    a = Renderer(sr=SR, effects=False)
    b = Renderer(sr=SR, effects=False)
    b.note(80, 90, 25, 1.03, 0.51)  # a different history, ending off the synth's block grid
    np.testing.assert_array_equal(a.note(40, 55, 100, 1.0, 0.7), b.note(40, 55, 100, 1.0, 0.7))
    with_reverb = Renderer(sr=SR, effects=True)
    first = with_reverb.note(19, 60, 100, 1.0, 0.5)
    with_reverb.note(48, 40, 127, 1.0, 0.5)
    np.testing.assert_array_equal(first, with_reverb.note(19, 60, 100, 1.0, 0.5))
    for r in (a, b, with_reverb):
        r.close()


def test_parts_play_on_their_own_channels(renderer):
    low = Part(32, (NoteEvent(40, 0.0, 0.8, 100),))
    high = Part(73, (NoteEvent(84, 0.0, 0.8, 100),))
    both = renderer.render([low, high], tail=0.2)
    alone = renderer.render([low], tail=0.2) + renderer.render([high], tail=0.2)
    np.testing.assert_allclose(both, alone, atol=1e-5)  # the flute did not steal the bass's channel


def peak_hz(audio: np.ndarray, lo: float = 300, hi: float = 600) -> float:
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), 1 << 16))
    band = np.fft.rfftfreq(1 << 16, 1 / SR)
    keep = (band > lo) & (band < hi)
    return float(band[keep][np.argmax(spec[keep])])


def test_pitch_bend_and_sustain_pedal_are_played():
    pm = pretty_midi.PrettyMIDI()
    flute = pretty_midi.Instrument(program=73)
    flute.notes.append(pretty_midi.Note(velocity=100, pitch=69, start=0.0, end=1.0))
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=100, pitch=48, start=0.0, end=0.2))
    pm.instruments += [flute, piano]
    plain = render_midi(pm, sr=SR, effects=False, normalize=False)
    flute.pitch_bends.append(pretty_midi.PitchBend(pitch=4096, time=0.5))  # +1 of +-2 semitones
    piano.control_changes.append(pretty_midi.ControlChange(number=64, value=127, time=0.0))
    piano.control_changes.append(pretty_midi.ControlChange(number=64, value=0, time=1.5))
    played = render_midi(pm, sr=SR, effects=False, normalize=False)
    assert plain.shape == (round(2.0 * SR),) and played.shape == (round(2.5 * SR),)  # + pedal

    before, after = slice(int(0.1 * SR), int(0.45 * SR)), slice(int(0.6 * SR), int(0.95 * SR))
    assert peak_hz(played[before]) == peak_hz(plain[before])  # the bend comes at 0.5 s
    cents = 1200 * np.log2(peak_hz(played[after]) / peak_hz(plain[after]))
    assert abs(cents - 100) < 10
    late = slice(int(1.3 * SR), int(1.5 * SR))  # flute released; piano only if the pedal holds it
    assert np.sqrt(np.mean(played[late] ** 2)) > 5 * np.sqrt(np.mean(plain[late] ** 2))


def test_render_midi_normalises_whole_file_but_keeps_dynamics():
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes.append(pretty_midi.Note(velocity=30, pitch=60, start=0.0, end=0.5))
    inst.notes.append(pretty_midi.Note(velocity=120, pitch=60, start=1.0, end=1.5))
    pm.instruments.append(inst)
    audio = render_midi(pm, sr=SR)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape == (round(2.5 * SR),)  # last note-off + 1 s tail
    assert np.isclose(np.abs(audio).max(), 0.9, atol=1e-6)
    assert np.abs(audio[:SR]).max() < 0.5 * np.abs(audio[SR : 2 * SR]).max()


def test_default_soundfont_is_pretty_midis_bundled_one():
    path = render.default_soundfont()
    assert path.name == "TimGM6mb.sf2" and path.is_file()
    assert render.resolve_soundfont(None) == path.resolve()


def test_missing_and_wrong_soundfonts_are_input_errors(tmp_path):
    missing = tmp_path / "nope.sf2"
    with pytest.raises(InputError, match=re.escape(f"SoundFont {missing} does not exist.")):
        render.resolve_soundfont(missing)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match=r"is not a SoundFont \(expected a \.sf2 or \.sf3 file\)"):
        render.resolve_soundfont(text)


def test_corrupt_soundfont_fails_cleanly_and_fluidsynth_stays_quiet(tmp_path, capfd):
    bogus = tmp_path / "bogus.sf2"
    bogus.write_bytes(b"RIFF not really a soundfont")
    with pytest.raises(InputError, match="could not be loaded as a SoundFont"):
        Renderer(bogus)
    assert "fluidsynth" not in capfd.readouterr().err  # libfluidsynth's own log lines silenced


def test_empty_midi_and_bad_sample_rate():
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(program=0))
    with pytest.raises(InputError, match=r"^The MIDI has no notes to render\.$"):
        render_midi(pm)
    with pytest.raises(InputError, match="FluidSynth renders 8000 to 96000 Hz"):
        Renderer(sr=4000)


@pytest.mark.parametrize("error", [ImportError("Couldn't find the FluidSynth library."), OSError])
def test_missing_fluidsynth_library_names_the_apt_package(monkeypatch, error):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "fluidsynth":
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DependencyError) as info:
        render.require_fluidsynth()
    assert str(info.value) == (
        "The FluidSynth library is not installed; install it with: "
        "sudo apt-get install -y --no-install-recommends libfluidsynth3"
    )
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(program=0))
    pm.instruments[0].notes.append(pretty_midi.Note(velocity=80, pitch=60, start=0.0, end=0.5))
    with pytest.raises(DependencyError, match="libfluidsynth3"):
        render_midi(pm)


def _square(x: int) -> int:
    return x * x


def _die(x: int) -> int:
    os._exit(3)  # a worker killed mid-task (a crash inside libfluidsynth would look the same)


def test_task_pool_runs_in_processes_and_a_dead_worker_fails_cleanly():
    with TaskPool(_square, int, (), workers=2) as pool:
        assert sorted(pool.run(list(range(10)), "squares", progress=False)) == [
            i * i for i in range(10)
        ]
    with TaskPool(_die, int, (), workers=2) as pool, pytest.raises(LatentMusicError) as info:
        list(pool.run([1, 2, 3], "dying", progress=False))
    assert str(info.value).startswith("A render worker process died; run again with workers=1")
