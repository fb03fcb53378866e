"""``latentmusic studio``: the musician's tools in a local web page, on the user's own models.

Layers, from the bottom: ``limits`` (every cap the API enforces, in one place),
``melodies`` (melody JSON <-> NoteSequence, MIDI bytes in and out, WAV rendering, presets;
no torch), ``engine`` (the loaded models and their verbs, one lock per model; no web code),
``pads`` (the NSynth pad: preset notes rendered with FluidSynth, uploaded corner sounds,
whole pads rendered once and cached),
``app`` (the FastAPI routes: JSON in, JSON/MIDI/WAV out, every failure a 4xx JSON error)
and ``static/`` (plain HTML, CSS and JavaScript, no build step, nothing fetched from the
internet). The CLI command lives in ``latentmusic.cli.studio``.
"""
