"""Every cap the studio API enforces, in one place (the pages read them from ``/api/limits``).

They keep one request's work bounded on a small CPU: a client can ask for a long morph or a
big palette, but never for one that ties the server up for minutes or fills its memory.
"""

from __future__ import annotations

MAX_BODY_BYTES = 2 * 1024 * 1024  # any request body (JSON or upload)
MAX_MIDI_BYTES = 512 * 1024  # an uploaded MIDI file
MAX_MIDI_SECONDS = 600.0  # an uploaded MIDI file's duration
MAX_MIDI_NOTES = 20_000  # notes in an uploaded MIDI file
MAX_MELODY_STEPS = 16 * 16  # a melody sent as JSON: at most 16 bars of 16th notes
MAX_MELODY_NOTES = 1024  # notes in one melody sent as JSON
MAX_MELODIES = 256  # melodies in one request (export, render)
MIN_STEPS, MAX_STEPS = 2, 32  # points of a morph, endpoints included
MIN_GRID, MAX_GRID = 2, 11  # a palette is n x n, as Beat Blender's 11 x 11
MAX_SAMPLES = 16  # sample / similar
MAX_TEMPERATURE = 5.0
MAX_MAGNITUDE = 10.0  # attribute vector multiples
MAX_RENDER_SECONDS = 180.0  # audio rendered in one request
MAX_EXPORT_STEPS = 256 * 32  # total steps of one exported MIDI file
MIN_QPM, MAX_QPM = 20.0, 300.0
RENDER_SAMPLE_RATE = 22050
MAX_SAVED_FILES = 500  # files the studio keeps in its working folder

# The NSynth pad
MAX_WAV_BYTES = 1536 * 1024  # an uploaded corner sound (under MAX_BODY_BYTES)
MIN_WAV_SECONDS, MAX_WAV_SECONDS = 0.1, 4.0  # one note, as NSynth's
MIN_WAV_RATE, MAX_WAV_RATE = 8000, 96000
PAD_CELL_SECONDS = 2.0  # every corner is cut (or padded) to this, and so is every cell
MIN_PAD_SIZE, MAX_PAD_SIZE = 2, 9  # a pad is n x n cells
MIN_PAD_PITCH, MAX_PAD_PITCH = 24, 96  # MIDI notes of the pitch keyboard
MAX_SLOW_PAD_CELLS = 9  # cells of one pad decoded by a WaveNet (autoregressive) model
MAX_PAD_UPLOADS = 32  # uploaded corner sounds kept in memory
MAX_CACHED_PADS = 12  # rendered pads kept in memory


def as_dict() -> dict[str, float | int]:
    """The limits as JSON, for the pages (sliders and messages use the server's numbers)."""
    return {
        name.lower(): value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, (int, float))
    }
